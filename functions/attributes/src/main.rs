//! Lambda function for `/attributes`: the shared router limited to this one route.

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    atrack_shared::lambda::run_http(atrack_shared::api::Route::Attributes).await
}
