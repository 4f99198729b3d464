//! The notifications HTTP API: the caller's own notification log, documented with OpenAPI from
//! the same code that routes.

pub mod dto;
pub mod error;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use clinic_shared::auth::{Caller, IngestScope};
use clinic_shared::http::openapi::{BearerAuth, ProblemSchema, Unauthorized};
use clinic_shared::pagination::parse_limit;
use clinic_shared::problem::Problem;
use utoipa::OpenApi;

use self::dto::{ListQuery, NotificationsPage};
use crate::HistoryService;

/// Shared state of the handlers, built once per function instance.
#[derive(Clone)]
pub struct AppState {
    pub history: Arc<HistoryService>,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Clinic notifications API", version = "1.0.0"),
    modifiers(&BearerAuth, &ProblemSchema),
    tags((name = "notifications", description = "What was sent to me"))
)]
struct ApiDoc;

clinic_shared::api_routes!(ApiDoc, AppState;
    [my_notifications],
);

/// The router the Lambda function serves.
pub fn router(state: AppState, ingest_scope: IngestScope) -> Router {
    clinic_shared::http::edge(served(), state, ingest_scope)
}

/// The OpenAPI document of every route this service serves.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().split_for_parts().1
}

/// What was sent to me: channel, template, status and time, newest first.
#[utoipa::path(
    get, path = "/v1/me/notifications", tag = "notifications", security(("bearer" = [])),
    params(ListQuery),
    responses(
        (status = 200, body = NotificationsPage),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "Bad limit or cursor"),
        Unauthorized,
    )
)]
async fn my_notifications(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> Result<axum::Json<NotificationsPage>, Problem> {
    let limit = parse_limit(query.limit.as_deref())?;
    let page = state
        .history
        .mine(&caller, limit, query.cursor.as_deref())
        .await?;
    Ok(axum::Json(NotificationsPage::from(page)))
}
