//! Index counts on DynamoDB, kept from the table's stream instead of on the request path.
//!
//! An event write is the event item and its GSI entry, nothing more: a synchronous counter
//! update would be a third write unit on every event. Instead every insert or removal of an
//! indexed item (a TTL expiry included) reaches the table's stream, and a consumer adds a whole
//! batch to the counts at once: one `ADD` per index partition per batch, in one transaction.
//! event/show's `total` thus trails the writes by the stream's delay (on AWS, the `count`
//! function's batching window; locally, the poller's interval), and costs a few hundredths of a
//! write unit per event.
//!
//! Exactly once: the transaction that adds a batch to the counts also writes an item that
//! names what it covered, conditional on that item's state.
//! - From Lambda (`Guard::Batch`), a batch is redelivered from its first record after a
//!   failure, so the item is keyed by the first record's eventID and remembers the last one
//!   counted; a redelivery skips through that record. (Bisecting batches on error would break
//!   this and stays off in template.yaml.)
//! - From the poller (`Guard::Shard`), which knows shard ids, the item is the shard's
//!   checkpoint, advanced only from the position the poller read from; the poller restarts
//!   there, and a second poller on the same table can never count a record twice.

use std::collections::BTreeMap;
use std::collections::HashMap;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};

use super::dynamo::{DynamoTable, classify};
use crate::store::item::{get_i64, get_s};
use crate::store::keys::{self, TABLE};
use crate::store::table::{Key, StoreError, StoreResult};

/// DynamoDB takes at most 100 items in a transaction; one is the guard item.
const MAX_COUNTS_PER_TRANSACTION: usize = 99;
/// Batch markers outlive the stream's 24 h retention, after which no redelivery can happen.
const MARKER_LIFETIME_SECS: u64 = 2 * 24 * 3600;

/// What one stream record does to the index counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The stream record's eventID, unique in the stream.
    pub event_id: String,
    /// The record's sequence number within its shard.
    pub sequence: String,
    /// The index partition of the item before the change (absent: not indexed, or inserted).
    pub old_partition: Option<String>,
    /// The index partition after the change (absent: not indexed, or removed).
    pub new_partition: Option<String>,
}

/// What protects a batch against being counted twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Guard {
    /// Lambda's delivery: keyed by the batch's first record.
    Batch,
    /// The poller's shard checkpoint, expected at `after` (`None`: never advanced).
    Shard {
        shard_id: String,
        after: Option<String>,
    },
}

/// Why counting a batch stopped.
#[derive(Debug, thiserror::Error)]
pub enum CountError {
    /// Another poller advanced this shard's checkpoint: read it again and resume there.
    #[error("the shard checkpoint moved")]
    CheckpointMoved,
    /// Storage failed after `applied` changes were counted; the rest must be redelivered.
    #[error("counting failed after {applied} changes")]
    Store {
        applied: usize,
        #[source]
        source: StoreError,
    },
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn epoch_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The net change to each partition's count over `changes`.
fn deltas(changes: &[Change]) -> BTreeMap<&str, i64> {
    let mut out: BTreeMap<&str, i64> = BTreeMap::new();
    for change in changes {
        if change.old_partition == change.new_partition {
            continue;
        }
        if let Some(old) = &change.old_partition {
            *out.entry(old).or_default() -= 1;
        }
        if let Some(new) = &change.new_partition {
            *out.entry(new).or_default() += 1;
        }
    }
    out.retain(|_, d| *d != 0);
    out
}

/// How many changes from the front fit one transaction (at most 99 distinct partitions).
fn chunk_len(changes: &[Change]) -> usize {
    let mut seen: Vec<&str> = Vec::new();
    for (i, change) in changes.iter().enumerate() {
        for p in [&change.old_partition, &change.new_partition]
            .into_iter()
            .flatten()
        {
            if !seen.contains(&p.as_str()) {
                if seen.len() == MAX_COUNTS_PER_TRANSACTION {
                    return i.max(1);
                }
                seen.push(p);
            }
        }
    }
    changes.len()
}

enum Attempt {
    Applied,
    /// The chunk changes no count, so nothing was written: the count items and guard items
    /// this consumer writes come back through the stream themselves, and writing for them
    /// would feed the stream forever.
    NothingToCount,
    /// The guard's condition failed.
    Guarded,
}

/// What a call to [`DynamoTable::apply_changes`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counted {
    /// Changes counted by this call (the others had been counted before or change nothing).
    pub applied: usize,
    /// For `Guard::Shard`: the shard's checkpoint afterwards.
    pub checkpoint: Option<String>,
}

impl DynamoTable {
    /// The count item of an index partition.
    pub(crate) async fn read_count(&self, partition: &str) -> StoreResult<u64> {
        let item = self
            .get_item(&Key::new(partition, keys::COUNT_SK), false)
            .await?;
        Ok(item
            .as_ref()
            .and_then(|i| get_i64(i, "total"))
            .map_or(0, |n| n.max(0) as u64))
    }

