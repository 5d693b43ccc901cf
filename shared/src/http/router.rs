//! The router: each endpoint as a type with its route, the pipeline every request runs
//! (size limit → authorize → decode → validate → service → encode), `/health`, and the
//! envelope for unknown paths and methods.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::routing::{MethodFilter, get, on};
use http::{Request, Response, StatusCode, header};
use serde_json::{Map, Value, json};
use tracing::Instrument;

use super::compat::analytics_v1;
use super::envelope::{
    error_response, fastapi_error_response, json_response, ms_rest_error_response,
    segment_error_response,
};
use super::requests::parse_body;
use super::{auth, inflate, native};
use crate::domain::commands::ClientInfo;
use crate::domain::event::Source;
use crate::domain::project::{Project, Scope};
use crate::domain::settings::ProjectSettings;
use crate::error::Error;
use crate::service::{App, SharedApp};

/// The API's endpoints: A-TRACK's and our native ones, then other vendors' doors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Init,
    Attributes,
    Event,
    Batch,
    SessionShow,
    EventShow,
    EventQuery,
    EventDelete,
    SessionDelete,
    Identify,
    UserShow,
    CompanyShow,
    Export,
    AnalyticsTrack,
    AnalyticsBatch,
    AnalyticsStats,
    AnalyticsHealth,
    TrackEventsCreate,
    TrackEventsList,
    TrackEventsPreview,
    TrackEventsDelete,
    /// Segment's tracking API: the batch, its older name, and one route per message type.
    SegmentBatch,
    SegmentImport,
    SegmentIdentify,
    SegmentTrack,
    SegmentPage,
    SegmentScreen,
    SegmentGroup,
    SegmentAlias,
    /// The live events page (`GET /`), its script and its stylesheet.
    LivePage,
    LiveScript,
    LiveStyle,
}

impl Route {
    pub const ALL: [Route; 32] = [
        Route::Init,
        Route::Attributes,
        Route::Event,
        Route::Batch,
        Route::SessionShow,
        Route::EventShow,
        Route::EventQuery,
        Route::EventDelete,
        Route::SessionDelete,
        Route::Identify,
        Route::UserShow,
        Route::CompanyShow,
        Route::Export,
        Route::AnalyticsTrack,
        Route::AnalyticsBatch,
        Route::AnalyticsStats,
        Route::AnalyticsHealth,
        Route::TrackEventsCreate,
        Route::TrackEventsList,
        Route::TrackEventsPreview,
        Route::TrackEventsDelete,
        Route::SegmentBatch,
        Route::SegmentImport,
        Route::SegmentIdentify,
        Route::SegmentTrack,
        Route::SegmentPage,
        Route::SegmentScreen,
        Route::SegmentGroup,
        Route::SegmentAlias,
        Route::LivePage,
        Route::LiveScript,
        Route::LiveStyle,
    ];

