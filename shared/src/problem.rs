//! RFC 9457 problem responses: the one shape every HTTP error takes at the edge.
//!
//! Services map their domain errors into a [`Problem`] once, at the HTTP boundary; nothing below
//! the edge builds responses. Internal details (SDK messages, stack text) never go into a problem:
//! they are logged by whoever turns an unexpected error into [`Problem::internal`].

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};

/// Media type of problem documents.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One offending input field of a validation failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FieldError {
    /// JSON path of the field, in the request's own (camelCase) names, e.g. `preferences.language`.
    pub field: String,
    /// What is wrong with it, for a human.
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A problem document (`application/problem+json`) with Clinic's stable machine `code`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable code, e.g. `VALIDATION_FAILED`, `NOT_FOUND`.
    pub code: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Extra members for specific codes (e.g. the current state of a conflicting resource).
    #[serde(flatten, default, skip_serializing_if = "serde_json::Map::is_empty")]
    #[schema(value_type = Object)]
    pub extensions: serde_json::Map<String, serde_json::Value>,
    /// Seconds a client should wait before retrying (sent as `Retry-After`).
    #[serde(skip)]
    pub retry_after: Option<u32>,
}

impl Problem {
    /// A problem with the given status, code and human detail.
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Self {
        Self {
            type_uri: format!(
                "https://clinic.example/problems/{}",
                code.to_lowercase().replace('_', "-")
            ),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail: detail.into(),
            code: code.to_string(),
            errors: Vec::new(),
            extensions: serde_json::Map::new(),
            retry_after: None,
        }
    }

    /// 400 `VALIDATION_FAILED` listing every offending field.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let mut problem = Self::new(
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
            "The request has invalid fields; see `errors`.",
        );
        problem.errors = errors;
        problem
    }

    /// 400 `MALFORMED_REQUEST`: the body is not the JSON the route expects.
    pub fn malformed(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "MALFORMED_REQUEST", detail)
    }

    /// 401 `UNAUTHORIZED`: no verified caller.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "A valid bearer token is required.",
        )
    }

    /// 403 `FORBIDDEN`: the caller's role may not do this.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "FORBIDDEN", detail)
    }

    /// 404 `NOT_FOUND`: also what a caller gets for someone else's resource, so ids cannot be probed.
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("{what} not found."),
        )
    }

    /// 409 with a specific conflict code.
    pub fn conflict(code: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, detail)
    }

    /// 500 `INTERNAL`: the cause is logged by the caller, never returned.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "Something went wrong on our side. Try again later.",
        )
    }

    /// 503 `UNAVAILABLE`: a dependency is throttling or down; the client may retry.
    pub fn unavailable(retry_after_seconds: u32) -> Self {
        let mut problem = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            "The service is busy. Try again shortly.",
        );
        problem.retry_after = Some(retry_after_seconds);
        problem
    }

    /// Adds an extension member (e.g. `currentStatus`).
    pub fn with(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.extensions.insert(key.to_string(), value.into());
        self
    }

    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.detail)
    }
}

impl std::error::Error for Problem {}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let body = serde_json::to_vec(&self).unwrap_or_else(|_| b"{}".to_vec());
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// Collects field errors while validating a request, so that every offending field is reported.
#[derive(Debug, Default)]
pub struct Validator {
    errors: Vec<FieldError>,
}

impl Validator {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the error of a parse attempt and returns the parsed value when it succeeded.
    pub fn check<T, E: std::fmt::Display>(
        &mut self,
        field: &str,
        result: Result<T, E>,
    ) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(err) => {
                self.errors.push(FieldError::new(field, err.to_string()));
                None
            }
        }
    }

    /// Records an error for `field`.
    pub fn push(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    /// `Ok(())` when nothing was recorded, else the 400 problem listing every field.
    pub fn finish(self) -> Result<(), Problem> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(Problem::validation(self.errors))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_serialises_with_code_and_field_errors() {
        let problem = Problem::validation(vec![FieldError::new("cpf", "invalid check digits")]);
        let json = serde_json::to_value(&problem).unwrap();
        assert_eq!(json["status"], 400);
        assert_eq!(json["code"], "VALIDATION_FAILED");
        assert_eq!(
            json["type"],
            "https://clinic.example/problems/validation-failed"
        );
        assert_eq!(json["errors"][0]["field"], "cpf");
        assert!(json.get("retryAfter").is_none());
    }

    #[test]
    fn extensions_are_top_level_members() {
        let problem =
            Problem::conflict("INVALID_TRANSITION", "no").with("currentStatus", "CANCELLED");
        let json = serde_json::to_value(&problem).unwrap();
        assert_eq!(json["currentStatus"], "CANCELLED");
    }

    #[tokio::test]
    async fn response_has_problem_content_type_and_retry_after() {
        let response = Problem::unavailable(3).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        assert_eq!(response.headers()[header::RETRY_AFTER], "3");
    }

    #[test]
    fn validator_reports_every_field() {
        let mut v = Validator::new();
        let parsed: Option<u8> = v.check("age", "x".parse::<u8>());
        assert!(parsed.is_none());
        v.push("email", "missing");
        let problem = v.finish().unwrap_err();
        assert_eq!(problem.errors.len(), 2);
        assert!(Validator::new().finish().is_ok());
    }
}
