//! Decision tests of the batch processor with in-memory ports that keep the same rules as the
//! DynamoDB and SQS adapters (those are exercised against the emulator in `tests/sqs_batch.rs`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage, SqsMessageAttribute};

use super::*;
use crate::envelope::{Envelope, PatientRegistered};

const QUEUE_ARN: &str = "arn:aws:sqs:us-east-1:123456789012:consumer-queue";
const QUEUE_URL: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/consumer-queue";
const DLQ_URL: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/consumer-dlq";
const CONSUMER: &str = "test-consumer";

// --- fakes ---------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Item {
    done: bool,
    token: String,
    lease_until_ms: i64,
    expires_at_s: i64,
    failure: Option<String>,
}

#[derive(Default)]
struct MemoryStore {
    items: Mutex<HashMap<String, Item>>,
    unavailable: AtomicBool,
}

impl MemoryStore {
    fn item(&self, event_id: &str) -> Option<Item> {
        let pk = DedupKey::new(CONSUMER, event_id).pk();
        self.items.lock().unwrap().get(&pk).cloned()
    }

    fn seed(&self, event_id: &str, item: Item) {
        let pk = DedupKey::new(CONSUMER, event_id).pk();
        self.items.lock().unwrap().insert(pk, item);
    }

    fn check(&self) -> Result<(), DedupError> {
        if self.unavailable.load(Ordering::SeqCst) {
            Err(DedupError::Store("throttled".into()))
        } else {
            Ok(())
        }
    }
}

impl DedupStore for MemoryStore {
    async fn claim(&self, claim: &Claim) -> Result<ClaimOutcome, DedupError> {
        self.check()?;
        let mut items = self.items.lock().unwrap();
        let pk = claim.key.pk();
        let now_s = claim.now_ms.div_euclid(1000);
        let free = match items.get(&pk) {
            None => true,
            Some(item) if !item.done => item.lease_until_ms < claim.now_ms,
            Some(item) => {
                item.expires_at_s < now_s || (claim.take_over_failed && item.failure.is_some())
            }
        };
        if free {
            items.insert(
                pk,
                Item {
                    done: false,
                    token: claim.token.clone(),
                    lease_until_ms: claim.lease_until_ms,
                    expires_at_s: 0,
                    failure: None,
                },
            );
            return Ok(ClaimOutcome::Acquired);
        }
        let item = &items[&pk];
        Ok(if item.done {
            ClaimOutcome::AlreadyDone
        } else {
            ClaimOutcome::InProgress {
                lease_until_ms: item.lease_until_ms,
            }
        })
    }

    async fn complete(
        &self,
        key: &DedupKey,
        token: &str,
        completion: &Completion,
        _now_ms: i64,
        expires_at_s: i64,
    ) -> Result<(), DedupError> {
        self.check()?;
        let mut items = self.items.lock().unwrap();
        match items.get_mut(&key.pk()) {
            Some(item) if !item.done && item.token == token => {
                item.done = true;
                item.expires_at_s = expires_at_s;
                item.failure = match completion {
                    Completion::Succeeded => None,
                    Completion::Failed { reason } => Some(reason.clone()),
                };
                Ok(())
            }
            _ => Err(DedupError::ClaimLost),
        }
    }

    async fn release(&self, key: &DedupKey, token: &str) -> Result<(), DedupError> {
        self.check()?;
        let mut items = self.items.lock().unwrap();
        match items.get(&key.pk()) {
            Some(item) if !item.done && item.token == token => {
                items.remove(&key.pk());
                Ok(())
            }
            _ => Err(DedupError::ClaimLost),
        }
    }
}

#[derive(Default)]
struct FakeQueues {
    url_lookups: AtomicUsize,
    visibility: Mutex<Vec<(String, String, u64)>>,
    parked: Mutex<Vec<(String, ParkedMessage)>>,
    park_fails: AtomicBool,
    visibility_fails: AtomicBool,
}

