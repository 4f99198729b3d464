//! Transactional outbox: how a service announces a change without ever losing the event.
//!
//! A service writes its events as outbox items in the *same* DynamoDB transaction as the change
//! itself ([`outbox_put`]), so an event exists if and only if the change happened. A relay
//! function then publishes them to the service's SNS topic: first from the table's stream (within
//! a second of the write), and, for anything the stream path could not deliver (topic down,
//! retries exhausted), from a periodic sweep over the sparse `outbox` index of items still
//! pending. An item leaves the index only after SNS accepted it. Delivery is at least once;
//! consumers deduplicate on the envelope id.

use std::future::Future;

use aws_lambda_events::event::dynamodb::Event as StreamEvent;
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use jiff::Timestamp;
use serde::Deserialize;

use crate::envelope::Envelope;
use crate::telemetry::TraceContext;

/// Value of the `outboxPending` attribute (the sparse index's partition key) while unpublished.
pub const PENDING: &str = "PENDING";
/// Name of the sparse index over pending items.
pub const PENDING_INDEX: &str = "outbox";
/// How long a published item is kept (for audits of what was sent), via the table's TTL.
const PUBLISHED_RETENTION_SECONDS: i64 = 7 * 24 * 3600;

/// The outbox item for an event, to add to the transaction that makes the change.
///
/// # Errors
/// Only if the SDK builder rejects the item (a bug).
pub fn outbox_put(table: &str, envelope: &Envelope) -> Result<TransactWriteItem, OutboxError> {
    outbox_put_with(table, envelope, Vec::new())
}

/// [`outbox_put`] with extra attributes, e.g. index keys that let a service find the events it
/// wrote about one person (to purge them on erasure).
///
/// # Errors
/// Only if the SDK builder rejects the item (a bug).
pub fn outbox_put_with(
    table: &str,
    envelope: &Envelope,
    extra: Vec<(String, AttributeValue)>,
) -> Result<TransactWriteItem, OutboxError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(extra.into_iter().collect()))
        .item("pk", AttributeValue::S(format!("OUTBOX#{}", envelope.id)))
        .item("sk", AttributeValue::S("OUTBOX".into()))
        .item("envelope", AttributeValue::S(envelope.to_json()))
        .item(
            "eventType",
            AttributeValue::S(envelope.event_type.as_str().into()),
        )
        .item("createdAt", AttributeValue::S(envelope.time.to_string()))
        .item("outboxPending", AttributeValue::S(PENDING.into()))
        .condition_expression("attribute_not_exists(pk)")
        .build()
        .map_err(|e| OutboxError::Store(e.to_string()))?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// Failures of the outbox machinery.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OutboxError {
    #[error("publishing failed: {0}")]
    Publish(String),
    #[error("outbox store failed: {0}")]
    Store(String),
    #[error("outbox item is unreadable: {0}")]
    Corrupt(String),
}

/// Where events go (an SNS topic in production).
pub trait EventPublisher: Send + Sync {
    /// Publishes one envelope; `Ok` only once the broker accepted it.
    ///
    /// # Errors
    /// [`OutboxError::Publish`].
    fn publish(&self, envelope: &Envelope) -> impl Future<Output = Result<(), OutboxError>> + Send;
}

/// A pending outbox entry.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    pub envelope: Envelope,
}

/// The outbox items of a service's table.
pub trait OutboxStore: Send + Sync {
    /// Pending entries created before `cutoff`, oldest first.
    ///
    /// # Errors
    /// [`OutboxError::Store`].
    fn pending(
        &self,
        cutoff: Timestamp,
        limit: i32,
    ) -> impl Future<Output = Result<Vec<OutboxEntry>, OutboxError>> + Send;

    /// Marks an entry published (it leaves the pending index); already published is fine.
    ///
    /// # Errors
    /// [`OutboxError::Store`].
    fn mark_published(
        &self,
        event_id: &str,
    ) -> impl Future<Output = Result<(), OutboxError>> + Send;
}

