//! A private exam results stack in the emulator per test: table (with the service's indexes),
//! exam events topic with a probe queue, ingest queue, DLQs. Requests are the sample API Gateway
//! events from `events/exam-results/`, adjusted per test and run through the function's real
//! router; consumer batches are the sample SQS events with their bodies replaced, run through
//! the real consumers.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use clinic_exam_results::config::{ApiConfig, ConsumerConfig};
use clinic_exam_results::inbound::events::EventsHandler;
use clinic_exam_results::inbound::ingest::IngestConsumer;
use clinic_exam_results::outbound::dynamodb::DynamoStore;
use clinic_shared::envelope::{
    AccountDeleted, Envelope, EventData, FileKind, FileProcessed, HospitalRegistered,
    PatientRegistered, Role,
};
use clinic_shared::idempotency::IdempotencyConfig;
use clinic_shared::outbox::{DynamoOutbox, OutboxRelay, SnsPublisher};
use clinic_shared::sqs_batch::{
    BatchProcessor, DynamoDedupStore, SqsQueueOps, handle_batch, sqs_event_from_messages,
};
use clinic_shared::testing::{TopicProbe, create_table, emulator_config, unique};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

pub const TRACE: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

pub struct Stack {
    pub sdk: aws_config::SdkConfig,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub sns: aws_sdk_sns::Client,
    pub config: ApiConfig,
    pub topic_arn: String,
    pub probe: TopicProbe,
    pub router: axum::Router,
    pub ingest_queue_arn: String,
    pub ingest_dlq_url: String,
    pub events_dlq_url: String,
    pub events: (
        BatchProcessor<DynamoDedupStore, SqsQueueOps>,
        EventsHandler<DynamoStore>,
    ),
    pub ingest: IngestConsumer<DynamoStore, SqsQueueOps>,
}

pub use clinic_shared::testing::Reply;

/// A registered hospital and the claims of its client-credentials token.
#[derive(Clone)]
pub struct HospitalFixture {
    pub id: String,
    pub name: String,
    pub client_id: String,
    pub claims: HashMap<String, String>,
}

