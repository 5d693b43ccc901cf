//! Enrichment jobs on SQS. Consumption happens in the `enrich` Lambda (see `lambda::enrich`).

use aws_sdk_sqs::Client;

use super::{EnrichJob, QueueError};

#[derive(Clone)]
pub struct SqsQueue {
    client: Client,
    url: String,
}

impl SqsQueue {
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        SqsQueue {
            client,
            url: url.into(),
        }
    }

    pub async fn send(&self, job: &EnrichJob) -> Result<(), QueueError> {
        let body = serde_json::to_string(job).map_err(|e| QueueError::Sqs(Box::new(e)))?;
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| QueueError::Sqs(Box::new(e)))?;
        Ok(())
    }
}