/// SNS adapter: message = the envelope JSON, attribute `type` for subscription filter policies.
#[derive(Clone)]
pub struct SnsPublisher {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsPublisher {
    pub fn new(client: aws_sdk_sns::Client, topic_arn: String) -> Self {
        Self { client, topic_arn }
    }
}

impl EventPublisher for SnsPublisher {
    async fn publish(&self, envelope: &Envelope) -> Result<(), OutboxError> {
        let attribute = |value: &str| {
            aws_sdk_sns::types::MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|e| OutboxError::Publish(e.to_string()))
        };
        let mut publish = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .message(envelope.to_json())
            .message_attributes("type", attribute(envelope.event_type.as_str())?)
            .message_attributes("source", attribute(&envelope.source)?);
        // W3C trace context, as a message attribute too (SNS → SQS raw delivery keeps it; SNS
        // refuses empty attribute values).
        if !envelope.trace.is_empty() {
            publish = publish.message_attributes("traceparent", attribute(&envelope.trace)?);
        }
        publish
            .send()
            .await
            .map_err(|e| OutboxError::Publish(crate::aws::error_text(&e)))?;
        Ok(())
    }
}

/// DynamoDB adapter over the service's own table.
#[derive(Clone)]
pub struct DynamoOutbox {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoOutbox {
    pub fn new(client: aws_sdk_dynamodb::Client, table: String) -> Self {
        Self { client, table }
    }
}

#[derive(Deserialize)]
struct OutboxRow {
    envelope: String,
}

fn parse_row(row: OutboxRow) -> Result<OutboxEntry, OutboxError> {
    Envelope::parse(&row.envelope)
        .map(|envelope| OutboxEntry { envelope })
        .map_err(|e| OutboxError::Corrupt(e.to_string()))
}

impl OutboxStore for DynamoOutbox {
    async fn pending(
        &self,
        cutoff: Timestamp,
        limit: i32,
    ) -> Result<Vec<OutboxEntry>, OutboxError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(PENDING_INDEX)
            .key_condition_expression("outboxPending = :p AND createdAt < :cutoff")
            .expression_attribute_values(":p", AttributeValue::S(PENDING.into()))
            .expression_attribute_values(":cutoff", AttributeValue::S(cutoff.to_string()))
            .limit(limit)
            .send()
            .await
            .map_err(|e| OutboxError::Store(crate::aws::error_text(&e)))?;
        let mut entries = Vec::new();
        for item in out.items() {
            let row: OutboxRow = serde_dynamo::from_item(item.clone())
                .map_err(|e| OutboxError::Corrupt(e.to_string()))?;
            entries.push(parse_row(row)?);
        }
        Ok(entries)
    }

    async fn mark_published(&self, event_id: &str) -> Result<(), OutboxError> {
        let now = Timestamp::now();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(crate::dynamo::key(
                format!("OUTBOX#{event_id}"),
                "OUTBOX",
            )))
            .update_expression("REMOVE outboxPending SET publishedAt = :now, expiresAt = :exp")
            .condition_expression("attribute_exists(outboxPending)")
            .expression_attribute_values(":now", AttributeValue::S(now.to_string()))
            .expression_attribute_values(
                ":exp",
                AttributeValue::N((now.as_second() + PUBLISHED_RETENTION_SECONDS).to_string()),
            )
            .send()
            .await;
        // Not pending any more: published already, which is what was asked.
        crate::dynamo::applied(result)
            .map(|_| ())
            .map_err(|err| OutboxError::Store(crate::aws::error_text(&err)))
    }
}

/// What a sweep did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SweepReport {
    pub published: usize,
    pub failed: usize,
}

/// The outcome of relaying one stream record: the event id and trace id it was published with.
type Relayed = Result<(String, String), OutboxError>;

/// How many items of one stream batch are being published at once.
pub const RELAY_CONCURRENCY: usize = 10;

/// Publishes outbox entries and marks them published.
pub struct OutboxRelay<P, S> {
    publisher: P,
    store: S,
    /// Entries younger than this are left to the stream path by the sweep.
    grace: jiff::SignedDuration,
    /// The publishing service, for the relay-lag metric (`OutboxPending`).
    service: Option<&'static str>,
}

impl<P: EventPublisher, S: OutboxStore> OutboxRelay<P, S> {
    pub fn new(publisher: P, store: S, grace: jiff::SignedDuration) -> Self {
        Self {
            publisher,
            store,
            grace,
            service: None,
        }
    }

