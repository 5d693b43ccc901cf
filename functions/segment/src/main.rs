//! Lambda function `segment`: Segment's tracking API (`POST /v1/batch`, `/v1/import`,
//! `/v1/identify`, `/v1/track`, `/v1/page`, `/v1/screen`, `/v1/group`, `/v1/alias`) in one
//! function, through the family's own router.

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    atrack_shared::runtime::lambda::run_router(atrack_shared::http::compat::segment::router).await
}
