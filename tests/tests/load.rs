//! Load with a bounded count, loopback only, on both engines: concurrent clients post events
//! with client `event_id`s, a fifth of them sent twice as an SDK retry would. No answer may be a
//! 5xx, and event/show must list and count exactly the distinct acknowledged events (on
//! DynamoDB once the stream is counted: the test settles before reading totals). Throughput and
//! latency are printed (run with --nocapture), never asserted: this is a correctness test under
//! load, not a benchmark.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use atrack_tests::{Engine, PUBLIC_KEY, SECRET_KEY, ServerOptions, TestServer, on_both_engines};
use serde_json::{Value, json};

on_both_engines!(concurrent_clients_with_retries_store_every_acknowledged_event_once);

/// How hard each engine is pushed: (clients, events, sessions). The embedded engine takes
/// 64 clients and 50,000 events. DynamoDB Local is one JVM sharing the machine's two cores with
/// the test (and with whatever else runs), far slower than the service: with 32 clients on a
/// busy machine its calls exceeded the SDK's 2 s attempt timeout and the API rightly answered
/// 503. So on DynamoDB the count is scaled down to 8 clients and 2,000 events (about a minute
/// on a busy 2-core machine), still with concurrent writers on one session partition and on one
/// index partition.
fn scale(engine: Engine) -> (usize, usize, usize) {
    match engine {
        Engine::Embedded => (64, 50_000, 500),
        Engine::Dynamo => (8, 2_000, 50),
    }
}

/// The two engines' runs take turns: run side by side they would share two cores and measure
/// each other.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn concurrent_clients_with_retries_store_every_acknowledged_event_once(engine: Engine) {
    let _turn = ONE_AT_A_TIME.lock().await;
    let (clients_count, events, session_count) = scale(engine);
    let server = Arc::new(TestServer::start(ServerOptions::new(engine)).await);
    let sessions: Arc<Vec<String>> = Arc::new(
        (0..session_count)
            .map(|_| uuid::Uuid::new_v4().to_string())
            .collect(),
    );
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut clients = Vec::new();
    for _ in 0..clients_count {
        let (server, sessions, next) = (server.clone(), sessions.clone(), next.clone());
        clients.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut acknowledged = Vec::new();
            let mut duplicates = 0usize;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= events {
                    break;
                }
                let body = json!({
                    "uuid": sessions[i % session_count],
                    "event": "load_test",
                    "event_id": uuid::Uuid::new_v4().to_string(),
                    "attributes": {"i": i},
                });
                let sends = if i % 5 == 0 { 2 } else { 1 };
                for attempt in 0..sends {
                    let sent = Instant::now();
                    let answer = server.post("/event", Some(PUBLIC_KEY), &body).await;
                    latencies.push(sent.elapsed());
                    assert!(
                        answer.status < 500,
                        "event {i}: {} {}",
                        answer.status,
                        answer.body
                    );
                    assert_eq!(answer.status, 200, "event {i}: {}", answer.body);
                    if attempt == 0 {
                        acknowledged.push(i);
                    } else {
                        assert_eq!(
                            answer.body["duplicate"], true,
                            "retry of {i}: {}",
                            answer.body
                        );
                        duplicates += 1;
                    }
                }
            }
            (latencies, acknowledged, duplicates)
        }));
    }
    let mut latencies = Vec::new();
    let mut acknowledged = HashSet::new();
    let mut duplicates = 0;
    for client in clients {
        let (l, a, d) = client.await.expect("a client panicked");
        latencies.extend(l);
        acknowledged.extend(a);
        duplicates += d;
    }
    let elapsed = started.elapsed();
    assert_eq!(acknowledged.len(), events);
    assert_eq!(duplicates, events.div_ceil(5));

    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    println!(
        "load on {engine:?}: {} requests ({} events, {} retries) from {clients_count} clients in \
         {:.1?}: {:.0} req/s, p50 {:?}, p99 {:?}, max {:?}",
        latencies.len(),
        events,
        duplicates,
        elapsed,
        latencies.len() as f64 / elapsed.as_secs_f64(),
        at(0.50),
        at(0.99),
        latencies.last().copied().unwrap_or(Duration::ZERO),
    );

    // event/show counts each acknowledged event once and lists each exactly once, once the
    // count has caught up (DynamoDB's stream counted; a no-op on the embedded engine).
    server.settle().await;
    let mut listed = HashSet::new();
    let mut request = json!({"name": "load_test", "per_page": 100, "sort": "asc"});
    loop {
        let page = server.post("/event/show", Some(SECRET_KEY), &request).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert_eq!(page.body["meta"]["total"], events as u64);
        for row in page.body["data"].as_array().unwrap() {
            let i = row["attributes"]["i"].as_u64().unwrap() as usize;
            assert!(listed.insert(i), "event {i} listed twice");
        }
        match page.body["meta"]["next_cursor"].as_str() {
            Some(cursor) => request["cursor"] = Value::String(cursor.to_owned()),
            None => break,
        }
    }
    assert_eq!(listed, acknowledged);
}
