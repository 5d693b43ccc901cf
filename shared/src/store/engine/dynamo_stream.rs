//! The stream poller: reads the table's DynamoDB stream through the Streams API and counts it
//! (`dynamo_counts`), for `atrack serve --store dynamodb` and the tests. On AWS the `count`
//! function does this job instead, fed by Lambda; run one or the other against a table, not
//! both (their batches are guarded differently, so together they could count a record twice).

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

use super::dynamo::{DynamoTable, classify};
use super::dynamo_counts::{Change, CountError, Guard};
use crate::store::item::get_s;
use crate::store::keys;
use crate::store::table::{Key, StoreError, StoreResult};

/// Records per GetRecords call (the API's maximum).
const RECORDS_PER_READ: i32 = 1000;

/// Polls one table's stream and keeps its index counts.
pub struct StreamPoller {
    table: DynamoTable,
    streams: StreamsClient,
    stream_arn: OnceCell<String>,
}

impl StreamPoller {
    pub fn new(table: DynamoTable, streams: StreamsClient) -> Self {
        StreamPoller {
            table,
            streams,
            stream_arn: OnceCell::new(),
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

    /// Counts one shard from its checkpoint to its current end.
    async fn drain_shard(&self, arn: &str, shard_id: &str) -> StoreResult<usize> {
        // A moved checkpoint means another poller got there first: start again from it.
        'restart: for _ in 0..3 {
            let mut after = self.checkpoint(shard_id).await?;
            let request = self
                .streams
                .get_shard_iterator()
                .stream_arn(arn)
                .shard_id(shard_id);
            let request = match &after {
                Some(seq) => request
                    .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                    .sequence_number(seq),
                None => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
            };
            let mut iterator = request
                .send()
                .await
                .map_err(classify)?
                .shard_iterator()
                .map(str::to_owned);
            let mut counted = 0;
            while let Some(current) = iterator.take() {
                let output = self
                    .streams
                    .get_records()
                    .shard_iterator(current)
                    .limit(RECORDS_PER_READ)
                    .send()
                    .await
                    .map_err(classify)?;
                let changes: Vec<Change> = output
                    .records()
                    .iter()
                    .filter_map(Change::from_stream_record)
                    .collect();
                if changes.is_empty() {
                    // Caught up with an open shard, or at the end of a closed one.
                    break;
                }
                let guard = Guard::Shard {
                    shard_id: shard_id.to_owned(),
                    after: after.clone(),
                };
                match self.table.apply_changes(&changes, guard).await {
                    Ok(done) => {
                        counted += done.applied;
                        after = done.checkpoint;
                    }
                    Err(CountError::CheckpointMoved) => continue 'restart,
                    Err(CountError::Store { source, .. }) => return Err(source),
                }
                iterator = output.next_shard_iterator().map(str::to_owned);
            }
            return Ok(counted);
        }
        Err(StoreError::Unavailable(
            "the shard checkpoint kept moving under another poller".into(),
        ))
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
    let local = std::env::var("AWS_ENDPOINT_URL_DYNAMODB_STREAMS")
        .is_ok_and(|endpoint| endpoint.starts_with("http://"));
    if local {
        let http = aws_smithy_http_client::Builder::new().build_http();
        config = config.http_client(SharedHttpClient::new(EmptyMapFix(http)));
    }
    StreamsClient::from_conf(config.build())
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
