//! `POST /attributes`: merge (or with `replace: true`, replace) the session's attribute map.

use serde_json::{Map, Value, json};

use crate::error::Error;
use crate::http::RequestCtx;
use crate::http::requests::AttributesRequest;
use crate::service::App;

pub async fn handle(
    app: &App,
    ctx: &RequestCtx,
    body: &Map<String, Value>,
) -> Result<Value, Error> {
    let req = AttributesRequest::parse(body, &app.config.limits)?;
    app.store
        .set_attributes(
            &ctx.project,
            &req.uuid,
            &req.attributes,
            req.replace,
            &ctx.settings,
        )
        .await?;
    Ok(json!({"success": true, "uuid": req.uuid.to_string(), "queued": false}))
}
