//! `POST /company/show`: a company's traits, how many users it has, and its members' ids a
//! hundred at a time, with a cursor for the next hundred.

use serde_json::{Map, Value, json};

use crate::error::Error;
use crate::http::RequestCtx;
use crate::http::requests::parse_company_show;
use crate::service::App;
use crate::service::users::company_json;

pub async fn handle(
    app: &App,
    ctx: &RequestCtx,
    body: &Map<String, Value>,
) -> Result<Value, Error> {
    let (company_id, cursor) = parse_company_show(body)?;
    let view = app
        .company(&ctx.project, &company_id, cursor.as_deref())
        .await?
        .ok_or_else(|| Error::NotFound(format!("no company {company_id}")))?;
    let mut data = company_json(&view.company, view.users_count);
    data["user_ids"] = json!(view.members.user_ids);
    data["next_cursor"] = json!(view.next_cursor);
    Ok(json!({"success": true, "data": data}))
}
