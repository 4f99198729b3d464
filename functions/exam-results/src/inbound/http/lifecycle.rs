//! The routes that move an exam one step along its lifecycle: the same request (an exam id, the
//! caller, the trace) and the same answers, differing only in the step.

use std::collections::BTreeMap;

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use clinic_shared::auth::Caller;
use clinic_shared::http::RequestMeta;
use clinic_shared::http::openapi::problem_response;
use clinic_shared::problem::Problem;
use utoipa::openapi::RefOr;
use utoipa::openapi::response::Response;

use super::AppState;
use super::dto::ExamResponse;
use crate::domain::Action;

/// 409 `INVALID_TRANSITION`: the exam's status does not allow the step (`currentStatus` says
/// where it stands).
pub struct InvalidTransition;

impl utoipa::IntoResponses for InvalidTransition {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        problem_response(409, "INVALID_TRANSITION with currentStatus")
    }
}

/// A request to move the exam in the path one step.
pub struct ExamStep {
    state: AppState,
    caller: Caller,
    meta: RequestMeta,
    exam_id: String,
}

impl FromRequestParts<AppState> for ExamStep {
    type Rejection = axum::response::Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        use axum::response::IntoResponse;
        let caller = Caller::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let meta = RequestMeta::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let Path(exam_id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Self {
            state: state.clone(),
            caller,
            meta,
            exam_id,
        })
    }
}

impl ExamStep {
    /// Applies `action` to the exam and answers with the exam as it now stands.
    pub async fn apply(self, action: Action) -> Result<axum::Json<ExamResponse>, Problem> {
        let exam = self
            .state
            .service
            .advance(
                &self.caller,
                &self.exam_id,
                action,
                &self.meta.trace.traceparent(),
            )
            .await?;
        Ok(axum::Json(exam.into()))
    }
}