    /// What the route declares; the router does the rest.
    pub const fn spec(self) -> RouteSpec {
        use crate::http::compat::analytics_v1 as analytics;
        use crate::http::compat::segment;
        use crate::http::compat::track_events::{self, PATH};
        use crate::http::live;
        match self {
            Route::Init => native("/init", "init", Scope::Public),
            Route::Attributes => native("/attributes", "attributes", Scope::Public),
            Route::Event => native("/event", "event", Scope::Public),
            Route::Batch => RouteSpec {
                body_limit: BodyLimit::Batch,
                ..native("/batch", "batch", Scope::Public)
            },
            Route::SessionShow => native("/session/show", "session-show", Scope::Public),
            Route::EventShow => native("/event/show", "event-show", Scope::Secret),
            Route::EventQuery => native("/event/query", "event-query", Scope::Secret),
            Route::EventDelete => native("/event/delete", "event-delete", Scope::Secret),
            Route::SessionDelete => native("/session/delete", "session-delete", Scope::Secret),
            Route::Identify => native("/identify", "identify", Scope::Public),
            Route::UserShow => native("/user/show", "user-show", Scope::Secret),
            Route::CompanyShow => native("/company/show", "company-show", Scope::Secret),
            Route::Export => RouteSpec {
                methods: Method::Get.only(),
                // A GET carries no body, so no key can be in one.
                credentials: &[CredentialSource::Header(auth::KEY_HEADER)],
                ..native("/export", "export", Scope::Secret)
            },
            Route::AnalyticsTrack => {
                analytics::spec("/api/v1/analytics", Method::Post, Scope::Public)
            }
            Route::AnalyticsBatch => RouteSpec {
                body_limit: BodyLimit::Batch,
                ..analytics::spec("/api/v1/analytics/batch", Method::Post, Scope::Public)
            },
            Route::AnalyticsStats => {
                analytics::spec("/api/v1/analytics/stats", Method::Get, Scope::Secret)
            }
            Route::AnalyticsHealth => RouteSpec {
                credentials: &[],
                ..analytics::spec("/api/v1/analytics/health", Method::Get, Scope::Public)
            },
            Route::TrackEventsCreate => track_events::spec(PATH, Method::Post, Scope::Public),
            Route::TrackEventsList => track_events::spec(PATH, Method::Get, Scope::Secret),
            Route::TrackEventsPreview => {
                track_events::spec("/api/v2.0/TrackEvents/preview", Method::Post, Scope::Secret)
            }
            Route::TrackEventsDelete => track_events::spec(
                "/api/v2.0/TrackEvents/{scope}/{id}",
                Method::Delete,
                Scope::Secret,
            ),
            Route::SegmentBatch => segment::spec("/v1/batch", true),
            Route::SegmentImport => segment::spec("/v1/import", true),
            Route::SegmentIdentify => segment::spec("/v1/identify", false),
            Route::SegmentTrack => segment::spec("/v1/track", false),
            Route::SegmentPage => segment::spec("/v1/page", false),
            Route::SegmentScreen => segment::spec("/v1/screen", false),
            Route::SegmentGroup => segment::spec("/v1/group", false),
            Route::SegmentAlias => segment::spec("/v1/alias", false),
            Route::LivePage => live::spec("/"),
            Route::LiveScript => live::spec("/live.js"),
            Route::LiveStyle => live::spec("/live.css"),
        }
    }

    pub fn path(self) -> &'static str {
        self.spec().path
    }

    /// The least a key must be allowed to do to call this endpoint.
    pub fn scope(self) -> Scope {
        self.spec().scope
    }
}

/// Every A-TRACK route: POST, the configured body limit, the key in `x-a-track-key` or, where
/// a browser cannot set headers (`sendBeacon`), a public key in the body's `key`; errors in
/// the A-TRACK envelope; on AWS, a function of its own.
const fn native(path: &'static str, function: &'static str, scope: Scope) -> RouteSpec {
    RouteSpec {
        path,
        methods: &[Method::Post],
        scope,
        body_limit: BodyLimit::Standard,
        credentials: &[
            CredentialSource::Header(auth::KEY_HEADER),
            CredentialSource::BodyField(auth::KEY_FIELD),
        ],
        errors: ErrorShape::Envelope,
        gzip: false,
        function,
    }
}

/// The methods a route answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Delete,
}

impl Method {
    /// The method alone, as a route's `methods`.
    pub const fn only(self) -> &'static [Method] {
        match self {
            Method::Get => &[Method::Get],
            Method::Post => &[Method::Post],
            Method::Delete => &[Method::Delete],
        }
    }
}

/// Everything a route declares about itself: where it is, who may call it, how large a body
/// it takes, where its caller's key is, how its errors look and which Lambda function serves
/// it. Handlers never look at the transport for these.
#[derive(Debug, Clone, Copy)]
pub struct RouteSpec {
    pub path: &'static str,
    pub methods: &'static [Method],
    /// The least a key must be allowed to do.
    pub scope: Scope,
    pub body_limit: BodyLimit,
    /// Where the key may be, tried in order; see [`auth::Credential::in_headers`] and
    /// [`auth::Credential::in_body`]. None: the route is open (a health check).
    pub credentials: &'static [CredentialSource],
    pub errors: ErrorShape,
    /// Whether the body may come gzip-compressed (`Content-Encoding: gzip`); the limit then
    /// bounds it decompressed too (see `inflate`).
    pub gzip: bool,
    /// The Lambda function (the binary in `functions/`) that serves the route on AWS.
    pub function: &'static str,
}

