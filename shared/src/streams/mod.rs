//! The DynamoDB table's change stream, consumed by a dispatcher: each feature that keeps state
//! derived from the table (the counts behind event/show's totals and the stats; visits' last
//! activity) is a [`StreamHandler`] registered with the [`Dispatcher`], which hands every
//! delivery to each and tells Lambda where to deliver again from. `poller` reads the stream
//! locally for `atrack serve --count-from-stream` and the tests, as the `count` function does
//! on AWS.

pub mod activity;
pub mod counts;
pub mod poller;

use std::future::Future;
use std::pin::Pin;

pub use counts::{Delivery, IndexCounts, Record};

use crate::store::engine::dynamo::DynamoTable;

/// One consumer of the change stream. A delivery comes again from the earliest record any
/// handler could not handle, so a handler sees again records it handled before: it must
/// handle each record once however often it sees it (counts guard that with their `CNT#`
/// items).
pub trait StreamHandler: Send + Sync {
    /// For logs.
    fn name(&self) -> &'static str;

    /// Handles a delivery's records, in order, and says where to retry from if it must.
    fn handle<'a>(
        &'a self,
        records: &'a [Record],
    ) -> Pin<Box<dyn Future<Output = Delivery> + Send + 'a>>;
}

/// The registered handlers, run over every delivery.
#[derive(Default)]
pub struct Dispatcher {
    handlers: Vec<Box<dyn StreamHandler>>,
}

impl Dispatcher {
    pub fn new() -> Self {
        Dispatcher::default()
    }

    /// Registers a handler.
    pub fn with(mut self, handler: impl StreamHandler + 'static) -> Self {
        self.handlers.push(Box::new(handler));
        self
    }

    /// The table's consumers: what the `count` function runs.
    pub fn for_table(table: DynamoTable) -> Self {
        Dispatcher::new()
            .with(activity::LastActivity::new(table.clone()))
            .with(IndexCounts(table))
    }

    /// Runs every handler over the records. Returns the sequence number to deliver again
    /// from: the earliest any handler asked for, or `None` when all are done.
    pub async fn dispatch(&self, records: &[Record]) -> Option<String> {
        let mut retry_at: Option<usize> = None;
        for handler in &self.handlers {
            let done = handler.handle(records).await;
            tracing::info!(
                handler = handler.name(),
                records = records.len(),
                handled = done.counted,
                retry_from = done.retry_from.as_deref(),
                "stream delivery handled"
            );
            if let Some(sequence) = done.retry_from {
                // A sequence number not in the delivery cannot be retried from; the first
                // record is the safe place then.
                let at = records
                    .iter()
                    .position(|r| r.sequence() == sequence)
                    .unwrap_or(0);
                retry_at = Some(retry_at.map_or(at, |r| r.min(at)));
            }
        }
        retry_at
            .and_then(|at| records.get(at))
            .map(|r| r.sequence().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A handler that asks to retry from a fixed sequence number, or not at all.
    struct RetryFrom(Option<&'static str>);

    impl StreamHandler for RetryFrom {
        fn name(&self) -> &'static str {
            "test"
        }

        fn handle<'a>(
            &'a self,
            records: &'a [Record],
        ) -> Pin<Box<dyn Future<Output = Delivery> + Send + 'a>> {
            Box::pin(async move {
                Delivery {
                    counted: records.len(),
                    retry_from: self.0.map(str::to_owned),
                }
            })
        }
    }

    fn records() -> Vec<Record> {
        (1..=4)
            .map(|i| Record::Poison {
                event_id: format!("e{i}"),
                sequence: format!("s{i}"),
                reason: String::new(),
            })
            .collect()
    }

    #[tokio::test]
    async fn a_delivery_is_retried_from_the_earliest_record_any_handler_asks_for() {
        let records = records();
        let done = Dispatcher::new()
            .with(RetryFrom(None))
            .with(RetryFrom(Some("s3")))
            .with(RetryFrom(Some("s2")));
        assert_eq!(done.dispatch(&records).await.as_deref(), Some("s2"));
        let all_done = Dispatcher::new()
            .with(RetryFrom(None))
            .with(RetryFrom(None));
        assert_eq!(all_done.dispatch(&records).await, None);
        // A sequence number that is not in the delivery: from its first record.
        let unknown = Dispatcher::new().with(RetryFrom(Some("elsewhere")));
        assert_eq!(unknown.dispatch(&records).await.as_deref(), Some("s1"));
    }
}
