//! Faults: DynamoDB going away in the middle of traffic. Requests answer 503 with
//! Retry-After in bounded time (the SDK's retries and timeouts are bounded), nothing is
//! half-written, and service resumes as soon as DynamoDB is back.

use std::time::{Duration, Instant};

use atrack_tests::{
    CutProxy, Engine, PUBLIC_KEY, SECRET_KEY, ServerOptions, TestServer, assert_error,
    dynamodb_local_addr,
};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_outage_answers_503_then_recovers() {
    let proxy = CutProxy::start(dynamodb_local_addr()).await;
    let mut options = ServerOptions::new(Engine::Dynamo);
    options.dynamodb_endpoint = Some(proxy.url());
    let server = TestServer::start(options).await;
    let uuid = uuid::Uuid::new_v4().to_string();
    let event = |name: &str| json!({"uuid": uuid, "event": name});
    assert_eq!(
        server.public("/init", &json!({"uuid": uuid})).await.status,
        200
    );
    assert_eq!(server.public("/event", &event("before")).await.status, 200);

    proxy.cut();
    for (path, key, body) in [
        ("/event", PUBLIC_KEY, event("during")),
        ("/init", PUBLIC_KEY, json!({"uuid": uuid})),
        ("/session/show", PUBLIC_KEY, json!({"uuid": uuid})),
        ("/event/show", SECRET_KEY, json!({"name": "before"})),
    ] {
        let started = Instant::now();
        let response = server
            .http
            .post(server.url(path))
            .header("x-a-track-key", key)
            .json(&body)
            .send()
            .await
            .unwrap();
        let elapsed = started.elapsed();
        let retry_after = response.headers().get("retry-after").cloned();
        let answer = atrack_tests::answer(response).await;
        assert_error(&answer, 503, "unavailable");
        assert!(retry_after.is_some(), "{path}: a 503 says when to retry");
        assert!(answer.body["error"]["request_id"].is_string());
        // Bounded by the SDK's attempt and operation timeouts, well inside a Lambda timeout.
        assert!(elapsed < Duration::from_secs(15), "{path} took {elapsed:?}");
    }
    // An unknown key cannot be checked either: 503, not 401.
    let unknown = server
        .post("/event", Some("pk_never_cached"), &event("x"))
        .await;
    assert_error(&unknown, 503, "unavailable");

    proxy.restore();
    let after = server.public("/event", &event("after")).await;
    assert_eq!(after.status, 200, "{}", after.body);
    let data = server.session(&uuid).await;
    let names: Vec<&str> = data["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert_eq!(
        names,
        ["after", "before"],
        "the refused event was not stored"
    );
}