/// Which configured body limit a route takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyLimit {
    /// `ATRACK_MAX_BODY_BYTES`, 32 KB by default.
    Standard,
    /// The batch routes' limit, 512 KB.
    Batch,
    /// A vendor's own limit, which its clients are written to respect.
    Bytes(usize),
}

impl BodyLimit {
    pub fn bytes(self, limits: &crate::domain::values::Limits) -> usize {
        match self {
            BodyLimit::Standard => limits.max_body_bytes,
            BodyLimit::Batch => limits.max_batch_body_bytes,
            BodyLimit::Bytes(bytes) => bytes,
        }
    }
}

/// How a route's errors are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorShape {
    /// A-TRACK's `{"success": false, "error": {code, message, details}}`.
    Envelope,
    /// FastAPI's `{"detail": …}`, pydantic's list for validation errors (the analytics API).
    FastApi,
    /// The Microsoft REST API Guidelines' `{"error": {"code", "message", "details"}}`, which
    /// the profile store follows.
    MsRest,
    /// Segment's tracking API: `{"success": false, "code", "message"}`.
    Segment,
}

pub use auth::CredentialSource;

/// A handler's answer: JSON, or a body of another type (an export's JSON lines) with the
/// headers that go with it.
pub enum Reply {
    Json(Value),
    Raw {
        content_type: &'static str,
        headers: Vec<(header::HeaderName, http::HeaderValue)>,
        body: Body,
    },
}

impl From<Value> for Reply {
    fn from(value: Value) -> Self {
        Reply::Json(value)
    }
}

/// What a handler knows about the request besides its body.
pub struct RequestCtx {
    pub project: Project,
    /// What the caller's key may do.
    pub scope: Scope,
    /// The project's privacy settings (cached like the keys).
    pub settings: ProjectSettings,
    pub client: ClientInfo,
    /// The request's path as sent (a route with parameters in it reads them here).
    pub path: String,
    /// The raw query string, empty when there is none (GET routes' parameters).
    pub query: String,
    /// Whether the client takes a gzip-encoded answer (`Accept-Encoding`).
    pub accepts_gzip: bool,
}

impl RequestCtx {
    /// Where an event this request brings was captured, unless it says: a public key is a
    /// browser's or an app's, a secret key a server's.
    pub fn default_source(&self) -> Source {
        match self.scope {
            Scope::Public => Source::web_client(),
            Scope::Secret => Source::backend_http(),
        }
    }
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
    ) -> impl Future<Output = Result<Reply, Error>> + Send + 'a;
}

/// The endpoints as types, for [`Endpoint`] (the analytics API's from its compat module).
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
                ) -> impl Future<Output = Result<Reply, Error>> + Send + 'a {
                    use futures::FutureExt;
                    native::$module::handle(app, ctx, body).map(|r| r.map(Reply::from))
                }
            }
        };
    }

    endpoint!(Init, init);
    endpoint!(Attributes, attributes);
    endpoint!(Event, event);
    endpoint!(Batch, batch);
    endpoint!(SessionShow, session_show);
    endpoint!(EventShow, event_show);
    endpoint!(EventQuery, event_query);
    endpoint!(EventDelete, event_delete);
    endpoint!(SessionDelete, session_delete);
    endpoint!(Identify, identify);
    endpoint!(UserShow, user_show);
    endpoint!(CompanyShow, company_show);

    pub use crate::http::native::export::Export;

    pub use crate::http::compat::analytics_v1::{AnalyticsBatch, AnalyticsStats, AnalyticsTrack};
    pub use crate::http::compat::segment::{
        SegmentAlias, SegmentBatch, SegmentGroup, SegmentIdentify, SegmentImport, SegmentPage,
        SegmentScreen, SegmentTrack,
    };
    pub use crate::http::compat::track_events::{
        TrackEventsCreate, TrackEventsDelete, TrackEventsList, TrackEventsPreview,
    };
}

