//! Lambda function `count`: consumes the table's DynamoDB stream and keeps the index counts
//! that event/show's totals read, in batches and exactly once.

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    atrack_shared::runtime::lambda::run_count().await
}