impl FakeQueues {
    fn visibility_of(&self, receipt: &str) -> Vec<u64> {
        self.visibility
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, r, _)| r == receipt)
            .map(|(_, _, s)| *s)
            .collect()
    }

    fn parked(&self) -> Vec<ParkedMessage> {
        self.parked
            .lock()
            .unwrap()
            .iter()
            .map(|(_, m)| m.clone())
            .collect()
    }
}

impl QueueOps for FakeQueues {
    async fn queue_url(&self, queue: &QueueRef) -> Result<String, QueueError> {
        self.url_lookups.fetch_add(1, Ordering::SeqCst);
        assert_eq!(queue.name, "consumer-queue");
        assert_eq!(queue.account_id, "123456789012");
        Ok(QUEUE_URL.to_string())
    }

    async fn change_visibility(
        &self,
        queue_url: &str,
        receipt_handle: &str,
        timeout: Duration,
    ) -> Result<(), QueueError> {
        if self.visibility_fails.load(Ordering::SeqCst) {
            return Err(QueueError("ReceiptHandleIsInvalid".into()));
        }
        self.visibility.lock().unwrap().push((
            queue_url.to_string(),
            receipt_handle.to_string(),
            timeout.as_secs(),
        ));
        Ok(())
    }

    async fn park(&self, dlq_url: &str, message: &ParkedMessage) -> Result<(), QueueError> {
        if self.park_fails.load(Ordering::SeqCst) {
            return Err(QueueError("AccessDenied".into()));
        }
        self.parked
            .lock()
            .unwrap()
            .push((dlq_url.to_string(), message.clone()));
        Ok(())
    }
}

/// Behaves by the envelope subject: `retry-*` → retryable, `reject-*` → non-retryable, `slow-*`
/// → sleeps a little, anything else → success.
#[derive(Default)]
struct Recorder {
    handled: Mutex<Vec<String>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

impl Recorder {
    fn handled(&self) -> Vec<String> {
        self.handled.lock().unwrap().clone()
    }

    fn times(&self, event_id: &str) -> usize {
        self.handled().iter().filter(|id| *id == event_id).count()
    }
}

impl EventHandler for Recorder {
    fn consumer(&self) -> &str {
        CONSUMER
    }

    async fn handle(&self, event: &Envelope) -> Result<(), HandlerFailure> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        self.handled.lock().unwrap().push(event.id.clone());
        if event.subject.starts_with("slow-") {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        if event.subject.starts_with("retry-") {
            Err(HandlerFailure::Retryable("upstream timed out".into()))
        } else if event.subject.starts_with("reject-") {
            Err(HandlerFailure::NonRetryable("exam exm-1 not found".into()))
        } else {
            Ok(())
        }
    }
}

// --- helpers -------------------------------------------------------------------------------------

fn envelope(subject: &str) -> Envelope {
    Envelope::new(
        "clinic.accounts",
        subject,
        PatientRegistered {
            account_id: subject.to_string(),
            match_key: "a1b2c3".into(),
        },
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    )
    .into_raw()
}

fn record(message_id: &str, body: &str, receive_count: u32) -> SqsMessage {
    let mut record = SqsMessage::default();
    record.message_id = Some(message_id.to_string());
    record.receipt_handle = Some(format!("rh-{message_id}"));
    record.body = Some(body.to_string());
    record
        .attributes
        .insert("ApproximateReceiveCount".into(), receive_count.to_string());
    record.event_source_arn = Some(QUEUE_ARN.to_string());
    record.event_source = Some("aws:sqs".into());
    record.aws_region = Some("us-east-1".into());
    record
}

fn batch(records: Vec<SqsMessage>) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = records;
    event
}

fn failed_ids(response: &aws_lambda_events::event::sqs::SqsBatchResponse) -> Vec<String> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect()
}

