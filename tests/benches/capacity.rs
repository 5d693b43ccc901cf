//! DynamoDB capacity units per API call, measured: every endpoint with a typical payload,
//! served by the real router over loopback, stored on DynamoDB Local with
//! `ReturnConsumedCapacity: INDEXES` on every call.
//!
//! Run with `infra/bench-capacity.sh`, which starts DynamoDB Local; prints a Markdown table.
//! DynamoDB Local computes units by the same rules as DynamoDB (item size, consistency, index
//! writes, transactions), so these are the units an on-demand table on AWS would bill.

use std::sync::Arc;

use atrack_shared::domain::time::{ManualClock, Timestamp};
use atrack_shared::store::engine::dynamo::capacity::{CapacityMeter, Units};
use atrack_tests::{Engine, ServerOptions, TestServer};
use serde_json::{Value, json};
use uuid::Uuid;

/// Runs `calls` requests built by `body(i)` and prints the mean units per call.
struct Bench {
    server: TestServer,
    meter: Arc<CapacityMeter>,
}

impl Bench {
    async fn row<F>(&self, endpoint: &str, case: &str, calls: usize, secret: bool, body: F)
    where
        F: Fn(usize) -> Value,
    {
        let before = self.meter.read();
        for i in 0..calls {
            let answer = if secret {
                self.server.secret(endpoint, &body(i)).await
            } else {
                self.server.public(endpoint, &body(i)).await
            };
            assert_eq!(answer.status, 200, "{endpoint} {case}: {}", answer.body);
        }
        print_row(endpoint, case, calls, self.meter.read() - before);
    }
}

impl Bench {
    /// Like [`Bench::row`] for calls that each carry `per_call` events: units per event.
    async fn events_row<F>(
        &self,
        label: &str,
        case: &str,
        endpoint: &str,
        calls: usize,
        per_call: usize,
        body: F,
    ) where
        F: Fn(usize) -> Value,
    {
        let before = self.meter.read();
        for i in 0..calls {
            let answer = self.server.public(endpoint, &body(i)).await;
            assert_eq!(answer.status, 200, "{endpoint} {case}: {}", answer.body);
            assert_eq!(answer.body["events_queued"], per_call, "{}", answer.body);
        }
        print_row(
            label,
            &format!("{case} (per event)"),
            calls * per_call,
            self.meter.read() - before,
        );
    }
}

fn print_row(endpoint: &str, case: &str, calls: usize, used: Units) {
    let n = calls as f64;
    println!(
        "| {endpoint} | {case} | {calls} | {:.3} | {:.3} | {:.3} | {:.2} |",
        used.read / n,
        used.write / n,
        used.index_write / n,
        used.calls as f64 / n,
    );
}

fn init_body(uuid: &str, i: usize) -> Value {
    json!({
        "uuid": uuid,
        "context": {
            "url": {"href": format!(
                "https://shop.example.com/landing/{i}?utm_source=newsletter&utm_medium=email\
                 &utm_campaign=spring_sale&gclid=Cj0KCQjw{i}&ref=hero")},
            "client": {
                "ipAddress": "50.89.98.90",
                "userAgent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) \
                    AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
                "referrer": "https://www.google.com/",
                "language": "en-US",
                "screen": {"width": 390, "height": 844}
            },
            "user": {"attributes": {"plan": "trial"}}
        }
    })
}

fn event_attributes(i: usize) -> Value {
    json!({"sku": format!("SKU-{i:05}"), "price": 19.99, "currency": "USD"})
}

