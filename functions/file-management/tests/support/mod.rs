//! A private file-management stack in the emulator per test: table, buckets (uploads announcing
//! new objects to its queue), queues with their DLQs, the file events topic with a probe, the
//! API router and every consumer with its batch processor. Requests and consumer batches start
//! from the sample events in `events/file-management/`.

#![allow(dead_code)]

pub mod pdfs;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_s3::types::{
    BucketVersioningStatus, Event, FilterRule, FilterRuleName, NotificationConfiguration,
    NotificationConfigurationFilter, QueueConfiguration, S3KeyFilter, VersioningConfiguration,
};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use clinic_file_management::Processor;
use clinic_file_management::config::{ApiConfig, ConsumerConfig};
use clinic_file_management::inbound::events::{
    ProjectionHandler, ReportDlqHandler, ReportJobHandler, UploadsHandler,
};
use clinic_file_management::outbound::dynamodb::DynamoStore;
use clinic_file_management::outbound::pdf_sandbox::SandboxedPdfInspector;
use clinic_file_management::outbound::s3::S3Storage;
use clinic_file_management::outbound::sqs::SqsReportQueue;
use clinic_shared::envelope::{AccountDeleted, Envelope, EventData, ExamCreated, ExamStatus};
use clinic_shared::outbox::{DynamoOutbox, OutboxRelay, SnsPublisher};
use clinic_shared::sqs_batch::{handle_batch, sqs_event_from_messages};
use clinic_shared::testing::{TopicProbe, create_table, emulator_config, unique};
use serde_json::{Value, json};

pub const TRACE: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

/// A queue and its DLQ.
pub struct Queue {
    pub url: String,
    pub arn: String,
    pub dlq_url: String,
    pub dlq_arn: String,
}

pub struct Stack {
    pub sdk: aws_config::SdkConfig,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub s3: aws_sdk_s3::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub sns: aws_sdk_sns::Client,
    pub table: String,
    pub uploads_bucket: String,
    pub results_bucket: String,
    pub uploads: Queue,
    pub reports: Queue,
    pub projection: Queue,
    pub topic_arn: String,
    pub probe: TopicProbe,
    pub router: axum::Router,
    pub work_dir: PathBuf,
    pub http: reqwest::Client,
}

pub use clinic_shared::testing::Reply;

async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> String {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue attributes")
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .expect("queue arn")
}

/// A queue (visibility `visibility` s) whose messages go to a DLQ after 4 receives.
async fn queue(sqs: &aws_sdk_sqs::Client, name: &str, visibility: u32) -> Queue {
    let dlq_url = sqs
        .create_queue()
        .queue_name(unique(&format!("{name}-dlq")))
        .send()
        .await
        .expect("dlq")
        .queue_url
        .expect("dlq url");
    let dlq_arn = queue_arn(sqs, &dlq_url).await;
    let redrive = json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 4}).to_string();
    let url = sqs
        .create_queue()
        .queue_name(unique(name))
        .attributes(QueueAttributeName::RedrivePolicy, redrive)
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            visibility.to_string(),
        )
        .send()
        .await
        .expect("queue")
        .queue_url
        .expect("queue url");
    let arn = queue_arn(sqs, &url).await;
    Queue {
        url,
        arn,
        dlq_url,
        dlq_arn,
    }
}

async fn bucket(s3: &aws_sdk_s3::Client, prefix: &str) -> String {
    let name = unique(prefix);
    s3.create_bucket()
        .bucket(&name)
        .send()
        .await
        .expect("bucket");
    s3.put_bucket_versioning()
        .bucket(&name)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .expect("versioning");
    name
}

