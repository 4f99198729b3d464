//! The ingest consumer: applies the batch items queued by `POST /v1/integrations/exams:batch`.
//!
//! These messages are this service's own commands, not catalogue events, so the envelope-based
//! batch processor of `clinic_shared::sqs_batch` does not read them; this consumer follows the
//! same rules with the same shared pieces ([`QueueOps`], [`backoff_delay`], [`ParkedMessage`]):
//! - an unreadable message is parked in the DLQ with its reason and reported done;
//! - an item that fails validation is finished `REJECTED` with its reason;
//! - applying is idempotent by itself (the version compare and the batch item's state), so no
//!   deduplication is needed: a redelivered item finds its batch item already finished;
//! - a transient failure delays the redelivery by 1 s × 2^(receiveCount−1) and is reported in
//!   `batchItemFailures`; after `maxReceiveCount` SQS moves it to the DLQ.

use std::collections::HashMap;
use std::sync::Mutex;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use clinic_shared::sqs_batch::{ParkedMessage, QueueOps, QueueRef, backoff_delay};
use futures::stream::{self, StreamExt};
use tracing::Instrument;

use crate::app::ingest::IngestWorker;
use crate::domain::ingest::IngestMessage;
use crate::domain::{BatchStore, CatalogueStore, ExamStore, ExamsError, ProjectionStore};

/// Records applied at the same time (the event source's batch size).
const CONCURRENCY: usize = 10;

/// Applies ingest queue batches.
pub struct IngestConsumer<S, Q> {
    worker: IngestWorker<S>,
    queues: Q,
    dlq_url: String,
    queue_urls: Mutex<HashMap<String, String>>,
}

/// How one record ended.
enum Outcome {
    Done,
    Retry(String),
}

impl<S, Q> IngestConsumer<S, Q>
where
    S: BatchStore + ExamStore + CatalogueStore + ProjectionStore,
    Q: QueueOps,
{
    pub fn new(store: S, queues: Q, dlq_url: impl Into<String>) -> Self {
        Self {
            worker: IngestWorker::new(store),
            queues,
            dlq_url: dlq_url.into(),
            queue_urls: Mutex::new(HashMap::new()),
        }
    }

    /// Processes a batch; only records to retry are listed in the response.
    pub async fn process(&self, event: SqsEvent) -> SqsBatchResponse {
        let total = event.records.len();
        let failed: Vec<String> = stream::iter(event.records)
            .map(|record| async move {
                let message_id = record.message_id.clone().unwrap_or_default();
                let span = tracing::info_span!("ingest_record", message_id = %message_id);
                match self.process_record(&record).instrument(span).await {
                    Outcome::Done => None,
                    Outcome::Retry(reason) => {
                        tracing::warn!(message_id = %message_id, reason = %reason, "ingest item will be retried");
                        self.back_off(&record).await;
                        Some(message_id)
                    }
                }
            })
            .buffer_unordered(CONCURRENCY)
            .filter_map(|id| async move { id })
            .collect()
            .await;
        tracing::info!(records = total, failed = failed.len(), "ingest batch done");
        let mut response = SqsBatchResponse::default();
        response.set_failures(failed);
        response
    }

    async fn process_record(&self, record: &SqsMessage) -> Outcome {
        let body = record.body.as_deref().unwrap_or_default();
        let message: IngestMessage = match serde_json::from_str(body) {
            Ok(message) => message,
            Err(err) => {
                return self
                    // Position and kind only: serde's text may quote the (personal) value.
                    .park(
                        record,
                        &format!(
                            "not an ingest message: {:?} error at line {} column {}",
                            err.classify(),
                            err.line(),
                            err.column()
                        ),
                    )
                    .await;
            }
        };
        let (batch_id, index) = (message.batch_id.clone(), message.index);
        let command = match message.into_command() {
            Ok(command) => command,
            Err(rejected) => {
                return match self.worker.reject(&batch_id, index, &rejected.reason).await {
                    Ok(()) => Outcome::Done,
                    Err(err) => Outcome::Retry(err.to_string()),
                };
            }
        };
        match self.worker.apply(&command).await {
            Ok(state) => {
                tracing::info!(batch_id = %batch_id, index, state = state.as_str(), "ingest item done");
                Outcome::Done
            }
            Err(ExamsError::Unavailable(reason) | ExamsError::Internal(reason)) => {
                Outcome::Retry(reason)
            }
            Err(other) => self.park(record, &other.to_string()).await,
        }
    }

    async fn park(&self, record: &SqsMessage, reason: &str) -> Outcome {
        let message = ParkedMessage {
            body: record.body.clone().unwrap_or_default(),
            failure_reason: reason.chars().take(500).collect(),
            source_queue: record.event_source_arn.clone(),
            event_id: None,
            event_type: None,
        };
        match self.queues.park(&self.dlq_url, &message).await {
            Ok(()) => {
                tracing::warn!(reason = %reason, "ingest message parked");
                Outcome::Done
            }
            Err(err) => Outcome::Retry(format!("{reason}; parking failed: {err}")),
        }
    }

    async fn back_off(&self, record: &SqsMessage) {
        let count = record
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|v| v.trim().parse::<u32>().ok())
            .unwrap_or(1)
            .max(1);
        let (Some(receipt), Some(arn)) = (
            record.receipt_handle.as_deref(),
            record.event_source_arn.as_deref(),
        ) else {
            return;
        };
        let cached = self
            .queue_urls
            .lock()
            .ok()
            .and_then(|urls| urls.get(arn).cloned());
        let url = match cached {
            Some(url) => url,
            None => {
                let Some(queue) = QueueRef::from_arn(arn) else {
                    return;
                };
                match self.queues.queue_url(&queue).await {
                    Ok(url) => {
                        if let Ok(mut urls) = self.queue_urls.lock() {
                            urls.insert(arn.to_string(), url.clone());
                        }
                        url
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "queue URL unknown; redelivery not delayed");
                        return;
                    }
                }
            }
        };
        if let Err(err) = self
            .queues
            .change_visibility(&url, receipt, backoff_delay(count))
            .await
        {
            tracing::warn!(error = %err, "could not delay the redelivery");
        }
    }
}
