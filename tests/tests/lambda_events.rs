//! Every sample event in `events/` fed through the real handlers in-process, exactly as the
//! Lambda runtime would hand it over, so the samples used with `cargo lambda invoke` and
//! `sam local invoke` never rot; and, on DynamoDB Local, every DynamoDB call an HTTP sample
//! makes is one its function's role in template.yaml allows.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use atrack_shared::domain::project::{Project, Scope};
use atrack_shared::domain::time::{ManualClock, Timestamp};
use atrack_shared::domain::user::UserId;
use atrack_shared::domain::values::SessionUuid;
use atrack_shared::enrich::Enricher;
use atrack_shared::enrich::geo::Geo;
use atrack_shared::http::compat::{analytics_v1, segment, track_events};
use atrack_shared::http::live;
use atrack_shared::http::router::Method;
use atrack_shared::http::{Route, router};
use atrack_shared::runtime::config::Config;
use atrack_shared::runtime::worker::process_sqs_batch;
use atrack_shared::store::AnyTable;
use atrack_shared::store::engine::dynamo::DynamoTable;
use atrack_shared::{App, SharedApp};
use atrack_tests::{Engine, ServerOptions, TestServer, on_both_engines};
use aws_lambda_events::event::sqs::SqsEvent;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use serde_json::{Value, json};
use tower::ServiceExt;

on_both_engines!(samples_run_through_the_handlers);

const SAMPLE_PUBLIC_KEY: &str = "pk_sample_public_key";
const SAMPLE_SECRET_KEY: &str = "sk_sample_secret_key";
const UUID: &str = "b19412c6-6a91-4e18-890d-e2269a0d1249";

fn sample(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The router of the function that serves `route`, as its `functions/*/src/main.rs` builds it:
/// the analytics API's family shares one; every other route has its own.
fn function_router(app: SharedApp, route: Route) -> axum::Router {
    match route {
        Route::AnalyticsTrack
        | Route::AnalyticsBatch
        | Route::AnalyticsStats
        | Route::AnalyticsHealth => analytics_v1::router(app),
        Route::TrackEventsCreate
        | Route::TrackEventsList
        | Route::TrackEventsPreview
        | Route::TrackEventsDelete => track_events::router(app),
        Route::LivePage | Route::LiveScript | Route::LiveStyle => live::router(app),
        Route::SegmentBatch
        | Route::SegmentImport
        | Route::SegmentIdentify
        | Route::SegmentTrack
        | Route::SegmentPage
        | Route::SegmentScreen
        | Route::SegmentGroup
        | Route::SegmentAlias => segment::router(app),
        _ => router(app, &[route]),
    }
}

/// Invokes the router of the function serving `route` with an API Gateway HTTP API (v2) event.
async fn invoke(server: &TestServer, route: Route, file: &str) -> (u16, Value) {
    invoke_router(function_router(server.app.clone(), route), file).await
}

async fn invoke_router(router: axum::Router, file: &str) -> (u16, Value) {
    let (status, content_type, bytes) = invoke_raw(router, file).await;
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("{file}: answer ({content_type}) is not JSON: {e}"));
    (status, body)
}

/// As [`invoke_router`], for an answer that need not be JSON (the live page): its status,
/// `Content-Type` and bytes.
async fn invoke_raw(router: axum::Router, file: &str) -> (u16, String, Vec<u8>) {
    let request = lambda_http::request::from_str(&sample(file))
        .unwrap_or_else(|e| panic!("{file} is not an API Gateway event: {e}"));
    let response = router
        .oneshot(request)
        .await
        .expect("the router never fails");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    (status, content_type, bytes.to_vec())
}

