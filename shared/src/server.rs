//! The local server: the whole router on a TCP listener, until `shutdown` resolves.

use std::future::Future;
use std::net::SocketAddr;

use tokio::net::TcpListener;

use crate::api::{Route, router};
use crate::app::SharedApp;

pub async fn run(
    listener: TcpListener,
    app: SharedApp,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let service = router(app, &Route::ALL).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(shutdown)
        .await
}
