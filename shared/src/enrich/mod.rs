//! Enrichment: turns a session's stored raw context into the enriched fields the reference's
//! session payload shows. Pure apart from the GeoIP lookups, which are memory-mapped reads.

pub mod device;
pub mod geo;
pub mod referrer;
pub mod url;

use std::collections::BTreeMap;

use serde_json::Value;

use crate::store::item::{Attr, Item, get_i64};
use crate::store::repo::session_attr;
use geo::Geo;
use url::{Attribution, UrlInput, attribute};

/// What enrichment writes: the fields it owns, and the first-touch attribution (kept only if
/// the session has none yet).
#[derive(Debug, Clone, PartialEq)]
pub struct Enrichment {
    pub init_seq: i64,
    pub fields: Vec<(String, Attr)>,
    pub first_touch: Option<Attr>,
}

/// Where an init of an anonymizing project keeps the GeoIP result of the full address, inside
/// the stored context (see `api::init`).
pub const GEO_KEY: &str = "geo";

/// The enrichment engine, built once per process.
pub struct Enricher {
    ua: woothee::parser::Parser,
    geo: Geo,
}

/// A string inside a stored map, by path (`["client", "ipAddress"]`). Reading the stored
/// attribute directly, rather than converting it to JSON first, keeps enrichment free of
/// copies it does not need.
fn str_at<'a>(value: Option<&'a Attr>, path: &[&str]) -> Option<&'a str> {
    let mut v = value?;
    for p in path {
        v = v.as_m()?.get(*p)?;
    }
    v.as_s()
}

fn url_input(context: Option<&Attr>) -> UrlInput<'_> {
    let at = |name: &str| str_at(context, &["url", name]);
    UrlInput {
        href: at("href"),
        raw: at("raw"),
        path: at("path"),
        query: at("query"),
        hash: at("hash"),
        referer: at("referer"),
        source_url: at("source_url"),
    }
}

/// The attribution as the stored fields `first_touch` and the session's top level share.
fn attribution_fields(a: Attribution) -> Vec<(String, Attr)> {
    vec![
        ("url_data".to_owned(), Attr::from_json(&a.url_data)),
        ("utm_data".to_owned(), Attr::from_json_map(&a.utm_data)),
        (
            "query_params".to_owned(),
            Attr::from_json_map(&a.query_params),
        ),
        ("click_ids".to_owned(), Attr::from_json_map(&a.click_ids)),
        ("source".to_owned(), Attr::S(a.source)),
        ("medium".to_owned(), Attr::S(a.medium)),
        (
            "search_term".to_owned(),
            a.search_term.map_or(Attr::Null, Attr::S),
        ),
        ("referer".to_owned(), a.referer.map_or(Attr::Null, Attr::S)),
    ]
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
        let context = session.get(session_attr::CONTEXT);
        let seen_ms = init_seq.div_euclid(1000);
        let previous_click_ids = session.get("click_ids").map(Attr::to_json);
        let previous = previous_click_ids.as_ref().and_then(Value::as_object);
        let mut fields = attribution_fields(attribute(&url_input(context), seen_ms, previous));

        let first_touch = if session.contains_key("first_touch") {
            None
        } else {
            // On a session's first init the first context is the context: reuse its result.
            let first = session.get(session_attr::FIRST_CONTEXT);
            let first_fields = match first {
                Some(first) if Some(first) != context => {
                    attribution_fields(attribute(&url_input(Some(first)), seen_ms, previous))
                }
                _ => fields.clone(),
            };
            Some(Attr::M(first_fields.into_iter().collect()))
        };

        let ip = str_at(context, &["client", "ipAddress"]);
        // An anonymizing project's init looked the full address up and stored only the result.
        let ip_data = match context.and_then(Attr::as_m).and_then(|c| c.get(GEO_KEY)) {
            Some(looked_up @ Attr::M(_)) => geo::IpData {
                stored_ip: ip.map(str::to_owned),
                data: looked_up.to_json(),
            },
            _ => self.geo.ip_data(ip),
        };
        let client = context
            .and_then(Attr::as_m)
            .and_then(|c| c.get("client"))
            .and_then(Attr::as_m);
        let client_attributes: BTreeMap<String, Attr> = client
            .map(|c| {
                c.iter()
                    .filter(|(k, _)| !matches!(k.as_str(), "ipAddress" | "userAgent"))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default();
        fields.extend([
            (
                "ip_address".to_owned(),
                ip_data.stored_ip.map_or(Attr::Null, Attr::S),
            ),
            ("ip_data".to_owned(), Attr::from_json(&ip_data.data)),
            ("client_attributes".to_owned(), Attr::M(client_attributes)),
        ]);
        if let Some(user_agent) = str_at(context, &["client", "userAgent"]) {
            let device = device::parse(&self.ua, user_agent).to_json();
            fields.push(("device_data".to_owned(), Attr::from_json(&device)));
        }
        Some(Enrichment {
            init_seq,
            fields,
            first_touch,
        })
    }
}
