//! Errors of the notifications domain: provider failures split into transient and permanent,
//! store failures, and the two outcomes a failed event can have (retry it, or refuse it).

use clinic_shared::envelope::EnvelopeError;

/// A provider (SES, SNS) refused or failed to take a message. Reasons are error codes, never
/// addresses or message text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Throttling, a 5xx, a timeout, a paused account: the same message may go through later.
    #[error("transient provider failure: {0}")]
    Transient(String),
    /// The message can never be sent as it is (invalid phone, rejected message, unverified
    /// sender): recorded as FAILED, not retried.
    #[error("permanent provider failure: {0}")]
    Permanent(String),
}

/// Failures of the service's table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A conditional write found the delivery claimed by someone else (its lease ran out).
    #[error("the delivery claim is no longer held")]
    ClaimLost,
    /// A list cursor that this service did not issue for this caller.
    #[error("invalid cursor")]
    InvalidCursor,
    /// A stored item does not read back (a bug or a manual edit).
    #[error("stored item is unreadable: {0}")]
    Corrupt(String),
    /// The table could not be reached or throttled the request.
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

/// Why an event could not be fully handled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    /// Something transient failed (a provider, the table, a contact not projected yet): the
    /// event comes back after a backoff; deliveries already finished are not repeated.
    #[error("retry later: {0}")]
    Retry(String),
    /// The event can never be handled (its payload breaks the contract): parked in the DLQ.
    #[error("refused: {0}")]
    Refuse(String),
}

impl From<StoreError> for NotifyError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Corrupt(reason) => NotifyError::Refuse(reason),
            other => NotifyError::Retry(other.to_string()),
        }
    }
}

impl From<EnvelopeError> for NotifyError {
    fn from(err: EnvelopeError) -> Self {
        NotifyError::Refuse(err.to_string())
    }
}

/// Errors of the notification log API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HistoryError {
    #[error("the list cursor is invalid")]
    InvalidCursor,
    #[error("dependency unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for HistoryError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::InvalidCursor => HistoryError::InvalidCursor,
            StoreError::Unavailable(reason) => HistoryError::Unavailable(reason),
            other => HistoryError::Internal(other.to_string()),
        }
    }
}
