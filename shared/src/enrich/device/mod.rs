//! Device, OS and browser from a user agent, in the reference's `device_data` vocabulary
//! (Matomo Device Detector's names: "iOS", "Mobile Safari", "Chrome Mobile", versions as
//! major.minor). woothee gives the broad classification; over it, browsers and apps named by
//! a token of their own (`browser.rs`, one pass), platform rules for the phones, consoles and
//! TVs it leaves unnamed, and bot markers (`bot.rs`, one pass). The accuracy of the whole is
//! measured on public test sets by tests/tests/enrichment_accuracy.rs.

use serde_json::{Value, json};
use woothee::parser::Parser;

mod bot;
mod browser;

use bot::is_bot;

/// Real user agents are a few hundred bytes; longer input is cut before any parsing so that a
/// hostile 100 KB header costs no more than a normal one.
const MAX_UA_BYTES: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Device {
    pub model: Option<String>,
    pub os_name: Option<String>,
    pub os_version: Option<String>,
    pub client_name: Option<String>,
    pub client_version: Option<String>,
    /// Phones and tablets, as the reference counts them.
    pub is_mobile: bool,
    pub is_tablet: bool,
    pub is_desktop: bool,
    pub is_bot: bool,
}

impl Device {
    pub fn to_json(&self) -> Value {
        json!({
            "model": self.model,
            "os": {"name": self.os_name, "version": self.os_version},
            "client": {"name": self.client_name, "version": self.client_version},
            "is_mobile": self.is_mobile,
            "is_tablet": self.is_tablet,
            "is_desktop": self.is_desktop,
            "is_bot": self.is_bot,
        })
    }
}

/// Keeps `major.minor` of a dotted or underscored version: "17_2_1" → "17.2".
fn major_minor(version: &str) -> Option<String> {
    let end = version
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(version.len());
    let mut parts = version[..end]
        .split(['.', '_'])
        .take_while(|p| !p.is_empty());
    let major = parts.next()?;
    Some(match parts.next() {
        Some(minor) => format!("{major}.{minor}"),
        None => major.to_owned(),
    })
}

/// The version text right after `token` (e.g. "Edg/" → "120.0.2210.91").
fn version_after(ua: &str, token: &str) -> Option<String> {
    let start = ua.find(token)? + token.len();
    let rest = &ua[start..];
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '_'))
        .unwrap_or(rest.len());
    major_minor(&rest[..end])
}

/// The Android device model inside the first parentheses, e.g. "Pixel 7" or "SM-S918B".
fn android_model(ua: &str) -> Option<String> {
    let open = ua.find('(')?;
    let close = ua[open..].find(')')? + open;
    ua[open + 1..close]
        .split(';')
        .map(str::trim)
        .filter(|part| {
            !part.is_empty()
                && !part.starts_with("Linux")
                && !part.starts_with("Android")
                && !matches!(*part, "U" | "K" | "wv")
                // A locale such as "en-us", which old Android agents put here.
                && (part.len() != 5 || part.as_bytes().get(2) != Some(&b'-'))
        })
        .map(|part| {
            part.split(" Build/")
                .next()
                .unwrap_or(part)
                .trim()
                .to_owned()
        })
        .find(|m| !m.is_empty())
}

/// Windows' marketing name for a version token: "NT 10.0" → "10", "98", "Win 9x 4.90" → "ME".
fn windows_version(ua: &str) -> Option<&'static str> {
    if let Some(i) = ua.find("Windows NT ") {
        let nt = &ua[i + 11..];
        let nt = nt[..nt.find([';', ')']).unwrap_or(nt.len())].trim();
        return Some(match nt {
            "10.0" => "10",
            "6.4" => "10",
            "6.3" => "8.1",
            "6.2" => "8",
            "6.1" => "7",
            "6.0" => "Vista",
            "5.1" | "5.2" => "XP",
            "5.0" | "5.01" => "2000",
            "4.0" => "NT 4.0",
            _ => return None,
        });
    }
    const OLD: &[(&str, &str)] = &[
        ("Win 9x 4.90", "ME"),
        ("Windows ME", "ME"),
        ("Win98", "98"),
        ("Windows 98", "98"),
        ("Win95", "95"),
        ("Windows 95", "95"),
        ("Windows 2000", "2000"),
        ("Windows XP", "XP"),
        ("WinNT", "NT"),
        ("Windows NT", "NT"),
    ];
    OLD.iter()
        .find(|(token, _)| ua.contains(token))
        .map(|(_, v)| *v)
}

