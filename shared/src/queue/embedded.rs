//! A durable in-process queue for `atrack serve`: a job is an item in the embedded table,
//! written (and fsynced) before init answers, and deleted only after enrichment succeeded. At
//! startup the worker drains whatever a crash left behind.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use super::{EnrichJob, QueueError};
use crate::store::AnyTable;
use crate::store::item::{Attr, Item, get_s};
use crate::store::keys::{COUNTED_IN, PK, QUEUE_COUNTER, SK};
use crate::store::table::{Key, Query, SortRange, StoreResult, Table};

const QUEUE_PK: &str = "QUEUE";

#[derive(Clone)]
pub struct EmbeddedQueue {
    table: AnyTable,
    wake: Arc<Notify>,
}

impl EmbeddedQueue {
    pub fn new(table: AnyTable) -> Self {
        EmbeddedQueue {
            table,
            wake: Arc::new(Notify::new()),
        }
    }

    pub async fn send(&self, job: &EnrichJob) -> Result<(), QueueError> {
        // Sort key: init time, then the session, so jobs drain oldest first.
        let sk = format!("{:020}#{}#{}", job.init_seq, job.project, job.uuid);
        let item = Item::from([
            (PK.into(), Attr::s(QUEUE_PK)),
            (SK.into(), Attr::S(sk)),
            (
                "job".into(),
                Attr::S(serde_json::to_string(job).unwrap_or_default()),
            ),
            // Counted, so the stats can say how many jobs wait without reading them.
            (COUNTED_IN.into(), Attr::L(vec![Attr::s(QUEUE_COUNTER)])),
        ]);
        self.table.put(item, None).await?;
        self.wake.notify_one();
        Ok(())
    }

    /// Up to `limit` pending jobs, oldest first, with the key that acknowledges each.
    pub async fn pending(&self, limit: usize) -> StoreResult<Vec<(Key, Option<EnrichJob>)>> {
        let page = self
            .table
            .query(Query {
                index: None,
                partition: QUEUE_PK.into(),
                range: SortRange::All,
                ascending: true,
                limit,
                start_after: None,
                skip: 0,
            })
            .await?;
        Ok(page
            .items
            .iter()
            .filter_map(|item| {
                let key = Key::new(QUEUE_PK, get_s(item, SK)?);
                let job = get_s(item, "job").and_then(|j| serde_json::from_str(j).ok());
                Some((key, job))
            })
            .collect())
    }

    /// How many jobs wait (exactly on the embedded store; on DynamoDB as of the stream).
    pub async fn waiting(&self) -> StoreResult<u64> {
        self.table.count(QUEUE_COUNTER).await
    }

    pub async fn ack(&self, key: &Key) -> StoreResult<()> {
        self.table.delete(key).await
    }

    /// Waits until a job is sent or the poll interval passes.
    pub async fn wait(&self) {
        let _ = tokio::time::timeout(Duration::from_secs(5), self.wake.notified()).await;
    }
}
