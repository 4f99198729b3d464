//! Configuration of the file-management functions, read once at start-up. A missing required
//! variable stops the function at init with its name.

use std::path::PathBuf;

use clinic_shared::config::{ConfigError, optional, parsed_or, required};

/// The HTTP API.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub table_name: String,
    pub uploads_bucket: String,
    pub results_bucket: String,
    pub reports_queue_url: String,
    pub ingest_scope: String,
}

impl ApiConfig {
    /// # Errors
    /// When a required variable is missing.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            table_name: required("TABLE_NAME")?,
            uploads_bucket: required("UPLOADS_BUCKET")?,
            results_bucket: required("RESULTS_BUCKET")?,
            reports_queue_url: required("REPORTS_QUEUE_URL")?,
            ingest_scope: clinic_shared::auth::ingest_scope_from_env(),
        })
    }
}

/// An SQS consumer (upload processor, projection, report worker, reports DLQ handler).
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    pub table_name: String,
    pub uploads_bucket: String,
    pub results_bucket: String,
    /// Where non-retryable messages are parked.
    pub dlq_url: String,
    /// Local directory for report files (Lambda's `/tmp`).
    pub work_dir: PathBuf,
    /// How long a report worker holds a job: above its timeout, below the queue's visibility.
    pub report_lease_seconds: i64,
    /// The program the upload processor starts (with `--check-pdf`) to check each PDF in a
    /// limited child process: `PDF_CHECKER` when set, else this very binary.
    pub pdf_checker: PathBuf,
}

impl ConsumerConfig {
    /// # Errors
    /// When a required variable is missing or a number is not one.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            table_name: required("TABLE_NAME")?,
            uploads_bucket: optional("UPLOADS_BUCKET").unwrap_or_default(),
            results_bucket: required("RESULTS_BUCKET")?,
            dlq_url: required("DLQ_URL")?,
            work_dir: PathBuf::from(optional("WORK_DIR").unwrap_or_else(|| "/tmp".to_string())),
            report_lease_seconds: parsed_or("REPORT_LEASE_SECONDS", 360)?,
            pdf_checker: match optional("PDF_CHECKER") {
                Some(path) => PathBuf::from(path),
                None => std::env::current_exe().map_err(|e| ConfigError::Invalid {
                    name: "PDF_CHECKER".into(),
                    reason: format!("this program's path is unknown: {e}"),
                })?,
            },
        })
    }
}
