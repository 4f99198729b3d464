//! The axum extractor that gathers what [`Idempotency::run`](super::Idempotency::run) needs from a
//! request.

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use http::HeaderValue;
use http::request::Parts;

use super::engine::IdempotencyRequest;
use super::key::idempotency_key;

/// Axum extractor: the request's `Idempotency-Key` header, path and Lambda deadline. It never
/// rejects; [`Idempotency::run`](super::Idempotency::run) checks the key.
///
/// ```ignore
/// async fn book(State(app): State<App>, caller: Caller, idem: IdempotencyKey, body: Bytes) -> Response {
///     app.idempotency
///         .run(idem.for_route(&caller.id, "POST /v1/appointments", &body), || async {
///             book_slot(&app, &caller, &body).await
///         })
///         .await
/// }
/// ```
#[derive(Debug, Clone, Default)]
pub struct IdempotencyKey {
    /// The raw header value.
    pub key: Option<HeaderValue>,
    /// The request path.
    pub path: String,
    /// The invocation deadline, epoch milliseconds.
    pub deadline_ms: Option<u64>,
}

impl IdempotencyKey {
    /// Reads the header, path and deadline from request parts.
    pub fn from_parts(parts: &Parts) -> Self {
        Self {
            key: idempotency_key(&parts.headers).cloned(),
            path: parts.uri.path().to_string(),
            deadline_ms: crate::http::invocation_deadline_ms(&parts.extensions),
        }
    }

    /// A request on `route` for the caller `scope`, its key required (see
    /// [`IdempotencyRequest::key_optional`] for routes where it is not).
    pub fn for_route<'a>(
        &'a self,
        scope: &'a str,
        route: &'a str,
        body: &'a [u8],
    ) -> IdempotencyRequest<'a> {
        IdempotencyRequest {
            scope,
            route,
            key: self.key.as_ref(),
            required: true,
            body,
            path: Some(&self.path),
            deadline_ms: self.deadline_ms,
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::from_parts(parts))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::body::Body;
    use axum::response::Response;
    use http::StatusCode;

    use super::*;
    use crate::idempotency::Idempotency;
    use crate::idempotency::test_support::memory::MemoryIdempotencyStore;
    use crate::idempotency::test_support::{Harness, ROUTE, Reply, hv};

    #[tokio::test]
    async fn extractor_reads_key_path_and_deadline() {
        let mut context = lambda_runtime::Context::default();
        context.deadline = 1_234;
        let request = http::Request::post("/v1/exams/E1/files")
            .header("Idempotency-Key", "abc")
            .extension(context)
            .body(())
            .unwrap();
        let (mut parts, ()) = request.into_parts();
        let Ok(extracted) = IdempotencyKey::from_request_parts(&mut parts, &()).await;
        assert_eq!(extracted.key, Some(hv("abc")));
        assert_eq!(extracted.path, "/v1/exams/E1/files");
        assert_eq!(extracted.deadline_ms, Some(1_234));
        let req = extracted.for_route("c", ROUTE, b"{}").key_optional();
        assert!(!req.required);
        assert_eq!(req.path, Some("/v1/exams/E1/files"));
        assert_eq!(req.deadline_ms, Some(1_234));
        assert!(extracted.for_route("c", ROUTE, b"{}").required);
    }

    #[derive(Clone)]
    struct App {
        idempotency: Idempotency<MemoryIdempotencyStore>,
        runs: Arc<AtomicUsize>,
    }

    async fn create_thing(
        axum::extract::State(app): axum::extract::State<App>,
        idem: IdempotencyKey,
        body: axum::body::Bytes,
    ) -> Response {
        app.idempotency
            .run(idem.for_route("caller-1", ROUTE, &body), || async {
                app.runs.fetch_add(1, Ordering::SeqCst);
                (StatusCode::CREATED, "made")
            })
            .await
    }

    #[tokio::test]
    async fn works_as_an_axum_handler() {
        use tower::ServiceExt;
        let h = Harness::new();
        let router = axum::Router::new()
            .route("/v1/things", axum::routing::post(create_thing))
            .with_state(App {
                idempotency: h.idem.clone(),
                runs: Arc::clone(&h.runs),
            });
        let send = |key: Option<&'static str>| {
            let mut request = http::Request::post("/v1/things");
            if let Some(key) = key {
                request = request.header("Idempotency-Key", key);
            }
            let request = request.body(Body::from("{}")).unwrap();
            let router = router.clone();
            async move { Reply::read(router.oneshot(request).await.unwrap()).await }
        };
        let first = send(Some("abc")).await;
        let second = send(Some("abc")).await;
        let missing = send(None).await;
        assert_eq!(first.status, StatusCode::CREATED);
        assert!(!first.replayed());
        assert_eq!(second.status, StatusCode::CREATED);
        assert!(second.replayed());
        assert_eq!(second.body, b"made");
        assert_eq!(missing.status, StatusCode::BAD_REQUEST);
        assert_eq!(h.runs(), 1);
    }
}