async fn queue(sqs: &aws_sdk_sqs::Client, prefix: &str) -> (String, String) {
    let url = sqs
        .create_queue()
        .queue_name(unique(prefix))
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

/// The functions' JSON log lines, written through the test harness's output capture: shown with
/// a failing test, not mixed into the output of passing ones.
struct CapturedOutput;

impl std::io::Write for CapturedOutput {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        print!("{}", String::from_utf8_lossy(buf));
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Stack {
    pub async fn new() -> Stack {
        Stack::on_clock(clinic_shared::clock::system()).await
    }

    /// A stack whose API reads the time from `clock`.
    pub async fn on_clock(clock: clinic_shared::clock::SharedClock) -> Stack {
        let _ = tracing::subscriber::set_global_default(clinic_shared::telemetry::json_subscriber(
            || CapturedOutput,
        ));
        let sdk = emulator_config().await;
        let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let sns = aws_sdk_sns::Client::new(&sdk);
        let table = unique("exam-results");
        create_table(&dynamodb, &table, "ExamResultsTable").await;
        let topic_arn = sns
            .create_topic()
            .name(unique("exam-events"))
            .send()
            .await
            .expect("topic")
            .topic_arn
            .expect("topic arn");
        let probe = TopicProbe::subscribe(&sdk, &topic_arn).await;
        let (ingest_queue_url, ingest_queue_arn) = queue(&sqs, "ingest").await;
        let (ingest_dlq_url, _) = queue(&sqs, "ingest-dlq").await;
        let (events_dlq_url, _) = queue(&sqs, "events-dlq").await;
        let config = ApiConfig {
            table_name: table.clone(),
            ingest_queue_url,
            ingest_scope: "clinic/ingest".into(),
            cache: Default::default(),
        };
        // One store for every entry point. Concurrent transactions go to the emulator as they
        // come: it serializes them as DynamoDB does (scripts/emulator.py).
        let store = DynamoStore::new(dynamodb.clone(), table.clone());
        let router = clinic_exam_results::api_with_store(
            &config,
            IdempotencyConfig::default(),
            &sdk,
            store.clone(),
            clock,
        );
        let events = clinic_exam_results::events_consumer_with_store(
            &ConsumerConfig {
                table_name: table.clone(),
                dlq_url: events_dlq_url.clone(),
            },
            &sdk,
            store.clone(),
        );
        let ingest = clinic_exam_results::ingest_consumer_with_store(
            &ConsumerConfig {
                table_name: table,
                dlq_url: ingest_dlq_url.clone(),
            },
            &sdk,
            store,
        );
        Stack {
            sdk,
            dynamodb,
            sqs,
            sns,
            config,
            topic_arn,
            probe,
            router,
            ingest_queue_arn,
            ingest_dlq_url,
            events_dlq_url,
            events,
            ingest,
        }
    }

    /// Runs an API Gateway v2 event through the function's router.
    pub async fn call(&self, event: Value) -> Reply {
        clinic_shared::testing::call(&self.router, event).await
    }

    /// Delivers envelopes to the events consumer as one SQS batch (built from `sample`).
    pub async fn deliver(&self, sample_name: &str, envelopes: &[Envelope]) -> SqsBatchResponse {
        let template = sample(sample_name);
        let record = template["Records"][0].clone();
        let records: Vec<Value> = envelopes
            .iter()
            .map(|e| {
                let mut r = record.clone();
                r["messageId"] = json!(ulid::Ulid::new().to_string());
                r["body"] = json!(e.to_json());
                r
            })
            .collect();
        let event: SqsEvent =
            serde_json::from_value(json!({ "Records": records })).expect("SQS event");
        let (processor, handler) = &self.events;
        handle_batch(processor, handler, event).await
    }

    /// Registers a hospital through `hospital.registered`.
    pub async fn hospital(&self, name: &str) -> HospitalFixture {
        let id = ulid::Ulid::new().to_string();
        let client_id = unique("client").replace('-', "");
        let event = envelope(
            &id,
            HospitalRegistered {
                hospital_id: id.clone(),
                name: name.to_string(),
                cnes: "2077485".into(),
                client_id: client_id.clone(),
            },
        );
        let response = self
            .deliver("events-hospital-registered.json", &[event])
            .await;
        assert!(response.batch_item_failures.is_empty());
        HospitalFixture {
            id,
            name: name.to_string(),
            claims: hospital_claims(&client_id),
            client_id,
        }
    }

    /// Registers a patient through `patient.registered`: the account verified the address the
    /// hospitals have on file for this CPF.
    pub async fn patient_registered(&self, account_id: &str, cpf: &str) -> SqsBatchResponse {
        let event = envelope(
            account_id,
            PatientRegistered {
                account_id: account_id.to_string(),
                match_key: match_key(cpf),
            },
        );
        self.deliver("events-patient-registered.json", &[event])
            .await
    }

    pub async fn account_deleted(&self, account_id: &str) -> SqsBatchResponse {
        let event = envelope(
            account_id,
            AccountDeleted {
                account_id: account_id.to_string(),
                role: Role::Patient,
            },
        );
        self.deliver("events-account-deleted.json", &[event]).await
    }

    pub async fn file_processed(
        &self,
        exam_id: &str,
        file_id: &str,
        kind: FileKind,
    ) -> SqsBatchResponse {
        let event = envelope(
            file_id,
            FileProcessed {
                file_id: file_id.to_string(),
                exam_id: exam_id.to_string(),
                kind,
                size: 1024,
                sha256: "ab".repeat(32),
            },
        );
        self.deliver("events-file-processed.json", &[event]).await
    }

    /// Publishes slots for a hospital as staff; returns the stored slots.
    pub async fn slots(&self, hospital: &HospitalFixture, slots: Value) -> Vec<Value> {
        let reply = self
            .call(event(
                "slots-put.json",
                &staff_claims(),
                Some(slots),
                &[("id", &hospital.id)],
            ))
            .await;
        assert_eq!(reply.status, 200, "{reply:?}");
        reply.body["items"].as_array().cloned().unwrap_or_default()
    }

    /// One slot of `capacity` places starting `in_hours` from now; returns its id.
    pub async fn slot(
        &self,
        hospital: &HospitalFixture,
        exam_type: &str,
        in_hours: i64,
        capacity: u32,
    ) -> String {
        let slots = self
            .slots(hospital, json!([slot_json(exam_type, in_hours, capacity)]))
            .await;
        slots[0]["id"].as_str().expect("slot id").to_string()
    }

    /// Books as `patient` with a fresh idempotency key.
    pub async fn book(&self, patient: &HashMap<String, String>, slot_id: &str) -> Reply {
        self.call(booking(patient, slot_id, &ulid::Ulid::new().to_string()))
            .await
    }

    /// Books and returns the exam id (asserting 201).
    pub async fn booked(&self, patient: &HashMap<String, String>, slot_id: &str) -> String {
        let reply = self.book(patient, slot_id).await;
        assert_eq!(reply.status, 201, "{reply:?}");
        reply.body["examId"].as_str().expect("exam id").to_string()
    }

    pub async fn get_exam(&self, claims: &HashMap<String, String>, exam_id: &str) -> Reply {
        self.call(event("exam-get.json", claims, None, &[("id", exam_id)]))
            .await
    }

    /// Sends a batch as `hospital`; asserts 202 and returns the batch id.
    pub async fn send_batch(&self, hospital: &HospitalFixture, items: Value) -> String {
        let reply = self
            .post_batch(&hospital.claims, json!({ "items": items }))
            .await;
        assert_eq!(reply.status, 202, "{reply:?}");
        reply.body["batchId"]
            .as_str()
            .expect("batch id")
            .to_string()
    }

    pub async fn post_batch(&self, claims: &HashMap<String, String>, body: Value) -> Reply {
        let mut e = event("integrations-batch-post.json", claims, Some(body), &[]);
        if let Some(headers) = e["headers"].as_object_mut() {
            headers.remove("idempotency-key");
        }
        self.call(e).await
    }

    pub async fn batch(&self, hospital: &HospitalFixture, batch_id: &str) -> Reply {
        self.call(event(
            "integrations-batch-get.json",
            &hospital.claims,
            None,
            &[("batchId", batch_id)],
        ))
        .await
    }

    /// Receives everything on the ingest queue and runs it through the ingest consumer, as
    /// Lambda would (deleting what the consumer did not report failed); returns how many
    /// records were processed.
    pub async fn run_ingest(&self) -> usize {
        let url = self.config.ingest_queue_url.clone();
        let mut processed = 0;
        let mut idle = 0;
        while idle < 2 {
            let out = self
                .sqs
                .receive_message()
                .queue_url(&url)
                .max_number_of_messages(10)
                .wait_time_seconds(0)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .message_attribute_names("All")
                .send()
                .await
                .expect("receive");
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() {
                idle += 1;
                continue;
            }
            idle = 0;
            let event = sqs_event_from_messages(&messages, &self.ingest_queue_arn);
            let response = self.ingest.process(event).await;
            let failed: Vec<String> = response
                .batch_item_failures
                .iter()
                .map(|f| f.item_identifier.clone())
                .collect();
            assert!(failed.is_empty(), "ingest items failed: {failed:?}");
            for m in &messages {
                if let Some(handle) = m.receipt_handle() {
                    self.sqs
                        .delete_message()
                        .queue_url(&url)
                        .receipt_handle(handle)
                        .send()
                        .await
                        .expect("delete");
                }
            }
            processed += messages.len();
        }
        processed
    }

    /// Publishes whatever the outbox holds and returns the events that reached the topic.
    pub async fn published(&self, expected: usize) -> Vec<Envelope> {
        let relay = OutboxRelay::new(
            SnsPublisher::new(self.sns.clone(), self.topic_arn.clone()),
            DynamoOutbox::new(self.dynamodb.clone(), self.config.table_name.clone()),
            SignedDuration::ZERO,
        );
        relay.sweep().await.expect("sweep");
        self.probe.receive(expected, Duration::from_secs(5)).await
    }

    /// Publishes the outbox and asserts nothing more arrives within a short wait.
    pub async fn nothing_published(&self) {
        let extra = self.published(1).await;
        assert!(extra.is_empty(), "unexpected events: {extra:?}");
    }

    /// A stored item, read directly.
    pub async fn item(
        &self,
        pk: &str,
        sk: &str,
    ) -> Option<HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
        self.dynamodb
            .get_item()
            .table_name(&self.config.table_name)
            .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(pk.into()))
            .key("sk", aws_sdk_dynamodb::types::AttributeValue::S(sk.into()))
            .consistent_read(true)
            .send()
            .await
            .expect("get item")
            .item
    }

    /// The stored `booked` count of a slot.
    pub async fn booked_count(&self, slot_id: &str) -> u64 {
        self.item(&format!("SLOT#{slot_id}"), "SLOT")
            .await
            .and_then(|i| i.get("booked").and_then(|b| b.as_n().ok()).cloned())
            .and_then(|n| n.parse().ok())
            .expect("slot with booked")
    }

    /// Messages parked in a DLQ (their `failureReason` attributes).
    pub async fn parked(&self, dlq_url: &str) -> Vec<String> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(dlq_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .message_attribute_names("All")
            .send()
            .await
            .expect("receive dlq");
        out.messages()
            .iter()
            .map(|m| {
                m.message_attributes()
                    .and_then(|a| a.get("failureReason"))
                    .and_then(|v| v.string_value())
                    .unwrap_or_default()
                    .to_string()
            })
            .collect()
    }
}

