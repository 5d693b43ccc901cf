//! The `count` function on DynamoDB Local: stream batches as Lambda delivers them are added to
//! the index counts exactly once, however often and however split Lambda redelivers them, and a
//! record that cannot be counted is reported without holding back the others; the local stream
//! poller reads each shard to its end and sets poison records aside.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use atrack_shared::runtime::worker::process_stream_batch;
use atrack_shared::store::AnyTable;
use atrack_shared::store::engine::dynamo::DynamoTable;
use atrack_shared::store::item::{Attr, Item};
use atrack_shared::store::keys::{GSI1, GSI1_PK, GSI1_SK, PK, SK};
use atrack_shared::store::table::Table;
use atrack_shared::streams::Dispatcher;
use atrack_shared::streams::poller::{MAX_EMPTY_PAGES, StreamPoller, streams_client_through};
use atrack_tests::{Engine, local_aws, open_table};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;
use serde_json::{Value, json};

/// What the `count` function runs over `table`.
fn counting(table: &DynamoTable) -> Dispatcher {
    Dispatcher::for_table(table.clone())
}

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
    let response = process_stream_batch(&counting(&table), &sample()).await;
    assert!(response.batch_item_failures.is_empty());
    // Two checkouts inserted and one removed; one page view; the session change counts nothing.
    assert_eq!(counts(&table).await, (1, 1));
}

#[tokio::test]
async fn a_redelivered_batch_is_counted_once() {
    let (_t, table) = dynamo().await;
    let event = sample();
    process_stream_batch(&counting(&table), &event).await;
    let again = process_stream_batch(&counting(&table), &event).await;
    assert!(again.batch_item_failures.is_empty());
    assert_eq!(counts(&table).await, (1, 1));
}

#[tokio::test]
async fn a_redelivery_that_grew_counts_only_its_new_records() {
    let (_t, table) = dynamo().await;
    let event = sample();
    process_stream_batch(&counting(&table), &event).await;
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
    process_stream_batch(&counting(&table), &grown).await;
    assert_eq!(counts(&table).await, (3, 1));
}

#[tokio::test]
async fn a_batch_that_cannot_be_counted_names_its_first_record_for_redelivery() {
    let (t, table) = dynamo().await;
    // A table that does not exist: every write fails, as in an outage.
    let missing = DynamoTable::new(table.client().clone(), format!("{}-missing", table.name()));
    let response = process_stream_batch(&counting(&missing), &sample()).await;
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
    let response = process_stream_batch(&counting(&table), &event).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(counts(&table).await, (1, 0));
    let nothing = process_stream_batch(&counting(&table), &json!({})).await;
    assert!(nothing.batch_item_failures.is_empty());
}

// ---- partial failures, bisected and split redeliveries ----

/// A Lambda batch of `records`.
fn batch(records: &[Value]) -> Value {
    json!({ "Records": records })
}

/// A stream record inserting an event under index partition `partition`.
fn insert_into(partition: &str, n: usize) -> Value {
    json!({"eventID": format!("e{n:031}"), "eventName": "INSERT", "dynamodb": {
        "SequenceNumber": format!("2222{n:017}"),
        "NewImage": {"GSI1PK": {"S": partition}}}})
}

/// A record with an id and a sequence number that the counter cannot read: its index key is
/// not a string.
fn poison(n: usize) -> Value {
    json!({"eventID": format!("e{n:031}"), "eventName": "INSERT", "dynamodb": {
        "SequenceNumber": format!("2222{n:017}"),
        "NewImage": {"GSI1PK": {"N": "7"}}}})
}

fn failures(response: &aws_lambda_events::event::streams::DynamoDbEventResponse) -> Vec<String> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone().unwrap_or_default())
        .collect()
}