async fn samples_run_through_the_handlers(engine: Engine) {
    // The samples' SQS job names the init of 2026-04-12T01:52:35.156Z.
    let clock = ManualClock::new(Timestamp::parse_rfc3339("2026-04-12T01:52:35.156Z").unwrap());
    let mut options = ServerOptions::new(engine);
    options.clock = Arc::new(clock);
    // template.yaml's defaults for the count function's stream source (CountBatchSize,
    // CountBatchingWindowSeconds), which the analytics stats report on DynamoDB.
    options.config.stream_batch_size = 1000;
    options.config.stream_batching_window_secs = 2;
    let server = TestServer::start(options).await;
    let project = Project::parse("default").unwrap();
    server
        .app
        .store
        .register_key(&project, Scope::Public, SAMPLE_PUBLIC_KEY)
        .await
        .unwrap();
    server
        .app
        .store
        .register_key(&project, Scope::Secret, SAMPLE_SECRET_KEY)
        .await
        .unwrap();

    let (status, body) = invoke(&server, Route::Init, "init.json").await;
    assert_eq!(
        (status, &body),
        (
            200,
            &json!({"success": true, "uuid": UUID, "queued": false})
        )
    );

    let (status, body) = invoke(&server, Route::Init, "init-missing-key.json").await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "unauthorized");

    let (status, body) = invoke(&server, Route::Attributes, "attributes.json").await;
    assert_eq!(
        (status, &body),
        (
            200,
            &json!({"success": true, "uuid": UUID, "queued": false})
        )
    );

    let (status, body) = invoke(&server, Route::Event, "event.json").await;
    assert_eq!(
        (status, &body),
        (
            200,
            &json!({"success": true, "uuid": UUID, "queued": false})
        )
    );

    // navigator.sendBeacon: text/plain, base64-encoded by API Gateway.
    let (status, body) = invoke(&server, Route::Event, "event-beacon.json").await;
    assert_eq!(status, 200, "{body}");

    let (status, body) = invoke(&server, Route::Event, "event-malformed-body.json").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "malformed_body");

    let (status, body) = invoke(&server, Route::SessionShow, "session-show.json").await;
    assert_eq!(status, 200, "{body}");
    let session = &body["data"]["session"];
    assert_eq!(session["uuid"], UUID);
    // No ipAddress or userAgent in the body: they come from API Gateway's request context.
    assert_eq!(session["ip_address"], "50.89.98.90");
    assert_eq!(session["device_data"]["os"]["name"], "iOS");
    assert_eq!(session["source"], "google");
    assert_eq!(session["click_ids"]["fbc"], "fb.1.1775958755156.fbclid_123");
    assert_eq!(body["data"]["attributes"]["crm_id"], "lead_2048");
    assert_eq!(body["data"]["meta"]["events_count"], 2);

    server.settle().await;
    let (status, body) = invoke(&server, Route::EventShow, "event-show.json").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["meta"]["total"], 1);
    assert_eq!(
        body["data"][0]["occurred_at"],
        "2026-04-12T02:10:00.000000Z"
    );
    assert_eq!(body["data"][0]["ip_address"], "50.89.98.90");

    let (status, body) = invoke(&server, Route::EventQuery, "event-query.json").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["meta"]["index"], "name");
    assert_eq!(body["meta"]["count"], 1);
    assert_eq!(body["data"][0]["name"], "checkout_started");
    assert_eq!(
        body["data"][0]["occurred_at"],
        "2026-04-12T02:10:00.000000Z"
    );

    let (status, body) = invoke(&server, Route::EventShow, "event-show-public-key.json").await;
    assert_eq!(status, 403, "{body}");

    // /batch: each item answered at its place; the invalid one refused alone, the others
    // stored (the third is keyed by its event_id and timestamp).
    let (status, body) = invoke(&server, Route::Batch, "batch.json").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], true);
    assert_eq!(
        (
            &body["events_received"],
            &body["events_queued"],
            &body["events_failed"]
        ),
        (&json!(3), &json!(2), &json!(1)),
        "{body}"
    );
    let results = body["results"].as_array().expect("results");
    let statuses: Vec<&str> = results
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["stored", "invalid", "stored"], "{body}");
    let indexes: Vec<&Value> = results.iter().map(|r| &r["index"]).collect();
    assert_eq!(indexes, [&json!(0), &json!(1), &json!(2)]);
    assert!(
        uuid::Uuid::parse_str(results[0]["event_id"].as_str().unwrap()).is_ok(),
        "{body}"
    );
    assert_eq!(
        results[2]["event_id"],
        "1b0e7d0c-5f0e-4c55-9a3b-6f2f1d9e8c41"
    );
    assert_eq!(results[1]["error"]["code"], "validation_failed", "{body}");
    let fields: Vec<&Value> = results[1]["error"]["details"]
        .as_array()
        .expect("the invalid item's details")
        .iter()
        .map(|d| &d["field"])
        .collect();
    assert_eq!(fields, [&json!("uuid")], "{body}");

    // The same batch again: the keyed event is its retry; the unkeyed one is a new event.
    let (status, body) = invoke(&server, Route::Batch, "batch.json").await;
    assert_eq!(status, 200, "{body}");
    let statuses: Vec<&str> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["stored", "invalid", "duplicate"], "{body}");
    // A duplicate was stored before: the sender may forget it too.
    assert_eq!(body["events_queued"], 2, "{body}");

    // The stored ones are the session's, with what the batch said of them.
    let (status, body) = invoke(&server, Route::SessionShow, "session-show.json").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["meta"]["events_count"], 5, "{body}");
    let events = body["data"]["events"].as_array().unwrap();
    let named =
        |name: &str| -> Vec<&Value> { events.iter().filter(|e| e["name"] == name).collect() };
    let viewed = named("product_viewed");
    assert_eq!(viewed.len(), 2, "{body}");
    assert_eq!(viewed[0]["label"], "Pro plan");
    assert_eq!(viewed[0]["category"], "page_view");
    assert_eq!(viewed[0]["attributes"]["sku"], "pro-annual");
    let added = named("add_to_cart");
    assert_eq!(added.len(), 1, "{body}");
    assert_eq!(added[0]["attributes"]["cart_value"], 129.99);
    assert_eq!(added[0]["priority"], "high");
    assert_eq!(added[0]["occurred_at"], "2026-04-12T02:06:00.000000Z");

    // The analytics API, through the one router its function serves.
    let (status, body) = invoke(&server, Route::AnalyticsTrack, "analytics-track.json").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], true);
    assert_eq!(body["message"], "Event tracked successfully");
    assert_eq!(body["timestamp"], "2026-04-12T01:52:35.156000Z");
    assert!(
        uuid::Uuid::parse_str(body["event_id"].as_str().unwrap()).is_ok(),
        "{body}"
    );

    let (status, body) = invoke(&server, Route::AnalyticsBatch, "analytics-batch.json").await;
    assert_eq!(
        (status, &body),
        (
            200,
            &json!({
                "success": true,
                "events_received": 2,
                "events_queued": 2,
                "events_failed": 0,
                "message": "2 of 2 events queued",
                "timestamp": "2026-04-12T01:52:35.156000Z",
            })
        )
    );

    // FastAPI's 422, as the reference app (tests/reference) answers the same body.
    let (status, body) = invoke(&server, Route::AnalyticsTrack, "analytics-invalid.json").await;
    assert_eq!(
        (status, &body),
        (
            422,
            &json!({"detail": [{
                "type": "string_too_short",
                "loc": ["body", "event_name"],
                "msg": "String should have at least 1 character",
                "input": "",
                "ctx": {"min_length": 1},
            }]})
        )
    );

    let (status, body) = invoke(&server, Route::AnalyticsHealth, "analytics-health.json").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "healthy");
    assert_eq!(body["service"], "analytics");

    // The live events page, as the live function serves it: HTML that loads its script.
    let router = function_router(server.app.clone(), Route::LivePage);
    let (status, content_type, page) = invoke_raw(router, "live-page.json").await;
    let page = String::from_utf8(page).expect("the page is UTF-8");
    assert_eq!(status, 200, "{page}");
    assert_eq!(content_type, "text/html; charset=utf-8");
    assert!(page.contains(r#"<script src="live.js""#), "{page}");

    // Every event stored above, by category, all received in the clock's hour: event.json,
    // the beacon, /batch's two and then one, the tracked event and the analytics batch's two.
    server.settle().await;
    let (status, body) = invoke(&server, Route::AnalyticsStats, "analytics-stats.json").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total_events"], 8, "{body}");
    assert_eq!(
        body["events_by_category"],
        json!({
            "page_view": 3,
            "user_action": 4,
            "trading": 0,
            "auth": 0,
            "error": 0,
            "performance": 0,
            "feature": 1,
            "system": 0,
        })
    );
    assert_eq!(
        (&body["events_today"], &body["events_this_hour"]),
        (&json!(8), &json!(8))
    );
    let buffer = &body["buffer_status"];
    for field in [
        "buffer_size",
        "max_buffer_size",
        "flush_interval_seconds",
        "events_pending",
        "events_flushed_total",
    ] {
        assert!(buffer[field].is_u64(), "{field}: {body}");
    }
    if engine == Engine::Dynamo {
        // The count function's event source, as template.yaml hands it to the function.
        assert_eq!(
            (
                &buffer["max_buffer_size"],
                &buffer["flush_interval_seconds"]
            ),
            (&json!(1000), &json!(2)),
            "{body}"
        );
        assert!(buffer["last_flush"].is_string(), "{body}");
        assert!(buffer["events_flushed_total"].as_u64() >= Some(8), "{body}");
    }

    // Segment's protocol, as the segment function serves it: a batch of each kind of call,
    // then a gzip-compressed track naming only the user, which lands in the user's UUID.
    let (status, body) = invoke(&server, Route::SegmentBatch, "segment-batch.json").await;
    assert_eq!((status, &body), (200, &json!({"success": true})));
    let (status, body) = invoke(&server, Route::SegmentTrack, "segment-track-gzip.json").await;
    assert_eq!((status, &body), (200, &json!({"success": true})));
    let user = server
        .app
        .user(&project, &UserId::parse("user-42").unwrap())
        .await
        .unwrap()
        .expect("the batch's identify made the user");
    assert_eq!(
        user["user"]["traits"],
        json!({"name": "Ada", "plan": "pro"})
    );
    assert_eq!(user["company"]["company_id"], "acme");
    let anonymous = SessionUuid::for_external_id(&project, "anon-7f3a").to_string();
    let aliased = SessionUuid::for_external_id(&project, "anon-old-9c1e").to_string();
    let uuids: BTreeSet<&str> = user["user"]["uuids"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        uuids,
        BTreeSet::from([anonymous.as_str(), aliased.as_str()])
    );

    // The SQS batch: the job is processed, the poison record alone is reported.
    let event: SqsEvent = serde_json::from_str(&sample("enrich-sqs-batch.json")).unwrap();
    let poison = event.records[1].message_id.clone().unwrap();
    let response = process_sqs_batch(&server.app, event).await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, [poison.as_str()]);
}

