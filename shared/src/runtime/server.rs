//! The local server: a router on a TCP listener until `shutdown` resolves, and the CORS policy
//! that answers only configured origins.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use http::{HeaderName, HeaderValue, Method, header};
use tokio::net::TcpListener;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::http::{Route, router};
use crate::service::SharedApp;

/// The whole API with CORS for `origins` (none: no cross-origin browser access).
pub fn app_router(
    app: SharedApp,
    origins: &[String],
) -> Result<Router, http::header::InvalidHeaderValue> {
    Ok(router(app, &Route::ALL).layer(cors_layer(origins)?))
}

pub fn cors_layer(origins: &[String]) -> Result<CorsLayer, http::header::InvalidHeaderValue> {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .map(|o| o.trim())
        .filter(|o| !o.is_empty())
        .map(HeaderValue::from_str)
        .collect::<Result<_, _>>()?;
    Ok(CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            HeaderName::from_static("x-a-track-key"),
        ])
        .max_age(Duration::from_secs(3600)))
}

/// Serves until `shutdown` resolves; the socket peer becomes the client IP.
pub async fn run(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
