//! The file-management HTTP API: axum routes behind API Gateway, documented with OpenAPI from the
//! same code that routes.

pub mod dto;
pub mod error;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use clinic_shared::auth::{Caller, IngestScope};
use clinic_shared::envelope::Role;
use clinic_shared::http::openapi::{
    BadRequest, BearerAuth, Forbidden, NotFound, ProblemSchema, Unauthorized,
};
use clinic_shared::http::{RequestMeta, no_store};
use clinic_shared::idempotency::{DynamoIdempotencyStore, Idempotency, IdempotencyKey};
use clinic_shared::pagination::parse_limit;
use clinic_shared::problem::Problem;
use utoipa::OpenApi;

use self::dto::*;
use crate::domain::values::{ExamId, FileId, ReportId};
use crate::{FilesService, ReportsService};

/// Shared state of the handlers, built once per function instance.
#[derive(Clone)]
pub struct AppState {
    pub files: Arc<FilesService>,
    pub reports: Arc<ReportsService>,
    pub idempotency: Idempotency<DynamoIdempotencyStore>,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Clinic file-management API", version = "1.0.0"),
    modifiers(&BearerAuth, &ProblemSchema),
    tags((name = "files", description = "Exam result files, downloads and their audit trail"),
         (name = "reports", description = "Asynchronous XLSX/PDF reports for staff"))
)]
struct ApiDoc;

clinic_shared::api_routes!(ApiDoc, AppState;
    [create_upload, list_files],
    [download],
    [access_log],
    [request_report],
    [get_report],
);

/// The verified caller, provided their account was not erased: every route takes it, so an
/// erased account's still-valid token is refused before anything else runs (an idempotent
/// replay included).
pub struct ActiveCaller(pub Caller);

impl FromRequestParts<AppState> for ActiveCaller {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, state).await?;
        state.files.ensure_active(&caller).await?;
        Ok(ActiveCaller(caller))
    }
}

/// The router the Lambda function serves.
pub fn router(state: AppState, ingest_scope: IngestScope) -> Router {
    clinic_shared::http::edge(served(), state, ingest_scope)
}

/// The OpenAPI document of every route this service serves.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().split_for_parts().1
}

/// Get a presigned URL to upload a file of an exam (assigned doctor or the exam's hospital).
#[utoipa::path(
    post, path = "/v1/exams/{id}/files", tag = "files", security(("bearer" = [])),
    params(("id" = String, Path, description = "Exam id")),
    request_body = CreateUploadRequest,
    responses(
        (status = 201, body = UploadResponse, description = "File created PENDING; PUT the bytes to uploadUrl with uploadHeaders"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "Exam cancelled"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        BadRequest, Unauthorized, Forbidden, NotFound,
    )
)]
async fn create_upload(
    State(state): State<AppState>,
    ActiveCaller(caller): ActiveCaller,
    idem: IdempotencyKey,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    state
        .idempotency
        .run(
            idem.for_route(&caller.id, "POST /v1/exams/{id}/files", &body)
                .key_optional(),
            || async {
                let exam_id = ExamId::parse(&id).ok_or_else(|| Problem::not_found("Exam"))?;
                let upload =
                    clinic_shared::http::json_body::<CreateUploadRequest>(&headers, &body)?
                        .parse()?;
                let ticket = state
                    .files
                    .request_upload(&caller, &exam_id, upload)
                    .await?;
                Ok::<_, Problem>(no_store((
                    StatusCode::CREATED,
                    axum::Json(UploadResponse::from(ticket)),
                )))
            },
        )
        .await
}

/// The files of an exam (whoever may see the exam).
#[utoipa::path(
    get, path = "/v1/exams/{id}/files", tag = "files", security(("bearer" = [])),
    params(("id" = String, Path, description = "Exam id"), PageQuery),
    responses(
        (status = 200, body = FilesPage),
        BadRequest, Unauthorized, NotFound,
    )
)]
async fn list_files(
    State(state): State<AppState>,
    ActiveCaller(caller): ActiveCaller,
    Path(id): Path<String>,
    Query(query): Query<PageQuery>,
) -> Result<axum::Json<FilesPage>, Problem> {
    let limit = parse_limit(query.limit.as_deref())?;
    let exam_id = ExamId::parse(&id).ok_or_else(|| Problem::not_found("Exam"))?;
    let page = state
        .files
        .list_files(&caller, &exam_id, limit, query.cursor.as_deref())
        .await?;
    Ok(axum::Json(FilesPage::from(page)))
}

