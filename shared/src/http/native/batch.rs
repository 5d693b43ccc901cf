//! `POST /batch`: up to 100 events (configurable up to 500) in one request, each validated and
//! answered on its own, the valid ones the project's plan keeps stored in bulk.

use serde_json::{Map, Value, json};

use crate::domain::commands::BatchRequest;
use crate::error::Error;
use crate::http::RequestCtx;
use crate::service::{App, BatchItem};

pub async fn handle(
    app: &App,
    ctx: &RequestCtx,
    body: &Map<String, Value>,
) -> Result<Value, Error> {
    let limits = &app.config.limits;
    let req = BatchRequest::parse(
        body,
        app.now(),
        limits,
        limits.max_batch_events,
        &ctx.default_source(),
    )?;
    let outcome = app
        .record_batch(&ctx.project, &ctx.settings, req.events)
        .await?;
    let results: Vec<Value> = outcome
        .items
        .iter()
        .enumerate()
        .map(|(index, item)| match item {
            BatchItem::Stored { event_id } => {
                json!({"index": index, "status": "stored", "event_id": event_id})
            }
            BatchItem::Duplicate { event_id } => {
                json!({"index": index, "status": "duplicate", "event_id": event_id})
            }
            BatchItem::Dropped { event_id } => {
                let mut result = json!({"index": index, "status": "dropped"});
                if let Some(event_id) = event_id {
                    result["event_id"] = json!(event_id);
                }
                result
            }
            BatchItem::Invalid(details) => {
                let error = Error::Validation(details.clone());
                json!({"index": index, "status": "invalid", "error": {
                    "code": error.code(),
                    "message": error.to_string(),
                    "details": error.details(),
                }})
            }
        })
        .collect();
    Ok(json!({
        "success": true,
        "events_received": outcome.received(),
        "events_queued": outcome.queued(),
        "events_failed": outcome.failed(),
        "results": results,
    }))
}
