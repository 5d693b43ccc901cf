//! The analytics stats: a project's event counts (kept as events are stored, read as a handful
//! of count items) and the state of the ingest path that feeds them.

use super::App;
use crate::domain::project::Project;
use crate::domain::time::Timestamp;
use crate::error::Error;
use crate::store::AnyTable;
use crate::store::repo::EventStats;

/// The ingest path's state, engine by engine (the README's "buffer_status" table says what
/// each field means where).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestStatus {
    /// Writes accepted and waiting to be made durable now.
    pub buffer_size: u64,
    /// The most writes one flush takes.
    pub max_buffer_size: u64,
    /// How long writes may wait to be flushed together.
    pub flush_interval_seconds: u64,
    /// When the last flush finished.
    pub last_flush: Option<Timestamp>,
    /// Accepted work not finished: waiting writes and enrichment jobs.
    pub events_pending: u64,
    /// Writes (embedded: since the process started) or stream changes (DynamoDB: since the
    /// table was created) flushed into the counts.
    pub events_flushed_total: u64,
}

impl App {
    /// A project's event counts now.
    pub async fn event_stats(&self, project: &Project) -> Result<EventStats, Error> {
        Ok(self.store.event_stats(project, self.now()).await?)
    }

    /// The state of the write path and of the enrichment queue.
    pub async fn ingest_status(&self) -> Result<IngestStatus, Error> {
        let jobs = match &self.queue {
            Some(queue) => queue.pending().await.unwrap_or_else(|e| {
                tracing::warn!(error = &e as &dyn std::error::Error, "queue length unknown");
                0
            }),
            None => 0,
        };
        Ok(match self.store.table() {
            #[cfg(feature = "embedded")]
            AnyTable::Embedded(table) => {
                let buffer = table.buffer_status();
                IngestStatus {
                    buffer_size: buffer.queued as u64,
                    max_buffer_size: buffer.max_group as u64,
                    // A group commits as soon as the one before it is durable.
                    flush_interval_seconds: 0,
                    last_flush: buffer.last_commit_micros.map(Timestamp::from_micros),
                    events_pending: buffer.queued as u64 + jobs,
                    events_flushed_total: buffer.committed,
                }
            }
            AnyTable::Dynamo(table) => {
                let (last, counted) = table.stream_status().await?;
                IngestStatus {
                    // Every request writes to DynamoDB before it answers: nothing waits in a
                    // function.
                    buffer_size: 0,
                    max_buffer_size: self.config.stream_batch_size,
                    flush_interval_seconds: self.config.stream_batching_window_secs,
                    last_flush: last.map(Timestamp::from_micros),
                    events_pending: jobs,
                    events_flushed_total: counted,
                }
            }
        })
    }
}
