//! `POST /event`: record a named event against a session UUID.

use serde_json::{Map, Value, json};

use crate::domain::commands::EventRequest;
use crate::error::Error;
use crate::http::RequestCtx;
use crate::service::App;

pub async fn handle(
    app: &App,
    ctx: &RequestCtx,
    body: &Map<String, Value>,
) -> Result<Value, Error> {
    let req = EventRequest::parse(body, app.now(), &app.config.limits)?;
    let uuid = req.uuid;
    let outcome = app.record_event(&ctx.project, &ctx.settings, req).await?;
    let mut response = json!({"success": true, "uuid": uuid.to_string(), "queued": false});
    if outcome.duplicate {
        response["duplicate"] = Value::Bool(true);
    }
    Ok(response)
}
