//! Visits and the automatic events over real HTTP on both engines: an init of a new UUID with
//! a URL shows `session.start` and `page.visit` in session/show at once; a visit idle past its
//! timeout ends with one `session.end` at its last activity, however many sweeps run, and the
//! next activity starts visit 2; an event after the timeout ends the old visit itself; every
//! event carries its visit and the session shows `visits` and `last_activity_at`; the plan's
//! lists apply to the server's own events; a project without automatic events records none.
//!
//! The visits' clock is the test's (a `ManualClock`), and the tests run the sweeps themselves:
//! timeouts pass in an instant, and nothing depends on how busy the machine is. On DynamoDB,
//! last activity is moved by the stream's consumer (`settle` reads the stream) and the sweeper
//! waits `STREAM_SETTLE_MICROS` past a deadline. `atrack serve`'s own sweeper, on real time,
//! is driven in cli/tests/projects.rs.

use std::sync::Arc;

use atrack_shared::domain::plan::{NameList, Naming, TrackingPlan};
use atrack_shared::domain::project::Project;
use atrack_shared::domain::time::{Clock, ManualClock, SystemClock, Timestamp};
use atrack_shared::domain::visit::DEFAULT_SESSION_TIMEOUT_SECS;
use atrack_shared::service::visits::STREAM_SETTLE_MICROS;
use atrack_tests::{Engine, ServerOptions, TestServer, on_both_engines};
use serde_json::{Value, json};
use uuid::Uuid;

on_both_engines!(
    an_init_of_a_new_uuid_shows_its_start_and_page_visit_at_once,
    an_idle_visit_ends_once_and_the_next_activity_starts_another,
    activity_after_the_timeout_ends_the_old_visit_without_a_sweep,
    the_plan_applies_to_the_automatic_events,
    without_automatic_events_only_visits_are_kept,
);

fn new_uuid() -> String {
    Uuid::new_v4().to_string()
}

/// A server whose project `default` has automatic events on.
async fn server(engine: Engine) -> TestServer {
    TestServer::start(ServerOptions {
        auto_events: true,
        ..ServerOptions::new(engine)
    })
    .await
}

async fn init(server: &TestServer, uuid: &str, title: Option<&str>) {
    let mut url = json!({
        "href": "https://shop.test/pricing?utm_source=news",
        "path": "/pricing",
        "referer": "https://news.test/",
    });
    if let Some(title) = title {
        url["title"] = json!(title);
    }
    let answer = server
        .public(
            "/init",
            &json!({"uuid": uuid, "synchronous": true, "context": {"url": url}}),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
}

async fn event(server: &TestServer, uuid: &str, name: &str) -> Value {
    let answer = server
        .public("/event", &json!({"uuid": uuid, "event": name}))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body
}

/// session/show's data.
async fn show(server: &TestServer, uuid: &str) -> Value {
    let answer = server.public("/session/show", &json!({"uuid": uuid})).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body["data"].clone()
}

/// The session's events of one name, oldest first.
fn named<'a>(data: &'a Value, name: &str) -> Vec<&'a Value> {
    let mut events: Vec<&Value> = data["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["name"] == name)
        .collect();
    events.reverse();
    events
}

fn time(value: &Value) -> Timestamp {
    Timestamp::parse_rfc3339(value.as_str().unwrap_or_else(|| panic!("a time: {value}"))).unwrap()
}

