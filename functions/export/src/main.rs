//! Lambda function for `/export`: the shared router built for this one endpoint, so that only its
//! code is linked in.

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    atrack_shared::runtime::lambda::run_http::<atrack_shared::http::endpoint::Export>().await
}
