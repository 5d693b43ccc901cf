//! The stream poller: reads the table's DynamoDB stream through the Streams API and counts it
//! (`dynamo_counts`), for `atrack serve --store dynamodb` and the tests. On AWS the `count`
//! function does this job instead, fed by Lambda; run one or the other against a table, not
//! both (their batches are guarded differently, so together they could count a record twice).
//!
//! A shard is read until its iterator ends (a closed shard) or, for an open shard, until
//! [`MAX_EMPTY_PAGES`] pages in a row came back empty: DynamoDB Streams may answer an empty page
//! in the middle of a shard, with more records after it. Where an open shard's poll stopped is
//! kept, so the next poll goes on from there rather than through the same empty stretch again.
//! A record the poller cannot read, or that storage refuses to count on its own
//! [`MAX_ATTEMPTS`] times in a row, is logged and set aside in a `DLQ#` item of its shard
//! (`keys::dead_letter_sk`), and the shard moves past it: it never holds the shard up.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodbstreams::Client as StreamsClient;
use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;
use tokio::sync::{OnceCell, watch};

use super::counts::{Change, CountError, Record};
use crate::domain::time::SystemClock;
use crate::store::engine::dynamo::{DynamoTable, classify};
use crate::store::item::get_s;
use crate::store::keys;
use crate::store::repo::Repo;
use crate::store::table::{Key, StoreError, StoreResult};

/// Records per GetRecords call (the API's maximum).
const RECORDS_PER_READ: i32 = 1000;
/// Empty pages in a row after which an open shard counts as read to its end for this poll.
pub const MAX_EMPTY_PAGES: usize = 5;
/// Tries at counting a record alone that storage refuses before it is set aside.
pub const MAX_ATTEMPTS: usize = 3;

/// Polls one table's stream and keeps its index counts and visits' last activity.
pub struct StreamPoller {
    table: DynamoTable,
    /// Moves last activity (`streams::activity`).
    repo: Repo<DynamoTable>,
    streams: StreamsClient,
    stream_arn: OnceCell<String>,
    /// Where the last poll of each open shard stopped: the checkpoint then, and the iterator
    /// past the records it read.
    resume: Mutex<HashMap<String, (Option<String>, String)>>,
}

impl StreamPoller {
    pub fn new(table: DynamoTable, streams: StreamsClient) -> Self {
        StreamPoller {
            repo: Repo::new(table.clone(), Arc::new(SystemClock)),
            table,
            streams,
            stream_arn: OnceCell::new(),
            resume: Mutex::new(HashMap::new()),
        }
    }