async fn an_init_of_a_new_uuid_shows_its_start_and_page_visit_at_once(engine: Engine) {
    let server = server(engine).await;
    let uuid = new_uuid();
    init(&server, &uuid, Some("Pricing")).await;
    let data = show(&server, &uuid).await;
    let starts = named(&data, "session.start");
    let pages = named(&data, "page.visit");
    assert_eq!((starts.len(), pages.len()), (1, 1), "{data}");
    assert_eq!(starts[0]["label"], "Started session");
    assert_eq!(starts[0]["visit"], 1);
    assert_eq!(pages[0]["label"], "Visited page Pricing");
    assert_eq!(pages[0]["visit"], 1);
    assert_eq!(
        pages[0]["attributes"],
        json!({
            "url": "https://shop.test/pricing?utm_source=news",
            "path": "/pricing",
            "referer": "https://news.test/",
        })
    );
    assert_eq!(data["session"]["visits"], 1, "{data}");
    let last = time(&data["session"]["last_activity_at"]);
    assert!(last >= time(&starts[0]["occurred_at"]), "{data}");

    // Another init within the visit: one more page visit (named by its path without a
    // title), no new start. An event is of visit 1 too.
    init(&server, &uuid, None).await;
    let answer = event(&server, &uuid, "product.buy").await;
    assert_eq!(answer["success"], true);
    let data = show(&server, &uuid).await;
    assert_eq!(named(&data, "session.start").len(), 1, "{data}");
    let pages = named(&data, "page.visit");
    assert_eq!(pages.len(), 2, "{data}");
    assert_eq!(pages[1]["label"], "Visited page /pricing");
    assert_eq!(named(&data, "product.buy")[0]["visit"], 1);
    assert_eq!(data["session"]["visits"], 1);

    // event/show's rows carry the visit too.
    let rows = server
        .secret("/event/show", &json!({"name": "page.visit"}))
        .await;
    assert_eq!(rows.status, 200, "{}", rows.body);
    let row = &rows.body["data"][0];
    assert_eq!(row["visit"], 1, "{}", rows.body);
    assert_eq!(row["label"], "Visited page /pricing");
}

/// A server on a clock the test moves, with automatic events on and the default timeout; the
/// test runs the sweeps itself (`atrack serve`'s own sweeper is driven in cli/tests).
async fn server_on_clock(engine: Engine) -> (TestServer, ManualClock) {
    let clock = ManualClock::new(SystemClock.now());
    let server = TestServer::start(ServerOptions {
        auto_events: true,
        clock: Arc::new(clock.clone()),
        ..ServerOptions::new(engine)
    })
    .await;
    (server, clock)
}

/// Moves the test's clock on by whole seconds.
fn advance(clock: &ManualClock, secs: i64) {
    clock.advance_millis(secs * 1000);
}

async fn an_idle_visit_ends_once_and_the_next_activity_starts_another(engine: Engine) {
    let (server, clock) = server_on_clock(engine).await;
    let timeout = i64::from(DEFAULT_SESSION_TIMEOUT_SECS);
    let settle = STREAM_SETTLE_MICROS / 1_000_000 + 1;
    let uuid = new_uuid();
    init(&server, &uuid, Some("Home")).await;
    // Activity keeps the visit open past the deadline its open item was written with: the
    // sweep moves the item on instead of ending the visit.
    let mut extended = 0;
    for _ in 0..3 {
        advance(&clock, timeout * 2 / 3);
        event(&server, &uuid, "product.view").await;
        server.settle().await;
        let report = server.app.sweep_visits().await.unwrap();
        assert_eq!(report.ended, 0, "{report:?}");
        extended += report.extended;
    }
    assert!(extended >= 1, "the open item was never moved on");
    let data = show(&server, &uuid).await;
    assert!(named(&data, "session.end").is_empty(), "{data}");
    let last_event = named(&data, "product.view")
        .last()
        .copied()
        .unwrap()
        .clone();
    assert_eq!(
        data["session"]["last_activity_at"],
        last_event["occurred_at"]
    );

    // Idle past the timeout (and the time the stream may trail on DynamoDB): one sweep ends
    // it, at its last activity.
    advance(&clock, timeout + settle);
    let report = server.app.sweep_visits().await.unwrap();
    assert_eq!(report.ended, 1, "{report:?}");
    let data = show(&server, &uuid).await;
    let ends = named(&data, "session.end");
    assert_eq!(ends.len(), 1, "{data}");
    assert_eq!(ends[0]["label"], "Session end");
    assert_eq!(ends[0]["visit"], 1);
    assert_eq!(ends[0]["occurred_at"], last_event["occurred_at"], "{data}");

    // More sweeps, two at once, end nothing again.
    let (a, b) = tokio::join!(server.app.sweep_visits(), server.app.sweep_visits());
    assert_eq!(a.unwrap().ended + b.unwrap().ended, 0);
    assert_eq!(named(&show(&server, &uuid).await, "session.end").len(), 1);

    // The next activity starts visit 2: the end, stored by the sweep just now, is no activity
    // of the visit it ends (on DynamoDB, once the stream's consumer has seen it).
    server.settle().await;
    advance(&clock, 5);
    event(&server, &uuid, "product.view").await;
    let data = show(&server, &uuid).await;
    assert_eq!(data["session"]["visits"], 2, "{data}");
    let starts = named(&data, "session.start");
    assert_eq!(starts.len(), 2, "{data}");
    assert_eq!(starts[1]["visit"], 2);
    assert_eq!(named(&data, "product.view").last().unwrap()["visit"], 2);
    assert_eq!(named(&data, "session.end").len(), 1, "{data}");
}

