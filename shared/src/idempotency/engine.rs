//! The decisions: run the operation once per key, replay its kept response to retries, refuse a
//! reused key or a retry while the first request is still in flight.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

use super::config::IdempotencyConfig;
use super::dynamo::DynamoIdempotencyStore;
use super::fingerprint::fingerprint;
use super::key::parse_key;
use super::record::{
    Attempt, ClaimOutcome, IdempotencyRecord, IdempotencyStore, RecordId, RecordStatus, StoreError,
    StoredResponse,
};
use crate::clock::{self, Clock, SharedClock, SystemClock};
use crate::problem::Problem;

/// One request to run under its idempotency key; see [`Idempotency::run`].
#[derive(Clone, Copy)]
pub struct IdempotencyRequest<'a> {
    /// Who the key belongs to: the caller id.
    pub scope: &'a str,
    /// Method and path template, e.g. `POST /v1/appointments`.
    pub route: &'a str,
    /// The raw `Idempotency-Key` header.
    pub key: Option<&'a HeaderValue>,
    /// Whether a missing key is refused (400) rather than running the operation unguarded.
    pub required: bool,
    /// The raw request body.
    pub body: &'a [u8],
    /// The concrete request path, folded into the fingerprint (see [`fingerprint`]).
    pub path: Option<&'a str>,
    /// The Lambda invocation deadline (epoch ms), when known: the in-flight marker holds until
    /// then.
    pub deadline_ms: Option<u64>,
}

impl IdempotencyRequest<'_> {
    /// The same request on a route where a missing key runs the operation unguarded.
    #[must_use]
    pub fn key_optional(self) -> Self {
        Self {
            required: false,
            ..self
        }
    }
}

impl fmt::Debug for IdempotencyRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdempotencyRequest")
            .field("scope", &self.scope)
            .field("route", &self.route)
            .field("key", &self.key)
            .field("required", &self.required)
            .field("body_len", &self.body.len())
            .field("path", &self.path)
            .field("deadline_ms", &self.deadline_ms)
            .finish()
    }
}

/// Epoch milliseconds from the system clock.
pub fn system_now_ms() -> u64 {
    SystemClock.now_ms()
}

/// The idempotency layer: a store (DynamoDB unless said otherwise), its configuration and a clock.
/// Cheap to clone when the store is; keep one in the service's state.
#[derive(Clone)]
pub struct Idempotency<S = DynamoIdempotencyStore> {
    store: S,
    config: IdempotencyConfig,
    clock: SharedClock,
}

