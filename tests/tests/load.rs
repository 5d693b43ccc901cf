//! Load with a bounded count, loopback only: 64 concurrent clients post 50,000 events with
//! client `event_id`s through the embedded server, a fifth of them sent twice as an SDK retry
//! would. No answer may be a 5xx, and event/show must list and count exactly the distinct
//! acknowledged events. Throughput and latency are printed (run with --nocapture), never
//! asserted: this is a correctness test under load, not a benchmark.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use atrack_tests::{Engine, PUBLIC_KEY, SECRET_KEY, ServerOptions, TestServer};
use serde_json::{Value, json};

const CLIENTS: usize = 64;
const EVENTS: usize = 50_000;
const SESSIONS: usize = 500;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_clients_with_retries_store_every_acknowledged_event_once() {
    let server = Arc::new(TestServer::start(ServerOptions::new(Engine::Embedded)).await);
    let sessions: Arc<Vec<String>> = Arc::new(
        (0..SESSIONS)
            .map(|_| uuid::Uuid::new_v4().to_string())
            .collect(),
    );
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let (server, sessions, next) = (server.clone(), sessions.clone(), next.clone());
        clients.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut acknowledged = Vec::new();
            let mut duplicates = 0usize;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= EVENTS {
                    break;
                }
                let body = json!({
                    "uuid": sessions[i % SESSIONS],
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
    assert_eq!(acknowledged.len(), EVENTS);
    assert_eq!(duplicates, EVENTS / 5);

    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    println!(
        "load: {} requests ({} events, {} retries) from {CLIENTS} clients in {:.1?}: {:.0} req/s, \
         p50 {:?}, p99 {:?}, max {:?}",
        latencies.len(),
        EVENTS,
        duplicates,
        elapsed,
        latencies.len() as f64 / elapsed.as_secs_f64(),
        at(0.50),
        at(0.99),
        latencies.last().copied().unwrap_or(Duration::ZERO),
    );

    // event/show counts each acknowledged event once and lists each exactly once.
    let mut listed = HashSet::new();
    let mut request = json!({"name": "load_test", "per_page": 100, "sort": "asc"});
    loop {
        let page = server.post("/event/show", Some(SECRET_KEY), &request).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert_eq!(page.body["meta"]["total"], EVENTS as u64);
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