/// A sample event from `events/exam-results/`.
pub fn sample(name: &str) -> Value {
    let path = PathBuf::from(
        std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string()),
    )
    .join("../../events/exam-results")
    .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("sample event is JSON")
}

/// A route's sample event with these verified claims (as the route's authorizer passes them
/// on), body and path parameters (the path is rebuilt from the route key).
pub fn event(
    name: &str,
    claims: &HashMap<String, String>,
    body: Option<Value>,
    params: &[(&str, &str)],
) -> Value {
    let mut e = sample(name);
    // Routes behind the Lambda authorizer get its context; the others the JWT authorizer's.
    if e["requestContext"]["authorizer"].get("lambda").is_some() {
        e["requestContext"]["authorizer"]["lambda"] = json!(claims);
    } else {
        e["requestContext"]["authorizer"]["jwt"]["claims"] = json!(claims);
        e["requestContext"]["authorizer"]["jwt"]["scopes"] = Value::Null;
    }
    if let Some(body) = body {
        let text = body.to_string();
        e["headers"]["content-length"] = json!(text.len().to_string());
        e["body"] = Value::String(text);
        e["headers"]["content-type"] = json!("application/json");
    }
    if !params.is_empty() {
        let route = e["routeKey"].as_str().unwrap_or_default().to_string();
        let mut path = route
            .split_once(' ')
            .map(|(_, p)| p.to_string())
            .unwrap_or_default();
        for (k, v) in params {
            path = path.replace(&format!("{{{k}}}"), v);
            e["pathParameters"][*k] = json!(v);
        }
        e["rawPath"] = json!(path);
        e["requestContext"]["http"]["path"] = json!(path);
    }
    e
}

