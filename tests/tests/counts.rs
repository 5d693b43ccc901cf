//! The `count` function on DynamoDB Local: stream batches as Lambda delivers them are added to
//! the index counts exactly once, however often Lambda redelivers them.

use atrack_shared::store::AnyTable;
use atrack_shared::store::engine::dynamo::DynamoTable;
use atrack_shared::store::keys::GSI1;
use atrack_shared::store::table::Table;
use atrack_shared::worker::process_stream_batch;
use atrack_tests::{Engine, open_table};
use serde_json::{Value, json};

const CHECKOUT: &str = "P#default#N#checkout_started";
const PAGE_VIEW: &str = "P#default#N#page_view";

fn sample() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../events/count-stream-batch.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("sample")).expect("json")
}

async fn dynamo() -> (atrack_tests::TestTable, DynamoTable) {
    let t = open_table(Engine::Dynamo).await;
    let AnyTable::Dynamo(table) = &t.table else {
        unreachable!("asked for DynamoDB")
    };
    let table = table.clone();
    (t, table)
}

async fn counts(table: &DynamoTable) -> (u64, u64) {
    (
        table.index_count(GSI1, CHECKOUT).await.unwrap(),
        table.index_count(GSI1, PAGE_VIEW).await.unwrap(),
    )
}

/// A stream record inserting one more checkout event.
fn insert(event_id: &str, sequence: &str) -> Value {
    json!({"eventID": event_id, "eventName": "INSERT", "dynamodb": {
        "SequenceNumber": sequence,
        "NewImage": {"GSI1PK": {"S": CHECKOUT}}}})
}

#[tokio::test]
async fn the_sample_batch_counts_inserts_and_removals_of_events_only() {
    let (_t, table) = dynamo().await;
    let response = process_stream_batch(&table, &sample()).await;
    assert!(response.batch_item_failures.is_empty());
    // Two checkouts inserted and one removed; one page view; the session change counts nothing.
    assert_eq!(counts(&table).await, (1, 1));
}

#[tokio::test]
async fn a_redelivered_batch_is_counted_once() {
    let (_t, table) = dynamo().await;
    let event = sample();
    process_stream_batch(&table, &event).await;
    let again = process_stream_batch(&table, &event).await;
    assert!(again.batch_item_failures.is_empty());
    assert_eq!(counts(&table).await, (1, 1));
}

#[tokio::test]
async fn a_redelivery_that_grew_counts_only_its_new_records() {
    let (_t, table) = dynamo().await;
    let event = sample();
    process_stream_batch(&table, &event).await;
    let mut grown = event.clone();
    let records = grown["Records"].as_array_mut().unwrap();
    records.push(insert(
        "ffff0000000000000000000000000001",
        "111100000000000000006",
    ));
    records.push(insert(
        "ffff0000000000000000000000000002",
        "111100000000000000007",
    ));
    process_stream_batch(&table, &grown).await;
    assert_eq!(counts(&table).await, (3, 1));
}

#[tokio::test]
async fn a_batch_that_cannot_be_counted_names_its_first_record_for_redelivery() {
    let (t, table) = dynamo().await;
    // A table that does not exist: every write fails, as in an outage.
    let missing = DynamoTable::new(table.client().clone(), format!("{}-missing", table.name()));
    let response = process_stream_batch(&missing, &sample()).await;
    let failed: Vec<Option<&str>> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_deref())
        .collect();
    assert_eq!(failed, [Some("111100000000000000001")]);
    drop(t);
}

#[tokio::test]
async fn records_without_an_id_are_skipped_not_fatal() {
    let (_t, table) = dynamo().await;
    let event = json!({"Records": [
        {"eventName": "INSERT"},
        insert("ffff0000000000000000000000000009", "1")
    ]});
    let response = process_stream_batch(&table, &event).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(counts(&table).await, (1, 0));
    let nothing = process_stream_batch(&table, &json!({})).await;
    assert!(nothing.batch_item_failures.is_empty());
}
