//! Enrichment of the reference's init context, whole and per stage:
//!
//!   infra/fetch-geoip.sh && cargo bench -p atrack-shared --bench enrich
//!
//! Needs the GeoIP databases in data/geoip/ (or GEOIP_CITY_DB / GEOIP_ASN_DB): a benchmark of
//! enrichment without the lookups would measure the wrong thing, so it refuses to run.

use std::hint::black_box;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use atrack_shared::domain::time::Timestamp;
use atrack_shared::enrich::Enricher;
use atrack_shared::enrich::device;
use atrack_shared::enrich::geo::Geo;
use atrack_shared::enrich::url::{UrlInput, attribute};
use atrack_shared::store::item::{Attr, Item};
use atrack_shared::store::repo::session_attr;
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;

const HREF: &str = "https://a-track.io/pricing?utm_source=google&utm_campaign=spring-launch&campaign_id=cmp_123&custom_param=test&gclid=gclid_123&fbclid=fbclid_123";
const UA: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1";
const IP: &str = "50.89.98.90";

fn geo() -> Geo {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../data/geoip");
    let city = std::env::var("GEOIP_CITY_DB").unwrap_or_else(|_| {
        ["city.mmdb", "city-ipv4.mmdb", "city-ipv6.mmdb"]
            .iter()
            .map(|f| dir.join(f))
            .filter(|p| p.is_file())
            .map(|p| p.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(",")
    });
    let asn = std::env::var("GEOIP_ASN_DB")
        .map(PathBuf::from)
        .unwrap_or_else(|_| dir.join("asn.mmdb"));
    let geo = Geo::open(Some(Path::new(&city)), Some(&asn));
    assert!(
        geo.has_city() && geo.has_asn(),
        "GeoIP data missing: run infra/fetch-geoip.sh first"
    );
    geo
}

fn session_item() -> Item {
    let context = json!({
        "url": {"href": HREF, "source_url": "https://partner.example.com/blog/first-touch",
                "referer": "https://google.com/"},
        "client": {"ipAddress": IP, "userAgent": UA, "locale": "en-US",
                   "timezone": "America/New_York", "screenWidth": 1179, "screenHeight": 2556}
    });
    let seq = Timestamp::parse_rfc3339("2026-04-12T01:52:35.156Z").expect("time");
    Item::from([
        (session_attr::CONTEXT.to_owned(), Attr::from_json(&context)),
        (
            session_attr::FIRST_CONTEXT.to_owned(),
            Attr::from_json(&context),
        ),
        (session_attr::INIT_SEQ.to_owned(), Attr::n(seq.micros())),
    ])
}

fn bench(c: &mut Criterion) {
    let enricher = Enricher::new(geo());
    let item = session_item();
    let ip: IpAddr = IP.parse().expect("ip");
    let ua = woothee::parser::Parser::new();
    let input = UrlInput {
        href: Some(HREF),
        raw: None,
        path: None,
        query: None,
        hash: None,
        referer: Some("https://google.com/"),
        source_url: Some("https://partner.example.com/blog/first-touch"),
    };

    c.bench_function("enrich/full_init", |b| {
        b.iter(|| enricher.enrich_session(black_box(&item)))
    });
    c.bench_function("enrich/url_attribution", |b| {
        b.iter(|| attribute(black_box(&input), 1_775_958_755_156, None))
    });
    c.bench_function("enrich/user_agent", |b| {
        b.iter(|| device::parse(&ua, black_box(UA)))
    });
    c.bench_function("enrich/city", |b| {
        b.iter(|| enricher.geo().city(black_box(ip)))
    });
    c.bench_function("enrich/asn", |b| {
        b.iter(|| enricher.geo().isp(black_box(ip)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
