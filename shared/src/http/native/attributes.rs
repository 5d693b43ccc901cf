//! `POST /attributes`: merge (or with `replace: true`, replace) the session's attribute map.

use serde_json::{Map, Value, json};

use crate::domain::commands::AttributesRequest;
use crate::error::Error;
use crate::http::RequestCtx;
use crate::service::App;

pub async fn handle(
    app: &App,
    ctx: &RequestCtx,
    body: &Map<String, Value>,
) -> Result<Value, Error> {
    let req = AttributesRequest::parse(body, &app.config.limits)?;
    app.set_attributes(&ctx.project, &ctx.settings, &req)
        .await?;
    Ok(json!({"success": true, "uuid": req.uuid.to_string(), "queued": false}))
}
