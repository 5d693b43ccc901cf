//! The enrichment queue: init hands a small job to it and answers `queued: true`; a consumer
//! (the `enrich` Lambda on SQS, or the in-process worker of `atrack serve`) enriches later.

#[cfg(feature = "embedded")]
pub mod embedded;
pub mod sqs;

use serde::{Deserialize, Serialize};

/// One enrichment job. Small on purpose: the session item holds the context; `init_seq` tells
/// the consumer which init this job is for, so a stale job never overwrites a newer init.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrichJob {
    pub project: String,
    pub uuid: String,
    pub init_seq: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("sending to SQS failed")]
    Sqs(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("storing the job failed")]
    Store(#[from] crate::store::table::StoreError),
}

/// Either queue, chosen at startup.
#[derive(Clone)]
pub enum AnyQueue {
    Sqs(sqs::SqsQueue),
    #[cfg(feature = "embedded")]
    Embedded(embedded::EmbeddedQueue),
}

impl AnyQueue {
    pub async fn send(&self, job: &EnrichJob) -> Result<(), QueueError> {
        match self {
            AnyQueue::Sqs(q) => q.send(job).await,
            #[cfg(feature = "embedded")]
            AnyQueue::Embedded(q) => q.send(job).await,
        }
    }

    /// Jobs not yet done: waiting or being worked on.
    pub async fn pending(&self) -> Result<u64, QueueError> {
        match self {
            AnyQueue::Sqs(q) => q.pending().await,
            #[cfg(feature = "embedded")]
            AnyQueue::Embedded(q) => Ok(q.waiting().await?),
        }
    }
}
