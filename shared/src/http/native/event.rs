//! `POST /event`: record a named event against a session UUID.

use serde_json::{Map, Value, json};

use crate::error::Error;
use crate::http::RequestCtx;
use crate::http::requests::EventRequest;
use crate::service::App;
use crate::store::repo::NewEvent;

pub async fn handle(
    app: &App,
    ctx: &RequestCtx,
    body: &Map<String, Value>,
) -> Result<Value, Error> {
    let req = EventRequest::parse(body, app.store.now(), &app.config.limits)?;
    let uuid = req.uuid;
    let outcome = app
        .store
        .record_event(
            &ctx.project,
            NewEvent {
                uuid: req.uuid,
                name: req.name,
                attributes: req.attributes,
                occurred_at: req.occurred_at,
                stamped_by_client: req.stamped_by_client,
                event_id: req.event_id,
                ip_address: req.ip_address,
                user_agent: req.user_agent,
                settings: ctx.settings,
            },
        )
        .await?;
    let mut response = json!({"success": true, "uuid": uuid.to_string(), "queued": false});
    if outcome.duplicate {
        response["duplicate"] = Value::Bool(true);
    }
    Ok(response)
}
