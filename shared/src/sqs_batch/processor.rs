//! The batch processor: turns one Lambda SQS batch into per-record decisions (process, skip as a
//! duplicate, park, retry later) and the partial-failure response.

use std::borrow::Cow;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use futures::stream::{self, StreamExt};
use tracing::Instrument;
use tracing::field::Empty;

use super::dedup::{
    Claim, ClaimOutcome, Completion, DedupError, DedupKey, DedupStore, DynamoDedupStore,
    MAX_REASON_CHARS, bounded,
};
use super::queue::{
    ATTR_FAILURE_REASON, ATTR_SOURCE_QUEUE, ParkedMessage, QueueError, QueueOps, QueueRef,
    SqsQueueOps,
};
use crate::envelope::{Envelope, EnvelopeError};

mod messages;
pub use messages::MessageHandler;

/// Records processed at the same time by default (the batch size of every event source).
pub const DEFAULT_CONCURRENCY: usize = 10;
/// Default lease of a claim: at least the function timeout, below the queue visibility timeout
/// (a redelivery after a crash can then take the event over instead of backing off).
pub const DEFAULT_LEASE: Duration = Duration::from_secs(15);
/// Default time a `DONE` record keeps duplicates away (longer than any queue's retention).
pub const DEFAULT_DONE_RETENTION: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// Longest visibility timeout SQS accepts: the backoff cap.
pub const MAX_VISIBILITY_TIMEOUT: Duration = Duration::from_secs(43_200);

/// Why a handler could not process an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandlerFailure {
    /// A transient problem (a dependency timed out, throttling): the message comes back after a
    /// backoff, and goes to the DLQ once the queue's `maxReceiveCount` is reached.
    #[error("retryable: {0}")]
    Retryable(String),
    /// The event can never be processed (bad data, a rule it breaks): it is parked in the DLQ
    /// with this reason at once. The reason reaches logs and the DLQ: ids and codes only.
    #[error("non-retryable: {0}")]
    NonRetryable(String),
}

impl From<EnvelopeError> for HandlerFailure {
    /// A payload that does not fit its schema will not fit next time either.
    fn from(err: EnvelopeError) -> Self {
        HandlerFailure::NonRetryable(err.to_string())
    }
}

/// What a consuming function implements: one event at a time, idempotent on nothing (the
/// processor deduplicates on the envelope id before calling it).
pub trait EventHandler: Send + Sync {
    /// Stable name of this consumer (e.g. `notifications-exam-events`); part of every dedup key,
    /// so two consumers sharing a table never see each other's records. Never change it for a
    /// deployed consumer: events would be processed again.
    fn consumer(&self) -> &str;

    /// Processes one event.
    fn handle(&self, event: &Envelope) -> impl Future<Output = Result<(), HandlerFailure>> + Send;
}

/// Processes Lambda SQS batches for one consumer: deduplication through a [`DedupStore`],
/// parking and backoff through [`QueueOps`].
#[derive(Debug)]
pub struct BatchProcessor<D, Q> {
    dedup: D,
    queues: Q,
    dlq_url: String,
    concurrency: usize,
    lease: Duration,
    done_retention: Duration,
    /// Queue ARN → URL, resolved once per container.
    queue_urls: Mutex<HashMap<String, String>>,
}

impl BatchProcessor<DynamoDedupStore, SqsQueueOps> {
    /// A processor on AWS: dedup records in `table`, non-retryable messages parked in the queue
    /// at `dlq_url` (services pass their `DLQ_URL` setting).
    pub fn aws(sdk: &SdkConfig, table: impl Into<String>, dlq_url: impl Into<String>) -> Self {
        BatchProcessor::new(
            DynamoDedupStore::new(crate::aws::dynamodb(sdk), table),
            SqsQueueOps::new(crate::aws::sqs(sdk)),
            dlq_url,
        )
    }
}