/// The router for the given endpoints, plus `/health`; `atrack serve` passes `Route::ALL`
/// (the API and the live events page).
pub fn router(app: SharedApp, routes: &[Route]) -> Router {
    let mut router = Router::new();
    for route in routes {
        router = match route {
            Route::Init => with_endpoint::<endpoint::Init>(router),
            Route::Attributes => with_endpoint::<endpoint::Attributes>(router),
            Route::Event => with_endpoint::<endpoint::Event>(router),
            Route::Batch => with_endpoint::<endpoint::Batch>(router),
            Route::SessionShow => with_endpoint::<endpoint::SessionShow>(router),
            Route::EventShow => with_endpoint::<endpoint::EventShow>(router),
            Route::EventQuery => with_endpoint::<endpoint::EventQuery>(router),
            Route::EventDelete => with_endpoint::<endpoint::EventDelete>(router),
            Route::SessionDelete => with_endpoint::<endpoint::SessionDelete>(router),
            Route::Identify => with_endpoint::<endpoint::Identify>(router),
            Route::UserShow => with_endpoint::<endpoint::UserShow>(router),
            Route::CompanyShow => with_endpoint::<endpoint::CompanyShow>(router),
            Route::Export => with_endpoint::<endpoint::Export>(router),
            Route::AnalyticsTrack => with_endpoint::<endpoint::AnalyticsTrack>(router),
            Route::AnalyticsBatch => with_endpoint::<endpoint::AnalyticsBatch>(router),
            Route::AnalyticsStats => with_endpoint::<endpoint::AnalyticsStats>(router),
            Route::AnalyticsHealth => crate::http::compat::analytics_v1::with_health(router),
            Route::TrackEventsCreate => with_endpoint::<endpoint::TrackEventsCreate>(router),
            Route::TrackEventsList => with_endpoint::<endpoint::TrackEventsList>(router),
            Route::TrackEventsPreview => with_endpoint::<endpoint::TrackEventsPreview>(router),
            Route::TrackEventsDelete => with_endpoint::<endpoint::TrackEventsDelete>(router),
            Route::SegmentBatch => with_endpoint::<endpoint::SegmentBatch>(router),
            Route::SegmentImport => with_endpoint::<endpoint::SegmentImport>(router),
            Route::SegmentIdentify => with_endpoint::<endpoint::SegmentIdentify>(router),
            Route::SegmentTrack => with_endpoint::<endpoint::SegmentTrack>(router),
            Route::SegmentPage => with_endpoint::<endpoint::SegmentPage>(router),
            Route::SegmentScreen => with_endpoint::<endpoint::SegmentScreen>(router),
            Route::SegmentGroup => with_endpoint::<endpoint::SegmentGroup>(router),
            Route::SegmentAlias => with_endpoint::<endpoint::SegmentAlias>(router),
            Route::LivePage | Route::LiveScript | Route::LiveStyle => {
                crate::http::live::with_asset(router, *route)
            }
        };
    }
    finish(router, app)
}

/// The router of a single endpoint, plus `/health`: what a Lambda function serves.
pub fn endpoint_router<E: Endpoint>(app: SharedApp) -> Router {
    finish(with_endpoint::<E>(Router::new()), app)
}

/// Adds one endpoint, served through the request pipeline, to a router under construction.
pub(crate) fn with_endpoint<E: Endpoint>(router: Router<SharedApp>) -> Router<SharedApp> {
    let spec = E::ROUTE.spec();
    let filter = spec
        .methods
        .iter()
        .map(|m| match m {
            Method::Get => MethodFilter::GET,
            Method::Post => MethodFilter::POST,
            Method::Delete => MethodFilter::DELETE,
        })
        .fold(None, |all: Option<MethodFilter>, m| {
            Some(all.map_or(m, |a| a.or(m)))
        });
    let Some(filter) = filter else {
        return router;
    };
    router.route(
        spec.path,
        on(
            filter,
            |State(app): State<SharedApp>, req: Request<Body>| async move {
                serve::<E>(&app, req).await
            },
        ),
    )
}

