//! The embedded engine: redb, an ACID store in one file, laid out so that queries behave exactly
//! like DynamoDB's. Items live in one ordered table keyed by (PK, SK); each GSI is another ordered
//! table keyed by (GSIPK, GSISK, PK, SK), maintained in the same transaction as the item. A
//! keys-only index answers with keys only, as DynamoDB's does, so a reader that forgets to fetch
//! the items fails here too.
//! Two more tables ride along in that transaction: the number of entries in each index
//! partition (what event/show's total reads, exact at every commit), and an expiry index
//! (expires_at, PK, SK) that the sweeper walks to play DynamoDB's TTL. An inserted event also
//! moves its visit's last activity there (`store::activity`).
//!
//! Writes go through one writer thread that applies every queued write in a single transaction
//! and commits once (group commit): each caller is answered only after the fsync that made its
//! write durable, yet concurrent writers share that fsync instead of paying one each. Reads use
//! redb's MVCC snapshots directly and never wait for the writer.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;

use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition,
};
use tokio::sync::oneshot;

use crate::store::activity::{activity_of_item, touch};
use crate::store::item::{Item, MAX_ITEM_BYTES, get_s, item_size};
use crate::store::keys::{IndexDef, Projection, TABLE};
use crate::store::table::{
    Condition, Key, Page, Query, Read, SortRange, StoreError, StoreResult, Table, Update, Write,
    apply_ops, condition_holds, counters_of, key_item, op_writes, project,
};

const ITEMS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("items");
type IndexKey<'a> = (&'a str, &'a str, &'a str, &'a str);
const GSI1_TABLE: TableDefinition<IndexKey, ()> = TableDefinition::new("gsi1");
const GSI2_TABLE: TableDefinition<IndexKey, ()> = TableDefinition::new("gsi2");

/// The redb table of each index of `TABLE.indexes`, in that order.
fn index_tables() -> [TableDefinition<'static, IndexKey<'static>, ()>; 2] {
    debug_assert_eq!(TABLE.indexes.len(), 2);
    [GSI1_TABLE, GSI2_TABLE]
}
/// Entries per GSI1 partition. Absent means zero: an entry is removed when it reaches zero.
const COUNTS: TableDefinition<&str, u64> = TableDefinition::new("gsi1_counts");
/// Items carrying the TTL attribute, by expiry time (epoch seconds).
const EXPIRY: TableDefinition<(u64, &str, &str), ()> = TableDefinition::new("expiry");

/// How many expired items one sweep transaction removes at most.
const SWEEP_BATCH: usize = 1000;

/// How many queued writes one transaction takes at most, bounding a commit's latency.
const MAX_GROUP: usize = 1024;

enum Job {
    Put(Item, Option<Condition>),
    Update(Update),
    Delete(Key),
    Batch(Vec<Write>),
    /// Removes items whose TTL attribute is at or before the given epoch second.
    Sweep(u64),
}

/// What a job hands back.
enum Done {
    /// The item after an update; nothing for a put or a delete.
    Item(Option<Item>),
    /// For each write of a batch, whether it was applied.
    Applied(Vec<bool>),
    /// How many expired items a sweep removed.
    Swept(usize),
}

type Reply = oneshot::Sender<StoreResult<Done>>;

/// From how many keys a `read_many` is worth splitting over threads (a thread costs tens of
/// microseconds to start; an item, a few to read and decode).
const PARALLEL_READ_MIN: usize = 256;
/// The most threads one `read_many` uses.
const MAX_READ_THREADS: usize = 4;

/// A redb database file served through a group-committing writer thread.
#[derive(Clone)]
pub struct EmbeddedTable {
    db: Arc<Database>,
    jobs: mpsc::Sender<(Job, Reply)>,
    buffer: Arc<BufferCounters>,
}

/// The writer's state as callers and the writer thread update it.
#[derive(Default)]
struct BufferCounters {
    /// Writes sent to the writer and not yet answered.
    queued: AtomicUsize,
    /// When the last group was committed, in microseconds since the epoch (0: never).
    last_commit_micros: AtomicI64,
    /// Writes committed since the store was opened.
    committed: AtomicU64,
}