fn sequence(record: &Value) -> String {
    record["dynamodb"]["SequenceNumber"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_poison_record_is_reported_and_the_records_around_it_are_counted_once() {
    let (_t, table) = dynamo().await;
    let records = [
        insert_into(CHECKOUT, 1),
        poison(2),
        insert_into(CHECKOUT, 3),
        insert_into(PAGE_VIEW, 4),
    ];
    let response = process_stream_batch(&counting(&table), &batch(&records)).await;
    // Lambda redelivers from the poison record: the records after it are counted already.
    assert_eq!(failures(&response), [sequence(&records[1])]);
    assert_eq!(counts(&table).await, (2, 1));
    // The same batch again, and the redelivery from the poison record, count nothing twice
    // and report the poison record again (until Lambda gives up on it and sends it to the
    // dead-letter queue).
    let again = process_stream_batch(&counting(&table), &batch(&records)).await;
    assert_eq!(failures(&again), [sequence(&records[1])]);
    let rest = process_stream_batch(&counting(&table), &batch(&records[1..])).await;
    assert_eq!(failures(&rest), [sequence(&records[1])]);
    assert_eq!(counts(&table).await, (2, 1));
    // Once it is set aside, Lambda moves on; a later batch counts as usual.
    let later = [insert_into(CHECKOUT, 5)];
    let response = process_stream_batch(&counting(&table), &batch(&later)).await;
    assert!(failures(&response).is_empty());
    assert_eq!(counts(&table).await, (3, 1));
}

#[tokio::test]
async fn bisected_redeliveries_of_a_counted_batch_count_nothing_twice() {
    let (_t, table) = dynamo().await;
    let records: Vec<Value> = (1..=6).map(|n| insert_into(CHECKOUT, n)).collect();
    process_stream_batch(&counting(&table), &batch(&records)).await;
    assert_eq!(counts(&table).await, (6, 0));
    // The function failed after counting (a timeout, say): Lambda splits the batch in two and
    // delivers the halves in order; the second half fails again, is retried, then split.
    // Each delivery starts where Lambda's checkpoint is: the start of the one before (a retry)
    // or the record after its end.
    for piece in [&records[..3], &records[3..], &records[3..5], &records[5..]] {
        let response = process_stream_batch(&counting(&table), &batch(piece)).await;
        assert!(failures(&response).is_empty());
        assert_eq!(counts(&table).await, (6, 0), "after {piece:?}");
    }
}

#[tokio::test]
async fn redeliveries_split_anywhere_in_a_batch_counted_in_parts_count_each_record_once() {
    let (_t, table) = dynamo().await;
    // 150 index partitions: more than one transaction holds, so the batch is counted in parts.
    let partition = |n: usize| format!("P#default#N#ev{n}");
    let records: Vec<Value> = (0..150).map(|n| insert_into(&partition(n), n)).collect();
    // An earlier, shorter delivery counted a prefix, then failed; its retry, grown, counts the
    // rest and fails too (after counting); then Lambda bisects, at places no earlier delivery
    // started or ended. Each delivery starts at the start of the one before (a retry) or just
    // after its end (the one before succeeded).
    for piece in [
        &records[..40],
        &records[..],
        &records[..75],
        &records[75..],
        &records[75..112],
        &records[112..],
        &records[112..131],
        &records[131..],
    ] {
        let response = process_stream_batch(&counting(&table), &batch(piece)).await;
        assert!(failures(&response).is_empty());
    }
    for n in 0..150 {
        assert_eq!(
            table.index_count(GSI1, &partition(n)).await.unwrap(),
            1,
            "partition {n}"
        );
    }
}

// ---- the local stream poller ----

/// What the stand-in in front of DynamoDB Local's Streams API does to GetRecords.
#[derive(Clone, Copy)]
enum Pages {
    /// Answers each shard iterator with this many empty pages (naming the same iterator as the
    /// next one) before passing it on: DynamoDB Streams may answer an empty page in the middle
    /// of a shard.
    EmptyFirst(usize),
    /// Answers every read with an empty page: an open shard with nothing new, forever.
    AlwaysEmpty,
    /// Passes reads on, and rewrites the first record whose index key is `from` (a poison
    /// record) to carry `to` instead.
    Rewrite {
        from: &'static str,
        to: fn() -> Value,
    },
}

#[derive(Debug)]
struct StandIn {
    inner: SharedHttpClient,
    state: Arc<StandInState>,
}

#[derive(Debug)]
struct StandInState {
    pages: Mutex<PagesDebug>,
    reads: AtomicUsize,
    seen: Mutex<HashMap<String, usize>>,
    rewritten: AtomicUsize,
}

/// `Pages` behind a Debug the SDK's traits need.
struct PagesDebug(Pages);

impl std::fmt::Debug for PagesDebug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pages")
    }
}

