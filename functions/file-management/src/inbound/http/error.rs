//! The one mapping from file-management errors to problem responses.

use clinic_shared::problem::Problem;
use http::StatusCode;

use crate::domain::FilesError;

impl From<FilesError> for Problem {
    fn from(err: FilesError) -> Self {
        match err {
            FilesError::Validation(errors) => Problem::validation(errors),
            FilesError::TooLarge => Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                "Files may be at most 20 MB.",
            ),
            FilesError::NotFound(what) => Problem::not_found(what),
            FilesError::Forbidden(why) => Problem::forbidden(format!("Not allowed: {why}.")),
            FilesError::AccountErased => Problem::new(
                StatusCode::UNAUTHORIZED,
                "ACCOUNT_ERASED",
                "This account was deleted; its sign-in is no longer valid.",
            ),
            FilesError::ReportExpired => Problem::new(
                StatusCode::GONE,
                "REPORT_EXPIRED",
                "Reports are kept for 30 days; request it again.",
            ),
            FilesError::Conflict { code, detail } => Problem::conflict(code, detail),
            FilesError::InvalidCursor => clinic_shared::pagination::InvalidCursor.into(),
            FilesError::Unavailable(reason) => {
                tracing::warn!(reason = %reason, "dependency unavailable");
                Problem::unavailable(2)
            }
            FilesError::Internal(reason) => {
                tracing::error!(reason = %reason, "internal error");
                Problem::internal()
            }
        }
    }
}
