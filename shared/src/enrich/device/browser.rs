//! Browsers and apps named by a token of their own, in Device Detector's vocabulary (which the
//! reference's `device_data` uses): one case-sensitive Aho-Corasick pass over the user agent
//! finds every token, and the earliest in `TOKENS` wins, so that a browser that also names
//! the one it is built on or imitates (Opera naming MSIE, Edge naming Chrome, UC Browser naming
//! Safari) is reported as itself.

use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind};

/// (token, name, the tokens its version follows, tried in order).
const TOKENS: &[(&str, &str, &[&str])] = &[
    // In-app browsers.
    ("FBAN/", "Facebook", &["FBAV/"]),
    ("FBAV/", "Facebook", &["FBAV/"]),
    ("FB_IAB/", "Facebook", &["FBAV/"]),
    ("Instagram ", "Instagram", &["Instagram "]),
    ("musical_ly", "TikTok", &["musical_ly_"]),
    ("TikTok", "TikTok", &["TikTok/"]),
    ("LinkedInApp", "LinkedIn", &["LinkedInApp/"]),
    ("Snapchat", "Snapchat", &["Snapchat/"]),
    ("Pinterest", "Pinterest", &["Pinterest/"]),
    (" Line/", "Line", &[" Line/"]),
    // Browsers that name another engine or browser as well: before those.
    ("UCBrowser/", "UC Browser", &["UCBrowser/"]),
    ("UCWEB", "UC Browser", &["UCBrowser/", "UCWEB/"]),
    ("UBrowser/", "UC Browser", &["UBrowser/"]),
    ("UCTurbo/", "UC Browser Turbo", &["UCTurbo/"]),
    ("YaBrowser/", "Yandex Browser", &["YaBrowser/"]),
    ("YaSearchBrowser/", "Yandex Browser", &["YaSearchBrowser/"]),
    ("YaApp_Android/", "Yandex Browser", &["YaApp_Android/"]),
    (
        "YandexSearch",
        "Yandex Browser",
        &["YandexSearchBrowser/", "YandexSearch/"],
    ),
    ("Opera Mini/", "Opera Mini", &["Opera Mini/"]),
    ("OPiOS/", "Opera Mini iOS", &["OPiOS/"]),
    ("OPX/", "Opera GX", &["OPX/"]),
    ("OPT/", "Opera Touch", &["OPT/"]),
    ("OPR/", "Opera", &["OPR/"]),
    (
        "Opera Mobi",
        "Opera Mobile",
        &["Version/", "Opera/", "Opera "],
    ),
    ("Opera", "Opera", &["Version/", "Opera/", "Opera "]),
    ("Edg/", "Microsoft Edge", &["Edg/"]),
    ("EdgA/", "Microsoft Edge", &["EdgA/"]),
    ("EdgiOS/", "Microsoft Edge", &["EdgiOS/"]),
    ("Edge/", "Microsoft Edge", &["Edge/"]),
    ("SamsungBrowser/", "Samsung Browser", &["SamsungBrowser/"]),
    ("MiuiBrowser/", "Mi Browser", &["MiuiBrowser/"]),
    (
        "HuaweiBrowser/",
        "Huawei Browser Mobile",
        &["HuaweiBrowser/"],
    ),
    ("HeyTapBrowser/", "HeyTapBrowser", &["HeyTapBrowser/"]),
    ("VivoBrowser/", "vivo Browser", &["VivoBrowser/"]),
    ("Quark/", "Quark", &["Quark/"]),
    ("MQQBrowser/", "QQ Browser", &["MQQBrowser/"]),
    ("QQBrowser/", "QQ Browser", &["QQBrowser/"]),
    ("baiduboxapp", "Baidu Browser", &["baiduboxapp/"]),
    ("baidubrowser", "Baidu Browser", &["baidubrowser/"]),
    (
        "SogouMobileBrowser",
        "Sogou Mobile Browser",
        &["SogouMobileBrowser/"],
    ),
    ("Silk/", "Mobile Silk", &["Silk/"]),
    ("PHX/", "Phoenix Browser", &["PHX/"]),
    ("Puffin/", "Puffin Web Browser", &["Puffin/"]),
    ("OculusBrowser/", "Oculus Browser", &["OculusBrowser/"]),
    (
        "DuckDuckGo/",
        "DuckDuckGo Privacy Browser",
        &["DuckDuckGo/"],
    ),
    ("Vivaldi/", "Vivaldi", &["Vivaldi/"]),
    ("Whale/", "Whale Browser", &["Whale/"]),
    ("Maxthon", "Maxthon", &["Maxthon/", "Maxthon "]),
    ("Iron/", "Iron", &["Iron/"]),
    // Feature phones and their platforms' browsers.
    ("UP.Browser", "Openwave Mobile Browser", &["UP.Browser/"]),
    ("NetFront", "NetFront", &["NetFront/"]),
    ("NokiaBrowser/", "Nokia Browser", &["NokiaBrowser/"]),
    ("BrowserNG/", "Nokia Browser", &["BrowserNG/"]),
    ("Series60/", "Nokia Browser", &["BrowserNG/"]),
    ("IEMobile", "IE Mobile", &["IEMobile/", "IEMobile "]),
    ("MSIE ", "Internet Explorer", &["MSIE "]),
    ("Trident/", "Internet Explorer", &["rv:"]),
    ("CriOS/", "Chrome Mobile iOS", &["CriOS/"]),
    ("FxiOS/", "Firefox iOS", &["FxiOS/"]),
    ("Focus/", "Firefox Focus", &["Focus/"]),
    ("Dalvik/", "Android Browser", &[]),
    // Firefox's pre-release code names.
    ("Shiretoko/", "Firefox", &["Shiretoko/"]),
    ("GranParadiso", "Firefox", &["GranParadiso/"]),
    ("Minefield/", "Firefox", &["Minefield/"]),
    ("Namoroka/", "Firefox", &["Namoroka/"]),
    ("BonEcho/", "Firefox", &["BonEcho/"]),
];

/// Built on first use; a contiguous NFA, as in `bot.rs`, for a fast build.
static TOKEN_SET: LazyLock<Option<AhoCorasick>> = LazyLock::new(|| {
    AhoCorasickBuilder::new()
        .kind(Some(AhoCorasickKind::ContiguousNFA))
        .build(TOKENS.iter().map(|(token, _, _)| token))
        .ok()
});

/// The browser or app a token names, and the tokens its version follows.
pub(super) fn by_token(ua: &str) -> Option<(&'static str, &'static [&'static str])> {
    let set = TOKEN_SET.as_ref()?;
    let first = set
        .find_overlapping_iter(ua)
        .map(|m| m.pattern().as_usize())
        .min()?;
    TOKENS
        .get(first)
        .map(|(_, name, versions)| (*name, *versions))
}