/// Records the target of every DynamoDB request a client sends (`GetItem`, `BatchWriteItem`, …).
#[derive(Debug, Clone, Default)]
struct Calls(Arc<Mutex<Vec<String>>>);

impl Calls {
    /// The calls since the last take, each once.
    fn take(&self) -> BTreeSet<String> {
        let mut calls = self.0.lock().unwrap();
        calls.drain(..).collect()
    }
}

impl Intercept for Calls {
    fn name(&self) -> &'static str {
        "dynamodb calls"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        // `x-amz-target: DynamoDB_20120810.GetItem`: the action IAM authorizes.
        if let Some(target) = context.request().headers().get("x-amz-target") {
            let action = target.rsplit('.').next().unwrap_or(target);
            self.0.lock().unwrap().push(action.to_owned());
        }
        Ok(())
    }
}

/// The HTTP samples, in an order that makes each meaningful (the init before what reads it).
const HTTP_SAMPLES: &[&str] = &[
    "init.json",
    "init-missing-key.json",
    "attributes.json",
    "event.json",
    "event-beacon.json",
    "event-malformed-body.json",
    "batch.json",
    "batch.json",
    "session-show.json",
    "identify.json",
    "user-show.json",
    "company-show.json",
    "export.json",
    "event-show.json",
    "event-show-public-key.json",
    "event-query.json",
    "track-events-create.json",
    "track-events-list.json",
    "track-events-preview.json",
    "event-delete.json",
    "track-events-delete.json",
    "session-delete.json",
    "analytics-track.json",
    "analytics-batch.json",
    "analytics-invalid.json",
    "analytics-health.json",
    "analytics-stats.json",
    "segment-batch.json",
    "segment-track-gzip.json",
    "live-page.json",
];

