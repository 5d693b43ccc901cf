//! The small storage contract both engines implement. It speaks DynamoDB's vocabulary (items,
//! partition and sort keys, one GSI, conditional writes, typed updates) so that the repository
//! above it holds every domain rule exactly once.

use std::collections::BTreeMap;
use std::future::Future;

use super::item::{Attr, Item};
use super::keys::{COUNTED_IN, TABLE};

/// A primary key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Key {
            pk: pk.into(),
            sk: sk.into(),
        }
    }
}

/// A precondition on the item's state, checked atomically with the write.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// The item exists.
    Exists,
    /// The item does not exist.
    NotExists,
    /// The item is absent, or its numeric attribute is at most the given value.
    AbsentOrAtMost(String, i64),
    /// The item exists and the attribute equals the value.
    Equals(String, Attr),
    /// The item exists, and its numeric attribute is absent or below the given value (a
    /// "latest wins" write that never creates the item).
    ExistsAndBelow(String, i64),
}

/// One typed change to an item. An update on an absent item creates it (as DynamoDB does),
/// unless none of its operations writes anything (only empty merges).
#[derive(Debug, Clone, PartialEq)]
pub enum UpdateOp {
    Set(String, Attr),
    /// Sets the attribute only when it is absent (DynamoDB's `if_not_exists`).
    SetIfAbsent(String, Attr),
    /// Writes each entry into a map attribute, keeping the other entries; creates the map.
    MergeMap(String, BTreeMap<String, Attr>),
    /// Adds to a number attribute, starting from zero.
    Add(String, i64),
    Remove(String),
}

/// A write that may carry a condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    pub key: Key,
    pub ops: Vec<UpdateOp>,
    pub condition: Option<Condition>,
}

/// Which sort keys a query returns.
#[derive(Debug, Clone, PartialEq)]
pub enum SortRange {
    All,
    BeginsWith(String),
    /// Sort keys at or above the bound.
    AtLeast(String),
    /// Sort keys from the first bound to the second, both included (DynamoDB's `BETWEEN`).
    Between(String, String),
}

/// A query over one partition of the table or of an index.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// `None` queries the table; `Some(name)` a global secondary index.
    pub index: Option<&'static str>,
    pub partition: String,
    pub range: SortRange,
    pub ascending: bool,
    /// At most this many items.
    pub limit: usize,
    /// Continue after this item's key (the previous page's `last`).
    pub start_after: Option<Item>,
    /// Pass over this many matching items before the first one returned. Their keys are
    /// walked, not their items: the embedded engine steps through index entries without
    /// reading or decoding an item, DynamoDB reads keys only (still billed for what it reads,
    /// but sent and parsed at a fraction of the size). Numbered pages use it; cursors need
    /// not, as they start right at the previous page's end.
    pub skip: usize,
}

/// One page of query results. `last` is the key attributes (table and index keys) of the last
/// item when more may follow, exactly what DynamoDB calls LastEvaluatedKey.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub items: Vec<Item>,
    pub last: Option<Item>,
}

/// A read of one item: eventually consistent by default (half the cost on DynamoDB), strongly
/// consistent when a decision depends on seeing the latest write; the whole item, or only the
/// attribute paths named (a path is a top-level attribute and map keys below it).
#[derive(Debug, Clone, Copy)]
pub struct Read<'a> {
    pub key: &'a Key,
    pub consistent: bool,
    /// Empty: the whole item.
    pub paths: &'a [&'a [&'a str]],
}

impl<'a> Read<'a> {
    pub fn new(key: &'a Key) -> Self {
        Read {
            key,
            consistent: false,
            paths: &[],
        }
    }

    pub fn consistent(self) -> Self {
        Read {
            consistent: true,
            ..self
        }
    }

