//! `GET /export?from=…&to=…[&cursor=…][&limit=N][&format=userpilot|atrack]`: a project's events
//! in a time range as JSON lines (`application/x-ndjson`), in time order, a page at a time; the
//! next page's cursor in `X-Next-Cursor`; gzip when the client takes it.

use std::io::Write as _;

use axum::body::Body;
use http::{HeaderName, HeaderValue, header};
use serde_json::{Map, Value};

use crate::domain::time::Timestamp;
use crate::error::{Error, FieldError};
use crate::http::router::{Endpoint, Reply, RequestCtx, Route};
use crate::service::App;
use crate::service::export::{DEFAULT_LIMIT, ExportFormat, ExportQuery, MAX_LIMIT};

/// The widest range one page request may name; the cursor continues within it.
const MAX_RANGE_DAYS: i64 = 31;

/// The header that carries the next page's cursor.
pub const NEXT_CURSOR: &str = "x-next-cursor";

/// `GET /export`, as a type.
pub struct Export;

impl Endpoint for Export {
    const ROUTE: Route = Route::Export;

    async fn handle(
        app: &App,
        ctx: &RequestCtx,
        _body: &Map<String, Value>,
    ) -> Result<Reply, Error> {
        let query = parse(&ctx.query)?;
        let page = app.export_page(&ctx.project, &query).await?;
        let mut headers = vec![(
            HeaderName::from_static("x-export-count"),
            HeaderValue::from(page.lines),
        )];
        if let Some(cursor) = &page.next_cursor {
            // A cursor is base64url and a dot: always a valid header value.
            let value = HeaderValue::from_str(cursor).map_err(|e| Error::Internal(e.into()))?;
            headers.push((HeaderName::from_static(NEXT_CURSOR), value));
        }
        let body = if ctx.accepts_gzip {
            headers.push((header::CONTENT_ENCODING, HeaderValue::from_static("gzip")));
            let mut gz = flate2::write::GzEncoder::new(
                Vec::with_capacity(page.body.len() / 4),
                flate2::Compression::fast(),
            );
            gz.write_all(&page.body)
                .and_then(|()| gz.finish())
                .map_err(|e| Error::Internal(e.into()))?
        } else {
            page.body
        };
        Ok(Reply::Raw {
            content_type: "application/x-ndjson",
            headers,
            body: Body::from(body),
        })
    }
}

/// The query string, validated: `from` and `to` (RFC 3339, `from` not after `to`, at most
/// 31 days apart), `limit` (1 to 10,000; 1,000 by default), `format`, `cursor`.
pub fn parse(query: &str) -> Result<ExportQuery, Error> {
    let param = |name: &str| {
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let mut errors = Vec::new();
    let mut time = |name: &str| match param(name) {
        None => {
            errors.push(FieldError::new(name, "is required"));
            None
        }
        Some(text) => Timestamp::parse_rfc3339(&text).or_else(|| {
            errors.push(FieldError::new(
                name,
                "must be an RFC 3339 date-time (2026-12-01T00:00:00Z)",
            ));
            None
        }),
    };
    let (from, to) = (time("from"), time("to"));
    if let (Some(from), Some(to)) = (from, to) {
        if from > to {
            errors.push(FieldError::new("to", "must not be before from"));
        } else if to.micros() - from.micros() > MAX_RANGE_DAYS * 86_400_000_000 {
            errors.push(FieldError::new(
                "to",
                format!(
                    "must be at most {MAX_RANGE_DAYS} days after from: export a longer range \
                     in several requests"
                ),
            ));
        }
    }
    let limit = match param("limit") {
        None => Some(DEFAULT_LIMIT),
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Some(n),
            _ => {
                errors.push(FieldError::new(
                    "limit",
                    format!("must be a whole number from 1 to {MAX_LIMIT}"),
                ));
                None
            }
        },
    };
    let format = match param("format") {
        None => Some(ExportFormat::default()),
        Some(text) => ExportFormat::parse(&text).or_else(|| {
            errors.push(FieldError::new("format", "must be 'userpilot' or 'atrack'"));
            None
        }),
    };
    match (from, to, limit, format) {
        (Some(from), Some(to), Some(limit), Some(format)) if errors.is_empty() => Ok(ExportQuery {
            from,
            to,
            cursor: param("cursor"),
            limit,
            format,
        }),
        _ => Err(Error::Validation(errors)),
    }
}