/// The route an API Gateway sample is for, by its `routeKey` (`POST /batch`).
fn route_of(event: &Value) -> Route {
    let route_key = event["routeKey"].as_str().expect("routeKey");
    Route::ALL
        .into_iter()
        .find(|route| {
            let spec = route.spec();
            spec.methods.iter().any(|m| {
                let method = match m {
                    Method::Get => "GET",
                    Method::Post => "POST",
                    Method::Delete => "DELETE",
                };
                format!("{method} {}", spec.path) == route_key
            })
        })
        .unwrap_or_else(|| panic!("no route serves {route_key}"))
}

/// The DynamoDB actions (`GetItem`) the role of `function` allows in template.yaml.
fn allowed_dynamodb_actions(template: &serde_yaml_ng::Value, function: &str) -> BTreeSet<String> {
    use serde_yaml_ng::Value as Yaml;
    let resources = template["Resources"].as_mapping().expect("Resources");
    let declared = resources
        .values()
        .find(|r| {
            r["Type"] == "AWS::Serverless::Function"
                && r["Metadata"]["BuildProperties"]["Binary"] == function
        })
        .unwrap_or_else(|| panic!("template.yaml has no function {function}"));
    let Yaml::Tagged(role) = &declared["Properties"]["Role"] else {
        panic!("{function} names no role");
    };
    let role = role.value.as_str().unwrap().trim_end_matches(".Arn");
    let mut actions = BTreeSet::new();
    for policy in template["Resources"][role]["Properties"]["Policies"]
        .as_sequence()
        .expect("the role's policies")
    {
        for statement in policy["PolicyDocument"]["Statement"].as_sequence().unwrap() {
            let listed: Vec<&str> = match &statement["Action"] {
                Yaml::String(one) => vec![one],
                Yaml::Sequence(many) => many.iter().filter_map(Yaml::as_str).collect(),
                other => panic!("{function}: an Action of {other:?}"),
            };
            actions.extend(
                listed
                    .into_iter()
                    .filter_map(|a| a.strip_prefix("dynamodb:"))
                    .map(str::to_owned),
            );
        }
    }
    actions
}