impl<S> fmt::Debug for Idempotency<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Idempotency")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<S: IdempotencyStore> Idempotency<S> {
    /// The layer over `store`, on the system clock.
    pub fn new(store: S, config: IdempotencyConfig) -> Self {
        Self {
            store,
            config,
            clock: clock::system(),
        }
    }

    /// Replaces the clock, for tests.
    #[must_use]
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The configuration.
    pub fn config(&self) -> &IdempotencyConfig {
        &self.config
    }

    /// Runs `operation` at most once per key, caller and route, and answers retries from the
    /// record:
    /// - no key: 400 `IDEMPOTENCY_KEY_REQUIRED` when required, else the operation runs unguarded;
    /// - an invalid key: 400 `INVALID_IDEMPOTENCY_KEY`;
    /// - a live record with another fingerprint: 422 `IDEMPOTENCY_KEY_REUSED`;
    /// - a live in-flight marker: 409 `REQUEST_IN_PROGRESS` (with `Retry-After`);
    /// - a completed record: its response replayed, with `idempotent-replayed: true`;
    /// - the store failing: 503 `UNAVAILABLE`, and the operation does not run.
    ///
    /// The operation's 2xx–4xx responses are kept; on a 5xx the marker is deleted.
    pub async fn run<F, Fut, R>(&self, request: IdempotencyRequest<'_>, operation: F) -> Response
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = R>,
        R: IntoResponse,
    {
        let Some(raw_key) = request.key else {
            if request.required {
                return Problem::new(
                    StatusCode::BAD_REQUEST,
                    "IDEMPOTENCY_KEY_REQUIRED",
                    "This operation requires an Idempotency-Key header.",
                )
                .into_response();
            }
            return operation().await.into_response();
        };
        let key = match parse_key(raw_key) {
            Ok(key) => key,
            Err(invalid) => return Problem::from(invalid).into_response(),
        };
        let id = RecordId::new(request.scope, request.route, key);
        let attempt = self.attempt(&request);

        match self.store.claim(&id, &attempt).await {
            Ok(ClaimOutcome::Started) => {
                tracing::debug!(record = %id, attempt = %attempt.attempt_id, "idempotency: started");
            }
            Ok(ClaimOutcome::Existing(record)) => {
                return self.answer_existing(&id, &attempt, &record);
            }
            Err(err) => return store_failure(&id, &err),
        }

        let response = operation().await.into_response();
        self.finish(&id, &attempt, response).await
    }

    fn attempt(&self, request: &IdempotencyRequest<'_>) -> Attempt {
        let now_ms = self.clock.now_ms();
        let now_s = now_ms / 1000;
        let in_progress_default =
            u64::try_from(self.config.in_progress_default.as_millis()).unwrap_or(u64::MAX);
        Attempt {
            attempt_id: ulid::Ulid::new().to_string(),
            fingerprint: fingerprint(request.path, request.body),
            now_ms,
            created_at: now_s,
            expires_at: now_s.saturating_add(self.config.expires_after.as_secs()),
            in_progress_until: request
                .deadline_ms
                .unwrap_or_else(|| now_ms.saturating_add(in_progress_default)),
        }
    }

    fn answer_existing(
        &self,
        id: &RecordId,
        attempt: &Attempt,
        record: &IdempotencyRecord,
    ) -> Response {
        if record.fingerprint != attempt.fingerprint {
            tracing::info!(record = %id, "idempotency: key reused with another request");
            return Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "IDEMPOTENCY_KEY_REUSED",
                "This Idempotency-Key was already used with a different request.",
            )
            .into_response();
        }
        match (record.status, &record.response) {
            (RecordStatus::InProgress, _) => {
                let wait_ms = record.in_progress_until.saturating_sub(attempt.now_ms);
                let retry_after = u32::try_from(wait_ms.div_ceil(1000).max(1)).unwrap_or(u32::MAX);
                tracing::info!(record = %id, "idempotency: first request still in flight");
                let mut problem = Problem::conflict(
                    "REQUEST_IN_PROGRESS",
                    "A request with this Idempotency-Key is still being processed. Retry later.",
                );
                problem.retry_after = Some(retry_after);
                problem.into_response()
            }
            (RecordStatus::Completed, Some(stored)) => {
                tracing::info!(record = %id, status = stored.status, "idempotency: replaying response");
                stored.replay()
            }
            (RecordStatus::Completed, None) => {
                tracing::error!(record = %id, "idempotency: completed record without a response");
                Problem::internal().into_response()
            }
        }
    }

    async fn finish(&self, id: &RecordId, attempt: &Attempt, response: Response) -> Response {
        let (parts, body) = response.into_parts();
        if parts.status.is_server_error() {
            tracing::info!(
                record = %id,
                status = parts.status.as_u16(),
                "idempotency: server error, releasing the key"
            );
            self.release(id, attempt).await;
            return Response::from_parts(parts, body);
        }
        let bytes = match axum::body::to_bytes(body, usize::MAX).await {
            Ok(bytes) => bytes,
            Err(_) => {
                tracing::error!(record = %id, "idempotency: response body could not be read");
                self.release(id, attempt).await;
                return Problem::internal().into_response();
            }
        };
        if bytes.len() > self.config.max_stored_body_bytes {
            tracing::warn!(
                record = %id,
                body_len = bytes.len(),
                "idempotency: response too large to keep, releasing the key"
            );
            self.release(id, attempt).await;
            return Response::from_parts(parts, Body::from(bytes));
        }
        let header_text = |name: header::HeaderName| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let stored = StoredResponse {
            status: parts.status.as_u16(),
            content_type: header_text(header::CONTENT_TYPE),
            location: header_text(header::LOCATION),
            body: bytes.to_vec(),
        };
        match self.store.complete(id, attempt, &stored).await {
            Ok(()) => {
                tracing::debug!(record = %id, status = stored.status, "idempotency: completed");
            }
            Err(StoreError::NotOwner) => tracing::warn!(
                record = %id,
                attempt = %attempt.attempt_id,
                "idempotency: marker was taken over before completion; response not kept"
            ),
            // The operation has run: its response still goes back to the client.
            Err(err) => tracing::error!(
                record = %id,
                error = %err,
                "idempotency: could not keep the response"
            ),
        }
        Response::from_parts(parts, Body::from(bytes))
    }

    async fn release(&self, id: &RecordId, attempt: &Attempt) {
        match self.store.release(id, attempt).await {
            Ok(()) => {}
            Err(StoreError::NotOwner) => {
                tracing::warn!(record = %id, "idempotency: marker was already taken over");
            }
            Err(err) => tracing::error!(
                record = %id,
                error = %err,
                "idempotency: could not release the key; it frees itself when the marker lapses"
            ),
        }
    }
}

