//! URL and attribution, pure functions: `url_data` from whichever URL parts the client sent,
//! UTM tags and campaign ids, ad click ids, the remaining query parameters, and the traffic
//! source, medium and search term from utm_source, the click id's network or the referrer.

use serde_json::{Map, Value, json};
use url::Url;

use super::referrer::{lookup, registrable_domain};

/// URL parts as the client sent them (`context.url`).
#[derive(Debug, Clone, Copy, Default)]
pub struct UrlInput<'a> {
    pub href: Option<&'a str>,
    pub raw: Option<&'a str>,
    pub path: Option<&'a str>,
    pub query: Option<&'a str>,
    pub hash: Option<&'a str>,
    pub referer: Option<&'a str>,
    pub source_url: Option<&'a str>,
}

/// Everything derived from the landing URL and referrer.
#[derive(Debug, Clone, PartialEq)]
pub struct Attribution {
    pub url_data: Value,
    pub utm_data: Map<String, Value>,
    pub query_params: Map<String, Value>,
    pub click_ids: Map<String, Value>,
    pub source: String,
    pub medium: String,
    /// The search engine's query, when the referrer is one and carries it.
    pub search_term: Option<String>,
    pub referer: Option<String>,
}

impl Attribution {
    /// The attribution fields as one object, the shape `first_touch` keeps.
    pub fn to_json(&self) -> Value {
        json!({
            "url_data": self.url_data,
            "utm_data": self.utm_data,
            "query_params": self.query_params,
            "click_ids": self.click_ids,
            "source": self.source,
            "medium": self.medium,
            "search_term": self.search_term,
            "referer": self.referer,
        })
    }
}

/// Campaign identifiers that belong with the UTM tags (Google Ads ValueTrack and the like).
const CAMPAIGN_KEYS: &[&str] = &[
    "campaign_id",
    "campaignid",
    "adgroup_id",
    "adgroupid",
    "adset_id",
    "ad_id",
    "adid",
    "creative_id",
    "creative",
    "keyword",
    "matchtype",
    "network",
    "placement",
];

/// Source and medium of a visit whose referrer is a page of the same site.
pub const INTERNAL: &str = "internal";

/// Ad click ids and the network each one belongs to, in priority order for `source`.
pub const CLICK_IDS: &[(&str, &str)] = &[
    ("gclid", "google"),
    ("gbraid", "google"),
    ("wbraid", "google"),
    ("dclid", "google"),
    ("msclkid", "bing"),
    ("fbclid", "facebook"),
    ("ttclid", "tiktok"),
    ("twclid", "x"),
    ("li_fat_id", "linkedin"),
    ("yclid", "yandex"),
    ("epik", "pinterest"),
    ("rdt_cid", "reddit"),
    ("sccid", "snapchat"),
    ("irclickid", "impact"),
];

fn host_of(url: &str) -> Option<String> {
    Url::parse(url).ok()?.host_str().map(str::to_owned)
}

/// Splits `raw` ("/p?q#h") into path, query ("?q") and hash ("#h").
fn split_raw(raw: &str) -> (String, Option<String>, Option<String>) {
    let (rest, hash) = match raw.split_once('#') {
        Some((r, h)) => (r, Some(format!("#{h}"))),
        None => (raw, None),
    };
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p.to_owned(), Some(format!("?{q}"))),
        None => (rest.to_owned(), None),
    };
    (path, query, hash)
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