impl Stack {
    pub async fn new() -> Stack {
        let sdk = emulator_config().await;
        let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
        let s3 = clinic_file_management::outbound::s3::client(&sdk);
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let sns = aws_sdk_sns::Client::new(&sdk);
        let table = unique("files");
        create_table(&dynamodb, &table, "FilesTable").await;
        let uploads_bucket = bucket(&s3, "uploads").await;
        let results_bucket = bucket(&s3, "results").await;
        let uploads = queue(&sqs, "uploads", 30).await;
        let reports = queue(&sqs, "reports", 30).await;
        let projection = queue(&sqs, "projection", 30).await;
        s3.put_bucket_notification_configuration()
            .bucket(&uploads_bucket)
            .notification_configuration(
                NotificationConfiguration::builder()
                    .queue_configurations(
                        QueueConfiguration::builder()
                            .queue_arn(&uploads.arn)
                            .events(Event::from("s3:ObjectCreated:*"))
                            .filter(
                                NotificationConfigurationFilter::builder()
                                    .key(
                                        S3KeyFilter::builder()
                                            .filter_rules(
                                                FilterRule::builder()
                                                    .name(FilterRuleName::Prefix)
                                                    .value("incoming/")
                                                    .build(),
                                            )
                                            .build(),
                                    )
                                    .build(),
                            )
                            .build()
                            .expect("queue configuration"),
                    )
                    .build(),
            )
            .send()
            .await
            .expect("notifications");
        let topic_arn = sns
            .create_topic()
            .name(unique("file-events"))
            .send()
            .await
            .expect("topic")
            .topic_arn
            .expect("topic arn");
        let probe = TopicProbe::subscribe(&sdk, &topic_arn).await;
        let work_dir = std::env::temp_dir().join(unique("fm-work"));
        std::fs::create_dir_all(&work_dir).expect("work dir");
        let api = ApiConfig {
            table_name: table.clone(),
            uploads_bucket: uploads_bucket.clone(),
            results_bucket: results_bucket.clone(),
            reports_queue_url: reports.url.clone(),
            ingest_scope: "clinic/ingest".into(),
        };
        let router = clinic_file_management::build_api(&api, &sdk).expect("api");
        Stack {
            sdk,
            dynamodb,
            s3,
            sqs,
            sns,
            table,
            uploads_bucket,
            results_bucket,
            uploads,
            reports,
            projection,
            topic_arn,
            probe,
            router,
            work_dir,
            http: reqwest::Client::new(),
        }
    }

    pub fn consumer_config(&self, dlq_url: &str) -> ConsumerConfig {
        ConsumerConfig {
            table_name: self.table.clone(),
            uploads_bucket: self.uploads_bucket.clone(),
            results_bucket: self.results_bucket.clone(),
            dlq_url: dlq_url.to_string(),
            work_dir: self.work_dir.clone(),
            report_lease_seconds: 360,
            // The upload processor's real binary checks PDFs, as in production.
            pdf_checker: PathBuf::from(env!("CARGO_BIN_EXE_file-management-uploads")),
        }
    }

    pub fn processor(&self, dlq_url: &str) -> Processor {
        clinic_file_management::processor(&self.consumer_config(dlq_url), &self.sdk)
    }

    pub fn uploads_handler(&self) -> UploadsHandler<DynamoStore, S3Storage, SandboxedPdfInspector> {
        clinic_file_management::uploads_handler(
            &self.consumer_config(&self.uploads.dlq_url),
            &self.sdk,
        )
    }

    pub fn worker(&self) -> ReportJobHandler<DynamoStore, S3Storage, SqsReportQueue> {
        clinic_file_management::report_worker(
            &self.consumer_config(&self.reports.dlq_url),
            &self.sdk,
        )
    }

    pub fn dlq_handler(&self) -> ReportDlqHandler<DynamoStore, S3Storage, SqsReportQueue> {
        clinic_file_management::report_dlq_handler(
            &self.consumer_config(&self.reports.dlq_url),
            &self.sdk,
        )
    }

    pub fn projection_handler(&self) -> ProjectionHandler<DynamoStore, S3Storage> {
        clinic_file_management::projection_handler(
            &self.consumer_config(&self.projection.dlq_url),
            &self.sdk,
        )
    }

    pub fn store(&self) -> DynamoStore {
        DynamoStore::new(self.dynamodb.clone(), self.table.clone())
    }

    /// Runs an API Gateway v2 event through the function's router.
    pub async fn call(&self, event: Value) -> Reply {
        clinic_shared::testing::call(&self.router, event).await
    }

