//! `POST /user/show`: a user (traits, company, UUIDs, first and last seen) and their company.

use serde_json::{Map, Value, json};

use crate::error::Error;
use crate::http::RequestCtx;
use crate::http::requests::parse_user_show;
use crate::service::App;

pub async fn handle(
    app: &App,
    ctx: &RequestCtx,
    body: &Map<String, Value>,
) -> Result<Value, Error> {
    let user_id = parse_user_show(body)?;
    let data = app
        .user(&ctx.project, &user_id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no user {user_id}")))?;
    Ok(json!({"success": true, "data": data}))
}
