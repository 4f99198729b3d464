//! Integration tests of the SQS batch helper against the local emulator (moto server): real
//! queues with a DLQ and redrive policy, a real DynamoDB dedup table, real SNS delivery.
//!
//! Needs the emulator running (`scripts/emulator start`); its URL comes from
//! `CLINIC_EMULATOR_URL` (default `http://127.0.0.1:4566`). Every test creates its own uniquely
//! named queue, DLQ and table, so tests run in parallel and in any order.

use std::collections::HashMap;
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use aws_sdk_sqs::config::Credentials;
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName, QueueAttributeName};
use clinic_shared::envelope::{Envelope, PatientRegistered};
use clinic_shared::sqs_batch::{
    ATTR_EVENT_ID, ATTR_EVENT_TYPE, ATTR_FAILURE_REASON, ATTR_SOURCE_QUEUE, BatchProcessor, Claim,
    ClaimOutcome, Completion, DedupError, DedupKey, DedupStore, DynamoDedupStore, EventHandler,
    HandlerFailure, SqsQueueOps, handle_batch, sqs_event_from_messages,
};

const CONSUMER: &str = "it-consumer";

// --- set-up --------------------------------------------------------------------------------------

static LOCAL_ONLY: Once = Once::new();

fn emulator_url() -> String {
    std::env::var("CLINIC_EMULATOR_URL").unwrap_or_else(|_| "http://127.0.0.1:4566".to_string())
}

async fn sdk_config() -> SdkConfig {
    LOCAL_ONLY.call_once(|| {
        // SAFETY: runs once, before any test in this binary reads the environment through the
        // SDK (every test comes through here first, and `call_once` blocks the others until it
        // is done).
        unsafe { std::env::set_var("AWS_EC2_METADATA_DISABLED", "true") };
    });
    clinic_shared::aws::with_https_client(aws_config::defaults(BehaviorVersion::latest()))
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "static"))
        .endpoint_url(emulator_url())
        .retry_config(RetryConfig::standard().with_max_attempts(2))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_attempt_timeout(Duration::from_secs(15))
                .build(),
        )
        .load()
        .await
}