    /// Delivers envelopes to the projection consumer as one SQS batch (the sample's shape).
    pub async fn project(&self, envelopes: &[Envelope]) -> SqsBatchResponse {
        let mut event = sample("projection-sqs.json");
        let template = event["Records"][0].clone();
        let records: Vec<Value> = envelopes
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let mut record = template.clone();
                record["messageId"] = json!(format!("m-{i}-{}", e.id));
                record["body"] = json!(e.to_json());
                record["eventSourceARN"] = json!(self.projection.arn);
                record["messageAttributes"]["type"]["stringValue"] = json!(e.event_type.as_str());
                record
            })
            .collect();
        event["Records"] = json!(records);
        let event: SqsEvent = serde_json::from_value(event).expect("sqs event");
        handle_batch(
            &self.processor(&self.projection.dlq_url),
            &self.projection_handler(),
            event,
        )
        .await
    }

    /// Receives what is visible on a queue (up to `max` messages) as a Lambda SQS event.
    pub async fn receive(&self, queue_url: &str, queue_arn: &str, max: i32) -> SqsEvent {
        let out = self
            .sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(max)
            .wait_time_seconds(1)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .expect("receive");
        sqs_event_from_messages(out.messages(), queue_arn)
    }

    /// Deletes the records a batch response did not report failed (what Lambda does).
    pub async fn ack(&self, queue_url: &str, event: &SqsEvent, response: &SqsBatchResponse) {
        for record in &event.records {
            let id = record.message_id.clone().unwrap_or_default();
            if response
                .batch_item_failures
                .iter()
                .any(|f| f.item_identifier == id)
            {
                continue;
            }
            if let Some(handle) = &record.receipt_handle {
                let _ = self
                    .sqs
                    .delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(handle)
                    .send()
                    .await;
            }
        }
    }

    /// Runs the upload processor over everything the uploads queue holds now.
    pub async fn process_uploads(&self) -> usize {
        let processor = self.processor(&self.uploads.dlq_url);
        let handler = self.uploads_handler();
        let mut handled = 0;
        for _ in 0..5 {
            let event = self.receive(&self.uploads.url, &self.uploads.arn, 10).await;
            if event.records.is_empty() {
                break;
            }
            handled += event.records.len();
            let response = processor.process_messages(&handler, event.clone()).await;
            self.ack(&self.uploads.url, &event, &response).await;
        }
        handled
    }

    /// Publishes the outbox and returns the events that reached the topic.
    pub async fn published(&self, expected: usize) -> Vec<Envelope> {
        let relay = OutboxRelay::new(
            SnsPublisher::new(self.sns.clone(), self.topic_arn.clone()),
            DynamoOutbox::new(self.dynamodb.clone(), self.table.clone()),
            jiff::SignedDuration::ZERO,
        );
        relay.sweep().await.expect("sweep");
        self.probe.receive(expected, Duration::from_secs(4)).await
    }

    /// Seeds an exam through the projection consumer.
    pub async fn exam(&self, exam: &TestExam) {
        let response = self.project(&[exam.created()]).await;
        assert!(response.batch_item_failures.is_empty());
    }

    /// Asks for an upload as `claims`; returns the reply.
    pub async fn request_upload(
        &self,
        claims: &HashMap<String, String>,
        exam_id: &str,
        body: Value,
    ) -> Reply {
        let event = authed(
            "files-post.json",
            claims,
            &format!("/v1/exams/{exam_id}/files"),
            Some(body),
        );
        self.call(with_header(event, "idempotency-key", None)).await
    }

    /// PUTs bytes to a presigned upload URL with its headers, as a browser would.
    pub async fn put(&self, reply: &Reply, bytes: Vec<u8>) -> u16 {
        let url = reply.body["uploadUrl"].as_str().expect("upload url");
        let mut request = self.http.put(url).body(bytes);
        if let Some(headers) = reply.body["uploadHeaders"].as_object() {
            for (name, value) in headers {
                if name != "content-length" {
                    request = request.header(name, value.as_str().unwrap_or_default());
                }
            }
        }
        request
            .send()
            .await
            .expect("presigned put")
            .status()
            .as_u16()
    }

    /// Uploads `bytes` as a PDF of `exam_id` by the doctor and processes it; returns the file id.
    pub async fn upload_pdf(&self, exam: &TestExam, bytes: Vec<u8>, declared: usize) -> String {
        let reply = self
            .request_upload(
                &exam.doctor_claims(),
                &exam.id,
                json!({"fileName": "laudo.pdf", "contentType": "application/pdf", "size": declared, "kind": "result"}),
            )
            .await;
        assert_eq!(reply.status, 201, "{:?}", reply.body);
        assert_eq!(self.put(&reply, bytes).await, 200);
        self.process_uploads().await;
        reply.body["fileId"].as_str().expect("file id").to_string()
    }
}

/// An exam with its people.
#[derive(Clone)]
pub struct TestExam {
    pub id: String,
    pub patient: String,
    pub doctor: String,
    pub hospital: String,
    pub scheduled_at: jiff::Timestamp,
    pub status: ExamStatus,
}

