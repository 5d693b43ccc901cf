//! `GET /export` over real HTTP on both engines: a range's events exactly, in time order,
//! across pages joined by `X-Next-Cursor`, in the product-analytics export's structure (or our
//! own rows) with microsecond times; gzip when asked; pages under their size cap; bad input a
//! 4xx in the envelope.

use std::io::Read;

use atrack_tests::{
    Answer, Engine, PUBLIC_KEY, SECRET_KEY, ServerOptions, TestServer, answer, assert_error,
    on_both_engines,
};
use serde_json::{Value, json};
use uuid::Uuid;

on_both_engines!(
    a_range_is_exported_exactly_in_order_across_pages,
    lines_follow_the_export_structure_field_for_field,
    pages_are_gzipped_for_clients_that_take_it,
    a_page_stays_under_five_megabytes,
    bad_export_requests_are_4xx_in_the_envelope,
);

/// A page of an export as a client reads it.
struct Page {
    status: u16,
    lines: Vec<Value>,
    next: Option<String>,
    encoding: Option<String>,
    bytes: usize,
}

async fn get_page(server: &TestServer, query: &str, gzip: bool) -> Page {
    let mut request = server
        .http
        .get(server.url(&format!("/export?{query}")))
        .header("x-a-track-key", SECRET_KEY);
    if gzip {
        request = request.header("accept-encoding", "gzip");
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let (next, encoding) = (header("x-next-cursor"), header("content-encoding"));
    assert_eq!(
        header("content-type").as_deref(),
        Some("application/x-ndjson"),
        "{query}"
    );
    let raw = response.bytes().await.expect("body").to_vec();
    let bytes = raw.len();
    let text = match encoding.as_deref() {
        Some("gzip") => {
            let mut plain = String::new();
            flate2::read::GzDecoder::new(&raw[..])
                .read_to_string(&mut plain)
                .expect("gzip");
            plain
        }
        _ => String::from_utf8(raw).expect("utf-8"),
    };
    assert!(text.is_empty() || text.ends_with('\n'), "{text:?}");
    let lines = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    Page {
        status,
        lines,
        next,
        encoding,
        bytes,
    }
}

/// Every line of an export, following the cursors; also how many pages it took.
async fn export_all(server: &TestServer, query: &str) -> (Vec<Value>, usize) {
    let mut lines = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let q = match &cursor {
            None => query.to_owned(),
            Some(c) => format!("{query}&cursor={}", urlencode(c)),
        };
        let page = get_page(server, &q, false).await;
        assert_eq!(page.status, 200);
        pages += 1;
        assert!(pages < 1000, "an export that never ends");
        lines.extend(page.lines);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return (lines, pages),
        }
    }
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

async fn stored(server: &TestServer, body: Value) {
    let answer = server.public("/event", &body).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
}

