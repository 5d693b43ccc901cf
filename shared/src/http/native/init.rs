//! `POST /init`: create or continue a session, store its raw context, and enrich it now
//! (`synchronous: true`, or no queue) or through the queue.

use serde_json::{Map, Value, json};

use crate::domain::commands::InitRequest;
use crate::error::Error;
use crate::http::RequestCtx;
use crate::service::App;

pub async fn handle(
    app: &App,
    ctx: &RequestCtx,
    body: &Map<String, Value>,
) -> Result<Value, Error> {
    let req = InitRequest::parse(body, &app.config.limits)?;
    let outcome = app
        .init(&ctx.project, &ctx.settings, &ctx.client, &req)
        .await?;
    Ok(json!({"success": true, "uuid": outcome.uuid.to_string(), "queued": outcome.queued}))
}
