//! Lambda function `purge`: run daily by an EventBridge schedule, purges the deleted events
//! (stage two of deletion), reading only the purge partitions of the index.

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    atrack_shared::runtime::lambda::run_purge().await
}
