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
//! Exactly once: the transaction that adds records to the counts also writes an item that
//! names what it covered, conditional on that item's state.
//! - From Lambda ([`DynamoTable::count_delivery`]), batches may be redelivered whole, from a
//!   reported record on, or split in two after a failure (BisectBatchOnFunctionError), so their
//!   boundaries are no guard. A shard's deliveries come one at a time, in order, and each starts
//!   where Lambda's checkpoint is: where the delivery before it started (a retry) or just after
//!   where it ended. So the counted records from a delivery's first record on are always one
//!   contiguous stretch, made of runs: a run is counted in one transaction with a `CNT#` item
//!   keyed by its first record's eventID and listing every record of the run. A delivery
//!   follows the runs from its first record (one consistent read each; one read in all when
//!   nothing is counted yet), and counts only what comes after them. Where a run goes on past
//!   the delivery's end, or a record is reported for redelivery inside a run, a `CNT#` item for
//!   the rest of the run is written first (the record after the end, the reported record):
//!   whatever starts the next delivery finds its run.
//! - From the poller (`apply_shard_changes`), which knows shard ids, the item is the shard's
//!   checkpoint, advanced only from the position the poller read from; the poller restarts
//!   there, and a second poller on the same table can never count a record twice.
//!
//! A record that cannot be read (a [`Record::Poison`]) counts nothing. Lambda's delivery counts
//! the records around it and reports it, so Lambda retries it (and only it: the others are in
//! runs) until MaximumRetryAttempts and then sends it to the count function's failure queue;
//! the poller sets it aside in a `DLQ#` item of its shard and moves past it.

use std::collections::BTreeMap;
use std::collections::HashMap;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};

use super::activity::{activity_of_json, activity_of_stream};
use crate::store::activity::Activity;
use crate::store::engine::dynamo::{DynamoTable, classify};
use crate::store::item::{get_i64, get_s};
use crate::store::keys::{self, TABLE};
use crate::store::table::{Key, StoreError, StoreResult};

/// DynamoDB takes at most 100 items in a transaction; one is the guard item and one the
/// stream status.
const MAX_COUNTS_PER_TRANSACTION: usize = 98;
/// Records in one counted run: its `CNT#` item lists their eventIDs (about 40 bytes each), so a
/// run's item stays near 20 KB, far below the 400 KB item limit.
const MAX_RUN_RECORDS: usize = 500;
/// Run items outlive the stream's 24 h retention, after which no redelivery can happen.
const MARKER_LIFETIME_SECS: u64 = 2 * 24 * 3600;

/// What one stream record does to the index counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The stream record's eventID, unique in the stream.
    pub event_id: String,
    /// The record's sequence number within its shard.
    pub sequence: String,
    /// The counts the item was counted under before the change (its index partition and its
    /// `counted_in` names; empty: not counted, or inserted), sorted.
    pub old_counters: Vec<String>,
    /// The counts it is counted under after the change (empty: not counted, or removed).
    pub new_counters: Vec<String>,
    /// The UUID activity an inserted event stands for (`streams::activity`).
    pub activity: Option<Activity>,
}

/// A stream record as the counters read it. Records without an eventID or a sequence number
/// cannot even be named and are left out before this (only AWS writes stream records).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Change(Change),
    /// A record whose content this code cannot read (an index key that is not a string, an
    /// image that is not a map, an unknown kind of change): it is never counted.
    Poison {
        event_id: String,
        sequence: String,
        reason: String,
    },
}

impl Record {
    pub fn event_id(&self) -> &str {
        match self {
            Record::Change(c) => &c.event_id,
            Record::Poison { event_id, .. } => event_id,
        }
    }

    pub fn sequence(&self) -> &str {
        match self {
            Record::Change(c) => &c.sequence,
            Record::Poison { sequence, .. } => sequence,
        }
    }

    pub fn change(&self) -> Option<&Change> {
        match self {
            Record::Change(c) => Some(c),
            Record::Poison { .. } => None,
        }
    }
}

