//! [`ReportQueue`] on the reports SQS queue: one message `{"reportId": …}` per job.

use clinic_shared::aws::error_text;

use crate::domain::{ReportQueue, StoreError};

/// Body of a report job message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportJob {
    pub report_id: String,
}

/// The reports queue.
#[derive(Clone)]
pub struct SqsReportQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsReportQueue {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }
}

impl ReportQueue for SqsReportQueue {
    async fn enqueue(&self, report_id: &str) -> Result<(), StoreError> {
        let body = serde_json::to_string(&ReportJob {
            report_id: report_id.to_string(),
        })
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(error_text(&e)))?;
        Ok(())
    }
}
