//! The profile store's tracked events (`/api/v2.0/TrackEvents`), as its reference shows them:
//! one event in, OData queries and KQL previews out, deletion by id (two-stage); `Authorization:
//! epi-single <key>`; errors as the Microsoft REST API Guidelines write them. A translation
//! only: `decode` reads its event into our model, `item` writes our rows in its shape, the
//! services (`service::query`, ingest, deletion) hold the rules.
//!
//! `{scope}` (and the preview's `Scope`) is the project's name: another project's scope
//! names nothing this key can see, so it is a 404.
//!
//! On AWS the routes share one function (`functions/track-events`), [`router`].

pub mod decode;
pub mod item;

use axum::Router;
use serde_json::{Map, Value, json};

use crate::domain::project::Scope;
use crate::error::Error;
use crate::http::router::{
    BodyLimit, CredentialSource, Endpoint, ErrorShape, Method, Reply, RequestCtx, Route, RouteSpec,
    finish, with_endpoint,
};
use crate::query::{ODataQuery, missing_strings_as_empty, parse_kql, parse_odata_query};
use crate::service::query::{EventQuery, QueriedEvent};
use crate::service::{App, Recorded, SharedApp};

/// The family's path.
pub const PATH: &str = "/api/v2.0/TrackEvents";

/// A route of the family: `epi-single` keys, the guidelines' errors, the `track-events`
/// function.
pub const fn spec(path: &'static str, method: Method, scope: Scope) -> RouteSpec {
    RouteSpec {
        path,
        methods: method.only(),
        scope,
        body_limit: BodyLimit::Standard,
        credentials: &[CredentialSource::EpiSingle],
        errors: ErrorShape::MsRest,
        gzip: false,
        function: "track-events",
    }
}

/// The family's router: what the `track-events` function serves.
pub fn router(app: SharedApp) -> Router {
    let routes = Router::new();
    let routes = with_endpoint::<TrackEventsCreate>(routes);
    let routes = with_endpoint::<TrackEventsList>(routes);
    let routes = with_endpoint::<TrackEventsPreview>(routes);
    let routes = with_endpoint::<TrackEventsDelete>(routes);
    finish(routes, app)
}

/// A query's rows in the reference's list shape, `count` being how many it holds.
fn listing(ctx: &RequestCtx, rows: &[QueriedEvent]) -> Value {
    let items: Vec<Value> = rows
        .iter()
        .map(|r| item::track_event(&r.event, r.session.as_deref(), &ctx.project))
        .collect();
    json!({"items": items, "count": rows.len()})
}

/// `POST /api/v2.0/TrackEvents`: one event (a public key may send it). Answers the stored
/// event, `TrackId` filled; an event the project's tracking plan drops is answered with an
/// empty `TrackId`, nothing stored.
pub struct TrackEventsCreate;

impl Endpoint for TrackEventsCreate {
    const ROUTE: Route = Route::TrackEventsCreate;

    async fn handle(
        app: &App,
        ctx: &RequestCtx,
        body: &Map<String, Value>,
    ) -> Result<Reply, Error> {
        let event = decode::track_event(
            body,
            &ctx.project,
            app.now(),
            &app.config.limits,
            ctx.default_source(),
        )?;
        let uuid = event.uuid;
        let at = event.occurred_at;
        let sent = event.clone();
        match app.record_event(&ctx.project, &ctx.settings, event).await? {
            Recorded::Stored(outcome) => {
                let sk = crate::store::keys::event_sk(&at.to_string(), &outcome.event_id);
                let stored = app.store.get_event(&ctx.project, &uuid, &sk).await?;
                let session = app.store.get_session(&ctx.project, &uuid).await?;
                match stored {
                    Some(stored) => {
                        Ok(item::track_event(&stored, session.as_ref(), &ctx.project).into())
                    }
                    None => Err(Error::Internal("a stored event could not be read".into())),
                }
            }
            Recorded::Dropped => Ok(item::unstored(&sent, &ctx.project).into()),
        }
    }
}

