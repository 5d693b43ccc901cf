//! Whether a user agent is a crawler, fetcher, monitor or other automated client.

pub(super) fn is_bot(ua: &str, woothee_category: &str) -> bool {
    if woothee_category == "crawler" {
        return true;
    }
    let lower = ua.to_ascii_lowercase();
    const MARKERS: &[&str] = &[
        "crawler",
        "spider",
        "slurp",
        "headlesschrome",
        "lighthouse",
        "python-requests",
        "python-urllib",
        "curl/",
        "wget/",
        "go-http-client",
        "facebookexternalhit",
        "bingpreview",
        "scrapy",
        "libwww-perl",
        "node-fetch",
        "axios/",
        "httpclient",
        "java/",
        "phantomjs",
        "puppeteer",
        "playwright",
        "uptime",
        "pingdom",
        "monitor",
        "preview",
        "ahrefs",
        "semrush",
        "mj12",
        "dataprovider",
        "ia_archiver",
    ];
    if MARKERS.iter().any(|m| lower.contains(m)) {
        return true;
    }
    // Word-final "bot" (Googlebot, GPTBot, ClaudeBot, AdsBot) but not the phone brand Cubot.
    lower
        .split(|c: char| !c.is_ascii_alphanumeric())
        .any(|w| w.ends_with("bot") && w != "cubot")
}
