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

    /// Messages waiting or in flight (SQS's approximate counts).
    pub async fn pending(&self) -> Result<u64, QueueError> {
        use aws_sdk_sqs::types::QueueAttributeName as Name;
        let output = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(Name::ApproximateNumberOfMessages)
            .attribute_names(Name::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .map_err(|e| QueueError::Sqs(Box::new(e)))?;
        let attributes = output.attributes();
        let count = |name: Name| {
            attributes
                .and_then(|a| a.get(&name))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        Ok(count(Name::ApproximateNumberOfMessages)
            + count(Name::ApproximateNumberOfMessagesNotVisible))
    }
}
