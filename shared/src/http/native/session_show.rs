//! `POST /session/show`: the enriched session, its attributes and newest events, in one query.

use serde_json::{Map, Value, json};

use crate::domain::commands::SessionShowRequest;
use crate::error::Error;
use crate::http::RequestCtx;
use crate::http::native::views;
use crate::service::App;
use crate::store::repo::SESSION_EVENTS_LIMIT;

pub async fn handle(
    app: &App,
    ctx: &RequestCtx,
    body: &Map<String, Value>,
) -> Result<Value, Error> {
    let req = SessionShowRequest::parse(body)?;
    let found = app
        .session(&ctx.project, &req.uuid)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no session {}", req.uuid)))?;
    let events: Vec<Value> = found.events.iter().map(views::session_event).collect();
    let mut session = views::session(&found.session);
    session["user"] = app
        .session_user(&ctx.project, &found.session)
        .await?
        .unwrap_or(Value::Null);
    let count = events.len();
    Ok(json!({
        "success": true,
        "data": {
            "session": session,
            "attributes": views::session_attributes(&found.session),
            "events": events,
            "meta": {
                "uuid": req.uuid.to_string(),
                "events_limit": SESSION_EVENTS_LIMIT,
                "events_count": count,
                "sort": "desc",
            },
        }
    }))
}
