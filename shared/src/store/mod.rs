//! Storage: the single-table layout (`keys`), the engine contract (`table`), the repository of
//! domain rules over it (`repo`), the two engines, and what both keep beside the items they
//! write (`activity`).

pub mod activity;
pub mod cursor;
pub mod engine;
pub mod ids;
pub mod item;
pub mod keys;
pub mod repo;
pub mod table;
pub mod track_id;

use engine::dynamo::DynamoTable;
#[cfg(feature = "embedded")]
use engine::embedded::EmbeddedTable;
use item::Item;
use table::{Condition, Key, Page, Query, Read, StoreResult, Table, Update, Write};

/// Either engine, chosen at startup; lets the app and handlers stay non-generic.
#[derive(Clone)]
pub enum AnyTable {
    Dynamo(DynamoTable),
    #[cfg(feature = "embedded")]
    Embedded(EmbeddedTable),
}

/// Calls the engine. DynamoDB's calls are boxed: the SDK's futures are dozens of layers deep,
/// and nested under a route's handler and the services they take the whole future past the
/// compiler's layout limit in the functions' release builds; a box per call (beside a network
/// round trip) cuts the nesting there.
macro_rules! dispatch {
    ($self:ident, $t:ident => $call:expr) => {
        match $self {
            AnyTable::Dynamo($t) => Box::pin($call).await,
            #[cfg(feature = "embedded")]
            AnyTable::Embedded($t) => $call.await,
        }
    };
}

impl Table for AnyTable {
    async fn read(&self, read: Read<'_>) -> StoreResult<Option<Item>> {
        dispatch!(self, t => t.read(read))
    }

    async fn scan(&self, start_after: Option<Item>, limit: usize) -> StoreResult<Page> {
        dispatch!(self, t => t.scan(start_after, limit))
    }

    async fn read_many(&self, keys: &[Key]) -> StoreResult<Vec<Option<Item>>> {
        dispatch!(self, t => t.read_many(keys))
    }

    async fn put(&self, item: Item, condition: Option<Condition>) -> StoreResult<()> {
        dispatch!(self, t => t.put(item, condition))
    }

    async fn update(&self, update: Update) -> StoreResult<Item> {
        dispatch!(self, t => t.update(update))
    }

    async fn delete(&self, key: &Key) -> StoreResult<()> {
        dispatch!(self, t => t.delete(key))
    }

    async fn query(&self, query: Query) -> StoreResult<Page> {
        dispatch!(self, t => t.query(query))
    }

    async fn batch_write(&self, writes: Vec<Write>) -> StoreResult<Vec<bool>> {
        dispatch!(self, t => t.batch_write(writes))
    }

    async fn count(&self, counter: &str) -> StoreResult<u64> {
        dispatch!(self, t => t.count(counter))
    }

    fn counts_are_exact(&self) -> bool {
        match self {
            AnyTable::Dynamo(t) => t.counts_are_exact(),
            #[cfg(feature = "embedded")]
            AnyTable::Embedded(t) => t.counts_are_exact(),
        }
    }

    fn activity_from_stream(&self) -> bool {
        match self {
            AnyTable::Dynamo(t) => t.activity_from_stream(),
            #[cfg(feature = "embedded")]
            AnyTable::Embedded(t) => t.activity_from_stream(),
        }
    }

    fn batched_put_new_is_exact(&self) -> bool {
        match self {
            AnyTable::Dynamo(t) => t.batched_put_new_is_exact(),
            #[cfg(feature = "embedded")]
            AnyTable::Embedded(t) => t.batched_put_new_is_exact(),
        }
    }
}

/// The repository over whichever engine was configured.
pub type Store = repo::Repo<AnyTable>;

/// The embedded engine's page cache for a single pass over the store (see
/// [`StoreKind::open_for_a_pass`]).
#[cfg(feature = "embedded")]
const PASS_CACHE_BYTES: usize = 8 * 1024 * 1024;

/// Which engine to open.
#[derive(Debug, Clone)]
pub enum StoreKind {
    /// A redb file.
    #[cfg(feature = "embedded")]
    Embedded(std::path::PathBuf),
    /// A DynamoDB table; the endpoint comes from the SDK's usual configuration
    /// (`AWS_ENDPOINT_URL_DYNAMODB` for DynamoDB Local).
    Dynamo { table: String },
}

impl StoreKind {
    /// Opens the store for a command that reads it once (an export): on the embedded engine
    /// with a small page cache, so the command's memory stays small however much it reads.
    pub async fn open_for_a_pass(&self) -> StoreResult<AnyTable> {
        match self {
            #[cfg(feature = "embedded")]
            StoreKind::Embedded(path) => Ok(AnyTable::Embedded(EmbeddedTable::open_with_cache(
                path,
                Some(PASS_CACHE_BYTES),
            )?)),
            _ => self.open().await,
        }
    }

    pub async fn open(&self) -> StoreResult<AnyTable> {
        Ok(match self {
            #[cfg(feature = "embedded")]
            StoreKind::Embedded(path) => AnyTable::Embedded(EmbeddedTable::open(path)?),
            StoreKind::Dynamo { table } => {
                let aws = crate::runtime::aws::load_config().await;
                AnyTable::Dynamo(DynamoTable::new(
                    aws_sdk_dynamodb::Client::new(&aws),
                    table.clone(),
                ))
            }
        })
    }
}