/// One test's resources: a queue redriving to its DLQ after 4 receives, and a dedup table.
struct Stack {
    sdk: SdkConfig,
    sqs: aws_sdk_sqs::Client,
    ddb: aws_sdk_dynamodb::Client,
    queue_url: String,
    queue_arn: String,
    dlq_url: String,
    table: String,
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", ulid::Ulid::new().to_string().to_lowercase())
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> String {
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("GetQueueAttributes");
    attributes
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .cloned()
        .expect("queue ARN")
}

impl Stack {
    async fn new(name: &str) -> Stack {
        let sdk = sdk_config().await;
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let ddb = aws_sdk_dynamodb::Client::new(&sdk);
        let base = unique(name);

        let dlq_url = sqs
            .create_queue()
            .queue_name(format!("{base}-dlq"))
            .attributes(QueueAttributeName::MessageRetentionPeriod, "1209600")
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "cannot reach the emulator at {} (start it with scripts/emulator start): {e:?}",
                    emulator_url()
                )
            })
            .queue_url
            .expect("DLQ URL");
        let dlq_arn = queue_arn(&sqs, &dlq_url).await;
        let redrive = serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "4"});
        let queue_url = sqs
            .create_queue()
            .queue_name(&base)
            .attributes(QueueAttributeName::VisibilityTimeout, "30")
            .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
            .send()
            .await
            .expect("CreateQueue")
            .queue_url
            .expect("queue URL");
        let queue_arn = queue_arn(&sqs, &queue_url).await;

        let table = base.clone();
        ddb.create_table()
            .table_name(&table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(string_attribute("pk"))
            .attribute_definitions(string_attribute("sk"))
            .key_schema(key("pk", KeyType::Hash))
            .key_schema(key("sk", KeyType::Range))
            .send()
            .await
            .expect("CreateTable");

        Stack {
            sdk,
            sqs,
            ddb,
            queue_url,
            queue_arn,
            dlq_url,
            table,
        }
    }

    fn processor(&self) -> BatchProcessor<DynamoDedupStore, SqsQueueOps> {
        BatchProcessor::aws(&self.sdk, &self.table, &self.dlq_url)
    }

    async fn send(&self, body: &str) -> String {
        self.sqs
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .expect("SendMessage")
            .message_id
            .expect("message id")
    }

    /// Receives until `count` messages arrived or `within` passed.
    async fn receive_from(&self, url: &str, count: usize, within: Duration) -> Vec<Message> {
        let started = Instant::now();
        let mut received = Vec::new();
        while received.len() < count && started.elapsed() < within {
            let output = self
                .sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .message_attribute_names("All")
                .send()
                .await
                .expect("ReceiveMessage");
            received.extend(output.messages.unwrap_or_default());
        }
        received
    }

    async fn receive(&self, count: usize) -> Vec<Message> {
        self.receive_from(&self.queue_url, count, Duration::from_secs(10))
            .await
    }

    /// One immediate look at the queue (no waiting).
    async fn peek(&self) -> Vec<Message> {
        self.sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(0)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .expect("ReceiveMessage")
            .messages
            .unwrap_or_default()
    }

    fn event(&self, messages: &[Message]) -> SqsEvent {
        sqs_event_from_messages(messages, &self.queue_arn)
    }

    /// What Lambda does with a partial response: deletes every record not reported failed.
    async fn settle(&self, messages: &[Message], response: &SqsBatchResponse) {
        let failed = failed_ids(response);
        for message in messages {
            if failed
                .iter()
                .any(|id| Some(id.as_str()) == message.message_id())
            {
                continue;
            }
            self.sqs
                .delete_message()
                .queue_url(&self.queue_url)
                .receipt_handle(message.receipt_handle().unwrap_or_default())
                .send()
                .await
                .expect("DeleteMessage");
        }
    }

    async fn dedup_item(&self, event_id: &str) -> Option<HashMap<String, AttributeValue>> {
        self.ddb
            .get_item()
            .table_name(&self.table)
            .key(
                "pk",
                AttributeValue::S(DedupKey::new(CONSUMER, event_id).pk()),
            )
            .key("sk", AttributeValue::S("EVENT".into()))
            .consistent_read(true)
            .send()
            .await
            .expect("GetItem")
            .item
    }
}

fn string_attribute(name: &str) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .expect("attribute definition")
}

fn key(name: &str, key_type: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(key_type)
        .build()
        .expect("key schema element")
}

fn failed_ids(response: &SqsBatchResponse) -> Vec<String> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect()
}

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

