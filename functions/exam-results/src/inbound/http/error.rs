//! The one mapping from exam results errors to problem responses.

use clinic_shared::problem::Problem;
use http::StatusCode;

use crate::domain::ExamsError;

impl From<ExamsError> for Problem {
    fn from(err: ExamsError) -> Self {
        match err {
            ExamsError::Validation(errors) => Problem::validation(errors),
            ExamsError::PayloadTooLarge(detail) => {
                Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE", detail)
            }
            ExamsError::NotFound(what) => Problem::not_found(what),
            ExamsError::Forbidden(why) => Problem::forbidden(format!("Not allowed: {why}.")),
            ExamsError::SlotFull => Problem::conflict(
                "SLOT_FULL",
                "This slot has no place left. Choose another slot.",
            ),
            ExamsError::SlotClosed => Problem::conflict(
                "SLOT_CLOSED",
                "This slot has started or passed and can no longer be booked.",
            ),
            ExamsError::AlreadyBooked => {
                Problem::conflict("ALREADY_BOOKED", "You already hold a place in this slot.")
            }
            ExamsError::TooLateToCancel => Problem::conflict(
                "TOO_LATE_TO_CANCEL",
                "The appointment has started or passed and can no longer be cancelled.",
            ),
            ExamsError::NotAnAppointment => Problem::conflict(
                "NOT_AN_APPOINTMENT",
                "This exam was not booked through a slot; the hospital manages it.",
            ),
            ExamsError::InvalidTransition { current } => Problem::conflict(
                "INVALID_TRANSITION",
                "The exam's current status does not allow this step.",
            )
            .with(
                "currentStatus",
                serde_json::to_value(current).unwrap_or_default(),
            ),
            ExamsError::CapacityBelowBooked { booked, index } => Problem::conflict(
                "CAPACITY_BELOW_BOOKED",
                format!(
                    "Slot [{index}] already has {booked} bookings; its capacity cannot be lower."
                ),
            )
            .with("index", index)
            .with("booked", booked),
            ExamsError::InvalidCursor => clinic_shared::pagination::InvalidCursor.into(),
            ExamsError::AccessCodeInvalid => Problem::new(
                StatusCode::BAD_REQUEST,
                "ACCESS_CODE_INVALID",
                "This code does not open any exam. Check the code printed on your receipt; \
                 codes work once and expire.",
            ),
            ExamsError::TooManyClaims { retry_after } => {
                let mut problem = Problem::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "TOO_MANY_ATTEMPTS",
                    "Too many wrong codes. Try again later.",
                );
                problem.retry_after = Some(retry_after);
                problem
            }
            ExamsError::AccountErased => Problem::new(
                StatusCode::UNAUTHORIZED,
                "ACCOUNT_ERASED",
                "This account was deleted; sign in with another account.",
            ),
            ExamsError::Unavailable(reason) => {
                tracing::warn!(reason = %reason, "dependency unavailable");
                Problem::unavailable(2)
            }
            ExamsError::Internal(reason) => {
                tracing::error!(reason = %reason, "internal error");
                Problem::internal()
            }
        }
    }
}
