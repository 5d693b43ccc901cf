//! What ingest costs on DynamoDB, in the units an on-demand table bills (measured on DynamoDB
//! Local with ReturnConsumedCapacity): an event is its item plus its two index entries (its
//! name's, and the time index's keys-only one, one unit whatever the event's size), and
//! keeping event/show's totals costs a small fraction of a unit per event, not a write each.
//! The per-endpoint figures are in BENCHMARKS.md (`infra/bench-capacity.sh`).

use std::sync::Arc;

use atrack_shared::store::engine::dynamo::capacity::CapacityMeter;
use atrack_tests::{Engine, ServerOptions, TestServer};
use serde_json::json;
use uuid::Uuid;

#[tokio::test]
async fn an_event_costs_its_item_and_two_index_entries_and_counting_is_batched() {
    let meter = Arc::new(CapacityMeter::new());
    let mut options = ServerOptions::new(Engine::Dynamo);
    options.meter = Some(meter.clone());
    let server = TestServer::start(options).await;
    let uuid = Uuid::new_v4().to_string();
    assert_eq!(
        server.public("/init", &json!({"uuid": uuid})).await.status,
        200
    );

    let events = 100;
    let base = 1_700_000_000_000_i64;
    let before = meter.read();
    for i in 0..events {
        let body = json!({"uuid": uuid, "event": "signup", "event_id": Uuid::new_v4(),
            "timestamp": base + i, "attributes": {"plan": "pro"}});
        assert_eq!(server.public("/event", &body).await.status, 200);
    }
    let ingest = meter.read() - before;
    let n = events as f64;
    // One unit for the item, one for each index entry; the id allocator's block reservation
    // (one small write per block of ids) is the only other write.
    assert_eq!(ingest.index_write, 2.0 * n, "{ingest:?}");
    assert!(ingest.write <= 3.0 * n + 1.0, "{ingest:?}");
    assert!(
        ingest.write >= 3.0 * n,
        "a write went unmetered: {ingest:?}"
    );

    let before = meter.read();
    server.settle().await;
    let counting = meter.read() - before;
    assert!(
        counting.write > 0.0,
        "the stream consumer wrote nothing: {counting:?}"
    );
    assert!(
        counting.write <= 0.1 * n,
        "counting should cost a fraction of a unit per event: {counting:?}"
    );
    let shown = server
        .secret("/event/show", &json!({"name": "signup"}))
        .await;
    assert_eq!(shown.body["meta"]["total"], events);
}