    /// The same relay, counting what each sweep finds left by the stream path as
    /// `OutboxPending` of `service` (the relay-lag alarm reads it).
    #[must_use]
    pub fn for_service(mut self, service: &'static str) -> Self {
        self.service = Some(service);
        self
    }

    async fn relay(&self, envelope: &Envelope) -> Result<(), OutboxError> {
        self.publisher.publish(envelope).await?;
        self.store.mark_published(&envelope.id).await
    }

    /// Publishes the outbox items of a stream batch; failed records are reported by sequence
    /// number so the stream retries from there, and stay pending for the sweep either way.
    ///
    /// The items of a batch are published [`RELAY_CONCURRENCY`] at a time: consumers rely on no
    /// order between events (each carries its own time and version), and one publish plus one
    /// write per item, one after the other, made a full batch take as long as all its round
    /// trips together. The stream retries from the first failed record in stream order; items
    /// after it that were published meanwhile go out again, which consumers' deduplication on
    /// the envelope id absorbs (at least once, as everywhere).
    pub async fn relay_stream(&self, event: StreamEvent) -> DynamoDbEventResponse {
        use futures::StreamExt as _;

        let pending: Vec<(Option<String>, Result<OutboxEntry, OutboxError>)> = event
            .records
            .into_iter()
            .filter(|record| record.event_name != "REMOVE")
            .filter(|record| record.change.new_image.get("outboxPending").is_some())
            .filter_map(|record| {
                let row: OutboxRow =
                    serde_dynamo::from_item(record.change.new_image.clone()).ok()?;
                Some((record.change.sequence_number, parse_row(row)))
            })
            .collect();
        let outcomes: Vec<(Option<String>, Relayed)> = futures::stream::iter(pending)
            .map(|(sequence, entry)| async move {
                let outcome = match entry {
                    Ok(entry) => self.relay(&entry.envelope).await.map(|()| {
                        let trace = TraceContext::continue_or_start(Some(&entry.envelope.trace));
                        (entry.envelope.id, trace.trace_id)
                    }),
                    Err(err) => Err(err),
                };
                (sequence, outcome)
            })
            .buffered(RELAY_CONCURRENCY)
            .collect()
            .await;

        let mut response = DynamoDbEventResponse::default();
        for (sequence, outcome) in outcomes {
            match outcome {
                Ok((event_id, trace_id)) => {
                    tracing::info!(event_id = %event_id, trace_id = %trace_id, "outbox event published");
                }
                Err(OutboxError::Corrupt(reason)) => {
                    // Retrying cannot fix it; it stays in the pending index for an operator.
                    tracing::error!(reason = %reason, "unreadable outbox item skipped");
                }
                Err(err) => {
                    tracing::warn!(error = %err, "outbox event not published; will retry");
                    if response.batch_item_failures.is_empty() {
                        let mut failure = DynamoDbBatchItemFailure::default();
                        failure.item_identifier = sequence;
                        response.batch_item_failures.push(failure);
                    }
                }
            }
        }
        response
    }

    /// Publishes every entry still pending after the grace period.
    ///
    /// # Errors
    /// When the pending entries cannot be listed.
    pub async fn sweep(&self) -> Result<SweepReport, OutboxError> {
        let cutoff = Timestamp::now() - self.grace;
        let mut report = SweepReport::default();
        for entry in self.store.pending(cutoff, 100).await? {
            match self.relay(&entry.envelope).await {
                Ok(()) => report.published += 1,
                Err(err) => {
                    report.failed += 1;
                    tracing::warn!(event_id = %entry.envelope.id, error = %err, "sweep could not publish");
                }
            }
        }
        tracing::info!(
            published = report.published,
            failed = report.failed,
            "outbox sweep done"
        );
        if let Some(service) = self.service {
            // Entries older than the grace period that the stream path did not publish.
            crate::metrics::MetricSet::new()
                .dimension("service", service)
                .value(
                    "OutboxPending",
                    (report.published + report.failed) as f64,
                    crate::metrics::Unit::Count,
                )
                .emit();
        }
        Ok(report)
    }

