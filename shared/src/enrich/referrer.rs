//! Referrers: the named source and medium of a known referrer host, from the table in
//! `data/referrers.tsv` (compiled in, parsed once on first use), the search term a search
//! engine's referrer carries, and the registrable domain of any other host.

use std::collections::HashMap;
use std::sync::LazyLock;

use url::Url;

/// The mediums a table entry may name. `internal`, `direct` and `cpc` are decided from the
/// landing URL and click ids, never by a referrer's host.
pub const TABLE_MEDIUMS: &[&str] = &["search", "social", "email", "chatbot", "referral"];

/// A search term longer than this is cut: it is kept for reading, not as a store of text.
const MAX_SEARCH_TERM_CHARS: usize = 200;

const TABLE_TSV: &str = include_str!("data/referrers.tsv");

/// What a known referrer host stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownReferrer {
    pub source: &'static str,
    pub medium: &'static str,
    /// The query parameters that carry a search engine's search term, comma-separated, in
    /// order of preference; empty when the referrer carries none.
    params: &'static str,
}

impl KnownReferrer {
    /// The search term in the referrer's query, when this is a search engine and the
    /// referrer carries one (most engines now strip it; Bing, Yahoo, Yandex, Baidu, Naver and
    /// the smaller ones often still send it).
    pub fn search_term(&self, referrer: &Url) -> Option<String> {
        if self.params.is_empty() {
            return None;
        }
        self.params.split(',').find_map(|param| {
            referrer
                .query_pairs()
                .filter(|(k, _)| k.eq_ignore_ascii_case(param))
                .map(|(_, v)| {
                    v.trim()
                        .chars()
                        .take(MAX_SEARCH_TERM_CHARS)
                        .collect::<String>()
                })
                .find(|v| !v.is_empty())
        })
    }
}

/// One table line: host, source, medium, params ("-" for none). `None` for a line that is not
/// four fields with a known medium; the table's unit test requires there be none.
fn parse_line(line: &'static str) -> Option<(&'static str, KnownReferrer)> {
    let mut fields = line.split('\t');
    let (host, source, medium, params) = (
        fields.next()?,
        fields.next()?,
        fields.next()?,
        fields.next()?,
    );
    if fields.next().is_some() || host.is_empty() || source.is_empty() {
        return None;
    }
    if !TABLE_MEDIUMS.contains(&medium) {
        return None;
    }
    let params = if params == "-" { "" } else { params };
    Some((
        host,
        KnownReferrer {
            source,
            medium,
            params,
        },
    ))
}

fn table_lines() -> impl Iterator<Item = &'static str> {
    TABLE_TSV
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

static TABLE: LazyLock<HashMap<&'static str, KnownReferrer>> =
    LazyLock::new(|| table_lines().filter_map(parse_line).collect());

/// The table entry for a referrer host: the host itself or its nearest listed parent
/// (`l.facebook.com` → `facebook.com`), where at each level an exact entry comes before a
/// `name.*` one that stands for any public suffix (`www.google.co.uk` → `google.*`).
pub fn lookup(host: &str) -> Option<KnownReferrer> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host.is_empty() {
        return None;
    }
    let table = &*TABLE;
    // Where the public suffix starts (the '.' before "co.uk"), when the host has more than it.
    let suffix_dot = psl::suffix_str(&host)
        .filter(|s| s.len() < host.len())
        .map(|s| host.len() - s.len() - 1);
    let mut wildcard = String::with_capacity(host.len() + 2);
    let mut start = 0;
    loop {
        let rest = &host[start..];
        if let Some(known) = table.get(rest) {
            return Some(*known);
        }
        if let Some(dot) = suffix_dot.filter(|&d| start < d) {
            wildcard.clear();
            wildcard.push_str(&host[start..dot]);
            wildcard.push_str(".*");
            if let Some(known) = table.get(wildcard.as_str()) {
                return Some(*known);
            }
        }
        start += rest.find('.')? + 1;
    }
}

