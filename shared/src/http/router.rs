//! The router: each endpoint as a type with its route, the pipeline every request runs
//! (size limit → authorize → decode → validate → service → encode), `/health`, and the
//! envelope for unknown paths and methods.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::routing::{get, post};
use http::{Request, Response, StatusCode, header};
use serde_json::{Map, Value, json};
use tracing::Instrument;

use super::envelope::{error_response, json_response};
use super::requests::parse_body;
use super::{auth, native};
use crate::domain::commands::ClientInfo;
use crate::domain::project::{Project, Scope};
use crate::domain::settings::ProjectSettings;
use crate::error::Error;
use crate::service::{App, SharedApp};

/// The API's endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Init,
    Attributes,
    Event,
    SessionShow,
    EventShow,
}

impl Route {
    pub const ALL: [Route; 5] = [
        Route::Init,
        Route::Attributes,
        Route::Event,
        Route::SessionShow,
        Route::EventShow,
    ];

    pub fn path(self) -> &'static str {
        match self {
            Route::Init => "/init",
            Route::Attributes => "/attributes",
            Route::Event => "/event",
            Route::SessionShow => "/session/show",
            Route::EventShow => "/event/show",
        }
    }

    /// The least a key must be allowed to do to call this endpoint.
    pub fn scope(self) -> Scope {
        match self {
            Route::EventShow => Scope::Secret,
            _ => Scope::Public,
        }
    }
}

/// What a handler knows about the request besides its body.
pub struct RequestCtx {
    pub project: Project,
    /// The project's privacy settings (cached like the keys).
    pub settings: ProjectSettings,
    pub client: ClientInfo,
}

/// One endpoint as a type. The router is generic over it so that a Lambda function, which
/// names its one endpoint at compile time, links only that endpoint's code: the event function
/// carries no enrichment (public-suffix list, user-agent rules, GeoIP reader), for example.
pub trait Endpoint: Send + Sync + 'static {
    const ROUTE: Route;

    fn handle<'a>(
        app: &'a App,
        ctx: &'a RequestCtx,
        body: &'a Map<String, Value>,
    ) -> impl Future<Output = Result<Value, Error>> + Send + 'a;
}

/// The five endpoints as types, for [`Endpoint`].
pub mod endpoint {
    use super::*;

    macro_rules! endpoint {
        ($name:ident, $module:ident) => {
            #[doc = concat!("`", stringify!($module), "`, as a type.")]
            pub struct $name;

            impl Endpoint for $name {
                const ROUTE: Route = Route::$name;

                fn handle<'a>(
                    app: &'a App,
                    ctx: &'a RequestCtx,
                    body: &'a Map<String, Value>,
                ) -> impl Future<Output = Result<Value, Error>> + Send + 'a {
                    native::$module::handle(app, ctx, body)
                }
            }
        };
    }

    endpoint!(Init, init);
    endpoint!(Attributes, attributes);
    endpoint!(Event, event);
    endpoint!(SessionShow, session_show);
    endpoint!(EventShow, event_show);
}

/// The router for the given endpoints, plus `/health`; `atrack serve` passes `Route::ALL`.
pub fn router(app: SharedApp, routes: &[Route]) -> Router {
    let mut router = Router::new();
    for route in routes {
        router = match route {
            Route::Init => with_endpoint::<endpoint::Init>(router),
            Route::Attributes => with_endpoint::<endpoint::Attributes>(router),
            Route::Event => with_endpoint::<endpoint::Event>(router),
            Route::SessionShow => with_endpoint::<endpoint::SessionShow>(router),
            Route::EventShow => with_endpoint::<endpoint::EventShow>(router),
        };
    }
    finish(router, app)
}

/// The router of a single endpoint, plus `/health`: what a Lambda function serves.
pub fn endpoint_router<E: Endpoint>(app: SharedApp) -> Router {
    finish(with_endpoint::<E>(Router::new()), app)
}

fn with_endpoint<E: Endpoint>(router: Router<SharedApp>) -> Router<SharedApp> {
    router.route(
        E::ROUTE.path(),
        post(
            |State(app): State<SharedApp>, req: Request<Body>| async move {
                serve::<E>(&app, req).await
            },
        ),
    )
}

fn finish(router: Router<SharedApp>, app: SharedApp) -> Router {
    router
        .route("/health", get(health))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(app)
}

