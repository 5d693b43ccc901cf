//! Every sample event in `events/` fed through the real handlers in-process, exactly as the
//! Lambda runtime would hand it over, so the samples used with `cargo lambda invoke` and
//! `sam local invoke` never rot.

use std::sync::Arc;

use atrack_shared::domain::project::{Project, Scope};
use atrack_shared::domain::time::{ManualClock, Timestamp};
use atrack_shared::http::{Route, router};
use atrack_shared::runtime::worker::process_sqs_batch;
use atrack_tests::{Engine, ServerOptions, TestServer, on_both_engines};
use aws_lambda_events::event::sqs::SqsEvent;
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

/// Invokes one function's router with an API Gateway HTTP API (v2) event.
async fn invoke(server: &TestServer, route: Route, file: &str) -> (u16, Value) {
    let request = lambda_http::request::from_str(&sample(file))
        .unwrap_or_else(|e| panic!("{file} is not an API Gateway event: {e}"));
    let response = router(server.app.clone(), &[route])
        .oneshot(request)
        .await
        .expect("the router never fails");
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("{file}: answer is not JSON: {e}"));
    (status, body)
}

async fn samples_run_through_the_handlers(engine: Engine) {
    // The samples' SQS job names the init of 2026-04-12T01:52:35.156Z.
    let clock = ManualClock::new(Timestamp::parse_rfc3339("2026-04-12T01:52:35.156Z").unwrap());
    let mut options = ServerOptions::new(engine);
    options.clock = Arc::new(clock);
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

    let (status, body) = invoke(&server, Route::EventShow, "event-show-public-key.json").await;
    assert_eq!(status, 403, "{body}");

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