/// The group-commit buffer, as [`EmbeddedTable::buffer_status`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferStatus {
    /// Writes waiting for their commit now.
    pub queued: usize,
    /// The most writes one commit takes.
    pub max_group: usize,
    /// When the last commit was durable (microseconds since the epoch).
    pub last_commit_micros: Option<i64>,
    /// Writes committed since the store was opened (a batch of events is one write).
    pub committed: u64,
}

fn internal(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Internal(Box::new(e))
}

impl EmbeddedTable {
    /// Opens (or creates) the database file and starts its writer thread, with redb's page
    /// cache at its default size (a server's).
    pub fn open(path: &Path) -> StoreResult<Self> {
        Self::open_with_cache(path, None)
    }

    /// As [`EmbeddedTable::open`], with a page cache of at most `cache_bytes`: a command that
    /// reads a store once (an export) gains nothing from keeping what it read, and the
    /// operating system's file cache still holds the pages.
    pub fn open_with_cache(path: &Path, cache_bytes: Option<usize>) -> StoreResult<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(internal)?;
        }
        let mut builder = Database::builder();
        if let Some(bytes) = cache_bytes {
            builder.set_cache_size(bytes);
        }
        let db = Arc::new(builder.create(path).map_err(internal)?);
        // Create every table up front so that readers never meet a missing table.
        let txn = db.begin_write().map_err(internal)?;
        txn.open_table(ITEMS).map_err(internal)?;
        {
            let gsi = txn.open_table(GSI1_TABLE).map_err(internal)?;
            let mut counts = txn.open_table(COUNTS).map_err(internal)?;
            // A store written before the counts table existed: count its index once.
            if counts.is_empty().map_err(internal)? && !gsi.is_empty().map_err(internal)? {
                rebuild_counts(&gsi, &mut counts)?;
            }
        }
        txn.open_table(GSI2_TABLE).map_err(internal)?;
        txn.open_table(EXPIRY).map_err(internal)?;
        txn.commit().map_err(internal)?;

        let (tx, rx) = mpsc::channel::<(Job, Reply)>();
        let writer_db = db.clone();
        let buffer = Arc::new(BufferCounters::default());
        let writer_buffer = buffer.clone();
        thread::Builder::new()
            .name("atrack-embedded-writer".into())
            .spawn(move || writer_loop(&writer_db, &rx, &writer_buffer))
            .map_err(internal)?;
        Ok(EmbeddedTable {
            db,
            jobs: tx,
            buffer,
        })
    }

    async fn submit(&self, job: Job) -> StoreResult<Done> {
        let (tx, rx) = oneshot::channel();
        self.buffer.queued.fetch_add(1, Ordering::Relaxed);
        if self.jobs.send((job, tx)).is_err() {
            self.buffer.queued.fetch_sub(1, Ordering::Relaxed);
            return Err(StoreError::Internal("embedded writer stopped".into()));
        }
        rx.await
            .map_err(|_| StoreError::Internal("embedded writer dropped a write".into()))?
    }

    /// The write buffer as it is now: what the analytics stats report.
    pub fn buffer_status(&self) -> BufferStatus {
        let last = self.buffer.last_commit_micros.load(Ordering::Relaxed);
        BufferStatus {
            queued: self.buffer.queued.load(Ordering::Relaxed),
            max_group: MAX_GROUP,
            last_commit_micros: (last > 0).then_some(last),
            committed: self.buffer.committed.load(Ordering::Relaxed),
        }
    }

    fn read_item(&self, pk: &str, sk: &str) -> StoreResult<Option<Item>> {
        let txn = self.db.begin_read().map_err(internal)?;
        let table = txn.open_table(ITEMS).map_err(internal)?;
        match table.get((pk, sk)).map_err(internal)? {
            Some(bytes) => Ok(Some(decode(bytes.value())?)),
            None => Ok(None),
        }
    }
}