fn processor() -> BatchProcessor<MemoryStore, FakeQueues> {
    BatchProcessor::new(MemoryStore::default(), FakeQueues::default(), DLQ_URL)
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

// --- tests ---------------------------------------------------------------------------------------

#[tokio::test]
async fn one_bad_record_of_ten_fails_alone() {
    let p = processor();
    let handler = Recorder::default();
    let records = (0..10)
        .map(|i| {
            let subject = if i == 6 {
                "retry-6".to_string()
            } else {
                format!("ok-{i}")
            };
            record(&format!("m-{i}"), &envelope(&subject).to_json(), 1)
        })
        .collect();
    let response = handle_batch(&p, &handler, batch(records)).await;
    assert_eq!(failed_ids(&response), ["m-6"]);
    assert_eq!(handler.handled().len(), 10);
    assert_eq!(p.queues().visibility_of("rh-m-6"), [1]);
    assert_eq!(p.queues().visibility.lock().unwrap().len(), 1);
    let json = serde_json::to_value(&response).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"batchItemFailures": [{"itemIdentifier": "m-6"}]})
    );
}

#[tokio::test]
async fn duplicate_in_one_batch_runs_the_handler_once() {
    let p = processor();
    let handler = Recorder::default();
    let event = envelope("ok-dup");
    let body = event.to_json();
    let response = p
        .process(
            &handler,
            batch(vec![
                record("m-1", &body, 1),
                record("m-2", &envelope("ok-other").to_json(), 1),
                record("m-3", &body, 1),
            ]),
        )
        .await;
    assert!(failed_ids(&response).is_empty());
    assert_eq!(handler.times(&event.id), 1);
    assert_eq!(handler.handled().len(), 2);
    assert!(p.dedup().item(&event.id).is_some_and(|i| i.done));
}

#[tokio::test]
async fn duplicate_across_batches_runs_the_handler_once() {
    let p = processor();
    let handler = Recorder::default();
    let event = envelope("ok-dup");
    let first = p
        .process(&handler, batch(vec![record("m-1", &event.to_json(), 1)]))
        .await;
    // Same event, a different SQS message (a second SNS delivery).
    let second = p
        .process(&handler, batch(vec![record("m-2", &event.to_json(), 1)]))
        .await;
    assert!(failed_ids(&first).is_empty());
    assert!(failed_ids(&second).is_empty());
    assert_eq!(handler.times(&event.id), 1);
    let item = p.dedup().item(&event.id).unwrap();
    let in_six_days = now_ms() / 1000 + 6 * 24 * 3600;
    assert!(item.expires_at_s > in_six_days, "{item:?}");
}

#[tokio::test]
async fn later_copies_fail_with_an_earlier_failed_copy() {
    let p = processor();
    let handler = Recorder::default();
    let body = envelope("retry-dup").to_json();
    let response = p
        .process(
            &handler,
            batch(vec![record("m-1", &body, 1), record("m-2", &body, 1)]),
        )
        .await;
    assert_eq!(failed_ids(&response), ["m-1", "m-2"]);
    assert_eq!(handler.handled().len(), 1);
}

#[tokio::test]
async fn non_retryable_is_parked_and_reported_done() {
    let p = processor();
    let handler = Recorder::default();
    let event = envelope("reject-1");
    let body = event.to_json();
    let response = p
        .process(&handler, batch(vec![record("m-1", &body, 1)]))
        .await;
    assert!(failed_ids(&response).is_empty());
    let parked = p.queues().parked.lock().unwrap().clone();
    assert_eq!(parked.len(), 1);
    let (dlq, message) = &parked[0];
    assert_eq!(dlq, DLQ_URL);
    assert_eq!(message.body, body);
    assert_eq!(message.failure_reason, "exam exm-1 not found");
    assert_eq!(message.source_queue.as_deref(), Some(QUEUE_ARN));
    assert_eq!(message.event_id.as_deref(), Some(event.id.as_str()));
    assert_eq!(message.event_type.as_deref(), Some("patient.registered"));
    let item = p.dedup().item(&event.id).unwrap();
    assert!(item.done);
    assert_eq!(item.failure.as_deref(), Some("exam exm-1 not found"));
    assert!(p.queues().visibility.lock().unwrap().is_empty());

    // A second delivery of the same event is a duplicate: not handled, not parked again.
    let again = p
        .process(&handler, batch(vec![record("m-2", &body, 1)]))
        .await;
    assert!(failed_ids(&again).is_empty());
    assert_eq!(handler.times(&event.id), 1);
    assert_eq!(p.queues().parked().len(), 1);
}