/// A presigned download URL (owner patient, assigned doctor, staff); every grant is audited.
#[utoipa::path(
    get, path = "/v1/files/{fileId}/download", tag = "files", security(("bearer" = [])),
    params(("fileId" = String, Path, description = "File id")),
    responses(
        (status = 200, body = DownloadResponse),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "Not available (pending, rejected or erased)"),
        Unauthorized, NotFound,
    )
)]
async fn download(
    State(state): State<AppState>,
    ActiveCaller(caller): ActiveCaller,
    meta: RequestMeta,
    Path(file_id): Path<String>,
) -> Result<Response, Problem> {
    let file_id = FileId::parse(&file_id).ok_or_else(|| Problem::not_found("File"))?;
    let url = state
        .files
        .download(&caller, &file_id, &meta.request_id)
        .await?;
    Ok(no_store(axum::Json(DownloadResponse::from(url))))
}

/// Who fetched which file of an exam, and when (owner patient, staff).
#[utoipa::path(
    get, path = "/v1/exams/{id}/access-log", tag = "files", security(("bearer" = [])),
    params(("id" = String, Path, description = "Exam id"), PageQuery),
    responses(
        (status = 200, body = AccessLogPage),
        BadRequest, Unauthorized, Forbidden, NotFound,
    )
)]
async fn access_log(
    State(state): State<AppState>,
    ActiveCaller(caller): ActiveCaller,
    Path(id): Path<String>,
    Query(query): Query<PageQuery>,
) -> Result<axum::Json<AccessLogPage>, Problem> {
    let limit = parse_limit(query.limit.as_deref())?;
    let exam_id = ExamId::parse(&id).ok_or_else(|| Problem::not_found("Exam"))?;
    let page = state
        .files
        .access_log(&caller, &exam_id, limit, query.cursor.as_deref())
        .await?;
    Ok(axum::Json(AccessLogPage::from(page)))
}

/// Ask for a report (staff; `Idempotency-Key` required). Built asynchronously.
#[utoipa::path(
    post, path = "/v1/reports", tag = "reports", security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, description = "Required; same key and body replay the first answer")),
    request_body = CreateReportRequest,
    responses(
        (status = 202, body = ReportAccepted),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "The first request with this key is still running"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "Key reused with another body"),
        BadRequest, Unauthorized, Forbidden,
    )
)]
async fn request_report(
    State(state): State<AppState>,
    ActiveCaller(caller): ActiveCaller,
    idem: IdempotencyKey,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(problem) = caller.require(&[Role::Staff]) {
        return problem.into_response();
    }
    state
        .idempotency
        .run(
            idem.for_route(&caller.id, "POST /v1/reports", &body),
            || async {
                let (format, filters) =
                    clinic_shared::http::json_body::<CreateReportRequest>(&headers, &body)?
                        .parse()?;
                let report = state.reports.request(&caller, format, filters).await?;
                Ok::<_, Problem>(clinic_shared::http::json_at(
                    StatusCode::ACCEPTED,
                    &format!("/v1/reports/{}", report.report_id),
                    &ReportAccepted {
                        report_id: report.report_id.clone(),
                        status: report.status,
                    },
                ))
            },
        )
        .await
}

/// A report's status, with a download URL once done (staff, the requester only, for 30 days;
/// every URL is audited).
#[utoipa::path(
    get, path = "/v1/reports/{id}", tag = "reports", security(("bearer" = [])),
    params(("id" = String, Path, description = "Report id")),
    responses(
        (status = 200, body = ReportResponse),
        (status = 410, body = Problem, content_type = "application/problem+json", description = "Past the 30-day retention (REPORT_EXPIRED)"),
        Unauthorized, Forbidden, NotFound,
    )
)]
async fn get_report(
    State(state): State<AppState>,
    ActiveCaller(caller): ActiveCaller,
    meta: RequestMeta,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let report_id = ReportId::parse(&id).ok_or_else(|| Problem::not_found("Report"))?;
    let (report, url) = state
        .reports
        .status(&caller, &report_id, &meta.request_id)
        .await?;
    Ok(no_store(axum::Json(ReportResponse::new(report, url))))
}