    /// Lambda entry: a DynamoDB stream batch is relayed; anything else (the schedule's event)
    /// triggers a sweep.
    ///
    /// # Errors
    /// When a sweep cannot list pending entries (the invocation fails and is retried).
    pub async fn handle(
        &self,
        payload: serde_json::Value,
    ) -> Result<serde_json::Value, OutboxError> {
        if payload.get("Records").is_some() {
            let event: StreamEvent =
                serde_json::from_value(payload).map_err(|e| OutboxError::Corrupt(e.to_string()))?;
            let response = self.relay_stream(event).await;
            return serde_json::to_value(response).map_err(|e| OutboxError::Corrupt(e.to_string()));
        }
        let report = self.sweep().await?;
        Ok(serde_json::json!({"published": report.published, "failed": report.failed}))
    }
}

/// What a service's outbox relay function reads from its environment.
#[derive(Debug, Clone)]
pub struct OutboxConfig {
    pub table_name: String,
    pub events_topic_arn: String,
}

impl OutboxConfig {
    /// # Errors
    /// When a required variable is missing.
    pub fn from_env() -> Result<Self, crate::config::ConfigError> {
        Ok(Self {
            table_name: crate::config::required("TABLE_NAME")?,
            events_topic_arn: crate::config::required("EVENTS_TOPIC_ARN")?,
        })
    }
}

