//! Deletion and erasure over real HTTP on both engines: a deleted event vanishes at once from
//! every read (session/show, event/show and its total, queries on each index, the profile
//! store's routes, the stats), exactly once; the purge leaves only a keys-only tombstone that
//! keeps a retried event deleted; the cap of deletions waiting for the purge answers 429 with
//! `Retry-After`; erasing a session leaves nothing of it in the store.
//!
//! On DynamoDB, totals and stats are kept by the stream consumer: the tests settle it (as the
//! `count` function would) and poll within a bound before they compare.

use std::time::Duration;

use atrack_shared::domain::project::Project;
use atrack_shared::store::item::{Attr, get_s};
use atrack_shared::store::keys;
use atrack_shared::store::table::{Query, SortRange, Table};
use atrack_tests::{
    Answer, Engine, PUBLIC_KEY, SECRET_KEY, ServerOptions, TestServer, answer, assert_error,
    on_both_engines,
};
use serde_json::{Value, json};
use uuid::Uuid;

on_both_engines!(
    a_deleted_event_vanishes_from_every_read_at_once,
    deleting_twice_or_an_unknown_id_is_404_and_changes_nothing,
    the_profile_store_deletes_by_scope_and_id,
    the_purge_leaves_a_tombstone_that_keeps_a_retry_deleted,
    deletions_past_the_cap_wait_for_the_purge_with_429,
    erasing_a_session_leaves_nothing_of_it,
);

/// How long DynamoDB's stream-kept counts may take to catch up before a test fails.
const CATCH_UP: Duration = Duration::from_secs(30);

async fn server(engine: Engine) -> TestServer {
    TestServer::start(ServerOptions::new(engine)).await
}

fn new_uuid() -> String {
    Uuid::new_v4().to_string()
}

