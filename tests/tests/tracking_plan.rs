//! The per-project tracking plan over real HTTP on both engines: `--naming activity` refuses a
//! badly named event with a 422 on `event` and stores nothing; the allow and deny lists drop
//! what they exclude (answered `"dropped": true`, never stored, counted exactly), deny winning
//! over allow; `/batch` answers each item `stored`, `dropped` or `invalid`; the analytics
//! API's routes apply the same plan in their own shapes; the dropped count shows in the stats;
//! and a changed plan reaches the server within the settings cache's lifetime.
//!
//! The plan is set through the repository, as `atrack projects set` does (`cli/tests/projects.rs`
//! drives the command itself), before the server first reads the project's settings.

use std::sync::Arc;
use std::time::{Duration, Instant};

use atrack_shared::domain::plan::{ACTIVITY_RULE, NameList, Naming, TrackingPlan};
use atrack_shared::domain::project::Project;
use atrack_shared::domain::settings::ProjectSettings;
use atrack_shared::store::engine::dynamo::capacity::CapacityMeter;
use atrack_tests::{
    Answer, Engine, PUBLIC_KEY, SECRET_KEY, ServerOptions, TestServer, assert_error,
    on_both_engines,
};
use serde_json::{Value, json};
use uuid::Uuid;

on_both_engines!(
    activity_naming_refuses_drops_and_stores_as_the_issue_says,
    an_allow_list_stores_only_what_it_names_and_deny_wins,
    a_star_matches_every_name_in_either_list,
    batch_items_are_stored_dropped_or_invalid_each_at_its_place,
    a_batch_counts_its_drops_in_one_write,
    analytics_routes_apply_the_same_plan_in_their_own_shapes,
    a_changed_plan_reaches_the_server_within_the_cache_lifetime,
);

fn new_uuid() -> String {
    Uuid::new_v4().to_string()
}

fn plan(naming: Naming, allow: &str, deny: &str) -> TrackingPlan {
    TrackingPlan::new(
        naming,
        NameList::parse(allow).unwrap(),
        NameList::parse(deny).unwrap(),
    )
    .unwrap()
}

/// Sets project `default`'s plan in the server's store.
async fn set_plan(server: &TestServer, plan: TrackingPlan) {
    let settings = ProjectSettings {
        plan: Arc::new(plan),
        ..ProjectSettings::default()
    };
    server
        .app
        .store
        .set_project_settings(&Project::parse("default").unwrap(), &settings)
        .await
        .unwrap();
}

/// A server whose project `default` has this plan from the start.
async fn server_with(engine: Engine, plan: TrackingPlan) -> TestServer {
    let server = TestServer::start(ServerOptions::new(engine)).await;
    set_plan(&server, plan).await;
    server
}

async fn event(server: &TestServer, body: Value) -> Answer {
    server.public("/event", &body).await
}

/// The names of a session's stored events, oldest first; none when there is no session.
async fn stored_names(server: &TestServer, uuid: &str) -> Vec<String> {
    let answer = server.public("/session/show", &json!({"uuid": uuid})).await;
    if answer.status == 404 {
        return Vec::new();
    }
    assert_eq!(answer.status, 200, "{}", answer.body);
    let mut names: Vec<String> = answer.body["data"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_owned())
        .collect();
    names.reverse();
    names
}

/// The analytics stats' `events_dropped`, asserting 200.
async fn dropped_in_stats(server: &TestServer) -> u64 {
    let answer = analytics(server, "/api/v1/analytics/stats", SECRET_KEY, None).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body["events_dropped"]
        .as_u64()
        .unwrap_or_else(|| panic!("no events_dropped: {}", answer.body))
}

/// The dropped count as the store holds it (what `atrack projects show` prints).
async fn dropped_in_store(server: &TestServer) -> u64 {
    server
        .app
        .store
        .dropped_events(&Project::parse("default").unwrap())
        .await
        .unwrap()
}

/// A request to the analytics API with a Bearer key: a GET without a body, else a POST.
async fn analytics(server: &TestServer, path: &str, key: &str, body: Option<&Value>) -> Answer {
    let request = match body {
        None => server.http.get(server.url(path)),
        Some(body) => server.http.post(server.url(path)).json(body),
    };
    let response = request
        .header("authorization", format!("Bearer {key}"))
        .send()
        .await
        .expect("request");
    atrack_tests::answer(response).await
}