/// How one record ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    Processed,
    Duplicate,
    Parked { reason: String },
    Retry { reason: String },
}

impl Verdict {
    fn label(&self) -> &'static str {
        match self {
            Verdict::Processed => "processed",
            Verdict::Duplicate => "duplicate",
            Verdict::Parked { .. } => "parked",
            Verdict::Retry { .. } => "retry",
        }
    }
}

/// A record with its envelope read.
struct Incoming {
    index: usize,
    record: SqsMessage,
    envelope: Result<Envelope, EnvelopeError>,
}

impl<D: DedupStore, Q: QueueOps> BatchProcessor<D, Q> {
    /// A processor with the default concurrency, lease and retention.
    pub fn new(dedup: D, queues: Q, dlq_url: impl Into<String>) -> Self {
        Self {
            dedup,
            queues,
            dlq_url: dlq_url.into(),
            concurrency: DEFAULT_CONCURRENCY,
            lease: DEFAULT_LEASE,
            done_retention: DEFAULT_DONE_RETENTION,
            queue_urls: Mutex::new(HashMap::new()),
        }
    }

    /// How many records run at the same time (at least 1).
    #[must_use]
    pub fn with_concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }

    /// How long a claim keeps other invocations away. Set it to at least the function timeout
    /// and below the queue's visibility timeout.
    #[must_use]
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// How long a finished event keeps its duplicates away.
    #[must_use]
    pub fn with_done_retention(mut self, retention: Duration) -> Self {
        self.done_retention = retention;
        self
    }

    /// The dedup store in use.
    pub fn dedup(&self) -> &D {
        &self.dedup
    }

    /// The queue operations in use.
    pub fn queues(&self) -> &Q {
        &self.queues
    }

    /// Processes a batch and answers which records Lambda must leave on the queue. Never fails
    /// as a whole: every record's fate is decided on its own.
    ///
    /// Records run concurrently up to the configured bound, except that copies of the same
    /// event in one batch run one after the other (the later ones then find it done).
    pub async fn process<H: EventHandler>(&self, handler: &H, event: SqsEvent) -> SqsBatchResponse {
        let total = event.records.len();
        let lanes = lanes(event.records);
        let failed: Vec<(usize, String)> = stream::iter(lanes)
            .map(|lane| self.process_lane(handler, lane))
            .buffer_unordered(self.concurrency)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .flatten()
            .collect();
        finish_batch(handler.consumer(), total, failed)
    }

    /// Runs the copies of one event in order; returns the failed ones (index, message id).
    async fn process_lane<H: EventHandler>(
        &self,
        handler: &H,
        lane: Vec<Incoming>,
    ) -> Vec<(usize, String)> {
        let mut failed = Vec::new();
        let mut earlier_copy_failed = false;
        for incoming in lane {
            let message_id = incoming.record.message_id.clone().unwrap_or_default();
            let span = tracing::info_span!(
                "sqs_record",
                message_id = %message_id,
                event_id = Empty,
                event_type = Empty,
                trace_id = Empty,
            );
            let ok = self
                .process_record(handler, &incoming, earlier_copy_failed)
                .instrument(span)
                .await;
            if !ok {
                earlier_copy_failed = true;
                failed.push((incoming.index, message_id));
            }
        }
        failed
    }

    /// Decides one record; true when Lambda may delete it.
    async fn process_record<H: EventHandler>(
        &self,
        handler: &H,
        incoming: &Incoming,
        earlier_copy_failed: bool,
    ) -> bool {
        let record = &incoming.record;
        let verdict = match &incoming.envelope {
            Err(err) => self.park_unreadable(record, err).await,
            Ok(envelope) => {
                let span = tracing::Span::current();
                span.record("event_id", envelope.id.as_str());
                span.record("event_type", envelope.event_type.as_str());
                // The trace of the request that caused the event: one trace id from the HTTP
                // request through the outbox and every consumer to the e-mail or SMS.
                span.record(
                    "trace_id",
                    crate::telemetry::TraceContext::continue_or_start(Some(&envelope.trace))
                        .trace_id
                        .as_str(),
                );
                if earlier_copy_failed {
                    Verdict::Retry {
                        reason: "an earlier copy of this event in the batch failed".into(),
                    }
                } else {
                    self.run(handler, record, envelope).await
                }
            }
        };
        self.settle(record, &verdict).await
    }

    /// Logs how a record ended and, when it is to be retried, delays its redelivery; true when
    /// Lambda may delete it.
    async fn settle(&self, record: &SqsMessage, verdict: &Verdict) -> bool {
        match verdict {
            Verdict::Processed | Verdict::Duplicate => {
                tracing::info!(outcome = verdict.label(), "sqs record done");
                true
            }
            Verdict::Parked { reason } => {
                tracing::warn!(outcome = verdict.label(), reason = %reason, "sqs record parked");
                true
            }
            Verdict::Retry { reason } => {
                tracing::warn!(outcome = verdict.label(), reason = %reason, "sqs record will be retried");
                self.back_off(record).await;
                false
            }
        }
    }

    /// Claims, runs the handler and records how it ended.
    async fn run<H: EventHandler>(
        &self,
        handler: &H,
        record: &SqsMessage,
        envelope: &Envelope,
    ) -> Verdict {
        let key = DedupKey::new(handler.consumer(), envelope.id.as_str());
        let token = ulid::Ulid::new().to_string();
        let now = now_ms();
        let claim = Claim {
            key: key.clone(),
            token: token.clone(),
            event_type: envelope.event_type.as_str().to_string(),
            now_ms: now,
            lease_until_ms: now.saturating_add(millis(self.lease)),
            take_over_failed: is_redriven(record),
        };
        match self.dedup.claim(&claim).await {
            Err(err) => {
                return Verdict::Retry {
                    reason: err.to_string(),
                };
            }
            Ok(ClaimOutcome::AlreadyDone) => return Verdict::Duplicate,
            Ok(ClaimOutcome::InProgress { .. }) => {
                return Verdict::Retry {
                    reason: "in progress elsewhere".into(),
                };
            }
            Ok(ClaimOutcome::Acquired) => {}
        }
        match handler.handle(envelope).await {
            Ok(()) => {
                self.complete(&key, &token, &Completion::Succeeded).await;
                Verdict::Processed
            }
            Err(HandlerFailure::Retryable(reason)) => {
                self.release(&key, &token).await;
                Verdict::Retry { reason }
            }
            Err(HandlerFailure::NonRetryable(reason)) => {
                let parked = self
                    .park(
                        record,
                        &reason,
                        Some(envelope.id.clone()),
                        Some(envelope.event_type.as_str().to_string()),
                    )
                    .await;
                match parked {
                    Ok(()) => {
                        let completion = Completion::Failed {
                            reason: reason.clone(),
                        };
                        self.complete(&key, &token, &completion).await;
                        Verdict::Parked { reason }
                    }
                    Err(err) => {
                        // Not parked: give the event back so a redelivery can park it.
                        self.release(&key, &token).await;
                        Verdict::Retry {
                            reason: format!("{reason}; parking failed: {err}"),
                        }
                    }
                }
            }
        }
    }

    /// Parks a record whose body is not a usable envelope (no dedup: there is no id to use).
    async fn park_unreadable(&self, record: &SqsMessage, err: &EnvelopeError) -> Verdict {
        let reason = err.to_string();
        let (event_id, event_type) = best_effort_ids(record.body.as_deref().unwrap_or_default());
        let span = tracing::Span::current();
        if let Some(id) = &event_id {
            span.record("event_id", id.as_str());
        }
        if let Some(kind) = &event_type {
            span.record("event_type", kind.as_str());
        }
        self.park_or_retry(record, reason, event_id, event_type)
            .await
    }

    /// Parks a record with `reason`; when parking fails the record is retried instead, so a
    /// message is never dropped.
    async fn park_or_retry(
        &self,
        record: &SqsMessage,
        reason: String,
        event_id: Option<String>,
        event_type: Option<String>,
    ) -> Verdict {
        match self.park(record, &reason, event_id, event_type).await {
            Ok(()) => Verdict::Parked { reason },
            Err(err) => Verdict::Retry {
                reason: format!("{reason}; parking failed: {err}"),
            },
        }
    }

    async fn park(
        &self,
        record: &SqsMessage,
        reason: &str,
        event_id: Option<String>,
        event_type: Option<String>,
    ) -> Result<(), QueueError> {
        let message = ParkedMessage {
            body: record.body.clone().unwrap_or_default(),
            failure_reason: bounded(reason, MAX_REASON_CHARS),
            source_queue: record.event_source_arn.clone(),
            event_id,
            event_type,
        };
        self.queues.park(&self.dlq_url, &message).await
    }

    async fn complete(&self, key: &DedupKey, token: &str, completion: &Completion) {
        let now = now_ms();
        let expires_at_s = now
            .div_euclid(1000)
            .saturating_add(i64::try_from(self.done_retention.as_secs()).unwrap_or(i64::MAX));
        match self
            .dedup
            .complete(key, token, completion, now, expires_at_s)
            .await
        {
            Ok(()) => {}
            // The work is done either way; a duplicate may slip through, which handlers bear.
            Err(DedupError::ClaimLost) => {
                tracing::warn!("claim was taken over before the event was marked done");
            }
            Err(err) => tracing::error!(error = %err, "could not mark the event done"),
        }
    }

    async fn release(&self, key: &DedupKey, token: &str) {
        if let Err(err) = self.dedup.release(key, token).await {
            // The lease runs out on its own; the redelivery takes the event over then.
            tracing::warn!(error = %err, "could not release the claim");
        }
    }

    /// Delays the record's redelivery by 1 s × 2^(receiveCount−1). Failures are logged only:
    /// the record is reported failed regardless and comes back after the queue's visibility
    /// timeout instead.
    async fn back_off(&self, record: &SqsMessage) {
        let count = receive_count(record);
        let delay = backoff_delay(count);
        let Some(receipt_handle) = record.receipt_handle.as_deref() else {
            tracing::warn!("record has no receipt handle; redelivery not delayed");
            return;
        };
        let Some(arn) = record.event_source_arn.as_deref() else {
            tracing::warn!("record has no event source ARN; redelivery not delayed");
            return;
        };
        let url = match self.queue_url(arn).await {
            Ok(url) => url,
            Err(err) => {
                tracing::warn!(error = %err, "queue URL unknown; redelivery not delayed");
                return;
            }
        };
        match self
            .queues
            .change_visibility(&url, receipt_handle, delay)
            .await
        {
            Ok(()) => tracing::info!(
                receive_count = count,
                visibility_timeout_s = delay.as_secs(),
                "redelivery delayed"
            ),
            Err(err) => tracing::warn!(error = %err, "could not delay the redelivery"),
        }
    }

    async fn queue_url(&self, arn: &str) -> Result<String, QueueError> {
        if let Some(url) = self.cached_url(arn) {
            return Ok(url);
        }
        let queue = QueueRef::from_arn(arn)
            .ok_or_else(|| QueueError(format!("not an SQS queue ARN: {arn}")))?;
        let url = self.queues.queue_url(&queue).await?;
        if let Ok(mut cache) = self.queue_urls.lock() {
            cache.insert(arn.to_string(), url.clone());
        }
        Ok(url)
    }

    fn cached_url(&self, arn: &str) -> Option<String> {
        self.queue_urls
            .lock()
            .ok()
            .and_then(|cache| cache.get(arn).cloned())
    }
}

