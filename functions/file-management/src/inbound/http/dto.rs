//! Request and response bodies of the file-management API, and their parsing into validated
//! commands (every offending field reported at once).

use std::collections::BTreeMap;

use clinic_shared::envelope::{ExamStatus, FileKind, Role};
use clinic_shared::problem::{Problem, Validator};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::app::files::{NewUpload, UploadTicket};
use crate::domain::values::{
    ContentType, FileName, ReportFilters, ReportFormat, SizeError, UploadSize, parse_bound,
};
use crate::domain::{
    AccessAction, AccessEntry, FileRecord, FileStatus, Presigned, RejectReason, Report,
    ReportStatus,
};

/// `?limit=&cursor=`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1 to 200 (default 50).
    pub limit: Option<String>,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

/// `POST /v1/exams/{id}/files`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateUploadRequest {
    #[schema(example = "hemograma.pdf")]
    pub file_name: Option<String>,
    #[schema(example = "application/pdf")]
    pub content_type: Option<String>,
    /// Exact size in bytes (at most 20 MB); bound into the upload URL.
    pub size: Option<u64>,
    /// `result` (PDF only) or `attachment`.
    #[schema(example = "result")]
    pub kind: Option<String>,
}

impl CreateUploadRequest {
    /// # Errors
    /// 400 listing every invalid field; 413 when the size is above the limit.
    pub fn parse(self) -> Result<NewUpload, Problem> {
        let mut v = Validator::new();
        let file_name = match self.file_name.as_deref() {
            Some(raw) => v.check("fileName", FileName::parse(raw)),
            None => {
                v.push("fileName", "fileName is required.");
                None
            }
        };
        let content_type = match self.content_type.as_deref() {
            Some(raw) => v.check("contentType", ContentType::parse(raw)),
            None => {
                v.push("contentType", "contentType is required.");
                None
            }
        };
        let kind = match self.kind.as_deref() {
            Some("result") => Some(FileKind::Result),
            Some("attachment") => Some(FileKind::Attachment),
            _ => {
                v.push("kind", "kind must be result or attachment.");
                None
            }
        };
        if kind == Some(FileKind::Result) && content_type.is_some_and(|c| c != ContentType::Pdf) {
            v.push("contentType", "a result must be application/pdf.");
        }
        let size = match self.size.map(UploadSize::parse) {
            Some(Ok(size)) => Some(size),
            Some(Err(SizeError::TooLarge)) => {
                return Err(Problem::new(
                    http::StatusCode::PAYLOAD_TOO_LARGE,
                    "PAYLOAD_TOO_LARGE",
                    "Files may be at most 20 MB.",
                ));
            }
            Some(Err(err)) => {
                v.push("size", err.to_string());
                None
            }
            None => {
                v.push("size", "size is required.");
                None
            }
        };
        v.finish()?;
        match (file_name, content_type, size, kind) {
            (Some(file_name), Some(content_type), Some(size), Some(kind)) => Ok(NewUpload {
                file_name,
                content_type,
                size,
                kind,
            }),
            _ => Err(Problem::internal()),
        }
    }
}

/// `201` answer: where to PUT the file, with which headers, until when.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UploadResponse {
    pub file_id: String,
    /// Presigned PUT, valid for at most 5 minutes.
    pub upload_url: String,
    /// Headers the PUT must carry exactly (they are part of the signature).
    pub upload_headers: BTreeMap<String, String>,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
}

impl From<UploadTicket> for UploadResponse {
    fn from(ticket: UploadTicket) -> Self {
        Self {
            file_id: ticket.file_id,
            upload_url: ticket.upload.url,
            upload_headers: ticket.upload.headers.into_iter().collect(),
            expires_at: ticket.upload.expires_at,
        }
    }
}

/// A file of an exam.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FileResponse {
    pub file_id: String,
    pub exam_id: String,
    pub kind: FileKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    pub content_type: String,
    pub declared_size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    pub status: FileStatus,
    /// Why it was rejected (machine code).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<RejectReason>,
    /// Why it was rejected (a sentence).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason_text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub processed_at: Option<Timestamp>,
}

impl From<FileRecord> for FileResponse {
    fn from(file: FileRecord) -> Self {
        Self {
            file_id: file.file_id,
            exam_id: file.exam_id,
            kind: file.kind,
            file_name: file.file_name,
            content_type: file.content_type,
            declared_size: file.declared_size,
            size: file.size,
            status: file.status,
            reason: file.reason,
            reason_text: file.reason.map(|r| r.describe().to_string()),
            sha256: file.sha256,
            created_at: file.created_at,
            processed_at: file.processed_at,
        }
    }
}