/// Counts every index partition from the index itself.
fn rebuild_counts(
    gsi: &redb::Table<(&'static str, &'static str, &'static str, &'static str), ()>,
    counts: &mut redb::Table<&'static str, u64>,
) -> StoreResult<()> {
    let mut tally: std::collections::BTreeMap<String, u64> = Default::default();
    for entry in gsi.iter().map_err(internal)? {
        let (key, _) = entry.map_err(internal)?;
        *tally.entry(key.value().0.to_owned()).or_default() += 1;
    }
    for (partition, n) in tally {
        counts.insert(partition.as_str(), n).map_err(internal)?;
    }
    Ok(())
}

/// The item's TTL attribute as epoch seconds, when it has a usable one (DynamoDB ignores a TTL
/// attribute that is not a number, and so do we).
fn expiry_of(item: &Item) -> Option<u64> {
    item.get(TABLE.ttl_attribute)
        .and_then(crate::store::item::Attr::as_i64)
        .and_then(|t| u64::try_from(t).ok())
}

/// Steps over `n` range entries without touching their values; a read error among them is
/// still an error, not a silently shorter skip.
fn skip_entries<T>(
    iter: &mut dyn Iterator<Item = Result<T, redb::StorageError>>,
    n: usize,
) -> StoreResult<()> {
    for _ in 0..n {
        match iter.next() {
            Some(entry) => {
                entry.map_err(internal)?;
            }
            None => break,
        }
    }
    Ok(())
}

fn decode(bytes: &[u8]) -> StoreResult<Item> {
    serde_json::from_slice(bytes).map_err(internal)
}

fn encode(item: &Item) -> StoreResult<Vec<u8>> {
    serde_json::to_vec(item).map_err(internal)
}

fn item_key(item: &Item) -> StoreResult<Key> {
    match (
        get_s(item, TABLE.partition_key),
        get_s(item, TABLE.sort_key),
    ) {
        (Some(pk), Some(sk)) => Ok(Key::new(pk, sk)),
        _ => Err(StoreError::Rejected("item without string PK and SK".into())),
    }
}

/// The entry an item has in `index`, if it carries both of the index's keys.
fn index_entry<'i>(index: &IndexDef, item: &'i Item) -> Option<(&'i str, &'i str)> {
    Some((
        get_s(item, index.partition_key)?,
        get_s(item, index.sort_key)?,
    ))
}

fn writer_loop(db: &Database, rx: &mpsc::Receiver<(Job, Reply)>, buffer: &BufferCounters) {
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let mut replies = Vec::with_capacity(group.len());
        let committed = (|| -> StoreResult<()> {
            let mut txn = db.begin_write().map_err(internal)?;
            txn.set_durability(Durability::Immediate)
                .map_err(internal)?;
            {
                let mut items = txn.open_table(ITEMS).map_err(internal)?;
                let mut gsi = index_tables()
                    .into_iter()
                    .map(|t| txn.open_table(t))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(internal)?;
                let mut counts = txn.open_table(COUNTS).map_err(internal)?;
                let mut expiry = txn.open_table(EXPIRY).map_err(internal)?;
                let mut writer = Writer {
                    items: &mut items,
                    gsi: &mut gsi,
                    expiry: &mut expiry,
                    deltas: BTreeMap::new(),
                };
                for (job, reply) in group.drain(..) {
                    replies.push((writer.apply(job), reply));
                }
                // The group's count changes, summed: one update per count per commit.
                for (counter, delta) in std::mem::take(&mut writer.deltas) {
                    add_to_count(&mut counts, &counter, delta)?;
                }
            }
            txn.commit().map_err(internal)
        })();
        buffer
            .queued
            .fetch_sub(replies.len() + group.len(), Ordering::Relaxed);
        match committed {
            Ok(()) => {
                buffer
                    .committed
                    .fetch_add(replies.len() as u64, Ordering::Relaxed);
                buffer.last_commit_micros.store(
                    crate::domain::time::Clock::now(&crate::domain::time::SystemClock).micros(),
                    Ordering::Relaxed,
                );
                for (result, reply) in replies {
                    let _ = reply.send(result);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "embedded commit failed");
                let message = e.to_string();
                for (_, reply) in replies {
                    let _ = reply.send(Err(StoreError::Internal(message.clone().into())));
                }
                for (_, reply) in group {
                    let _ = reply.send(Err(StoreError::Internal(message.clone().into())));
                }
            }
        }
    }
}