/// Visibility timeout before the next delivery of a record received `receive_count` times:
/// 1 s × 2^(receive_count−1), at most 12 h. A count of 0 counts as 1.
pub fn backoff_delay(receive_count: u32) -> Duration {
    let exponent = receive_count.saturating_sub(1);
    let seconds = 1u64.checked_shl(exponent).unwrap_or(u64::MAX);
    Duration::from_secs(seconds).min(MAX_VISIBILITY_TIMEOUT)
}

/// The record's `ApproximateReceiveCount` (1 when absent or unreadable).
fn receive_count(record: &SqsMessage) -> u32 {
    record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|v| v.trim().parse::<u32>().ok())
        .unwrap_or(1)
        .max(1)
}

/// Whether the record is one this processor parked that was moved back from the DLQ.
fn is_redriven(record: &SqsMessage) -> bool {
    record.message_attributes.contains_key(ATTR_FAILURE_REASON)
        && record.message_attributes.contains_key(ATTR_SOURCE_QUEUE)
}

/// The envelope JSON inside a record body: the body itself (raw delivery) or the `Message` of an
/// SNS notification wrapper.
pub(crate) fn envelope_json(body: &str) -> Cow<'_, str> {
    #[derive(serde::Deserialize)]
    struct SnsNotification {
        #[serde(rename = "Type")]
        kind: String,
        #[serde(rename = "Message")]
        message: String,
    }
    match serde_json::from_str::<SnsNotification>(body) {
        Ok(wrapper) if wrapper.kind == "Notification" => Cow::Owned(wrapper.message),
        _ => Cow::Borrowed(body),
    }
}