/// IAM is not checked by DynamoDB Local, nor by anything before a deployment: a call the code
/// makes and its role does not allow would first show up as a 500 on AWS. So each HTTP sample
/// runs through its function's router over a client that records the calls it sends, and the
/// calls are held against that function's role.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn samples_make_only_the_dynamodb_calls_their_function_may() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let template: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(root.join("template.yaml")).unwrap())
            .expect("template.yaml is YAML");

    // Every HTTP sample in events/ is in the list.
    let mut in_events: BTreeSet<String> = BTreeSet::new();
    for entry in std::fs::read_dir(root.join("events")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let event: Value = serde_json::from_str(&sample(&name)).unwrap();
        if event.get("routeKey").is_some() {
            in_events.insert(name);
        }
    }
    let listed: BTreeSet<String> = HTTP_SAMPLES.iter().map(|s| (*s).to_owned()).collect();
    assert_eq!(listed, in_events, "HTTP_SAMPLES and events/ disagree");

    let calls = Calls::default();
    let aws = atrack_tests::local_aws("AWS_ENDPOINT_URL_DYNAMODB").await;
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&aws)
            .interceptor(calls.clone())
            .build(),
    );
    let name = format!("atrack-test-{}", uuid::Uuid::new_v4().simple());
    let table = DynamoTable::new(client, name);
    assert!(
        table
            .create_table()
            .await
            .expect("create a DynamoDB Local table")
    );
    let clock = ManualClock::new(Timestamp::parse_rfc3339("2026-04-12T01:52:35.156Z").unwrap());
    let app: SharedApp = Arc::new(App::new(
        Config::default(),
        AnyTable::Dynamo(table),
        None,
        Enricher::new(Geo::disabled()),
        Arc::new(clock.clone()),
    ));
    let project = Project::parse("default").unwrap();
    for (scope, key) in [
        (Scope::Public, SAMPLE_PUBLIC_KEY),
        (Scope::Secret, SAMPLE_SECRET_KEY),
    ] {
        app.store.register_key(&project, scope, key).await.unwrap();
    }

    let mut functions_seen = BTreeSet::new();
    for file in HTTP_SAMPLES {
        let event: Value = serde_json::from_str(&sample(file)).unwrap();
        let route = route_of(&event);
        let function = route.spec().function;
        functions_seen.insert(function);
        calls.take();
        let (status, _, body) = invoke_raw(function_router(app.clone(), route), file).await;
        let body = String::from_utf8_lossy(&body);
        assert!(status < 500, "{file}: {status} {body}");
        let allowed = allowed_dynamodb_actions(&template, function);
        for call in calls.take() {
            assert!(
                allowed.contains(&call),
                "{file}: the {function} function calls {call}, which its role does not allow \
                 (it allows {allowed:?})"
            );
        }
    }
    // Every HTTP function was exercised.
    let every: BTreeSet<&str> = Route::ALL.iter().map(|r| r.spec().function).collect();
    assert_eq!(functions_seen, every);

    // The sweep function, once the samples' visits have been idle past their timeout (and the
    // stream's settling time): it ends them, with only the calls its role allows.
    clock.advance_millis(
        (i64::from(atrack_shared::domain::visit::DEFAULT_SESSION_TIMEOUT_SECS) + 60) * 1000,
    );
    calls.take();
    let report = app.sweep_visits().await.expect("a sweep");
    assert!(report.ended >= 1, "{report:?}");
    let allowed = allowed_dynamodb_actions(&template, "sweep");
    for call in calls.take() {
        assert!(
            allowed.contains(&call),
            "the sweep function calls {call}, which its role does not allow (it allows \
             {allowed:?})"
        );
    }

    // The purge function, with the event the samples deleted waiting for it.
    calls.take();
    let report = app.purge_deleted().await.expect("a purge");
    assert_eq!(report.purged, 1, "{report:?}");
    let allowed = allowed_dynamodb_actions(&template, "purge");
    for call in calls.take() {
        assert!(
            allowed.contains(&call),
            "the purge function calls {call}, which its role does not allow (it allows \
             {allowed:?})"
        );
    }
}