/// The whole Lambda function of `service`'s outbox relay: its table's stream and the periodic
/// sweep, publishing on its events topic. Every service's relay binary is this call.
///
/// # Errors
/// A missing setting, or the Lambda runtime failing.
pub async fn run_relay(service: &'static str) -> Result<(), lambda_runtime::Error> {
    crate::telemetry::init();
    let config = OutboxConfig::from_env()?;
    let sdk = crate::aws::sdk_config().await;
    let relay = OutboxRelay::new(
        SnsPublisher::new(crate::aws::sns(&sdk), config.events_topic_arn),
        DynamoOutbox::new(crate::aws::dynamodb(&sdk), config.table_name),
        jiff::SignedDuration::from_secs(60),
    )
    .for_service(service);
    let relay = &relay;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<serde_json::Value>| async move {
            relay
                .handle(event.payload)
                .await
                .map_err(lambda_runtime::Error::from)
        },
    ))
    .await
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::envelope::PatientRegistered;

    #[derive(Default)]
    struct FakeBroker {
        down: Mutex<bool>,
        /// Envelope ids this broker refuses.
        refused: Mutex<Vec<String>>,
        sent: Mutex<Vec<String>>,
        in_flight: std::sync::atomic::AtomicUsize,
        most_in_flight: std::sync::atomic::AtomicUsize,
    }

    impl EventPublisher for &FakeBroker {
        async fn publish(&self, envelope: &Envelope) -> Result<(), OutboxError> {
            use std::sync::atomic::Ordering::SeqCst;
            let now = self.in_flight.fetch_add(1, SeqCst) + 1;
            self.most_in_flight.fetch_max(now, SeqCst);
            // A network round trip: the other publishes of the batch get their turn meanwhile.
            tokio::task::yield_now().await;
            self.in_flight.fetch_sub(1, SeqCst);
            if *self.down.lock().unwrap() || self.refused.lock().unwrap().contains(&envelope.id) {
                return Err(OutboxError::Publish("broker down".into()));
            }
            self.sent.lock().unwrap().push(envelope.id.clone());
            Ok(())
        }
    }

    #[derive(Default)]
    struct FakeOutbox {
        pending: Mutex<Vec<Envelope>>,
    }

    impl OutboxStore for &FakeOutbox {
        async fn pending(
            &self,
            _cutoff: Timestamp,
            _limit: i32,
        ) -> Result<Vec<OutboxEntry>, OutboxError> {
            Ok(self
                .pending
                .lock()
                .unwrap()
                .iter()
                .map(|e| OutboxEntry {
                    envelope: e.clone(),
                })
                .collect())
        }

        async fn mark_published(&self, event_id: &str) -> Result<(), OutboxError> {
            self.pending.lock().unwrap().retain(|e| e.id != event_id);
            Ok(())
        }
    }

    fn envelope() -> Envelope {
        Envelope::new(
            "clinic.test",
            "a1",
            PatientRegistered {
                account_id: "a1".into(),
                match_key: "a1b2c3".into(),
            },
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )
        .into_raw()
    }

    fn stream_event(envelopes: &[Envelope]) -> serde_json::Value {
        let records: Vec<_> = envelopes
            .iter()
            .enumerate()
            .map(|(i, e)| {
                serde_json::json!({
                    "eventID": format!("e{i}"), "eventName": "INSERT", "eventVersion": "1.1",
                    "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
                    "dynamodb": {
                        "ApproximateCreationDateTime": 1.7e9,
                        "Keys": {"pk": {"S": format!("OUTBOX#{}", e.id)}, "sk": {"S": "OUTBOX"}},
                        "NewImage": {
                            "pk": {"S": format!("OUTBOX#{}", e.id)}, "sk": {"S": "OUTBOX"},
                            "envelope": {"S": e.to_json()}, "outboxPending": {"S": "PENDING"}
                        },
                        "SequenceNumber": format!("{}", 100 + i), "SizeBytes": 10, "StreamViewType": "NEW_IMAGE"
                    }
                })
            })
            .collect();
        serde_json::json!({ "Records": records })
    }

    #[tokio::test]
    async fn failed_publish_stays_pending_and_the_sweep_sends_it_later() {
        let broker = FakeBroker::default();
        let outbox = FakeOutbox::default();
        let first = envelope();
        let second = envelope();
        outbox
            .pending
            .lock()
            .unwrap()
            .extend([first.clone(), second.clone()]);
        let relay = OutboxRelay::new(&broker, &outbox, jiff::SignedDuration::ZERO);

        *broker.down.lock().unwrap() = true;
        let response = relay
            .handle(stream_event(&[first.clone(), second.clone()]))
            .await
            .unwrap();
        assert_eq!(response["batchItemFailures"][0]["itemIdentifier"], "100");
        assert_eq!(outbox.pending.lock().unwrap().len(), 2);

        *broker.down.lock().unwrap() = false;
        let report = relay.sweep().await.unwrap();
        assert_eq!(
            report,
            SweepReport {
                published: 2,
                failed: 0
            }
        );
        assert_eq!(*broker.sent.lock().unwrap(), vec![first.id, second.id]);
        assert!(outbox.pending.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_batch_is_published_several_at_a_time_and_retried_from_its_first_failure() {
        let broker = FakeBroker::default();
        let outbox = FakeOutbox::default();
        let batch: Vec<Envelope> = (0..RELAY_CONCURRENCY + 5).map(|_| envelope()).collect();
        outbox.pending.lock().unwrap().extend(batch.iter().cloned());
        broker
            .refused
            .lock()
            .unwrap()
            .extend([batch[3].id.clone(), batch[7].id.clone()]);
        let relay = OutboxRelay::new(&broker, &outbox, jiff::SignedDuration::ZERO);

        let response = relay.handle(stream_event(&batch)).await.unwrap();

        let most = broker
            .most_in_flight
            .load(std::sync::atomic::Ordering::SeqCst);
        assert!(
            most > 1 && most <= RELAY_CONCURRENCY,
            "{most} publishes at once"
        );
        // The stream retries from the first refused record in stream order (sequence 103);
        // everything else went out and left the pending index.
        assert_eq!(
            response["batchItemFailures"],
            serde_json::json!([{"itemIdentifier": "103"}])
        );
        assert_eq!(broker.sent.lock().unwrap().len(), batch.len() - 2);
        let left: Vec<String> = outbox
            .pending
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.id.clone())
            .collect();
        assert_eq!(left, vec![batch[3].id.clone(), batch[7].id.clone()]);
    }

    #[tokio::test]
    async fn stream_records_without_pending_flag_are_ignored() {
        let broker = FakeBroker::default();
        let outbox = FakeOutbox::default();
        let relay = OutboxRelay::new(&broker, &outbox, jiff::SignedDuration::ZERO);
        let mut event = stream_event(&[envelope()]);
        event["Records"][0]["dynamodb"]["NewImage"]
            .as_object_mut()
            .unwrap()
            .remove("outboxPending");
        let response = relay.handle(event).await.unwrap();
        assert_eq!(response["batchItemFailures"], serde_json::json!([]));
        assert!(broker.sent.lock().unwrap().is_empty());
    }
}
