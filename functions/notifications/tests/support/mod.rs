//! A private notifications stack in the emulator per test: table, queue with its DLQ (redrive
//! after 4 receives, as in the template), a verified SES sender, the consumer with the real
//! adapters and the API router. Events go through the real queue (send, receive, process,
//! delete what succeeded — what Lambda's event source does), so backoff and redelivery are real.
//! What was sent is read back from the emulator's `GET /moto-api/data.json`, filtered by the
//! unique addresses and phone numbers each test uses (that store is global).

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName};
use clinic_notifications::app::{Notifier, Settings};
use clinic_notifications::config::{ApiConfig, ConsumerConfig};
use clinic_notifications::domain::templates::Templates;
use clinic_notifications::domain::{PhoneNumber, SendError, SmsSender};
use clinic_notifications::inbound::events::EventConsumer;
use clinic_notifications::outbound::dynamodb::DynamoNotificationStore;
use clinic_notifications::outbound::ses::SesEmailSender;
use clinic_notifications::outbound::sns::SnsSmsSender;
use clinic_notifications::{Consumer, Processor};
use clinic_shared::envelope::{Envelope, EventData};
use clinic_shared::sqs_batch::{EventHandler, sqs_event_from_messages};
use clinic_shared::testing::{create_table, emulator_config, emulator_url, unique};
use serde_json::{Value, json};
use tower::ServiceExt;

pub const PORTAL: &str = "https://portal.clinic.example";

pub struct Stack {
    pub sdk: aws_config::SdkConfig,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub sns: aws_sdk_sns::Client,
    pub config: ConsumerConfig,
    pub queue_url: String,
    pub queue_arn: String,
    pub dlq_url: String,
    pub processor: Processor,
    pub consumer: Consumer,
    pub router: axum::Router,
}

pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Stack {
    pub async fn new() -> Stack {
        Self::with(Settings::default(), true).await
    }

    /// A stack with these settings; `verify_sender: false` leaves the sender unverified in SES.
    pub async fn with(settings: Settings, verify_sender: bool) -> Stack {
        let sdk = emulator_config().await;
        let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let sns = aws_sdk_sns::Client::new(&sdk);
        let table = unique("notifications");
        create_table(&dynamodb, &table, "NotificationsTable").await;
        let (dlq_url, dlq_arn) = create_queue(&sqs, &unique("notifications-dlq"), None).await;
        let redrive = json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "4"}).to_string();
        let (queue_url, queue_arn) =
            create_queue(&sqs, &unique("notifications"), Some(redrive)).await;
        let sender = format!("{}@clinic.example", unique("no-reply"));
        if verify_sender {
            aws_sdk_sesv2::Client::new(&sdk)
                .create_email_identity()
                .email_identity(&sender)
                .send()
                .await
                .expect("verify the sender identity");
        }
        let config = ConsumerConfig {
            table_name: table.clone(),
            dlq_url: dlq_url.clone(),
            sender_email: sender,
            portal_url: PORTAL.into(),
            settings,
        };
        let (processor, consumer) =
            clinic_notifications::build_consumer(&config, &sdk).expect("templates load");
        let router = clinic_notifications::build_api(
            &ApiConfig {
                table_name: table,
                ingest_scope: "clinic/ingest".into(),
            },
            &sdk,
        );
        Stack {
            sdk,
            dynamodb,
            sqs,
            sns,
            config,
            queue_url,
            queue_arn,
            dlq_url,
            processor,
            consumer,
            router,
        }
    }

    /// A consumer like the deployed one but with another SMS sender (to inject failures).
    pub fn consumer_with_sms<M: SmsSender>(
        &self,
        sms: M,
    ) -> EventConsumer<DynamoNotificationStore, SesEmailSender, M> {
        EventConsumer::new(Notifier::new(
            DynamoNotificationStore::new(self.dynamodb.clone(), self.config.table_name.clone()),
            SesEmailSender::new(
                aws_sdk_sesv2::Client::new(&self.sdk),
                self.config.sender_email.clone(),
            ),
            sms,
            Templates::new(&self.config.portal_url).expect("templates"),
            self.config.settings.clone(),
        ))
    }

    /// Sends envelopes to the queue as SNS raw delivery would (body + `type`/`source`).
    pub async fn enqueue(&self, envelopes: &[Envelope]) {
        for envelope in envelopes {
            self.sqs
                .send_message()
                .queue_url(&self.queue_url)
                .message_body(envelope.to_json())
                .message_attributes("type", text_attribute(envelope.event_type.as_str()))
                .message_attributes("source", text_attribute(&envelope.source))
                .send()
                .await
                .expect("enqueue");
        }
    }

    /// Receives up to `count` messages (waiting at most `timeout`) as one Lambda batch.
    pub async fn receive(&self, count: usize, timeout: Duration) -> SqsEvent {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut messages = Vec::new();
        while messages.len() < count && tokio::time::Instant::now() < deadline {
            let wanted = i32::try_from((count - messages.len()).min(10)).unwrap_or(10);
            let out = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(wanted)
                .wait_time_seconds(1)
                .message_attribute_names("All")
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .send()
                .await
                .expect("receive");
            messages.extend(out.messages.unwrap_or_default());
        }
        sqs_event_from_messages(&messages, &self.queue_arn)
    }

    /// Runs a batch through the processor and deletes what it did not report failed.
    pub async fn run<H: EventHandler>(&self, handler: &H, event: SqsEvent) -> SqsBatchResponse {
        let response = self.processor.process(handler, event.clone()).await;
        let failed: Vec<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        for record in &event.records {
            if failed.contains(&record.message_id.as_deref().unwrap_or_default()) {
                continue;
            }
            if let Some(handle) = &record.receipt_handle {
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(handle)
                    .send()
                    .await
                    .expect("delete processed message");
            }
        }
        response
    }

    /// Enqueues the envelopes, receives them as one batch and runs it with the real consumer.
    pub async fn deliver(&self, envelopes: &[Envelope]) -> SqsBatchResponse {
        self.deliver_with(&self.consumer, envelopes).await
    }

    pub async fn deliver_with<H: EventHandler>(
        &self,
        handler: &H,
        envelopes: &[Envelope],
    ) -> SqsBatchResponse {
        self.enqueue(envelopes).await;
        let event = self.receive(envelopes.len(), Duration::from_secs(10)).await;
        assert_eq!(
            event.records.len(),
            envelopes.len(),
            "all enqueued messages received"
        );
        self.run(handler, event).await
    }

    /// Delivers envelopes one batch each, asserting that none failed.
    pub async fn deliver_ok(&self, envelopes: &[Envelope]) {
        for envelope in envelopes {
            let response = self.deliver(std::slice::from_ref(envelope)).await;
            assert!(
                response.batch_item_failures.is_empty(),
                "{} failed",
                envelope.event_type
            );
        }
    }

    /// Runs an API Gateway v2 event through the API function's router.
    pub async fn call(&self, event: Value) -> Reply {
        let request = lambda_http::request::from_str(&event.to_string())
            .expect("event parses as API Gateway v2");
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("router answers");
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        Reply { status, body }
    }

    /// `GET /v1/me/notifications` as `account_id` (all pages' worth: limit 200).
    pub async fn my_notifications(&self, account_id: &str) -> Vec<Value> {
        let reply = self
            .call(list_event(&patient_claims(account_id), Some("limit=200")))
            .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        reply.body["items"].as_array().cloned().unwrap_or_default()
    }

    /// Messages waiting in the DLQ (received and left there).
    pub async fn dlq_messages(&self) -> Vec<aws_sdk_sqs::types::Message> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&self.dlq_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .visibility_timeout(0)
            .message_attribute_names("All")
            .send()
            .await
            .expect("receive from DLQ");
        out.messages.unwrap_or_default()
    }
}