/// Derives the attribution. `seen_ms` is when this landing was first seen (for `fbc`);
/// `previous_click_ids` keeps an existing `fbc` stable when the same fbclid comes back.
pub fn attribute(
    input: &UrlInput<'_>,
    seen_ms: i64,
    previous_click_ids: Option<&Map<String, Value>>,
) -> Attribution {
    let href_in = non_empty(input.href);
    let raw_in = non_empty(input.raw);
    let parsed = href_in
        .and_then(|h| Url::parse(h).ok())
        .or_else(|| raw_in.and_then(|r| Url::parse(r).ok()));
    let from_raw = raw_in
        .filter(|r| !r.contains("://"))
        .map(split_raw)
        .or_else(|| {
            // A relative href ("/pricing?x=1") is a raw path in disguise.
            href_in.filter(|h| h.starts_with('/')).map(split_raw)
        });

    let path = non_empty(input.path)
        .map(str::to_owned)
        .or_else(|| parsed.as_ref().map(|u| u.path().to_owned()))
        .or_else(|| from_raw.as_ref().map(|(p, _, _)| p.clone()));
    let query = non_empty(input.query)
        .map(|q| {
            if q.starts_with('?') {
                q.to_owned()
            } else {
                format!("?{q}")
            }
        })
        .or_else(|| {
            parsed
                .as_ref()
                .and_then(|u| u.query().map(|q| format!("?{q}")))
        })
        .or_else(|| from_raw.as_ref().and_then(|(_, q, _)| q.clone()));
    let hash = non_empty(input.hash)
        .map(str::to_owned)
        .or_else(|| {
            parsed
                .as_ref()
                .and_then(|u| u.fragment().map(|f| format!("#{f}")))
        })
        .or_else(|| from_raw.as_ref().and_then(|(_, _, h)| h.clone()));
    let raw = raw_in.map(str::to_owned).or_else(|| {
        path.as_ref()
            .map(|p| format!("{p}{}", query.as_deref().unwrap_or("")))
    });
    let href = href_in
        .map(str::to_owned)
        .or_else(|| raw_in.filter(|r| r.contains("://")).map(str::to_owned));

    let mut query_all = Map::new();
    if let Some(q) = &query {
        for (k, v) in url::form_urlencoded::parse(q.trim_start_matches('?').as_bytes()) {
            if !k.is_empty() {
                query_all.insert(k.into_owned(), Value::String(v.into_owned()));
            }
        }
    }

    let mut utm_data = Map::new();
    let mut click_ids = Map::new();
    let mut query_params = Map::new();
    for (key, value) in &query_all {
        let lower = key.to_ascii_lowercase();
        if lower.starts_with("utm_") || CAMPAIGN_KEYS.contains(&lower.as_str()) {
            utm_data.insert(key.clone(), value.clone());
        } else if CLICK_IDS.iter().any(|(id, _)| *id == lower) {
            click_ids.insert(lower, value.clone());
        } else {
            query_params.insert(key.clone(), value.clone());
        }
    }
    if let Some(Value::String(fbclid)) = click_ids.get("fbclid").cloned() {
        let previous = previous_click_ids
            .filter(|p| p.get("fbclid").and_then(Value::as_str) == Some(fbclid.as_str()))
            .and_then(|p| p.get("fbc").cloned());
        let fbc = previous.unwrap_or_else(|| Value::String(format!("fb.1.{seen_ms}.{fbclid}")));
        click_ids.insert("fbc".into(), fbc);
    }

    let referer = non_empty(input.referer).map(str::to_owned);
    let utm = |name: &str| {
        utm_data
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_str())
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let click_network = CLICK_IDS
        .iter()
        .find(|(id, _)| click_ids.contains_key(*id))
        .map(|(_, network)| *network);
    let landing_domain = href
        .as_deref()
        .and_then(host_of)
        .and_then(|h| registrable_domain(&h));
    let referrer_url = referer.as_deref().and_then(|r| Url::parse(r).ok());
    let referrer_host = referrer_url.as_ref().and_then(Url::host_str);
    // A referrer on the landing page's own site is navigation within it, not a traffic source.
    let internal = referrer_host
        .is_some_and(|h| landing_domain.is_some() && registrable_domain(h) == landing_domain);
    let external_referrer = referrer_host.filter(|_| !internal);
    let known = external_referrer.and_then(lookup);
    let search_term = known
        .zip(referrer_url.as_ref())
        .and_then(|(k, url)| k.search_term(url));

    let source = utm("utm_source")
        .or_else(|| click_network.map(str::to_owned))
        .or_else(|| known.map(|k| k.source.to_owned()))
        .or_else(|| {
            external_referrer
                .map(|h| registrable_domain(h).unwrap_or_else(|| h.to_ascii_lowercase()))
        })
        .or_else(|| internal.then(|| INTERNAL.to_owned()))
        .unwrap_or_else(|| "direct".to_owned());
    let medium = utm("utm_medium")
        .or_else(|| click_network.map(|_| "cpc".to_owned()))
        .or_else(|| known.map(|k| k.medium.to_owned()))
        .or_else(|| external_referrer.map(|_| "referral".to_owned()))
        .or_else(|| utm("utm_source").map(|_| "referral".to_owned()))
        .or_else(|| internal.then(|| INTERNAL.to_owned()))
        .unwrap_or_else(|| "direct".to_owned());

    let mut url_data = Map::new();
    for (name, value) in [
        ("raw", raw),
        ("href", href),
        ("path", path),
        ("query", query),
        ("hash", hash),
    ] {
        if let Some(v) = value {
            url_data.insert(name.to_owned(), Value::String(v));
        }
    }
    url_data.insert("query_all".into(), Value::Object(query_all));
    if let Some(source_url) = non_empty(input.source_url) {
        url_data.insert("source_url".into(), Value::String(source_url.to_owned()));
    }

    Attribution {
        url_data: Value::Object(url_data),
        utm_data,
        query_params,
        click_ids,
        source,
        medium,
        search_term,
        referer,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_href(href: &str, referer: Option<&str>) -> Attribution {
        attribute(
            &UrlInput {
                href: Some(href),
                referer,
                ..UrlInput::default()
            },
            1_775_958_755_156,
            None,
        )
    }

    #[test]
    fn reference_example() {
        let q = "?utm_source=google&utm_campaign=spring-launch&campaign_id=cmp_123&gclid=gclid_123&fbclid=fbclid_123";
        let a = attribute(
            &UrlInput {
                href: Some(&format!("https://a-track.io/pricing{q}")),
                raw: Some(&format!("/pricing{q}")),
                path: Some("/pricing"),
                query: Some(q),
                referer: Some("https://google.com/"),
                source_url: Some("https://partner.example.com/blog/first-touch"),
                hash: None,
            },
            1_775_958_755_156,
            None,
        );
        assert_eq!(
            Value::Object(a.utm_data.clone()),
            json!({"utm_source": "google", "utm_campaign": "spring-launch", "campaign_id": "cmp_123"})
        );
        assert_eq!(
            Value::Object(a.click_ids.clone()),
            json!({"gclid": "gclid_123", "fbclid": "fbclid_123", "fbc": "fb.1.1775958755156.fbclid_123"})
        );
        assert_eq!(a.source, "google");
        assert_eq!(a.medium, "cpc");
        assert_eq!(a.url_data["path"], "/pricing");
        assert_eq!(
            a.url_data["source_url"],
            "https://partner.example.com/blog/first-touch"
        );
        assert_eq!(a.referer.as_deref(), Some("https://google.com/"));
        assert!(a.query_params.is_empty());
    }

    /// From the url_attribution fuzz target (fuzz/seeds/url_attribution/campaign-id-adid):
    /// campaign ids such as `adid`, in any case, are campaign data and only that.
    #[test]
    fn campaign_ids_are_filed_once_whatever_their_case() {
        let a = attribute(
            &UrlInput {
                query: Some("?adid=1&ADGROUPID=2&utm_Source=x&color=red"),
                ..UrlInput::default()
            },
            0,
            None,
        );
        assert_eq!(
            Value::Object(a.utm_data.clone()),
            json!({"adid": "1", "ADGROUPID": "2", "utm_Source": "x"})
        );
        assert_eq!(
            Value::Object(a.query_params.clone()),
            json!({"color": "red"})
        );
    }

    #[test]
    fn parts_are_filled_from_href_and_from_raw() {
        let a = from_href("https://x.io/a/b?k=v&utm_medium=email#top", None);
        assert_eq!(a.url_data["raw"], "/a/b?k=v&utm_medium=email");
        assert_eq!(a.url_data["query"], "?k=v&utm_medium=email");
        assert_eq!(a.url_data["hash"], "#top");
        assert_eq!(a.query_params["k"], "v");
        let b = attribute(
            &UrlInput {
                raw: Some("/p?x=1#h"),
                ..UrlInput::default()
            },
            0,
            None,
        );
        assert_eq!(b.url_data["path"], "/p");
        assert_eq!(b.url_data["query"], "?x=1");
        assert_eq!(b.url_data["hash"], "#h");
        assert_eq!(b.url_data["query_all"]["x"], "1");
    }

    #[test]
    fn every_click_id_sets_its_network_as_source() {
        for (id, network) in CLICK_IDS {
            let a = from_href(
                &format!("https://x.io/?{id}=abc"),
                Some("https://news.site.org/"),
            );
            assert_eq!(a.click_ids[*id], "abc", "{id}");
            assert_eq!(a.source, *network, "{id}");
            assert_eq!(a.medium, "cpc", "{id}");
        }
    }

    #[test]
    fn referrers_are_classified() {
        let cases = [
            ("https://www.google.com/", "google", "search"),
            ("https://www.google.co.uk/search?q=x", "google", "search"),
            ("https://www.bing.com/", "bing", "search"),
            ("https://duckduckgo.com/", "duckduckgo", "search"),
            ("https://search.yahoo.com/", "yahoo", "search"),
            ("https://yandex.ru/", "yandex", "search"),
            ("https://www.baidu.com/", "baidu", "search"),
            ("https://search.brave.com/", "brave", "search"),
            ("https://l.facebook.com/", "facebook", "social"),
            ("https://m.facebook.com/", "facebook", "social"),
            ("https://l.instagram.com/", "instagram", "social"),
            ("https://www.linkedin.com/", "linkedin", "social"),
            ("https://lnkd.in/abc", "linkedin", "social"),
            ("https://t.co/xyz", "x", "social"),
            ("https://twitter.com/", "x", "social"),
            ("https://x.com/", "x", "social"),
            ("https://www.reddit.com/r/rust", "reddit", "social"),
            ("https://www.youtube.com/", "youtube", "social"),
            ("https://youtu.be/abc", "youtube", "social"),
            ("https://www.tiktok.com/", "tiktok", "social"),
            ("https://www.pinterest.fr/", "pinterest", "social"),
            ("https://mail.google.com/", "gmail", "email"),
            ("https://outlook.live.com/", "outlook", "email"),
            ("https://outlook.office.com/", "outlook", "email"),
            ("https://mail.yahoo.com/", "yahoo_mail", "email"),
            ("https://search.yahoo.co.jp/search?p=x", "yahoo", "search"),
            ("https://mail.yahoo.co.jp/", "yahoo_mail", "email"),
            ("https://chatgpt.com/", "chatgpt", "chatbot"),
            (
                "https://www.perplexity.ai/search/abc",
                "perplexity",
                "chatbot",
            ),
            (
                "https://news.ycombinator.com/item?id=1",
                "hacker_news",
                "social",
            ),
            ("android-app://com.google.android.gm/", "gmail", "email"),
            (
                "https://blog.partner.example.co.uk/post",
                "example.co.uk",
                "referral",
            ),
        ];
        for (referer, source, medium) in cases {
            let a = from_href("https://a-track.io/", Some(referer));
            assert_eq!(
                (a.source.as_str(), a.medium.as_str()),
                (source, medium),
                "{referer}"
            );
        }
    }

    #[test]
    fn a_search_engines_query_is_kept_as_the_search_term() {
        let a = from_href(
            "https://a-track.io/",
            Some("https://www.bing.com/search?q=session+tracking&form=QBLH"),
        );
        assert_eq!((a.source.as_str(), a.medium.as_str()), ("bing", "search"));
        assert_eq!(a.search_term.as_deref(), Some("session tracking"));
        assert_eq!(a.to_json()["search_term"], "session tracking");
        // Kept beside a paid click's attribution too: the click says how, the term says what.
        let paid = from_href(
            "https://a-track.io/?msclkid=m",
            Some("https://www.bing.com/search?q=atrack"),
        );
        assert_eq!(
            (paid.source.as_str(), paid.medium.as_str()),
            ("bing", "cpc")
        );
        assert_eq!(paid.search_term.as_deref(), Some("atrack"));
        for (referer, why) in [
            ("https://www.google.com/", "no query"),
            ("https://www.facebook.com/?q=x", "not a search engine"),
            ("https://a-track.io/search?q=x", "the site's own search"),
        ] {
            let a = from_href("https://a-track.io/", Some(referer));
            assert_eq!(a.search_term, None, "{why}: {referer}");
            assert_eq!(a.to_json()["search_term"], Value::Null);
        }
    }

    #[test]
    fn utm_source_wins_and_direct_is_the_fallback() {
        let a = from_href(
            "https://x.io/?utm_source=newsletter&utm_medium=email&gclid=g",
            None,
        );
        assert_eq!(
            (a.source.as_str(), a.medium.as_str()),
            ("newsletter", "email")
        );
        let d = from_href("https://x.io/", None);
        assert_eq!((d.source.as_str(), d.medium.as_str()), ("direct", "direct"));
        let internal = from_href("https://www.x.io/a", Some("https://x.io/b"));
        assert_eq!(
            (internal.source.as_str(), internal.medium.as_str()),
            ("internal", "internal")
        );
        // Campaign tags on an internal link still name the campaign.
        let tagged = from_href("https://x.io/?utm_source=banner", Some("https://x.io/b"));
        assert_eq!(
            (tagged.source.as_str(), tagged.medium.as_str()),
            ("banner", "referral")
        );
    }

    #[test]
    fn fbc_stays_stable_for_the_same_fbclid() {
        let first = from_href("https://x.io/?fbclid=F", None);
        let again = attribute(
            &UrlInput {
                href: Some("https://x.io/?fbclid=F"),
                ..UrlInput::default()
            },
            9,
            Some(&first.click_ids),
        );
        assert_eq!(again.click_ids["fbc"], first.click_ids["fbc"]);
        let other = attribute(
            &UrlInput {
                href: Some("https://x.io/?fbclid=G"),
                ..UrlInput::default()
            },
            9,
            Some(&first.click_ids),
        );
        assert_eq!(other.click_ids["fbc"], "fb.1.9.G");
    }

    #[test]
    fn garbage_never_fails() {
        for junk in [
            "",
            "::::",
            "http://",
            "%%%?&&==#",
            "javascript:alert(1)",
            &"?a=b&".repeat(5000),
        ] {
            let _ = from_href(junk, Some(junk));
        }
    }
}