/// Adds `/health` and the answers for unknown paths and methods.
pub(crate) fn finish(router: Router<SharedApp>, app: SharedApp) -> Router {
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
            Ok(Reply::Json(body)) => json_response(StatusCode::OK, &body),
            Ok(Reply::Raw {
                content_type,
                headers,
                body,
            }) => {
                let mut response = Response::new(body);
                let out = response.headers_mut();
                out.insert(
                    header::CONTENT_TYPE,
                    http::HeaderValue::from_static(content_type),
                );
                out.extend(headers.into_iter().map(|(k, v)| (Some(k), v)));
                response
            }
            Err(err) => {
                if err.status().is_server_error() {
                    tracing::error!(error = &err as &dyn std::error::Error, "request failed");
                }
                match route.spec().errors {
                    ErrorShape::Envelope => error_response(&err, &request_id),
                    ErrorShape::FastApi => fastapi_error_response(&err, &request_id),
                    ErrorShape::MsRest => ms_rest_error_response(&err, &request_id),
                    ErrorShape::Segment => segment_error_response(&err, &request_id),
                }
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

async fn run<E: Endpoint>(app: &App, req: Request<Body>) -> Result<Reply, Error> {
    let spec = E::ROUTE.spec();
    let (parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let limit = spec.body_limit.bytes(&app.config.limits);
    let mut bytes = read_body(body, limit, declared).await?;
    if spec.gzip && inflate::is_gzip(&parts.headers)? {
        bytes = inflate::gunzip(&bytes, limit)?.into();
    }
    // A GET route takes no body: whatever was sent is not looked at.
    let takes_body = spec.methods.contains(&Method::Post);
    // FastAPI reads the JSON before it looks at the key, and checks the model's shape after.
    let fastapi_body = match spec.errors {
        ErrorShape::FastApi if takes_body => Some(analytics_v1::body::parse(&bytes)?),
        _ => None,
    };
    // With a key in the headers, it is checked before the body is decoded, so an
    // unauthenticated caller learns nothing about the request shape. Without one, the key may
    // be in the body (`sendBeacon` cannot set headers); a body that does not decode has none.
    let mut decoded = None;
    let mut credential = auth::Credential::in_headers(&parts.headers, spec.credentials);
    if matches!(credential, auth::Credential::Missing) && takes_body {
        decoded = parse_body(&bytes).ok();
        credential = auth::Credential::in_body(decoded.as_ref(), spec.credentials);
    }
    let key_field = match credential {
        auth::Credential::Body { field, .. } => Some(field),
        _ => None,
    };
    let (project, scope) = auth::authorize(app, credential, spec).await?;
    tracing::Span::current().record("project", project.as_str());
    let mut body: Map<String, Value> = match (fastapi_body, decoded) {
        (Some(json), _) => analytics_v1::body::into_model(json)?,
        (None, Some(body)) => body,
        (None, None) if !takes_body => Map::new(),
        (None, None) => parse_body(&bytes)?,
    };
    if let Some(field) = key_field {
        body.remove(field);
    }
    let settings = app.project_settings(&project).await?;
    let ctx = RequestCtx {
        project,
        scope,
        settings,
        client: ClientInfo::from_parts(&parts, app.config.forwarded_hops()),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        accepts_gzip: accepts_gzip(&parts.headers),
    };
    E::handle(app, &ctx, &body).await
}

/// Whether `Accept-Encoding` takes gzip: named (or `*`) without `q=0`.
fn accepts_gzip(headers: &http::HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or_default();
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

/// Shared handle type for the router state.
pub type AppState = Arc<App>;
