//! `POST /event/show`: one page of a project's events of one name, with the reference's
//! pagination meta and an opaque `next_cursor` for deep pages.

use serde_json::{Map, Value, json};

use crate::domain::commands::EventShowRequest;
use crate::error::Error;
use crate::http::RequestCtx;
use crate::http::native::views;
use crate::service::App;

pub async fn handle(
    app: &App,
    ctx: &RequestCtx,
    body: &Map<String, Value>,
) -> Result<Value, Error> {
    let req = EventShowRequest::parse(body, &app.config.limits)?;
    let page = app.list_events(&ctx.project, &req).await?;
    let per_page = u64::from(req.per_page);
    let count = page.rows.len() as u64;
    let first = (page.page - 1).saturating_mul(per_page) + 1;
    let (from, to) = if count == 0 {
        (Value::Null, Value::Null)
    } else {
        (json!(first), json!(first + count - 1))
    };
    let last_page = page.total.div_ceil(per_page).max(1);
    Ok(json!({
        "success": true,
        "data": page.rows.iter().map(views::event_row).collect::<Vec<_>>(),
        "meta": {
            "name": req.name.as_str(),
            "sort": req.sort.as_str(),
            "per_page": per_page,
            "current_page": page.page,
            "last_page": last_page,
            "from": from,
            "to": to,
            "total": page.total,
            "next_cursor": page.next_cursor,
        }
    }))
}