/// The same event with another query string.
pub fn with_query(mut e: Value, query: &str) -> Value {
    e["rawQueryString"] = json!(query);
    let mut params = serde_json::Map::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        params.insert(k.to_string(), json!(v));
    }
    if params.is_empty() {
        if let Some(o) = e.as_object_mut() {
            o.remove("queryStringParameters");
        }
    } else {
        e["queryStringParameters"] = Value::Object(params);
    }
    e
}

/// The same event as it arrives when no authorizer ran.
pub fn without_auth(mut e: Value) -> Value {
    if let Some(ctx) = e["requestContext"].as_object_mut() {
        ctx.remove("authorizer");
    }
    e
}

/// A booking request with this idempotency key.
pub fn booking(patient: &HashMap<String, String>, slot_id: &str, key: &str) -> Value {
    let mut e = event(
        "appointments-post.json",
        patient,
        Some(json!({ "slotId": slot_id })),
        &[],
    );
    e["headers"]["idempotency-key"] = json!(key);
    e
}

fn person(group: &str) -> HashMap<String, String> {
    let id = uuid_like();
    [
        ("sub", id.as_str()),
        ("username", id.as_str()),
        ("cognito:groups", group),
        ("token_use", "access"),
        ("scope", "aws.cognito.signin.user.admin"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// An id shaped like a Cognito `sub`.
pub fn uuid_like() -> String {
    let hex = format!("{:032x}", ulid::Ulid::new().0);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

pub fn patient_claims() -> HashMap<String, String> {
    person("[patients]")
}

pub fn doctor_claims() -> HashMap<String, String> {
    person("[doctors]")
}

pub fn staff_claims() -> HashMap<String, String> {
    person("[staff]")
}

/// Claims of a hospital's client-credentials token.
pub fn hospital_claims(client_id: &str) -> HashMap<String, String> {
    [
        ("sub", client_id),
        ("client_id", client_id),
        ("token_use", "access"),
        ("scope", "clinic/ingest"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

pub fn sub(claims: &HashMap<String, String>) -> String {
    claims["sub"].clone()
}

/// RFC 3339 time `hours` from now, whole seconds.
pub fn in_hours(hours: i64) -> String {
    let now = Timestamp::from_second(Timestamp::now().as_second()).expect("now");
    (now + SignedDuration::from_hours(hours)).to_string()
}

/// A slot body starting `in_hours` from now, 30 minutes long.
pub fn slot_json(exam_type: &str, in_hours_from_now: i64, capacity: u32) -> Value {
    let start = Timestamp::from_second(Timestamp::now().as_second()).expect("now")
        + SignedDuration::from_hours(in_hours_from_now);
    json!({
        "examType": exam_type,
        "start": start.to_string(),
        "end": (start + SignedDuration::from_mins(30)).to_string(),
        "capacity": capacity,
    })
}

/// A batch item, with the e-mail the hospital has on file for this CPF ([`email_of`]).
pub fn item(external_id: &str, version: u64, cpf: &str, status: &str) -> Value {
    json!({
        "externalId": external_id, "version": version, "patientCpf": cpf,
        "patientEmail": email_of(cpf),
        "examType": "blood-count", "status": status, "scheduledAt": in_hours(48),
        "doctorCrm": "123456/SP"
    })
}

/// The address the tests' hospitals have on file for the patient with this CPF.
pub fn email_of(cpf: &str) -> String {
    format!("patient.{cpf}@example.com")
}

/// The match key of the patient with this CPF who verified [`email_of`] it.
pub fn match_key(cpf: &str) -> String {
    clinic_shared::values::patient_match_key(
        &clinic_shared::values::Cpf::parse(cpf).expect("valid CPF"),
        &clinic_shared::values::Email::parse(&email_of(cpf)).expect("valid e-mail"),
    )
}

/// An envelope as another service would publish it.
pub fn envelope<T: EventData>(subject: &str, data: T) -> Envelope {
    Envelope::new("clinic.test", subject, data, TRACE).into_raw()
}

pub use clinic_shared::testing::random_cpf;

pub use clinic_shared::testing::field_names;

/// Ids of the items of a list reply.
pub fn ids(reply: &Reply) -> Vec<String> {
    reply.body["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The exam id of a hospital's pushed exam.
pub fn pushed_exam_id(hospital: &HospitalFixture, external_id: &str) -> String {
    clinic_exam_results::domain::Exam::id_for_external(&hospital.id, external_id)
}
