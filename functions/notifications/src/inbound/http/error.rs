//! The one mapping from notification-log errors to problem responses.

use clinic_shared::problem::Problem;

use crate::domain::HistoryError;

impl From<HistoryError> for Problem {
    fn from(err: HistoryError) -> Self {
        match err {
            HistoryError::InvalidCursor => clinic_shared::pagination::InvalidCursor.into(),
            HistoryError::Unavailable(reason) => {
                tracing::warn!(reason = %reason, "dependency unavailable");
                Problem::unavailable(2)
            }
            HistoryError::Internal(reason) => {
                tracing::error!(reason = %reason, "internal error");
                Problem::internal()
            }
        }
    }
}
