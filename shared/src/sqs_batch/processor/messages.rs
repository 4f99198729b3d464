//! Batches whose records are not envelopes: S3 event notifications, job messages of a work queue.
//!
//! Same per-record semantics as the envelope path, minus the envelope-id deduplication: such
//! messages carry no envelope id, so the [`MessageHandler`] must be idempotent on a business key
//! of its own (e.g. a conditional write on the object or job it touches).
//! - handler `Ok` → reported done;
//! - `Retryable` → redelivery delayed by 1 s × 2^(receiveCount−1), reported failed;
//! - `NonRetryable` → parked in the DLQ with its reason, reported done (or retried when parking
//!   fails, so a message is never dropped);
//! - a record without a body → parked.

use std::future::Future;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use futures::FutureExt;
use futures::stream::{self, StreamExt};
use lambda_runtime::{LambdaEvent, service_fn};
use tracing::Instrument;

use super::{BatchProcessor, DedupStore, HandlerFailure, QueueOps, Verdict};

/// What a consumer of non-envelope messages implements: one record body at a time.
pub trait MessageHandler: Send + Sync {
    /// Stable name of this consumer, for logs.
    fn consumer(&self) -> &str;

    /// Processes one record. `record` gives access to its attributes (e.g. the receive count, or
    /// the `failureReason` of a parked message being read from a DLQ).
    fn handle_message(
        &self,
        body: &str,
        record: &SqsMessage,
    ) -> impl Future<Output = Result<(), HandlerFailure>> + Send;
}

impl<D: DedupStore, Q: QueueOps> BatchProcessor<D, Q> {
    /// Processes a batch of non-envelope messages with `handler` and answers which records Lambda
    /// must leave on the queue. Never fails as a whole. Records run concurrently up to the
    /// configured bound.
    pub async fn process_messages<H: MessageHandler>(
        &self,
        handler: &H,
        event: SqsEvent,
    ) -> SqsBatchResponse {
        let total = event.records.len();
        let failed: Vec<(usize, String)> = stream::iter(event.records.into_iter().enumerate())
            .map(|(index, record)| async move {
                let message_id = record.message_id.clone().unwrap_or_default();
                let span = tracing::info_span!("sqs_record", message_id = %message_id);
                let ok = self
                    .process_message(handler, &record)
                    .instrument(span)
                    .await;
                (!ok).then_some((index, message_id))
            })
            .buffer_unordered(self.concurrency)
            .filter_map(|failed| async move { failed })
            .collect()
            .await;
        super::finish_batch(handler.consumer(), total, failed)
    }

    /// The whole Lambda function of a consumer of non-envelope messages: every batch the
    /// runtime hands out is processed by `handler` (the counterpart of
    /// [`run`](crate::sqs_batch::run) for envelopes).
    ///
    /// # Errors
    /// The Lambda runtime failing.
    pub async fn run_messages<H: MessageHandler>(
        self,
        handler: H,
    ) -> Result<(), lambda_runtime::Error> {
        let (processor, handler) = (&self, &handler);
        lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
            processor
                .process_messages(handler, event.payload)
                .map(Ok::<_, lambda_runtime::Error>)
        }))
        .await
    }

    /// Decides one record; true when Lambda may delete it.
    async fn process_message<H: MessageHandler>(&self, handler: &H, record: &SqsMessage) -> bool {
        let verdict = match record.body.as_deref() {
            None => {
                self.park_or_retry(record, "record has no body".into(), None, None)
                    .await
            }
            Some(body) => match handler.handle_message(body, record).await {
                Ok(()) => Verdict::Processed,
                Err(HandlerFailure::Retryable(reason)) => Verdict::Retry { reason },
                Err(HandlerFailure::NonRetryable(reason)) => {
                    self.park_or_retry(record, reason, None, None).await
                }
            },
        };
        self.settle(record, &verdict).await
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::time::Duration;

    use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};

    use super::*;
    use crate::sqs_batch::{
        Claim, ClaimOutcome, Completion, DedupError, DedupKey, ParkedMessage, QueueError, QueueRef,
    };

    const ARN: &str = "arn:aws:sqs:us-east-1:123456789012:jobs";

    struct NoDedup;

    impl DedupStore for NoDedup {
        async fn claim(&self, _claim: &Claim) -> Result<ClaimOutcome, DedupError> {
            Err(DedupError::Store("not used".into()))
        }
        async fn complete(
            &self,
            _key: &DedupKey,
            _token: &str,
            _completion: &Completion,
            _now_ms: i64,
            _expires_at_s: i64,
        ) -> Result<(), DedupError> {
            Ok(())
        }
        async fn release(&self, _key: &DedupKey, _token: &str) -> Result<(), DedupError> {
            Ok(())
        }
    }

    #[derive(Default)]
    struct Queues {
        parked: Mutex<Vec<ParkedMessage>>,
        visibility: Mutex<HashMap<String, u64>>,
    }

    impl QueueOps for Queues {
        async fn queue_url(&self, queue: &QueueRef) -> Result<String, QueueError> {
            Ok(format!("https://queue/{}", queue.name))
        }
        async fn change_visibility(
            &self,
            _queue_url: &str,
            receipt_handle: &str,
            timeout: Duration,
        ) -> Result<(), QueueError> {
            self.visibility
                .lock()
                .unwrap()
                .insert(receipt_handle.to_string(), timeout.as_secs());
            Ok(())
        }
        async fn park(&self, _dlq_url: &str, message: &ParkedMessage) -> Result<(), QueueError> {
            self.parked.lock().unwrap().push(message.clone());
            Ok(())
        }
    }

    struct Jobs;

    impl MessageHandler for Jobs {
        fn consumer(&self) -> &str {
            "jobs"
        }
        async fn handle_message(
            &self,
            body: &str,
            _record: &SqsMessage,
        ) -> Result<(), HandlerFailure> {
            match body {
                "ok" => Ok(()),
                "retry" => Err(HandlerFailure::Retryable("busy".into())),
                _ => Err(HandlerFailure::NonRetryable("bad job".into())),
            }
        }
    }

    fn record(id: &str, body: Option<&str>, receive_count: u32) -> SqsMessage {
        let mut record = SqsMessage::default();
        record.message_id = Some(id.into());
        record.receipt_handle = Some(format!("rh-{id}"));
        record.body = body.map(str::to_string);
        record.event_source_arn = Some(ARN.into());
        record
            .attributes
            .insert("ApproximateReceiveCount".into(), receive_count.to_string());
        record
    }

    #[tokio::test]
    async fn retries_back_off_and_bad_messages_are_parked() {
        let processor = BatchProcessor::new(NoDedup, Queues::default(), "https://queue/dlq");
        let mut event = SqsEvent::default();
        event.records = vec![
            record("m-1", Some("ok"), 1),
            record("m-2", Some("retry"), 3),
            record("m-3", Some("poison"), 1),
            record("m-4", None, 1),
        ];
        let response = processor.process_messages(&Jobs, event).await;
        let failed: Vec<_> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect();
        assert_eq!(failed, ["m-2"]);
        assert_eq!(processor.queues().visibility.lock().unwrap()["rh-m-2"], 4);
        let parked = processor.queues().parked.lock().unwrap().clone();
        assert_eq!(parked.len(), 2);
        assert_eq!(parked[0].failure_reason, "bad job");
        assert_eq!(parked[0].source_queue.as_deref(), Some(ARN));
        assert_eq!(parked[1].failure_reason, "record has no body");
    }
}