/// Why counting for the poller stopped.
#[derive(Debug, thiserror::Error)]
pub enum CountError {
    /// Another poller advanced this shard's checkpoint: read it again and resume there.
    #[error("the shard checkpoint moved")]
    CheckpointMoved,
    /// Storage failed after `applied` changes were counted; the rest must be read again.
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

fn epoch_micros() -> i64 {
    crate::domain::time::Clock::now(&crate::domain::time::SystemClock).micros()
}

fn epoch_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The net change to each count over `changes`.
fn deltas<'a>(changes: impl IntoIterator<Item = &'a Change>) -> BTreeMap<&'a str, i64> {
    let mut out: BTreeMap<&str, i64> = BTreeMap::new();
    for change in changes {
        if is_neutral(change) {
            continue;
        }
        for old in &change.old_counters {
            *out.entry(old).or_default() -= 1;
        }
        for new in &change.new_counters {
            *out.entry(new).or_default() += 1;
        }
    }
    out.retain(|_, d| *d != 0);
    out
}

/// How many items from the front fit one transaction: at most 98 distinct counts, and at
/// most `max` items.
fn chunk_len<T>(items: &[T], max: usize, change: impl Fn(&T) -> Option<&Change>) -> usize {
    let mut seen: Vec<&str> = Vec::new();
    for (i, item) in items.iter().enumerate().take(max) {
        let Some(change) = change(item) else { continue };
        for p in change.old_counters.iter().chain(&change.new_counters) {
            if !seen.contains(&p.as_str()) {
                if seen.len() == MAX_COUNTS_PER_TRANSACTION {
                    return i.max(1);
                }
                seen.push(p);
            }
        }
    }
    items.len().min(max)
}

enum Attempt {
    Applied,
    /// The chunk changes no count, so nothing was written: the checkpoint items the poller
    /// writes come back through the stream themselves, and writing for them would feed the
    /// stream forever.
    NothingToCount,
    /// The guard's condition failed.
    Guarded,
}

/// What a call to [`DynamoTable::apply_shard_changes`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counted {
    /// Changes counted by this call (the others change nothing).
    pub applied: usize,
    /// The shard's checkpoint afterwards.
    pub checkpoint: Option<String>,
}

/// What counting one Lambda delivery did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Records this call added to the counts.
    pub counted: usize,
    /// The sequence number Lambda must deliver again from: the first poison record, or the
    /// first record storage failed to count. `None`: every record is done.
    pub retry_from: Option<String>,
}

/// A `CNT#` item: the eventIDs of the run it starts.
enum Run {
    Ids(Vec<String>),
    /// Written before runs listed their records: counted from its key through `last`.
    Through(String),
}

/// The index counts as a [`StreamHandler`](super::StreamHandler): event/show's totals.
pub struct IndexCounts(pub DynamoTable);

