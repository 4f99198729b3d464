//! The exam results HTTP API: axum routes behind API Gateway, documented with OpenAPI from the
//! same code that routes, so the spec cannot drift from the handlers.

pub mod dto;
pub mod error;
mod lifecycle;

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use clinic_shared::auth::{Caller, IngestScope};
use clinic_shared::http::openapi::{
    BadRequest, BearerAuth, Forbidden, NotFound, ProblemSchema, Unauthorized, Unavailable,
};
use clinic_shared::http::{ApiJson, RequestMeta, created};
use clinic_shared::idempotency::{Idempotency, IdempotencyKey};
use clinic_shared::pagination::parse_limit;
use clinic_shared::problem::Problem;
use utoipa::OpenApi;

use self::dto::*;
use self::lifecycle::{ExamStep, InvalidTransition};
use crate::ExamResultsService;
use crate::app::access::{Operation, authorize};
use crate::domain::Action;
use crate::domain::ingest::MAX_BODY_BYTES;

/// Shared state of the handlers, built once per function instance.
#[derive(Clone)]
pub struct AppState {
    pub service: Arc<ExamResultsService>,
    pub idempotency: Idempotency,
}

/// Route templates used as idempotency scopes.
const BOOK_ROUTE: &str = "POST /v1/appointments";
const BATCH_ROUTE: &str = "POST /v1/integrations/exams:batch";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Clinic exam results API",
        version = "1.0.0",
        description = "Hospital catalogue and slots, bookings, the exam lifecycle \
            (SCHEDULED → COLLECTED → COMPLETED → RESULT_READY, or CANCELLED) and the hospitals' \
            batch integration. Idempotency keys are kept for 24 hours."
    ),
    modifiers(&BearerAuth, &ProblemSchema),
    tags(
        (name = "catalogue", description = "Hospitals, exam types and slots"),
        (name = "exams", description = "Bookings and the exam lifecycle"),
        (name = "integration", description = "Hospitals pushing exams in batches")
    )
)]
struct ApiDoc;

clinic_shared::api_routes!(ApiDoc, AppState;
    [list_hospitals],
    [publish_slots],
    [list_slots],
    [book],
    [cancel],
    [list_exams],
    [get_exam],
    [claim_exam],
    [assign],
    [collect],
    [complete],
    [submit_batch],
    [get_batch],
);

/// The router the Lambda function serves.
pub fn router(state: AppState, ingest_scope: IngestScope) -> Router {
    clinic_shared::http::edge(served(), state, ingest_scope)
}

/// The OpenAPI document of every route this service serves.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().split_for_parts().1
}

/// The catalogue: hospitals with the exam types each offers.
#[utoipa::path(
    get, path = "/v1/hospitals", tag = "catalogue", security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, body = HospitalsPage),
        BadRequest, Unauthorized,
    )
)]
async fn list_hospitals(
    State(state): State<AppState>,
    _caller: Caller,
    Query(query): Query<PageQuery>,
) -> Result<axum::Json<HospitalsPage>, Problem> {
    let limit = parse_limit(query.limit.as_deref())?;
    let page = state.service.list_hospitals(limit, query.cursor).await?;
    Ok(axum::Json(HospitalsPage::from(page)))
}

/// Publish availability (staff, or the hospital itself): creates or updates slots and registers
/// their exam types. Publishing a slot again (same type and start) updates its end and capacity;
/// a capacity cannot drop below the places already booked.
#[utoipa::path(
    put, path = "/v1/hospitals/{id}/slots", tag = "catalogue", security(("bearer" = [])),
    params(("id" = String, Path, description = "Hospital id")),
    request_body = Vec<SlotInput>,
    responses(
        (status = 200, body = PublishedSlots),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "CAPACITY_BELOW_BOOKED"),
        BadRequest, Unauthorized, Forbidden, NotFound,
    )
)]
async fn publish_slots(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Vec<SlotInput>>,
) -> Result<axum::Json<PublishedSlots>, Problem> {
    authorize(&caller, Operation::PublishSlots)?;
    let specs = parse_slots(body, state.service.now())?;
    let slots = state.service.publish_slots(&caller, &id, specs).await?;
    Ok(axum::Json(PublishedSlots {
        items: slots.into_iter().map(Into::into).collect(),
    }))
}

/// Open slots with places left, by start time (answers may be a few seconds old).
#[utoipa::path(
    get, path = "/v1/slots", tag = "catalogue", security(("bearer" = [])),
    params(SlotsQuery),
    responses(
        (status = 200, body = SlotsPage),
        BadRequest, Unauthorized,
    )
)]
async fn list_slots(
    State(state): State<AppState>,
    _caller: Caller,
    Query(query): Query<SlotsQuery>,
) -> Result<axum::Json<SlotsPage>, Problem> {
    let limit = parse_limit(query.limit.as_deref())?;
    let parsed = query.parse(state.service.now())?;
    let page = state
        .service
        .list_slots(parsed, limit, query.cursor.clone())
        .await?;
    Ok(axum::Json(SlotsPage::from(page)))
}

