//! SQS consumers. Every one goes through `clinic_shared::sqs_batch`'s batch processor (partial
//! batch response, backoff, parking): envelopes through [`EventHandler`], S3 notifications and
//! report jobs through [`MessageHandler`] (idempotent on the file or report they touch).

use aws_lambda_events::event::sqs::SqsMessage;
use clinic_shared::envelope::{
    AccountDeleted, Envelope, EventType, ExamCreated, ExamUpdated, HospitalRegistered,
};
use clinic_shared::sqs_batch::{ATTR_FAILURE_REASON, EventHandler, HandlerFailure, MessageHandler};
use clinic_shared::telemetry::TraceContext;
use percent_encoding::percent_decode_str;

use crate::app::projection::ProjectionApp;
use crate::app::reports::ReportsApp;
use crate::app::uploads::{UploadProcessor, UploadedObject};
use crate::domain::{
    AuditTrail, Erasures, ExamView, Files, FilesError, ObjectStorage, PdfInspector, Projection,
    ReportQueue, Reports,
};
use crate::outbound::sqs::ReportJob;

/// Retryable when a retry can help (a dependency was unavailable or busy), parked otherwise.
fn failure(err: FilesError) -> HandlerFailure {
    match err {
        FilesError::Unavailable(reason) => HandlerFailure::Retryable(reason),
        FilesError::Conflict {
            code: "REPORT_BUSY",
            detail,
        } => HandlerFailure::Retryable(detail),
        other => HandlerFailure::NonRetryable(other.to_string()),
    }
}

/// An S3 event key as it arrives: URL-encoded, spaces as `+`.
pub fn decode_key(raw: &str) -> String {
    let spaced = raw.replace('+', " ");
    percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
}

/// The parts of an S3 event notification this service reads. (`aws_lambda_events`' S3 types
/// insist on fields such as `userIdentity` that not every sender fills, so a lenient shape is
/// read instead.)
#[derive(Debug, serde::Deserialize)]
struct Notification {
    #[serde(rename = "Records", default)]
    records: Vec<NotificationRecord>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct NotificationRecord {
    #[serde(default)]
    event_name: Option<String>,
    s3: NotificationEntity,
}

#[derive(Debug, serde::Deserialize)]
struct NotificationEntity {
    object: NotificationObject,
}

#[derive(Debug, serde::Deserialize)]
struct NotificationObject {
    key: String,
    #[serde(default)]
    size: Option<u64>,
}

/// The objects created in an S3 notification body; empty for the `s3:TestEvent` S3 sends when
/// notifications are configured, and for other event kinds.
///
/// # Errors
/// A reason when the body is not an S3 notification.
pub fn created_objects(body: &str) -> Result<Vec<UploadedObject>, String> {
    let value: serde_json::Value =
        serde_json::from_str(body).map_err(|e| format!("not a JSON S3 notification: {e}"))?;
    if value.get("Event").and_then(serde_json::Value::as_str) == Some("s3:TestEvent") {
        return Ok(Vec::new());
    }
    let event: Notification =
        serde_json::from_value(value).map_err(|e| format!("not an S3 notification: {e}"))?;
    Ok(event
        .records
        .into_iter()
        .filter(|r| {
            r.event_name
                .as_deref()
                .is_some_and(|n| n.starts_with("ObjectCreated:"))
        })
        .map(|r| UploadedObject {
            key: decode_key(&r.s3.object.key),
            size: r.s3.object.size,
        })
        .collect())
}

/// The upload processor's entry: S3 notifications delivered through the uploads queue.
pub struct UploadsHandler<S, O, P> {
    processor: UploadProcessor<S, O, P>,
}

impl<S, O, P> UploadsHandler<S, O, P> {
    pub fn new(processor: UploadProcessor<S, O, P>) -> Self {
        Self { processor }
    }
}

impl<S: Files, O: ObjectStorage, P: PdfInspector> MessageHandler for UploadsHandler<S, O, P> {
    fn consumer(&self) -> &str {
        "file-management-uploads"
    }

    async fn handle_message(&self, body: &str, _record: &SqsMessage) -> Result<(), HandlerFailure> {
        let objects = created_objects(body).map_err(HandlerFailure::NonRetryable)?;
        if objects.is_empty() {
            tracing::info!("notification without created objects ignored");
        }
        let trace = TraceContext::start().traceparent();
        for object in &objects {
            self.processor
                .process(object, &trace)
                .await
                .map_err(failure)?;
        }
        Ok(())
    }
}

/// The projection consumer: `exam.created|updated`, `hospital.registered`, `account.deleted`.
pub struct ProjectionHandler<S, O> {
    app: ProjectionApp<S, O>,
}

impl<S, O> ProjectionHandler<S, O> {
    pub fn new(app: ProjectionApp<S, O>) -> Self {
        Self { app }
    }
}

impl<S: Projection + Files + Erasures, O: ObjectStorage> EventHandler for ProjectionHandler<S, O> {
    fn consumer(&self) -> &str {
        "file-management-projection"
    }