fn text(item: &HashMap<String, AttributeValue>, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

fn number(item: &HashMap<String, AttributeValue>, name: &str) -> Option<i64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// Subject `retry-*` → retryable, `reject-*` → non-retryable, anything else → success.
#[derive(Default)]
struct Recorder {
    handled: Mutex<Vec<String>>,
}

impl Recorder {
    fn handled(&self) -> Vec<String> {
        self.handled.lock().expect("lock").clone()
    }
}

impl EventHandler for Recorder {
    fn consumer(&self) -> &str {
        CONSUMER
    }

    async fn handle(&self, event: &Envelope) -> Result<(), HandlerFailure> {
        self.handled.lock().expect("lock").push(event.id.clone());
        if event.subject.starts_with("retry-") {
            Err(HandlerFailure::Retryable("upstream timed out".into()))
        } else if event.subject.starts_with("reject-") {
            Err(HandlerFailure::NonRetryable("exam exm-9 not found".into()))
        } else {
            Ok(())
        }
    }
}

// --- tests ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_retryable_record_is_delayed_by_backoff_and_reported_alone() {
    let stack = Stack::new("sqsb-retry").await;
    let handler = Recorder::default();
    let ok_id = stack.send(&envelope("ok-1").to_json()).await;
    let retry_id = stack.send(&envelope("retry-1").to_json()).await;
    let messages = stack.receive(2).await;
    assert_eq!(messages.len(), 2);
    let event = stack.event(&messages);
    assert!(
        event.records.iter().all(|r| r
            .attributes
            .get("ApproximateReceiveCount")
            .map(String::as_str)
            == Some("1")),
        "receive counts missing: {:?}",
        event
            .records
            .iter()
            .map(|r| &r.attributes)
            .collect::<Vec<_>>()
    );

    let processor = stack.processor();
    let response = handle_batch(&processor, &handler, event).await;
    assert_eq!(failed_ids(&response), vec![retry_id.clone()]);
    let before_first = Instant::now();
    stack.settle(&messages, &response).await;

    // Backoff for the first receive is 1 s: not receivable right away, and back well before the
    // queue's 30 s visibility timeout would have allowed.
    let again = back_after_backoff(&stack, before_first, Duration::from_secs(1)).await;
    assert_eq!(again.len(), 1, "the delayed message did not come back");
    assert_eq!(again[0].message_id(), Some(retry_id.as_str()));
    let count = again[0]
        .attributes()
        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
        .cloned();
    assert_eq!(count.as_deref(), Some("2"));

    // Second failure: 2 s this time, and still not receivable at once.
    let before_second = Instant::now();
    let response = handle_batch(&processor, &handler, stack.event(&again)).await;
    assert_eq!(failed_ids(&response), vec![retry_id.clone()]);
    let third = back_after_backoff(&stack, before_second, Duration::from_secs(2)).await;
    assert_eq!(third.len(), 1);
    let count = third[0]
        .attributes()
        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
        .cloned();
    assert_eq!(count.as_deref(), Some("3"));
    assert!(!failed_ids(&response).contains(&ok_id));
}

/// The message the queue holds back for `backoff` from a moment after `before`, once it is back.
/// That it is not receivable at once is checked only when the first look happened well inside
/// the backoff: on a loaded machine it may not have, and the test then relies on the message
/// coming back with its receive count increased rather than on timing.
async fn back_after_backoff(stack: &Stack, before: Instant, backoff: Duration) -> Vec<Message> {
    let visible = stack.peek().await;
    if before.elapsed() < backoff / 2 {
        assert!(
            visible.is_empty(),
            "receivable again before its backoff ended"
        );
    }
    if visible.is_empty() {
        stack.receive(1).await
    } else {
        visible
    }
}

#[tokio::test]
async fn non_retryable_and_unreadable_records_are_parked_in_the_dlq() {
    let stack = Stack::new("sqsb-park").await;
    let handler = Recorder::default();
    let rejected = envelope("reject-1");
    let rejected_body = rejected.to_json();
    let mut future: serde_json::Value =
        serde_json::from_str(&envelope("ok-future").to_json()).expect("json");
    future["version"] = 7.into();
    let future_body = future.to_string();
    stack.send(&rejected_body).await;
    stack.send(&future_body).await;
    let messages = stack.receive(2).await;
    assert_eq!(messages.len(), 2);

    let response = handle_batch(&stack.processor(), &handler, stack.event(&messages)).await;
    assert!(failed_ids(&response).is_empty(), "{response:?}");
    stack.settle(&messages, &response).await;
    assert_eq!(handler.handled(), vec![rejected.id.clone()]);

    let parked = stack
        .receive_from(&stack.dlq_url, 2, Duration::from_secs(10))
        .await;
    assert_eq!(parked.len(), 2);
    let attribute = |message: &Message, name: &str| {
        message
            .message_attributes()
            .and_then(|a| a.get(name))
            .and_then(|v| v.string_value())
            .map(str::to_string)
    };
    for message in &parked {
        assert_eq!(
            attribute(message, ATTR_SOURCE_QUEUE).as_deref(),
            Some(stack.queue_arn.as_str())
        );
        let reason = attribute(message, ATTR_FAILURE_REASON).expect("failureReason");
        match message.body() {
            Some(body) if body == rejected_body => {
                assert_eq!(reason, "exam exm-9 not found");
                assert_eq!(
                    attribute(message, ATTR_EVENT_ID).as_deref(),
                    Some(rejected.id.as_str())
                );
                assert_eq!(
                    attribute(message, ATTR_EVENT_TYPE).as_deref(),
                    Some("patient.registered")
                );
            }
            Some(body) if body == future_body => {
                assert!(reason.contains("version 7"), "{reason}");
            }
            other => panic!("unexpected parked body {other:?}"),
        }
    }

    let item = stack.dedup_item(&rejected.id).await.expect("dedup item");
    assert_eq!(text(&item, "state").as_deref(), Some("DONE"));
    assert_eq!(text(&item, "outcome").as_deref(), Some("FAILED"));
    assert_eq!(
        text(&item, "failureReason").as_deref(),
        Some("exam exm-9 not found")
    );
    // Nothing left on the source queue.
    assert!(stack.peek().await.is_empty());
}

