//! The one mapping from accounts errors to problem responses.

use clinic_shared::problem::Problem;
use http::StatusCode;

use crate::domain::AccountsError;

impl From<AccountsError> for Problem {
    fn from(err: AccountsError) -> Self {
        match err {
            AccountsError::Validation(errors) => Problem::validation(errors),
            AccountsError::AlreadyUsed { field } => {
                let code = match field {
                    "cpf" => "CPF_ALREADY_USED",
                    "crm" => "CRM_ALREADY_USED",
                    "cnes" => "CNES_ALREADY_USED",
                    _ => "EMAIL_ALREADY_USED",
                };
                Problem::conflict(
                    code,
                    format!("This {field} already belongs to another account."),
                )
                .with("field", field)
            }
            AccountsError::InvalidCredentials => Problem::new(
                StatusCode::UNAUTHORIZED,
                "INVALID_CREDENTIALS",
                "Wrong username or password.",
            ),
            AccountsError::NotConfirmed => Problem::new(
                StatusCode::FORBIDDEN,
                "ACCOUNT_NOT_CONFIRMED",
                "Confirm your e-mail address with the code we sent before signing in.",
            ),
            AccountsError::InvalidCode => Problem::new(
                StatusCode::BAD_REQUEST,
                "INVALID_CODE",
                "The confirmation code is not valid for this e-mail.",
            ),
            AccountsError::ExpiredCode => Problem::new(
                StatusCode::BAD_REQUEST,
                "EXPIRED_CODE",
                "The confirmation code has expired.",
            ),
            AccountsError::InvalidSession => Problem::new(
                StatusCode::UNAUTHORIZED,
                "INVALID_SESSION",
                "The sign-in session is invalid or has expired; sign in again.",
            ),
            AccountsError::InvalidRefreshToken => Problem::new(
                StatusCode::UNAUTHORIZED,
                "INVALID_REFRESH_TOKEN",
                "The refresh token is invalid or has expired; sign in again.",
            ),
            AccountsError::Throttled => {
                let mut problem = Problem::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "TOO_MANY_REQUESTS",
                    "Too many attempts. Wait a moment and try again.",
                );
                problem.retry_after = Some(5);
                problem
            }
            AccountsError::NotFound(what) => Problem::not_found(what),
            AccountsError::Forbidden(why) => Problem::forbidden(format!("Not allowed: {why}.")),
            AccountsError::AccountErased => Problem::new(
                StatusCode::UNAUTHORIZED,
                "ACCOUNT_ERASED",
                "This account was deleted; sign in with another account.",
            ),
            AccountsError::InvalidCursor => clinic_shared::pagination::InvalidCursor.into(),
            AccountsError::Unavailable(reason) => {
                tracing::warn!(reason = %reason, "dependency unavailable");
                Problem::unavailable(2)
            }
            AccountsError::Internal(reason) => {
                tracing::error!(reason = %reason, "internal error");
                Problem::internal()
            }
        }
    }
}
