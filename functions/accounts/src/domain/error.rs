//! Errors of the accounts use cases. The HTTP edge maps each to one problem response.

use clinic_shared::problem::FieldError;

/// Everything that can go wrong in an accounts use case.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AccountsError {
    #[error("invalid input")]
    Validation(Vec<FieldError>),
    #[error("{field} already belongs to another account")]
    AlreadyUsed { field: &'static str },
    #[error("wrong username or password")]
    InvalidCredentials,
    #[error("account not confirmed")]
    NotConfirmed,
    #[error("confirmation code is wrong")]
    InvalidCode,
    #[error("confirmation code expired")]
    ExpiredCode,
    #[error("sign-in session is invalid or expired")]
    InvalidSession,
    #[error("refresh token is invalid or expired")]
    InvalidRefreshToken,
    #[error("too many attempts")]
    Throttled,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("not allowed: {0}")]
    Forbidden(&'static str),
    /// The caller's account was erased; its token has not expired yet.
    #[error("account erased")]
    AccountErased,
    #[error("the list cursor is invalid")]
    InvalidCursor,
    /// A dependency is throttling or down; the caller may retry.
    #[error("dependency unavailable: {0}")]
    Unavailable(String),
    /// A bug or an inconsistency; details go to the log, not to the caller.
    #[error("internal error: {0}")]
    Internal(String),
}

impl AccountsError {
    /// A validation error on one field.
    pub fn field(field: &str, message: impl Into<String>) -> AccountsError {
        AccountsError::Validation(vec![FieldError::new(field, message)])
    }
}

/// Failures of the identity provider port, in domain terms.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdentityError {
    #[error("a user with this username exists")]
    UsernameExists,
    #[error("password rejected: {0}")]
    InvalidPassword(String),
    #[error("parameter rejected: {0}")]
    InvalidParameter(String),
    #[error("not authorized")]
    NotAuthorized,
    #[error("user not confirmed")]
    UserNotConfirmed,
    #[error("user not found")]
    UserNotFound,
    #[error("code mismatch")]
    CodeMismatch,
    #[error("code expired")]
    ExpiredCode,
    #[error("too many requests")]
    TooManyRequests,
    #[error("identity provider unavailable: {0}")]
    Unavailable(String),
}

/// Failures of the account store port, in domain terms.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    /// A uniqueness claim is held by another account (field name of the claim).
    #[error("{0} is taken")]
    Taken(&'static str),
    /// A conditional write found the record in another state.
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("invalid cursor")]
    InvalidCursor,
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

impl From<StoreError> for AccountsError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Taken(field) => AccountsError::AlreadyUsed { field },
            StoreError::InvalidCursor => AccountsError::InvalidCursor,
            StoreError::Conflict(reason) => AccountsError::Internal(reason),
            StoreError::Unavailable(reason) => AccountsError::Unavailable(reason),
        }
    }
}
