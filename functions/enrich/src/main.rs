//! Lambda function `enrich`: consumes SQS batches of enrichment jobs and reports partial batch
//! failures.

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    atrack_shared::runtime::lambda::run_enrich().await
}
