//! Lambda function `sweep`: run every minute by an EventBridge schedule, ends the visits idle
//! past their project's session timeout (`session.end`), reading only the open-visit index.

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    atrack_shared::runtime::lambda::run_sweep().await
}