impl HttpClient for StandIn {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(StandInConnector {
            inner: self.inner.http_connector(settings, components),
            state: self.state.clone(),
        })
    }
}

#[derive(Debug)]
struct StandInConnector {
    inner: SharedHttpConnector,
    state: Arc<StandInState>,
}

fn empty_page(iterator: &str) -> HttpResponse {
    let body = json!({"Records": [], "NextShardIterator": iterator}).to_string();
    let mut response =
        HttpResponse::new(StatusCode::try_from(200u16).unwrap(), SdkBody::from(body));
    response
        .headers_mut()
        .insert("content-type", "application/x-amz-json-1.0");
    response
}

impl HttpConnector for StandInConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let get_records = request
            .headers()
            .get("x-amz-target")
            .is_some_and(|t| t.ends_with(".GetRecords"));
        if !get_records {
            return self.inner.call(request);
        }
        self.state.reads.fetch_add(1, Ordering::SeqCst);
        let iterator = request
            .body()
            .bytes()
            .and_then(|b| serde_json::from_slice::<Value>(b).ok())
            .and_then(|v| v["ShardIterator"].as_str().map(str::to_owned))
            .expect("a GetRecords request names its iterator");
        let pages = self.state.pages.lock().unwrap().0;
        match pages {
            Pages::AlwaysEmpty => HttpConnectorFuture::ready(Ok(empty_page(&iterator))),
            Pages::EmptyFirst(n) => {
                let mut seen = self.state.seen.lock().unwrap();
                let count = seen.entry(iterator.clone()).or_default();
                if *count < n {
                    *count += 1;
                    return HttpConnectorFuture::ready(Ok(empty_page(&iterator)));
                }
                drop(seen);
                self.inner.call(request)
            }
            Pages::Rewrite { from, to } => {
                let inner = self.inner.call(request);
                let state = self.state.clone();
                HttpConnectorFuture::new(async move {
                    let mut response = inner.await?;
                    let body = std::mem::replace(response.body_mut(), SdkBody::taken());
                    let bytes = ByteStream::new(body).collect().await.unwrap().into_bytes();
                    let mut page: Value = serde_json::from_slice(&bytes).unwrap();
                    if let Some(records) = page["Records"].as_array_mut() {
                        for record in records {
                            let key = record
                                .pointer_mut("/dynamodb/NewImage/GSI1PK")
                                .filter(|key| key["S"] == from);
                            if let Some(key) = key
                                && state.rewritten.load(Ordering::SeqCst) == 0
                            {
                                *key = to();
                                state.rewritten.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                    }
                    *response.body_mut() = SdkBody::from(page.to_string());
                    Ok(response)
                })
            }
        }
    }
}

/// A poller of `table`'s stream whose GetRecords answers go through a stand-in doing `pages`.
async fn poller(table: &DynamoTable, pages: Pages) -> (StreamPoller, Arc<StandInState>) {
    let aws = local_aws("AWS_ENDPOINT_URL_DYNAMODB_STREAMS").await;
    let state = Arc::new(StandInState {
        pages: Mutex::new(PagesDebug(pages)),
        reads: AtomicUsize::new(0),
        seen: Mutex::new(HashMap::new()),
        rewritten: AtomicUsize::new(0),
    });
    let streams = {
        let state = state.clone();
        streams_client_through(&aws, move |inner| {
            SharedHttpClient::new(StandIn { inner, state })
        })
    };
    (StreamPoller::new(table.clone(), streams), state)
}