/// `id` and `type` of a body that is not a usable envelope, when they can still be read.
fn best_effort_ids(body: &str) -> (Option<String>, Option<String>) {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(&envelope_json(body)) else {
        return (None, None);
    };
    let text = |field: &str| {
        value
            .get(field)
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
    };
    (text("id"), text("type"))
}

/// Reads every record's envelope and groups copies of the same event into one lane, keeping
/// batch order. Unreadable records get a lane each.
fn lanes(records: Vec<SqsMessage>) -> Vec<Vec<Incoming>> {
    let mut lanes: Vec<Vec<Incoming>> = Vec::new();
    let mut lane_of_event: HashMap<String, usize> = HashMap::new();
    for (index, record) in records.into_iter().enumerate() {
        let envelope = match record.body.as_deref() {
            Some(body) => Envelope::parse(&envelope_json(body)),
            None => Err(EnvelopeError::Malformed("record has no body".into())),
        };
        let lane = match &envelope {
            Ok(envelope) => lane_of_event.get(&envelope.id).copied(),
            Err(_) => None,
        };
        let incoming = Incoming {
            index,
            record,
            envelope,
        };
        match lane {
            Some(lane) => lanes[lane].push(incoming),
            None => {
                if let Ok(envelope) = &incoming.envelope {
                    lane_of_event.insert(envelope.id.clone(), lanes.len());
                }
                lanes.push(vec![incoming]);
            }
        }
    }
    lanes
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Logs and measures a processed batch and answers with the failed ids in batch order.
pub(super) fn finish_batch(
    consumer: &str,
    total: usize,
    mut failed: Vec<(usize, String)>,
) -> SqsBatchResponse {
    failed.sort_by_key(|(index, _)| *index);
    tracing::info!(
        consumer,
        records = total,
        failed = failed.len(),
        "sqs batch done"
    );
    crate::metrics::MetricSet::new()
        .dimension("consumer", consumer)
        .value("RecordsReceived", total as f64, crate::metrics::Unit::Count)
        .value(
            "RecordsFailed",
            failed.len() as f64,
            crate::metrics::Unit::Count,
        )
        .emit();
    let mut response = SqsBatchResponse::default();
    response.set_failures(failed.into_iter().map(|(_, id)| id));
    response
}