    async fn handle(&self, event: &Envelope) -> Result<(), HandlerFailure> {
        match event.event_type {
            EventType::ExamCreated => {
                let e: ExamCreated = event.data_as()?;
                self.app
                    .apply_exam(&exam_view(event, e))
                    .await
                    .map_err(failure)?;
            }
            EventType::ExamUpdated => {
                let e: ExamUpdated = event.data_as()?;
                self.app
                    .apply_exam(&exam_view(event, e.into_created()))
                    .await
                    .map_err(failure)?;
            }
            EventType::HospitalRegistered => {
                let e: HospitalRegistered = event.data_as()?;
                self.app
                    .register_hospital(&e.client_id, &e.hospital_id)
                    .await
                    .map_err(failure)?;
            }
            EventType::AccountDeleted => {
                // Every role: the tombstone makes every route refuse the account; a patient's
                // files go too.
                let e: AccountDeleted = event.data_as()?;
                self.app
                    .erase_account(&e.account_id, e.role, &event.id)
                    .await
                    .map_err(failure)?;
            }
            other => tracing::info!(event_type = other.as_str(), "event type not used here"),
        }
        Ok(())
    }
}

/// The projection's view of the exam an `exam.created` or `exam.updated` event describes.
fn exam_view(event: &Envelope, exam: ExamCreated) -> ExamView {
    ExamView {
        exam_id: exam.exam_id,
        patient_id: exam.patient_id,
        hospital_id: exam.hospital_id,
        hospital_name: exam.hospital_name,
        doctor_id: exam.doctor_id,
        exam_type: exam.exam_type,
        scheduled_at: exam.scheduled_at,
        status: exam.status,
        event_time: event.time,
        event_id: event.id.clone(),
        patient_erased: false,
    }
}

fn job(body: &str) -> Result<ReportJob, HandlerFailure> {
    serde_json::from_str(body)
        .map_err(|e| HandlerFailure::NonRetryable(format!("not a report job: {e}")))
}

/// The report worker's entry: one job message per report.
pub struct ReportJobHandler<S, O, Q> {
    app: ReportsApp<S, O, Q>,
}

impl<S, O, Q> ReportJobHandler<S, O, Q> {
    pub fn new(app: ReportsApp<S, O, Q>) -> Self {
        Self { app }
    }
}

impl<S: Reports + Projection + AuditTrail, O: ObjectStorage, Q: ReportQueue> MessageHandler
    for ReportJobHandler<S, O, Q>
{
    fn consumer(&self) -> &str {
        "file-management-report-worker"
    }

    async fn handle_message(&self, body: &str, _record: &SqsMessage) -> Result<(), HandlerFailure> {
        let job = job(body)?;
        let trace = TraceContext::start().traceparent();
        let outcome = self
            .app
            .build(&job.report_id, &trace)
            .await
            .map_err(failure)?;
        tracing::info!(report_id = %job.report_id, outcome = ?outcome, "report job");
        Ok(())
    }
}

/// The reports DLQ's entry: jobs that ran out of attempts (or were parked) become `error`.
pub struct ReportDlqHandler<S, O, Q> {
    app: ReportsApp<S, O, Q>,
}

impl<S, O, Q> ReportDlqHandler<S, O, Q> {
    pub fn new(app: ReportsApp<S, O, Q>) -> Self {
        Self { app }
    }
}

impl<S: Reports + Projection + AuditTrail, O: ObjectStorage, Q: ReportQueue> MessageHandler
    for ReportDlqHandler<S, O, Q>
{
    fn consumer(&self) -> &str {
        "file-management-report-dlq"
    }

    async fn handle_message(&self, body: &str, record: &SqsMessage) -> Result<(), HandlerFailure> {
        let Ok(job) = serde_json::from_str::<ReportJob>(body) else {
            // Nothing to mark: no report id. It stays visible in the logs and the alarm.
            tracing::error!("unreadable message in the reports DLQ dropped");
            return Ok(());
        };
        let parked = record
            .message_attributes
            .get(ATTR_FAILURE_REASON)
            .and_then(|a| a.string_value.as_deref());
        let trace = TraceContext::start().traceparent();
        match self.app.give_up(&job.report_id, parked, &trace).await {
            Ok(_) => Ok(()),
            Err(FilesError::NotFound(_)) => {
                tracing::warn!(report_id = %job.report_id, "dead job of an unknown report dropped");
                Ok(())
            }
            Err(err) => Err(failure(err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_decoded_and_test_events_ignored() {
        assert_eq!(decode_key("incoming%2Fa+b%2Bc.pdf"), "incoming/a b+c.pdf");
        assert_eq!(decode_key("incoming/01J"), "incoming/01J");
        let test_event = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2025-01-01T00:00:00Z","Bucket":"b"}"#;
        assert_eq!(created_objects(test_event), Ok(vec![]));
        assert!(created_objects("nope").is_err());
    }
}
