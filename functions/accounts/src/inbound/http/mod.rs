//! The accounts HTTP API: axum routes behind API Gateway, documented with OpenAPI from the same
//! code that routes, so the spec cannot drift from the handlers.

pub mod dto;
pub mod error;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use clinic_shared::auth::{Caller, IngestScope};
use clinic_shared::http::openapi::{
    BadRequest, BearerAuth, Forbidden, NotFound, ProblemSchema, TooManyRequests, Unauthorized,
    Unavailable,
};
use clinic_shared::http::{ApiJson, RequestMeta, created, no_store};
use clinic_shared::pagination::parse_limit;
use clinic_shared::problem::Problem;
use utoipa::OpenApi;

use self::dto::*;
use crate::AccountsService;
use crate::app::{StaffOperation, authorize_staff};
use crate::domain::AccountStatus;

/// Shared state of the handlers, built once per function instance.
#[derive(Clone)]
pub struct AppState {
    pub accounts: Arc<AccountsService>,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Clinic accounts API", version = "1.0.0"),
    modifiers(&BearerAuth, &ProblemSchema),
    tags((name = "accounts", description = "Sign-up, sign-in, profiles, doctors and hospitals"))
)]
struct ApiDoc;

clinic_shared::api_routes!(ApiDoc, AppState;
    [sign_up_patient],
    [confirm_sign_up],
    [issue_token],
    [complete_new_password],
    [answer_mfa],
    [refresh_token],
    [get_me, update_me, delete_me],
    [register_doctor, list_doctors],
    [register_hospital],
);

/// The router the Lambda function serves.
pub fn router(state: AppState, ingest_scope: IngestScope) -> Router {
    clinic_shared::http::edge(served(), state, ingest_scope)
}

/// The OpenAPI document of every route this service serves.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().split_for_parts().1
}

fn today() -> jiff::civil::Date {
    jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
}

/// Sign up as a patient.
///
/// Every valid sign-up gets the same answer, whether or not the e-mail is known: the next step
/// is the code sent to the address (a known address's owner is told by e-mail instead). Nothing
/// is announced or sent to the phone before the sign-up is confirmed.
#[utoipa::path(
    post, path = "/v1/accounts/patients", tag = "accounts", security(()),
    request_body = SignUpRequest,
    responses(
        (status = 202, body = SignUpResponse, description = "Confirm the e-mail with the code sent to it next"),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "Invalid fields"),
        TooManyRequests, Unavailable,
    )
)]
async fn sign_up_patient(
    State(state): State<AppState>,
    meta: RequestMeta,
    ApiJson(body): ApiJson<SignUpRequest>,
) -> Result<Response, Problem> {
    let patient = body.parse(today())?;
    state
        .accounts
        .sign_up_patient(patient, &meta.trace.traceparent())
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(SignUpResponse {
            status: AccountStatus::PendingConfirmation,
        }),
    )
        .into_response())
}

/// Confirm a sign-up with the code sent by e-mail and the password chosen at sign-up.
#[utoipa::path(
    post, path = "/v1/accounts/confirm", tag = "accounts", security(()),
    request_body = ConfirmRequest,
    responses(
        (status = 204, description = "Confirmed (also when it already was)"),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "Invalid fields, or a wrong or expired code (INVALID_CODE, EXPIRED_CODE)"),
        TooManyRequests, Unavailable,
    )
)]
async fn confirm_sign_up(
    State(state): State<AppState>,
    meta: RequestMeta,
    ApiJson(body): ApiJson<ConfirmRequest>,
) -> Result<StatusCode, Problem> {
    let (email, code, password) = body.parse()?;
    state
        .accounts
        .confirm(&email, &code, &password, &meta.trace.traceparent())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sign in with e-mail and password.
#[utoipa::path(
    post, path = "/v1/auth/token", tag = "accounts", security(()),
    request_body = TokenRequest,
    responses(
        (status = 200, body = SignInResponse, description = "Tokens, or a challenge: NEW_PASSWORD_REQUIRED, SOFTWARE_TOKEN_MFA or MFA_SETUP"),
        (status = 401, body = Problem, content_type = "application/problem+json", description = "Wrong credentials"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "E-mail not confirmed"),
        TooManyRequests,
    )
)]
async fn issue_token(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<TokenRequest>,
) -> Result<Response, Problem> {
    let (username, password) = body.parse()?;
    let outcome = state.accounts.sign_in(&username, &password).await?;
    Ok(no_store(axum::Json(SignInResponse::of(outcome, &username))))
}

/// Answer the second-factor step of a sign-in (`SOFTWARE_TOKEN_MFA` or `MFA_SETUP`) with the
/// authenticator app's current code.
#[utoipa::path(
    post, path = "/v1/auth/mfa", tag = "accounts", security(()),
    request_body = MfaRequest,
    responses(
        (status = 200, body = TokenResponse),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "Invalid fields, or a wrong code (INVALID_MFA_CODE)"),
        (status = 401, body = Problem, content_type = "application/problem+json", description = "Session invalid or expired (INVALID_SESSION): sign in again"),
        TooManyRequests, Unavailable,
    )
)]
async fn answer_mfa(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<MfaRequest>,
) -> Result<Response, Problem> {
    let (username, session, code) = body.parse()?;
    let tokens = state
        .accounts
        .answer_mfa(&username, &session, &code)
        .await?;
    Ok(no_store(axum::Json(TokenResponse::from(tokens))))
}

