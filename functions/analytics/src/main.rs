//! Lambda function `analytics`: the analytics API's family of routes (`POST /api/v1/analytics`,
//! `POST /api/v1/analytics/batch`, `GET /api/v1/analytics/stats`, `GET /api/v1/analytics/health`)
//! in one function, through the family's own router.

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    atrack_shared::runtime::lambda::run_router(atrack_shared::http::compat::analytics_v1::router)
        .await
}
