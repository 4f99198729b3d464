//! The SQS consumer helper every consumer function uses: reads each record of a Lambda SQS batch
//! as an [`Envelope`](crate::envelope::Envelope) (raw SNS delivery or an SNS notification
//! wrapper), deduplicates on the envelope id, runs the service's [`EventHandler`], parks
//! non-retryable messages in the DLQ with their reason, delays retries with exponential backoff
//! (ARCHITECTURE §3) and answers with the partial batch response (`ReportBatchItemFailures`).
//!
//! Per record:
//! - unreadable envelope (malformed, unknown version or type) → parked, reported done;
//! - already done for this consumer → skipped, reported done;
//! - claimed by another invocation with a live lease → retried later;
//! - handler `Ok` → marked done; `Retryable` → claim released, retried later; `NonRetryable` →
//!   parked, then marked done with the reason;
//! - parking fails → retried later (a message is never dropped);
//! - "retried later" = `ChangeMessageVisibility(1 s × 2^(receiveCount−1))`, then listed in
//!   `batchItemFailures`;
//! - a parked message an operator moves back from the DLQ (it still carries `failureReason` and
//!   `sourceQueue`) may take its failed event again, so a fix can be replayed.
//!
//! The decisions live in [`BatchProcessor`]; the AWS calls sit behind two narrow ports,
//! [`DedupStore`] (DynamoDB: [`DynamoDedupStore`]) and [`QueueOps`] (SQS: [`SqsQueueOps`]).
//! Written for standard queues: records are independent, so no ordering is kept between them.
//!
//! Records that are not envelopes (S3 event notifications, job messages) go through
//! [`BatchProcessor::process_messages`] with a [`MessageHandler`]: the same retry, backoff and
//! parking rules, with idempotency left to the handler's own business key.

mod dedup;
mod lambda;
mod processor;
mod queue;
pub mod redrive;
#[cfg(test)]
mod tests;

pub use dedup::{
    Claim, ClaimOutcome, Completion, DEDUP_SK, DedupError, DedupKey, DedupStore, DynamoDedupStore,
};
pub use lambda::{handle_batch, run};
pub use processor::{
    BatchProcessor, DEFAULT_CONCURRENCY, DEFAULT_DONE_RETENTION, DEFAULT_LEASE, EventHandler,
    HandlerFailure, MAX_VISIBILITY_TIMEOUT, MessageHandler, backoff_delay,
};
pub use queue::{
    ATTR_EVENT_ID, ATTR_EVENT_TYPE, ATTR_FAILURE_REASON, ATTR_SOURCE_QUEUE, ParkedMessage,
    QueueError, QueueOps, QueueRef, SqsQueueOps, sqs_event_from_messages,
};
