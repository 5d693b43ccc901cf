//! `POST /session/delete` with `{"uuid"}`: erases a session and everything derived from it
//! (the right to erasure), answering how many stored items went. 404 when there is nothing
//! under the UUID.

use serde_json::{Map, Value, json};

use crate::domain::commands::SessionShowRequest;
use crate::error::Error;
use crate::http::RequestCtx;
use crate::service::App;

pub async fn handle(
    app: &App,
    ctx: &RequestCtx,
    body: &Map<String, Value>,
) -> Result<Value, Error> {
    // The same body as session/show's: one UUID.
    let req = SessionShowRequest::parse(body)?;
    let erased = app.erase_session(&ctx.project, &req.uuid).await?;
    Ok(json!({
        "success": true,
        "data": {"uuid": req.uuid.to_string(), "deleted_items": erased},
    }))
}
