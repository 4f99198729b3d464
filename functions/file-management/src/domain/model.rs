//! The model: what this service knows of exams (a projection fed by events), its files, the audit
//! trail of downloads and the staff reports.

use clinic_shared::envelope::{ExamStatus, FileKind, Role};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::values::{REPORT_RETENTION_DAYS, ReportFilters, ReportFormat};

/// The little this service keeps of an exam: who may see it and what reports list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExamView {
    pub exam_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient_id: Option<String>,
    pub hospital_id: String,
    pub hospital_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doctor_id: Option<String>,
    pub exam_type: String,
    pub scheduled_at: Timestamp,
    pub status: ExamStatus,
    /// Time of the event this view was built from; older events never overwrite it.
    pub event_time: Timestamp,
    /// Id of that event: between events of the same instant the higher id wins, so every copy of
    /// the view converges whatever order they arrive in. Empty in views stored before it was kept.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub event_id: String,
    /// The patient's account was erased: the view names no patient, and never will again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub patient_erased: bool,
}

/// Lifecycle of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FileStatus {
    /// Upload URL issued; nothing processed yet.
    Pending,
    /// Checked and stored in the results bucket.
    Available,
    /// Failed a check (see the reason).
    Rejected,
    /// Erased with the patient's account (LGPD).
    Erased,
}

/// Machine codes of failed upload checks (sent in `file.rejected` and shown to uploaders).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RejectReason {
    TooLarge,
    SizeMismatch,
    ContentTypeMismatch,
    NotAPdf,
    CorruptPdf,
    /// The PDF asks the checker for more than its bounds (objects, nesting, decompressed size,
    /// time or memory).
    PdfTooComplex,
    NotAnImage,
}

impl RejectReason {
    pub fn code(self) -> &'static str {
        match self {
            RejectReason::TooLarge => "TOO_LARGE",
            RejectReason::SizeMismatch => "SIZE_MISMATCH",
            RejectReason::ContentTypeMismatch => "CONTENT_TYPE_MISMATCH",
            RejectReason::NotAPdf => "NOT_A_PDF",
            RejectReason::CorruptPdf => "CORRUPT_PDF",
            RejectReason::PdfTooComplex => "PDF_TOO_COMPLEX",
            RejectReason::NotAnImage => "NOT_AN_IMAGE",
        }
    }

    /// The reason a [`code`](Self::code) stands for.
    pub fn from_code(code: &str) -> Option<Self> {
        [
            RejectReason::TooLarge,
            RejectReason::SizeMismatch,
            RejectReason::ContentTypeMismatch,
            RejectReason::NotAPdf,
            RejectReason::CorruptPdf,
            RejectReason::PdfTooComplex,
            RejectReason::NotAnImage,
        ]
        .into_iter()
        .find(|r| r.code() == code)
    }

    /// A sentence for people.
    pub fn describe(self) -> &'static str {
        match self {
            RejectReason::TooLarge => "The file is larger than 20 MB.",
            RejectReason::SizeMismatch => "The uploaded size differs from the declared size.",
            RejectReason::ContentTypeMismatch => {
                "The uploaded content type differs from the declared one."
            }
            RejectReason::NotAPdf => "The file is not a PDF document.",
            RejectReason::CorruptPdf => "The PDF document is damaged or incomplete.",
            RejectReason::PdfTooComplex => {
                "The PDF document is too complex to check (too many objects, too deeply nested or too highly compressed)."
            }
            RejectReason::NotAnImage => "The file is not an image of the declared type.",
        }
    }
}

/// A file of an exam.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileRecord {
    pub file_id: String,
    pub exam_id: String,
    pub kind: FileKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    pub content_type: String,
    pub declared_size: u64,
    pub status: FileStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<RejectReason>,
    /// Key in the uploads bucket (`incoming/<fileId>`).
    pub upload_key: String,
    /// Key in the results bucket once available (`files/<fileId>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    pub uploaded_by: String,
    pub uploaded_by_role: Role,
    pub created_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processed_at: Option<Timestamp>,
}