#[tokio::test]
async fn dedup_across_two_deliveries_uses_dynamodb() {
    let stack = Stack::new("sqsb-dedup").await;
    let handler = Recorder::default();
    let event = envelope("ok-twice");
    // Two deliveries of one event (SNS is at-least-once): two SQS messages, same envelope id.
    stack.send(&event.to_json()).await;
    stack.send(&event.to_json()).await;
    let messages = stack.receive(2).await;
    assert_eq!(messages.len(), 2);

    // Each in its own batch, as two invocations would see them, with separate processors (two
    // containers) sharing only the table.
    for message in &messages {
        let batch = std::slice::from_ref(message);
        let response = handle_batch(&stack.processor(), &handler, stack.event(batch)).await;
        assert!(failed_ids(&response).is_empty(), "{response:?}");
        stack.settle(batch, &response).await;
    }
    assert_eq!(handler.handled(), vec![event.id.clone()]);

    let item = stack.dedup_item(&event.id).await.expect("dedup item");
    assert_eq!(text(&item, "state").as_deref(), Some("DONE"));
    assert_eq!(text(&item, "outcome").as_deref(), Some("SUCCEEDED"));
    assert_eq!(number(&item, "leaseUntil"), None);
    let expires_at = number(&item, "expiresAt").expect("expiresAt");
    let in_seven_days = now_ms() / 1000 + 7 * 24 * 3600;
    assert!((in_seven_days - 60..=in_seven_days + 60).contains(&expires_at));
}

