//! Per-project privacy settings through the HTTP API: IP anonymization after the GeoIP lookup
//! and before storage (inline, and for a queued init through the embedded worker and through
//! SQS), and retention through the TTL attribute (DynamoDB TTL on AWS, the embedded engine's
//! sweeper locally).
//!
//! Everything runs on both engines except the sweeper, which only the embedded engine has: on
//! DynamoDB, deleting expired items is the TTL's job, done by AWS days later. What the code
//! does on DynamoDB for retention is checked on both engines here: every item is stamped with
//! its `expires_at`, and reads leave expired items out until they are deleted. That TTL
//! removals reach event/show's totals is the `count` function's job, checked with stream
//! batches in counts.rs.

use std::sync::Arc;

use atrack_shared::domain::project::Project;
use atrack_shared::domain::settings::ProjectSettings;
use atrack_shared::domain::time::{ManualClock, Timestamp};
use atrack_shared::runtime::worker::process_sqs_batch;
use atrack_shared::store::AnyTable;
use atrack_shared::store::item::{Item, get_i64, get_s};
use atrack_shared::store::keys::{self, SK, TTL_ATTR};
use atrack_shared::store::table::{Query, SortRange, Table};
use atrack_tests::{
    Engine, Enrichment, ServerOptions, TestServer, assert_error, drain, new_queue, on_both_engines,
    sqs_client, sqs_event,
};
use serde_json::{Value, json};
use uuid::Uuid;