/// The registrable domain of a host (`partner.example.co.uk` → `example.co.uk`).
pub fn registrable_domain(host: &str) -> Option<String> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    psl::domain_str(&host).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_line_parses_and_no_host_is_listed_twice() {
        let mut seen = std::collections::HashSet::new();
        for line in table_lines() {
            let (host, known) = parse_line(line).unwrap_or_else(|| panic!("bad line: {line:?}"));
            assert!(seen.insert(host), "{host} is listed twice");
            assert_eq!(
                host,
                host.to_ascii_lowercase(),
                "{host}: hosts are lowercase"
            );
            assert!(!host.contains('/'), "{host}: a host, not a URL");
            assert!(
                known
                    .source
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{}: sources are lowercase words",
                known.source
            );
        }
        assert!(seen.len() > 400, "the table has {} hosts", seen.len());
    }

    #[test]
    fn subdomains_and_country_domains_match() {
        for (host, source, medium) in [
            ("www.google.co.uk", "google", "search"),
            ("google.de", "google", "search"),
            ("news.google.com", "google_news", "referral"),
            ("mail.google.com", "gmail", "email"),
            ("m.facebook.com", "facebook", "social"),
            ("l.facebook.com", "facebook", "social"),
            ("search.yahoo.co.jp", "yahoo", "search"),
            ("mail.yahoo.co.uk", "yahoo_mail", "email"),
            ("uk.search.yahoo.com", "yahoo", "search"),
            ("yandex.kz", "yandex", "search"),
            ("de.linkedin.com", "linkedin", "social"),
            ("www.pinterest.fr", "pinterest", "social"),
            ("chatgpt.com", "chatgpt", "chatbot"),
            ("www.perplexity.ai", "perplexity", "chatbot"),
            ("GEMINI.google.com.", "gemini", "chatbot"),
            ("en.m.wikipedia.org", "wikipedia", "referral"),
            ("com.google.android.gm", "gmail", "email"),
        ] {
            let known = lookup(host).unwrap_or_else(|| panic!("{host} is not known"));
            assert_eq!((known.source, known.medium), (source, medium), "{host}");
        }
        for host in [
            "example.com",
            "googleexample.com",
            "notgoogle.co.uk",
            "co.uk",
            "",
            ".",
            "1.2.3.4",
            "localhost",
        ] {
            assert_eq!(lookup(host), None, "{host}");
        }
    }

    #[test]
    fn search_terms_come_from_the_engines_parameter() {
        let term = |url: &str| {
            let url = Url::parse(url).unwrap();
            lookup(url.host_str().unwrap()).and_then(|k| k.search_term(&url))
        };
        assert_eq!(
            term("https://www.bing.com/search?q=rust+tracking&form=QBLH").as_deref(),
            Some("rust tracking")
        );
        assert_eq!(
            term("https://search.yahoo.co.jp/search?p=%E6%9D%B1%E4%BA%AC").as_deref(),
            Some("東京")
        );
        assert_eq!(
            term("https://www.baidu.com/s?ie=utf-8&wd=atrack").as_deref(),
            Some("atrack")
        );
        assert_eq!(
            term("https://yandex.ru/search/?text=atrack&lr=213").as_deref(),
            Some("atrack")
        );
        assert_eq!(
            term("https://search.naver.com/search.naver?query=atrack").as_deref(),
            Some("atrack")
        );
        assert_eq!(term("https://www.google.com/").as_deref(), None);
        assert_eq!(term("https://www.google.com/search?q=++").as_deref(), None);
        assert_eq!(
            term("https://www.facebook.com/?q=not+a+search").as_deref(),
            None
        );
        let long = format!("https://www.bing.com/search?q={}", "é".repeat(10_000));
        assert_eq!(
            term(&long).map(|t| t.chars().count()),
            Some(MAX_SEARCH_TERM_CHARS)
        );
    }
}