    pub fn only(self, paths: &'a [&'a [&'a str]]) -> Self {
        Read { paths, ..self }
    }
}

/// The parts of `item` at `paths`, nested as in the item (DynamoDB's ProjectionExpression): a
/// path whose attribute is absent, or whose step is not a map, contributes nothing. Paths must
/// not overlap (DynamoDB refuses `a` with `a.b`).
pub fn project(item: &Item, paths: &[&[&str]]) -> Item {
    /// The value at `path` below `from`, if every step but the last is a map.
    fn at<'a>(from: &'a BTreeMap<String, Attr>, path: &[&str]) -> Option<&'a Attr> {
        let (first, rest) = path.split_first()?;
        let value = from.get(*first)?;
        match (rest.is_empty(), value) {
            (true, value) => Some(value),
            (false, Attr::M(inner)) => at(inner, rest),
            (false, _) => None,
        }
    }
    /// Writes `value` at `path` below `into`, making the maps on the way.
    fn put(into: &mut BTreeMap<String, Attr>, path: &[&str], value: Attr) {
        let Some((first, rest)) = path.split_first() else {
            return;
        };
        if rest.is_empty() {
            into.insert((*first).to_owned(), value);
            return;
        }
        let slot = into
            .entry((*first).to_owned())
            .or_insert_with(|| Attr::M(BTreeMap::new()));
        if let Attr::M(slot) = slot {
            put(slot, rest, value);
        }
    }
    if paths.is_empty() {
        return item.clone();
    }
    let mut out = Item::new();
    for path in paths {
        // Only what is there: a path to nothing leaves no empty maps behind, as on DynamoDB.
        if let Some(value) = at(item, path) {
            put(&mut out, path, value.clone());
        }
    }
    out
}

/// A write in a batch.
#[derive(Debug, Clone)]
pub enum Write {
    Put(Item),
    /// Puts the item unless one with its key exists (a retried event). On the embedded engine
    /// the check and the write are one transaction. DynamoDB's batch writes take no condition:
    /// the keys are read first (consistently) and only absent ones written, so two writers
    /// racing on one key may both write it; they write the same event, into one item.
    PutNew(Item),
    Delete(Key),
}

/// Why a storage call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The write's condition did not hold; nothing was written.
    #[error("condition check failed")]
    ConditionFailed,
    /// The write would make the item larger than the engine's item limit (DynamoDB's 400 KB);
    /// nothing was written.
    #[error("the item would exceed the 400 KB item size limit")]
    ItemTooLarge,
    /// The backend is throttling or unreachable; the caller may retry later.
    #[error("storage unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The request was refused as invalid by the backend (a bug or a limit we did not check).
    #[error("storage rejected the request: {0}")]
    Rejected(String),
    /// Anything else: corrupt data, I/O errors.
    #[error("storage failure")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The storage engine contract.