async fn activity_naming_refuses_drops_and_stores_as_the_issue_says(engine: Engine) {
    let server = server_with(engine, plan(Naming::Activity, "", "debug.*")).await;
    let uuid = new_uuid();

    let refused = event(&server, json!({"uuid": uuid, "event": "Checkout Started"})).await;
    assert_error(&refused, 422, "validation_failed");
    assert_eq!(
        refused.body["error"]["details"],
        json!([{"field": "event", "message": ACTIVITY_RULE}])
    );
    // Refused before anything was written: not even a session for the UUID.
    assert_eq!(
        server
            .public("/session/show", &json!({"uuid": uuid}))
            .await
            .status,
        404
    );

    let dropped = event(&server, json!({"uuid": uuid, "event": "debug.trace"})).await;
    assert_eq!(dropped.status, 200, "{}", dropped.body);
    assert_eq!(
        dropped.body,
        json!({"success": true, "uuid": uuid, "queued": false, "dropped": true})
    );

    let stored = event(
        &server,
        json!({"uuid": uuid, "event": "product.buy", "label": "Bought the Pro plan"}),
    )
    .await;
    assert_eq!(
        stored.body,
        json!({"success": true, "uuid": uuid, "queued": false})
    );

    let session = server.session(&uuid).await;
    let events = session["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "only product.buy is stored: {session}");
    assert_eq!(events[0]["name"], "product.buy");
    assert_eq!(events[0]["label"], "Bought the Pro plan");

    // One drop, counted once; the refused event is not a drop.
    assert_eq!(dropped_in_store(&server).await, 1);
    assert_eq!(dropped_in_stats(&server).await, 1);
}

async fn an_allow_list_stores_only_what_it_names_and_deny_wins(engine: Engine) {
    let server = server_with(
        engine,
        plan(Naming::Free, "product.*, page.visit", "product.debug"),
    )
    .await;
    let uuid = new_uuid();
    for (name, kept) in [
        ("product.buy", true),
        ("page.visit", true),
        // Allowed by product.*, denied exactly: deny wins.
        ("product.debug", false),
        // Valid under free naming, but not in the allow list.
        ("Checkout Started", false),
        ("page.leave", false),
        // An exact entry is exact.
        ("page.visit.2", false),
        ("product.view", true),
    ] {
        let answer = event(&server, json!({"uuid": uuid, "event": name})).await;
        assert_eq!(answer.status, 200, "{name}: {}", answer.body);
        assert_eq!(
            answer.body.get("dropped"),
            (!kept).then_some(&Value::Bool(true)),
            "{name}: {}",
            answer.body
        );
    }
    assert_eq!(
        stored_names(&server, &uuid).await,
        ["product.buy", "page.visit", "product.view"]
    );
    assert_eq!(dropped_in_store(&server).await, 4);
    assert_eq!(dropped_in_stats(&server).await, 4);
}

async fn a_star_matches_every_name_in_either_list(engine: Engine) {
    // Deny everything: nothing is stored, not even the session an event would make.
    let server = server_with(engine, plan(Naming::Free, "", "*")).await;
    let uuid = new_uuid();
    for name in ["product.buy", "Checkout Started", "x"] {
        let answer = event(&server, json!({"uuid": uuid, "event": name})).await;
        assert_eq!(answer.body["dropped"], true, "{name}: {}", answer.body);
    }
    assert_eq!(
        server
            .public("/session/show", &json!({"uuid": uuid}))
            .await
            .status,
        404
    );
    assert_eq!(dropped_in_store(&server).await, 3);

    // Allow everything but one family.
    let server = server_with(engine, plan(Naming::Free, "*", "debug.*")).await;
    let uuid = new_uuid();
    for name in ["anything at all", "debug.trace", "debug"] {
        event(&server, json!({"uuid": uuid, "event": name})).await;
    }
    assert_eq!(
        stored_names(&server, &uuid).await,
        ["anything at all", "debug"]
    );
    assert_eq!(dropped_in_store(&server).await, 1);
}

async fn batch_items_are_stored_dropped_or_invalid_each_at_its_place(engine: Engine) {
    let server = server_with(engine, plan(Naming::Activity, "", "debug.*")).await;
    let uuid = new_uuid();
    let bought = Uuid::new_v4().to_string();
    let traced = Uuid::new_v4().to_string();
    let batch = json!({"events": [
        {"uuid": uuid, "event": "product.buy", "event_id": bought,
         "timestamp": "2026-04-12T02:10:00Z", "label": "Bought"},
        {"uuid": uuid, "event": "debug.trace", "event_id": traced},
        {"uuid": uuid, "event": "Checkout Started"},
        {"uuid": uuid, "event": "debug.other"},
        {"uuid": uuid},
        {"uuid": uuid, "event": "product.view"},
    ]});
    let answer = server.public("/batch", &batch).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let body = &answer.body;
    assert_eq!(
        (
            &body["events_received"],
            &body["events_queued"],
            &body["events_failed"]
        ),
        (&json!(6), &json!(2), &json!(4)),
        "{body}"
    );
    let results = body["results"].as_array().unwrap();
    let statuses: Vec<&str> = results
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        [
            "stored", "dropped", "invalid", "dropped", "invalid", "stored"
        ]
    );
    assert_eq!(results[0]["event_id"], bought.as_str());
    // A dropped item names the client's event_id when it sent one, and nothing else.
    assert_eq!(
        results[1],
        json!({"index": 1, "status": "dropped", "event_id": traced})
    );
    assert_eq!(results[3], json!({"index": 3, "status": "dropped"}));
    assert_eq!(
        results[2]["error"]["details"],
        json!([{"field": "event", "message": ACTIVITY_RULE}])
    );
    assert_eq!(results[2]["error"]["code"], "validation_failed");
    assert_eq!(
        stored_names(&server, &uuid).await,
        ["product.buy", "product.view"]
    );
    assert_eq!(dropped_in_store(&server).await, 2);

    // The same batch again: the keyed event is a duplicate, the drops are dropped (and
    // counted) again, and product.view (unkeyed) is a new event.
    let again = server.public("/batch", &batch).await;
    let statuses: Vec<&str> = again.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        [
            "duplicate",
            "dropped",
            "invalid",
            "dropped",
            "invalid",
            "stored"
        ]
    );
    assert_eq!(dropped_in_store(&server).await, 4);
    assert_eq!(dropped_in_stats(&server).await, 4);
}