/// The first version found after one of `tokens`.
fn version_after_any(ua: &str, tokens: &[&str]) -> Option<String> {
    tokens.iter().find_map(|t| version_after(ua, t))
}

/// Smart TVs, set-top boxes and streaming sticks, by the words their user agents use. Asked
/// only of platforms a TV runs (Android, Linux, Tizen, webOS, unknown), so a phone or desktop
/// never pays for the look-up.
fn is_tv(ua: &str) -> bool {
    const TV: &[&str] = &[
        "SMART-TV",
        "SmartTV",
        "Smart TV",
        "SMART TV",
        "HbbTV",
        "GoogleTV",
        "Google TV",
        "Android TV",
        "AndroidTV",
        "BRAVIA",
        "NetCast",
        "Web0S",
        "webOS.TV",
        "AFTS",
        "AFTM",
        "AFTT",
        "AFTB",
        "AFTK",
        "AFTN",
        "AFTR",
        "AFTKA",
        "CrKey",
        "Roku",
        "Opera TV",
        "OMI/",
        "TV Safari",
        "Large Screen",
        "MiTV",
        "MIBOX",
        "DTV",
        "VIDAA",
        "TiVo",
        "SHIELD Android",
        "; TV ",
        "AppleTV",
        "tvOS",
        "Viera",
        "AQUOS",
        "Philips",
        "PhilipsTV",
        "NETTV",
        "Vizio",
        "STB",
        "TVBro",
        "_TV_",
        "SmartHub",
        "Freebox",
        "SAMSUNG-TV",
    ];
    // Android TV boxes and sticks named by their kind; phone makers use the same words in
    // phone names ("KAZAM TV 45"), so only where the agent does not say Mobile.
    const BOX: &[&str] = &[
        " TV)", " TV ", " TV;", "wv-atv", " Box ", " Box)", "TV Box", "TVBOX", "BOX)", " Stick ",
        " Stick)", " Shell ", "_shell_", " 4K)",
    ];
    TV.iter().any(|t| ua.contains(t))
        || (!ua.contains("Mobile") && BOX.iter().any(|t| ua.contains(t)))
}

