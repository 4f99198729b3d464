//! Report rendering: rows in, a file in a local directory out. Writers take rows one at a time and
//! never hold the whole report: the XLSX writer uses the library's constant-memory mode (rows go
//! to a temporary file as they are written), the PDF writer spools rows to a local file to count
//! them (for "page n of N"), then lays pages out from it and writes each page to the file as soon
//! as it is laid out (its own serializer: only the fonts wait for the end).
//!
//! Synchronous on purpose: the worker runs a writer on a blocking thread and feeds it pages of
//! rows through a bounded channel while it reads the next page.

mod pdf;
mod xlsx;

use std::path::{Path, PathBuf};

use jiff::Timestamp;

use crate::domain::ReportRow;
use crate::domain::model::status_name;
use crate::domain::values::{ReportFilters, ReportFormat};

/// Why rendering failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RenderError {
    #[error("local file error: {0}")]
    Io(String),
    #[error("spreadsheet error: {0}")]
    Xlsx(String),
    #[error("pdf error: {0}")]
    Pdf(String),
}

impl From<std::io::Error> for RenderError {
    fn from(err: std::io::Error) -> Self {
        RenderError::Io(err.to_string())
    }
}

/// What every page or sheet says about the report.
#[derive(Debug, Clone)]
pub struct ReportMeta {
    pub report_id: String,
    pub filters: ReportFilters,
    pub generated_at: Timestamp,
}

impl ReportMeta {
    /// One line describing the filters.
    pub fn summary(&self) -> String {
        let mut text = format!(
            "Scheduled from {} to {}",
            self.filters.from.strftime("%Y-%m-%d %H:%M UTC"),
            self.filters.to.strftime("%Y-%m-%d %H:%M UTC")
        );
        if let Some(hospital) = &self.filters.hospital_id {
            text.push_str(&format!(" · hospital {hospital}"));
        }
        if let Some(status) = self.filters.status {
            text.push_str(&format!(" · status {}", status_name(status)));
        }
        text
    }

    /// The generated-at stamp.
    pub fn stamp(&self) -> String {
        format!(
            "Generated at {}",
            self.generated_at.strftime("%Y-%m-%d %H:%M:%S UTC")
        )
    }
}

/// Column titles, in order (the PDF leaves out the hospital id for width).
pub const COLUMNS: [&str; 8] = [
    "Exam ID",
    "Scheduled at (UTC)",
    "Hospital",
    "Hospital ID",
    "Exam type",
    "Status",
    "Doctor ID",
    "Patient ID",
];

/// A report being written.
pub trait RowSink {
    /// Adds one row.
    ///
    /// # Errors
    /// [`RenderError`] when the writer fails.
    fn push(&mut self, row: &ReportRow) -> Result<(), RenderError>;

    /// Finishes the file; returns how many rows it holds.
    ///
    /// # Errors
    /// [`RenderError`] when the writer fails.
    fn finish(self: Box<Self>) -> Result<u64, RenderError>;
}

/// A writer of `format` producing `output`, using `work_dir` for temporary files.
///
/// # Errors
/// [`RenderError`] when the files cannot be created.
pub fn writer(
    format: ReportFormat,
    output: &Path,
    work_dir: &Path,
    meta: ReportMeta,
) -> Result<Box<dyn RowSink + Send>, RenderError> {
    Ok(match format {
        ReportFormat::Xlsx => Box::new(xlsx::XlsxSink::new(output, work_dir, &meta, true)?),
        ReportFormat::Pdf => Box::new(pdf::PdfSink::new(output, work_dir, meta)?),
    })
}

/// The XLSX writer holding every cell in memory (the library's default mode): only for the
/// benchmark, as the peer the constant-memory mode is measured against.
///
/// # Errors
/// [`RenderError`] when the files cannot be created.
pub fn in_memory_xlsx_writer(
    output: &Path,
    work_dir: &Path,
    meta: ReportMeta,
) -> Result<Box<dyn RowSink + Send>, RenderError> {
    Ok(Box::new(xlsx::XlsxSink::new(
        output, work_dir, &meta, false,
    )?))
}

/// Where a report is written locally.
pub fn local_path(work_dir: &Path, report_id: &str, format: ReportFormat) -> PathBuf {
    work_dir.join(format!("report-{report_id}.{}", format.as_str()))
}

/// Synthetic rows (benchmark and tests): `n` exams spread over January 2025.
pub fn synthetic_rows(n: u64) -> impl Iterator<Item = ReportRow> {
    use clinic_shared::envelope::ExamStatus;
    const STATUSES: [ExamStatus; 4] = [
        ExamStatus::Scheduled,
        ExamStatus::Completed,
        ExamStatus::ResultReady,
        ExamStatus::Cancelled,
    ];
    let start = Timestamp::from_second(1_735_689_600).unwrap_or(Timestamp::UNIX_EPOCH);
    (0..n).map(move |i| {
        let offset = i64::try_from(i % 2_678_400).unwrap_or(0);
        ReportRow {
            exam_id: format!("EXM{i:010}"),
            scheduled_at: start
                .checked_add(jiff::SignedDuration::from_secs(offset))
                .unwrap_or(start),
            hospital_id: format!("hosp-{}", i % 7),
            hospital_name: format!("Hospital São Lucas {}", i % 7),
            exam_type: [
                "Hemograma completo",
                "Raio-X de tórax",
                "Ressonância magnética",
            ][usize::try_from(i % 3).unwrap_or(0)]
            .to_string(),
            status: STATUSES[usize::try_from(i % 4).unwrap_or(0)],
            doctor_id: (i % 5 != 0).then(|| format!("doc-{:08}", i % 97)),
            patient_id: Some(format!("pat-{:08}", i % 10_007)),
        }
    })
}