#[tokio::main]
async fn main() {
    let meter = Arc::new(CapacityMeter::new());
    let mut options = ServerOptions::new(Engine::Dynamo);
    options.geo = true;
    options.meter = Some(meter.clone());
    let bench = Bench {
        server: TestServer::start(options).await,
        meter,
    };
    // Resolve both keys once, so key lookups (cached per process for up to 60 s) are not
    // counted against the first calls.
    let warm = Uuid::new_v4().to_string();
    bench.server.public("/init", &json!({"uuid": warm})).await;
    bench
        .server
        .secret("/event/show", &json!({"name": "warmup"}))
        .await;

    let uuids: Vec<String> = (0..50).map(|_| Uuid::new_v4().to_string()).collect();
    let session = uuids[0].clone();
    let base = time::OffsetDateTime::now_utc().unix_timestamp() * 1000 - 3_600_000;

    println!(
        "| endpoint | case | calls | RCU/call | WCU/call | of which GSI | DynamoDB calls/call |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|");
    bench
        .row(
            "/init",
            "new session, full context, enriched inline",
            50,
            false,
            |i| init_body(&uuids[i], i),
        )
        .await;
    bench
        .row(
            "/init",
            "known session (a second page view)",
            50,
            false,
            |i| init_body(&uuids[i], i),
        )
        .await;
    bench
        .row("/attributes", "merge 5 keys", 50, false, |i| {
            json!({"uuid": uuids[i], "attributes": {
                "email": format!("user{i}@example.com"), "plan": "pro", "seats": 5,
                "company": "Example Ltd", "tags": ["beta", "eu"]}})
        })
        .await;
    bench
        .row("/event", "with event_id and timestamp", 200, false, |i| {
            json!({"uuid": session, "event": "add_to_cart", "event_id": Uuid::new_v4(),
                "timestamp": base + i as i64, "attributes": event_attributes(i)})
        })
        .await;
    bench
        .row("/event", "with event_id, no timestamp", 100, false, |i| {
            json!({"uuid": session, "event": "add_to_cart", "event_id": Uuid::new_v4(),
                "attributes": event_attributes(i)})
        })
        .await;
    bench
        .row(
            "/event",
            "no event_id",
            100,
            false,
            |i| json!({"uuid": session, "event": "add_to_cart", "attributes": event_attributes(i)}),
        )
        .await;
    let retried = Uuid::new_v4();
    bench
        .server
        .public(
            "/event",
            &json!({"uuid": session, "event": "add_to_cart",
            "event_id": retried, "timestamp": base, "attributes": event_attributes(0)}),
        )
        .await;
    bench
        .row(
            "/event",
            "retry of an acknowledged event_id",
            20,
            false,
            |_| {
                json!({"uuid": session, "event": "add_to_cart", "event_id": retried,
                "timestamp": base, "attributes": event_attributes(0)})
            },
        )
        .await;

    // Batches: units per *event* (each call carries 100), so they compare with /event's rows.
    let batch = |keyed: bool, offset: usize| {
        let session = session.clone();
        move |i: usize| {
            let events: Vec<Value> = (0..100)
                .map(|k| {
                    let n = offset + i * 100 + k;
                    let mut event = json!({"uuid": session, "event": "add_to_cart",
                        "category": "user_action", "attributes": event_attributes(n)});
                    if keyed {
                        event["event_id"] = json!(Uuid::new_v4());
                        event["timestamp"] = json!(base + n as i64);
                    }
                    event
                })
                .collect();
            json!({"events": events})
        }
    };
    bench
        .events_row(
            "/batch",
            "100 events with event_id and timestamp",
            "/batch",
            10,
            100,
            batch(true, 10_000),
        )
        .await;
    bench
        .events_row(
            "/batch",
            "100 events, no event_id",
            "/batch",
            10,
            100,
            batch(false, 20_000),
        )
        .await;

    // The count function's share: what counting the events above cost, per event.
    let before = bench.meter.read();
    bench.server.settle().await;
    print_row(
        "count (stream)",
        "per event counted, one stream batch",
        2401,
        bench.meter.read() - before,
    );
    let before = bench.meter.read();
    for _ in 0..20 {
        let answer = bench
            .server
            .bearer(
                "/api/v1/analytics/stats",
                Some(atrack_tests::SECRET_KEY),
                None,
            )
            .await;
        assert_eq!(answer.status, 200, "stats: {}", answer.body);
    }
    print_row(
        "/api/v1/analytics/stats",
        "a project's counts and the stream's status",
        20,
        bench.meter.read() - before,
    );

    bench
        .row(
            "/session/show",
            "a session with 401 events (newest 100)",
            20,
            false,
            |_| json!({"uuid": session}),
        )
        .await;
    bench
        .row(
            "/session/show",
            "a session with no events",
            20,
            false,
            |i| json!({"uuid": uuids[1 + i]}),
        )
        .await;
    bench
        .row(
            "/event/show",
            "page 1, 25 per page",
            20,
            true,
            |_| json!({"name": "add_to_cart"}),
        )
        .await;
    bench
        .row(
            "/event/show",
            "page 1, 100 per page",
            20,
            true,
            |_| json!({"name": "add_to_cart", "per_page": 100}),
        )
        .await;
    let first = bench
        .server
        .secret("/event/show", &json!({"name": "add_to_cart"}))
        .await;
    let cursor = first.body["meta"]["next_cursor"].clone();
    bench
        .row(
            "/event/show",
            "next page by cursor, 25 per page",
            20,
            true,
            |_| json!({"name": "add_to_cart", "cursor": cursor}),
        )
        .await;

    queries_and_deletion(&bench, &session, base).await;
    users_and_export(&bench, base).await;
    segment(&bench).await;
    visits().await;
}