/// Book a place in a slot (patients). Requires an `Idempotency-Key`: a retry with the same key
/// and body replays the first answer.
#[utoipa::path(
    post, path = "/v1/appointments", tag = "exams", security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, description = "Required; kept 24 hours")),
    request_body = BookRequest,
    responses(
        (status = 201, body = BookResponse),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "Invalid body or missing Idempotency-Key"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such slot"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "SLOT_FULL, SLOT_CLOSED, ALREADY_BOOKED or REQUEST_IN_PROGRESS"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "IDEMPOTENCY_KEY_REUSED"),
        Unauthorized, Forbidden,
    )
)]
async fn book(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    idem: IdempotencyKey,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(refused) = authorize(&caller, Operation::Book) {
        return Problem::from(refused).into_response();
    }
    let request = idem.for_route(&caller.id, BOOK_ROUTE, &body);
    state
        .idempotency
        .run(request, || async {
            let slot_id =
                clinic_shared::http::json_body::<BookRequest>(&headers, &body)?.parse()?;
            let exam = state
                .service
                .book(&caller, &slot_id, &meta.trace.traceparent())
                .await?;
            Ok::<_, Problem>(created(
                &format!("/v1/exams/{}", exam.id),
                &BookResponse {
                    exam_id: exam.id,
                    status: exam.status,
                },
            ))
        })
        .await
}

/// Cancel one's appointment before it starts; its place is freed.
#[utoipa::path(
    delete, path = "/v1/appointments/{examId}", tag = "exams", security(("bearer" = [])),
    params(("examId" = String, Path, description = "Exam id of the appointment")),
    responses(
        (status = 204, description = "Cancelled"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "INVALID_TRANSITION (with currentStatus), TOO_LATE_TO_CANCEL or NOT_AN_APPOINTMENT"),
        Unauthorized, Forbidden, NotFound,
    )
)]
async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    Path(exam_id): Path<String>,
) -> Result<StatusCode, Problem> {
    state
        .service
        .cancel(&caller, &exam_id, &meta.trace.traceparent())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Exams the caller may see — own (patient), assigned (doctor), the hospital's own, or all
/// (staff) — newest scheduled first.
#[utoipa::path(
    get, path = "/v1/exams", tag = "exams", security(("bearer" = [])),
    params(ExamsQuery),
    responses(
        (status = 200, body = ExamsPage),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Unregistered hospital client"),
        BadRequest, Unauthorized,
    )
)]
async fn list_exams(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<ExamsQuery>,
) -> Result<axum::Json<ExamsPage>, Problem> {
    let limit = parse_limit(query.limit.as_deref())?;
    let status = parse_status(query.status.as_deref())?;
    let page = state
        .service
        .list_exams(&caller, status, limit, query.cursor.as_deref())
        .await?;
    Ok(axum::Json(ExamsPage::from(page)))
}

/// One exam; someone else's answers 404.
#[utoipa::path(
    get, path = "/v1/exams/{id}", tag = "exams", security(("bearer" = [])),
    params(("id" = String, Path, description = "Exam id")),
    responses(
        (status = 200, body = ExamResponse),
        Unauthorized, NotFound,
    )
)]
async fn get_exam(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<ExamResponse>, Problem> {
    Ok(axum::Json(
        state.service.get_exam(&caller, &id).await?.into(),
    ))
}

/// Claim a hospital's exam with the access code printed on the receipt (patients). The code is
/// the proof that the exam is the caller's: it works once, expires, and locks after a few wrong
/// tries. Claiming again with the same code answers as the first time.
#[utoipa::path(
    post, path = "/v1/exams:claim", tag = "exams", security(("bearer" = [])),
    request_body = ClaimRequest,
    responses(
        (status = 200, body = ExamResponse, description = "The exam, now linked to the caller"),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "ACCESS_CODE_INVALID (unknown, wrong, expired, used or locked: one answer), or a malformed code"),
        (status = 401, body = Problem, content_type = "application/problem+json", description = "No valid token, or ACCOUNT_ERASED"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Not a patient"),
        (status = 429, body = Problem, content_type = "application/problem+json", description = "TOO_MANY_ATTEMPTS, with Retry-After"),
        Unavailable,
    )
)]
async fn claim_exam(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    ApiJson(body): ApiJson<ClaimRequest>,
) -> Result<axum::Json<ExamResponse>, Problem> {
    let code = body.parse()?;
    let exam = state
        .service
        .claim(&caller, &code, &meta.trace.traceparent())
        .await?;
    Ok(axum::Json(exam.into()))
}

