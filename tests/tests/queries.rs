//! Event queries over real HTTP on both engines: `POST /event/query` (OData, A-TRACK rows), the
//! profile store's `GET /api/v2.0/TrackEvents` (`$filter`, `$orderby`, `$top`, `$skip`) and
//! `POST /api/v2.0/TrackEvents/preview` (KQL), and `POST /api/v2.0/TrackEvents` (one event).
//!
//! The core is a reference evaluation: a few hundred events with known fields are written
//! through the public routes, the test keeps what it wrote, and a table of filters is run
//! through every door and compared, row for row and in order, with the same predicate written
//! as plain Rust over that list (never with the product's evaluator). The planner's choice
//! and cost are visible in `/event/query`'s `meta` (`index`, `read`) and checked too, as are
//! the result window, the preview's cap, parse errors with their positions, the read budget,
//! the keys each route takes and the track ids every read shows.

use std::collections::HashMap;
use std::sync::Arc;

use atrack_shared::domain::time::{ManualClock, Timestamp};
use atrack_tests::{
    Answer, Engine, PUBLIC_KEY, SECRET_KEY, ServerOptions, TestServer, assert_error, geoip,
    on_both_engines,
};
use serde_json::{Map, Value, json};
use uuid::Uuid;

on_both_engines!(
    filters_return_what_a_plain_evaluation_of_the_written_events_returns,
    kql_previews_return_what_a_plain_evaluation_returns,
    the_planner_shows_its_index_and_bounded_queries_read_less,
    the_result_window_and_the_preview_cap_hold,
    malformed_queries_are_400s_that_say_where,
    the_read_budget_stops_a_query_that_reads_too_much,
    track_events_post_answers_the_stored_event,
    track_events_keys_and_scopes,
    track_ids_agree_across_every_read,
);

/// The server's clock: events are stamped by their senders over the ten days before it.
const NOW: &str = "2026-04-20T12:00:00Z";
/// The first event time of the reference set.
const FIRST: &str = "2026-04-10T00:00:00Z";
/// The non-UUID device, sent through the profile store's route.
const LEGACY_DEVICE: &str = "legacy-device-42";
/// Addresses and the country the free GeoIP databases place them in (checked by
/// [`addresses_are_where_the_suite_says`] before they are relied on).
const ADDRESSES: [(&str, Option<&str>); 5] = [
    ("50.89.98.90", Some("US")),
    ("81.2.69.160", Some("GB")),
    ("2001:4860:4860::8888", Some("US")),
    ("80.67.169.12", Some("FR")),
    ("10.1.2.3", None),
];

// ---------------------------------------------------------------------------------------------
// The reference set
// ---------------------------------------------------------------------------------------------

/// An event as the test wrote it, with what its session adds as the profile store's fields
/// read them (`PageUri` falls back on the session's page, `User` is the session's attributes).
#[derive(Debug, Clone)]
struct Ev {
    /// The `seq` attribute every event carries: its identity in the answers.
    seq: u64,
    device: String,
    name: String,
    micros: i64,
    attrs: Map<String, Value>,
    label: Option<String>,
    page: Option<String>,
    country: Option<String>,
    email: Option<String>,
    user_name: Option<String>,
}

impl Ev {
    fn text(&self, key: &str) -> Option<&str> {
        self.attrs.get(key).and_then(Value::as_str)
    }

    fn num(&self, key: &str) -> Option<f64> {
        self.attrs.get(key).and_then(Value::as_f64)
    }

    fn flag(&self, key: &str) -> Option<bool> {
        self.attrs.get(key).and_then(Value::as_bool)
    }
}

/// A predicate over the reference set.
type Keep<'a> = Box<dyn Fn(&Ev) -> bool + 'a>;

/// What was written, and the devices it was written for.
struct Reference {
    events: Vec<Ev>,
    /// Eight UUID devices.
    devices: Vec<String>,
}

impl Reference {
    /// The seqs of the events `keep` accepts, newest first or oldest first.
    fn expect(&self, keep: &dyn Fn(&Ev) -> bool, descending: bool) -> Vec<u64> {
        let mut found: Vec<&Ev> = self.events.iter().filter(|e| keep(e)).collect();
        found.sort_by_key(|e| e.micros);
        if descending {
            found.reverse();
        }
        found.iter().map(|e| e.seq).collect()
    }

    fn count(&self, keep: &dyn Fn(&Ev) -> bool) -> usize {
        self.events.iter().filter(|e| keep(e)).count()
    }

    fn by_seq(&self, seq: u64) -> &Ev {
        self.events
            .iter()
            .find(|e| e.seq == seq)
            .expect("a seq the test wrote")
    }
}

fn t(text: &str) -> i64 {
    Timestamp::parse_rfc3339(text)
        .unwrap_or_else(|| panic!("{text} is not RFC 3339"))
        .micros()
}

fn rfc3339(micros: i64) -> String {
    Timestamp::from_micros(micros).to_string()
}

/// A server on `engine` whose clock reads [`NOW`], with real GeoIP data.
async fn server(engine: Engine) -> TestServer {
    let clock = ManualClock::new(Timestamp::parse_rfc3339(NOW).expect("NOW"));
    let mut options = ServerOptions::new(engine);
    options.clock = Arc::new(clock);
    options.geo = true;
    TestServer::start(options).await
}

/// The country the databases give an address, checked against [`ADDRESSES`].
fn addresses_are_where_the_suite_says() {
    let geo = geoip();
    for (ip, country) in ADDRESSES {
        assert_eq!(
            geo.place(ip).country_code.as_deref(),
            country,
            "the GeoIP test data places {ip} elsewhere than the suite assumes"
        );
    }
}