/// `GET /api/v2.0/TrackEvents?$filter=…&$orderby=…&$top=…&$skip=…`.
pub struct TrackEventsList;

impl Endpoint for TrackEventsList {
    const ROUTE: Route = Route::TrackEventsList;

    async fn handle(
        app: &App,
        ctx: &RequestCtx,
        _body: &Map<String, Value>,
    ) -> Result<Reply, Error> {
        let param = |name: &str| {
            url::form_urlencoded::parse(ctx.query.as_bytes())
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        let ODataQuery {
            filter,
            descending,
            top,
            skip,
        } = parse_odata_query(
            param("$filter").as_deref(),
            param("$orderby").as_deref(),
            param("$top").as_deref(),
            param("$skip").as_deref(),
        )?;
        let found = app
            .query_events(
                &ctx.project,
                &EventQuery {
                    filter,
                    descending,
                    skip: skip as usize,
                    take: top as usize,
                },
            )
            .await?;
        Ok(listing(ctx, &found.rows).into())
    }
}

/// `POST /api/v2.0/TrackEvents/preview` with `{"Query": "<KQL>", "Scope": "<project>"}`: at
/// most 1,000 events.
pub struct TrackEventsPreview;

impl Endpoint for TrackEventsPreview {
    const ROUTE: Route = Route::TrackEventsPreview;

    async fn handle(
        app: &App,
        ctx: &RequestCtx,
        body: &Map<String, Value>,
    ) -> Result<Reply, Error> {
        let query = match body.get("Query") {
            Some(Value::String(q)) => q,
            Some(_) => return Err(Error::field("Query", "must be a string")),
            None => return Err(Error::field("Query", "is required")),
        };
        match body.get("Scope") {
            None | Some(Value::Null) => {}
            Some(Value::String(scope)) if scope == ctx.project.as_str() => {}
            Some(Value::String(scope)) => return Err(unknown_scope(scope)),
            Some(_) => return Err(Error::field("Scope", "must be a string")),
        }
        let parsed = parse_kql(query, app.now())?;
        let found = app
            .query_events(
                &ctx.project,
                &EventQuery {
                    // KQL's strings are never null: `User.Email != ''` means it has one.
                    filter: missing_strings_as_empty(parsed.filter),
                    descending: parsed.descending,
                    skip: 0,
                    take: parsed.limit as usize,
                },
            )
            .await?;
        Ok(listing(ctx, &found.rows).into())
    }
}

/// `DELETE /api/v2.0/TrackEvents/{scope}/{id}`: deletes one event (two-stage, as
/// `/event/delete`). `200` with `{}`; `404` for another scope, an unknown or an already deleted
/// id; `429` with `Retry-After` past the project's cap of deletions waiting for the purge.
pub struct TrackEventsDelete;

impl Endpoint for TrackEventsDelete {
    const ROUTE: Route = Route::TrackEventsDelete;

    async fn handle(
        app: &App,
        ctx: &RequestCtx,
        _body: &Map<String, Value>,
    ) -> Result<Reply, Error> {
        // The router matched `{scope}/{id}`: two non-empty segments after the family's path.
        let (scope, id) = ctx
            .path
            .strip_prefix(PATH)
            .and_then(|rest| rest.strip_prefix('/'))
            .and_then(|rest| rest.split_once('/'))
            .ok_or_else(|| Error::NotFound("no event at this path".into()))?;
        if scope != ctx.project.as_str() {
            return Err(unknown_scope(scope));
        }
        app.delete_event(&ctx.project, id).await?;
        Ok(json!({}).into())
    }
}

/// A scope this key's project is not.
fn unknown_scope(scope: &str) -> Error {
    let shown: String = scope.chars().take(64).collect();
    Error::NotFound(format!("no scope named '{shown}'"))
}
