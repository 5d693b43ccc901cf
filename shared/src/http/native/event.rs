//! `POST /event`: record a named event against a session UUID. An event the project's
//! tracking plan drops is answered as handled (`"dropped": true`), so SDKs do not retry it.

use serde_json::{Map, Value, json};

use crate::domain::commands::EventRequest;
use crate::error::Error;
use crate::http::RequestCtx;
use crate::service::{App, Recorded};

pub async fn handle(
    app: &App,
    ctx: &RequestCtx,
    body: &Map<String, Value>,
) -> Result<Value, Error> {
    let req = EventRequest::parse(body, app.now(), &app.config.limits, &ctx.default_source())?;
    let uuid = req.uuid;
    let recorded = app.record_event(&ctx.project, &ctx.settings, req).await?;
    let mut response = json!({"success": true, "uuid": uuid.to_string(), "queued": false});
    match recorded {
        Recorded::Stored(outcome) if outcome.duplicate => {
            response["duplicate"] = Value::Bool(true);
        }
        Recorded::Stored(_) => {}
        Recorded::Dropped => response["dropped"] = Value::Bool(true),
    }
    Ok(response)
}