#[tokio::test]
async fn unknown_version_is_parked_with_a_reason_naming_it() {
    let p = processor();
    let handler = Recorder::default();
    let event = envelope("ok-future");
    let mut json: serde_json::Value = serde_json::from_str(&event.to_json()).unwrap();
    json["version"] = 2.into();
    let body = json.to_string();
    let response = p
        .process(&handler, batch(vec![record("m-1", &body, 1)]))
        .await;
    assert!(failed_ids(&response).is_empty());
    assert!(handler.handled().is_empty());
    let parked = p.queues().parked();
    assert_eq!(parked.len(), 1);
    assert!(
        parked[0].failure_reason.contains("version 2"),
        "{}",
        parked[0].failure_reason
    );
    assert_eq!(parked[0].body, body);
    assert_eq!(parked[0].event_id.as_deref(), Some(event.id.as_str()));
    assert_eq!(parked[0].event_type.as_deref(), Some("patient.registered"));
    assert!(p.dedup().item(&event.id).is_none());
}

#[tokio::test]
async fn unknown_types_and_garbage_are_parked() {
    let p = processor();
    let handler = Recorder::default();
    let mut json: serde_json::Value = serde_json::from_str(&envelope("x").to_json()).unwrap();
    json["type"] = "exam.exploded".into();
    let mut no_body = record("m-3", "", 1);
    no_body.body = None;
    let response = p
        .process(
            &handler,
            batch(vec![
                record("m-1", &json.to_string(), 1),
                record("m-2", "not json at all", 1),
                no_body,
            ]),
        )
        .await;
    let parked = p.queues().parked();
    assert_eq!(parked.len(), 3);
    assert!(parked[0].failure_reason.contains("exam.exploded"));
    assert!(parked[1].failure_reason.contains("not a JSON envelope"));
    assert_eq!(parked[1].event_id, None);
    assert!(handler.handled().is_empty());
    // A record without a body is unreadable like the others (the fake DLQ accepts the empty
    // body; real SQS would refuse it, and the record would then be retried, never dropped).
    assert!(failed_ids(&response).is_empty());
}

#[test]
fn backoff_doubles_from_one_second_up_to_twelve_hours() {
    let secs: Vec<u64> = (1..=4).map(|n| backoff_delay(n).as_secs()).collect();
    assert_eq!(secs, [1, 2, 4, 8]);
    assert_eq!(backoff_delay(0).as_secs(), 1);
    assert_eq!(backoff_delay(16).as_secs(), 32_768);
    assert_eq!(backoff_delay(17), MAX_VISIBILITY_TIMEOUT);
    assert_eq!(backoff_delay(u32::MAX), MAX_VISIBILITY_TIMEOUT);
}