/// What identify and the reads of users and companies cost, and a page of the export over
/// the events the rows above stored.
async fn users_and_export(bench: &Bench, base: i64) {
    let uuids: Vec<String> = (0..20).map(|_| Uuid::new_v4().to_string()).collect();
    bench
        .row("/identify", "new user, 2 traits", 20, false, |i| {
            json!({"uuid": uuids[i], "user_id": format!("user-{i}"),
                   "traits": {"email": format!("u{i}@example.com"), "plan": "pro"}})
        })
        .await;
    bench
        .row(
            "/identify",
            "same user again, with a company",
            20,
            false,
            |i| {
                json!({"uuid": uuids[i], "user_id": format!("user-{i}"),
                   "traits": {"plan": "team"}, "company_id": "acme",
                   "company_traits": {"name": "Acme"}})
            },
        )
        .await;
    bench
        .row(
            "/user/show",
            "1 UUID, with its company",
            20,
            true,
            |i| json!({"user_id": format!("user-{i}")}),
        )
        .await;
    bench.server.settle().await;
    bench
        .row(
            "/company/show",
            "20 members",
            20,
            true,
            |_| json!({"company_id": "acme"}),
        )
        .await;
    let range = |t: i64| {
        time::OffsetDateTime::from_unix_timestamp(t)
            .expect("time")
            .format(&time::format_description::well_known::Rfc3339)
            .expect("text")
    };
    let query = format!(
        "from={}&to={}",
        range(base / 1000 - 86_400),
        range(base / 1000 + 86_400)
    );
    for limit in [100, 1000] {
        let before = bench.meter.read();
        let calls = 5;
        let mut lines = 0;
        for _ in 0..calls {
            let response = bench
                .server
                .http
                .get(bench.server.url(&format!("/export?{query}&limit={limit}")))
                .header("x-a-track-key", atrack_tests::SECRET_KEY)
                .send()
                .await
                .expect("export");
            assert_eq!(response.status(), 200);
            lines = response.text().await.expect("page").lines().count();
        }
        print_row(
            "/export",
            &format!("a page of {lines} events (per event)"),
            calls * lines,
            bench.meter.read() - before,
        );
    }
}

/// What Segment's calls cost: batches of 100 tracks as Segment's libraries send them (each
/// with a messageId and the batch's sentAt, so each event has its event-id marker beside it),
/// and an identify.
async fn segment(bench: &Bench) {
    use base64::Engine as _;
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:", atrack_tests::PUBLIC_KEY))
    );
    let send = |path: &'static str, body: Value| {
        let request = bench
            .server
            .http
            .post(bench.server.url(path))
            .header("authorization", auth.clone())
            .json(&body);
        async move {
            let answer = atrack_tests::answer(request.send().await.expect("request")).await;
            assert_eq!(answer.body, json!({"success": true}), "{path}");
        }
    };
    let calls = 10;
    let before = bench.meter.read();
    for _ in 0..calls {
        let anon = Uuid::new_v4().to_string();
        let now = bench.server.app.now().to_string();
        let batch: Vec<Value> = (0..100)
            .map(|i| {
                json!({"type": "track", "messageId": Uuid::new_v4().to_string(),
                       "anonymousId": anon, "event": "Product Added",
                       "properties": event_attributes(i), "timestamp": now,
                       "context": {"library": {"name": "analytics-python", "version": "2.4.0"}}})
            })
            .collect();
        send("/v1/batch", json!({"batch": batch, "sentAt": now})).await;
    }
    print_row(
        "/v1/batch",
        "100 tracks with messageId and sentAt (per event)",
        calls * 100,
        bench.meter.read() - before,
    );
    let before = bench.meter.read();
    for i in 0..20 {
        send(
            "/v1/identify",
            json!({"anonymousId": Uuid::new_v4().to_string(), "userId": format!("seg-user-{i}"),
                   "messageId": Uuid::new_v4().to_string(),
                   "traits": {"email": format!("s{i}@example.com"), "plan": "pro"}}),
        )
        .await;
    }
    print_row(
        "/v1/identify",
        "new user, 2 traits",
        20,
        bench.meter.read() - before,
    );
}