/// How the processing of an upload ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileOutcome {
    Available {
        size: u64,
        sha256: String,
        result_key: String,
    },
    Rejected(RejectReason),
}

/// What the audit trail records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AccessAction {
    /// A download URL was handed out.
    DownloadGranted,
    /// The file was erased with the patient's account.
    Erased,
}

/// One entry of the append-only audit trail of an exam's files. Download grants are written by
/// the API function only (`ACCESS#<examId>`), erasures by the projection function only
/// (`ERASED#<examId>`); each entry is written once and never changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessEntry {
    /// Identifies the entry: writing the same entry twice is refused.
    #[serde(default)]
    pub entry_id: String,
    pub exam_id: String,
    pub file_id: String,
    pub action: AccessAction,
    pub actor_id: String,
    pub actor_role: Role,
    pub at: Timestamp,
    pub request_id: String,
}

/// The audit entry of a report download URL handed out (`ACCESS#REPORT#<reportId>`, written by
/// the API function only, before the URL exists).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportGrant {
    pub entry_id: String,
    pub report_id: String,
    pub actor_id: String,
    pub actor_role: Role,
    pub at: Timestamp,
    pub request_id: String,
}

/// Report lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReportStatus {
    Queued,
    Processing,
    Done,
    Error,
}

impl ReportStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportStatus::Queued => "queued",
            ReportStatus::Processing => "processing",
            ReportStatus::Done => "done",
            ReportStatus::Error => "error",
        }
    }
}

/// A staff report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub report_id: String,
    pub requested_by: String,
    pub format: ReportFormat,
    pub filters: ReportFilters,
    pub status: ReportStatus,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Times a worker took the job.
    #[serde(default)]
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_key: Option<String>,
    /// Code of the last failure of a worker (kept for the final error message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Readable reason when `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Report {
    /// The end of the report's retention: from then on it is not served, its file expires in
    /// the results bucket and its record in the table.
    pub fn retained_until(&self) -> Timestamp {
        self.created_at + jiff::SignedDuration::from_hours(24 * REPORT_RETENTION_DAYS)
    }
}

/// One row of an exams report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportRow {
    pub exam_id: String,
    pub scheduled_at: Timestamp,
    pub hospital_id: String,
    pub hospital_name: String,
    pub exam_type: String,
    pub status: ExamStatus,
    #[serde(default)]
    pub doctor_id: Option<String>,
    #[serde(default)]
    pub patient_id: Option<String>,
}

impl From<ExamView> for ReportRow {
    fn from(exam: ExamView) -> Self {
        Self {
            exam_id: exam.exam_id,
            scheduled_at: exam.scheduled_at,
            hospital_id: exam.hospital_id,
            hospital_name: exam.hospital_name,
            exam_type: exam.exam_type,
            status: exam.status,
            doctor_id: exam.doctor_id,
            patient_id: exam.patient_id,
        }
    }
}

/// Wire name of an exam status (as in events).
pub fn status_name(status: ExamStatus) -> &'static str {
    match status {
        ExamStatus::Scheduled => "SCHEDULED",
        ExamStatus::Collected => "COLLECTED",
        ExamStatus::Completed => "COMPLETED",
        ExamStatus::ResultReady => "RESULT_READY",
        ExamStatus::Cancelled => "CANCELLED",
    }
}

pub use clinic_shared::pagination::Page;

/// Result of taking a report job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportClaim {
    /// Ours until the lease ends.
    Claimed(Box<Report>),
    /// Finished before (done or error): nothing to do.
    Finished,
    /// Another worker holds a live lease.
    Busy,
    /// No such report.
    Missing,
}

/// Result of marking a report failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailOutcome {
    /// Now `error`.
    Failed,
    /// Already `done` or `error`: left as it is.
    Finished,
    /// A worker still holds a live lease on it.
    Busy,
    /// No such report.
    Missing,
}
