//! The analytics API (`/api/v1/analytics…`), as its reference shows it: single and batch
//! tracking, stats and health, `Authorization: Bearer <key>`, FastAPI's error bodies. A
//! translation only: `decode` reads its bodies into our event model, the services do the
//! rest, and the answers are written here in its shapes.
//!
//! The project's tracking plan, applied by the services, has no counterpart in the reference:
//! a name breaking its naming is a `value_error` on `event_name` (a batch is refused whole, as
//! any invalid field refuses it); an event its lists drop is answered as tracked (`success`,
//! an `event_id` under which nothing is stored, `"dropped": true`) and, in a batch, counted in
//! `events_failed` and in an extra `events_dropped`. The stats add `events_dropped`.
//!
//! On AWS the four routes share one function (`functions/analytics`), [`router`].

pub mod body;
pub mod decode;
pub mod pydantic;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde_json::{Map, Value, json};

use crate::domain::commands::EventRequest;
use crate::domain::event::Category;
use crate::domain::project::Scope;
use crate::domain::values::EventId;
use crate::error::Error;
use crate::http::router::{
    BodyLimit, CredentialSource, Endpoint, ErrorShape, Method, Reply, RequestCtx, Route, RouteSpec,
    finish, with_endpoint,
};
use crate::service::{App, BatchItem, Refusal, SharedApp};
use pydantic::{Loc, PydanticError};

/// A route of the family: Bearer keys, FastAPI's errors, the `analytics` function.
pub const fn spec(path: &'static str, method: Method, scope: Scope) -> RouteSpec {
    RouteSpec {
        path,
        methods: method.only(),
        scope,
        body_limit: BodyLimit::Standard,
        credentials: &[CredentialSource::Bearer],
        errors: ErrorShape::FastApi,
        gzip: false,
        function: "analytics",
    }
}

/// The family's router: what the `analytics` function serves.
pub fn router(app: SharedApp) -> Router {
    let routes = Router::new();
    let routes = with_endpoint::<AnalyticsTrack>(routes);
    let routes = with_endpoint::<AnalyticsBatch>(routes);
    let routes = with_endpoint::<AnalyticsStats>(routes);
    finish(with_health(routes), app)
}

/// Adds `GET /api/v1/analytics/health`, which needs no key.
pub fn with_health(router: Router<SharedApp>) -> Router<SharedApp> {
    router.route(Route::AnalyticsHealth.path(), get(health))
}

async fn health(State(app): State<SharedApp>) -> axum::Json<Value> {
    axum::Json(json!({
        "status": "healthy",
        "service": "analytics",
        "version": env!("CARGO_PKG_VERSION"),
        "timestamp": app.now().to_string(),
    }))
}

fn decoder<'a>(app: &'a App, ctx: &'a RequestCtx) -> decode::Decode<'a> {
    decode::Decode {
        project: &ctx.project,
        now: app.now(),
        limits: &app.config.limits,
        source: ctx.default_source(),
    }
}

/// The events the service would refuse, in a validator's words: a name breaking the plan's
/// naming at `event_name`, an event too large to store at its `properties`; `event(at)`
/// locates the event, `fields(at)` gives its body as sent.
fn refusals<'a>(
    app: &App,
    ctx: &RequestCtx,
    events: &[EventRequest],
    event: impl Fn(usize) -> Loc,
    fields: impl Fn(usize) -> Option<&'a Map<String, Value>>,
) -> Vec<PydanticError> {
    app.refusals(&ctx.settings, events)
        .into_iter()
        .map(|(at, refusal)| match refusal {
            Refusal::Naming(rule) => event(at).field("event_name").value_error(
                &Value::String(events[at].name.as_str().to_owned()),
                &format!("event_name {rule}"),
            ),
            Refusal::TooLarge => event(at).field("properties").value_error(
                fields(at)
                    .and_then(|f| f.get("properties"))
                    .unwrap_or(&Value::Null),
                "the event would be larger than the 400 KB a stored item may hold",
            ),
        })
        .collect()
}

fn invalid(errors: Vec<pydantic::PydanticError>) -> Error {
    Error::VendorValidation(
        errors
            .iter()
            .map(pydantic::PydanticError::to_json)
            .collect(),
    )
}

/// `POST /api/v1/analytics`: one event.
pub struct AnalyticsTrack;

