//! Device, OS and browser from a user agent: woothee for the broad classification, with
//! targeted rules where it is wrong or silent (Edge, Samsung Internet, in-app browsers, iOS
//! web views, tablets, modern bots), mapped to the reference's `device_data` vocabulary
//! ("iOS", "Mobile Safari", "Chrome Mobile", versions as major.minor).

use serde_json::{Value, json};
use woothee::parser::Parser;

mod bot;

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

fn windows_version(nt: &str) -> &str {
    match nt {
        "10.0" => "10",
        "6.3" => "8.1",
        "6.2" => "8",
        "6.1" => "7",
        "6.0" => "Vista",
        "5.1" | "5.2" => "XP",
        other => other,
    }
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

    // Operating system and model.
    let ios_version = ua
        .find(" OS ")
        .filter(|_| ua.contains("like Mac OS X"))
        .and_then(|i| major_minor(&ua[i + 4..]));
    if ua.contains("iPad") {
        d.model = Some("iPad".into());
        d.os_name = Some("iPadOS".into());
        d.os_version = ios_version.clone();
        d.is_tablet = true;
    } else if ua.contains("iPhone") || ua.contains("iPod") {
        d.model = Some(
            if ua.contains("iPod") {
                "iPod"
            } else {
                "iPhone"
            }
            .into(),
        );
        d.os_name = Some("iOS".into());
        d.os_version = ios_version.clone();
    } else if ua.contains("Android") {
        d.os_name = Some("Android".into());
        d.os_version = version_after(ua, "Android ");
        d.model = android_model(ua);
        d.is_tablet = !ua.contains("Mobile") || ua.contains("Tablet");
    } else if ua.contains("CrOS") {
        d.os_name = Some("Chrome OS".into());
        d.os_version = version_after(ua, "Chrome/");
    } else if let Some(i) = ua.find("Windows NT ") {
        d.os_name = Some("Windows".into());
        let nt = &ua[i + 11..];
        let nt_end = nt.find([';', ')']).unwrap_or(nt.len());
        d.os_version = Some(windows_version(nt[..nt_end].trim()).to_owned());
    } else if ua.contains("Mac OS X") || ua.contains("Macintosh") {
        d.os_name = Some("macOS".into());
        d.os_version = version_after(ua, "Mac OS X ");
    } else if ua.contains("Linux") || ua.contains("X11") {
        d.os_name = Some("Linux".into());
    } else if let Some(w) = &w
        && w.os != "UNKNOWN"
    {
        d.os_name = Some(w.os.to_owned());
        d.os_version = major_minor(&w.os_version);
    }
    if ua.contains("Kindle") || ua.contains("Silk/") || ua.contains("Tablet") {
        d.is_tablet = true;
    }

    // Browser or app, most specific first.
    let is_ios = ios_version.is_some() || d.model.as_deref() == Some("iPad");
    let android = d.os_name.as_deref() == Some("Android");
    let client: Option<(&str, Option<String>)> = if ua.contains("FBAN/") || ua.contains("FBAV/") {
        Some(("Facebook", version_after(ua, "FBAV/")))
    } else if ua.contains("Instagram ") {
        Some(("Instagram", version_after(ua, "Instagram ")))
    } else if ua.contains("musical_ly") || ua.contains("TikTok") {
        Some(("TikTok", version_after(ua, "musical_ly_")))
    } else if ua.contains("LinkedInApp") {
        Some(("LinkedIn", version_after(ua, "LinkedInApp/")))
    } else if ua.contains("Snapchat") {
        Some(("Snapchat", version_after(ua, "Snapchat/")))
    } else if ua.contains("Pinterest") {
        Some(("Pinterest", version_after(ua, "Pinterest/")))
    } else if ua.contains(" Line/") {
        Some(("Line", version_after(ua, " Line/")))
    } else if let Some(v) = ["Edg/", "EdgA/", "EdgiOS/"]
        .iter()
        .find(|t| ua.contains(**t))
        .map(|t| version_after(ua, t))
    {
        Some(("Microsoft Edge", v))
    } else if ua.contains("SamsungBrowser/") {
        Some(("Samsung Browser", version_after(ua, "SamsungBrowser/")))
    } else if ua.contains("OPR/") || ua.contains("OPiOS/") {
        let token = if ua.contains("OPR/") {
            "OPR/"
        } else {
            "OPiOS/"
        };
        Some(("Opera", version_after(ua, token)))
    } else if ua.contains("YaBrowser/") {
        Some(("Yandex Browser", version_after(ua, "YaBrowser/")))
    } else if ua.contains("CriOS/") {
        Some(("Chrome Mobile iOS", version_after(ua, "CriOS/")))
    } else if ua.contains("FxiOS/") {
        Some(("Firefox iOS", version_after(ua, "FxiOS/")))
    } else if android && ua.contains("; wv)") {
        Some(("Chrome Webview", version_after(ua, "Chrome/")))
    } else if ua.contains("Firefox/") {
        let name = if android || ua.contains("Mobile") {
            "Firefox Mobile"
        } else {
            "Firefox"
        };
        Some((name, version_after(ua, "Firefox/")))
    } else if ua.contains("Chrome/") && !d.is_bot {
        let name = if android && !d.is_tablet {
            "Chrome Mobile"
        } else {
            "Chrome"
        };
        Some((name, version_after(ua, "Chrome/")))
    } else if is_ios {
        // Safari proper carries Version/x; a bare WebKit UA is an in-app web view, which the
        // reference also reports as Mobile Safari at the OS version.
        let version = version_after(ua, "Version/").or_else(|| ios_version.clone());
        Some(("Mobile Safari", version))
    } else if ua.contains("Safari/") && ua.contains("Version/") {
        Some(("Safari", version_after(ua, "Version/")))
    } else {
        match &w {
            Some(w) if w.name != "UNKNOWN" => Some((w.name, major_minor(w.version))),
            _ => None,
        }
    };
    if let Some((name, version)) = client {
        d.client_name = Some(name.to_owned());
        d.client_version = version;
    }

    let phone = matches!(category, "smartphone" | "mobilephone")
        || d.model
            .as_deref()
            .is_some_and(|m| m == "iPhone" || m == "iPod")
        || (android && ua.contains("Mobile"));
    d.is_mobile = !d.is_bot && (phone || d.is_tablet);
    d.is_desktop = !d.is_bot
        && !d.is_mobile
        && (category == "pc"
            || matches!(
                d.os_name.as_deref(),
                Some("Windows" | "macOS" | "Linux" | "Chrome OS")
            ));
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