    /// Adds a batch of stream changes, in order, to the index counts, exactly once under the
    /// guard.
    pub async fn apply_changes(
        &self,
        changes: &[Change],
        guard: Guard,
    ) -> Result<Counted, CountError> {
        let mut pos = 0;
        let mut applied = 0;
        let mut shard_after = match &guard {
            Guard::Shard { after, .. } => after.clone(),
            Guard::Batch => None,
        };
        while pos < changes.len() {
            let len = chunk_len(&changes[pos..]);
            let chunk = &changes[pos..pos + len];
            let attempt = self
                .count_chunk(chunk, &guard, shard_after.as_deref())
                .await
                .map_err(|source| CountError::Store {
                    applied: pos,
                    source,
                })?;
            match attempt {
                Attempt::Applied => {
                    applied += len;
                    pos += len;
                    shard_after = chunk.last().map(|c| c.sequence.clone());
                }
                Attempt::NothingToCount => pos += len,
                Attempt::Guarded => match &guard {
                    Guard::Shard { .. } => return Err(CountError::CheckpointMoved),
                    Guard::Batch => {
                        // Counted before, through the record the marker names.
                        let last =
                            self.marker_last(&chunk[0].event_id)
                                .await
                                .map_err(|source| CountError::Store {
                                    applied: pos,
                                    source,
                                })?;
                        let skip = last
                            .and_then(|l| changes[pos..].iter().position(|c| c.event_id == l))
                            .map_or(changes.len() - pos, |i| i + 1);
                        pos += skip;
                    }
                },
            }
        }
        Ok(Counted {
            applied,
            checkpoint: shard_after,
        })
    }

    async fn marker_last(&self, first_event_id: &str) -> StoreResult<Option<String>> {
        let key = Key::new(
            keys::counted_batch_pk(first_event_id),
            keys::COUNTED_BATCH_SK,
        );
        let item = self.get_item(&key, true).await?;
        Ok(item
            .as_ref()
            .and_then(|i| get_s(i, "last"))
            .map(str::to_owned))
    }

    async fn count_chunk(
        &self,
        chunk: &[Change],
        guard: &Guard,
        shard_after: Option<&str>,
    ) -> StoreResult<Attempt> {
        let (Some(first), Some(last)) = (chunk.first(), chunk.last()) else {
            return Ok(Attempt::NothingToCount);
        };
        let deltas = deltas(chunk);
        if deltas.is_empty() {
            return Ok(Attempt::NothingToCount);
        }
        let guard_item = match guard {
            Guard::Batch => Put::builder()
                .table_name(self.name())
                .item(
                    TABLE.partition_key,
                    s(keys::counted_batch_pk(&first.event_id)),
                )
                .item(TABLE.sort_key, s(keys::COUNTED_BATCH_SK))
                .item("last", s(&last.event_id))
                .item(
                    TABLE.ttl_attribute,
                    AttributeValue::N((epoch_now() + MARKER_LIFETIME_SECS).to_string()),
                )
                .condition_expression("attribute_not_exists(#pk)")
                .expression_attribute_names("#pk", TABLE.partition_key),
            Guard::Shard { shard_id, .. } => {
                let put = Put::builder()
                    .table_name(self.name())
                    .item(TABLE.partition_key, s(keys::shard_checkpoint_pk(shard_id)))
                    .item(TABLE.sort_key, s(keys::SHARD_CHECKPOINT_SK))
                    .item("sequence", s(&last.sequence))
                    .expression_attribute_names("#seq", "sequence");
                match shard_after {
                    None => put.condition_expression("attribute_not_exists(#seq)"),
                    Some(after) => put
                        .condition_expression("#seq = :after")
                        .expression_attribute_values(":after", s(after)),
                }
            }
        };
        let mut items = vec![
            TransactWriteItem::builder()
                .put(guard_item.build().map_err(build_error)?)
                .build(),
        ];
        for (partition, delta) in deltas {
            let update = Update::builder()
                .table_name(self.name())
                .key(TABLE.partition_key, s(partition))
                .key(TABLE.sort_key, s(keys::COUNT_SK))
                .update_expression("ADD #total :d")
                .expression_attribute_names("#total", "total")
                .expression_attribute_values(":d", AttributeValue::N(delta.to_string()))
                .build()
                .map_err(build_error)?;
            items.push(TransactWriteItem::builder().update(update).build());
        }
        match self
            .client()
            .transact_write_items()
            .set_transact_items(Some(items))
            .set_return_consumed_capacity(self.return_capacity())
            .send()
            .await
        {
            Ok(output) => {
                self.meter_writes(output.consumed_capacity());
                Ok(Attempt::Applied)
            }
            Err(SdkError::ServiceError(e)) if guard_failed(e.err()) => Ok(Attempt::Guarded),
            Err(e) => Err(classify(e)),
        }
    }
}

