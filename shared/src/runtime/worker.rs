//! The background consumers: enrichment from an SQS batch (the `enrich` Lambda) or the
//! embedded queue's in-process worker, index counts from a DynamoDB stream batch (the `count`
//! Lambda), and the embedded store's TTL sweeper. Each message is parsed and processed on its
//! own; failures are reported per message, so one poison record never re-drives its batch.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use futures::stream::{self, StreamExt};
use tokio::sync::watch;

use crate::queue::EnrichJob;
#[cfg(feature = "embedded")]
use crate::queue::embedded::EmbeddedQueue;
use crate::service::{App, JobOutcome};
#[cfg(feature = "embedded")]
use crate::store::engine::embedded::EmbeddedTable;
use crate::streams::{Dispatcher, Record};

/// How many messages of a batch are processed at once.
const CONCURRENCY: usize = 8;

async fn process_message(app: &App, message: &SqsMessage) -> Result<(), String> {
    let body = message.body.as_deref().ok_or("message without body")?;
    let job: EnrichJob =
        serde_json::from_str(body).map_err(|e| format!("not an enrich job: {e}"))?;
    match app.process_job(&job).await {
        Ok(JobOutcome::Enriched | JobOutcome::Stale) => Ok(()),
        // Left on the queue: SQS delivers it again after the visibility timeout.
        Ok(JobOutcome::NotYet) => Err("the session is not visible yet".into()),
        Err(e) => {
            tracing::warn!(error = &e as &dyn std::error::Error, "enrich job failed");
            Err(e.to_string())
        }
    }
}

/// Processes an SQS batch; the response lists the message ids to retry.
pub async fn process_sqs_batch(app: &App, event: SqsEvent) -> SqsBatchResponse {
    let failures: Vec<BatchItemFailure> = stream::iter(event.records.iter())
        .map(|message| async move {
            let id = message.message_id.clone().unwrap_or_default();
            match process_message(app, message).await {
                Ok(()) => None,
                Err(reason) => {
                    tracing::warn!(message_id = %id, %reason, "message failed");
                    Some(id)
                }
            }
        })
        .buffer_unordered(CONCURRENCY)
        .filter_map(|failed| async move { failed })
        .map(|id| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failure
        })
        .collect()
        .await;
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failures;
    response
}

#[cfg(feature = "embedded")]
/// Drains the embedded queue until `shutdown` turns true. A job stays queued until it succeeds
/// or is found unprocessable, so a crash mid-job only delays it to the next start.
pub async fn run_embedded(app: &App, queue: &EmbeddedQueue, mut shutdown: watch::Receiver<bool>) {
    loop {
        if *shutdown.borrow() {
            return;
        }
        match queue.pending(64).await {
            Ok(jobs) if !jobs.is_empty() => {
                for (key, job) in jobs {
                    let done = match &job {
                        Some(job) => match app.process_job(job).await {
                            // The embedded store reads its own writes: a session it does
                            // not show now never comes, so retrying would only stall the queue.
                            Ok(_) => true,
                            Err(e) if e.status().is_client_error() => true,
                            Err(e) => {
                                tracing::warn!(
                                    error = &e as &dyn std::error::Error,
                                    "embedded enrich failed; will retry"
                                );
                                false
                            }
                        },
                        // A job that does not decode can never succeed.
                        None => true,
                    };
                    if done && let Err(e) = queue.ack(&key).await {
                        tracing::warn!(
                            error = &e as &dyn std::error::Error,
                            "cannot acknowledge job"
                        );
                    }
                    if !done {
                        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                        break;
                    }
                }
            }
            Ok(_) => {
                tokio::select! {
                    _ = queue.wait() => {}
                    _ = shutdown.changed() => {}
                }
            }
            Err(e) => {
                tracing::warn!(
                    error = &e as &dyn std::error::Error,
                    "cannot read the embedded queue"
                );
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
    }
}

/// Processes a DynamoDB stream batch (the `count` Lambda): adds its inserts and removals of
/// indexed items to the index counts, each record once however Lambda redelivers or splits the
/// batch (`DynamoTable::count_delivery`). The response names the first record Lambda must
/// deliver again, if any: the first that cannot be read (the records after it are counted
/// already, and Lambda sends it to the failure queue once its retries are spent), or the first
/// that storage failed to count.
pub async fn process_stream_batch(
    dispatcher: &Dispatcher,
    event: &serde_json::Value,
) -> DynamoDbEventResponse {
    let records = event
        .get("Records")
        .and_then(serde_json::Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let records: Vec<Record> = records
        .iter()
        .filter_map(|record| {
            let read = Record::from_lambda(record);
            if read.is_none() {
                // Only AWS writes these, and nothing can name this one to redeliver it.
                tracing::warn!("stream record without eventID or sequence number; skipped");
            }
            read
        })
        .collect();
    let mut response = DynamoDbEventResponse::default();
    if let Some(sequence) = dispatcher.dispatch(&records).await {
        let mut failure = DynamoDbBatchItemFailure::default();
        failure.item_identifier = Some(sequence);
        response.batch_item_failures.push(failure);
    }
    response
}

#[cfg(feature = "embedded")]
/// Removes expired items from the embedded store every `every`, as DynamoDB's TTL does on
/// AWS, until `shutdown` turns true.
pub async fn run_sweeper(
    table: &EmbeddedTable,
    every: std::time::Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        match table.sweep_expired(now).await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "expired items removed"),
            Err(e) => tracing::warn!(
                error = &e as &dyn std::error::Error,
                "sweeping expired items failed; will retry"
            ),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}

/// Ends idle visits every `every` (`App::sweep_visits`), until `shutdown` turns true.
/// Purges deleted events every `every` (stage two of deletion), from the first interval on:
/// what was deleted lives hidden for at least that long, as the purge function's schedule
/// keeps it on AWS.
pub async fn run_purge_sweeper(
    app: &App,
    every: std::time::Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        match app.purge_deleted().await {
            Ok(report) => tracing::info!(purged = report.purged, "deleted events purged"),
            Err(e) => tracing::warn!(
                error = &e as &dyn std::error::Error,
                "purging deleted events failed; will retry"
            ),
        }
    }
}

pub async fn run_visit_sweeper(
    app: &App,
    every: std::time::Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        match app.sweep_visits().await {
            Ok(report) if report == Default::default() => {}
            Ok(report) => tracing::info!(
                ended = report.ended,
                extended = report.extended,
                superseded = report.superseded,
                "visits swept"
            ),
            Err(e) => tracing::warn!(
                error = &e as &dyn std::error::Error,
                "sweeping visits failed; will retry"
            ),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}