/// Choose the first password of an account created by staff. Staff and doctors then set an
/// authenticator app up (`MFA_SETUP`) before getting tokens.
#[utoipa::path(
    post, path = "/v1/auth/new-password", tag = "accounts", security(()),
    request_body = NewPasswordRequest,
    responses(
        (status = 200, body = SignInResponse, description = "Tokens, or the MFA_SETUP challenge"),
        (status = 401, body = Problem, content_type = "application/problem+json", description = "Session invalid or expired"),
        BadRequest,
    )
)]
async fn complete_new_password(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<NewPasswordRequest>,
) -> Result<Response, Problem> {
    let (username, session, password) = body.parse()?;
    let outcome = state
        .accounts
        .complete_new_password(&username, &session, &password)
        .await?;
    Ok(no_store(axum::Json(SignInResponse::of(outcome, &username))))
}

/// Fresh id and access tokens from a refresh token.
#[utoipa::path(
    post, path = "/v1/auth/refresh", tag = "accounts", security(()),
    request_body = RefreshRequest,
    responses(
        (status = 200, body = TokenResponse),
        Unauthorized,
    )
)]
async fn refresh_token(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> Result<Response, Problem> {
    let token = body.parse()?;
    let tokens = state.accounts.refresh(&token).await?;
    Ok(no_store(axum::Json(TokenResponse::from(tokens))))
}

/// One's own profile.
#[utoipa::path(
    get, path = "/v1/me", tag = "accounts", security(("bearer" = [])),
    responses(
        (status = 200, body = ProfileResponse),
        Unauthorized, NotFound,
    )
)]
async fn get_me(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<ProfileResponse>, Problem> {
    Ok(axum::Json(state.accounts.me(&caller).await?.into()))
}

/// Change one's name, phone or preferences.
#[utoipa::path(
    patch, path = "/v1/me", tag = "accounts", security(("bearer" = [])),
    request_body = UpdateMeRequest,
    responses(
        (status = 200, body = ProfileResponse),
        BadRequest, Unauthorized, NotFound,
    )
)]
async fn update_me(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    ApiJson(body): ApiJson<UpdateMeRequest>,
) -> Result<axum::Json<ProfileResponse>, Problem> {
    let changes = body.parse()?;
    let profile = state
        .accounts
        .update_me(&caller, changes, &meta.trace.traceparent())
        .await?;
    Ok(axum::Json(profile.into()))
}

/// Erase one's account (LGPD).
#[utoipa::path(
    delete, path = "/v1/me", tag = "accounts", security(("bearer" = [])),
    responses(
        (status = 204, description = "Erased"),
        Unauthorized, NotFound,
    )
)]
async fn delete_me(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
) -> Result<StatusCode, Problem> {
    state
        .accounts
        .delete_me(&caller, &meta.trace.traceparent())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Register a doctor (staff).
#[utoipa::path(
    post, path = "/v1/doctors", tag = "accounts", security(("bearer" = [])),
    request_body = RegisterDoctorRequest,
    responses(
        (status = 201, body = CreatedResponse),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "E-mail or CRM already used"),
        BadRequest, Unauthorized, Forbidden,
    )
)]
async fn register_doctor(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    ApiJson(body): ApiJson<RegisterDoctorRequest>,
) -> Result<Response, Problem> {
    authorize_staff(&caller, StaffOperation::RegisterDoctor)?;
    let doctor = body.parse()?;
    let profile = state
        .accounts
        .register_doctor(&caller, doctor, &meta.trace.traceparent())
        .await?;
    Ok(created(
        &format!("/v1/doctors/{}", profile.id),
        &CreatedResponse { id: profile.id },
    ))
}

/// Doctors, optionally of one specialty.
#[utoipa::path(
    get, path = "/v1/doctors", tag = "accounts", security(("bearer" = [])),
    params(DoctorsQuery),
    responses(
        (status = 200, body = DoctorsPage),
        BadRequest, Unauthorized,
    )
)]
async fn list_doctors(
    State(state): State<AppState>,
    _caller: Caller,
    Query(query): Query<DoctorsQuery>,
) -> Result<axum::Json<DoctorsPage>, Problem> {
    let limit = parse_limit(query.limit.as_deref())?;
    let page = state
        .accounts
        .list_doctors(query.specialty.as_deref(), limit, query.cursor.as_deref())
        .await?;
    Ok(axum::Json(DoctorsPage::from(page)))
}

/// Register a hospital and its machine client (staff). The secret is shown once.
#[utoipa::path(
    post, path = "/v1/hospitals", tag = "accounts", security(("bearer" = [])),
    request_body = RegisterHospitalRequest,
    responses(
        (status = 201, body = HospitalCreatedResponse),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "CNES already registered"),
        BadRequest, Unauthorized, Forbidden,
    )
)]
async fn register_hospital(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    ApiJson(body): ApiJson<RegisterHospitalRequest>,
) -> Result<Response, Problem> {
    authorize_staff(&caller, StaffOperation::RegisterHospital)?;
    let hospital = body.parse()?;
    let (record, client) = state
        .accounts
        .register_hospital(&caller, hospital, &meta.trace.traceparent())
        .await?;
    Ok(no_store(created(
        &format!("/v1/hospitals/{}", record.id),
        &HospitalCreatedResponse {
            id: record.id,
            client_id: client.client_id,
            client_secret: client.client_secret,
        },
    )))
}