/// What a filtered page costs on each index, and what deletion, the purge and erasure cost:
/// over the events the rows above stored (about 2,400 in the project, nearly all of them the
/// first session's `add_to_cart`).
async fn queries_and_deletion(bench: &Bench, session: &str, base: i64) {
    let since = time::OffsetDateTime::from_unix_timestamp(base / 1000 + 3_000)
        .expect("time")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("text");
    for (case, filter) in [
        (
            "device index: DeviceId eq, 100 of ~2,400",
            format!("DeviceId eq '{session}'"),
        ),
        (
            "name index: EventType eq, 100 of ~2,400",
            "EventType eq 'add_to_cart'".to_owned(),
        ),
        (
            "time index: EventTime ge (the last 10 minutes), 100",
            format!("EventTime ge {since}"),
        ),
        (
            "time index: a Payload value that one event has (reads the whole window)",
            "Payload/sku eq 'SKU-00007' and EventTime ge 2020-01-01".to_owned(),
        ),
    ] {
        bench
            .row(
                "/event/query",
                case,
                10,
                true,
                |_| json!({"filter": filter, "top": 100}),
            )
            .await;
    }
    let shown = bench
        .server
        .public("/session/show", &json!({"uuid": session}))
        .await;
    let ids: Vec<Value> = shown.body["data"]["events"]
        .as_array()
        .expect("events")
        .iter()
        .take(20)
        .map(|e| e["track_id"].clone())
        .collect();
    bench
        .row(
            "/event/delete",
            "an event (stage one)",
            ids.len(),
            true,
            |i| json!({"id": ids[i]}),
        )
        .await;
    let before = bench.meter.read();
    bench.server.settle().await;
    print_row(
        "count (stream)",
        "per event deleted: its counts moved",
        ids.len(),
        bench.meter.read() - before,
    );
    let before = bench.meter.read();
    let report = bench.server.app.purge_deleted().await.expect("purge");
    assert_eq!(report.purged, ids.len());
    print_row(
        "purge (scheduled)",
        "per event purged (a run with 20)",
        ids.len(),
        bench.meter.read() - before,
    );
    // Erasure, per item erased: the first session's whole partition.
    let before = bench.meter.read();
    let erased = bench
        .server
        .secret("/session/delete", &json!({"uuid": session}))
        .await;
    assert_eq!(erased.status, 200, "{}", erased.body);
    let items = erased.body["data"]["deleted_items"]
        .as_u64()
        .expect("deleted_items") as usize;
    print_row(
        "/session/delete",
        &format!(
            "per item erased (one call erasing {items}: events, tombstones, markers, the session)"
        ),
        items,
        bench.meter.read() - before,
    );
}

/// What visits cost: a project with automatic events on, 50 UUIDs each opening a visit with
/// an init, then one event each (so every event is its UUID's only activity in the stream
/// batch: the worst case for last activity, one touch per event), the stream's consumer,
/// and the sweep that ends the 50 visits once their timeout has passed.
async fn visits() {
    let meter = Arc::new(CapacityMeter::new());
    let start = time::OffsetDateTime::now_utc().unix_timestamp() * 1_000_000;
    let clock = ManualClock::new(Timestamp::from_micros(start));
    let mut options = ServerOptions::new(Engine::Dynamo);
    options.geo = true;
    options.meter = Some(meter.clone());
    options.auto_events = true;
    options.clock = Arc::new(clock.clone());
    let bench = Bench {
        server: TestServer::start(options).await,
        meter,
    };
    bench
        .server
        .public("/init", &json!({"uuid": Uuid::new_v4()}))
        .await;
    let uuids: Vec<String> = (0..50).map(|_| Uuid::new_v4().to_string()).collect();
    println!();
    println!("With automatic visit events on (`--auto-events true`):");
    println!();
    println!(
        "| endpoint | case | calls | RCU/call | WCU/call | of which GSI | DynamoDB calls/call |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|");
    bench
        .row(
            "/init",
            "new UUID: session.start, page.visit, visit and open-visit items",
            50,
            false,
            |i| init_body(&uuids[i], i),
        )
        .await;
    bench
        .row(
            "/init",
            "known UUID within its visit: page.visit",
            50,
            false,
            |i| init_body(&uuids[i], i),
        )
        .await;
    // A second on: the events are later activity than the inits.
    clock.advance_millis(1000);
    bench
        .row(
            "/event",
            "no event_id, within the visit, 50 UUIDs",
            50,
            false,
            |i| json!({"uuid": uuids[i], "event": "add_to_cart", "attributes": event_attributes(i)}),
        )
        .await;
    let before = bench.meter.read();
    bench.server.settle().await;
    print_row(
        "count (stream)",
        "per event: counts and last activity (one touch per UUID per batch)",
        50,
        bench.meter.read() - before,
    );
    clock.advance_millis(
        (i64::from(atrack_shared::domain::visit::DEFAULT_SESSION_TIMEOUT_SECS) + 60) * 1000,
    );
    let before = bench.meter.read();
    let report = bench.server.app.sweep_visits().await.expect("sweep");
    assert_eq!(report.ended, 51, "{report:?}");
    print_row(
        "sweep",
        "per visit ended: its session.end and marker, the open item removed",
        report.ended,
        bench.meter.read() - before,
    );
}
