//! Per-project privacy settings through the HTTP API: IP anonymization after the GeoIP lookup
//! and before storage, and retention through the TTL attribute (DynamoDB TTL on AWS, the
//! embedded engine's sweeper locally).

use std::sync::Arc;

use atrack_shared::clock::{ManualClock, Timestamp};
use atrack_shared::settings::ProjectSettings;
use atrack_shared::store::AnyTable;
use atrack_shared::store::item::{Item, get_i64, get_s};
use atrack_shared::store::keys::{self, SK, TTL_ATTR};
use atrack_shared::store::repo::Project;
use atrack_shared::store::table::{Query, SortRange, Table};
use atrack_tests::{Engine, Enrichment, ServerOptions, TestServer, assert_error, on_both_engines};
use serde_json::{Value, json};
use uuid::Uuid;

on_both_engines!(
    an_anonymizing_project_stores_no_full_address,
    retention_stamps_every_item_with_an_expiry,
    expired_items_are_hidden_before_they_are_deleted
);

const FULL_V4: &str = "50.89.98.90";
const FULL_V6: &str = "2001:db8:85a3:8d3:1319:8a2e:370:7348";

async fn set(server: &TestServer, settings: ProjectSettings) {
    let project = Project::parse("default").unwrap();
    server
        .app
        .store
        .set_project_settings(&project, &settings)
        .await
        .unwrap();
}

/// A server on `engine` whose clock starts at `start` and stays there until advanced, with the
/// default project keeping items for `days`.
async fn retention_server(
    engine: Engine,
    start: Timestamp,
    days: u32,
) -> (TestServer, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(start));
    let mut options = ServerOptions::new(engine);
    options.clock = clock.clone();
    let server = TestServer::start(options).await;
    set(
        &server,
        ProjectSettings {
            anonymize_ip: false,
            retention_days: Some(days),
        },
    )
    .await;
    (server, clock)
}

/// Every item stored under a session's partition: the session, its events, any markers.
async fn session_items(table: &AnyTable, uuid: &str) -> Vec<Item> {
    table
        .query(Query {
            index: None,
            partition: keys::session_pk("default", uuid),
            range: SortRange::All,
            ascending: true,
            limit: 1000,
            start_after: None,
            skip: 0,
        })
        .await
        .unwrap()
        .items
}

fn init_body(uuid: &str) -> Value {
    json!({"uuid": uuid, "context": {
        "url": {"href": "https://shop.example/?utm_source=news"},
        "client": {"ipAddress": FULL_V4, "userAgent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64)"}}})
}

async fn an_anonymizing_project_stores_no_full_address(engine: Engine) {
    let mut options = ServerOptions::new(engine);
    options.geo = true;
    let server = TestServer::start(options).await;
    set(
        &server,
        ProjectSettings {
            anonymize_ip: true,
            retention_days: None,
        },
    )
    .await;
    let uuid = Uuid::new_v4().to_string();
    assert_eq!(server.public("/init", &init_body(&uuid)).await.status, 200);
    // One event takes the session's address, one brings its own IPv6 address.
    let plain = json!({"uuid": uuid, "event": "view"});
    assert_eq!(server.public("/event", &plain).await.status, 200);
    let own = json!({"uuid": uuid, "event": "view", "context": {"client": {"ipAddress": FULL_V6}}});
    assert_eq!(server.public("/event", &own).await.status, 200);

    let data = server.session(&uuid).await;
    let session = &data["session"];
    assert_eq!(session["ip_address"], "50.89.98.0");
    assert_eq!(session["ip_data"]["ip"], "50.89.98.0");
    // The lookup saw the full address: the city is the reference's.
    assert_eq!(
        session["ip_data"]["city"]["location"]["time_zone"], "America/New_York",
        "{session}"
    );
    // Event rows keep the address the event came from (not shown by session/show).
    let items = session_items(server.table(), &uuid).await;
    let mut event_ips: Vec<&str> = items
        .iter()
        .filter(|i| get_s(i, SK).is_some_and(|sk| sk.starts_with(keys::EVENT_SK_PREFIX)))
        .map(|i| get_s(i, "ip_address").unwrap_or_else(|| panic!("{i:?}")))
        .collect();
    event_ips.sort();
    assert_eq!(event_ips, ["2001:db8:85a3::", "50.89.98.0"]);

    // Nothing stored anywhere under the session holds the full addresses.
    let stored = format!("{items:?}");
    assert!(!stored.contains(FULL_V4), "{stored}");
    assert!(!stored.contains("8a2e"), "{stored}");
}

async fn retention_stamps_every_item_with_an_expiry(engine: Engine) {
    let start = Timestamp::parse_rfc3339("2026-11-25T10:00:00Z").unwrap();
    let (server, _clock) = retention_server(engine, start, 30).await;
    let uuid = Uuid::new_v4().to_string();
    assert_eq!(server.public("/init", &init_body(&uuid)).await.status, 200);
    let attrs = json!({"uuid": uuid, "attributes": {"plan": "pro"}});
    assert_eq!(server.public("/attributes", &attrs).await.status, 200);
    // A server-stamped event with an event_id also writes its retry marker.
    let event = json!({"uuid": uuid, "event": "signup", "event_id": Uuid::new_v4()});
    assert_eq!(server.public("/event", &event).await.status, 200);

    let expected = start.micros() / 1_000_000 + 30 * 86_400;
    let items = session_items(server.table(), &uuid).await;
    assert_eq!(items.len(), 3, "session, event and marker: {items:?}");
    for item in &items {
        assert_eq!(get_i64(item, TTL_ATTR), Some(expected), "{item:?}");
    }
}

