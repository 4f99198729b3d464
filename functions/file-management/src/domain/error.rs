//! Errors of the use cases and of the ports, in domain terms. The HTTP edge maps [`FilesError`]
//! to problem responses; event handlers map it to retryable or non-retryable failures.

use clinic_shared::problem::FieldError;

/// Everything that can go wrong in a file-management use case.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FilesError {
    #[error("invalid input")]
    Validation(Vec<FieldError>),
    #[error("declared size is above the upload limit")]
    TooLarge,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("not allowed: {0}")]
    Forbidden(&'static str),
    /// The caller's account was erased (LGPD); its token may still be valid for a few minutes.
    #[error("the caller's account was erased")]
    AccountErased,
    /// A report past its retention.
    #[error("the report is past its retention")]
    ReportExpired,
    #[error("conflict: {code}")]
    Conflict { code: &'static str, detail: String },
    #[error("the list cursor is invalid")]
    InvalidCursor,
    /// A dependency is throttling or down; the caller may retry.
    #[error("dependency unavailable: {0}")]
    Unavailable(String),
    /// A bug or an inconsistency; details go to the log, not to the caller.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Failures of the table ports.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    /// A conditional write found the item in another state.
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("invalid cursor")]
    InvalidCursor,
    /// A stored item cannot be read back.
    #[error("corrupt item: {0}")]
    Corrupt(String),
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

/// Failures of the object storage port.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StorageError {
    #[error("object not found")]
    NotFound,
    /// The object is larger than the caller is willing to read.
    #[error("object is {0} bytes, above the limit")]
    TooLarge(u64),
    #[error("storage unavailable: {0}")]
    Unavailable(String),
}

impl From<StoreError> for FilesError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::InvalidCursor => FilesError::InvalidCursor,
            StoreError::Conflict(reason) | StoreError::Corrupt(reason) => {
                FilesError::Internal(reason)
            }
            StoreError::Unavailable(reason) => FilesError::Unavailable(reason),
        }
    }
}

impl From<StorageError> for FilesError {
    fn from(err: StorageError) -> Self {
        match err {
            StorageError::NotFound => FilesError::NotFound("File"),
            StorageError::TooLarge(_) => FilesError::TooLarge,
            StorageError::Unavailable(reason) => FilesError::Unavailable(reason),
        }
    }
}