/// Parses a user agent. Never fails: unknown parts stay `None`.
pub fn parse(parser: &Parser, user_agent: &str) -> Device {
    let mut end = user_agent.len().min(MAX_UA_BYTES);
    while !user_agent.is_char_boundary(end) {
        end -= 1;
    }
    let ua = user_agent[..end].trim();
    let w = parser.parse(ua);
    let category = w.as_ref().map_or("UNKNOWN", |w| w.category);
    let mut d = Device {
        is_bot: is_bot(ua, category),
        ..Device::default()
    };

    // Operating system and model, most specific platform first: Windows Phone names Android
    // and iPhone for compatibility, KaiOS and UC Browser's "Adr" strings name no Android at all.
    let ios_version = ua
        .find(" OS ")
        .filter(|_| ua.contains("like Mac OS X"))
        .and_then(|i| major_minor(&ua[i + 4..]));
    let android = ua.contains("Android") || ua.contains("Adr ") || ua.contains("android");
    let os: Option<(&str, Option<String>)> = if ua.contains("Windows Phone")
        || ua.contains("WPDesktop")
        || ua.contains("IEMobile")
        || ua.contains("Windows Mobile")
        || ua.contains("Windows CE")
    {
        Some((
            "Windows Phone",
            version_after_any(ua, &["Windows Phone OS ", "Windows Phone "]),
        ))
    } else if ua.contains("KAIOS") || ua.contains("KaiOS") {
        Some(("KaiOS", version_after_any(ua, &["KAIOS/", "KaiOS/"])))
    } else if ua.contains("Chromebook") {
        Some(("Chrome OS", None))
    } else if android {
        d.model = android_model(ua);
        Some((
            "Android",
            version_after_any(ua, &["Android ", "Adr ", "android "]),
        ))
    } else if ua.contains("iPad") {
        d.model = Some("iPad".into());
        d.is_tablet = true;
        Some(("iPadOS", ios_version.clone()))
    } else if ua.contains("iPhone") || ua.contains("iPod") || ua.contains("dv(iPh") {
        let model = if ua.contains("iPod") {
            "iPod"
        } else {
            "iPhone"
        };
        d.model = Some(model.into());
        Some(("iOS", ios_version.clone()))
    } else if ua.contains("Darwin/") {
        // Apps' CFNetwork requests: Darwin on a Mac says which Mac or its architecture.
        if ua.contains("Mac") || ua.contains("x86_64") || ua.starts_with("Safari/") {
            Some(("macOS", None))
        } else {
            Some(("iOS", None))
        }
    } else if ua.contains("Tizen") {
        Some(("Tizen", version_after(ua, "Tizen ")))
    } else if ua.contains("Web0S") || ua.contains("webOS") || ua.contains("hpwOS") {
        Some(("webOS", None))
    } else if ua.contains("BlackBerry") || ua.contains("BB10") || ua.contains("RIM Tablet") {
        if ua.contains("PlayBook") || ua.contains("RIM Tablet") {
            d.is_tablet = true;
        }
        Some(("BlackBerry", version_after(ua, "Version/")))
    } else if ua.contains("Symbian")
        || ua.contains("SymbOS")
        || ua.contains("Series60")
        || ua.contains("S60;")
        || ua.contains("Series40")
    {
        Some(("Symbian", None))
    } else if ua.contains("Bada") || ua.contains("bada") {
        Some(("Bada", None))
    } else if ua.contains("PlayStation") || ua.contains("PLAYSTATION") {
        Some(("PlayStation", None))
    } else if ua.contains("Nintendo") {
        Some(("Nintendo", None))
    } else if ua.contains("CrOS") {
        Some(("Chrome OS", version_after(ua, "Chrome/")))
    } else if ua.contains("Windows") || ua.contains("Win9") || ua.contains("WinNT") {
        Some(("Windows", windows_version(ua).map(str::to_owned)))
    } else if ua.contains("Mac OS X") || ua.contains("Macintosh") || ua.contains("Mac_PowerPC") {
        Some(("macOS", version_after(ua, "Mac OS X ")))
    } else if ua.contains("FreeBSD") {
        Some(("FreeBSD", None))
    } else if ua.contains("OpenBSD") {
        Some(("OpenBSD", None))
    } else if ua.contains("NetBSD") {
        Some(("NetBSD", None))
    } else if ua.contains("SunOS") {
        Some(("Solaris", None))
    } else if ua.contains("Linux") || ua.contains("X11") || ua.contains("Ubuntu") {
        Some(("Linux", None))
    } else if ua.contains("MIDP") || ua.contains("J2ME") || ua.contains("CLDC") {
        Some(("Java ME", None))
    } else {
        // woothee's name where it is one of ours; its Japanese carrier names as they are.
        w.as_ref().filter(|w| w.os != "UNKNOWN").map(|w| {
            let name = match w.os {
                os if os.starts_with("Windows") => "Windows",
                "Mac OSX" | "Mac OS Classic" => "macOS",
                os if os.starts_with("PlayStation") => "PlayStation",
                os if os.starts_with("Nintendo") => "Nintendo",
                os if os.starts_with("BlackBerry") => "BlackBerry",
                os => os,
            };
            (name, major_minor(&w.os_version))
        })
    };
    if let Some((name, version)) = os {
        d.os_name = Some(name.to_owned());
        d.os_version = version;
    }
    let os_name = d.os_name.as_deref().unwrap_or("");

    // Device class. TVs and consoles are neither phones nor desktops.
    let big_screen = match os_name {
        "Android" | "Linux" | "Tizen" | "webOS" | "" => is_tv(ua),
        "PlayStation" | "Nintendo" => true,
        "Windows" => ua.contains("Xbox") || ua.contains("XBOX"),
        _ => false,
    };
    let portable_console = ua.contains("PlayStation Portable")
        || ua.contains("PlayStation Vita")
        || ua.contains("Nintendo 3DS")
        || ua.contains("Nintendo DS");
    if os_name == "Android" && !big_screen {
        d.is_tablet = !ua.contains("Mobile") || ua.contains("Tablet");
    }
    if ua.contains("Kindle") || ua.contains("Silk/") || ua.contains("Tablet") {
        d.is_tablet = true;
    }
    // Windows' "Tablet PC" marks a touch screen, not a tablet.
    if os_name == "Windows" && !ua.contains("ARM;") {
        d.is_tablet = false;
    }
    let desktop_os = matches!(os_name, "Windows" | "macOS" | "Linux" | "Chrome OS");
    let phone = !big_screen
        && ((matches!(category, "smartphone" | "mobilephone") && !desktop_os)
            || matches!(d.model.as_deref(), Some("iPhone" | "iPod"))
            || matches!(
                os_name,
                "Windows Phone" | "KaiOS" | "Symbian" | "Java ME" | "Bada"
            )
            || (os_name == "BlackBerry" && !d.is_tablet)
            || ua.contains("Mobile")
            || ua.contains("Mobi")
            || ua.contains("UP.Browser")
            || ua.contains("MIDP"));
    d.is_mobile = !d.is_bot && !big_screen && !portable_console && (phone || d.is_tablet);
    if big_screen || portable_console {
        d.is_tablet = false;
    }
    d.is_desktop = !d.is_bot
        && !d.is_mobile
        && !big_screen
        && !portable_console
        && (category == "pc"
            || matches!(
                os_name,
                "Windows"
                    | "macOS"
                    | "Linux"
                    | "Chrome OS"
                    | "FreeBSD"
                    | "OpenBSD"
                    | "NetBSD"
                    | "Solaris"
            ));

    // Browser or app: a token of its own first, then the engines' own names.
    let is_ios = matches!(os_name, "iOS" | "iPadOS") && d.model.is_some();
    let client: Option<(&str, Option<String>)> =
        if let Some((name, versions)) = browser::by_token(ua) {
            Some((name, version_after_any(ua, versions)))
        } else if android
            && (ua.contains("; wv)") || (ua.contains("Version/") && ua.contains("Chrome/")))
        {
            Some(("Chrome Webview", version_after(ua, "Chrome/")))
        } else if ua.contains("Firefox/") {
            let name = if android || ua.contains("Mobile") || ua.contains("Tablet") {
                "Firefox Mobile"
            } else {
                "Firefox"
            };
            Some((name, version_after(ua, "Firefox/")))
        } else if (ua.contains("Chrome/") || ua.contains("CrMo/")) && !d.is_bot {
            let name = if android && !d.is_tablet && !big_screen {
                "Chrome Mobile"
            } else {
                "Chrome"
            };
            Some((name, version_after_any(ua, &["Chrome/", "CrMo/"])))
        } else if is_ios {
            // Safari proper carries Version/x; a bare WebKit UA is an in-app web view, which the
            // reference also reports as Mobile Safari at the OS version.
            let version = version_after(ua, "Version/").or_else(|| ios_version.clone());
            Some(("Mobile Safari", version))
        } else if android && (ua.contains("AppleWebKit") || ua.contains("Version/")) {
            // Android's own browser before Chrome replaced it.
            Some(("Android Browser", version_after(ua, "Version/")))
        } else if ua.contains("Safari/") && ua.contains("Version/") {
            Some(("Safari", version_after(ua, "Version/")))
        } else {
            match &w {
                Some(w) if w.name != "UNKNOWN" && w.category != "crawler" => {
                    Some((w.name, major_minor(w.version)))
                }
                _ => None,
            }
        };
    if let Some((name, version)) = client {
        d.client_name = Some(name.to_owned());
        d.client_version = version;
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Case {
        ua: &'static str,
        model: Option<&'static str>,
        os: (&'static str, Option<&'static str>),
        client: (&'static str, Option<&'static str>),
        flags: (bool, bool, bool, bool), // mobile, tablet, desktop, bot
    }

    #[test]
    fn user_agents_map_to_the_reference_vocabulary() {
        let cases = [
            Case {
                ua: "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2_1 like Mac OS X)",
                model: Some("iPhone"),
                os: ("iOS", Some("17.2")),
                client: ("Mobile Safari", Some("17.2")),
                flags: (true, false, false, false),
            },
            Case {
                ua: "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
                model: Some("iPhone"),
                os: ("iOS", Some("16.6")),
                client: ("Mobile Safari", Some("16.6")),
                flags: (true, false, false, false),
            },
            Case {
                ua: "Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
                model: Some("iPad"),
                os: ("iPadOS", Some("17.1")),
                client: ("Mobile Safari", Some("17.1")),
                flags: (true, true, false, false),
            },
            Case {
                ua: "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.144 Mobile Safari/537.36",
                model: Some("Pixel 8"),
                os: ("Android", Some("14")),
                client: ("Chrome Mobile", Some("120.0")),
                flags: (true, false, false, false),
            },
            Case {
                ua: "Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
                model: Some("SM-S918B"),
                os: ("Android", Some("13")),
                client: ("Samsung Browser", Some("23.0")),
                flags: (true, false, false, false),
            },
            Case {
                ua: "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36",
                model: Some("SM-X710"),
                os: ("Android", Some("13")),
                client: ("Chrome", Some("119.0")),
                flags: (true, true, false, false),
            },
            Case {
                ua: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91",
                model: None,
                os: ("Windows", Some("10")),
                client: ("Microsoft Edge", Some("120.0")),
                flags: (false, false, true, false),
            },
            Case {
                ua: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15",
                model: None,
                os: ("macOS", Some("10.15")),
                client: ("Safari", Some("17.2")),
                flags: (false, false, true, false),
            },
            Case {
                ua: "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
                model: None,
                os: ("Linux", None),
                client: ("Firefox", Some("121.0")),
                flags: (false, false, true, false),
            },
            Case {
                ua: "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
                model: None,
                os: ("Chrome OS", Some("120.0")),
                client: ("Chrome", Some("120.0")),
                flags: (false, false, true, false),
            },
            Case {
                ua: "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/21B91 [FBAN/FBIOS;FBAV/442.0.0.38.109;FBBV/540000000]",
                model: Some("iPhone"),
                os: ("iOS", Some("17.1")),
                client: ("Facebook", Some("442.0")),
                flags: (true, false, false, false),
            },
            Case {
                ua: "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Instagram 309.0.2.18.118 (iPhone14,5; iOS 17_1; en_US)",
                model: Some("iPhone"),
                os: ("iOS", Some("17.1")),
                client: ("Instagram", Some("309.0")),
                flags: (true, false, false, false),
            },
            Case {
                ua: "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1",
                model: Some("iPhone"),
                os: ("iOS", Some("17.2")),
                client: ("Chrome Mobile iOS", Some("120.0")),
                flags: (true, false, false, false),
            },
            Case {
                ua: "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
                model: None,
                os: ("", None),
                client: ("", None),
                flags: (false, false, false, true),
            },
            Case {
                ua: "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
                model: None,
                os: ("", None),
                client: ("", None),
                flags: (false, false, false, true),
            },
            Case {
                ua: "curl/8.5.0",
                model: None,
                os: ("", None),
                client: ("", None),
                flags: (false, false, false, true),
            },
        ];
        let parser = Parser::new();
        for c in cases {
            let d = parse(&parser, c.ua);
            assert_eq!(d.model.as_deref(), c.model, "model of {}", c.ua);
            if !c.os.0.is_empty() {
                assert_eq!(d.os_name.as_deref(), Some(c.os.0), "os of {}", c.ua);
                assert_eq!(d.os_version.as_deref(), c.os.1, "os version of {}", c.ua);
            }
            if !c.client.0.is_empty() {
                assert_eq!(
                    d.client_name.as_deref(),
                    Some(c.client.0),
                    "client of {}",
                    c.ua
                );
                assert_eq!(
                    d.client_version.as_deref(),
                    c.client.1,
                    "client version of {}",
                    c.ua
                );
            }
            assert_eq!(
                (d.is_mobile, d.is_tablet, d.is_desktop, d.is_bot),
                c.flags,
                "flags of {}",
                c.ua
            );
        }
    }

    /// What the issue found wrong or missing, one line each: (user agent, OS, client,
    /// is_mobile, is_bot). An empty OS or client is not checked.
    #[test]
    fn old_phones_consoles_tvs_and_masquerading_browsers_are_named() {
        let cases: &[(&str, &str, &str, bool, bool)] = &[
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/70.0.3538.102 Safari/537.36 Edge/18.17763",
                "Windows",
                "Microsoft Edge",
                false,
                false,
            ),
            (
                "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; en) Opera 8.50",
                "Windows",
                "Opera",
                false,
                false,
            ),
            (
                "Mozilla/5.0 (Windows NT 6.0; U; en; rv:1.8.1) Gecko/20061208 Firefox/2.0.0 Opera 9.51",
                "Windows",
                "Opera",
                false,
                false,
            ),
            (
                "Opera/9.80 (J2ME/MIDP; Opera Mini/9.80 (S60; SymbOS; Opera Mobi/23.348; U; en) Presto/2.5.25 Version/10.54",
                "Symbian",
                "Opera Mini",
                true,
                false,
            ),
            (
                "Opera/9.80 (J2ME/MIDP; Opera Mini/4.2.14912/870; U; id) Presto/2.4.15",
                "Java ME",
                "Opera Mini",
                true,
                false,
            ),
            (
                "SAMSUNG-SGH-E250/1.0 Profile/MIDP-2.0 Configuration/CLDC-1.1 UP.Browser/6.2.3.3.c.1.101 (GUI) MMP/2.0",
                "Java ME",
                "Openwave Mobile Browser",
                true,
                false,
            ),
            (
                "UCWEB/2.0 (MIDP-2.0; U; Adr 9; ru; Redmi_Note_8_Pro) U2/1.0.0 UCBrowser/11.0.6.1040 U2/1.0.0 Mobile",
                "Android",
                "UC Browser",
                true,
                false,
            ),
            (
                "Mozilla/5.0 (Mobile; LYF/F300B/LYF-F300B-001-01-15-130718-i; Android; rv:48.0) Gecko/48.0 Firefox/48.0 KAIOS/2.5",
                "KaiOS",
                "Firefox Mobile",
                true,
                false,
            ),
            (
                "Mozilla/4.0 (compatible; MSIE 5.5; Windows 98; Win 9x 4.90)",
                "Windows",
                "Internet Explorer",
                false,
                false,
            ),
            (
                "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.0)",
                "Windows",
                "Internet Explorer",
                false,
                false,
            ),
            (
                "Nokia6230i/2.0 (03.80) Profile/MIDP-2.0 Configuration/CLDC-1.1",
                "Java ME",
                "",
                true,
                false,
            ),
            (
                "Mozilla/5.0 (SymbianOS/9.4; Series60/5.0 NokiaN97-1/12.0.024; Profile/MIDP-2.1 Configuration/CLDC-1.1; en-us) AppleWebKit/525 (KHTML, like Gecko) BrowserNG/7.1.18124",
                "Symbian",
                "Nokia Browser",
                true,
                false,
            ),
            (
                "Mozilla/5.0 (BlackBerry; U; BlackBerry 9900; en) AppleWebKit/534.11+ (KHTML, like Gecko) Version/7.1.0.346 Mobile Safari/534.11+",
                "BlackBerry",
                "",
                true,
                false,
            ),
            (
                "Mozilla/5.0 (compatible; MSIE 10.0; Windows Phone 8.0; Trident/6.0; IEMobile/10.0; ARM; Touch; NOKIA; Lumia 920)",
                "Windows Phone",
                "IE Mobile",
                true,
                false,
            ),
            (
                "Mozilla/5.0 (Linux; Tizen 2.3; SAMSUNG SM-Z130H) AppleWebKit/537.3 (KHTML, like Gecko) Version/2.3 Mobile Safari/537.3",
                "Tizen",
                "",
                true,
                false,
            ),
            (
                "Mozilla/5.0 (SMART-TV; Linux; Tizen 5.0) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/2.2 Chrome/63.0.3239.84 TV Safari/537.36",
                "Tizen",
                "Samsung Browser",
                false,
                false,
            ),
            (
                "Mozilla/5.0 (Web0S; Linux/SmartTV) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/79.0.3945.79 Safari/537.36 WebAppManager",
                "webOS",
                "Chrome",
                false,
                false,
            ),
            (
                "Mozilla/5.0 (Linux; Android 9; AFTMM Build/PS7233) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/91.0.4472.88 Mobile Safari/537.36",
                "Android",
                "",
                false,
                false,
            ),
            (
                "Mozilla/5.0 (PlayStation 4 3.11) AppleWebKit/537.73 (KHTML, like Gecko)",
                "PlayStation",
                "",
                false,
                false,
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64; Xbox; Xbox One) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/48.0.2564.82 Safari/537.36 Edge/20.02",
                "Windows",
                "Microsoft Edge",
                false,
                false,
            ),
            (
                "Mozilla/5.0 (Linux; U; Android 4.1.2; fr-ch; GT-N7105 Build/JZO54K) AppleWebKit/534.30 (KHTML, like Gecko) Version/4.0 Mobile Safari/534.30",
                "Android",
                "Android Browser",
                true,
                false,
            ),
            (
                "Mozilla/5.0 (Linux; Android 8.1.0; XBot Junior) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/87.0.4280.101 Mobile Safari/537.36",
                "Android",
                "Chrome Mobile",
                true,
                false,
            ),
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko; Google-InspectionTool/1.0;) Chrome/120.0.0.0 Safari/537.36",
                "",
                "",
                false,
                true,
            ),
            ("facebookcatalog/1.0", "", "", false, true),
            (
                "Mozilla/5.0 (compatible; Embedly/0.2; +http://support.embed.ly/)",
                "",
                "",
                false,
                true,
            ),
            (
                "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; +claudebot@anthropic.com)",
                "",
                "",
                false,
                true,
            ),
            (
                "Mozilla/5.0 (compatible; Google-Extended)",
                "",
                "",
                false,
                true,
            ),
            ("Datadog Agent/5.10.1", "", "", false, true),
            (
                "Amazon-Route53-Health-Check-Service (ref b0eb04d5; report http://amzn.to/1vsZADi)",
                "",
                "",
                false,
                true,
            ),
            ("Seobility", "", "", false, true),
        ];
        let parser = Parser::new();
        for (ua, os, client, mobile, bot) in cases {
            let d = parse(&parser, ua);
            if !os.is_empty() {
                assert_eq!(d.os_name.as_deref(), Some(*os), "os of {ua}");
            }
            if !client.is_empty() {
                assert_eq!(d.client_name.as_deref(), Some(*client), "client of {ua}");
            }
            assert_eq!(
                (d.is_mobile, d.is_bot),
                (*mobile, *bot),
                "mobile, bot of {ua}"
            );
            if !mobile && !bot && os.starts_with(['P', 'w', 'T']) {
                assert!(!d.is_desktop, "a TV or console is no desktop: {ua}");
            }
        }
    }

    #[test]
    fn garbage_and_huge_agents_never_fail() {
        let parser = Parser::new();
        for ua in [
            "",
            "\u{0}\u{1}",
            "(((((",
            &"A".repeat(100_000),
            "é".repeat(600).as_str(),
        ] {
            let _ = parse(&parser, ua);
        }
    }
}