fn signup_listing() -> Value {
    json!({"name": "signup"})
}

/// DynamoDB's TTL deletes an expired item days later; until then reads must not show it. The
/// clock here runs ahead of real time, so nothing is deleted: only the read-time check hides.
async fn expired_items_are_hidden_before_they_are_deleted(engine: Engine) {
    let start = Timestamp::parse_rfc3339("2026-12-01T10:00:00Z").unwrap();
    let (server, clock) = retention_server(engine, start, 1).await;
    let uuid = Uuid::new_v4().to_string();
    assert_eq!(server.public("/init", &init_body(&uuid)).await.status, 200);
    let signup = json!({"uuid": uuid, "event": "signup"});
    for _ in 0..2 {
        assert_eq!(server.public("/event", &signup).await.status, 200);
    }
    // Half a day on, an attributes write moves the session's expiry (an event does not write
    // the session item); a third event expires a day after it, the first two keep theirs.
    clock.advance_millis(12 * 3_600_000);
    let attrs = json!({"uuid": uuid, "attributes": {"plan": "pro"}});
    assert_eq!(server.public("/attributes", &attrs).await.status, 200);
    assert_eq!(server.public("/event", &signup).await.status, 200);

    clock.advance_millis(13 * 3_600_000);
    let session = server.session(&uuid).await;
    assert_eq!(
        session["events"].as_array().map(Vec::len),
        Some(1),
        "{session}"
    );
    let page = server.secret("/event/show", &signup_listing()).await.body;
    assert_eq!(page["data"].as_array().map(Vec::len), Some(1), "{page}");

    clock.advance_millis(2 * 86_400_000);
    let gone = server.public("/session/show", &json!({"uuid": uuid})).await;
    assert_error(&gone, 404, "not_found");
    let page = server.secret("/event/show", &signup_listing()).await.body;
    assert_eq!(page["data"], json!([]), "{page}");
}

/// The embedded engine's sweeper deletes what retention expired, with its index entries and
/// counts; DynamoDB's TTL does the same on AWS (and its removals reach the count function).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweeper_deletes_expired_items_and_their_counts() {
    let start = Timestamp::parse_rfc3339("2026-11-25T10:00:00Z").unwrap();
    let (server, clock) = retention_server(Engine::Embedded, start, 1).await;
    let expiring = Uuid::new_v4().to_string();
    assert_eq!(
        server.public("/init", &init_body(&expiring)).await.status,
        200
    );
    for _ in 0..3 {
        let event = json!({"uuid": expiring, "event": "signup"});
        assert_eq!(server.public("/event", &event).await.status, 200);
    }

    // Two days on, a new session is written; it has a day left.
    clock.advance_millis(2 * 86_400_000);
    let lasting = Uuid::new_v4().to_string();
    assert_eq!(
        server.public("/init", &init_body(&lasting)).await.status,
        200
    );
    let AnyTable::Embedded(table) = server.table() else {
        unreachable!("asked for the embedded engine")
    };
    let now = (start.micros() / 1_000_000 + 2 * 86_400) as u64;
    let swept = table.sweep_expired(now).await.unwrap();
    assert_eq!(swept, 4, "the expired session and its three events");

    let gone = server
        .public("/session/show", &json!({"uuid": expiring}))
        .await;
    assert_error(&gone, 404, "not_found");
    let shown = server
        .secret("/event/show", &json!({"name": "signup"}))
        .await;
    assert_eq!(shown.body["meta"]["total"], 0, "{}", shown.body);
    assert_eq!(shown.body["data"], json!([]));
    assert_eq!(server.session(&lasting).await["session"]["uuid"], lasting);
}

/// A queued init is enriched later, from what was stored: the lookup of the full address made
/// at init time, never the full address itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_init_is_enriched_from_the_lookup_made_before_storage() {
    let mut options = ServerOptions::new(Engine::Embedded);
    options.geo = true;
    options.enrichment = Enrichment::EmbeddedWorker;
    let server = TestServer::start(options).await;
    set(
        &server,
        ProjectSettings {
            anonymize_ip: true,
            retention_days: None,
        },
    )
    .await;
    let uuid = Uuid::new_v4().to_string();
    let answer = server.public("/init", &init_body(&uuid)).await;
    assert_eq!(answer.body["queued"], true, "{}", answer.body);
    let mut session = Value::Null;
    for _ in 0..100 {
        session = server.session(&uuid).await["session"].clone();
        if session["ip_data"]["ip"].is_string() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(session["ip_data"]["ip"], "50.89.98.0", "{session}");
    assert_eq!(
        session["ip_data"]["city"]["location"]["time_zone"],
        "America/New_York"
    );
}
