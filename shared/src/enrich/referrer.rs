//! Referrers: a known search engine, social network or email provider by host, and the
//! registrable domain of any other.

/// Referrer hosts recognised exactly, before the domain table: webmail and short links.
const REFERRER_HOSTS: &[(&str, &str, &str)] = &[
    ("mail.google.com", "gmail", "email"),
    ("outlook.live.com", "outlook", "email"),
    ("outlook.office.com", "outlook", "email"),
    ("outlook.office365.com", "outlook", "email"),
    ("mail.yahoo.com", "yahoo_mail", "email"),
    ("mail.proton.me", "protonmail", "email"),
    ("mail.aol.com", "aol_mail", "email"),
    ("search.brave.com", "brave", "search"),
    ("t.co", "x", "social"),
    ("t.me", "telegram", "social"),
    ("lnkd.in", "linkedin", "social"),
    ("youtu.be", "youtube", "social"),
    ("pin.it", "pinterest", "social"),
    ("bsky.app", "bluesky", "social"),
];

/// Referrer domains by their registrable name without the public suffix, so google.com,
/// google.co.uk and www.google.de all read as "google".
const REFERRER_DOMAINS: &[(&str, &str, &str)] = &[
    ("google", "google", "search"),
    ("bing", "bing", "search"),
    ("duckduckgo", "duckduckgo", "search"),
    ("yahoo", "yahoo", "search"),
    ("yandex", "yandex", "search"),
    ("baidu", "baidu", "search"),
    ("ecosia", "ecosia", "search"),
    ("naver", "naver", "search"),
    ("seznam", "seznam", "search"),
    ("qwant", "qwant", "search"),
    ("startpage", "startpage", "search"),
    ("facebook", "facebook", "social"),
    ("fb", "facebook", "social"),
    ("instagram", "instagram", "social"),
    ("linkedin", "linkedin", "social"),
    ("twitter", "x", "social"),
    ("x", "x", "social"),
    ("reddit", "reddit", "social"),
    ("youtube", "youtube", "social"),
    ("tiktok", "tiktok", "social"),
    ("pinterest", "pinterest", "social"),
    ("threads", "threads", "social"),
    ("snapchat", "snapchat", "social"),
    ("quora", "quora", "social"),
    ("tumblr", "tumblr", "social"),
    ("vk", "vk", "social"),
    ("weibo", "weibo", "social"),
    ("whatsapp", "whatsapp", "social"),
    ("discord", "discord", "social"),
];

/// The registrable domain of a host (`partner.example.co.uk` → `example.co.uk`).
pub fn registrable_domain(host: &str) -> Option<String> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    psl::domain_str(&host).map(str::to_owned)
}

/// A known search engine, social network or email provider for a referrer host.
pub fn classify_host(host: &str) -> Option<(&'static str, &'static str)> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if let Some((_, source, medium)) = REFERRER_HOSTS.iter().find(|(h, _, _)| *h == host) {
        return Some((source, medium));
    }
    let domain = psl::domain_str(&host)?;
    let suffix = psl::suffix_str(&host)?;
    let label = domain.strip_suffix(suffix)?.trim_end_matches('.');
    REFERRER_DOMAINS
        .iter()
        .find(|(d, _, _)| *d == label)
        .map(|(_, source, medium)| (*source, *medium))
}
