//! The HTTP edge shared by every API function: request id and trace propagation, JSON bodies that
//! fail with problem responses, and the Lambda invocation deadline.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::middleware::Next;
use axum::response::Response;
use http::request::Parts;
use http::{HeaderValue, header};
use lambda_http::request::RequestContext;
use serde::de::DeserializeOwned;
use tracing::Instrument;

use crate::problem::Problem;
use crate::telemetry::TraceContext;

pub mod openapi;
pub mod routes;

/// Header carrying the request id on every response.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Request id and trace context of the current request, set by [`request_meta`].
#[derive(Debug, Clone)]
pub struct RequestMeta {
    pub request_id: String,
    pub trace: TraceContext,
}

impl<S: Send + Sync> FromRequestParts<S> for RequestMeta {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<RequestMeta>()
            .cloned()
            .unwrap_or_else(|| RequestMeta {
                request_id: ulid::Ulid::new().to_string(),
                trace: TraceContext::start(),
            }))
    }
}

/// Middleware: takes the API Gateway request id (or makes one), continues `traceparent`, runs the
/// handler inside a span carrying both, and returns the id as `x-request-id`.
pub async fn request_meta(mut request: Request, next: Next) -> Response {
    #[allow(unreachable_patterns)]
    let (gateway_id, route_key) = request
        .extensions()
        .get::<RequestContext>()
        .map(|c| match c {
            RequestContext::ApiGatewayV2(ctx) => (ctx.request_id.clone(), ctx.route_key.clone()),
            _ => (None, None),
        })
        .unwrap_or_default();
    let started = std::time::Instant::now();
    let request_id = gateway_id.unwrap_or_else(|| ulid::Ulid::new().to_string());
    let trace = TraceContext::continue_or_start(
        request
            .headers()
            .get("traceparent")
            .and_then(|v| v.to_str().ok()),
    );
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        trace_id = %trace.trace_id,
        method = %request.method(),
        route = %request.uri().path(),
    );
    request.extensions_mut().insert(RequestMeta {
        request_id: request_id.clone(),
        trace,
    });
    async move {
        let (mut response, aws_calls, aws_time) =
            crate::aws::timing::measured(next.run(request)).await;
        let status = response.status();
        let elapsed = started.elapsed();
        // The handler's own time is `duration_us - aws_us`: what the code costs, apart from
        // waiting on AWS (the warm-path figure of the benchmarks).
        tracing::info!(
            status = status.as_u16(),
            duration_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
            aws_us = u64::try_from(aws_time.as_micros()).unwrap_or(u64::MAX),
            aws_calls,
            "request finished"
        );
        // Dimension by API Gateway's route key (a path template), never by the raw path: ids in
        // paths would make one metric per resource.
        crate::metrics::MetricSet::new()
            .dimension("route", route_key.as_deref().unwrap_or("unmatched"))
            .value("Requests", 1.0, crate::metrics::Unit::Count)
            .value(
                "ClientErrors",
                f64::from(u8::from(status.is_client_error())),
                crate::metrics::Unit::Count,
            )
            .value(
                "ServerErrors",
                f64::from(u8::from(status.is_server_error())),
                crate::metrics::Unit::Count,
            )
            .value(
                "Latency",
                elapsed.as_secs_f64() * 1000.0,
                crate::metrics::Unit::Milliseconds,
            )
            .emit();
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert(REQUEST_ID_HEADER, value);
        }
        response
    }
    .instrument(span)
    .await
}

/// A JSON request body; wrong media type → 415, unparsable → 400 `MALFORMED_REQUEST`.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = Problem;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        ensure_json(request.headers())?;
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|_| Problem::malformed("The request body could not be read."))?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// A JSON body from bytes a handler also needs as sent (the idempotency fingerprint), with the
/// same answers as [`ApiJson`]: 415 for another media type, 400 for bad JSON.
///
/// # Errors
/// The problem to answer.
pub fn json_body<T: DeserializeOwned>(
    headers: &http::HeaderMap,
    body: &[u8],
) -> Result<T, Problem> {
    ensure_json(headers)?;
    parse_json(body)
}