/// A page of files.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FilesPage {
    pub items: Vec<FileResponse>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

clinic_shared::page_response!(FilesPage, FileResponse);

/// A presigned download.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DownloadResponse {
    /// Presigned GET, valid for at most 5 minutes.
    pub url: String,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
}

impl From<Presigned> for DownloadResponse {
    fn from(p: Presigned) -> Self {
        Self {
            url: p.url,
            expires_at: p.expires_at,
        }
    }
}

/// Who fetched what, when.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessEntryResponse {
    pub file_id: String,
    pub action: AccessAction,
    pub actor_id: String,
    pub actor_role: Role,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub request_id: String,
}

impl From<AccessEntry> for AccessEntryResponse {
    fn from(e: AccessEntry) -> Self {
        Self {
            file_id: e.file_id,
            action: e.action,
            actor_id: e.actor_id,
            actor_role: e.actor_role,
            at: e.at,
            request_id: e.request_id,
        }
    }
}

/// A page of the access log, oldest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessLogPage {
    pub items: Vec<AccessEntryResponse>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

clinic_shared::page_response!(AccessLogPage, AccessEntryResponse);

/// Report filters as sent.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FiltersInput {
    pub hospital_id: Option<String>,
    /// RFC 3339 instant or `YYYY-MM-DD` (inclusive).
    #[schema(example = "2025-01-01")]
    pub from: Option<String>,
    /// RFC 3339 instant (exclusive) or `YYYY-MM-DD` (inclusive).
    #[schema(example = "2025-01-31")]
    pub to: Option<String>,
    pub status: Option<ExamStatus>,
}

/// `POST /v1/reports`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateReportRequest {
    #[schema(example = "exams")]
    pub kind: Option<String>,
    #[schema(example = "xlsx")]
    pub format: Option<String>,
    pub filters: Option<FiltersInput>,
}

impl CreateReportRequest {
    /// # Errors
    /// 400 listing every invalid field.
    pub fn parse(self) -> Result<(ReportFormat, ReportFilters), Problem> {
        let mut v = Validator::new();
        if self.kind.as_deref() != Some("exams") {
            v.push("kind", "kind must be exams.");
        }
        let format = self.format.as_deref().and_then(ReportFormat::parse);
        if format.is_none() {
            v.push("format", "format must be xlsx or pdf.");
        }
        let filters = self.filters.unwrap_or_default();
        let bound = |v: &mut Validator, field: &str, raw: Option<&str>, end: bool| match raw {
            Some(raw) => v.check(field, parse_bound(raw, end)),
            None => {
                v.push(field, format!("{field} is required."));
                None
            }
        };
        let from = bound(&mut v, "filters.from", filters.from.as_deref(), false);
        let to = bound(&mut v, "filters.to", filters.to.as_deref(), true);
        let hospital = filters.hospital_id.filter(|h| !h.trim().is_empty());
        if hospital.as_ref().is_some_and(|h| h.len() > 64) {
            v.push("filters.hospitalId", "filters.hospitalId is too long.");
        }
        let checked = match (from, to) {
            (Some(from), Some(to)) => v.check(
                "filters",
                ReportFilters::new(from, to, hospital, filters.status),
            ),
            _ => None,
        };
        v.finish()?;
        format.zip(checked).ok_or_else(Problem::internal)
    }
}

/// `202` answer of a report request.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReportAccepted {
    pub report_id: String,
    pub status: ReportStatus,
}

/// A report's state.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReportResponse {
    pub report_id: String,
    pub status: ReportStatus,
    pub format: ReportFormat,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    /// Presigned GET (at most 5 minutes) once `done`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub download_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub download_expires_at: Option<Timestamp>,
    /// Why it failed, for people, once `error`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl ReportResponse {
    pub fn new(report: Report, url: Option<Presigned>) -> Self {
        Self {
            report_id: report.report_id,
            status: report.status,
            format: report.format,
            created_at: report.created_at,
            updated_at: report.updated_at,
            rows: report.rows,
            download_expires_at: url.as_ref().map(|u| u.expires_at),
            download_url: url.map(|u| u.url),
            error: report.error,
        }
    }
}