/// Writes the reference set: 240 events over eight UUIDs (`/batch`, some with addresses) and
/// a non-UUID device plus a few UUID devices' page views through `POST TrackEvents`; two
/// sessions get a page through `/init`, four get `email`/`name` attributes.
async fn write_reference(server: &TestServer) -> Reference {
    addresses_are_where_the_suite_says();
    let devices: Vec<String> = (0..8).map(|_| Uuid::new_v4().to_string()).collect();

    // Two sessions land on a page before their events: their events' PageUri is that page.
    let pages = [
        (0usize, "https://example.com/en/", "Home"),
        (1usize, "https://shop.example.com/cart?step=1", "Cart"),
    ];
    let mut session_page: HashMap<String, String> = HashMap::new();
    for (device, href, title) in pages {
        let answer = server
            .public(
                "/init",
                &json!({"uuid": devices[device], "context": {"url": {"href": href, "title": title}}}),
            )
            .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        session_page.insert(devices[device].clone(), href.to_owned());
    }

    const NAMES: [&str; 5] = ["pageview", "click", "signup", "purchase", "home"];
    const PLANS: [Option<&str>; 4] = [Some("free"), Some("pro"), None, Some("enterprise")];
    const LABELS: [Option<&str>; 5] = [
        Some("Visited the start page."),
        Some("Clicked Buy now"),
        None,
        Some("buy later"),
        Some("Saw the pricing page."),
    ];
    let batch_count = 216usize;
    let track_count = 24usize;
    let total = batch_count + track_count;
    let first = t(FIRST);
    // Times are distinct and not in seq order: seq k is at slot (k · 97) mod total, slots
    // 57 minutes and 7 seconds apart (nine and a half days over the 240 events).
    let time_of = |seq: usize| first + ((seq * 97) % total) as i64 * (57 * 60 + 7) * 1_000_000;

    let mut events = Vec::new();
    let mut items = Vec::new();
    for k in 0..batch_count {
        let seq = k as u64;
        // Device 7 is rare (a selective DeviceId), device 0 common.
        let device = match k % 11 {
            0..=2 => 0,
            3 | 4 => 1,
            5 => 2,
            6 => 3,
            7 => 4,
            8 => 5,
            9 => 6,
            _ if k % 3 == 0 => 7,
            _ => 0,
        };
        let name = NAMES[(k * 7 / 3) % NAMES.len()];
        let mut attrs = Map::new();
        attrs.insert("seq".into(), json!(seq));
        if let Some(plan) = PLANS[k % PLANS.len()] {
            attrs.insert("plan".into(), json!(plan));
        }
        if k % 29 == 0 {
            // A plan that is not a string: a different type, never equal to one.
            attrs.insert("plan".into(), json!(3));
        }
        if k % 5 != 4 {
            // Whole and fractional numbers, negative ones, one past 100.
            let n = ((k * 37) % 131) as f64 - 20.0 + if k % 2 == 0 { 0.0 } else { 0.25 };
            attrs.insert("n".into(), json!(n));
        }
        match k % 6 {
            0 | 3 => {
                attrs.insert("vip".into(), json!(true));
            }
            1 => {
                attrs.insert("vip".into(), json!(false));
            }
            _ => {}
        }
        if k % 4 == 1 {
            attrs.insert("meta".into(), json!({"source": "ad", "rank": 2}));
        }
        let label = LABELS[k % LABELS.len()].map(str::to_owned);
        let ip = (k % 4 == 2).then(|| ADDRESSES[(k / 4) % ADDRESSES.len()]);
        let micros = time_of(k);
        let mut item = json!({
            "uuid": devices[device],
            "event": name,
            "attributes": attrs,
            "timestamp": rfc3339(micros),
        });
        if let Some(label) = &label {
            item["label"] = json!(label);
        }
        if let Some((address, _)) = ip {
            item["context"] = json!({"client": {"ipAddress": address}});
        }
        items.push(item);
        events.push(Ev {
            seq,
            device: devices[device].clone(),
            name: name.to_owned(),
            micros,
            attrs,
            label,
            page: session_page.get(&devices[device]).cloned(),
            country: ip.and_then(|(_, c)| c).map(str::to_owned),
            email: None,
            user_name: None,
        });
    }
    for chunk in items.chunks(100) {
        let answer = server.public("/batch", &json!({"events": chunk})).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(
            answer.body["events_failed"], 0,
            "every reference event is valid: {}",
            answer.body
        );
    }

    // The profile store's door: the non-UUID device, and page views with their own page on
    // devices 2 and 3; countries declared, from the address, or neither.
    for j in 0..track_count {
        let k = batch_count + j;
        let seq = k as u64;
        let (device, name) = match j % 3 {
            0 => (LEGACY_DEVICE.to_owned(), "home"),
            1 => (devices[2].clone(), "pageview"),
            _ => (devices[3].clone(), "pageview"),
        };
        let page = match j % 4 {
            0 => Some(format!("https://shop.example.com/p/{j}")),
            1 => Some(format!("https://example.com/blog/{j}")),
            2 => Some("https://example.com/en/".to_owned()),
            _ => None,
        };
        let micros = time_of(k);
        let mut attrs = Map::new();
        attrs.insert("seq".into(), json!(seq));
        attrs.insert(
            "plan".into(),
            json!(if j % 2 == 0 { "pro" } else { "free" }),
        );
        attrs.insert("n".into(), json!(j as f64 * 10.0));
        let mut body = json!({
            "DeviceId": device,
            "EventType": name,
            "Payload": attrs,
            "EventTime": rfc3339(micros),
        });
        let label = (j % 2 == 0).then(|| format!("Track event {j} of the start page."));
        if let Some(label) = &label {
            body["Value"] = json!(label);
        }
        if let Some(page) = &page {
            body["PageUri"] = json!(page);
        }
        let country = match j % 4 {
            0 => {
                body["RemoteAddress"] = json!("81.2.69.160");
                Some("GB".to_owned())
            }
            1 => {
                body["CountryCode"] = json!("se");
                Some("SE".to_owned())
            }
            2 => {
                // A declared country wins over the address's.
                body["CountryCode"] = json!("FR");
                body["RemoteAddress"] = json!("50.89.98.90");
                Some("FR".to_owned())
            }
            _ => None,
        };
        let answer = epi_post(server, PUBLIC_KEY, &body).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(answer.body["DeviceId"], json!(device), "{}", answer.body);
        assert_eq!(
            answer.body["CountryCode"],
            json!(country.clone().unwrap_or_default()),
            "{}",
            answer.body
        );
        events.push(Ev {
            seq,
            page: page.or_else(|| session_page.get(&device).cloned()),
            device,
            name: name.to_owned(),
            micros,
            attrs,
            label,
            country,
            email: None,
            user_name: None,
        });
    }

    // Users: an email and a name, an email only, a name only, an empty email.
    let users = [
        (0usize, json!({"email": "ada@example.com", "name": "Ada"})),
        (2, json!({"email": "bob@example.org"})),
        (4, json!({"name": "Cy"})),
        (5, json!({"email": ""})),
    ];
    for (device, attributes) in users {
        let answer = server
            .public(
                "/attributes",
                &json!({"uuid": devices[device], "attributes": attributes}),
            )
            .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        for event in events.iter_mut().filter(|e| e.device == devices[device]) {
            event.email = attributes["email"].as_str().map(str::to_owned);
            event.user_name = attributes["name"].as_str().map(str::to_owned);
        }
    }
    server.settle().await;
    assert_eq!(events.len(), total);
    Reference { events, devices }
}

// ---------------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------------

/// `POST /api/v2.0/TrackEvents` with `Authorization: epi-single <key>`.
async fn epi_post(server: &TestServer, key: &str, body: &Value) -> Answer {
    epi(server, "/api/v2.0/TrackEvents", Some(key), None, Some(body)).await
}

/// A request to the profile store's routes: a GET with `query` when `body` is `None`, else a
/// POST of the body; `key` goes in `Authorization: epi-single`.
async fn epi(
    server: &TestServer,
    path: &str,
    key: Option<&str>,
    query: Option<&[(&str, String)]>,
    body: Option<&Value>,
) -> Answer {
    let mut url = reqwest::Url::parse(&server.url(path)).expect("a URL");
    if let Some(query) = query {
        url.query_pairs_mut().extend_pairs(query);
    }
    let mut request = match body {
        None => server.http.get(url),
        Some(body) => server
            .http
            .post(url)
            .header("content-type", "application/json")
            .body(serde_json::to_vec(body).expect("json")),
    };
    if let Some(key) = key {
        request = request.header("authorization", format!("epi-single {key}"));
    }
    atrack_tests::answer(request.send().await.expect("request")).await
}

/// `GET TrackEvents` with the secret key and these parameters.
async fn list(server: &TestServer, params: &[(&str, String)]) -> Answer {
    epi(
        server,
        "/api/v2.0/TrackEvents",
        Some(SECRET_KEY),
        Some(params),
        None,
    )
    .await
}

/// `POST TrackEvents/preview` with the secret key.
async fn preview(server: &TestServer, query: &str) -> Answer {
    epi(
        server,
        "/api/v2.0/TrackEvents/preview",
        Some(SECRET_KEY),
        None,
        Some(&json!({"Query": query, "Scope": "default"})),
    )
    .await
}

/// `POST /event/query` with the secret key, asserting 200; the body.
async fn query(server: &TestServer, body: Value) -> Value {
    let answer = server.secret("/event/query", &body).await;
    assert_eq!(answer.status, 200, "{body}: {}", answer.body);
    assert_eq!(answer.body["success"], true, "{}", answer.body);
    answer.body
}