fn store_failure(id: &RecordId, err: &StoreError) -> Response {
    tracing::error!(record = %id, error = %err, "idempotency: store failed, operation not run");
    match err {
        StoreError::Unavailable(_) => Problem::unavailable(1).into_response(),
        StoreError::Corrupt(_) | StoreError::NotOwner => Problem::internal().into_response(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    use super::*;
    use crate::idempotency::test_support::{
        Harness, ROUTE, Reply, START_MS, hv, record_id, request,
    };

    #[tokio::test]
    async fn first_request_runs_and_is_kept() {
        let h = Harness::new();
        let key = hv("k-1");
        let reply = h.create(request(Some(&key), br#"{"a":1}"#)).await;
        assert_eq!(reply.status, StatusCode::CREATED);
        assert!(!reply.replayed());
        assert_eq!(h.runs(), 1);
        let record = h.store.get(&record_id("k-1")).unwrap();
        assert_eq!(record.status, RecordStatus::Completed);
        assert_eq!(record.fingerprint, fingerprint(None, br#"{"a":1}"#));
        assert_eq!(record.created_at, START_MS / 1000);
        assert_eq!(record.expires_at, START_MS / 1000 + 86_400);
        assert_eq!(record.in_progress_until, START_MS + 30_000);
        let stored = record.response.unwrap();
        assert_eq!(stored.status, 201);
        assert_eq!(stored.location.as_deref(), Some("/v1/things/1"));
        assert_eq!(stored.content_type.as_deref(), Some("application/json"));
        assert_eq!(stored.body, reply.body);
    }

    #[tokio::test]
    async fn same_key_and_body_replays_the_first_response() {
        let h = Harness::new();
        let key = hv("k-1");
        let first = h.create(request(Some(&key), br#"{"a":1,"b":[1,2]}"#)).await;
        h.advance(Duration::from_secs(60));
        // Same document, other member order and spacing: still a retry.
        let second = h
            .create(request(Some(&key), br#"{ "b": [1, 2], "a": 1 }"#))
            .await;
        assert_eq!(h.runs(), 1);
        assert_eq!(second.status, first.status);
        assert_eq!(second.body, first.body);
        assert_eq!(
            second.headers[header::LOCATION],
            first.headers[header::LOCATION]
        );
        assert_eq!(
            second.headers[header::CONTENT_TYPE],
            first.headers[header::CONTENT_TYPE]
        );
        assert!(second.replayed());
    }

    #[tokio::test]
    async fn error_responses_are_replayed_too() {
        let h = Harness::new();
        let key = hv("k-err");
        let runs = Arc::clone(&h.runs);
        let op = || async move {
            runs.fetch_add(1, Ordering::SeqCst);
            Err::<Response, Problem>(Problem::conflict("SLOT_FULL", "The slot is full."))
        };
        let first = Reply::read(h.idem.run(request(Some(&key), b"{}"), op).await).await;
        let runs = Arc::clone(&h.runs);
        let op = || async move {
            runs.fetch_add(1, Ordering::SeqCst);
            Ok::<Response, Problem>(StatusCode::CREATED.into_response())
        };
        let second = Reply::read(h.idem.run(request(Some(&key), b"{}"), op).await).await;
        assert_eq!(h.runs(), 1);
        assert_eq!(first.status, StatusCode::CONFLICT);
        assert_eq!(second.status, StatusCode::CONFLICT);
        assert_eq!(second.body, first.body);
        assert_eq!(second.code(), "SLOT_FULL");
        assert_eq!(
            second.headers[header::CONTENT_TYPE],
            crate::problem::PROBLEM_JSON
        );
        assert!(second.replayed());
    }

    #[tokio::test]
    async fn same_key_with_another_body_is_422() {
        let h = Harness::new();
        let key = hv("k-1");
        h.create(request(Some(&key), br#"{"a":1}"#)).await;
        let reply = h.create(request(Some(&key), br#"{"a":2}"#)).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(reply.code(), "IDEMPOTENCY_KEY_REUSED");
        assert!(!reply.replayed());
        assert_eq!(h.runs(), 1);
    }

    #[tokio::test]
    async fn same_key_on_another_concrete_path_is_422() {
        let h = Harness::new();
        let key = hv("k-1");
        let on = |path| IdempotencyRequest {
            path: Some(path),
            ..request(Some(&key), b"{}")
        };
        assert_eq!(
            h.create(on("/v1/exams/A/files")).await.status,
            StatusCode::CREATED
        );
        let reply = h.create(on("/v1/exams/B/files")).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(h.runs(), 1);
    }

    #[tokio::test]
    async fn request_in_flight_is_409_with_retry_after() {
        let h = Harness::new();
        let key = hv("k-1");
        let idem = &h.idem;
        let runs = Arc::clone(&h.runs);
        let outer = idem
            .run(request(Some(&key), b"{}"), || async {
                runs.fetch_add(1, Ordering::SeqCst);
                // The client retries while the first request is still running.
                let inner = idem
                    .run(request(Some(&key), b"{}"), || async {
                        runs.fetch_add(1, Ordering::SeqCst);
                        StatusCode::CREATED
                    })
                    .await;
                let inner = Reply::read(inner).await;
                assert_eq!(inner.status, StatusCode::CONFLICT);
                assert_eq!(inner.code(), "REQUEST_IN_PROGRESS");
                assert_eq!(inner.headers[header::RETRY_AFTER], "30");
                StatusCode::CREATED
            })
            .await;
        assert_eq!(outer.status(), StatusCode::CREATED);
        assert_eq!(h.runs(), 1);
    }

    #[tokio::test]
    async fn in_flight_marker_uses_the_invocation_deadline() {
        let h = Harness::new();
        let key = hv("k-1");
        let deadline = START_MS + 2_500;
        let attempt = Attempt {
            attempt_id: "crashed".into(),
            fingerprint: fingerprint(None, b"{}"),
            now_ms: START_MS,
            created_at: START_MS / 1000,
            expires_at: START_MS / 1000 + 86_400,
            in_progress_until: deadline,
        };
        h.store.claim(&record_id("k-1"), &attempt).await.unwrap();
        let reply = h.create(request(Some(&key), b"{}")).await;
        assert_eq!(reply.status, StatusCode::CONFLICT);
        assert_eq!(reply.headers[header::RETRY_AFTER], "3");
        // The attempt's own deadline is what its marker records.
        let req = IdempotencyRequest {
            deadline_ms: Some(deadline),
            ..request(Some(&key), b"{}")
        };
        assert_eq!(h.idem.attempt(&req).in_progress_until, deadline);
    }

    #[tokio::test]
    async fn expired_in_flight_marker_is_taken_over() {
        let h = Harness::new();
        let key = hv("k-1");
        // A crashed attempt whose deadline has passed.
        let crashed = Attempt {
            attempt_id: "crashed".into(),
            fingerprint: fingerprint(None, b"{}"),
            now_ms: START_MS - 10_000,
            created_at: (START_MS - 10_000) / 1000,
            expires_at: START_MS / 1000 + 86_000,
            in_progress_until: START_MS - 1,
        };
        h.store
            .insert(record_id("k-1"), crashed.in_progress_record());
        let reply = h.create(request(Some(&key), b"{}")).await;
        assert_eq!(reply.status, StatusCode::CREATED);
        assert_eq!(h.runs(), 1);
        let record = h.store.get(&record_id("k-1")).unwrap();
        assert_eq!(record.status, RecordStatus::Completed);
        assert_ne!(record.attempt_id, "crashed");
    }

    #[tokio::test]
    async fn a_slow_attempt_that_lost_its_marker_does_not_overwrite_the_new_owner() {
        let h = Harness::new();
        let key = hv("k-1");
        let idem = &h.idem;
        let past_deadline = IdempotencyRequest {
            deadline_ms: Some(START_MS - 1),
            ..request(Some(&key), b"{}")
        };
        let outer = idem
            .run(past_deadline, || async {
                let inner = idem
                    .run(request(Some(&key), b"{}"), || async {
                        (StatusCode::CREATED, "second")
                    })
                    .await;
                assert_eq!(inner.status(), StatusCode::CREATED);
                (StatusCode::CREATED, "first")
            })
            .await;
        let outer = Reply::read(outer).await;
        assert_eq!(outer.body, b"first");
        let stored = h.store.get(&record_id("k-1")).unwrap().response.unwrap();
        assert_eq!(stored.body, b"second");
    }

    #[tokio::test]
    async fn expired_completed_record_counts_as_absent() {
        let h = Harness::new();
        let key = hv("k-1");
        h.create(request(Some(&key), br#"{"a":1}"#)).await;
        h.advance(Duration::from_secs(86_400));
        // Exactly at expiry it is still remembered.
        let reply = h.create(request(Some(&key), br#"{"a":2}"#)).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
        h.advance(Duration::from_secs(1));
        let reply = h.create(request(Some(&key), br#"{"a":2}"#)).await;
        assert_eq!(reply.status, StatusCode::CREATED);
        assert!(!reply.replayed());
        assert_eq!(h.runs(), 2);
    }

    #[tokio::test]
    async fn server_errors_are_not_kept() {
        let h = Harness::new();
        let key = hv("k-1");
        let runs = Arc::clone(&h.runs);
        let failing = || async move {
            runs.fetch_add(1, Ordering::SeqCst);
            Problem::internal()
        };
        let reply = Reply::read(h.idem.run(request(Some(&key), b"{}"), failing).await).await;
        assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(h.store.is_empty());
        let reply = h.create(request(Some(&key), b"{}")).await;
        assert_eq!(reply.status, StatusCode::CREATED);
        assert_eq!(h.runs(), 2);
    }

    #[tokio::test]
    async fn too_large_responses_are_returned_but_not_kept() {
        let h = Harness::new();
        let idem = Idempotency::new(
            h.store.clone(),
            IdempotencyConfig {
                max_stored_body_bytes: 4,
                ..IdempotencyConfig::default()
            },
        );
        let key = hv("k-1");
        let reply = Reply::read(
            idem.run(request(Some(&key), b"{}"), || async { "12345" })
                .await,
        )
        .await;
        assert_eq!(reply.body, b"12345");
        assert!(h.store.is_empty());
    }

    #[tokio::test]
    async fn missing_required_key_is_400() {
        let h = Harness::new();
        let reply = h.create(request(None, b"{}")).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert_eq!(reply.code(), "IDEMPOTENCY_KEY_REQUIRED");
        assert_eq!(h.runs(), 0);
    }

    #[tokio::test]
    async fn missing_optional_key_just_runs() {
        let h = Harness::new();
        let optional = IdempotencyRequest {
            required: false,
            ..request(None, b"{}")
        };
        assert_eq!(h.create(optional).await.status, StatusCode::CREATED);
        assert_eq!(h.create(optional).await.status, StatusCode::CREATED);
        assert_eq!(h.runs(), 2);
        assert!(h.store.is_empty());
    }

    #[tokio::test]
    async fn invalid_keys_are_400() {
        let h = Harness::new();
        for raw in [String::new(), "\"\"".to_string(), "x".repeat(256)] {
            let key = hv(&raw);
            let reply = h.create(request(Some(&key), b"{}")).await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "key {raw:?}");
            assert_eq!(reply.code(), "INVALID_IDEMPOTENCY_KEY");
        }
        let non_ascii = HeaderValue::from_bytes("chave-ç".as_bytes()).unwrap();
        let reply = h.create(request(Some(&non_ascii), b"{}")).await;
        assert_eq!(reply.code(), "INVALID_IDEMPOTENCY_KEY");
        assert_eq!(h.runs(), 0);
        let longest = hv(&"x".repeat(255));
        let reply = h.create(request(Some(&longest), b"{}")).await;
        assert_eq!(reply.status, StatusCode::CREATED);
    }

    #[tokio::test]
    async fn keys_are_scoped_to_caller_and_route() {
        let h = Harness::new();
        let key = hv("shared-key");
        let as_caller = |scope, route| IdempotencyRequest {
            scope,
            route,
            ..request(Some(&key), b"{}")
        };
        let a = h.create(as_caller("caller-a", ROUTE)).await;
        let b = h.create(as_caller("caller-b", ROUTE)).await;
        let c = h.create(as_caller("caller-a", "POST /v1/other")).await;
        assert_eq!(h.runs(), 3);
        assert!(!a.replayed() && !b.replayed() && !c.replayed());
        assert_ne!(a.body, b.body);
        assert_eq!(h.store.len(), 3);
    }

    #[tokio::test]
    async fn store_failure_is_503_and_the_operation_does_not_run() {
        let h = Harness::new();
        h.store.set_unavailable(true);
        let key = hv("k-1");
        let reply = h.create(request(Some(&key), b"{}")).await;
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(reply.code(), "UNAVAILABLE");
        assert_eq!(h.runs(), 0);
    }
}