pub trait Table: Send + Sync + 'static {
    /// The whole item, eventually consistent.
    fn get(&self, key: &Key) -> impl Future<Output = StoreResult<Option<Item>>> + Send {
        self.read(Read::new(key))
    }

    fn read(&self, read: Read<'_>) -> impl Future<Output = StoreResult<Option<Item>>> + Send;

    /// Writes the whole item; with `NotExists` fails with `ConditionFailed` if it is present.
    fn put(
        &self,
        item: Item,
        condition: Option<Condition>,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Applies typed changes and returns the item as it is afterwards.
    fn update(&self, update: Update) -> impl Future<Output = StoreResult<Item>> + Send;

    fn delete(&self, key: &Key) -> impl Future<Output = StoreResult<()>> + Send;

    fn query(&self, query: Query) -> impl Future<Output = StoreResult<Page>> + Send;

    /// Puts and deletes, applied in chunks the backend accepts. Returns, for each write in
    /// order, whether it was applied: only a [`Write::PutNew`] meeting its key is not.
    fn batch_write(
        &self,
        writes: Vec<Write>,
    ) -> impl Future<Output = StoreResult<Vec<bool>>> + Send;

    /// Every item of the table, a page of at most `limit` at a time after `start_after` (the
    /// previous page's `last`), in no useful order. For administration that must touch every
    /// item once (a migration); no request path ever scans.
    fn scan(
        &self,
        start_after: Option<Item>,
        limit: usize,
    ) -> impl Future<Output = StoreResult<Page>> + Send;

    /// Reads many items by key, eventually consistent, answering in the order of `keys`
    /// (`None` for an absent one): DynamoDB's BatchGetItem, 100 keys a request, so a page of a
    /// keys-only index costs a request per hundred items, not one per item.
    fn read_many(
        &self,
        keys: &[Key],
    ) -> impl Future<Output = StoreResult<Vec<Option<Item>>>> + Send;

    /// How many items an index partition holds, without reading them. The embedded engine
    /// keeps the count in the write transaction, so it is exact at every commit. DynamoDB has
    /// no such thing: a counter item per partition is kept from the table's stream in batches
    /// (`engine::dynamo_counts`), so it trails the writes by the stream's delay, seconds at
    /// most, and costs a fraction of a write unit per event instead of one.
    fn index_count(
        &self,
        index: &'static str,
        partition: &str,
    ) -> impl Future<Output = StoreResult<u64>> + Send {
        async move {
            if !TABLE.indexes.iter().any(|i| i.name == index && i.counted) {
                return Err(StoreError::Rejected(format!("unknown index {index}")));
            }
            self.count(partition).await
        }
    }

    /// A count by name: an index partition's, or one that items list in their `counted_in`
    /// (see [`counters_of`]); kept like the index counts, exact or trailing alike.
    fn count(&self, counter: &str) -> impl Future<Output = StoreResult<u64>> + Send;

    /// Whether `index_count` is exact at every moment (the embedded engine) rather than
    /// trailing the writes (DynamoDB): only an exact count may steer which rows a read returns.
    fn counts_are_exact(&self) -> bool;

    /// Whether a visit's last activity is moved by the change stream's consumer, in batches,
    /// after the events (DynamoDB), rather than in the events' own transaction (the embedded
    /// engine): then it trails the events by the stream's delay (see `store::activity`).
    fn activity_from_stream(&self) -> bool {
        false
    }

    /// Whether a [`Write::PutNew`] in [`Table::batch_write`] is a true conditional write (the
    /// embedded engine: check and write in one transaction) rather than a read before the
    /// write that two racing writers may both pass (DynamoDB). A write that must be exact
    /// under races (an event-id marker) is batched only where it is.
    fn batched_put_new_is_exact(&self) -> bool {
        false
    }
}

/// The counts an item is counted under: its index partition, and the names in its
/// `counted_in` list (strings only; anything else there counts nothing).
pub fn counters_of(item: &Item) -> Vec<&str> {
    let mut out: Vec<&str> = TABLE
        .indexes
        .iter()
        .filter(|index| index.counted)
        .filter_map(|index| item.get(index.partition_key).and_then(Attr::as_s))
        .collect();
    if let Some(Attr::L(names)) = item.get(COUNTED_IN) {
        out.extend(names.iter().filter_map(Attr::as_s));
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// An item holding only `key`: what an update that writes nothing returns for an absent item.
pub fn key_item(key: &Key) -> Item {
    Item::from([
        (TABLE.partition_key.to_owned(), Attr::s(&key.pk)),
        (TABLE.sort_key.to_owned(), Attr::s(&key.sk)),
    ])
}

/// Whether an operation changes anything: a merge of no entries does not.
pub fn op_writes(op: &UpdateOp) -> bool {
    !matches!(op, UpdateOp::MergeMap(_, entries) if entries.is_empty())
}

/// Applies typed update operations to an item in memory. The embedded engine uses it for real;
/// it also documents the semantics the DynamoDB translation must match.
pub fn apply_ops(item: &mut Item, ops: &[UpdateOp]) {
    for op in ops {
        match op {
            UpdateOp::Set(name, value) => {
                item.insert(name.clone(), value.clone());
            }
            UpdateOp::SetIfAbsent(name, value) => {
                item.entry(name.clone()).or_insert_with(|| value.clone());
            }
            // Merging nothing is a no-op: DynamoDB has no way to say it (an update expression
            // must write something), so neither engine creates an empty map for it.
            UpdateOp::MergeMap(_, entries) if entries.is_empty() => {}
            UpdateOp::MergeMap(name, entries) => {
                let slot = item
                    .entry(name.clone())
                    .or_insert_with(|| Attr::M(BTreeMap::new()));
                if !matches!(slot, Attr::M(_)) {
                    *slot = Attr::M(BTreeMap::new());
                }
                if let Attr::M(map) = slot {
                    map.extend(entries.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
            }
            UpdateOp::Add(name, delta) => {
                let current = item.get(name).and_then(Attr::as_i64).unwrap_or(0);
                item.insert(name.clone(), Attr::n(current.saturating_add(*delta)));
            }
            UpdateOp::Remove(name) => {
                item.remove(name);
            }
        }
    }
}

/// Whether a condition holds for the item as currently stored (`None`: absent).
pub fn condition_holds(condition: &Condition, current: Option<&Item>) -> bool {
    match (condition, current) {
        (Condition::Exists, current) => current.is_some(),
        (Condition::NotExists, current) => current.is_none(),
        (Condition::AbsentOrAtMost(_, _), None) => true,
        (Condition::AbsentOrAtMost(name, bound), Some(item)) => item
            .get(name)
            .and_then(Attr::as_i64)
            .is_none_or(|v| v <= *bound),
        (Condition::Equals(_, _), None) => false,
        (Condition::ExistsAndBelow(_, _), None) => false,
        (Condition::ExistsAndBelow(name, bound), Some(item)) => item
            .get(name)
            .and_then(Attr::as_i64)
            .is_none_or(|v| v < *bound),
        (Condition::Equals(name, value), Some(item)) => item.get(name) == Some(value),
    }
}