struct Writer<'a, 'txn> {
    items: &'a mut redb::Table<'txn, (&'static str, &'static str), &'static [u8]>,
    /// One table per index, in the order of `TABLE.indexes`.
    gsi: &'a mut Vec<redb::Table<'txn, IndexKey<'static>, ()>>,
    expiry: &'a mut redb::Table<'txn, (u64, &'static str, &'static str), ()>,
    /// Count changes of this transaction, applied once before it commits.
    deltas: BTreeMap<String, i64>,
}

/// Adds `delta` to a stored count; a count that reaches zero is removed.
fn add_to_count(
    counts: &mut redb::Table<'_, &'static str, u64>,
    counter: &str,
    delta: i64,
) -> StoreResult<()> {
    if delta == 0 {
        return Ok(());
    }
    let current = counts
        .get(counter)
        .map_err(internal)?
        .map_or(0, |v| v.value());
    let next = current.saturating_add_signed(delta);
    if next == 0 {
        counts.remove(counter).map_err(internal)?;
    } else {
        counts.insert(counter, next).map_err(internal)?;
    }
    Ok(())
}

impl Writer<'_, '_> {
    fn apply(&mut self, job: Job) -> StoreResult<Done> {
        match job {
            Job::Put(item, condition) => {
                let key = item_key(&item)?;
                let current = self.load(&key)?;
                if let Some(c) = &condition
                    && !condition_holds(c, current.as_ref())
                {
                    return Err(StoreError::ConditionFailed);
                }
                self.store(&key, current.as_ref(), &item)?;
                Ok(Done::Item(None))
            }
            Job::Update(update) => {
                let current = self.load(&update.key)?;
                if let Some(c) = &update.condition
                    && !condition_holds(c, current.as_ref())
                {
                    return Err(StoreError::ConditionFailed);
                }
                if !update.ops.iter().any(op_writes) {
                    // Nothing to write: the item as it is (an absent one is not created).
                    return Ok(Done::Item(Some(
                        current.unwrap_or_else(|| key_item(&update.key)),
                    )));
                }
                let mut next = current.clone().unwrap_or_default();
                apply_ops(&mut next, &update.ops);
                next.insert(TABLE.partition_key.into(), update.key.pk.as_str().into());
                next.insert(TABLE.sort_key.into(), update.key.sk.as_str().into());
                self.store(&update.key, current.as_ref(), &next)?;
                Ok(Done::Item(Some(next)))
            }
            Job::Delete(key) => {
                let current = self.load(&key)?;
                self.remove(&key, current.as_ref())?;
                Ok(Done::Item(None))
            }
            Job::Batch(writes) => {
                // All or nothing: every item is checked before the first is written, so a
                // refused batch leaves nothing of itself in the group's transaction.
                for write in &writes {
                    if let Write::Put(item) | Write::PutNew(item) = write {
                        item_key(item)?;
                        if item_size(item) > MAX_ITEM_BYTES {
                            return Err(StoreError::ItemTooLarge);
                        }
                    }
                }
                let mut applied = Vec::with_capacity(writes.len());
                for write in writes {
                    applied.push(match write {
                        Write::Put(item) => {
                            let key = item_key(&item)?;
                            let current = self.load(&key)?;
                            self.store(&key, current.as_ref(), &item)?;
                            true
                        }
                        Write::PutNew(item) => {
                            let key = item_key(&item)?;
                            let exists = self
                                .items
                                .get((key.pk.as_str(), key.sk.as_str()))
                                .map_err(internal)?
                                .is_some();
                            if !exists {
                                self.store(&key, None, &item)?;
                            }
                            !exists
                        }
                        Write::Delete(key) => {
                            let current = self.load(&key)?;
                            self.remove(&key, current.as_ref())?;
                            true
                        }
                    });
                }
                Ok(Done::Applied(applied))
            }
            Job::Sweep(now) => {
                let mut due = Vec::new();
                for entry in self
                    .expiry
                    .range::<(u64, &str, &str)>(..=(now, "\u{10FFFF}", "\u{10FFFF}"))
                    .map_err(internal)?
                    .take(SWEEP_BATCH)
                {
                    let (key, _) = entry.map_err(internal)?;
                    let (_, pk, sk) = key.value();
                    due.push(Key::new(pk, sk));
                }
                for key in &due {
                    let current = self.load(key)?;
                    self.remove(key, current.as_ref())?;
                }
                Ok(Done::Swept(due.len()))
            }
        }
    }