async fn a_range_is_exported_exactly_in_order_across_pages(engine: Engine) {
    let server = TestServer::start(ServerOptions::new(engine)).await;
    let uuids: Vec<String> = (0..3).map(|_| Uuid::new_v4().to_string()).collect();
    // 12 events in the range, over three sessions, interleaved in time; two outside it, one
    // at each bound (included), one deleted.
    let mut expected = Vec::new();
    for i in 0..12u32 {
        let at = format!(
            "2026-04-12T10:{:02}:{:02}.{:06}Z",
            i / 2,
            (i * 7) % 59 + 1,
            i * 11
        );
        let uuid = &uuids[i as usize % 3];
        stored(
            &server,
            json!({"uuid": uuid, "event": format!("step_{i}"), "timestamp": at, "attributes": {"i": i}}),
        )
        .await;
        expected.push((at, format!("step_{i}")));
    }
    for (at, name) in [
        ("2026-04-12T09:59:59.999999Z", "before"),
        ("2026-04-12T10:00:00.000000Z", "at_from"),
        ("2026-04-12T11:00:00.000000Z", "at_to"),
        ("2026-04-12T11:00:00.000001Z", "after"),
        ("2026-04-12T10:30:00.000000Z", "deleted"),
    ] {
        stored(
            &server,
            json!({"uuid": uuids[0], "event": name, "timestamp": at}),
        )
        .await;
        if name.starts_with("at_") {
            expected.push((at.to_owned(), name.to_owned()));
        }
    }
    let session = server.session(&uuids[0]).await;
    let deleted = session["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "deleted")
        .unwrap()["track_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let gone = server
        .secret("/event/delete", &json!({"id": deleted}))
        .await;
    assert_eq!(gone.status, 200, "{}", gone.body);
    expected.sort();

    let range = "from=2026-04-12T10:00:00Z&to=2026-04-12T11:00:00Z";
    let (lines, pages) = export_all(&server, &format!("{range}&limit=5")).await;
    assert_eq!(pages, 3, "14 events in pages of 5");
    let got: Vec<(String, String)> = lines
        .iter()
        .map(|l| {
            (
                l["inserted_at"].as_str().unwrap().to_owned(),
                l["event_name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(got, expected);

    // One page of everything is the same export; a page size that divides it exactly ends
    // without a dangling cursor.
    let (whole, pages) = export_all(&server, range).await;
    assert_eq!((whole.clone(), pages), (lines.clone(), 1));
    let (exact, pages) = export_all(&server, &format!("{range}&limit=7")).await;
    assert_eq!((exact, pages), (lines, 2));

    // Our own rows, same events, same order.
    let (rows, _) = export_all(&server, &format!("{range}&format=atrack&limit=4")).await;
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    let expected_names: Vec<&str> = expected.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(names, expected_names);
    assert!(rows.iter().all(|r| r["track_id"].is_string()));

    // An empty range is one empty page.
    let page = get_page(
        &server,
        "from=2020-01-01T00:00:00Z&to=2020-01-02T00:00:00Z",
        false,
    )
    .await;
    assert_eq!((page.status, page.lines.len(), page.next), (200, 0, None));
}

async fn lines_follow_the_export_structure_field_for_field(engine: Engine) {
    let server = TestServer::start(ServerOptions::new(engine)).await;
    let uuid = Uuid::new_v4().to_string();
    let init = server
        .public(
            "/init",
            &json!({"uuid": uuid, "context": {
                "url": {"href": "https://shop.example.com/pricing?plan=pro", "path": "/pricing"},
                "client": {
                    "userAgent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
                    "language": "de-DE", "screenWidth": 1179, "screenHeight": 2556}}}),
        )
        .await;
    assert_eq!(init.status, 200, "{}", init.body);
    let user = format!("user-{}", Uuid::new_v4().simple());
    let identify = server
        .public(
            "/identify",
            &json!({"uuid": uuid, "user_id": user, "traits": {"plan": "pro"},
                    "company_id": "acme", "company_traits": {"name": "Acme"}}),
        )
        .await;
    assert_eq!(identify.status, 200, "{}", identify.body);
    for (name, kind, at) in [
        (
            "Visited pricing",
            "page_view",
            "2026-04-12T10:00:01.000001Z",
        ),
        (
            "checklist:2:SEEN",
            "interaction",
            "2026-04-12T10:00:02.000002Z",
        ),
        ("tag_42", "track_feature", "2026-04-12T10:00:03.000003Z"),
        ("checkout", "track", "2026-04-12T10:00:04.000004Z"),
    ] {
        stored(
            &server,
            json!({"uuid": uuid, "event": name, "type": kind, "timestamp": at,
                   "attributes": {"cart": 129.99, "items": [1, 2]}}),
        )
        .await;
    }
    // Through the profile store's door, from a server, with a country of its own.
    let other = server
        .http
        .post(server.url("/api/v2.0/TrackEvents"))
        .header("authorization", format!("epi-single {SECRET_KEY}"))
        .json(
            &json!({"DeviceId": "device-7", "EventType": "refund", "CountryCode": "DE",
                      "EventTime": "2026-04-12T10:00:05.000005Z", "Payload": {"amount": 5}}),
        )
        .send()
        .await
        .expect("request");
    let other: Answer = answer(other).await;
    assert_eq!(other.status, 200, "{}", other.body);

    let (lines, _) = export_all(&server, "from=2026-04-12T10:00:00Z&to=2026-04-12T10:00:06Z").await;
    let fields = [
        "app_token",
        "event_type",
        "event_name",
        "user_id",
        "company_id",
        "source",
        "inserted_at",
        "hostname",
        "pathname",
        "screen_width",
        "screen_height",
        "device_type",
        "user_agent",
        "operating_system",
        "browser",
        "browser_language",
        "session",
        "country_code",
        "metadata",
    ];
    for line in &lines {
        let keys: Vec<&str> = line
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut want = fields.to_vec();
        want.sort();
        let mut have = keys.clone();
        have.sort();
        assert_eq!(have, want, "{line}");
    }
    let by_type = |kind: &str| -> &Value {
        lines
            .iter()
            .find(|l| l["event_type"] == kind)
            .unwrap_or_else(|| panic!("no {kind} in {lines:?}"))
    };
    let track = by_type("track");
    assert_eq!(track["app_token"], "default");
    assert_eq!(track["event_name"], "checkout");
    assert_eq!(track["user_id"], user.as_str());
    assert_eq!(track["company_id"], "acme");
    assert_eq!(track["source"], "web-client");
    assert_eq!(track["inserted_at"], "2026-04-12T10:00:04.000004Z");
    assert_eq!(track["hostname"], "shop.example.com");
    assert_eq!(track["pathname"], "/pricing");
    assert_eq!(track["screen_width"], 1179);
    assert_eq!(track["screen_height"], 2556);
    assert_eq!(track["device_type"], "mobile");
    assert_eq!(track["operating_system"], "iOS");
    assert_eq!(track["browser"], "Mobile Safari");
    assert_eq!(track["browser_language"], "de-DE");
    assert!(
        track["user_agent"].as_str().unwrap().contains("iPhone"),
        "{track}"
    );
    assert!(track["session"].is_string(), "{track}");
    assert_eq!(track["metadata"], json!({"cart": 129.99, "items": [1, 2]}));

    // The names and attributes each type keeps, as the seed says.
    assert_eq!(by_type("page_view")["event_name"], "");
    assert_eq!(by_type("page_view")["metadata"], json!({}));
    assert_eq!(by_type("interaction")["event_name"], "checklist:2:SEEN");
    assert_eq!(by_type("interaction")["metadata"]["cart"], 129.99);
    assert_eq!(by_type("track_feature")["event_name"], "tag_42");
    assert_eq!(by_type("track_feature")["metadata"], json!({}));

    let refund = lines.iter().find(|l| l["event_name"] == "refund").unwrap();
    assert_eq!(refund["source"], "backend-http");
    assert_eq!(refund["country_code"], "DE");
    assert_eq!(refund["user_id"], Value::Null);
    assert_eq!(refund["metadata"], json!({"amount": 5}));

    // The identify events, recorded at the identify (now): empty names, the traits as metadata.
    let (identifies, _) = export_all(&server, &identify_range()).await;
    let kinds: Vec<&str> = identifies
        .iter()
        .filter(|l| l["user_id"] == user.as_str())
        .map(|l| l["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["identify_user", "identify_company"]);
    for line in identifies.iter().filter(|l| l["user_id"] == user.as_str()) {
        assert_eq!(line["event_name"], "");
    }
    let company = identifies
        .iter()
        .find(|l| l["event_type"] == "identify_company" && l["user_id"] == user.as_str())
        .unwrap();
    assert_eq!(company["metadata"], json!({"name": "Acme"}));
}

/// The last day up to now: where events stamped by the server fall.
fn identify_range() -> String {
    let now = time::OffsetDateTime::now_utc();
    let fmt = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    format!(
        "from={}&to={}",
        urlencode(&fmt(now - time::Duration::days(1))),
        urlencode(&fmt(now + time::Duration::minutes(5)))
    )
}

async fn pages_are_gzipped_for_clients_that_take_it(engine: Engine) {
    let server = TestServer::start(ServerOptions::new(engine)).await;
    let uuid = Uuid::new_v4().to_string();
    for i in 0..20 {
        stored(
            &server,
            json!({"uuid": uuid, "event": "scrolled", "timestamp": format!("2026-04-12T10:00:{i:02}Z"),
                   "attributes": {"depth": i, "page": "/a/long/path/that/compresses/well"}}),
        )
        .await;
    }
    let query = "from=2026-04-12T10:00:00Z&to=2026-04-12T10:01:00Z&limit=15";
    let plain = get_page(&server, query, false).await;
    let zipped = get_page(&server, query, true).await;
    assert_eq!(plain.encoding, None);
    assert_eq!(zipped.encoding.as_deref(), Some("gzip"));
    assert_eq!(zipped.lines, plain.lines);
    assert_eq!(plain.lines.len(), 15);
    assert!(
        zipped.bytes * 3 < plain.bytes,
        "{} vs {}",
        zipped.bytes,
        plain.bytes
    );
    // The cursor is the same either way, and continues.
    assert!(zipped.next.is_some());
    let rest = get_page(
        &server,
        &format!(
            "{query}&cursor={}",
            urlencode(zipped.next.as_deref().unwrap())
        ),
        true,
    )
    .await;
    assert_eq!((rest.lines.len(), rest.next), (5, None));
}

async fn a_page_stays_under_five_megabytes(engine: Engine) {
    let mut options = ServerOptions::new(engine);
    options.config.limits.max_body_bytes = 512 * 1024;
    let server = TestServer::start(options).await;
    let uuid = Uuid::new_v4().to_string();
    // 18 events of about 330 KB: 6 MB in all, more than a page may carry.
    let attributes: serde_json::Map<String, Value> = (0..40)
        .map(|k| (format!("blob_{k}"), json!("x".repeat(8000))))
        .collect();
    for i in 0..18 {
        stored(
            &server,
            json!({"uuid": uuid, "event": "big", "timestamp": format!("2026-04-12T10:00:{i:02}Z"),
                   "attributes": attributes}),
        )
        .await;
    }
    let query = "from=2026-04-12T10:00:00Z&to=2026-04-12T10:01:00Z";
    let first = get_page(&server, query, false).await;
    assert_eq!(first.status, 200);
    assert!(first.bytes <= 5_000_000, "{} bytes", first.bytes);
    assert!(
        (10..18).contains(&first.lines.len()),
        "{} lines",
        first.lines.len()
    );
    let (all, pages) = export_all(&server, query).await;
    assert_eq!((all.len(), pages), (18, 2));
}

async fn bad_export_requests_are_4xx_in_the_envelope(engine: Engine) {
    let server = TestServer::start(ServerOptions::new(engine)).await;
    let uuid = Uuid::new_v4().to_string();
    for i in 0..3 {
        stored(
            &server,
            json!({"uuid": uuid, "event": "e", "timestamp": format!("2026-04-12T10:00:0{i}Z")}),
        )
        .await;
    }
    let get = |query: String, key: Option<&'static str>| {
        let server = &server;
        async move {
            let mut request = server.http.get(server.url(&format!("/export?{query}")));
            if let Some(key) = key {
                request = request.header("x-a-track-key", key);
            }
            answer(request.send().await.expect("request")).await
        }
    };
    let range = "from=2026-04-12T10:00:00Z&to=2026-04-12T11:00:00Z";
    for (query, field) in [
        ("to=2026-04-12T11:00:00Z".to_owned(), "from"),
        ("from=2026-04-12T10:00:00Z".to_owned(), "to"),
        ("from=yesterday&to=2026-04-12T11:00:00Z".to_owned(), "from"),
        (
            "from=2026-04-12T11:00:00Z&to=2026-04-12T10:00:00Z".to_owned(),
            "to",
        ),
        (
            "from=2026-03-01T00:00:00Z&to=2026-04-12T00:00:00Z".to_owned(),
            "to",
        ),
        (format!("{range}&format=csv"), "format"),
        (format!("{range}&limit=0"), "limit"),
        (format!("{range}&limit=10001"), "limit"),
        (format!("{range}&limit=ten"), "limit"),
    ] {
        let refused = get(query.clone(), Some(SECRET_KEY)).await;
        assert_error(&refused, 422, "validation_failed");
        assert_eq!(
            refused.body["error"]["details"][0]["field"], field,
            "{query}: {}",
            refused.body
        );
    }
    // A cursor is the range's own: forged, cut, or another range's, it is a 400.
    let first = get_page(&server, &format!("{range}&limit=1"), false).await;
    let cursor = first.next.expect("a cursor");
    for forged in [
        format!("{cursor}x"),
        cursor[..cursor.len() / 2].to_owned(),
        "not-a-cursor".to_owned(),
    ] {
        let refused = get(
            format!("{range}&cursor={}", urlencode(&forged)),
            Some(SECRET_KEY),
        )
        .await;
        assert_error(&refused, 400, "invalid_cursor");
    }
    let other_range = "from=2026-04-12T09:00:00Z&to=2026-04-12T11:00:00Z";
    let refused = get(
        format!("{other_range}&cursor={}", urlencode(&cursor)),
        Some(SECRET_KEY),
    )
    .await;
    assert_error(&refused, 400, "invalid_cursor");
    // Keys: the export needs a secret one.
    assert_error(&get(range.to_owned(), None).await, 401, "unauthorized");
    assert_error(
        &get(range.to_owned(), Some(PUBLIC_KEY)).await,
        403,
        "forbidden",
    );
    assert_error(
        &get(range.to_owned(), Some("sk_unknown")).await,
        401,
        "unauthorized",
    );
    // Other methods are not the export.
    let posted = server.post("/export", Some(SECRET_KEY), &json!({})).await;
    assert_eq!(posted.status, 405, "{}", posted.body);
}