/// Stores three events on a new UUID (`a` and `b` of one name, `c` of another, each with a
/// client id and time) and returns the UUID and the events as session/show lists them,
/// newest first.
async fn three_events(server: &TestServer) -> (String, Vec<Value>) {
    let uuid = new_uuid();
    let events: Vec<Value> = [
        ("checkout", "a", "2026-04-12T02:00:00Z"),
        ("checkout", "b", "2026-04-12T02:01:00Z"),
        ("signup", "c", "2026-04-12T02:02:00Z"),
    ]
    .iter()
    .map(|(name, label, at)| {
        json!({"uuid": uuid, "event": name, "label": label, "timestamp": at,
               "event_id": new_uuid(), "category": "trading"})
    })
    .collect();
    let stored = server.public("/batch", &json!({"events": events})).await;
    assert_eq!(stored.status, 200, "{}", stored.body);
    server.settle().await;
    // Ours only: with automatic events on, the visit's start is there too.
    let shown: Vec<Value> = server.session(&uuid).await["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["label"].as_str().is_some_and(|l| l.len() == 1))
        .cloned()
        .collect();
    assert_eq!(shown.len(), 3);
    (uuid, shown)
}

fn labels(rows: &Value) -> Vec<String> {
    rows.as_array()
        .unwrap_or_else(|| panic!("not a list: {rows}"))
        .iter()
        .map(|r| r["label"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn event_show(server: &TestServer, name: &str) -> Value {
    let answer = server
        .secret("/event/show", &json!({"name": name, "per_page": 100}))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body
}

async fn query(server: &TestServer, filter: &str) -> Value {
    let found = server
        .secret("/event/query", &json!({"filter": filter}))
        .await;
    assert_eq!(found.status, 200, "{}", found.body);
    found.body
}

async fn stats_total(server: &TestServer) -> (u64, u64) {
    let answer = server
        .bearer("/api/v1/analytics/stats", Some(SECRET_KEY), None)
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    (
        answer.body["total_events"].as_u64().expect("total"),
        answer.body["events_by_category"]["trading"]
            .as_u64()
            .expect("trading"),
    )
}

/// Settles the stream and polls until `check` holds (at once on the embedded engine).
async fn eventually<F, Fut>(server: &TestServer, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + CATCH_UP;
    loop {
        server.settle().await;
        if check().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not reached within {CATCH_UP:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn delete(server: &TestServer, id: &Value) -> Answer {
    server.secret("/event/delete", &json!({"id": id})).await
}

/// Every item of a session's partition, as stored.
async fn partition(server: &TestServer, uuid: &str) -> Vec<atrack_shared::store::item::Item> {
    server
        .table()
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
        .expect("query")
        .items
}

async fn pending(server: &TestServer) -> u64 {
    server
        .app
        .store
        .pending_deletes(&Project::parse("default").unwrap())
        .await
        .expect("pending")
}

async fn a_deleted_event_vanishes_from_every_read_at_once(engine: Engine) {
    let server = server(engine).await;
    let (uuid, shown) = three_events(&server).await;
    eventually(&server, "counts of the three events", || async {
        event_show(&server, "checkout").await["meta"]["total"] == 2
            && stats_total(&server).await == (3, 3)
    })
    .await;
    // The middle one, `b`.
    let target = &shown[1];
    assert_eq!(target["label"], "b");
    let id = &target["track_id"];
    assert_eq!(id.as_str().map(str::len), Some(54), "{target}");

    let deleted = delete(&server, id).await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    assert_eq!(deleted.body["data"], json!({"id": id, "deleted": true}));

    // At once: the session's events, the name's listing, each index of the queries, the
    // profile store's listing.
    assert_eq!(labels(&server.session(&uuid).await["events"]), ["c", "a"]);
    assert_eq!(
        labels(&event_show(&server, "checkout").await["data"]),
        ["a"]
    );
    for filter in [
        format!("DeviceId eq '{uuid}'"),
        "EventType eq 'checkout'".to_owned(),
        "Value eq 'b' or Value eq 'a'".to_owned(),
    ] {
        let found = query(&server, &filter).await;
        assert!(
            !labels(&found["data"]).contains(&"b".to_owned()),
            "{filter}: {found}"
        );
    }
    let filter: String =
        url::form_urlencoded::byte_serialize(format!("DeviceId eq '{uuid}'").as_bytes()).collect();
    let listed = server
        .http
        .get(server.url(&format!("/api/v2.0/TrackEvents?$filter={filter}")))
        .header("authorization", format!("epi-single {SECRET_KEY}"))
        .send()
        .await
        .expect("request");
    let listed = answer(listed).await;
    assert_eq!(listed.body["count"], 2, "{}", listed.body);
    // Totals and stats follow, exactly once: a second pass of the stream moves nothing.
    eventually(&server, "counts after the deletion", || async {
        event_show(&server, "checkout").await["meta"]["total"] == 1
            && stats_total(&server).await == (2, 2)
            && pending(&server).await == 1
    })
    .await;
    server.settle().await;
    assert_eq!(event_show(&server, "checkout").await["meta"]["total"], 1);
    assert_eq!(stats_total(&server).await, (2, 2));
}

async fn deleting_twice_or_an_unknown_id_is_404_and_changes_nothing(engine: Engine) {
    let server = server(engine).await;
    let (uuid, shown) = three_events(&server).await;
    let id = &shown[0]["track_id"];
    assert_eq!(delete(&server, id).await.status, 200);
    assert_error(&delete(&server, id).await, 404, "not_found");
    // Ids that name nothing: garbage, an event of another UUID, a session's own key.
    for bogus in [
        json!("not-a-track-id"),
        json!("A".repeat(54)),
        json!("é".repeat(27)),
    ] {
        assert_error(&delete(&server, &bogus).await, 404, "not_found");
    }
    assert_error(
        &server.secret("/event/delete", &json!({})).await,
        422,
        "validation_failed",
    );
    assert_error(
        &server.secret("/event/delete", &json!({"id": 7})).await,
        422,
        "validation_failed",
    );
    // A public key may not delete.
    let refused = server
        .public("/event/delete", &json!({"id": shown[1]["track_id"]}))
        .await;
    assert_error(&refused, 403, "forbidden");
    assert_eq!(labels(&server.session(&uuid).await["events"]), ["b", "a"]);
    eventually(&server, "one pending deletion", || async {
        pending(&server).await == 1
    })
    .await;
}

async fn the_profile_store_deletes_by_scope_and_id(engine: Engine) {
    let server = server(engine).await;
    let (uuid, shown) = three_events(&server).await;
    let id = shown[0]["track_id"].as_str().expect("track id");
    let delete = |path: String, key: &'static str| {
        let request = server
            .http
            .delete(server.url(&path))
            .header("authorization", format!("epi-single {key}"));
        async move { answer(request.send().await.expect("request")).await }
    };
    // Another scope names nothing here; a public key may not delete.
    let other = delete(format!("/api/v2.0/TrackEvents/other/{id}"), SECRET_KEY).await;
    assert_eq!(other.status, 404, "{}", other.body);
    assert_eq!(other.body["error"]["code"], "not_found", "{}", other.body);
    let public = delete(format!("/api/v2.0/TrackEvents/default/{id}"), PUBLIC_KEY).await;
    assert_eq!(public.status, 403, "{}", public.body);
    assert_eq!(labels(&server.session(&uuid).await["events"]).len(), 3);

    let done = delete(format!("/api/v2.0/TrackEvents/default/{id}"), SECRET_KEY).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(done.body, json!({}));
    assert_eq!(labels(&server.session(&uuid).await["events"]), ["b", "a"]);
    let again = delete(format!("/api/v2.0/TrackEvents/default/{id}"), SECRET_KEY).await;
    assert_eq!(again.status, 404, "{}", again.body);
}

async fn the_purge_leaves_a_tombstone_that_keeps_a_retry_deleted(engine: Engine) {
    let server = server(engine).await;
    let uuid = new_uuid();
    let event = json!({"uuid": uuid, "event": "checkout", "label": "x",
        "timestamp": "2026-04-12T02:00:00Z", "event_id": new_uuid(),
        "attributes": {"email": "someone@example.com"}});
    let stored = server.public("/batch", &json!({"events": [event]})).await;
    assert_eq!(stored.status, 200, "{}", stored.body);
    let shown = server.session(&uuid).await;
    let id = shown["events"][0]["track_id"].clone();
    assert_eq!(delete(&server, &id).await.status, 200);
    eventually(&server, "one pending deletion", || async {
        pending(&server).await == 1
    })
    .await;

    let report = server.app.purge_deleted().await.expect("purge");
    assert_eq!(report.purged, 1);
    // Nothing of the event is left but its keys: no name, no attributes, no address.
    let stored = partition(&server, &uuid).await;
    let event_items: Vec<_> = stored
        .iter()
        .filter(|i| get_s(i, keys::SK).is_some_and(|sk| sk.starts_with("EV#")))
        .collect();
    assert_eq!(event_items.len(), 1);
    let names: Vec<&str> = event_items[0].keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [keys::PK, keys::SK, keys::DELETED_AT, keys::TTL_ATTR]
    );
    assert!(matches!(
        event_items[0].get(keys::TTL_ATTR),
        Some(Attr::N(_))
    ));
    eventually(&server, "no pending deletion", || async {
        pending(&server).await == 0
    })
    .await;
    assert_eq!(server.app.purge_deleted().await.expect("purge").purged, 0);

    // The client retries the event: the tombstone takes its key, nothing comes back.
    let retry = server.public("/batch", &json!({"events": [event]})).await;
    assert_eq!(retry.status, 200, "{}", retry.body);
    assert_eq!(
        retry.body["results"][0]["status"], "duplicate",
        "{}",
        retry.body
    );
    assert_eq!(server.session(&uuid).await["events"], json!([]));
    assert_eq!(event_show(&server, "checkout").await["data"], json!([]));
}

async fn deletions_past_the_cap_wait_for_the_purge_with_429(engine: Engine) {
    let mut options = ServerOptions::new(engine);
    options.config.max_pending_deletes = 2;
    let server = TestServer::start(options).await;
    let (_, shown) = three_events(&server).await;
    assert_eq!(delete(&server, &shown[0]["track_id"]).await.status, 200);
    assert_eq!(delete(&server, &shown[1]["track_id"]).await.status, 200);
    eventually(&server, "two pending deletions", || async {
        pending(&server).await == 2
    })
    .await;

    let refused = server
        .http
        .post(server.url("/event/delete"))
        .header("x-a-track-key", SECRET_KEY)
        .json(&json!({"id": shown[2]["track_id"]}))
        .send()
        .await
        .expect("request");
    let retry_after: u64 = refused
        .headers()
        .get("retry-after")
        .expect("Retry-After")
        .to_str()
        .expect("text")
        .parse()
        .expect("seconds");
    // No purge has run: the whole configured interval (a day by default).
    assert_eq!(retry_after, 24 * 3600);
    let refused = answer(refused).await;
    assert_error(&refused, 429, "too_many_pending_deletes");
    // The profile store's route says the same.
    let id = shown[2]["track_id"].as_str().expect("id");
    let compat = server
        .http
        .delete(server.url(&format!("/api/v2.0/TrackEvents/default/{id}")))
        .header("authorization", format!("epi-single {SECRET_KEY}"))
        .send()
        .await
        .expect("request");
    assert_eq!(compat.status(), 429);
    assert!(compat.headers().get("retry-after").is_some());

    // After a purge, deletions go on.
    server.app.purge_deleted().await.expect("purge");
    eventually(&server, "no pending deletion", || async {
        pending(&server).await == 0
    })
    .await;
    assert_eq!(delete(&server, &shown[2]["track_id"]).await.status, 200);
}

async fn erasing_a_session_leaves_nothing_of_it(engine: Engine) {
    let mut options = ServerOptions::new(engine);
    // Visits too: a visit item, an open-visit entry and automatic events are the session's.
    options.auto_events = true;
    let server = TestServer::start(options).await;
    let (uuid, shown) = three_events(&server).await;
    let other = new_uuid();
    let stored = server
        .public("/event", &json!({"uuid": other, "event": "checkout"}))
        .await;
    assert_eq!(stored.status, 200, "{}", stored.body);
    let set = server
        .public(
            "/attributes",
            &json!({"uuid": uuid, "attributes": {"email": "someone@example.com"}}),
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.body);
    // One of its events deleted, waiting for the purge: erased with the rest.
    assert_eq!(delete(&server, &shown[0]["track_id"]).await.status, 200);
    let before = partition(&server, &uuid).await.len();
    assert!(before >= 6, "session, visit, events: {before}");

    let erased = server
        .secret("/session/delete", &json!({"uuid": uuid}))
        .await;
    assert_eq!(erased.status, 200, "{}", erased.body);
    assert_eq!(
        erased.body["data"],
        json!({"uuid": uuid, "deleted_items": before})
    );
    assert!(partition(&server, &uuid).await.is_empty());
    let shown = server.public("/session/show", &json!({"uuid": uuid})).await;
    assert_error(&shown, 404, "not_found");
    let found = query(&server, &format!("DeviceId eq '{uuid}'")).await;
    assert_eq!(found["data"], json!([]));
    // Counts: only the other session's event is left, nothing waits for the purge.
    eventually(&server, "counts after the erasure", || async {
        event_show(&server, "checkout").await["meta"]["total"] == 1 && pending(&server).await == 0
    })
    .await;
    let listed = event_show(&server, "checkout").await;
    assert_eq!(listed["data"][0]["uuid"], other.as_str());

    // Nothing left to erase; a public key may not; a bad UUID is invalid.
    assert_error(
        &server
            .secret("/session/delete", &json!({"uuid": uuid}))
            .await,
        404,
        "not_found",
    );
    assert_error(
        &server
            .public("/session/delete", &json!({"uuid": other}))
            .await,
        403,
        "forbidden",
    );
    assert_error(
        &server
            .secret("/session/delete", &json!({"uuid": "nope"}))
            .await,
        422,
        "validation_failed",
    );
}