pub async fn create_queue(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    redrive_policy: Option<String>,
) -> (String, String) {
    let mut request = sqs
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::VisibilityTimeout, "30");
    if let Some(policy) = redrive_policy {
        request = request.attributes(QueueAttributeName::RedrivePolicy, policy);
    }
    let url = request
        .send()
        .await
        .expect("create queue")
        .queue_url
        .expect("queue url");
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue attributes")
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .expect("queue arn");
    (url, arn)
}

pub fn text_attribute(value: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .expect("attribute")
}

// --- events --------------------------------------------------------------------------------------

/// A sample event from `events/notifications/`.
pub fn sample(name: &str) -> Value {
    let path = PathBuf::from(
        std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string()),
    )
    .join("../../events/notifications")
    .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("sample event is JSON")
}

/// The envelope of a sample SQS event, with a fresh id and the current time.
pub fn sample_envelope(name: &str) -> Envelope {
    let event = sample(name);
    let body = event["Records"][0]["body"].as_str().expect("record body");
    let mut envelope = Envelope::parse(body).expect("sample body is an envelope");
    envelope.id = ulid::Ulid::new().to_string();
    envelope.time = jiff::Timestamp::now();
    envelope
}

/// A new envelope of a typed payload, stamped now.
pub fn envelope<T: EventData>(data: T, subject: &str) -> Envelope {
    Envelope::new(
        "clinic.test",
        subject,
        data,
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    )
    .into_raw()
}

/// A person no other test uses: account id, e-mail address, phone number.
pub struct Person {
    pub id: String,
    pub email: String,
    pub phone: String,
}

impl Person {
    pub fn new() -> Person {
        let id = ulid::Ulid::new();
        Person {
            id: id.to_string().to_lowercase(),
            email: format!("{}@example.com", unique("person")),
            // +55 11 9 and eight digits from the id's random part.
            phone: format!("+55119{:08}", id.random() % 100_000_000),
        }
    }
}