on_both_engines!(
    an_anonymizing_project_stores_no_full_address,
    retention_stamps_every_item_with_an_expiry,
    expired_items_are_hidden_before_they_are_deleted,
    a_queued_init_is_enriched_from_the_lookup_made_before_storage,
    a_session_lives_as_long_as_events_keep_arriving,
    an_anonymizing_project_cuts_addresses_in_every_shape,
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
            ..ProjectSettings::default()
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
            ..ProjectSettings::default()
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
    assert_eq!(
        items.len(),
        4,
        "session, visit, event and marker: {items:?}"
    );
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
/// counts. Embedded only: DynamoDB has no sweeper, its TTL does this on AWS (see the module
/// docs for what covers DynamoDB).
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
    assert_eq!(
        swept, 5,
        "the expired session, its visit and its three events"
    );

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
/// at init time, never the full address itself. Through both queues: the embedded worker (as
/// `atrack serve` runs it, over either store) and SQS feeding the enrich handler (as on AWS).
async fn a_queued_init_is_enriched_from_the_lookup_made_before_storage(engine: Engine) {
    let sqs = sqs_client().await;
    let url = new_queue(&sqs).await;
    for enrichment in [Enrichment::EmbeddedWorker, Enrichment::Sqs(url.clone())] {
        let mut options = ServerOptions::new(engine);
        options.geo = true;
        options.enrichment = enrichment.clone();
        let server = TestServer::start(options).await;
        set(
            &server,
            ProjectSettings {
                anonymize_ip: true,
                retention_days: None,
                ..ProjectSettings::default()
            },
        )
        .await;
        let uuid = Uuid::new_v4().to_string();
        let answer = server.public("/init", &init_body(&uuid)).await;
        assert_eq!(
            answer.body["queued"], true,
            "{enrichment:?}: {}",
            answer.body
        );

        if matches!(enrichment, Enrichment::Sqs(_)) {
            // Until the job runs, what is stored already holds no full address.
            let stored = format!("{:?}", session_items(server.table(), &uuid).await);
            assert!(!stored.contains(FULL_V4), "{enrichment:?}: {stored}");
            let messages = drain(&sqs, &url).await;
            assert_eq!(messages.len(), 1, "{enrichment:?}: one job");
            let job = messages[0].body().unwrap_or_default();
            assert!(!job.contains(FULL_V4), "the job carries no address: {job}");
            let response = process_sqs_batch(&server.app, sqs_event(&messages, &[])).await;
            assert!(
                response.batch_item_failures.is_empty(),
                "{enrichment:?}: {:?}",
                response.batch_item_failures
            );
        }
        let mut session = Value::Null;
        for _ in 0..100 {
            session = server.session(&uuid).await["session"].clone();
            if session["ip_data"]["ip"].is_string() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(
            session["ip_data"]["ip"], "50.89.98.0",
            "{enrichment:?}: {session}"
        );
        assert_eq!(session["ip_address"], "50.89.98.0", "{enrichment:?}");
        assert_eq!(
            session["ip_data"]["city"]["location"]["time_zone"], "America/New_York",
            "{enrichment:?}: the lookup saw the full address"
        );
        let stored = format!("{:?}", session_items(server.table(), &uuid).await);
        assert!(!stored.contains(FULL_V4), "{enrichment:?}: {stored}");
    }
}

/// Retention counts from a session's last activity of any kind: a visitor who only sends
/// events (no init or attributes since landing) keeps their session, its id and its
/// attribution for as long as the events come; once they stop, it expires with them.
async fn a_session_lives_as_long_as_events_keep_arriving(engine: Engine) {
    let start = Timestamp::parse_rfc3339("2026-12-01T10:00:00Z").unwrap();
    let (server, clock) = retention_server(engine, start, 1).await;
    let uuid = Uuid::new_v4().to_string();
    let mut init = init_body(&uuid);
    init["synchronous"] = json!(true);
    assert_eq!(server.public("/init", &init).await.status, 200);
    let landed = server.session(&uuid).await["session"].clone();
    assert_eq!(landed["utm_data"]["utm_source"], "news", "{landed}");

    // Three days of an event every twelve hours: far past the one-day retention of the init.
    for _ in 0..6 {
        clock.advance_millis(12 * 3_600_000);
        let event = json!({"uuid": uuid, "event": "heartbeat"});
        assert_eq!(server.public("/event", &event).await.status, 200);
        let session = server.session(&uuid).await["session"].clone();
        assert_eq!(
            session["id"], landed["id"],
            "the same session, not a new one"
        );
        assert_eq!(
            session["utm_data"], landed["utm_data"],
            "attribution is kept"
        );
    }

    // The events stop: a day later the session has expired with them.
    clock.advance_millis(86_400_000 + 1_000);
    let gone = server.public("/session/show", &json!({"uuid": uuid})).await;
    assert_error(&gone, 404, "not_found");
}

/// Client addresses in the shapes clients really send them (`ipAddress` with a port, in
/// brackets, as a forwarding list, or not an address at all): with IP anonymization on, no
/// uncut address is ever stored, whatever its shape.
async fn an_anonymizing_project_cuts_addresses_in_every_shape(engine: Engine) {
    let mut options = ServerOptions::new(engine);
    options.geo = true;
    let server = TestServer::start(options).await;
    set(
        &server,
        ProjectSettings {
            anonymize_ip: true,
            retention_days: None,
            ..ProjectSettings::default()
        },
    )
    .await;

    // (as sent, the address stored, a fragment of the full address that must appear nowhere)
    let cases = [
        ("50.89.98.90:443", Some("50.89.98.0"), "98.90"),
        ("50.89.98.90, 10.0.0.1", Some("50.89.98.0"), "98.90"),
        (
            "[2001:db8:85a3::8a2e:370:7348]:80",
            Some("2001:db8:85a3::"),
            // With its colon: digits alone turn up by chance in stored numbers and times (the
            // init sequence 1796173734898730 holds 7348).
            "370:7348",
        ),
        ("not an address 50.89.98.90", None, "98.90"),
        ("junk", None, "junk"),
    ];
    for (sent, stored, secret) in cases {
        let uuid = Uuid::new_v4().to_string();
        let init = json!({"uuid": uuid, "synchronous": true,
            "context": {"client": {"ipAddress": sent}}});
        let answer = server.public("/init", &init).await;
        assert_eq!(answer.status, 200, "{sent}: {}", answer.body);
        let event = json!({"uuid": uuid, "event": "view",
            "context": {"client": {"ipAddress": sent}}});
        assert_eq!(server.public("/event", &event).await.status, 200, "{sent}");

        let session = server.session(&uuid).await["session"].clone();
        assert_eq!(session["ip_address"].as_str(), stored, "{sent}: {session}");
        if stored.is_some_and(|ip| ip.starts_with("50.89")) {
            // The lookup still saw the full address (2001:db8:: is documentation space, with
            // no place in any database).
            assert!(session["ip_data"]["city"].is_object(), "{sent}: {session}");
        }
        let items = session_items(server.table(), &uuid).await;
        let event_row = items
            .iter()
            .find(|i| get_s(i, SK).is_some_and(|sk| sk.starts_with(keys::EVENT_SK_PREFIX)))
            .expect("the event row");
        assert_eq!(
            get_s(event_row, "ip_address"),
            stored,
            "{sent}: {event_row:?}"
        );
        let everything = format!("{items:?}");
        assert!(
            !everything.contains(secret),
            "{sent}: the full address is stored somewhere: {everything}"
        );
    }
}