fn seq_of(payload: &Value) -> u64 {
    let seq = &payload["seq"];
    seq.as_u64()
        .or_else(|| seq.as_f64().map(|f| f as u64))
        .unwrap_or_else(|| panic!("no seq in {payload}"))
}

/// The seqs of `/event/query`'s rows, in order.
fn row_seqs(body: &Value) -> Vec<u64> {
    body["data"]
        .as_array()
        .unwrap_or_else(|| panic!("no data: {body}"))
        .iter()
        .map(|row| seq_of(&row["attributes"]))
        .collect()
}

/// The seqs of a `TrackEvents` listing's items, in order, after checking `count`.
fn item_seqs(answer: &Answer) -> Vec<u64> {
    assert_eq!(answer.status, 200, "{}", answer.body);
    let items = answer.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items: {}", answer.body));
    assert_eq!(answer.body["count"], items.len(), "{}", answer.body);
    items.iter().map(|item| seq_of(&item["Payload"])).collect()
}

// ---------------------------------------------------------------------------------------------
// 1. Reference evaluation
// ---------------------------------------------------------------------------------------------

/// One filter of the table: its OData text, the same predicate in Rust, and the index the
/// planner must choose for it.
struct Case {
    odata: String,
    keep: Keep<'static>,
    index: &'static str,
}

fn case(
    odata: impl Into<String>,
    index: &'static str,
    keep: impl Fn(&Ev) -> bool + 'static,
) -> Case {
    Case {
        odata: odata.into(),
        keep: Box::new(keep),
        index,
    }
}

/// The filter table (~35 filters), over `reference`'s devices and one exact event time.
fn cases(reference: &Reference) -> Vec<Case> {
    let d = &reference.devices;
    let (d0, d1, d3, d7) = (d[0].clone(), d[1].clone(), d[3].clone(), d[7].clone());
    // An exact event time, to check that gt excludes it and le includes it.
    let pivot = reference.by_seq(100).micros;
    let pivot_text = rfc3339(pivot);
    let day12 = t("2026-04-12T00:00:00Z");
    let (day13, day14_6) = (t("2026-04-13T00:00:00Z"), t("2026-04-14T06:00:00Z"));
    let (day15, day16_12) = (t("2026-04-15T00:00:00Z"), t("2026-04-16T12:00:00Z"));
    vec![
        // Each index (the unfiltered query is the rows' check, below).
        case(format!("DeviceId eq '{d0}'"), "device", {
            let d0 = d0.clone();
            move |e| e.device == d0
        }),
        case(format!("DeviceId eq '{LEGACY_DEVICE}'"), "device", |e| {
            e.device == LEGACY_DEVICE
        }),
        case("EventType eq 'pageview'", "name", |e| e.name == "pageview"),
        case("EventType eq 'purchase' and Payload/n gt 50", "name", |e| {
            e.name == "purchase" && e.num("n").is_some_and(|n| n > 50.0)
        }),
        case(
            format!("EventType eq 'click' and DeviceId eq '{d1}'"),
            "device",
            {
                let d1 = d1.clone();
                move |e| e.name == "click" && e.device == d1
            },
        ),
        case(format!("DeviceId ne '{d0}' and Payload/n gt 0"), "time", {
            let d0 = d0.clone();
            move |e| e.device != d0 && e.num("n").is_some_and(|n| n > 0.0)
        }),
        case(
            format!("DeviceId eq '{d7}' or DeviceId eq '{d3}'"),
            "time",
            move |e| e.device == d7 || e.device == d3,
        ),
        // Time bounds.
        case("EventTime ge 2026-04-12T00:00:00Z", "time", move |e| {
            e.micros >= day12
        }),
        case(format!("EventTime gt {pivot_text}"), "time", move |e| {
            e.micros > pivot
        }),
        case(format!("EventTime le {pivot_text}"), "time", move |e| {
            e.micros <= pivot
        }),
        case(
            "EventTime ge 2026-04-13T00:00:00Z and EventTime lt 2026-04-14T06:00:00Z",
            "time",
            move |e| e.micros >= day13 && e.micros < day14_6,
        ),
        case(
            "EventType eq 'click' and EventTime ge 2026-04-15 and EventTime le datetime'2026-04-16T12:00:00Z'",
            "name",
            move |e| e.name == "click" && e.micros >= day15 && e.micros <= day16_12,
        ),
        case(
            format!("DeviceId eq '{d0}' and EventTime lt 2026-04-13T00:00:00Z"),
            "device",
            move |e| e.device == d0 && e.micros < day13,
        ),
        // and / or / not, in.
        case(
            "EventType eq 'click' or EventType eq 'signup'",
            "time",
            |e| e.name == "click" || e.name == "signup",
        ),
        case("EventType in ('click', 'signup', 'nothing')", "time", |e| {
            e.name == "click" || e.name == "signup"
        }),
        case("not (EventType eq 'pageview')", "time", |e| {
            e.name != "pageview"
        }),
        case(
            "(EventType eq 'home' or Payload/vip eq true) and not (Payload/plan eq 'free')",
            "time",
            |e| (e.name == "home" || e.flag("vip") == Some(true)) && e.text("plan") != Some("free"),
        ),
        // Text functions (case-sensitive in OData).
        case("startswith(PageUri, 'https://shop.')", "time", |e| {
            e.page
                .as_deref()
                .is_some_and(|p| p.starts_with("https://shop."))
        }),
        case("endswith(Value, 'page.')", "time", |e| {
            e.label.as_deref().is_some_and(|l| l.ends_with("page."))
        }),
        case("contains(Value, 'Buy')", "time", |e| {
            e.label.as_deref().is_some_and(|l| l.contains("Buy"))
        }),
        case("PageUri eq 'https://example.com/en/'", "time", |e| {
            e.page.as_deref() == Some("https://example.com/en/")
        }),
        // Nulls.
        case("Value eq null", "time", |e| e.label.is_none()),
        case("PageUri ne null", "time", |e| e.page.is_some()),
        case("CountryCode eq null", "time", |e| e.country.is_none()),
        case("User/Name eq null", "time", |e| e.user_name.is_none()),
        // Payload strings, numbers, booleans; maps are not scalars.
        case("Payload/plan eq 'pro'", "time", |e| {
            e.text("plan") == Some("pro")
        }),
        case("Payload/plan ne 'pro'", "time", |e| {
            e.text("plan") != Some("pro")
        }),
        case("Payload/plan eq null", "time", |e| {
            !e.attrs.contains_key("plan")
        }),
        case("Payload/plan eq 3", "time", |e| e.num("plan") == Some(3.0)),
        case("Payload/plan gt 'free'", "time", |e| {
            e.text("plan").is_some_and(|p| p > "free")
        }),
        case("Payload/n ge 10 and Payload/n lt 60.5", "time", |e| {
            e.num("n").is_some_and(|n| (10.0..60.5).contains(&n))
        }),
        case("Payload/n le -10.75", "time", |e| {
            e.num("n").is_some_and(|n| n <= -10.75)
        }),
        case("Payload/vip eq true", "time", |e| {
            e.flag("vip") == Some(true)
        }),
        case("Payload/vip", "time", |e| e.flag("vip") == Some(true)),
        case("Payload/vip eq false", "time", |e| {
            e.flag("vip") == Some(false)
        }),
        case("Payload/vip ne true", "time", |e| {
            e.flag("vip") != Some(true)
        }),
        case("Payload/meta ne null", "time", |_| false),
        // The session's user, the event's country.
        case("User/Email eq 'ada@example.com'", "time", |e| {
            e.email.as_deref() == Some("ada@example.com")
        }),
        case("User/Email ne null and User/Email ne ''", "time", |e| {
            e.email.as_deref().is_some_and(|m| !m.is_empty())
        }),
        case("User/Email eq ''", "time", |e| {
            e.email.as_deref() == Some("")
        }),
        case("endswith(User/Email, '.org')", "time", |e| {
            e.email.as_deref().is_some_and(|m| m.ends_with(".org"))
        }),
        case("CountryCode eq 'US'", "time", |e| {
            e.country.as_deref() == Some("US")
        }),
        case("CountryCode in ('GB', 'FR', 'SE')", "time", |e| {
            matches!(e.country.as_deref(), Some("GB" | "FR" | "SE"))
        }),
        case(
            "EventType eq 'pageview' and CountryCode ne null and Payload/plan eq 'pro'",
            "name",
            |e| e.name == "pageview" && e.country.is_some() && e.text("plan") == Some("pro"),
        ),
    ]
}