async fn a_batch_counts_its_drops_in_one_write(engine: Engine) {
    let meter = Arc::new(CapacityMeter::new());
    let mut options = ServerOptions::new(engine);
    options.meter = Some(meter.clone());
    let server = TestServer::start(options).await;
    set_plan(&server, plan(Naming::Free, "", "debug.*")).await;
    let uuid = new_uuid();
    // Loads the key and the settings into the server's caches.
    let warm = event(&server, json!({"uuid": uuid, "event": "debug.warm"})).await;
    assert_eq!(warm.body["dropped"], true, "{}", warm.body);

    let drops: Vec<Value> = (0..50)
        .map(|i| json!({"uuid": uuid, "event": format!("debug.{i}")}))
        .collect();
    let before = meter.read();
    let answer = server.public("/batch", &json!({"events": drops})).await;
    let cost = meter.read() - before;
    assert_eq!(answer.body["events_failed"], 50, "{}", answer.body);
    assert_eq!(dropped_in_store(&server).await, 51);
    if engine == Engine::Dynamo {
        // One UpdateItem of one small item for fifty drops; nothing read, nothing else written.
        assert_eq!(cost.calls, 1, "{cost:?}");
        assert_eq!((cost.read, cost.write), (0.0, 1.0), "{cost:?}");
    }
    // Nothing was stored for them: not even the session.
    assert!(stored_names(&server, &uuid).await.is_empty());
}

