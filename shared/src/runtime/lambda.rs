//! Lambda entry points: an HTTP function runs the router limited to its own route; the enrich
//! function consumes SQS batches and the count function the table's stream, both reporting
//! partial batch failures; the sweep function ends idle visits on a schedule.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{LambdaEvent, service_fn};

use crate::http::{Endpoint, endpoint_router};
use crate::runtime::config::Config;
use crate::runtime::worker::{process_sqs_batch, process_stream_batch};
use crate::service::App;
use crate::store::engine::dynamo::DynamoTable;
use crate::streams::Dispatcher;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

async fn build_app() -> Result<Arc<App>, BoxError> {
    let json = std::env::var("LOG_FORMAT").map_or(true, |f| f != "text");
    crate::runtime::telemetry::init(json);
    Ok(Arc::new(App::from_lambda_env().await?))
}

/// Runs one HTTP endpoint as a Lambda function behind API Gateway.
pub async fn run_http<E: Endpoint>() -> Result<(), BoxError> {
    let app = build_app().await?;
    // Boxed: inlined into a function's `main`, the runtime's future over the router is deeper
    // than the compiler's layout limit in release builds (init's, at least).
    Box::pin(lambda_http::run(endpoint_router::<E>(app))).await
}

/// Runs a family of routes that shares one function (another vendor's API) behind API
/// Gateway: `router` builds the family's router.
pub async fn run_router(
    router: fn(crate::service::SharedApp) -> axum::Router,
) -> Result<(), BoxError> {
    let app = build_app().await?;
    // Boxed, as in `run_http`.
    Box::pin(lambda_http::run(router(app))).await
}

/// Runs the SQS consumer that enriches queued inits.
pub async fn run_enrich() -> Result<(), BoxError> {
    let app = build_app().await?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let app = app.clone();
        async move { Ok::<SqsBatchResponse, BoxError>(process_sqs_batch(&app, event.payload).await) }
    }))
    .await
}

/// Runs the DynamoDB stream consumer that keeps the index counts (event/show's totals).
pub async fn run_count() -> Result<(), BoxError> {
    let json = std::env::var("LOG_FORMAT").map_or(true, |f| f != "text");
    crate::runtime::telemetry::init(json);
    let config = Config::from_env()?;
    let table_name = config.table_name.ok_or("TABLE_NAME is not set")?;
    let aws = crate::runtime::aws::load_config().await;
    let table = DynamoTable::new(aws_sdk_dynamodb::Client::new(&aws), table_name);
    let dispatcher = Arc::new(Dispatcher::for_table(table));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let dispatcher = dispatcher.clone();
        async move { Ok::<_, BoxError>(process_stream_batch(&dispatcher, &event.payload).await) }
    }))
    .await
}

/// Runs the scheduled purge of deleted events (stage two of deletion; an EventBridge schedule
/// invokes it, daily by default). What one run leaves (a timeout) the next one finishes.
pub async fn run_purge() -> Result<(), BoxError> {
    let app = build_app().await?;
    lambda_runtime::run(service_fn(move |_: LambdaEvent<serde_json::Value>| {
        let app = app.clone();
        async move {
            let report = Box::pin(app.purge_deleted()).await?;
            tracing::info!(purged = report.purged, "deleted events purged");
            Ok::<_, BoxError>(serde_json::json!({"purged": report.purged}))
        }
    }))
    .await
}

/// Runs the scheduled sweeper that ends idle visits (an EventBridge schedule invokes it,
/// every minute by default). A failed sweep is an error, so the invocation shows as failed;
/// the next one goes on where it stopped, as the open visits are still in the index.
pub async fn run_sweep() -> Result<(), BoxError> {
    let app = build_app().await?;
    lambda_runtime::run(service_fn(move |_: LambdaEvent<serde_json::Value>| {
        let app = app.clone();
        async move {
            // Boxed: the sweep's future is too deep for the compiler's layout limit when
            // inlined into `main`.
            let report = Box::pin(app.sweep_visits()).await?;
            tracing::info!(
                ended = report.ended,
                extended = report.extended,
                superseded = report.superseded,
                "visits swept"
            );
            Ok::<_, BoxError>(serde_json::json!({
                "ended": report.ended,
                "extended": report.extended,
                "superseded": report.superseded,
            }))
        }
    }))
    .await
}
