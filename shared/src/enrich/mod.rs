//! Enrichment: turns a session's stored raw context into the enriched fields the reference's
//! session payload shows. Pure apart from the GeoIP lookups, which are memory-mapped reads.

pub mod device;
pub mod geo;
pub mod url;

use serde_json::{Map, Value};

use crate::store::item::{Attr, Item, get_i64};
use crate::store::repo::session_attr;
use geo::Geo;
use url::{UrlInput, attribute};

/// What enrichment writes: the fields it owns, and the first-touch attribution (kept only if
/// the session has none yet).
#[derive(Debug, Clone, PartialEq)]
pub struct Enrichment {
    pub init_seq: i64,
    pub fields: Vec<(String, Attr)>,
    pub first_touch: Option<Attr>,
}

/// The enrichment engine, built once per process.
pub struct Enricher {
    ua: woothee::parser::Parser,
    geo: Geo,
}

fn str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut v = value;
    for p in path {
        v = v.get(p)?;
    }
    v.as_str()
}

fn url_input(context: &Value) -> UrlInput<'_> {
    UrlInput {
        href: str_at(context, &["url", "href"]),
        raw: str_at(context, &["url", "raw"]),
        path: str_at(context, &["url", "path"]),
        query: str_at(context, &["url", "query"]),
        hash: str_at(context, &["url", "hash"]),
        referer: str_at(context, &["url", "referer"]),
        source_url: str_at(context, &["url", "source_url"]),
    }
}

impl Enricher {
    pub fn new(geo: Geo) -> Self {
        Enricher {
            ua: woothee::parser::Parser::new(),
            geo,
        }
    }

    pub fn geo(&self) -> &Geo {
        &self.geo
    }

    /// Enriches a session item from its stored `context`. `None` when the item has no init.
    pub fn enrich_session(&self, session: &Item) -> Option<Enrichment> {
        let init_seq = get_i64(session, session_attr::INIT_SEQ)?;
        let context = session
            .get(session_attr::CONTEXT)
            .map(Attr::to_json)
            .unwrap_or(Value::Null);
        let seen_ms = init_seq.div_euclid(1000);
        let previous_click_ids = session.get("click_ids").map(Attr::to_json);
        let previous = previous_click_ids.as_ref().and_then(Value::as_object);
        let attribution = attribute(&url_input(&context), seen_ms, previous);

        let ip = str_at(&context, &["client", "ipAddress"]);
        let user_agent = str_at(&context, &["client", "userAgent"]);
        let ip_data = self.geo.ip_data(ip);
        let device = user_agent.map(|ua| device::parse(&self.ua, ua).to_json());
        let client_attributes = context
            .get("client")
            .and_then(Value::as_object)
            .map(|c| {
                c.iter()
                    .filter(|(k, _)| !matches!(k.as_str(), "ipAddress" | "userAgent"))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect::<Map<String, Value>>()
            })
            .unwrap_or_default();

        let opt = |v: Option<String>| v.map_or(Attr::Null, Attr::S);
        let mut fields = vec![
            (
                "url_data".to_owned(),
                Attr::from_json(&attribution.url_data),
            ),
            (
                "utm_data".to_owned(),
                Attr::from_json(&Value::Object(attribution.utm_data.clone())),
            ),
            (
                "query_params".to_owned(),
                Attr::from_json(&Value::Object(attribution.query_params.clone())),
            ),
            (
                "click_ids".to_owned(),
                Attr::from_json(&Value::Object(attribution.click_ids.clone())),
            ),
            ("source".to_owned(), Attr::S(attribution.source.clone())),
            ("medium".to_owned(), Attr::S(attribution.medium.clone())),
            ("referer".to_owned(), opt(attribution.referer.clone())),
            ("ip_address".to_owned(), opt(ip_data.stored_ip.clone())),
            ("ip_data".to_owned(), Attr::from_json(&ip_data.data)),
            (
                "client_attributes".to_owned(),
                Attr::from_json(&Value::Object(client_attributes)),
            ),
        ];
        if let Some(device) = device {
            fields.push(("device_data".to_owned(), Attr::from_json(&device)));
        }

        let first_touch = if session.contains_key("first_touch") {
            None
        } else {
            let first = session
                .get(session_attr::FIRST_CONTEXT)
                .map(Attr::to_json)
                .unwrap_or_else(|| context.clone());
            let first_attr = attribute(&url_input(&first), seen_ms, previous);
            Some(Attr::from_json(&first_attr.to_json()))
        };
        Some(Enrichment {
            init_seq,
            fields,
            first_touch,
        })
    }
}