impl Endpoint for AnalyticsTrack {
    const ROUTE: Route = Route::AnalyticsTrack;

    async fn handle(
        app: &App,
        ctx: &RequestCtx,
        body: &Map<String, Value>,
    ) -> Result<Reply, Error> {
        let event = decode::single(body, &decoder(app, ctx)).map_err(invalid)?;
        let refused = refusals(
            app,
            ctx,
            std::slice::from_ref(&event),
            |_| Loc::body(),
            |_| Some(body),
        );
        if !refused.is_empty() {
            return Err(invalid(refused));
        }
        let outcome = app
            .record_batch(&ctx.project, &ctx.settings, vec![Ok(event)])
            .await?;
        match outcome.items.into_iter().next() {
            Some(BatchItem::Stored { event_id } | BatchItem::Duplicate { event_id }) => Ok(json!({
                "success": true,
                "event_id": event_id,
                "message": "Event tracked successfully",
                "timestamp": app.now().to_string(),
            })
            .into()),
            // The reference always answers an id; this one names nothing stored.
            Some(BatchItem::Dropped { event_id }) => Ok(json!({
                "success": true,
                "event_id": event_id.unwrap_or_else(|| EventId::new_v4().to_string()),
                "message": "Event dropped by the project's tracking plan",
                "timestamp": app.now().to_string(),
                "dropped": true,
            })
            .into()),
            Some(BatchItem::Invalid(details)) => Err(Error::Validation(details)),
            None => Err(Error::Internal("the event was not recorded".into())),
        }
    }
}

/// `POST /api/v1/analytics/batch`: up to 100 events, validated whole.
pub struct AnalyticsBatch;

impl Endpoint for AnalyticsBatch {
    const ROUTE: Route = Route::AnalyticsBatch;

    async fn handle(
        app: &App,
        ctx: &RequestCtx,
        body: &Map<String, Value>,
    ) -> Result<Reply, Error> {
        let events = decode::batch(body, &decoder(app, ctx)).map_err(invalid)?;
        // Validated whole: a name breaking the plan's naming, or an event too large to store,
        // fails the batch, as any invalid field.
        let items = body.get("events").and_then(Value::as_array);
        let refused = refusals(
            app,
            ctx,
            &events,
            |at| Loc::body().field("events").index(at),
            |at| items.and_then(|i| i.get(at)).and_then(Value::as_object),
        );
        if !refused.is_empty() {
            return Err(invalid(refused));
        }
        let outcome = app
            .record_batch(
                &ctx.project,
                &ctx.settings,
                events.into_iter().map(Ok).collect(),
            )
            .await?;
        let mut answer = json!({
            "success": true,
            "events_received": outcome.received(),
            "events_queued": outcome.queued(),
            "events_failed": outcome.failed(),
            "message": format!("{} of {} events queued", outcome.queued(), outcome.received()),
            "timestamp": app.now().to_string(),
        });
        // Only when the plan dropped some, so a project without a plan sees the reference's
        // answer exactly.
        if outcome.dropped() > 0 {
            answer["events_dropped"] = json!(outcome.dropped());
        }
        Ok(answer.into())
    }
}

/// `GET /api/v1/analytics/stats`: the key's project's counts and the ingest path's state.
pub struct AnalyticsStats;

impl Endpoint for AnalyticsStats {
    const ROUTE: Route = Route::AnalyticsStats;

    async fn handle(
        app: &App,
        ctx: &RequestCtx,
        _body: &Map<String, Value>,
    ) -> Result<Reply, Error> {
        let stats = app.event_stats(&ctx.project).await?;
        let status = app.ingest_status().await?;
        let by_category: Map<String, Value> = stats
            .by_category
            .iter()
            .map(|(category, n): &(Category, u64)| (category.as_str().to_owned(), json!(n)))
            .collect();
        Ok(json!({
            "total_events": stats.total(),
            "events_by_category": by_category,
            "events_today": stats.today,
            "events_this_hour": stats.this_hour,
            "events_dropped": stats.dropped,
            "buffer_status": {
                "buffer_size": status.buffer_size,
                "max_buffer_size": status.max_buffer_size,
                "flush_interval_seconds": status.flush_interval_seconds,
                "last_flush": status.last_flush.map(|t| t.to_string()),
                "events_pending": status.events_pending,
                "events_flushed_total": status.events_flushed_total,
            },
        })
        .into())
    }
}