/// Writes `n` events of one name, as index items the stream carries.
async fn write_events(table: &DynamoTable, partition: &str, n: usize) {
    for i in 0..n {
        let item = Item::from([
            (PK.to_owned(), Attr::s(format!("P#default#U#u{i}"))),
            (SK.to_owned(), Attr::s(format!("EV#{i:06}"))),
            (GSI1_PK.to_owned(), Attr::s(partition)),
            (GSI1_SK.to_owned(), Attr::s(format!("{i:06}"))),
        ]);
        table.put(item, None).await.unwrap();
    }
}

#[tokio::test]
async fn the_poller_reads_on_past_empty_pages_in_the_middle_of_a_shard() {
    let (_t, table) = dynamo().await;
    write_events(&table, CHECKOUT, 5).await;
    let (poller, state) = poller(&table, Pages::EmptyFirst(2)).await;
    let counted = poller.poll_once().await.unwrap();
    assert_eq!(counted, 5);
    assert_eq!(counts(&table).await, (5, 0));
    assert!(state.reads.load(Ordering::SeqCst) >= 3);
}

#[tokio::test]
async fn an_open_shard_that_stays_empty_ends_the_poll_after_a_bounded_number_of_reads() {
    let (_t, table) = dynamo().await;
    write_events(&table, CHECKOUT, 1).await;
    let (poller, state) = poller(&table, Pages::AlwaysEmpty).await;
    assert_eq!(poller.poll_once().await.unwrap(), 0);
    let reads = state.reads.load(Ordering::SeqCst);
    assert!(
        (1..=MAX_EMPTY_PAGES + 1).contains(&reads),
        "{reads} reads of an empty shard"
    );
}

fn number_key() -> Value {
    json!({"N": "7"})
}

/// Longer than DynamoDB allows a partition key: counting it is refused.
fn oversized_key() -> Value {
    json!({"S": format!("P#default#N#{}", "x".repeat(3000))})
}

async fn dead_letters(table: &DynamoTable) -> Vec<Item> {
    let mut found = Vec::new();
    let scan = table
        .client()
        .scan()
        .table_name(table.name())
        .send()
        .await
        .unwrap();
    for item in scan.items() {
        if item
            .get(SK)
            .and_then(|v| v.as_s().ok())
            .is_some_and(|sk| sk.starts_with("DLQ#"))
        {
            let mut plain = Item::new();
            for (k, v) in item {
                if let Ok(s) = v.as_s() {
                    plain.insert(k.clone(), Attr::s(s));
                }
            }
            found.push(plain);
        }
    }
    found
}

#[tokio::test]
async fn the_poller_sets_a_poison_record_aside_and_counts_the_rest() {
    for (to, why) in [
        (number_key as fn() -> Value, "unreadable"),
        (oversized_key as fn() -> Value, "refused by storage"),
    ] {
        let (_t, table) = dynamo().await;
        write_events(&table, CHECKOUT, 2).await;
        write_events(&table, PAGE_VIEW, 1).await;
        write_events(&table, CHECKOUT, 1).await;
        let (poller, state) = poller(
            &table,
            Pages::Rewrite {
                from: PAGE_VIEW,
                to,
            },
        )
        .await;
        let counted = poller.poll_once().await.expect(why);
        assert_eq!(state.rewritten.load(Ordering::SeqCst), 1);
        // The checkouts on both sides of it are counted; the page view never is.
        assert_eq!(counted, 3, "{why}");
        assert_eq!(counts(&table).await, (3, 0), "{why}");
        let letters = dead_letters(&table).await;
        assert_eq!(letters.len(), 1, "{why}: {letters:?}");
        // The shard moved past it: another poll counts and sets aside nothing more.
        assert_eq!(poller.poll_once().await.unwrap(), 0);
        assert_eq!(dead_letters(&table).await.len(), 1);
        assert_eq!(counts(&table).await, (3, 0));
    }
}
