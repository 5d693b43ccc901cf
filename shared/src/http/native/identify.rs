//! `POST /identify`: the UUID becomes a known user's (and the user a company's member); the
//! UUID's later events carry both.

use serde_json::{Map, Value, json};

use crate::domain::user::IdentifyRequest;
use crate::error::Error;
use crate::http::RequestCtx;
use crate::service::App;

pub async fn handle(
    app: &App,
    ctx: &RequestCtx,
    body: &Map<String, Value>,
) -> Result<Value, Error> {
    let req = IdentifyRequest::parse(body, &app.config.limits)?;
    app.identify(&ctx.project, &ctx.settings, &req, ctx.default_source())
        .await?;
    Ok(json!({
        "success": true,
        "uuid": req.uuid.to_string(),
        "user_id": req.user_id.as_str(),
        "company_id": req.company.as_ref().map(|c| c.company_id.as_str()),
    }))
}