    fn load(&self, key: &Key) -> StoreResult<Option<Item>> {
        match self
            .items
            .get((key.pk.as_str(), key.sk.as_str()))
            .map_err(internal)?
        {
            Some(bytes) => Ok(Some(decode(bytes.value())?)),
            None => Ok(None),
        }
    }

    fn store(&mut self, key: &Key, previous: Option<&Item>, item: &Item) -> StoreResult<()> {
        if item_size(item) > MAX_ITEM_BYTES {
            return Err(StoreError::ItemTooLarge);
        }
        let bytes = encode(item)?;
        self.unindex(key, previous)?;
        self.items
            .insert((key.pk.as_str(), key.sk.as_str()), bytes.as_slice())
            .map_err(internal)?;
        for (index, table) in TABLE.indexes.iter().zip(self.gsi.iter_mut()) {
            if let Some((gpk, gsk)) = index_entry(index, item) {
                table
                    .insert((gpk, gsk, key.pk.as_str(), key.sk.as_str()), ())
                    .map_err(internal)?;
            }
        }
        self.count(item, 1);
        if let Some(at) = expiry_of(item) {
            self.expiry
                .insert((at, key.pk.as_str(), key.sk.as_str()), ())
                .map_err(internal)?;
        }
        // An inserted event moves its visit's last activity in the same transaction (what the
        // stream's consumer does on DynamoDB): no second write for the caller to wait on.
        if previous.is_none()
            && let Some(activity) = activity_of_item(item)
        {
            match self.apply(Job::Update(touch(&activity.partition, activity.at))) {
                Ok(_) | Err(StoreError::ConditionFailed) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn remove(&mut self, key: &Key, previous: Option<&Item>) -> StoreResult<()> {
        self.unindex(key, previous)?;
        self.items
            .remove((key.pk.as_str(), key.sk.as_str()))
            .map_err(internal)?;
        Ok(())
    }

    /// Takes the previous version of an item out of the index, its partition count and the
    /// expiry index.
    fn unindex(&mut self, key: &Key, previous: Option<&Item>) -> StoreResult<()> {
        for (index, table) in TABLE.indexes.iter().zip(self.gsi.iter_mut()) {
            if let Some((gpk, gsk)) = previous.and_then(|p| index_entry(index, p)) {
                table
                    .remove((gpk, gsk, key.pk.as_str(), key.sk.as_str()))
                    .map_err(internal)?;
            }
        }
        if let Some(previous) = previous {
            self.count(previous, -1);
        }
        if let Some(at) = previous.and_then(expiry_of) {
            self.expiry
                .remove((at, key.pk.as_str(), key.sk.as_str()))
                .map_err(internal)?;
        }
        Ok(())
    }

    /// Moves every count the item is counted under by `delta` (see [`counters_of`]).
    fn count(&mut self, item: &Item, delta: i64) {
        for counter in counters_of(item) {
            match self.deltas.get_mut(counter) {
                Some(d) => *d += delta,
                None => {
                    self.deltas.insert(counter.to_owned(), delta);
                }
            }
        }
    }
}

/// The smallest string greater than every string that starts with `prefix`, if one exists:
/// UTF-8 byte order is code point order, so bumping the last character is enough.
fn prefix_successor(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let mut next = last as u32 + 1;
        if (0xD800..=0xDFFF).contains(&next) {
            next = 0xE000;
        }
        if let Some(c) = char::from_u32(next) {
            chars.push(c);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// The sort-key interval a query covers, as (inclusive lower, exclusive upper).
fn sort_bounds(range: &SortRange) -> (String, Option<String>) {
    match range {
        SortRange::All => (String::new(), None),
        SortRange::BeginsWith(prefix) => (prefix.clone(), prefix_successor(prefix)),
        SortRange::AtLeast(lower) => (lower.clone(), None),
        // The keys at most `upper`: below `upper` followed by the smallest character.
        SortRange::Between(lower, upper) => (lower.clone(), Some(format!("{upper}\0"))),
    }
}

impl EmbeddedTable {
    /// Removes items whose TTL attribute (epoch seconds) is at or before `now`, as DynamoDB's
    /// TTL does, in transactions of at most a thousand items, index entries and counts
    /// included. Returns how many items were removed.
    pub async fn sweep_expired(&self, now: u64) -> StoreResult<usize> {
        let mut removed = 0;
        loop {
            let swept = match self.submit(Job::Sweep(now)).await? {
                Done::Swept(n) => n,
                _ => 0,
            };
            removed += swept;
            if swept < SWEEP_BATCH {
                return Ok(removed);
            }
        }
    }
}

impl Table for EmbeddedTable {
    async fn count(&self, counter: &str) -> StoreResult<u64> {
        let txn = self.db.begin_read().map_err(internal)?;
        let counts = txn.open_table(COUNTS).map_err(internal)?;
        Ok(counts
            .get(counter)
            .map_err(internal)?
            .map_or(0, |v| v.value()))
    }

    fn counts_are_exact(&self) -> bool {
        true
    }

    fn batched_put_new_is_exact(&self) -> bool {
        true
    }

    /// Every read sees the latest commit: `consistent` changes nothing here.
    async fn read(&self, read: Read<'_>) -> StoreResult<Option<Item>> {
        let item = self.read_item(&read.key.pk, &read.key.sk)?;
        Ok(match read.paths {
            [] => item,
            paths => item.map(|item| project(&item, paths)),
        })
    }

    /// In key order.
    async fn scan(&self, start_after: Option<Item>, limit: usize) -> StoreResult<Page> {
        let txn = self.db.begin_read().map_err(internal)?;
        let table = txn.open_table(ITEMS).map_err(internal)?;
        let after = start_after.as_ref().and_then(|item| item_key(item).ok());
        let lower = match &after {
            Some(key) => Bound::Excluded((key.pk.as_str(), key.sk.as_str())),
            None => Bound::Unbounded,
        };
        let mut items = Vec::new();
        let mut more = false;
        for entry in table
            .range::<(&str, &str)>((lower, Bound::Unbounded))
            .map_err(internal)?
        {
            let (_, value) = entry.map_err(internal)?;
            if items.len() == limit {
                more = true;
                break;
            }
            items.push(decode(value.value())?);
        }
        let last = if more {
            items.last().map(|item| key_attributes(item, None))
        } else {
            None
        };
        Ok(Page { items, last })
    }

    /// One snapshot for all of them. Many keys (an export's chunk) are read by as many threads
    /// as there are cores, each a contiguous run of the keys in the table's order: decoding
    /// the items is most of the work, and the snapshot is shared.
    async fn read_many(&self, keys: &[Key]) -> StoreResult<Vec<Option<Item>>> {
        let txn = self.db.begin_read().map_err(internal)?;
        let table = txn.open_table(ITEMS).map_err(internal)?;
        // Read in the table's order, not the caller's: keys of one partition (a session's
        // events, which the time index interleaves with others') then share the B-tree pages
        // each lookup reads.
        let mut order: Vec<usize> = (0..keys.len()).collect();
        order.sort_unstable_by(|&a, &b| keys[a].cmp(&keys[b]));
        let read_run = |run: &[usize]| -> StoreResult<Vec<(usize, Item)>> {
            let mut found = Vec::with_capacity(run.len());
            for &at in run {
                let key = &keys[at];
                if let Some(bytes) = table
                    .get((key.pk.as_str(), key.sk.as_str()))
                    .map_err(internal)?
                {
                    found.push((at, decode(bytes.value())?));
                }
            }
            Ok(found)
        };
        let threads = match keys.len() {
            n if n < PARALLEL_READ_MIN => 1,
            _ => thread::available_parallelism().map_or(1, |n| n.get().min(MAX_READ_THREADS)),
        };
        let runs: Vec<StoreResult<Vec<(usize, Item)>>> = if threads == 1 {
            vec![read_run(&order)]
        } else {
            let per_thread = order.len().div_ceil(threads);
            thread::scope(|scope| {
                let workers: Vec<_> = order
                    .chunks(per_thread)
                    .map(|run| scope.spawn(move || read_run(run)))
                    .collect();
                workers
                    .into_iter()
                    .map(|w| {
                        w.join().unwrap_or_else(|_| {
                            Err(StoreError::Internal("a reader panicked".into()))
                        })
                    })
                    .collect()
            })
        };
        let mut out: Vec<Option<Item>> = vec![None; keys.len()];
        for run in runs {
            for (at, item) in run? {
                out[at] = Some(item);
            }
        }
        Ok(out)
    }

    async fn put(&self, item: Item, condition: Option<Condition>) -> StoreResult<()> {
        self.submit(Job::Put(item, condition)).await.map(|_| ())
    }

    async fn update(&self, update: Update) -> StoreResult<Item> {
        match self.submit(Job::Update(update)).await? {
            Done::Item(Some(item)) => Ok(item),
            _ => Err(StoreError::Internal("update returned no item".into())),
        }
    }

    async fn delete(&self, key: &Key) -> StoreResult<()> {
        self.submit(Job::Delete(key.clone())).await.map(|_| ())
    }

    async fn batch_write(&self, writes: Vec<Write>) -> StoreResult<Vec<bool>> {
        if writes.is_empty() {
            return Ok(Vec::new());
        }
        match self.submit(Job::Batch(writes)).await? {
            Done::Applied(applied) => Ok(applied),
            _ => Err(StoreError::Internal("batch returned no results".into())),
        }
    }

    async fn query(&self, query: Query) -> StoreResult<Page> {
        let txn = self.db.begin_read().map_err(internal)?;
        let items = txn.open_table(ITEMS).map_err(internal)?;
        let (lo, hi) = sort_bounds(&query.range);
        let mut out = Vec::new();
        let mut more = false;
        match query.index {
            None => {
                let pk = query.partition.as_str();
                let pk_next = prefix_successor(pk).unwrap_or_default();
                let mut lower = Bound::Included((pk, lo.as_str()));
                let mut upper = match &hi {
                    Some(hi) => Bound::Excluded((pk, hi.as_str())),
                    None => Bound::Excluded((pk_next.as_str(), "")),
                };
                let start_sk = query
                    .start_after
                    .as_ref()
                    .and_then(|s| get_s(s, TABLE.sort_key).map(str::to_owned));
                if let Some(sk) = &start_sk {
                    if query.ascending {
                        lower = Bound::Excluded((pk, sk.as_str()));
                    } else {
                        upper = Bound::Excluded((pk, sk.as_str()));
                    }
                }
                let range = items
                    .range::<(&str, &str)>((lower, upper))
                    .map_err(internal)?;
                let iter: Box<dyn Iterator<Item = _>> = if query.ascending {
                    Box::new(range)
                } else {
                    Box::new(range.rev())
                };
                let mut iter = iter;
                skip_entries(&mut iter, query.skip)?;
                for entry in iter {
                    let (_, value) = entry.map_err(internal)?;
                    if out.len() == query.limit {
                        more = true;
                        break;
                    }
                    out.push(decode(value.value())?);
                }
            }
            Some(index_name) => {
                let (index, definition) = TABLE
                    .indexes
                    .iter()
                    .zip(index_tables())
                    .find(|(i, _)| i.name == index_name)
                    .ok_or_else(|| StoreError::Rejected(format!("unknown index {index_name}")))?;
                let gsi = txn.open_table(definition).map_err(internal)?;
                let gpk = query.partition.as_str();
                let gpk_next = prefix_successor(gpk).unwrap_or_default();
                let start = query.start_after.as_ref().and_then(|s| {
                    Some((
                        get_s(s, index.sort_key)?.to_owned(),
                        get_s(s, TABLE.partition_key)?.to_owned(),
                        get_s(s, TABLE.sort_key)?.to_owned(),
                    ))
                });
                let mut lower = Bound::Included((gpk, lo.as_str(), "", ""));
                let mut upper = match &hi {
                    Some(hi) => Bound::Excluded((gpk, hi.as_str(), "", "")),
                    None => Bound::Excluded((gpk_next.as_str(), "", "", "")),
                };
                if let Some((gsk, pk, sk)) = &start {
                    let after = (gpk, gsk.as_str(), pk.as_str(), sk.as_str());
                    if query.ascending {
                        lower = Bound::Excluded(after);
                    } else {
                        upper = Bound::Excluded(after);
                    }
                }
                let range = gsi
                    .range::<(&str, &str, &str, &str)>((lower, upper))
                    .map_err(internal)?;
                let iter: Box<dyn Iterator<Item = _>> = if query.ascending {
                    Box::new(range)
                } else {
                    Box::new(range.rev())
                };
                // Skipped entries cost a B-tree step each: their items are never fetched.
                let mut iter = iter;
                skip_entries(&mut iter, query.skip)?;
                for entry in iter {
                    let (key, _) = entry.map_err(internal)?;
                    if out.len() == query.limit {
                        more = true;
                        break;
                    }
                    let (gpk, gsk, pk, sk) = key.value();
                    if index.projection == Projection::KeysOnly {
                        out.push(Item::from([
                            (TABLE.partition_key.into(), pk.into()),
                            (TABLE.sort_key.into(), sk.into()),
                            (index.partition_key.into(), gpk.into()),
                            (index.sort_key.into(), gsk.into()),
                        ]));
                        continue;
                    }
                    // The entry and its item are written in one transaction, so the item is
                    // in this snapshot; a miss would mean corruption.
                    let bytes = items
                        .get((pk, sk))
                        .map_err(internal)?
                        .ok_or_else(|| StoreError::Internal("index entry without item".into()))?;
                    out.push(decode(bytes.value())?);
                }
            }
        }
        let last = if more {
            out.last().map(|item| key_attributes(item, query.index))
        } else {
            None
        };
        Ok(Page { items: out, last })
    }
}

/// The key attributes DynamoDB would return as LastEvaluatedKey for an item.
pub(crate) fn key_attributes(item: &Item, index: Option<&str>) -> Item {
    let mut names = vec![TABLE.partition_key, TABLE.sort_key];
    if let Some(index) = TABLE.indexes.iter().find(|i| Some(i.name) == index) {
        names.push(index.partition_key);
        names.push(index.sort_key);
    }
    names
        .into_iter()
        .filter_map(|n| item.get(n).map(|v| (n.to_owned(), v.clone())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::prefix_successor;

    #[test]
    fn prefix_successor_bounds_every_extension() {
        assert_eq!(prefix_successor("EV#").as_deref(), Some("EV$"));
        let next = prefix_successor("a\u{10FFFF}").unwrap();
        assert_eq!(next, "b");
        assert!(prefix_successor("").is_none());
    }
}