/// Assign the exam's doctor (staff, or the exam's hospital) before it is completed.
#[utoipa::path(
    post, path = "/v1/exams/{id}/assign", tag = "exams", security(("bearer" = [])),
    params(("id" = String, Path, description = "Exam id")),
    request_body = AssignRequest,
    responses(
        (status = 200, body = ExamResponse),
        BadRequest, Unauthorized, Forbidden, NotFound, InvalidTransition,
    )
)]
async fn assign(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AssignRequest>,
) -> Result<axum::Json<ExamResponse>, Problem> {
    authorize(&caller, Operation::Assign)?;
    let doctor = body.parse()?;
    let exam = state
        .service
        .assign(&caller, &id, &doctor, &meta.trace.traceparent())
        .await?;
    Ok(axum::Json(exam.into()))
}

/// Record the collection of the exam (`SCHEDULED → COLLECTED`): staff, the exam's hospital or
/// its assigned doctor.
#[utoipa::path(
    post, path = "/v1/exams/{id}/collect", tag = "exams", security(("bearer" = [])),
    params(("id" = String, Path, description = "Exam id")),
    responses((status = 200, body = ExamResponse), InvalidTransition, Unauthorized, Forbidden, NotFound)
)]
async fn collect(step: ExamStep) -> Result<axum::Json<ExamResponse>, Problem> {
    step.apply(Action::Collect).await
}

/// Complete the exam (`COLLECTED → COMPLETED`): its assigned doctor or its hospital.
#[utoipa::path(
    post, path = "/v1/exams/{id}/complete", tag = "exams", security(("bearer" = [])),
    params(("id" = String, Path, description = "Exam id")),
    responses((status = 200, body = ExamResponse), InvalidTransition, Unauthorized, Forbidden, NotFound)
)]
async fn complete(step: ExamStep) -> Result<axum::Json<ExamResponse>, Problem> {
    step.apply(Action::Complete).await
}

/// Push exams in a batch (hospitals): at most 500 items and 1 MB. Answered at once with the
/// batch id; items are applied asynchronously. Per exam a higher `version` wins; a replayed or
/// older version is `STALE` and changes nothing; an invalid item is `REJECTED` with its reason
/// while the others apply. An optional `Idempotency-Key` replays the first answer.
#[utoipa::path(
    post, path = "/v1/integrations/exams:batch", tag = "integration", security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Optional; kept 24 hours")),
    request_body = BatchRequest,
    responses(
        (status = 202, body = BatchAccepted),
        (status = 413, body = Problem, content_type = "application/problem+json", description = "PAYLOAD_TOO_LARGE: over 500 items or 1 MB"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        BadRequest, Unauthorized, Forbidden, Unavailable,
    )
)]
async fn submit_batch(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    idem: IdempotencyKey,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Err(refused) = authorize(&caller, Operation::SubmitBatch) {
        return Problem::from(refused).into_response();
    }
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            "A batch body is at most 1 MB.",
        )
        .into_response();
    };
    let request = idem
        .for_route(&caller.id, BATCH_ROUTE, &bytes)
        .key_optional();
    state
        .idempotency
        .run(request, || async {
            clinic_shared::http::json_body::<serde_json::Value>(&headers, &bytes)?;
            let items = batch_items(&bytes)?;
            let receipt = state
                .service
                .submit_batch(&caller, items, &meta.trace.traceparent())
                .await?;
            Ok::<_, Problem>(clinic_shared::http::json_at(
                StatusCode::ACCEPTED,
                &format!("/v1/integrations/batches/{}", receipt.batch_id),
                &BatchAccepted {
                    batch_id: receipt.batch_id.clone(),
                    accepted: receipt.accepted,
                    rejected: receipt.rejected,
                },
            ))
        })
        .await
}

/// The state of each item of a batch (the hospital that sent it).
#[utoipa::path(
    get, path = "/v1/integrations/batches/{batchId}", tag = "integration", security(("bearer" = [])),
    params(("batchId" = String, Path, description = "Batch id")),
    responses(
        (status = 200, body = BatchResponse),
        Unauthorized, Forbidden, NotFound,
    )
)]
async fn get_batch(
    State(state): State<AppState>,
    caller: Caller,
    Path(batch_id): Path<String>,
) -> Result<axum::Json<BatchResponse>, Problem> {
    Ok(axum::Json(
        state.service.get_batch(&caller, &batch_id).await?.into(),
    ))
}