impl super::StreamHandler for IndexCounts {
    fn name(&self) -> &'static str {
        "index counts"
    }

    fn handle<'a>(
        &'a self,
        records: &'a [Record],
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Delivery> + Send + 'a>> {
        // Boxed anyway: the counting future is deep enough to overflow the compiler's layout
        // limit in the count function's `main` when inlined.
        Box::pin(self.0.count_delivery(records))
    }
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

    /// The stream consumer's progress: when it last counted (microseconds since the epoch)
    /// and how many changes it has counted since the table was created.
    pub async fn stream_status(&self) -> StoreResult<(Option<i64>, u64)> {
        let item = self
            .get_item(
                &Key::new(keys::STREAM_STATUS_PK, keys::STREAM_STATUS_SK),
                false,
            )
            .await?;
        let at = item.as_ref().and_then(|i| get_i64(i, "last_counted_at"));
        let counted = item
            .as_ref()
            .and_then(|i| get_i64(i, "counted"))
            .map_or(0, |n| n.max(0) as u64);
        Ok((at, counted))
    }

    // ---- Lambda's deliveries ----

    /// Adds a delivery's records, in order, to the index counts, each record once however
    /// often and however split Lambda delivers it (see the module's notes).
    pub async fn count_delivery(&self, records: &[Record]) -> Delivery {
        let Some(first) = records.first() else {
            return Delivery::default();
        };
        let again = |counted: usize, e: &StoreError| {
            tracing::warn!(
                error = e as &dyn std::error::Error,
                counted,
                "stream batch not counted through; Lambda delivers it again"
            );
            Delivery {
                counted,
                retry_from: Some(first.sequence().to_owned()),
            }
        };
        // What earlier deliveries counted; if it goes on past this one, what follows it.
        let mut pos = match self.follow_runs(records, 0).await {
            Ok(pos) => pos,
            Err(e) => return again(0, &e),
        };
        let mut counted = 0;
        let mut failed_at = None;
        while pos < records.len() {
            let len = chunk_len(&records[pos..], MAX_RUN_RECORDS, Record::change);
            let run = &records[pos..pos + len];
            match self.count_run(run).await {
                Ok(Attempt::Applied | Attempt::NothingToCount) => {
                    counted += run.iter().filter(|r| r.change().is_some()).count();
                    pos += len;
                }
                // Counted meanwhile (a delivery cannot overlap another of its shard, but a
                // manual replay could): follow it.
                Ok(Attempt::Guarded) => match self.follow_runs(records, pos).await {
                    Ok(next) => pos = next,
                    Err(e) => return again(counted, &e),
                },
                Err(e) => {
                    tracing::warn!(
                        error = &e as &dyn std::error::Error,
                        counted,
                        "counting a stream batch failed; Lambda delivers the rest again"
                    );
                    failed_at = Some(pos);
                    break;
                }
            }
        }
        let end = failed_at.unwrap_or(records.len());
        let poison = records[..end]
            .iter()
            .position(|r| matches!(r, Record::Poison { .. }));
        let retry = match poison {
            Some(at) => {
                if let Record::Poison {
                    sequence, reason, ..
                } = &records[at]
                {
                    tracing::warn!(%sequence, %reason, "stream record cannot be counted");
                }
                // The redelivery starts inside what is counted: give it a run to find.
                let ids: Vec<&str> = records[at..end].iter().map(Record::event_id).collect();
                if let Err(e) = self.put_run(&ids).await {
                    return again(counted, &e);
                }
                Some(at)
            }
            None => failed_at,
        };
        Delivery {
            counted,
            retry_from: retry.map(|at| records[at].sequence().to_owned()),
        }
    }

    /// The position after the records of `records[pos..]` that runs counted already. When the
    /// last of those runs goes on past the end of `records`, its rest is made a run of its own,
    /// for the delivery that starts there.
    async fn follow_runs(&self, records: &[Record], mut pos: usize) -> StoreResult<usize> {
        while pos < records.len() {
            let Some(run) = self.read_run(records[pos].event_id()).await? else {
                break;
            };
            let rest = &records[pos..];
            match run {
                Run::Ids(ids) => {
                    let common = ids
                        .iter()
                        .zip(rest)
                        .take_while(|(id, r)| id.as_str() == r.event_id())
                        .count()
                        // The item is keyed by this record: it covers it, whatever it lists.
                        .max(1);
                    if common == rest.len() && common < ids.len() {
                        let beyond: Vec<&str> = ids[common..].iter().map(String::as_str).collect();
                        self.put_run(&beyond).await?;
                    }
                    pos += common;
                }
                Run::Through(last) => {
                    pos += rest
                        .iter()
                        .position(|r| r.event_id() == last)
                        .map_or(rest.len(), |i| i + 1);
                }
            }
        }
        Ok(pos)
    }

    async fn read_run(&self, first_event_id: &str) -> StoreResult<Option<Run>> {
        let key = Key::new(
            keys::counted_batch_pk(first_event_id),
            keys::COUNTED_BATCH_SK,
        );
        let Some(item) = self.get_item(&key, true).await? else {
            return Ok(None);
        };
        Ok(Some(match (get_s(&item, "ids"), get_s(&item, "last")) {
            (Some(ids), _) => Run::Ids(ids.split('\n').map(str::to_owned).collect()),
            (None, Some(last)) => Run::Through(last.to_owned()),
            (None, None) => Run::Ids(vec![first_event_id.to_owned()]),
        }))
    }

    /// The `CNT#` item of a run, written only where none is.
    fn run_item(&self, ids: &[&str]) -> StoreResult<Put> {
        Put::builder()
            .table_name(self.name())
            .item(TABLE.partition_key, s(keys::counted_batch_pk(ids[0])))
            .item(TABLE.sort_key, s(keys::COUNTED_BATCH_SK))
            .item("ids", s(ids.join("\n")))
            .item(
                TABLE.ttl_attribute,
                AttributeValue::N((epoch_now() + MARKER_LIFETIME_SECS).to_string()),
            )
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", TABLE.partition_key)
            .build()
            .map_err(build_error)
    }

    /// Records that a run of counted records starts at `ids[0]`, unless a run starts there.
    async fn put_run(&self, ids: &[&str]) -> StoreResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let put = self.run_item(ids)?;
        let result = self
            .client()
            .put_item()
            .table_name(put.table_name())
            .set_item(Some(put.item().clone()))
            .set_condition_expression(put.condition_expression().map(str::to_owned))
            .set_expression_attribute_names(put.expression_attribute_names().cloned())
            .set_return_consumed_capacity(self.return_capacity())
            .send()
            .await;
        match result {
            Ok(output) => {
                self.meter_writes(output.consumed_capacity());
                Ok(())
            }
            Err(e) => match classify(e) {
                StoreError::ConditionFailed => Ok(()),
                e => Err(e),
            },
        }
    }

    /// Counts a run of records and writes its `CNT#` item, in one transaction.
    async fn count_run(&self, run: &[Record]) -> StoreResult<Attempt> {
        let ids: Vec<&str> = run.iter().map(Record::event_id).collect();
        let guard = self.run_item(&ids)?;
        let changes = || run.iter().filter_map(Record::change);
        let counted = changes().filter(|c| !is_neutral(c)).count();
        self.transact(guard, deltas(changes()), counted).await
    }

    // ---- the poller ----

    /// Adds a shard's changes, in order, to the index counts, exactly once: each transaction
    /// advances the shard's checkpoint from `after`, where the poller read from.
    pub async fn apply_shard_changes(
        &self,
        changes: &[Change],
        shard_id: &str,
        after: Option<String>,
    ) -> Result<Counted, CountError> {
        let mut pos = 0;
        let mut applied = 0;
        let mut after = after;
        while pos < changes.len() {
            let len = chunk_len(&changes[pos..], usize::MAX, itself);
            let chunk = &changes[pos..pos + len];
            let deltas = deltas(chunk);
            let attempt = if deltas.is_empty() {
                Ok(Attempt::NothingToCount)
            } else {
                let last = &chunk[len - 1].sequence;
                let counted = chunk.iter().filter(|c| !is_neutral(c)).count();
                match self.checkpoint_item(shard_id, after.as_deref(), last) {
                    Ok(guard) => self.transact(guard, deltas, counted).await,
                    Err(e) => Err(e),
                }
            };
            match attempt.map_err(|source| CountError::Store {
                applied: pos,
                source,
            })? {
                Attempt::Applied => {
                    applied += chunk.iter().filter(|c| !is_neutral(c)).count();
                    after = Some(chunk[len - 1].sequence.clone());
                }
                Attempt::NothingToCount => {}
                Attempt::Guarded => return Err(CountError::CheckpointMoved),
            }
            pos += len;
        }
        Ok(Counted {
            applied,
            checkpoint: after,
        })
    }

    /// Sets a record the poller cannot count aside: a `DLQ#` item in its shard's partition,
    /// written in one transaction with the checkpoint moved past it (from `after`).
    pub async fn set_aside(
        &self,
        shard_id: &str,
        after: Option<&str>,
        record: &Record,
        reason: &str,
    ) -> Result<(), CountError> {
        let store = |source| CountError::Store { applied: 0, source };
        let guard = self
            .checkpoint_item(shard_id, after, record.sequence())
            .map_err(store)?;
        let letter = Put::builder()
            .table_name(self.name())
            .item(TABLE.partition_key, s(keys::shard_checkpoint_pk(shard_id)))
            .item(TABLE.sort_key, s(keys::dead_letter_sk(record.sequence())))
            .item("event_id", s(record.event_id()))
            .item("sequence", s(record.sequence()))
            .item("reason", s(reason))
            .item("set_aside_at", AttributeValue::N(epoch_now().to_string()))
            .build()
            .map_err(build_error)
            .map_err(store)?;
        let items = vec![
            TransactWriteItem::builder().put(guard).build(),
            TransactWriteItem::builder().put(letter).build(),
        ];
        match self.send_transaction(items).await.map_err(store)? {
            Attempt::Guarded => Err(CountError::CheckpointMoved),
            _ => Ok(()),
        }
    }

    /// The shard's checkpoint at `sequence`, written only where it is still at `after`.
    fn checkpoint_item(
        &self,
        shard_id: &str,
        after: Option<&str>,
        sequence: &str,
    ) -> StoreResult<Put> {
        let put = Put::builder()
            .table_name(self.name())
            .item(TABLE.partition_key, s(keys::shard_checkpoint_pk(shard_id)))
            .item(TABLE.sort_key, s(keys::SHARD_CHECKPOINT_SK))
            .item("sequence", s(sequence))
            .expression_attribute_names("#seq", "sequence");
        match after {
            None => put.condition_expression("attribute_not_exists(#seq)"),
            Some(after) => put
                .condition_expression("#seq = :after")
                .expression_attribute_values(":after", s(after)),
        }
        .build()
        .map_err(build_error)
    }

    /// The guard item, the count updates and the stream status (`counted` more changes, now),
    /// in one transaction.
    async fn transact(
        &self,
        guard: Put,
        deltas: BTreeMap<&str, i64>,
        counted: usize,
    ) -> StoreResult<Attempt> {
        let mut items = vec![TransactWriteItem::builder().put(guard).build()];
        if counted > 0 {
            let status = Update::builder()
                .table_name(self.name())
                .key(TABLE.partition_key, s(keys::STREAM_STATUS_PK))
                .key(TABLE.sort_key, s(keys::STREAM_STATUS_SK))
                .update_expression("ADD #counted :n SET #at = :at")
                .expression_attribute_names("#counted", "counted")
                .expression_attribute_names("#at", "last_counted_at")
                .expression_attribute_values(":n", AttributeValue::N(counted.to_string()))
                .expression_attribute_values(":at", AttributeValue::N(epoch_micros().to_string()))
                .build()
                .map_err(build_error)?;
            items.push(TransactWriteItem::builder().update(status).build());
        }
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
        self.send_transaction(items).await
    }

    async fn send_transaction(&self, items: Vec<TransactWriteItem>) -> StoreResult<Attempt> {
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

fn itself(change: &Change) -> Option<&Change> {
    Some(change)
}

/// A change that moves no count.
fn is_neutral(change: &Change) -> bool {
    change.old_counters == change.new_counters
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

/// The kinds of change a stream record may carry.
const EVENT_NAMES: [&str; 3] = ["INSERT", "MODIFY", "REMOVE"];

/// The counts one image of a Lambda record is counted under (see
/// [`counters_of`](crate::store::table::counters_of)): empty when there is no image or it is
/// not counted, `Err` when it cannot be read.
fn counters_of_json(image: Option<&serde_json::Value>) -> Result<Vec<String>, String> {
    let image = match image {
        None | Some(serde_json::Value::Null) => return Ok(Vec::new()),
        Some(serde_json::Value::Object(map)) => map,
        Some(_) => return Err("an item image that is not a map".into()),
    };
    let typed = |name: &str, kind: &str| -> Result<Option<&serde_json::Value>, String> {
        match image.get(name) {
            None => Ok(None),
            Some(value) => match value.as_object() {
                Some(typed) if typed.len() == 1 => match typed.get(kind) {
                    Some(inner) => Ok(Some(inner)),
                    None => Err(format!("{name} is not of type {kind}")),
                },
                _ => Err(format!("{name} is not a typed value")),
            },
        }
    };
    let mut out = Vec::new();
    for index in TABLE.indexes.iter().filter(|i| i.counted) {
        if let Some(value) = typed(index.partition_key, "S")? {
            let text = value
                .as_str()
                .ok_or_else(|| format!("{} is not a string", index.partition_key))?;
            out.push(text.to_owned());
        }
    }
    if let Some(list) = typed(keys::COUNTED_IN, "L")? {
        let list = list
            .as_array()
            .ok_or_else(|| format!("{} is not a list", keys::COUNTED_IN))?;
        for entry in list {
            match entry.get("S").and_then(serde_json::Value::as_str) {
                Some(name) => out.push(name.to_owned()),
                None => return Err(format!("{} holds a non-string", keys::COUNTED_IN)),
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// The counts one image from the Streams API is counted under, read as
/// [`counters_of_json`] reads a Lambda image.
fn counters_of_stream(
    image: Option<&HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>>,
) -> Result<Vec<String>, String> {
    use aws_sdk_dynamodbstreams::types::AttributeValue as StreamValue;
    let Some(image) = image else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for index in TABLE.indexes.iter().filter(|i| i.counted) {
        match image.get(index.partition_key) {
            None => {}
            Some(StreamValue::S(p)) => out.push(p.clone()),
            Some(_) => return Err(format!("{} is not a string", index.partition_key)),
        }
    }
    match image.get(keys::COUNTED_IN) {
        None => {}
        Some(StreamValue::L(list)) => {
            for entry in list {
                match entry {
                    StreamValue::S(name) => out.push(name.clone()),
                    _ => return Err(format!("{} holds a non-string", keys::COUNTED_IN)),
                }
            }
        }
        Some(_) => return Err(format!("{} is not a list", keys::COUNTED_IN)),
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

impl Record {
    /// One record of a Lambda DynamoDB stream event, read field by field: `None` when it has no
    /// eventID or sequence number to name it by, a poison record when its content cannot be
    /// read. Neither is a reason to fail the batch.
    pub fn from_lambda(record: &serde_json::Value) -> Option<Record> {
        let event_id = record.get("eventID")?.as_str()?.to_owned();
        let body = record.get("dynamodb")?;
        let sequence = body.get("SequenceNumber")?.as_str()?.to_owned();
        let name = record.get("eventName").and_then(serde_json::Value::as_str);
        let read = || -> Result<(Vec<String>, Vec<String>), String> {
            if let Some(name) = name
                && !EVENT_NAMES.contains(&name)
            {
                return Err(format!("unknown eventName {name}"));
            }
            Ok((
                counters_of_json(body.get("OldImage"))?,
                counters_of_json(body.get("NewImage"))?,
            ))
        };
        Some(match read() {
            Ok((old_counters, new_counters)) => Record::Change(Change {
                event_id,
                sequence,
                old_counters,
                new_counters,
                activity: activity_of_json(body.get("OldImage"), body.get("NewImage")),
            }),
            Err(reason) => Record::Poison {
                event_id,
                sequence,
                reason,
            },
        })
    }

    /// One record from the DynamoDB Streams API, read as [`Record::from_lambda`] reads one.
    pub fn from_stream(record: &aws_sdk_dynamodbstreams::types::Record) -> Option<Record> {
        let body = record.dynamodb()?;
        let event_id = record.event_id()?.to_owned();
        let sequence = body.sequence_number()?.to_owned();
        Some(
            match (
                counters_of_stream(body.old_image()),
                counters_of_stream(body.new_image()),
            ) {
                (Ok(old_counters), Ok(new_counters)) => Record::Change(Change {
                    event_id,
                    sequence,
                    old_counters,
                    new_counters,
                    activity: activity_of_stream(body.old_image(), body.new_image()),
                }),
                (Err(reason), _) | (_, Err(reason)) => Record::Poison {
                    event_id,
                    sequence,
                    reason,
                },
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(id: &str, old: Option<&str>, new: Option<&str>) -> Change {
        Change {
            activity: None,
            event_id: id.into(),
            sequence: id.into(),
            old_counters: old.into_iter().map(Into::into).collect(),
            new_counters: new.into_iter().map(Into::into).collect(),
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
    fn a_chunk_holds_at_most_98_counts() {
        let changes: Vec<Change> = (0..250)
            .map(|i| change(&i.to_string(), None, Some(&format!("p{}", i % 120))))
            .collect();
        assert_eq!(chunk_len(&changes, usize::MAX, itself), 98);
        assert_eq!(chunk_len(&changes, 50, itself), 50);
        let same: Vec<Change> = (0..250)
            .map(|i| change(&i.to_string(), None, Some("p")))
            .collect();
        assert_eq!(chunk_len(&same, usize::MAX, itself), 250);
        assert_eq!(chunk_len(&same, MAX_RUN_RECORDS, itself), 250);
    }

    #[test]
    fn lambda_records_are_read_field_by_field() {
        let record = serde_json::json!({
            "eventID": "e1", "eventName": "INSERT",
            "dynamodb": {"SequenceNumber": "100", "NewImage": {"GSI1PK": {"S": "P#a#N#x"}}}
        });
        let c = Record::from_lambda(&record).unwrap();
        assert_eq!(c.change().unwrap().new_counters, ["P#a#N#x"]);
        assert!(c.change().unwrap().old_counters.is_empty());
        let removed = serde_json::json!({
            "eventID": "e2", "eventName": "REMOVE",
            "dynamodb": {"SequenceNumber": "101", "OldImage": {"GSI1PK": {"S": "P#a#N#x"}}}
        });
        let c = Record::from_lambda(&removed).unwrap();
        assert_eq!(c.change().unwrap().old_counters, ["P#a#N#x"]);
        // An event's stats counts ride along in its `counted_in` list.
        let counted = serde_json::json!({
            "eventID": "e4", "eventName": "INSERT",
            "dynamodb": {"SequenceNumber": "103", "NewImage": {
                "GSI1PK": {"S": "P#a#N#x"},
                "counted_in": {"L": [{"S": "P#a#CAT#auth"}, {"S": "P#a#DAY#2026-12-01"}]}
            }}
        });
        let c = Record::from_lambda(&counted).unwrap();
        assert_eq!(
            c.change().unwrap().new_counters,
            ["P#a#CAT#auth", "P#a#DAY#2026-12-01", "P#a#N#x"]
        );
        // Not indexed: a change that counts nothing.
        let session = serde_json::json!({
            "eventID": "e3", "eventName": "MODIFY",
            "dynamodb": {"SequenceNumber": "102", "NewImage": {"PK": {"S": "p"}}}
        });
        let c = Record::from_lambda(&session).unwrap();
        assert!(c.change().is_some_and(is_neutral));
        // Nothing to name it by: left out.
        assert!(Record::from_lambda(&serde_json::json!({"eventID": 3})).is_none());
        assert!(Record::from_lambda(&serde_json::json!({"eventName": "INSERT"})).is_none());
    }

    #[test]
    fn records_that_cannot_be_read_are_poison_not_silently_nothing() {
        for (dynamodb, name) in [
            (
                serde_json::json!({"SequenceNumber": "1", "NewImage": {"GSI1PK": {"N": "7"}}}),
                "INSERT",
            ),
            (
                serde_json::json!({"SequenceNumber": "1", "OldImage": {"GSI1PK": "x"}}),
                "REMOVE",
            ),
            (
                serde_json::json!({"SequenceNumber": "1", "NewImage": ["not", "a", "map"]}),
                "INSERT",
            ),
            (
                serde_json::json!({"SequenceNumber": "1", "NewImage": {"GSI1PK": {"S": "p"}}}),
                "TRUNCATE",
            ),
            (
                serde_json::json!({"SequenceNumber": "1", "NewImage": {"counted_in": {"L": [{"N": "1"}]}}}),
                "INSERT",
            ),
            (
                serde_json::json!({"SequenceNumber": "1", "NewImage": {"counted_in": {"S": "x"}}}),
                "INSERT",
            ),
        ] {
            let record =
                serde_json::json!({"eventID": "e", "eventName": name, "dynamodb": dynamodb});
            let read = Record::from_lambda(&record).unwrap();
            assert!(
                matches!(&read, Record::Poison { event_id, sequence, .. } if event_id == "e" && sequence == "1"),
                "{record}: {read:?}"
            );
        }
    }
}
