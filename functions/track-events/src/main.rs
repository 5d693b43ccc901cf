//! Lambda function `track-events`: the profile store's family of routes (`POST`, `GET` and
//! `DELETE …/{scope}/{id}` on `/api/v2.0/TrackEvents`, `POST /api/v2.0/TrackEvents/preview`) in
//! one function, through the family's own router.

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    atrack_shared::runtime::lambda::run_router(atrack_shared::http::compat::track_events::router)
        .await
}