    async fn stream_arn(&self) -> StoreResult<&str> {
        self.stream_arn
            .get_or_try_init(|| async {
                let described = self
                    .table
                    .client()
                    .describe_table()
                    .table_name(self.table.name())
                    .send()
                    .await
                    .map_err(classify)?;
                described
                    .table()
                    .and_then(|t| t.latest_stream_arn())
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        StoreError::Rejected(format!(
                            "table {} has no stream; create it with `atrack table create`",
                            self.table.name()
                        ))
                    })
            })
            .await
            .map(String::as_str)
    }

    /// Reads every shard up to its end and counts what it read. Returns how many records
    /// were counted.
    pub async fn poll_once(&self) -> StoreResult<usize> {
        let arn = self.stream_arn().await?.to_owned();
        let mut shards = Vec::new();
        let mut start: Option<String> = None;
        loop {
            let described = self
                .streams
                .describe_stream()
                .stream_arn(&arn)
                .set_exclusive_start_shard_id(start.take())
                .send()
                .await
                .map_err(classify)?;
            let Some(description) = described.stream_description() else {
                break;
            };
            shards.extend(
                description
                    .shards()
                    .iter()
                    .filter_map(|s| s.shard_id().map(str::to_owned)),
            );
            match description.last_evaluated_shard_id() {
                Some(last) => start = Some(last.to_owned()),
                None => break,
            }
        }
        let mut counted = 0;
        for shard in shards {
            counted += self.drain_shard(&arn, &shard).await?;
        }
        Ok(counted)
    }

    async fn checkpoint(&self, shard_id: &str) -> StoreResult<Option<String>> {
        let key = Key::new(
            keys::shard_checkpoint_pk(shard_id),
            keys::SHARD_CHECKPOINT_SK,
        );
        let item = self.table.get_item(&key, true).await?;
        Ok(item
            .as_ref()
            .and_then(|i| get_s(i, "sequence"))
            .map(str::to_owned))
    }

    /// An iterator from the shard's checkpoint `after` (from its start when `None`).
    async fn iterator_at(
        &self,
        arn: &str,
        shard_id: &str,
        after: Option<&str>,
    ) -> StoreResult<Option<String>> {
        let request = self
            .streams
            .get_shard_iterator()
            .stream_arn(arn)
            .shard_id(shard_id);
        let request = match after {
            Some(seq) => request
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .sequence_number(seq),
            None => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
        };
        Ok(request
            .send()
            .await
            .map_err(classify)?
            .shard_iterator()
            .map(str::to_owned))
    }

    fn resume_point(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Option<String>, String)>> {
        self.resume.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts one shard from its checkpoint to its current end.
    async fn drain_shard(&self, arn: &str, shard_id: &str) -> StoreResult<usize> {
        // A moved checkpoint means another poller got there first: start again from it.
        'restart: for _ in 0..3 {
            let mut after = self.checkpoint(shard_id).await?;
            // Go on where the last poll stopped, unless the checkpoint moved since.
            let saved = self
                .resume_point()
                .remove(shard_id)
                .filter(|(at, _)| *at == after)
                .map(|(_, iterator)| iterator);
            let mut from_checkpoint = saved.is_none();
            let mut iterator = match saved {
                Some(iterator) => Some(iterator),
                None => self.iterator_at(arn, shard_id, after.as_deref()).await?,
            };
            let mut counted = 0;
            let mut empty = 0;
            while let Some(current) = iterator.take() {
                let output = match self
                    .streams
                    .get_records()
                    .shard_iterator(current)
                    .limit(RECORDS_PER_READ)
                    .send()
                    .await
                {
                    Ok(output) => output,
                    // A kept iterator may have expired (after 15 minutes): start from the
                    // checkpoint instead.
                    Err(_) if !from_checkpoint => {
                        from_checkpoint = true;
                        iterator = self.iterator_at(arn, shard_id, after.as_deref()).await?;
                        continue;
                    }
                    Err(e) => return Err(classify(e)),
                };
                let next = output.next_shard_iterator().map(str::to_owned);
                if output.records().is_empty() {
                    // The end of a closed shard (no next iterator), the end so far of an open
                    // one, or a stretch without records in either: read on, a few pages.
                    empty += 1;
                    if empty >= MAX_EMPTY_PAGES {
                        if let Some(next) = next {
                            self.resume_point()
                                .insert(shard_id.to_owned(), (after.clone(), next));
                        }
                        break;
                    }
                    iterator = next;
                    continue;
                }
                empty = 0;
                let records: Vec<Record> = output
                    .records()
                    .iter()
                    .filter_map(|record| {
                        let read = Record::from_stream(record);
                        if read.is_none() {
                            tracing::warn!(
                                shard_id,
                                "stream record without eventID or sequence number; skipped"
                            );
                        }
                        read
                    })
                    .collect();
                // Before the checkpoint moves past them: a failure reads them again, and
                // moving last activity twice changes nothing.
                super::activity::apply(&self.repo, &records).await?;
                match self.count_page(shard_id, &mut after, &records).await {
                    Ok(n) => counted += n,
                    Err(CountError::CheckpointMoved) => continue 'restart,
                    Err(CountError::Store { source, .. }) => return Err(source),
                }
                iterator = next;
            }
            return Ok(counted);
        }
        Err(StoreError::Unavailable(
            "the shard checkpoint kept moving under another poller".into(),
        ))
    }

    /// Counts a page of a shard's records from its checkpoint `after`, which it advances;
    /// records that cannot be read are set aside.
    async fn count_page(
        &self,
        shard_id: &str,
        after: &mut Option<String>,
        records: &[Record],
    ) -> Result<usize, CountError> {
        let mut counted = 0;
        let mut pos = 0;
        while pos < records.len() {
            let readable = records[pos..]
                .iter()
                .position(|r| r.change().is_none())
                .map_or(records.len(), |i| pos + i);
            if readable > pos {
                let changes: Vec<Change> = records[pos..readable]
                    .iter()
                    .filter_map(|r| r.change().cloned())
                    .collect();
                counted += self.count_changes(shard_id, after, &changes).await?;
                pos = readable;
            }
            if let Some(poison @ Record::Poison { reason, .. }) = records.get(pos) {
                self.set_aside(shard_id, after, poison, reason).await?;
                pos += 1;
            }
        }
        Ok(counted)
    }

    /// Counts changes from the checkpoint `after`, which it advances. When storage refuses
    /// them (not merely unavailable), they are counted one at a time, and one refused
    /// [`MAX_ATTEMPTS`] times in a row is set aside.
    async fn count_changes(
        &self,
        shard_id: &str,
        after: &mut Option<String>,
        changes: &[Change],
    ) -> Result<usize, CountError> {
        match self
            .table
            .apply_shard_changes(changes, shard_id, after.clone())
            .await
        {
            Ok(done) => {
                *after = done.checkpoint;
                return Ok(done.applied);
            }
            Err(CountError::Store {
                source: StoreError::Unavailable(e),
                applied,
            }) => {
                return Err(CountError::Store {
                    applied,
                    source: StoreError::Unavailable(e),
                });
            }
            Err(CountError::CheckpointMoved) => return Err(CountError::CheckpointMoved),
            Err(CountError::Store { source, .. }) => tracing::warn!(
                shard_id,
                error = &source as &dyn std::error::Error,
                "storage refused a run of stream records; counting them one at a time"
            ),
        }
        // Part of the run may be counted: go on from the checkpoint.
        let store = |source| CountError::Store { applied: 0, source };
        *after = self.checkpoint(shard_id).await.map_err(store)?;
        let start = after
            .as_ref()
            .and_then(|at| changes.iter().position(|c| c.sequence == *at))
            .map_or(0, |i| i + 1);
        let mut counted = 0;
        for change in &changes[start..] {
            let mut attempts = 0;
            loop {
                attempts += 1;
                let one = std::slice::from_ref(change);
                match self
                    .table
                    .apply_shard_changes(one, shard_id, after.clone())
                    .await
                {
                    Ok(done) => {
                        *after = done.checkpoint;
                        counted += done.applied;
                        break;
                    }
                    Err(CountError::Store { source, .. })
                        if !matches!(source, StoreError::Unavailable(_))
                            && attempts >= MAX_ATTEMPTS =>
                    {
                        let record = Record::Change(change.clone());
                        self.set_aside(shard_id, after, &record, &source.to_string())
                            .await?;
                        break;
                    }
                    Err(CountError::Store { source, .. })
                        if !matches!(source, StoreError::Unavailable(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(counted)
    }

    /// Logs a record and sets it aside, moving the checkpoint `after` past it.
    async fn set_aside(
        &self,
        shard_id: &str,
        after: &mut Option<String>,
        record: &Record,
        reason: &str,
    ) -> Result<(), CountError> {
        tracing::error!(
            shard_id,
            sequence = record.sequence(),
            event_id = record.event_id(),
            reason,
            "stream record cannot be counted; set aside"
        );
        self.table
            .set_aside(shard_id, after.as_deref(), record, reason)
            .await?;
        *after = Some(record.sequence().to_owned());
        Ok(())
    }

    /// Polls every `every` until `shutdown` turns true; failures are logged and retried.
    pub async fn run(&self, every: Duration, mut shutdown: watch::Receiver<bool>) {
        loop {
            if let Err(e) = self.poll_once().await {
                tracing::warn!(
                    error = &e as &dyn std::error::Error,
                    "counting the table's stream failed; retrying"
                );
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
        }
    }
}

/// A Streams client for the SDK configuration. Against a local stand-in (a plain `http://`
/// endpoint in `AWS_ENDPOINT_URL_DYNAMODB_STREAMS`, i.e. DynamoDB Local) it reads records
/// whatever the stand-in's spelling of an empty map (see [`EmptyMapFix`]).
pub fn streams_client(aws: &aws_config::SdkConfig) -> StreamsClient {
    let mut config = aws_sdk_dynamodbstreams::config::Builder::from(aws);
    if let Some(http) = local_http_client() {
        config = config.http_client(http);
    }
    StreamsClient::from_conf(config.build())
}

/// As [`streams_client`], with every request passing through the client `wrap` makes of the
/// one it would use: for tests that stand in front of the Streams API.
pub fn streams_client_through(
    aws: &aws_config::SdkConfig,
    wrap: impl FnOnce(SharedHttpClient) -> SharedHttpClient,
) -> StreamsClient {
    let inner = local_http_client()
        .or_else(|| aws.http_client())
        .unwrap_or_else(|| {
            SharedHttpClient::new(aws_smithy_http_client::Builder::new().build_http())
        });
    let config = aws_sdk_dynamodbstreams::config::Builder::from(aws).http_client(wrap(inner));
    StreamsClient::from_conf(config.build())
}

/// Against a local stand-in (a plain `http://` endpoint), a client that mends its records.
fn local_http_client() -> Option<SharedHttpClient> {
    let local = std::env::var("AWS_ENDPOINT_URL_DYNAMODB_STREAMS")
        .is_ok_and(|endpoint| endpoint.starts_with("http://"));
    local.then(|| {
        let http = aws_smithy_http_client::Builder::new().build_http();
        SharedHttpClient::new(EmptyMapFix(http))
    })
}

/// DynamoDB Local writes an empty map attribute in a stream record as `{}` instead of
/// `{"M": {}}`, and the SDK then refuses the whole GetRecords page. This client spells such
/// values out before the SDK reads them; bodies that are already well formed pass unchanged.
#[derive(Debug)]
struct EmptyMapFix(SharedHttpClient);

impl HttpClient for EmptyMapFix {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(EmptyMapFixConnector(
            self.0.http_connector(settings, components),
        ))
    }
}

#[derive(Debug)]
struct EmptyMapFixConnector(SharedHttpConnector);

impl HttpConnector for EmptyMapFixConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let inner = self.0.call(request);
        HttpConnectorFuture::new(async move {
            let mut response = inner.await?;
            let body = std::mem::replace(response.body_mut(), SdkBody::taken());
            let bytes = ByteStream::new(body)
                .collect()
                .await
                .map_err(|e| ConnectorError::io(Box::new(e)))?
                .into_bytes();
            let fixed = match serde_json::from_slice::<serde_json::Value>(&bytes) {
                Ok(mut json) => {
                    if fix_records(&mut json) {
                        serde_json::to_vec(&json)
                            .map(bytes::Bytes::from)
                            .unwrap_or(bytes)
                    } else {
                        bytes
                    }
                }
                Err(_) => bytes,
            };
            *response.body_mut() = SdkBody::from(fixed);
            Ok(response)
        })
    }
}

/// Rewrites `{}` attribute values in a GetRecords answer; returns whether anything changed.
fn fix_records(json: &mut serde_json::Value) -> bool {
    let Some(records) = json.get_mut("Records").and_then(|r| r.as_array_mut()) else {
        return false;
    };
    let mut changed = false;
    for record in records {
        let Some(body) = record.get_mut("dynamodb") else {
            continue;
        };
        for image in ["Keys", "NewImage", "OldImage"] {
            if let Some(serde_json::Value::Object(map)) = body.get_mut(image) {
                for value in map.values_mut() {
                    changed |= fix_value(value);
                }
            }
        }
    }
    changed
}

fn fix_value(value: &mut serde_json::Value) -> bool {
    let serde_json::Value::Object(typed) = value else {
        return false;
    };
    if typed.is_empty() {
        *value = serde_json::json!({"M": {}});
        return true;
    }
    let mut changed = false;
    if let Some(serde_json::Value::Object(map)) = typed.get_mut("M") {
        for inner in map.values_mut() {
            changed |= fix_value(inner);
        }
    }
    if let Some(serde_json::Value::Array(list)) = typed.get_mut("L") {
        for inner in list {
            changed |= fix_value(inner);
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::fix_records;
    use serde_json::json;

    #[test]
    fn empty_maps_are_spelled_out_at_any_depth() {
        let mut page = json!({"Records": [{"dynamodb": {
            "NewImage": {"a": {}, "b": {"M": {"c": {}, "d": {"L": [{}, {"S": "x"}]}}}, "e": {"S": "y"}}
        }}]});
        assert!(fix_records(&mut page));
        assert_eq!(
            page["Records"][0]["dynamodb"]["NewImage"],
            json!({"a": {"M": {}}, "b": {"M": {"c": {"M": {}}, "d": {"L": [{"M": {}}, {"S": "x"}]}}}, "e": {"S": "y"}})
        );
        let mut clean = json!({"Records": [{"dynamodb": {"Keys": {"PK": {"S": "p"}}}}]});
        assert!(!fix_records(&mut clean));
    }
}
