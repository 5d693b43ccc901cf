//! Lambda function `live`: the live events page (`GET /`, `/live.js`, `/live.css`), files
//! compiled into the binary. The page reads events through the API's other functions.

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    atrack_shared::runtime::lambda::run_router(atrack_shared::http::live::router).await
}