fn build_error(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Rejected(e.to_string())
}

/// Whether a cancelled transaction failed on its guard item (always the first).
fn guard_failed(err: &TransactWriteItemsError) -> bool {
    match err {
        TransactWriteItemsError::TransactionCanceledException(cancelled) => {
            cancelled
                .cancellation_reasons()
                .first()
                .and_then(|r| r.code())
                == Some("ConditionalCheckFailed")
        }
        _ => false,
    }
}

// ---- stream records, as Lambda delivers them and as the Streams API returns them ----

/// The index partition an item image belongs to, if any.
fn partition_of_json(image: Option<&serde_json::Value>) -> Option<String> {
    let index = TABLE.indexes.first()?;
    image?
        .get(index.partition_key)?
        .get("S")?
        .as_str()
        .map(str::to_owned)
}

impl Change {
    /// One record of a Lambda DynamoDB stream event, read field by field: a record this code
    /// does not understand is reported, never a reason to fail the batch.
    pub fn from_lambda_record(record: &serde_json::Value) -> Option<Change> {
        let event_id = record.get("eventID")?.as_str()?.to_owned();
        let body = record.get("dynamodb")?;
        let sequence = body.get("SequenceNumber")?.as_str()?.to_owned();
        Some(Change {
            event_id,
            sequence,
            old_partition: partition_of_json(body.get("OldImage")),
            new_partition: partition_of_json(body.get("NewImage")),
        })
    }

    /// One record from the DynamoDB Streams API.
    pub fn from_stream_record(record: &aws_sdk_dynamodbstreams::types::Record) -> Option<Change> {
        use aws_sdk_dynamodbstreams::types::AttributeValue as StreamValue;
        let index = TABLE.indexes.first()?;
        let body = record.dynamodb()?;
        let partition = |image: Option<&HashMap<String, StreamValue>>| match image
            .and_then(|i| i.get(index.partition_key))
        {
            Some(StreamValue::S(p)) => Some(p.clone()),
            _ => None,
        };
        Some(Change {
            event_id: record.event_id()?.to_owned(),
            sequence: body.sequence_number()?.to_owned(),
            old_partition: partition(body.old_image()),
            new_partition: partition(body.new_image()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(id: &str, old: Option<&str>, new: Option<&str>) -> Change {
        Change {
            event_id: id.into(),
            sequence: id.into(),
            old_partition: old.map(Into::into),
            new_partition: new.map(Into::into),
        }
    }

    #[test]
    fn inserts_add_removals_subtract_and_moves_do_both() {
        let changes = [
            change("1", None, Some("a")),
            change("2", None, Some("a")),
            change("3", Some("a"), None),
            change("4", Some("a"), Some("b")),
            change("5", Some("b"), Some("b")),
            change("6", None, None),
        ];
        let d = deltas(&changes);
        // a: two in, one out, one moved away: a net zero, which writes nothing.
        assert_eq!(d.get("a"), None);
        assert_eq!(d.get("b"), Some(&1));
        assert_eq!(d.len(), 1);
        let d = deltas(&changes[..3]);
        assert_eq!(d.get("a"), Some(&1));
    }

    #[test]
    fn a_chunk_holds_at_most_99_partitions() {
        let changes: Vec<Change> = (0..250)
            .map(|i| change(&i.to_string(), None, Some(&format!("p{}", i % 120))))
            .collect();
        assert_eq!(chunk_len(&changes), 99);
        let same: Vec<Change> = (0..250)
            .map(|i| change(&i.to_string(), None, Some("p")))
            .collect();
        assert_eq!(chunk_len(&same), 250);
    }

    #[test]
    fn lambda_records_are_read_field_by_field() {
        let record = serde_json::json!({
            "eventID": "e1", "eventName": "INSERT",
            "dynamodb": {"SequenceNumber": "100", "NewImage": {"GSI1PK": {"S": "P#a#N#x"}}}
        });
        let c = Change::from_lambda_record(&record).unwrap();
        assert_eq!(c.new_partition.as_deref(), Some("P#a#N#x"));
        assert_eq!(c.old_partition, None);
        let removed = serde_json::json!({
            "eventID": "e2", "eventName": "REMOVE",
            "dynamodb": {"SequenceNumber": "101", "OldImage": {"GSI1PK": {"S": "P#a#N#x"}}}
        });
        let c = Change::from_lambda_record(&removed).unwrap();
        assert_eq!(c.old_partition.as_deref(), Some("P#a#N#x"));
        assert!(Change::from_lambda_record(&serde_json::json!({"eventID": 3})).is_none());
    }
}
