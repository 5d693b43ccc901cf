//! Whether a user agent is a crawler, fetcher, monitor or other automated client.
//!
//! One case-insensitive pass over a couple of hundred markers (an Aho-Corasick automaton,
//! built on first use in well under a millisecond), which include the shapes no browser
//! sends: a URL or web address, which crawlers carry for site owners to find them. Then an
//! e-mail address, and a bare word with no version or platform at all.

use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind};

/// Substrings, matched without regard to case, that only automated clients' user agents carry:
/// crawler and tool words, HTTP libraries, link-preview and feed fetchers, monitoring, SEO,
/// security scanners, ad verification and AI crawlers (most of which also end in "bot",
/// checked separately).
const MARKERS: &[&str] = &[
    // What crawlers call themselves.
    "crawl",
    "spider",
    "sipder",
    "scrap",
    "fetch",
    "slurp",
    "archiv",
    "indexer",
    "nutch",
    "heritrix",
    "teoma",
    "ask jeeves",
    "yahoo:",
    "daum",
    "transcoder",
    // Libraries and command-line tools.
    "python",
    "java/",
    "curl",
    "wget",
    "libwww",
    "perl/",
    "ruby/",
    "php",
    "go-http",
    "okhttp",
    "node-fetch",
    "axios",
    "undici",
    "request",
    "postman",
    "insomnia",
    "httrack",
    "sitesucker",
    "httpclient",
    "http-client",
    "http_client",
    "httpx",
    "aiohttp",
    "guzzle",
    "wordpress",
    "headless",
    "phantomjs",
    "selenium",
    "webdriver",
    "puppeteer",
    "playwright",
    // Link previews, embeds and feeds.
    "preview",
    "externalhit",
    "externalua",
    "facebookcatalog",
    "facebookplatform",
    "whatsapp/",
    "telegram",
    "slack-imgproxy",
    "linkexpand",
    "embedly",
    "iframely",
    "feed",
    "rss",
    "proxy",
    "google-",
    "google web preview",
    "google favicon",
    "google page speed",
    "google search console",
    "googleprober",
    "mediapartners",
    "outbrain",
    // Monitoring, load testing and health checks.
    "monitor",
    "uptime",
    "pingdom",
    "check",
    "probe",
    "health",
    "synthetic",
    "exporter",
    "site24x7",
    "statuscake",
    "datadog",
    "newrelic",
    "nagios",
    "zabbix",
    "munin",
    "collectd",
    "catchpoint",
    "dynatrace",
    "cloudflare",
    "route 53",
    "apachebench",
    "jmeter",
    "locust",
    "gatling",
    "siege",
    "httperf",
    "lighthouse",
    "pagespeed",
    "gtmetrix",
    // SEO, audits and analysis.
    "seo/",
    "seo ",
    "seo-",
    "seobility",
    "seokicks",
    "seopult",
    "audit",
    "analyz",
    "analys",
    "validator",
    "lookup",
    "sistrix",
    "optimizer",
    "ahrefs",
    "semrush",
    "majestic",
    "mj12",
    "screaming frog",
    "sitebulb",
    "serpstat",
    "dataprovider",
    "ia_archiver",
    "netcraft",
    // Security scanners and certificate checks.
    "scan",
    "nikto",
    "nmap",
    "zgrab",
    "sqlmap",
    "nuclei",
    "gobuster",
    "dirbuster",
    "arachni",
    "acunetix",
    "netsparker",
    "openvas",
    "qualys",
    "censys",
    "shodan",
    "ips-agent",
    " dcv",
    "ssl",
    "certificate",
    // Ad verification.
    "bidtellect",
    "adreview",
    "admantx",
    "grapeshot",
    "proximic",
    "brandverity",
    // AI crawlers and assistants' fetchers.
    "chatgpt",
    "oai-search",
    "claude",
    "anthropic",
    "perplexity",
    "bytespider",
    "cohere",
    "meta-external",
    "mistralai",
    "timpi",
    "omgili",
    "imagesift",
    "agent",
];

/// Where the marker list ends and the address markers begin, then "bot" last (see `is_bot`).
const BOT: &str = "bot";
/// A URL or web address: a crawler's contact, never a browser's.
const ADDRESS_MARKERS: &[&str] = &["http:", "https:", "www.", ".com"];

static MARKER_SET: LazyLock<Option<AhoCorasick>> = LazyLock::new(|| {
    // A contiguous NFA builds in a fraction of the time of the DFA the crate would pick for a
    // set this size (measured: the first enrichment of a process pays for it) and scans a
    // user agent nearly as fast.
    AhoCorasickBuilder::new()
        .kind(Some(AhoCorasickKind::ContiguousNFA))
        .ascii_case_insensitive(true)
        .build(MARKERS.iter().chain(ADDRESS_MARKERS).chain([&BOT]))
        .ok()
});

/// An e-mail address (`user@host.tld`): a crawler's contact, never a browser's.
fn names_an_email_address(ua: &str) -> bool {
    ua.contains('@')
        && ua
            .split(|c: char| c.is_whitespace() || matches!(c, '(' | ')' | ';' | '<' | '>'))
            .any(|w| {
                w.split_once('@')
                    .is_some_and(|(user, host)| !user.is_empty() && host.contains('.'))
            })
}

pub(super) fn is_bot(ua: &str, woothee_category: &str) -> bool {
    if woothee_category == "crawler" {
        return true;
    }
    let bytes = ua.as_bytes();
    // An Android agent's first parentheses hold the device's model, which phone makers name
    // freely ("XBot Junior", "Seoul S8", "Spider 8", "rubyplus"): words there are not a
    // crawler's (Android crawlers name themselves after it), addresses still are.
    let model = ua.find('(').and_then(|open| {
        let close = ua[open..].find(')').map_or(ua.len(), |c| open + c);
        ua[open..close].contains("Android").then_some(open..close)
    });
    let addresses = MARKERS.len()..MARKERS.len() + ADDRESS_MARKERS.len();
    let marked = MARKER_SET.as_ref().is_some_and(|set| {
        set.find_overlapping_iter(ua).any(|m| {
            if model
                .as_ref()
                .is_some_and(|r| r.start < m.start() && m.end() <= r.end)
                && !addresses.contains(&m.pattern().as_usize())
            {
                return false;
            }
            // "bot" anywhere (Googlebot, GPTBot, ClaudeBot, AdsBot, robots), except in the
            // phone brand Cubot.
            m.pattern().as_usize() < addresses.end
                || m.start() < 2
                || !bytes[m.start() - 2..m.start()].eq_ignore_ascii_case(b"cu")
        })
    });
    if marked || names_an_email_address(ua) {
        return true;
    }
    // A bare word or phrase with no version and no platform ("Seobility", "Hello World"):
    // every browser and app names a version or a platform, or at least the device (some iOS
    // apps send just "iPhone14Pro").
    !ua.is_empty() && !ua.contains(['/', '(', ';']) && !ua.starts_with("iP")
}