/// 415 unless the body is declared JSON (`application/json` or a `+json` type).
fn ensure_json(headers: &http::HeaderMap) -> Result<(), Problem> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|ct| {
            let essence = ct
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            essence == "application/json" || essence.ends_with("+json")
        })
        .unwrap_or(false);
    if is_json {
        Ok(())
    } else {
        Err(Problem::new(
            http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "Send the body as application/json.",
        ))
    }
}

fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, Problem> {
    serde_json::from_slice(body)
        .map_err(|e| Problem::malformed(format!("The body is not valid JSON for this route: {e}.")))
}

/// The edge every API function puts around its routes: problem+json 404 for unknown routes, the
/// ingest scope the caller extractor needs, and request id / trace propagation.
pub fn edge<S: Clone + Send + Sync + 'static>(
    routes: axum::Router<S>,
    state: S,
    ingest_scope: crate::auth::IngestScope,
) -> axum::Router {
    routes
        .fallback(route_not_found)
        .layer(axum::Extension(ingest_scope))
        .layer(axum::middleware::from_fn(request_meta))
        .with_state(state)
}

async fn route_not_found() -> Problem {
    Problem::not_found("Route")
}

/// A JSON answer that points at the resource it created or accepted (`Location`).
pub fn json_at<T: serde::Serialize>(
    status: http::StatusCode,
    location: &str,
    body: &T,
) -> Response {
    use axum::response::IntoResponse;
    let mut response = (status, axum::Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// `201 Created` with the new resource's `Location`.
pub fn created<T: serde::Serialize>(location: &str, body: &T) -> Response {
    json_at(http::StatusCode::CREATED, location, body)
}

/// An answer browsers and proxies must not keep: tokens, secrets shown once, presigned URLs.
pub fn no_store(response: impl axum::response::IntoResponse) -> Response {
    let mut response = axum::response::IntoResponse::into_response(response);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Milliseconds since the epoch at which this invocation is cut off, when running under Lambda.
pub fn invocation_deadline_ms(parts_or_request_extensions: &http::Extensions) -> Option<u64> {
    parts_or_request_extensions
        .get::<lambda_runtime::Context>()
        .map(|ctx| ctx.deadline)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::routing::post;
    use tower::ServiceExt;

    #[derive(serde::Deserialize)]
    struct Body {
        #[allow(dead_code)]
        name: String,
    }

    async fn echo(meta: RequestMeta, ApiJson(_body): ApiJson<Body>) -> String {
        meta.trace.trace_id
    }

    fn app() -> Router {
        Router::new()
            .route("/", post(echo))
            .layer(axum::middleware::from_fn(request_meta))
    }

    #[tokio::test]
    async fn adds_request_id_and_continues_trace() {
        let response = app()
            .oneshot(
                Request::post("/")
                    .header("content-type", "application/json")
                    .header(
                        "traceparent",
                        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                    )
                    .body(axum::body::Body::from(r#"{"name":"x"}"#))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert!(response.headers().contains_key(REQUEST_ID_HEADER));
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        assert_eq!(&body[..], b"0af7651916cd43dd8448eb211c80319c");
    }

    #[tokio::test]
    async fn wrong_media_type_and_bad_json_are_problems() {
        let response = app()
            .oneshot(
                Request::post("/")
                    .body(axum::body::Body::from("{}"))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), 415);
        assert!(response.headers().contains_key(REQUEST_ID_HEADER));
        let response = app()
            .oneshot(
                Request::post("/")
                    .header("content-type", "application/json")
                    .body(axum::body::Body::from("{\"name\": 5}"))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        assert_eq!(
            response.headers()["content-type"],
            crate::problem::PROBLEM_JSON
        );
    }
}