async fn activity_after_the_timeout_ends_the_old_visit_without_a_sweep(engine: Engine) {
    let (server, clock) = server_on_clock(engine).await;
    let timeout = i64::from(DEFAULT_SESSION_TIMEOUT_SECS);
    let uuid = new_uuid();
    init(&server, &uuid, None).await;
    let first = show(&server, &uuid).await;
    let opened = first["session"]["last_activity_at"].clone();
    advance(&clock, timeout + 1);
    event(&server, &uuid, "product.buy").await;
    let data = show(&server, &uuid).await;
    let ends = named(&data, "session.end");
    assert_eq!(ends.len(), 1, "{data}");
    assert_eq!(ends[0]["visit"], 1);
    assert_eq!(ends[0]["occurred_at"], opened, "{data}");
    assert_eq!(named(&data, "product.buy")[0]["visit"], 2);
    assert_eq!(data["session"]["visits"], 2);
    // The sweep that comes later ends visit 2, never visit 1 again.
    server.settle().await;
    advance(&clock, timeout + STREAM_SETTLE_MICROS / 1_000_000 + 1);
    let report = server.app.sweep_visits().await.unwrap();
    assert_eq!(report.ended, 1, "{report:?}");
    let data = show(&server, &uuid).await;
    let visits: Vec<&Value> = named(&data, "session.end")
        .into_iter()
        .map(|e| &e["visit"])
        .collect();
    assert_eq!(visits, [&json!(1), &json!(2)], "{data}");
}

async fn the_plan_applies_to_the_automatic_events(engine: Engine) {
    let server = server(engine).await;
    server
        .update_settings("default", |s| {
            s.plan = Arc::new(
                TrackingPlan::new(
                    Naming::Activity,
                    NameList::default(),
                    NameList::parse("page.*").unwrap(),
                )
                .unwrap(),
            );
        })
        .await;
    let uuid = new_uuid();
    init(&server, &uuid, Some("Pricing")).await;
    let data = show(&server, &uuid).await;
    assert_eq!(named(&data, "session.start").len(), 1, "{data}");
    assert!(named(&data, "page.visit").is_empty(), "{data}");
    let dropped = server
        .app
        .store
        .dropped_events(&Project::parse("default").unwrap())
        .await
        .unwrap();
    assert_eq!(dropped, 1);
}

async fn without_automatic_events_only_visits_are_kept(engine: Engine) {
    let server = TestServer::start(ServerOptions::new(engine)).await;
    let uuid = new_uuid();
    init(&server, &uuid, Some("Pricing")).await;
    event(&server, &uuid, "product.buy").await;
    let data = show(&server, &uuid).await;
    let names: Vec<&Value> = data["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["name"])
        .collect();
    assert_eq!(names, [&json!("product.buy")], "{data}");
    assert_eq!(data["events"][0]["visit"], 1);
    assert_eq!(data["session"]["visits"], 1);
    assert!(data["session"]["last_activity_at"].is_string(), "{data}");
}