#[tokio::test]
async fn retries_are_delayed_by_receive_count_and_the_url_is_cached() {
    let p = processor();
    let handler = Recorder::default();
    let records = (1..=4)
        .map(|n| {
            record(
                &format!("m-{n}"),
                &envelope(&format!("retry-{n}")).to_json(),
                n,
            )
        })
        .collect();
    let response = p.process(&handler, batch(records)).await;
    assert_eq!(failed_ids(&response), ["m-1", "m-2", "m-3", "m-4"]);
    for n in 1..=4u32 {
        assert_eq!(
            p.queues().visibility_of(&format!("rh-m-{n}")),
            [1u64 << (n - 1)]
        );
    }
    let calls = p.queues().visibility.lock().unwrap().clone();
    assert!(calls.iter().all(|(url, _, _)| url == QUEUE_URL));
    p.process(
        &handler,
        batch(vec![record("m-5", &envelope("retry-5").to_json(), 9)]),
    )
    .await;
    assert_eq!(p.queues().visibility_of("rh-m-5"), [256]);
    assert_eq!(p.queues().url_lookups.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn retryable_failure_releases_the_claim_for_the_redelivery() {
    let p = processor();
    let handler = Recorder::default();
    let event = envelope("retry-1");
    let body = event.to_json();
    p.process(&handler, batch(vec![record("m-1", &body, 1)]))
        .await;
    assert!(p.dedup().item(&event.id).is_none());
    let response = p
        .process(&handler, batch(vec![record("m-1", &body, 2)]))
        .await;
    assert_eq!(failed_ids(&response), ["m-1"]);
    assert_eq!(handler.times(&event.id), 2);
    assert_eq!(p.queues().visibility_of("rh-m-1"), [1, 2]);
}

#[tokio::test]
async fn park_failure_is_reported_failed_and_released() {
    let p = processor();
    p.queues().park_fails.store(true, Ordering::SeqCst);
    let handler = Recorder::default();
    let event = envelope("reject-1");
    let body = event.to_json();
    let garbage = record("m-2", "{oops", 1);
    let response = p
        .process(&handler, batch(vec![record("m-1", &body, 1), garbage]))
        .await;
    assert_eq!(failed_ids(&response), ["m-1", "m-2"]);
    assert_eq!(p.queues().visibility_of("rh-m-1"), [1]);
    assert!(
        p.dedup().item(&event.id).is_none(),
        "claim must be given back"
    );

    // Once the DLQ works again, the redelivery is parked.
    p.queues().park_fails.store(false, Ordering::SeqCst);
    let response = p
        .process(&handler, batch(vec![record("m-1", &body, 2)]))
        .await;
    assert!(failed_ids(&response).is_empty());
    assert_eq!(p.queues().parked().len(), 1);
}

#[tokio::test]
async fn sns_notification_wrappers_are_unwrapped() {
    let p = processor();
    let handler = Recorder::default();
    let event = envelope("ok-wrapped");
    let wrapper = serde_json::json!({
        "Type": "Notification",
        "MessageId": "5b5ac6f5-0000-0000-0000-000000000000",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:accounts-events",
        "Message": event.to_json(),
        "Timestamp": "2025-01-01T00:00:00.000Z",
    });
    let response = p
        .process(
            &handler,
            batch(vec![record("m-1", &wrapper.to_string(), 1)]),
        )
        .await;
    assert!(failed_ids(&response).is_empty());
    assert_eq!(handler.handled(), [event.id]);
}

#[tokio::test]
async fn a_live_lease_elsewhere_is_retried_later() {
    let p = processor();
    let handler = Recorder::default();
    let event = envelope("ok-busy");
    p.dedup().seed(
        &event.id,
        Item {
            done: false,
            token: "someone-else".into(),
            lease_until_ms: now_ms() + 60_000,
            expires_at_s: 0,
            failure: None,
        },
    );
    let response = p
        .process(&handler, batch(vec![record("m-1", &event.to_json(), 2)]))
        .await;
    assert_eq!(failed_ids(&response), ["m-1"]);
    assert!(handler.handled().is_empty());
    assert_eq!(p.queues().visibility_of("rh-m-1"), [2]);
    assert_eq!(p.dedup().item(&event.id).unwrap().token, "someone-else");
}

#[tokio::test]
async fn an_expired_lease_is_taken_over() {
    let p = processor();
    let handler = Recorder::default();
    let event = envelope("ok-stale");
    p.dedup().seed(
        &event.id,
        Item {
            done: false,
            token: "crashed".into(),
            lease_until_ms: now_ms() - 1,
            expires_at_s: 0,
            failure: None,
        },
    );
    let response = p
        .process(&handler, batch(vec![record("m-1", &event.to_json(), 2)]))
        .await;
    assert!(failed_ids(&response).is_empty());
    assert_eq!(handler.times(&event.id), 1);
    assert!(p.dedup().item(&event.id).unwrap().done);
}

#[tokio::test]
async fn a_done_record_past_its_expiry_no_longer_counts() {
    let p = processor();
    let handler = Recorder::default();
    let event = envelope("ok-old");
    p.dedup().seed(
        &event.id,
        Item {
            done: true,
            token: "old".into(),
            lease_until_ms: 0,
            expires_at_s: now_ms() / 1000 - 10,
            failure: None,
        },
    );
    p.process(&handler, batch(vec![record("m-1", &event.to_json(), 1)]))
        .await;
    assert_eq!(handler.times(&event.id), 1);
}

#[tokio::test]
async fn a_parked_message_moved_back_from_the_dlq_is_processed_again() {
    let p = processor();
    let handler = Recorder::default();
    let event = envelope("ok-fixed");
    let failed_done = Item {
        done: true,
        token: "old".into(),
        lease_until_ms: 0,
        expires_at_s: now_ms() / 1000 + 3600,
        failure: Some("bug".into()),
    };
    p.dedup().seed(&event.id, failed_done);
    // An ordinary duplicate is skipped...
    p.process(&handler, batch(vec![record("m-1", &event.to_json(), 1)]))
        .await;
    assert!(handler.handled().is_empty());
    // ...but the parked copy an operator redrives is taken again.
    let mut redriven = record("m-2", &event.to_json(), 1);
    for (name, value) in [(ATTR_FAILURE_REASON, "bug"), (ATTR_SOURCE_QUEUE, QUEUE_ARN)] {
        let mut attribute = SqsMessageAttribute::default();
        attribute.data_type = Some("String".into());
        attribute.string_value = Some(value.into());
        redriven.message_attributes.insert(name.into(), attribute);
    }
    let response = p.process(&handler, batch(vec![redriven])).await;
    assert!(failed_ids(&response).is_empty());
    assert_eq!(handler.times(&event.id), 1);
    assert_eq!(p.dedup().item(&event.id).unwrap().failure, None);
}

#[tokio::test]
async fn visibility_change_failure_still_reports_the_record_failed() {
    let p = processor();
    p.queues().visibility_fails.store(true, Ordering::SeqCst);
    let handler = Recorder::default();
    let mut no_arn = record("m-2", &envelope("retry-2").to_json(), 1);
    no_arn.event_source_arn = Some("not-an-arn".into());
    let response = p
        .process(
            &handler,
            batch(vec![
                record("m-1", &envelope("retry-1").to_json(), 1),
                no_arn,
            ]),
        )
        .await;
    assert_eq!(failed_ids(&response), ["m-1", "m-2"]);
}

#[tokio::test]
async fn a_store_outage_is_retryable() {
    let p = processor();
    p.dedup().unavailable.store(true, Ordering::SeqCst);
    let handler = Recorder::default();
    let response = p
        .process(
            &handler,
            batch(vec![record("m-1", &envelope("ok-1").to_json(), 3)]),
        )
        .await;
    assert_eq!(failed_ids(&response), ["m-1"]);
    assert!(handler.handled().is_empty());
    assert_eq!(p.queues().visibility_of("rh-m-1"), [4]);
}

#[tokio::test]
async fn records_run_concurrently_within_the_bound() {
    let p = processor().with_concurrency(3);
    let handler = Recorder::default();
    let records = (0..10)
        .map(|i| {
            record(
                &format!("m-{i}"),
                &envelope(&format!("slow-{i}")).to_json(),
                1,
            )
        })
        .collect();
    let response = p.process(&handler, batch(records)).await;
    assert!(failed_ids(&response).is_empty());
    assert_eq!(handler.handled().len(), 10);
    let max = handler.max_in_flight.load(Ordering::SeqCst);
    assert!((2..=3).contains(&max), "max in flight {max}");
}

#[tokio::test]
async fn an_empty_batch_is_an_empty_response() {
    let p = processor();
    let response = p.process(&Recorder::default(), SqsEvent::default()).await;
    assert!(response.batch_item_failures.is_empty());
}

#[test]
fn envelope_errors_convert_to_non_retryable() {
    let failure: HandlerFailure = crate::envelope::EnvelopeError::UnknownType("x.y".into()).into();
    assert!(matches!(failure, HandlerFailure::NonRetryable(r) if r.contains("x.y")));
}
