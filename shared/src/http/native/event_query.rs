//! `POST /event/query`: a project's events matching an OData filter, as A-TRACK event rows.
//! `{"filter": "<OData $filter>", "sort": "desc"|"asc", "top": 100, "skip": 0}`; the window
//! rule (`skip + top` below 10,000) and the syntax are the profile store's, read by the same
//! parser as its `$filter`.

use serde_json::{Map, Value, json};

use crate::error::{Error, FieldError};
use crate::http::RequestCtx;
use crate::http::native::views;
use crate::query::{Parameter, parse_odata_query};
use crate::service::App;
use crate::service::query::EventQuery;

pub async fn handle(
    app: &App,
    ctx: &RequestCtx,
    body: &Map<String, Value>,
) -> Result<Value, Error> {
    let mut errors = Vec::new();
    let mut text = |name: &str| -> Option<String> {
        match body.get(name) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                errors.push(FieldError::new(name, "must be a string"));
                None
            }
        }
    };
    let filter = text("filter");
    let sort = text("sort");
    let mut count = |name: &str| -> Option<String> {
        match body.get(name) {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) if n.is_u64() => Some(n.to_string()),
            Some(_) => {
                errors.push(FieldError::new(name, "must be a non-negative integer"));
                None
            }
        }
    };
    let top = count("top");
    let skip = count("skip");
    let orderby = match sort.as_deref() {
        None => None,
        Some(s) if s.eq_ignore_ascii_case("desc") => Some("EventTime desc"),
        Some(s) if s.eq_ignore_ascii_case("asc") => Some("EventTime asc"),
        Some(_) => {
            errors.push(FieldError::new("sort", "must be \"asc\" or \"desc\""));
            None
        }
    };
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let parsed = parse_odata_query(filter.as_deref(), orderby, top.as_deref(), skip.as_deref())
        .map_err(|e| {
            // Our body's names for the parameters the profile store's parser names.
            let field = match e.parameter {
                Parameter::Filter => "filter",
                Parameter::OrderBy => "sort",
                Parameter::Top => "top",
                Parameter::Skip => "skip",
                Parameter::Query => "query",
            };
            Error::InvalidQuery(FieldError::new(field, e.to_string()))
        })?;
    let found = app
        .query_events(
            &ctx.project,
            &EventQuery {
                filter: parsed.filter,
                descending: parsed.descending,
                skip: parsed.skip as usize,
                take: parsed.top as usize,
            },
        )
        .await?;
    Ok(json!({
        "success": true,
        "data": found.rows.iter().map(|r| views::event_row(&r.event)).collect::<Vec<_>>(),
        "meta": {
            "filter": filter,
            "sort": if parsed.descending { "desc" } else { "asc" },
            "top": parsed.top,
            "skip": parsed.skip,
            "count": found.rows.len(),
            "index": found.index,
            "read": found.read,
        }
    }))
}
