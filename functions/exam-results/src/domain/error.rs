//! Errors of the exam results use cases and of the store port. The HTTP edge maps each use-case
//! error to one problem response; the consumers map them to retryable or parked failures.

use clinic_shared::envelope::ExamStatus;
use clinic_shared::problem::FieldError;

/// Everything that can go wrong in an exam results use case.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum ExamsError {
    #[error("invalid input")]
    Validation(Vec<FieldError>),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("not allowed: {0}")]
    Forbidden(&'static str),
    #[error("the slot has no place left")]
    SlotFull,
    #[error("the slot has started or passed")]
    SlotClosed,
    #[error("the patient already holds a place in this slot")]
    AlreadyBooked,
    #[error("the appointment has started or passed")]
    TooLateToCancel,
    #[error("the exam was not booked through a slot")]
    NotAnAppointment,
    #[error("the exam is {current:?}; this step is not allowed")]
    InvalidTransition { current: ExamStatus },
    #[error("capacity below the places already booked")]
    CapacityBelowBooked { booked: u32, index: usize },
    #[error("the list cursor is invalid")]
    InvalidCursor,
    /// Unknown, wrong, expired, used or locked: one answer, so codes cannot be probed.
    #[error("the access code does not open any exam")]
    AccessCodeInvalid,
    /// Too many failed claims; retry after this many seconds.
    #[error("too many failed claims")]
    TooManyClaims { retry_after: u32 },
    /// The caller's account was erased; its token has not expired yet.
    #[error("account erased")]
    AccountErased,
    /// A dependency is throttling or down; the caller may retry.
    #[error("dependency unavailable: {0}")]
    Unavailable(String),
    /// A bug or an inconsistency; details go to the log, not to the caller.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ExamsError {
    /// A validation error on one field.
    pub fn field(field: &str, message: impl Into<String>) -> ExamsError {
        ExamsError::Validation(vec![FieldError::new(field, message)])
    }
}

/// Which record of a transaction a failed condition was on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConflictOn {
    /// The slot: full, or (when publishing) a capacity below its bookings.
    Slot,
    /// The patient's booking marker in a slot: already booked.
    Booking,
    /// The exam: not in the state the write expected.
    Exam,
    /// A batch item: already in a final state.
    BatchItem,
    /// An access code: used or locked meanwhile.
    Claim,
    /// Another record (an outbox entry or a marker).
    Other,
}

/// Failures of the store port, in domain terms.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    /// A conditional write found a record in another state; for slot publishing `index` is the
    /// position of the slot in the request.
    #[error("condition failed on {on:?}")]
    Conflict {
        on: ConflictOn,
        index: Option<usize>,
    },
    #[error("invalid cursor")]
    InvalidCursor,
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("stored record is unreadable: {0}")]
    Corrupt(String),
}

impl StoreError {
    pub fn conflict(on: ConflictOn) -> StoreError {
        StoreError::Conflict { on, index: None }
    }
}

impl From<StoreError> for ExamsError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::InvalidCursor => ExamsError::InvalidCursor,
            StoreError::Unavailable(reason) => ExamsError::Unavailable(reason),
            StoreError::Conflict { on, .. } => {
                ExamsError::Internal(format!("unexpected condition failure on {on:?}"))
            }
            StoreError::Corrupt(reason) => ExamsError::Internal(reason),
        }
    }
}

/// Failures of the ingest queue port.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("ingest queue unavailable: {0}")]
pub struct QueueError(pub String);