async fn filters_return_what_a_plain_evaluation_of_the_written_events_returns(engine: Engine) {
    let server = server(engine).await;
    let reference = write_reference(&server).await;
    let cases = cases(&reference);
    let total = reference.events.len();
    // On DynamoDB the time index holds keys only: a query through it reads one item per event
    // it passes over, and DynamoDB Local takes milliseconds for each. There each filter the
    // time index serves is also bounded to a quarter of the days (the quarters taking turns),
    // the same bound added to its reference predicate: the predicate is still evaluated on
    // DynamoDB's rows, for a quarter of the events. The unfiltered listing (below) and the
    // filters that bound EventTime themselves read as they are.
    const QUARTERS: [(&str, &str); 4] = [
        ("2026-04-10T00:00:00Z", "2026-04-12T09:00:00Z"),
        ("2026-04-12T09:00:00Z", "2026-04-14T18:00:00Z"),
        ("2026-04-14T18:00:00Z", "2026-04-17T03:00:00Z"),
        ("2026-04-17T03:00:00Z", "2026-04-20T00:00:00Z"),
    ];
    for (at, case) in cases.iter().enumerate() {
        assert!(
            reference.count(&case.keep) < total,
            "{}: matches every event, so it tests nothing",
            case.odata
        );
        let (filter, keep): (String, Keep<'_>) = if engine == Engine::Dynamo
            && case.index == "time"
            && !case.odata.contains("EventTime")
        {
            let (from, to) = QUARTERS[at % 4];
            let (low, high) = (t(from), t(to));
            let keep = &case.keep;
            (
                format!(
                    "({}) and EventTime ge {from} and EventTime lt {to}",
                    case.odata
                ),
                Box::new(move |e: &Ev| keep(e) && (low..high).contains(&e.micros)),
            )
        } else {
            (case.odata.clone(), Box::new(|e: &Ev| (case.keep)(e)))
        };
        let filter = &filter;
        let desc = reference.expect(&keep, true);
        let asc = reference.expect(&keep, false);
        assert!(
            !desc.is_empty() || case.odata == "Payload/meta ne null",
            "{filter}: matches nothing, so it tests little"
        );
        // On the embedded store every filter goes through both doors in both orders; on
        // DynamoDB through one door in one order, the four taking turns.
        let runs: Vec<(&str, bool)> = match engine {
            Engine::Embedded => vec![
                ("query", true),
                ("query", false),
                ("list", true),
                ("list", false),
            ],
            Engine::Dynamo => vec![
                [
                    ("query", true),
                    ("list", false),
                    ("query", false),
                    ("list", true),
                ][at % 4],
            ],
        };
        for (door, descending) in runs {
            let want = if descending { &desc } else { &asc };
            let sort = if descending { "desc" } else { "asc" };
            if door == "query" {
                let body = query(
                    &server,
                    json!({"filter": filter, "sort": sort, "top": 1000}),
                )
                .await;
                assert_eq!(&row_seqs(&body), want, "/event/query {sort}: {filter}");
                assert_eq!(body["meta"]["count"], want.len(), "{filter}");
                assert_eq!(
                    body["meta"]["index"], case.index,
                    "{filter}: {}",
                    body["meta"]
                );
                assert_eq!(body["meta"]["sort"], sort, "{filter}");
            } else {
                let mut params = vec![("$filter", filter.clone()), ("$top", "1000".into())];
                // Descending is the default order.
                if !descending {
                    params.push(("$orderby", "EventTime asc".into()));
                }
                let answer = list(&server, &params).await;
                assert_eq!(
                    &item_seqs(&answer),
                    want,
                    "GET TrackEvents {sort}: {filter}"
                );
            }
        }
    }
    // Paging: pages one after the other are the one big page, through both doors, on each
    // index; and $top defaults to 100.
    let d0 = reference.devices[0].clone();
    let day17 = t("2026-04-17T00:00:00Z");
    let paged: [(String, Keep<'static>); 3] = [
        (
            format!("DeviceId eq '{d0}'"),
            Box::new(move |e: &Ev| e.device == d0),
        ),
        (
            "EventType eq 'pageview'".into(),
            Box::new(|e: &Ev| e.name == "pageview"),
        ),
        (
            "EventTime ge 2026-04-17T00:00:00Z and Payload/plan ne 'pro'".into(),
            Box::new(move |e: &Ev| e.micros >= day17 && e.text("plan") != Some("pro")),
        ),
    ];
    for (filter, keep) in &paged {
        let desc = reference.expect(keep, true);
        let asc = reference.expect(keep, false);
        assert!(
            desc.len() > 30,
            "{filter}: {} events are too few to page",
            desc.len()
        );
        let mut pages = Vec::new();
        for skip in (0..desc.len() + 11).step_by(11) {
            let body = query(&server, json!({"filter": filter, "top": 11, "skip": skip})).await;
            let page = row_seqs(&body);
            let end = (skip + 11).min(desc.len());
            assert_eq!(
                page,
                desc[skip.min(end)..end],
                "{filter}: top 11 skip {skip}"
            );
            assert_eq!(body["meta"]["skip"], skip);
            pages.extend(page);
        }
        assert_eq!(pages, desc, "{filter}: the pages are the whole answer");

        let mut pages = Vec::new();
        for skip in (0..asc.len() + 17).step_by(17) {
            let answer = list(
                &server,
                &[
                    ("$filter", filter.clone()),
                    ("$orderby", "EventTime asc".into()),
                    ("$top", "17".into()),
                    ("$skip", skip.to_string()),
                ],
            )
            .await;
            pages.extend(item_seqs(&answer));
        }
        assert_eq!(
            pages, asc,
            "GET TrackEvents {filter}: the pages are the whole answer"
        );
    }
    let all = reference.expect(&|_| true, true);
    let answer = list(&server, &[]).await;
    assert_eq!(
        item_seqs(&answer),
        all[..100],
        "GET TrackEvents: the default $top is 100"
    );
    let body = query(&server, json!({})).await;
    assert_eq!(
        row_seqs(&body),
        all[..100],
        "/event/query: the default top is 100"
    );
    assert_eq!(body["meta"]["top"], 100);

    // No filter: every event, through the time index, in both orders; the rows themselves
    // (/event/query's are A-TRACK event rows, TrackEvents' the profile store's items) each
    // say what was written.
    let body = query(&server, json!({"filter": "", "top": 1000})).await;
    assert_eq!(row_seqs(&body), all, "/event/query, no filter");
    assert_eq!(body["meta"]["index"], "time");
    for row in body["data"].as_array().expect("rows") {
        let event = reference.by_seq(seq_of(&row["attributes"]));
        assert_eq!(row["name"], event.name, "{row}");
        assert_eq!(row["label"], json!(event.label), "{row}");
        assert_eq!(row["country_code"], json!(event.country), "{row}");
        assert_eq!(
            Timestamp::parse_rfc3339(row["occurred_at"].as_str().expect("occurred_at"))
                .map(Timestamp::micros),
            Some(event.micros),
            "{row}"
        );
        assert_eq!(row["track_id"].as_str().map(str::len), Some(54), "{row}");
    }
    let answer = list(
        &server,
        &[
            ("$orderby", "EventTime asc".into()),
            ("$top", "1000".into()),
        ],
    )
    .await;
    let mut oldest_first = all.clone();
    oldest_first.reverse();
    assert_eq!(
        item_seqs(&answer),
        oldest_first,
        "GET TrackEvents, no filter"
    );
    for item in answer.body["items"].as_array().expect("items") {
        let event = reference.by_seq(seq_of(&item["Payload"]));
        assert_eq!(item["DeviceId"], event.device, "{item}");
        assert_eq!(item["EventType"], event.name, "{item}");
        assert_eq!(
            item["Value"],
            event.label.clone().unwrap_or_default(),
            "{item}"
        );
        assert_eq!(
            item["PageUri"],
            event.page.clone().unwrap_or_default(),
            "{item}"
        );
        assert_eq!(
            item["CountryCode"],
            event.country.clone().unwrap_or_default(),
            "{item}"
        );
        assert_eq!(item["Scope"], "default", "{item}");
        let user = match (&event.email, &event.user_name) {
            (None, None) => Value::Null,
            (email, name) => json!({
                "Email": email.clone().unwrap_or_default(),
                "Name": name.clone().unwrap_or_default(),
            }),
        };
        assert_eq!(item["User"], user, "{item}");
        assert_eq!(item["TrackId"].as_str().map(str::len), Some(54), "{item}");
    }
}

// ---------------------------------------------------------------------------------------------
// KQL
// ---------------------------------------------------------------------------------------------

async fn kql_previews_return_what_a_plain_evaluation_returns(engine: Engine) {
    let server = server(engine).await;
    let reference = write_reference(&server).await;
    let d0 = reference.devices[0].clone();
    let now = t(NOW);
    let end_of_today = t("2026-04-20T23:59:59.999999Z");
    let (day12, day13) = (t("2026-04-12T00:00:00Z"), t("2026-04-13T00:00:00Z"));
    let end_of_14 = t("2026-04-14T23:59:59.999999Z");
    assert!(now < end_of_today);
    // In KQL a string is never null: a missing one reads as ''.
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let kql: Vec<(String, Keep<'static>, Option<usize>, bool)> = vec![
        // The profile store's own example.
        (
            "Events
        | where EventTime between (todatetime('2026-04-12') .. endofday(now()))
            and EventType == 'pageview'
            and User.Email != ''
        | take 2"
                .into(),
            Box::new(move |e: &Ev| {
                (day12..=end_of_today).contains(&e.micros)
                    && e.name == "pageview"
                    && !text(&e.email).is_empty()
            }),
            Some(2),
            true,
        ),
        (
            format!("Events | where DeviceId == '{d0}' | order by EventTime asc"),
            Box::new(move |e: &Ev| e.device == d0),
            None,
            false,
        ),
        (
            "Events | where EventTime between (todatetime('2026-04-13') .. endofday(todatetime('2026-04-14'))) | order by EventTime asc | take 40".into(),
            Box::new(move |e: &Ev| (day13..=end_of_14).contains(&e.micros)),
            Some(40),
            false,
        ),
        (
            "Events | where Payload.plan == 'pro' and EventType != 'pageview' | take 5".into(),
            Box::new(|e: &Ev| e.text("plan") == Some("pro") && e.name != "pageview"),
            Some(5),
            true,
        ),
        (
            "Events | where EventType == 'home' and CountryCode != '' | order by EventTime desc"
                .into(),
            Box::new(move |e: &Ev| e.name == "home" && !text(&e.country).is_empty()),
            None,
            true,
        ),
        (
            "Events | where User.Email == '' and EventType == 'click'".into(),
            Box::new(move |e: &Ev| text(&e.email).is_empty() && e.name == "click"),
            None,
            true,
        ),
    ];
    for (text, keep, take, descending) in kql {
        let mut want = reference.expect(&keep, descending);
        assert!(
            !want.is_empty(),
            "{text}: matches nothing, so it tests little"
        );
        if let Some(take) = take {
            want.truncate(take);
        }
        let answer = preview(&server, &text).await;
        assert_eq!(item_seqs(&answer), want, "preview: {text}");
    }
}

// ---------------------------------------------------------------------------------------------
// 2. The planner
// ---------------------------------------------------------------------------------------------

async fn the_planner_shows_its_index_and_bounded_queries_read_less(engine: Engine) {
    let server = server(engine).await;
    let reference = write_reference(&server).await;
    let total = reference.events.len();
    let d7 = reference.devices[7].clone();
    let meta = |body: Value| body["meta"].clone();

    // A selective filter with no index reads every event; bounded in time, only those in range.
    let unbounded = meta(query(&server, json!({"filter": "Payload/n eq 17.25"})).await);
    assert_eq!(unbounded["index"], "time");
    assert_eq!(unbounded["read"], total, "{unbounded}");
    let (from, to) = (t("2026-04-13T00:00:00Z"), t("2026-04-15T00:00:00Z"));
    let in_range = reference.count(&|e| e.micros >= from && e.micros < to);
    let bounded = meta(
        query(
            &server,
            json!({"filter": "Payload/n eq 17.25 and EventTime ge 2026-04-13 and EventTime lt 2026-04-15"}),
        )
        .await,
    );
    assert_eq!(bounded["index"], "time");
    assert_eq!(bounded["read"], in_range, "{bounded}");
    assert!(
        in_range < total / 2,
        "the range is narrow: {in_range} of {total}"
    );

    // One device's events: no more than it has.
    let device_events = reference.count(&|e| e.device == d7);
    assert!(device_events > 0 && device_events < total / 10);
    let device = meta(
        query(
            &server,
            json!({"filter": format!("DeviceId eq '{d7}' and Payload/n eq 17.25")}),
        )
        .await,
    );
    assert_eq!(device["index"], "device");
    let read = device["read"].as_u64().expect("read") as usize;
    assert!(read <= device_events, "{device}: {device_events} events");

    // A device, a name or the time index, whatever the order of the conditions; a DeviceId
    // beats an EventType; only the top-level conjunction counts.
    for (filter, index) in [
        (format!("DeviceId eq '{d7}'"), "device"),
        (
            format!("EventType eq 'click' and DeviceId eq '{d7}'"),
            "device",
        ),
        (format!("DeviceId in ('{d7}')"), "device"),
        ("EventType eq 'signup'".to_owned(), "name"),
        (
            "Payload/n gt 3 and EventType eq 'signup'".to_owned(),
            "name",
        ),
        (
            format!("DeviceId eq '{d7}' or EventType eq 'click'"),
            "time",
        ),
        (format!("not (DeviceId eq '{d7}')"), "time"),
        ("EventType ne 'signup'".to_owned(), "time"),
        ("EventTime ge 2026-04-13".to_owned(), "time"),
    ] {
        let body = query(&server, json!({"filter": filter})).await;
        assert_eq!(body["meta"]["index"], index, "{filter}: {}", body["meta"]);
    }

    // The name index reads that name's events, a device's in-range ones fewer still.
    let signups = reference.count(&|e| e.name == "signup");
    let name = meta(
        query(
            &server,
            json!({"filter": "EventType eq 'signup' and Payload/n eq 17.25"}),
        )
        .await,
    );
    assert_eq!(name["read"], signups, "{name}");
    let narrow = meta(
        query(
            &server,
            json!({"filter": format!("DeviceId eq '{d7}' and EventTime ge 2026-04-13 and EventTime lt 2026-04-15")}),
        )
        .await,
    );
    let device_in_range = reference.count(&|e| e.device == d7 && e.micros >= from && e.micros < to);
    assert_eq!(narrow["read"], device_in_range, "{narrow}");
    assert_eq!(narrow["count"], device_in_range, "{narrow}");

    // A page filled early stops reading.
    let first = meta(query(&server, json!({"top": 5})).await);
    assert_eq!(first["count"], 5);
    assert!(
        first["read"].as_u64().expect("read") < total as u64 / 2,
        "{first}"
    );

    // An impossible range reads nothing.
    let empty = meta(
        query(
            &server,
            json!({"filter": "EventTime gt 2026-04-15 and EventTime lt 2026-04-14"}),
        )
        .await,
    );
    assert_eq!(
        (empty["read"].clone(), empty["count"].clone()),
        (json!(0), json!(0))
    );
}

// ---------------------------------------------------------------------------------------------
// 3. Window, cap, errors, budget
// ---------------------------------------------------------------------------------------------

/// The target and message of a profile-store error, after checking its shape.
fn ms_error(answer: &Answer, status: u16, code: &str) -> (String, String) {
    assert_eq!(answer.status, status, "{}", answer.body);
    let error = &answer.body["error"];
    assert_eq!(error["code"], code, "{}", answer.body);
    let message = error["message"].as_str().expect("a message").to_owned();
    let target = error["details"][0]["target"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if !target.is_empty() {
        assert_eq!(error["details"][0]["code"], code, "{}", answer.body);
        assert!(
            error["details"][0]["message"].is_string(),
            "{}",
            answer.body
        );
    }
    (target, message)
}

async fn the_result_window_and_the_preview_cap_hold(engine: Engine) {
    let mut options = ServerOptions::new(engine);
    options.config.limits.max_batch_events = 500;
    let server = TestServer::start(options).await;
    let devices: Vec<String> = (0..10).map(|_| Uuid::new_v4().to_string()).collect();
    let base = t("2026-01-01T00:00:00Z");
    let total = 1050usize;
    let events: Vec<Value> = (0..total)
        .map(|k| {
            json!({
                "uuid": devices[k % devices.len()],
                "event": "tick",
                "attributes": {"seq": k},
                "timestamp": rfc3339(base + k as i64 * 60_000_000),
            })
        })
        .collect();
    for chunk in events.chunks(500) {
        let answer = server.public("/batch", &json!({"events": chunk})).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(answer.body["events_failed"], 0, "{}", answer.body);
    }
    server.settle().await;
    let newest: Vec<u64> = (0..total as u64).rev().collect();

    // The preview answers at most 1,000 events, whatever `take` says.
    let answer = preview(&server, "Events | take 5000").await;
    assert_eq!(item_seqs(&answer), newest[..1000], "take 5000");
    let answer = preview(&server, "Events | where EventType == 'tick'").await;
    assert_eq!(item_seqs(&answer).len(), 1000, "no take");
    let answer = preview(&server, "Events | take 3 | take 7").await;
    assert_eq!(item_seqs(&answer), newest[..3], "the smallest take wins");

    // $skip + $top below 10,000 is a window; at 10,000 it is a 400 naming the parameter.
    // (Through the name index, whose entries are whole items: on DynamoDB the time index
    // would read the items one by one.)
    let ticks = ("$filter", "EventType eq 'tick'".to_owned());
    let answer = list(&server, &[ticks.clone(), ("$top", "9999".into())]).await;
    assert_eq!(item_seqs(&answer), newest, "the widest window");
    let answer = list(
        &server,
        &[
            ticks.clone(),
            ("$top", "9998".into()),
            ("$skip", "1".into()),
        ],
    )
    .await;
    assert_eq!(item_seqs(&answer), newest[1..]);
    for (params, target) in [
        (vec![("$top", "10000")], "$top"),
        (vec![("$top", "5000"), ("$skip", "5000")], "$top"),
        (vec![("$skip", "9900")], "$skip"),
        (vec![("$skip", "99999999999999999999999")], "$skip"),
    ] {
        let params: Vec<(&str, String)> =
            params.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
        let answer = list(&server, &params).await;
        let (found, message) = ms_error(&answer, 400, "invalid_query");
        assert_eq!(found, target, "{params:?}: {}", answer.body);
        assert!(message.contains("10000"), "{message}");
    }
    for (body, field) in [
        (json!({"top": 10000}), "top"),
        (json!({"top": 9000, "skip": 1000}), "top"),
        (json!({"skip": 9900}), "skip"),
    ] {
        let answer = server.secret("/event/query", &body).await;
        assert_error(&answer, 400, "invalid_query");
        assert_eq!(
            answer.body["error"]["details"][0]["field"], field,
            "{body}: {}",
            answer.body
        );
    }
    let body = query(
        &server,
        json!({"filter": "EventType eq 'tick'", "top": 9998, "skip": 1}),
    )
    .await;
    assert_eq!(row_seqs(&body), newest[1..]);
}

async fn malformed_queries_are_400s_that_say_where(engine: Engine) {
    let server = TestServer::start(ServerOptions::new(engine)).await;
    // (filter, position of the problem, what the message names)
    let odata = [
        ("Foo eq 'x'", 0, "Foo"),
        ("EventType eq 'x' and Bogus eq 1", 21, "Bogus"),
        ("EventType eq", 12, "end of input"),
        ("EventType eq 'x' or", 19, "end of input"),
        ("EventType == 'x'", 10, "=="),
        ("EventType eq 'unterminated", 13, "unterminated"),
        ("EventTime gt 'soon'", 13, "soon"),
        ("(EventType eq 'x'", 17, "')'"),
        ("User/Phone eq 'x'", 0, "User/Phone"),
    ];
    for (filter, position, named) in odata {
        let at = format!("at position {position}");
        let answer = list(&server, &[("$filter", filter.to_owned())]).await;
        let (target, message) = ms_error(&answer, 400, "invalid_query");
        assert_eq!(target, "$filter", "{filter}: {}", answer.body);
        assert!(message.contains(&at), "{filter}: {message}");
        assert!(message.contains(named), "{filter}: {message}");

        let answer = server
            .secret("/event/query", &json!({"filter": filter}))
            .await;
        assert_error(&answer, 400, "invalid_query");
        let detail = &answer.body["error"]["details"][0];
        assert_eq!(detail["field"], "filter", "{}", answer.body);
        let message = detail["message"].as_str().expect("message");
        assert!(message.contains(&at), "{filter}: {message}");
    }
    for (orderby, position) in [("Value desc", 0), ("EventTime sideways", 10)] {
        let answer = list(&server, &[("$orderby", orderby.to_owned())]).await;
        let (target, message) = ms_error(&answer, 400, "invalid_query");
        assert_eq!(target, "$orderby", "{}", answer.body);
        assert!(
            message.contains(&format!("at position {position}")),
            "{message}"
        );
    }
    let answer = list(&server, &[("$top", "-1".into())]).await;
    assert_eq!(ms_error(&answer, 400, "invalid_query").0, "$top");
    let answer = server
        .secret("/event/query", &json!({"filter": "", "sort": "sideways"}))
        .await;
    assert_error(&answer, 422, "validation_failed");

    let kql = [
        ("Events | where Nope == 1", 15, "Nope"),
        (
            "Events | where EventType == 'x' | frobnicate",
            34,
            "frobnicate",
        ),
        ("Events | where EventType ==", 27, "end of input"),
        ("Visits | take 1", 0, "Events"),
    ];
    for (text, position, named) in kql {
        let answer = preview(&server, text).await;
        let (target, message) = ms_error(&answer, 400, "invalid_query");
        assert_eq!(target, "Query", "{text}: {}", answer.body);
        assert!(
            message.contains(&format!("at position {position}")),
            "{text}: {message}"
        );
        assert!(message.contains(named), "{text}: {message}");
    }
}

async fn the_read_budget_stops_a_query_that_reads_too_much(engine: Engine) {
    let mut options = ServerOptions::new(engine);
    options.config.query_read_budget = 50;
    let server = TestServer::start(options).await;
    let few = Uuid::new_v4().to_string();
    let many: Vec<String> = (0..3).map(|_| Uuid::new_v4().to_string()).collect();
    let base = t("2026-02-01T00:00:00Z");
    let events: Vec<Value> = (0..200usize)
        .map(|k| {
            let device = if k % 10 == 0 { &few } else { &many[k % 3] };
            json!({
                "uuid": device,
                "event": if k % 8 == 0 { "rare" } else { "common" },
                "attributes": {"seq": k, "k": k % 50},
                "timestamp": rfc3339(base + k as i64 * 3_600_000_000),
            })
        })
        .collect();
    for chunk in events.chunks(100) {
        let answer = server.public("/batch", &json!({"events": chunk})).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    server.settle().await;

    // Four matches among 200 events, over the time index: past the budget of 50 reads.
    let selective = "Payload/k eq 10";
    let answer = server
        .secret("/event/query", &json!({"filter": selective}))
        .await;
    assert_error(&answer, 422, "query_too_expensive");
    let answer = list(&server, &[("$filter", selective.into())]).await;
    let (_, message) = ms_error(&answer, 422, "query_too_expensive");
    assert!(message.contains("50"), "{message}");
    let answer = preview(&server, "Events | where Payload.k == 10").await;
    ms_error(&answer, 422, "query_too_expensive");

    // The same condition on the device with 20 events reads those and answers.
    let body = query(
        &server,
        json!({"filter": format!("DeviceId eq '{few}' and {selective}")}),
    )
    .await;
    let want: Vec<u64> = (0..200u64)
        .rev()
        .filter(|k| k % 10 == 0 && k % 50 == 10)
        .collect();
    assert_eq!(row_seqs(&body), want);
    assert_eq!(body["meta"]["index"], "device");
    assert!(
        body["meta"]["read"].as_u64().expect("read") <= 20,
        "{}",
        body["meta"]
    );
    // So does a name with 25 events, and a page filled before the budget runs out.
    let body = query(&server, json!({"filter": "EventType eq 'rare'"})).await;
    assert_eq!(body["meta"]["count"], 25);
    let body = query(&server, json!({"top": 10})).await;
    assert_eq!(row_seqs(&body), (190..200u64).rev().collect::<Vec<_>>());
    // A time range of 30 events is within the budget however selective the filter.
    let body = query(
        &server,
        json!({"filter": format!("{selective} and EventTime ge {} and EventTime lt {}",
            rfc3339(base + 100 * 3_600_000_000), rfc3339(base + 130 * 3_600_000_000))}),
    )
    .await;
    assert_eq!(row_seqs(&body), vec![110]);
    assert_eq!(body["meta"]["read"], 30);
}

// ---------------------------------------------------------------------------------------------
// 4. TrackEvents POST, keys and scopes
// ---------------------------------------------------------------------------------------------

async fn track_events_post_answers_the_stored_event(engine: Engine) {
    addresses_are_where_the_suite_says();
    let server = server(engine).await;
    let sent = json!({
        "DeviceId": "crm:contact/9001",
        "EventType": "home",
        "Value": "Visited the start page.",
        "PageUri": "https://example.com/en/",
        "RemoteAddress": "50.89.98.90",
        "Payload": {"name": "Home page", "contentTypeID": 170, "nested": {"a": [1, 2]}},
        "EventTime": "2026-04-19T07:16:34.795781Z",
    });
    let answer = epi_post(&server, PUBLIC_KEY, &sent).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let item = &answer.body;
    let keys: Vec<&str> = item
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "TrackId",
            "DeviceId",
            "EventType",
            "Value",
            "Scope",
            "PageUri",
            "PageTitle",
            "RemoteAddress",
            "SessionId",
            "User",
            "Payload",
            "CountryCode",
            "City",
            "EventTime"
        ]
    );
    assert_eq!(item["TrackId"].as_str().map(str::len), Some(54), "{item}");
    assert_eq!(item["DeviceId"], "crm:contact/9001");
    assert_eq!(item["EventType"], "home");
    assert_eq!(item["Value"], "Visited the start page.");
    assert_eq!(item["Scope"], "default");
    assert_eq!(item["PageUri"], "https://example.com/en/");
    assert_eq!(item["CountryCode"], "US", "from the address: {item}");
    assert_eq!(item["Payload"], sent["Payload"]);
    assert_eq!(
        Timestamp::parse_rfc3339(item["EventTime"].as_str().expect("EventTime")),
        Timestamp::parse_rfc3339("2026-04-19T07:16:34.795781Z")
    );

    // A declared country is kept (upper-cased), whatever the address says.
    let declared = epi_post(
        &server,
        PUBLIC_KEY,
        &json!({"DeviceId": "crm:contact/9001", "EventType": "home",
            "RemoteAddress": "50.89.98.90", "CountryCode": "se"}),
    )
    .await;
    assert_eq!(declared.status, 200, "{}", declared.body);
    assert_eq!(declared.body["CountryCode"], "SE", "{}", declared.body);
    // Another address, another country; none, none.
    let gb = epi_post(
        &server,
        SECRET_KEY,
        &json!({"DeviceId": "crm:contact/9002", "EventType": "home", "RemoteAddress": "81.2.69.160"}),
    )
    .await;
    assert_eq!(gb.body["CountryCode"], "GB", "{}", gb.body);
    let nowhere = epi_post(
        &server,
        PUBLIC_KEY,
        &json!({"DeviceId": "crm:contact/9003", "EventType": "home"}),
    )
    .await;
    assert_eq!(nowhere.body["CountryCode"], "", "{}", nowhere.body);
    assert_eq!(nowhere.body["TrackId"].as_str().map(str::len), Some(54));
    // Without EventTime the event is the server's now.
    assert_eq!(
        Timestamp::parse_rfc3339(nowhere.body["EventTime"].as_str().expect("EventTime")),
        Timestamp::parse_rfc3339(NOW)
    );

    // The non-UUID device is found as sent.
    server.settle().await;
    let found = list(
        &server,
        &[("$filter", "DeviceId eq 'crm:contact/9001'".into())],
    )
    .await;
    assert_eq!(found.status, 200, "{}", found.body);
    let items = found.body["items"].as_array().expect("items");
    let ids: Vec<&Value> = items.iter().map(|i| &i["TrackId"]).collect();
    assert_eq!(ids, [&declared.body["TrackId"], &item["TrackId"]]);
    assert!(items.iter().all(|i| i["DeviceId"] == "crm:contact/9001"));

    // Missing or invalid fields: 422 in the guidelines' shape, each field its target.
    for (body, targets) in [
        (json!({"EventType": "home"}), vec!["DeviceId"]),
        (json!({"DeviceId": "d"}), vec!["EventType"]),
        (json!({}), vec!["DeviceId", "EventType"]),
        (
            json!({"DeviceId": "d", "EventType": "home", "CountryCode": "Sweden"}),
            vec!["CountryCode"],
        ),
        (
            json!({"DeviceId": "d", "EventType": "home", "EventTime": "yesterday"}),
            vec!["EventTime"],
        ),
    ] {
        let answer = epi_post(&server, PUBLIC_KEY, &body).await;
        assert_eq!(answer.status, 422, "{body}: {}", answer.body);
        let error = &answer.body["error"];
        assert_eq!(error["code"], "validation_failed", "{}", answer.body);
        assert!(error["message"].is_string(), "{}", answer.body);
        let found: Vec<&str> = error["details"]
            .as_array()
            .expect("details")
            .iter()
            .map(|d| {
                assert_eq!(d["code"], "validation_failed", "{d}");
                assert!(d["message"].is_string(), "{d}");
                d["target"].as_str().expect("target")
            })
            .collect();
        assert_eq!(found, targets, "{body}: {}", answer.body);
    }
}

async fn track_events_keys_and_scopes(engine: Engine) {
    let server = TestServer::start(ServerOptions::new(engine)).await;
    let event = json!({"DeviceId": "d-1", "EventType": "home"});
    let params = [("$top", "5".to_owned())];
    let kql = json!({"Query": "Events | take 1", "Scope": "default"});

    // A public key may send events but not read them.
    assert_eq!(epi_post(&server, PUBLIC_KEY, &event).await.status, 200);
    assert_eq!(epi_post(&server, SECRET_KEY, &event).await.status, 200);
    server.settle().await;
    let answer = epi(
        &server,
        "/api/v2.0/TrackEvents",
        Some(PUBLIC_KEY),
        Some(&params),
        None,
    )
    .await;
    ms_error(&answer, 403, "forbidden");
    let answer = epi(
        &server,
        "/api/v2.0/TrackEvents/preview",
        Some(PUBLIC_KEY),
        None,
        Some(&kql),
    )
    .await;
    ms_error(&answer, 403, "forbidden");
    let answer = server.public("/event/query", &json!({})).await;
    assert_error(&answer, 403, "forbidden");

    // The secret key reads both.
    let answer = list(&server, &params).await;
    assert_eq!(item_seqs_len(&answer), 2);
    let answer = preview(&server, "Events | take 1").await;
    assert_eq!(item_seqs_len(&answer), 1);
    let answer = epi(
        &server,
        "/api/v2.0/TrackEvents/preview",
        Some(SECRET_KEY),
        None,
        Some(&json!({"Query": "Events"})),
    )
    .await;
    assert_eq!(item_seqs_len(&answer), 2, "no Scope is this key's");

    // Another scope names nothing this key can see.
    let answer = epi(
        &server,
        "/api/v2.0/TrackEvents/preview",
        Some(SECRET_KEY),
        None,
        Some(&json!({"Query": "Events | take 1", "Scope": "other"})),
    )
    .await;
    ms_error(&answer, 404, "not_found");

    // No key or an unknown one: 401 on every route.
    for key in [None, Some("sk_nobody_has_this_key")] {
        let answer = epi(&server, "/api/v2.0/TrackEvents", key, None, Some(&event)).await;
        ms_error(&answer, 401, "unauthorized");
        let answer = epi(&server, "/api/v2.0/TrackEvents", key, Some(&params), None).await;
        ms_error(&answer, 401, "unauthorized");
        let answer = epi(
            &server,
            "/api/v2.0/TrackEvents/preview",
            key,
            None,
            Some(&kql),
        )
        .await;
        ms_error(&answer, 401, "unauthorized");
        let answer = server.post("/event/query", key, &json!({})).await;
        assert_error(&answer, 401, "unauthorized");
    }
    // A key in another scheme is no key.
    let answer = atrack_tests::answer(
        server
            .http
            .get(server.url("/api/v2.0/TrackEvents"))
            .header("authorization", format!("Bearer {SECRET_KEY}"))
            .send()
            .await
            .expect("request"),
    )
    .await;
    ms_error(&answer, 401, "unauthorized");
}

fn item_seqs_len(answer: &Answer) -> usize {
    assert_eq!(answer.status, 200, "{}", answer.body);
    let items = answer.body["items"].as_array().expect("items");
    assert_eq!(answer.body["count"], items.len());
    items.len()
}

// ---------------------------------------------------------------------------------------------
// 5. Track ids
// ---------------------------------------------------------------------------------------------

async fn track_ids_agree_across_every_read(engine: Engine) {
    let server = server(engine).await;
    let uuid = Uuid::new_v4().to_string();
    let mut sent = HashMap::new();
    for (k, at) in [
        "2026-04-18T10:00:00Z",
        "2026-04-18T11:00:00.250Z",
        "2026-04-19T09:30:00Z",
    ]
    .iter()
    .enumerate()
    {
        let answer = epi_post(
            &server,
            PUBLIC_KEY,
            &json!({"DeviceId": uuid, "EventType": "checkout", "EventTime": at, "Payload": {"seq": k}}),
        )
        .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(answer.body["DeviceId"], uuid);
        let track_id = answer.body["TrackId"].as_str().expect("TrackId").to_owned();
        assert_eq!(track_id.len(), 54, "{track_id}");
        sent.insert(k as u64, track_id);
    }
    // One through /event, which answers no id: its rows must agree among themselves.
    let answer = server
        .public(
            "/event",
            &json!({"uuid": uuid, "event": "checkout", "attributes": {"seq": 3},
                "timestamp": "2026-04-19T10:00:00Z"}),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    server.settle().await;

    let by_seq = |rows: &[Value], field: &str, payload: &str| -> HashMap<u64, String> {
        rows.iter()
            .map(|r| {
                (
                    seq_of(&r[payload]),
                    r[field]
                        .as_str()
                        .unwrap_or_else(|| panic!("no {field}: {r}"))
                        .to_owned(),
                )
            })
            .collect()
    };
    let shown = server
        .secret("/event/show", &json!({"name": "checkout", "per_page": 100}))
        .await;
    assert_eq!(shown.status, 200, "{}", shown.body);
    let event_show = by_seq(
        shown.body["data"].as_array().expect("rows"),
        "track_id",
        "attributes",
    );
    let session = server.session(&uuid).await;
    let session_show = by_seq(
        session["events"].as_array().expect("events"),
        "track_id",
        "attributes",
    );
    let queried = query(&server, json!({"filter": format!("DeviceId eq '{uuid}'")})).await;
    let event_query = by_seq(
        queried["data"].as_array().expect("rows"),
        "track_id",
        "attributes",
    );
    let listed = list(&server, &[("$filter", format!("DeviceId eq '{uuid}'"))]).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    let track_events = by_seq(
        listed.body["items"].as_array().expect("items"),
        "TrackId",
        "Payload",
    );

    for (seq, track_id) in &sent {
        assert_eq!(event_show.get(seq), Some(track_id), "event/show, seq {seq}");
        assert_eq!(
            session_show.get(seq),
            Some(track_id),
            "session/show, seq {seq}"
        );
        assert_eq!(
            event_query.get(seq),
            Some(track_id),
            "/event/query, seq {seq}"
        );
        assert_eq!(
            track_events.get(seq),
            Some(track_id),
            "GET TrackEvents, seq {seq}"
        );
    }
    let fourth = &track_events[&3];
    assert_eq!(fourth.len(), 54);
    for (name, reads) in [
        ("event/show", &event_show),
        ("session/show", &session_show),
        ("/event/query", &event_query),
    ] {
        assert_eq!(reads.get(&3), Some(fourth), "{name}: the /event event");
        assert_eq!(reads.len(), 4, "{name}");
    }
    // Distinct events, distinct ids; a TrackId finds its event.
    let mut ids: Vec<&String> = track_events.values().collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4);
    let one = list(
        &server,
        &[("$filter", format!("TrackId eq '{}'", sent[&1]))],
    )
    .await;
    assert_eq!(item_seqs(&one), vec![1]);
}