async fn analytics_routes_apply_the_same_plan_in_their_own_shapes(engine: Engine) {
    let server = server_with(engine, plan(Naming::Activity, "", "debug.*")).await;
    let session = new_uuid();

    // A badly named event: pydantic's value_error on event_name, nothing stored.
    let refused = analytics(
        &server,
        "/api/v1/analytics",
        PUBLIC_KEY,
        Some(&json!({"event_name": "Checkout Started", "session_id": session})),
    )
    .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    let rule = format!("event_name {ACTIVITY_RULE}");
    assert_eq!(
        refused.body,
        json!({"detail": [{"type": "value_error", "loc": ["body", "event_name"],
            "msg": format!("Value error, {rule}"), "input": "Checkout Started",
            "ctx": {"error": rule}}]})
    );

    // A dropped event is answered as tracked, with an id under which nothing is stored.
    let dropped = analytics(
        &server,
        "/api/v1/analytics",
        PUBLIC_KEY,
        Some(&json!({"event_name": "debug.trace", "session_id": session})),
    )
    .await;
    assert_eq!(dropped.status, 200, "{}", dropped.body);
    assert_eq!(dropped.body["success"], true);
    assert_eq!(dropped.body["dropped"], true);
    Uuid::parse_str(dropped.body["event_id"].as_str().unwrap()).expect("an event_id");

    let stored = analytics(
        &server,
        "/api/v1/analytics",
        PUBLIC_KEY,
        Some(&json!({"event_name": "product.buy", "session_id": session})),
    )
    .await;
    assert_eq!(stored.status, 200, "{}", stored.body);
    assert!(stored.body.get("dropped").is_none(), "{}", stored.body);
    assert_eq!(stored_names(&server, &session).await, ["product.buy"]);

    // A batch is validated whole: one badly named event refuses it, nothing stored.
    let other = new_uuid();
    let refused = analytics(
        &server,
        "/api/v1/analytics/batch",
        PUBLIC_KEY,
        Some(&json!({"events": [
            {"event_name": "product.view", "session_id": other},
            {"event_name": "debug.trace", "session_id": other},
            {"event_name": "Checkout Started", "session_id": other},
        ]})),
    )
    .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    let detail = refused.body["detail"].as_array().unwrap();
    assert_eq!(detail.len(), 1, "{}", refused.body);
    assert_eq!(detail[0]["loc"], json!(["body", "events", 2, "event_name"]));
    assert_eq!(detail[0]["type"], "value_error");
    assert!(stored_names(&server, &other).await.is_empty());
    assert_eq!(
        dropped_in_store(&server).await,
        1,
        "a refused batch drops nothing"
    );

    // A valid batch: drops are failed events, and said as such.
    let answer = analytics(
        &server,
        "/api/v1/analytics/batch",
        PUBLIC_KEY,
        Some(&json!({"events": [
            {"event_name": "product.view", "session_id": other},
            {"event_name": "debug.trace", "session_id": other},
            {"event_name": "debug.more", "session_id": other},
        ]})),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        (
            &answer.body["events_received"],
            &answer.body["events_queued"],
            &answer.body["events_failed"],
            &answer.body["events_dropped"]
        ),
        (&json!(3), &json!(1), &json!(2), &json!(2)),
        "{}",
        answer.body
    );
    assert_eq!(stored_names(&server, &other).await, ["product.view"]);
    assert_eq!(dropped_in_stats(&server).await, 3);
}

async fn a_changed_plan_reaches_the_server_within_the_cache_lifetime(engine: Engine) {
    let ttl = Duration::from_secs(2);
    let mut options = ServerOptions::new(engine);
    options.config.key_cache_ttl = ttl;
    let server = TestServer::start(options).await;
    let uuid = new_uuid();

    // The default plan: stored. This request loads the settings into the cache.
    let loaded = Instant::now();
    let (mut kept, mut drops) = (0usize, 0u64);
    let mut send = async || {
        let answer = event(&server, json!({"uuid": uuid, "event": "debug.trace"})).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        let dropped = answer.body.get("dropped") == Some(&Value::Bool(true));
        if dropped {
            drops += 1;
        } else {
            kept += 1;
        }
        dropped
    };
    assert!(!send().await, "the default plan stores every valid name");

    set_plan(&server, plan(Naming::Free, "", "debug.*")).await;
    // Until the cached settings expire, requests pay no read for them: the old plan holds.
    let dropped_at_once = send().await;
    if loaded.elapsed() < ttl {
        assert!(
            !dropped_at_once,
            "the settings were read again before their lifetime ended"
        );
    }

    // Within the lifetime (and a margin for a slow machine), the new plan applies.
    let set = Instant::now();
    while !send().await {
        assert!(
            set.elapsed() < ttl + Duration::from_secs(3),
            "the new plan did not apply within {ttl:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Every answer was exactly one of the two, and the store agrees.
    assert_eq!(stored_names(&server, &uuid).await.len(), kept);
    assert_eq!(dropped_in_store(&server).await, drops);
}