async fn health() -> Response<Body> {
    json_response(
        StatusCode::OK,
        &json!({"success": true, "status": "ok", "version": env!("CARGO_PKG_VERSION")}),
    )
}

async fn not_found(req: Request<Body>) -> Response<Body> {
    error_response(
        &Error::NotFound(format!("no endpoint at {}", req.uri().path())),
        "",
    )
}

async fn method_not_allowed() -> Response<Body> {
    error_response(&Error::MethodNotAllowed, "")
}

fn request_id(req: &Request<Body>) -> String {
    req.headers()
        .get("x-amzn-requestid")
        .or_else(|| req.headers().get("x-request-id"))
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 128)
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// How much of a body declared too large is read and dropped so its sender sees the 413.
const DRAIN_OVERSIZED_UP_TO: usize = 4 << 20;

/// Reads the body up to the limit: a declared or actual size past it is a 413.
async fn read_body(
    body: Body,
    limit: usize,
    declared: Option<usize>,
) -> Result<bytes::Bytes, Error> {
    if let Some(n) = declared.filter(|n| *n > limit) {
        // Read and discard a moderately oversized body before answering, so the client, still
        // sending, gets the 413 instead of a broken pipe; a huge one is cut off unread.
        if n <= DRAIN_OVERSIZED_UP_TO {
            use futures::StreamExt;
            let mut stream = body.into_data_stream();
            let mut seen = 0usize;
            while let Some(Ok(chunk)) = stream.next().await {
                seen += chunk.len();
                if seen > DRAIN_OVERSIZED_UP_TO {
                    break;
                }
            }
        }
        return Err(Error::PayloadTooLarge { limit });
    }
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        // The only failure of a buffered or streamed body here is the length limit, or a
        // client that hung up, which then never reads the answer.
        tracing::debug!(error = %e, "body read failed");
        Error::PayloadTooLarge { limit }
    })
}

async fn serve<E: Endpoint>(app: &App, req: Request<Body>) -> Response<Body> {
    let route = E::ROUTE;
    let started = Instant::now();
    let request_id = request_id(&req);
    let span = tracing::info_span!("request", route = route.path(), request_id = %request_id,
        project = tracing::field::Empty, status = tracing::field::Empty);
    async {
        let result = run::<E>(app, req).await;
        let response = match result {
            Ok(body) => json_response(StatusCode::OK, &body),
            Err(err) => {
                if err.status().is_server_error() {
                    tracing::error!(error = &err as &dyn std::error::Error, "request failed");
                }
                error_response(&err, &request_id)
            }
        };
        let span = tracing::Span::current();
        span.record("status", response.status().as_u16());
        tracing::info!(
            duration_ms = started.elapsed().as_secs_f64() * 1000.0,
            "done"
        );
        response
    }
    .instrument(span)
    .await
}

async fn run<E: Endpoint>(app: &App, req: Request<Body>) -> Result<Value, Error> {
    let route = E::ROUTE;
    let (parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let limit = app.config.limits.max_body_bytes;
    let bytes = read_body(body, limit, declared).await?;
    // With the header, the key is checked before the body is decoded, so an unauthenticated
    // caller learns nothing about the request shape. Without it, the key may be in the body
    // (`sendBeacon` cannot set headers); a body that does not decode then has no key.
    let mut decoded = None;
    if !parts.headers.contains_key(auth::KEY_HEADER) {
        decoded = parse_body(&bytes).ok();
    }
    let credential = auth::Credential::find(&parts.headers, decoded.as_ref());
    let key_in_body = matches!(credential, auth::Credential::Body(_));
    let project = auth::authorize(app, credential, route.scope()).await?;
    tracing::Span::current().record("project", project.as_str());
    let mut body: Map<String, Value> = match decoded {
        Some(body) => body,
        None => parse_body(&bytes)?,
    };
    if key_in_body {
        body.remove(auth::KEY_FIELD);
    }
    let settings = app.project_settings(&project).await?;
    let ctx = RequestCtx {
        project,
        settings,
        client: ClientInfo::from_parts(&parts, app.config.forwarded_hops()),
    };
    E::handle(app, &ctx, &body).await
}

/// Shared handle type for the router state.
pub type AppState = Arc<App>;