#[tokio::test]
async fn the_dynamodb_store_decides_by_stored_timestamps() {
    let stack = Stack::new("sqsb-store").await;
    let store = DynamoDedupStore::new(stack.ddb.clone(), &stack.table);
    let key = DedupKey::new(CONSUMER, ulid::Ulid::new().to_string());
    let now = now_ms();
    let claim = |token: &str, now_ms: i64, take_over_failed: bool| Claim {
        key: key.clone(),
        token: token.to_string(),
        event_type: "patient.registered".into(),
        now_ms,
        lease_until_ms: now_ms + 15_000,
        take_over_failed,
    };

    assert_eq!(
        store.claim(&claim("a", now, false)).await,
        Ok(ClaimOutcome::Acquired)
    );
    assert_eq!(
        store.claim(&claim("b", now + 1_000, false)).await,
        Ok(ClaimOutcome::InProgress {
            lease_until_ms: now + 15_000
        })
    );
    // The lease ran out (decided by the stored `leaseUntil`): taken over.
    let later = now + 20_000;
    assert_eq!(
        store.claim(&claim("b", later, false)).await,
        Ok(ClaimOutcome::Acquired)
    );
    let expires_at_s = later / 1000 + 3600;
    assert_eq!(
        store
            .complete(&key, "a", &Completion::Succeeded, later, expires_at_s)
            .await,
        Err(DedupError::ClaimLost)
    );
    assert_eq!(store.release(&key, "a").await, Err(DedupError::ClaimLost));
    assert_eq!(
        store
            .complete(&key, "b", &Completion::Succeeded, later, expires_at_s)
            .await,
        Ok(())
    );
    assert_eq!(
        store.claim(&claim("c", later + 1_000, false)).await,
        Ok(ClaimOutcome::AlreadyDone)
    );
    // Past `expiresAt` the record no longer counts, whether or not TTL removed it.
    let much_later = (expires_at_s + 1) * 1000;
    assert_eq!(
        store.claim(&claim("c", much_later, false)).await,
        Ok(ClaimOutcome::Acquired)
    );
    let failed = Completion::Failed {
        reason: "bad data".into(),
    };
    assert_eq!(
        store
            .complete(&key, "c", &failed, much_later, much_later / 1000 + 3600)
            .await,
        Ok(())
    );
    assert_eq!(
        store.claim(&claim("d", much_later + 1, false)).await,
        Ok(ClaimOutcome::AlreadyDone)
    );
    // A parked message moved back from the DLQ may take a failed record again.
    assert_eq!(
        store.claim(&claim("d", much_later + 1, true)).await,
        Ok(ClaimOutcome::Acquired)
    );
    assert_eq!(store.release(&key, "d").await, Ok(()));
    assert!(stack.dedup_item(&key.event_id).await.is_none());
    assert_eq!(
        store.claim(&claim("e", much_later + 2, false)).await,
        Ok(ClaimOutcome::Acquired)
    );
}

#[tokio::test]
async fn sns_notifications_without_raw_delivery_are_unwrapped() {
    let stack = Stack::new("sqsb-sns").await;
    let sns = aws_sdk_sns::Client::new(&stack.sdk);
    let topic_arn = sns
        .create_topic()
        .name(unique("sqsb-topic"))
        .send()
        .await
        .expect("CreateTopic")
        .topic_arn
        .expect("topic ARN");
    sns.subscribe()
        .topic_arn(&topic_arn)
        .protocol("sqs")
        .endpoint(&stack.queue_arn)
        .send()
        .await
        .expect("Subscribe");
    let event = envelope("ok-via-sns");
    sns.publish()
        .topic_arn(&topic_arn)
        .message(event.to_json())
        .send()
        .await
        .expect("Publish");

    let messages = stack.receive(1).await;
    assert_eq!(messages.len(), 1);
    let body = messages[0].body().unwrap_or_default();
    assert!(body.contains("\"Type\""), "not an SNS wrapper: {body}");
    let handler = Recorder::default();
    let response = handle_batch(&stack.processor(), &handler, stack.event(&messages)).await;
    assert!(failed_ids(&response).is_empty());
    assert_eq!(handler.handled(), [event.id]);
}

#[tokio::test]
async fn the_entry_helper_runs_under_service_fn() {
    use lambda_runtime::{Context, LambdaEvent, service_fn};
    use tower::ServiceExt;

    let stack = Stack::new("sqsb-entry").await;
    let processor = stack.processor();
    let handler = Recorder::default();
    let retry_id = stack.send(&envelope("retry-entry").to_json()).await;
    stack.send(&envelope("ok-entry").to_json()).await;
    let messages = stack.receive(2).await;
    assert_eq!(messages.len(), 2);

    // Services may also spawn the processing: the future is `Send` with the AWS adapters.
    fn assert_send<T: Send>(_: &T) {}
    assert_send(&handle_batch(&processor, &handler, SqsEvent::default()));

    let service = service_fn(|event: LambdaEvent<SqsEvent>| async {
        Ok::<_, lambda_runtime::Error>(handle_batch(&processor, &handler, event.payload).await)
    });
    let response = service
        .oneshot(LambdaEvent::new(stack.event(&messages), Context::default()))
        .await
        .expect("handler result");
    assert_eq!(
        serde_json::to_value(&response).expect("json"),
        serde_json::json!({"batchItemFailures": [{"itemIdentifier": retry_id}]})
    );
}