/// Verified claims of a patient, as API Gateway's JWT authorizer passes them.
pub fn patient_claims(sub: &str) -> HashMap<String, String> {
    [
        ("sub", sub),
        ("username", sub),
        ("cognito:groups", "[patients]"),
        ("token_use", "access"),
        ("scope", "aws.cognito.signin.user.admin"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The `GET /v1/me/notifications` sample with these claims and query string.
pub fn list_event(claims: &HashMap<String, String>, query: Option<&str>) -> Value {
    let mut event = sample("me-notifications-get.json");
    event["requestContext"]["authorizer"]["jwt"]["claims"] = json!(claims);
    let query = query.unwrap_or_default();
    event["rawQueryString"] = json!(query);
    let params: serde_json::Map<String, Value> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    event["queryStringParameters"] = if params.is_empty() {
        Value::Null
    } else {
        Value::Object(params)
    };
    event
}

// --- the emulator's record of what was sent ------------------------------------------------------

/// The emulator's `GET /moto-api/data.json`. It walks every model while other tests change them,
/// so a read can fail now and then: try again.
async fn emulator_data() -> Value {
    let url = format!("{}/moto-api/data.json", emulator_url());
    let mut last_error = String::new();
    for _ in 0..5 {
        match reqwest::get(&url).await {
            Ok(response) if response.status().is_success() => match response.json().await {
                Ok(data) => return data,
                Err(err) => last_error = err.to_string(),
            },
            Ok(response) => last_error = format!("status {}", response.status()),
            Err(err) => last_error = err.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("emulator data unreadable: {last_error}");
}

/// An e-mail SES accepted (the emulator keeps the HTML part when there is one).
#[derive(Debug, Clone)]
pub struct SentEmail {
    pub source: String,
    pub to: Vec<String>,
    pub subject: String,
    pub body: String,
}

/// An SMS SNS accepted.
#[derive(Debug, Clone)]
pub struct SentSms {
    pub phone: String,
    pub message: String,
}

/// Everything the emulator has sent so far (all tests' messages).
pub struct Outbox {
    pub emails: Vec<SentEmail>,
    pub sms: Vec<SentSms>,
}

impl Outbox {
    /// Everything sent before this call. The emulator records a message before it answers the
    /// send, so a read that started after this call began sees it: concurrent tests share such
    /// a read instead of each walking the whole emulator (which takes seconds when it is busy).
    pub async fn read() -> Arc<Outbox> {
        static LAST: tokio::sync::Mutex<Option<(Instant, Arc<Outbox>)>> =
            tokio::sync::Mutex::const_new(None);
        let asked = Instant::now();
        let mut last = LAST.lock().await;
        if let Some((started, outbox)) = last.as_ref()
            && *started >= asked
        {
            return outbox.clone();
        }
        let started = Instant::now();
        let outbox = Arc::new(Self::fetch().await);
        *last = Some((started, outbox.clone()));
        outbox
    }

    /// Reads `GET /moto-api/data.json`: `ses.Message[]` (`source`, `destinations.ToAddresses`,
    /// `subject`, `body`) and `sns.SMS[]` (`phone_number`, `message`).
    async fn fetch() -> Outbox {
        let data = emulator_data().await;
        let text = |v: &Value, key: &str| v[key].as_str().unwrap_or_default().to_string();
        let emails = data["ses"]["Message"]
            .as_array()
            .map(|all| {
                all.iter()
                    .map(|m| SentEmail {
                        source: text(m, "source"),
                        to: m["destinations"]["ToAddresses"]
                            .as_array()
                            .map(|to| {
                                to.iter()
                                    .filter_map(|a| a.as_str().map(str::to_string))
                                    .collect()
                            })
                            .unwrap_or_default(),
                        subject: text(m, "subject"),
                        body: text(m, "body"),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let sms = data["sns"]["SMS"]
            .as_array()
            .map(|all| {
                all.iter()
                    .map(|m| SentSms {
                        phone: text(m, "phone_number"),
                        message: text(m, "message"),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Outbox { emails, sms }
    }

    pub fn emails_to(&self, address: &str) -> Vec<&SentEmail> {
        self.emails
            .iter()
            .filter(|m| m.to.iter().any(|a| a == address))
            .collect()
    }

    pub fn sms_to(&self, phone: &str) -> Vec<&SentSms> {
        self.sms.iter().filter(|m| m.phone == phone).collect()
    }
}

// --- failure injection ---------------------------------------------------------------------------

/// The real SNS sender, except that the first `failures` messages to one number fail as SNS
/// throttling would.
pub struct FlakySms {
    pub inner: SnsSmsSender,
    pub failing_phone: String,
    pub failures: AtomicUsize,
    pub attempts: AtomicUsize,
}

impl FlakySms {
    pub fn new(stack: &Stack, failing_phone: &str, failures: usize) -> FlakySms {
        FlakySms {
            inner: SnsSmsSender::new(stack.sns.clone()),
            failing_phone: failing_phone.to_string(),
            failures: AtomicUsize::new(failures),
            attempts: AtomicUsize::new(0),
        }
    }
}

impl SmsSender for FlakySms {
    async fn send_sms(&self, to: &PhoneNumber, text: &str) -> Result<String, SendError> {
        if to.as_str() == self.failing_phone {
            self.attempts.fetch_add(1, Ordering::SeqCst);
            let failed = self
                .failures
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if failed {
                return Err(SendError::Transient("Throttling".into()));
            }
        }
        self.inner.send_sms(to, text).await
    }
}