impl TestExam {
    pub fn new() -> TestExam {
        TestExam {
            id: ulid::Ulid::new().to_string(),
            patient: ulid::Ulid::new().to_string(),
            doctor: ulid::Ulid::new().to_string(),
            hospital: ulid::Ulid::new().to_string(),
            scheduled_at: "2025-01-15T13:30:00Z".parse().expect("time"),
            status: ExamStatus::Scheduled,
        }
    }

    pub fn created(&self) -> Envelope {
        envelope(
            &self.id,
            ExamCreated {
                exam_id: self.id.clone(),
                patient_id: Some(self.patient.clone()),
                hospital_id: self.hospital.clone(),
                hospital_name: "Hospital São Lucas".into(),
                exam_type: "hemograma".into(),
                scheduled_at: self.scheduled_at,
                doctor_id: Some(self.doctor.clone()),
                status: self.status,
            },
        )
    }

    pub fn patient_claims(&self) -> HashMap<String, String> {
        person(&self.patient, "patients")
    }

    pub fn doctor_claims(&self) -> HashMap<String, String> {
        person(&self.doctor, "doctors")
    }
}

pub fn envelope<T: EventData>(subject: &str, data: T) -> Envelope {
    Envelope::new("clinic.exam-results", subject, data, TRACE).into_raw()
}

/// `account.deleted` for an account of `role` (`patient`, `doctor`, `staff`), built from its wire
/// form: the payload carries ids and the role only.
pub fn account_deleted(account_id: &str, role: &str) -> Envelope {
    let data: AccountDeleted =
        serde_json::from_value(json!({"accountId": account_id, "role": role}))
            .expect("account.deleted payload");
    Envelope::new("clinic.accounts", account_id, data, TRACE).into_raw()
}

/// A sample event from `events/file-management/`.
pub fn sample(name: &str) -> Value {
    let path = PathBuf::from(
        std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string()),
    )
    .join("../../events/file-management")
    .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("sample event is JSON")
}

/// An authenticated route's sample event for `path`, with these claims (and body, if any).
pub fn authed(
    name: &str,
    claims: &HashMap<String, String>,
    path: &str,
    body: Option<Value>,
) -> Value {
    let mut event = sample(name);
    event["rawPath"] = json!(path);
    event["requestContext"]["http"]["path"] = json!(path);
    event["requestContext"]["authorizer"]["jwt"]["claims"] = json!(claims);
    event["requestContext"]["requestId"] = json!(ulid::Ulid::new().to_string());
    match body {
        Some(body) => {
            let text = body.to_string();
            event["headers"]["content-length"] = json!(text.len().to_string());
            event["body"] = json!(text);
            event["headers"]["content-type"] = json!("application/json");
        }
        None => {
            if let Some(obj) = event.as_object_mut() {
                obj.remove("body");
            }
        }
    }
    event
}

pub fn without_auth(mut event: Value) -> Value {
    if let Some(ctx) = event["requestContext"].as_object_mut() {
        ctx.remove("authorizer");
    }
    event
}

pub fn with_header(mut event: Value, name: &str, value: Option<&str>) -> Value {
    match value {
        Some(v) => event["headers"][name] = json!(v),
        None => {
            if let Some(h) = event["headers"].as_object_mut() {
                h.remove(name);
            }
        }
    }
    event
}

/// Claims of a person in a Cognito group.
pub fn person(id: &str, group: &str) -> HashMap<String, String> {
    [
        ("sub", id),
        ("username", id),
        ("cognito:groups", &format!("[{group}]")),
        ("token_use", "access"),
        ("scope", "aws.cognito.signin.user.admin"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

pub fn staff() -> HashMap<String, String> {
    person(&ulid::Ulid::new().to_string(), "staff")
}

/// Claims of a hospital's client-credentials token.
pub fn hospital_client(client_id: &str) -> HashMap<String, String> {
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

/// The value of a query parameter of a URL.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| {
            percent_encoding::percent_decode_str(v)
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

/// Asserts a minted URL lives at most 5 minutes (the emulator does not enforce expiry).
pub fn assert_short_lived(url: &str) {
    let expires: u64 = query_param(url, "X-Amz-Expires")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no X-Amz-Expires in {url}"));
    assert!(expires <= 300, "expires in {expires} s");
}
