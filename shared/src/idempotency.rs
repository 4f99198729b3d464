//! Idempotency for unsafe POSTs: the `Idempotency-Key` header, with the semantics of the IETF
//! httpapi idempotency-key draft.
//!
//! A handler wraps its operation in [`Idempotency::run`]. The first request with a key writes an
//! `IN_PROGRESS` marker (a conditional write), runs the operation and keeps its response as a
//! `COMPLETED` record; a later request with the same key and the same body gets that response
//! again, byte for byte, with `idempotent-replayed: true`. The same key with another body is
//! answered 422 `IDEMPOTENCY_KEY_REUSED`, and while the first request is still running 409
//! `REQUEST_IN_PROGRESS`. Server errors (5xx) are not kept: the marker is deleted so the client can
//! retry. 2xx and 4xx responses are kept and replayed.
//!
//! Records live in the service's own table: `pk = IDEMPOTENCY#<caller>#<route>#<key>`,
//! `sk = IDEMPOTENCY`. The marker holds until the Lambda invocation deadline, so a crashed attempt
//! is taken over by a retry once that time has passed; a completed record is forgotten after
//! `expiresAt` (24 h by default). Expiry is decided only by comparing stored timestamps in
//! condition expressions: the table's TTL on `expiresAt` merely cleans up, whenever it runs.
//!
//! The decision logic talks to a narrow port, [`IdempotencyStore`], implemented for DynamoDB by
//! [`DynamoIdempotencyStore`] and in memory (for tests) by [`MemoryIdempotencyStore`].

use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use sha2::{Digest, Sha256};

use crate::config::{self, ConfigError};
use crate::problem::Problem;

/// Request header carrying the client's idempotency key.
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";

/// Response header set (to `true`) on every replayed response.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

/// Longest accepted key, in characters.
pub const MAX_KEY_CHARS: usize = 255;

/// Sort key of every idempotency record.
pub const RECORD_SK: &str = "IDEMPOTENCY";

/// Prefix of the partition key of every idempotency record.
pub const RECORD_PK_PREFIX: &str = "IDEMPOTENCY#";

/// Environment variable: seconds a key is remembered (default 86 400).
pub const EXPIRES_SECONDS_VAR: &str = "IDEMPOTENCY_EXPIRES_SECONDS";

/// Environment variable: seconds an in-flight marker holds when no Lambda deadline is known
/// (default 30).
pub const IN_PROGRESS_SECONDS_VAR: &str = "IDEMPOTENCY_IN_PROGRESS_SECONDS";

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

/// Lifetimes and limits of idempotency records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyConfig {
    /// How long a key is remembered after its first use.
    pub expires_after: Duration,
    /// How long an in-flight marker holds when the request carries no Lambda deadline.
    pub in_progress_default: Duration,
    /// Largest response body kept for replay. A bigger response is returned but not kept (its
    /// marker is released), since a DynamoDB item holds at most 400 KB.
    pub max_stored_body_bytes: usize,
}

impl Default for IdempotencyConfig {
    fn default() -> Self {
        Self {
            expires_after: Duration::from_secs(24 * 60 * 60),
            in_progress_default: Duration::from_secs(30),
            max_stored_body_bytes: 300 * 1024,
        }
    }
}

impl IdempotencyConfig {
    /// Reads [`EXPIRES_SECONDS_VAR`] and [`IN_PROGRESS_SECONDS_VAR`], defaulting to 24 h and 30 s.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] when a variable is set but is not a whole number of seconds.
    pub fn from_env() -> Result<Self, ConfigError> {
        let defaults = Self::default();
        Ok(Self {
            expires_after: Duration::from_secs(config::parsed_or(
                EXPIRES_SECONDS_VAR,
                defaults.expires_after.as_secs(),
            )?),
            in_progress_default: Duration::from_secs(config::parsed_or(
                IN_PROGRESS_SECONDS_VAR,
                defaults.in_progress_default.as_secs(),
            )?),
            ..defaults
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Records and the store port
// ---------------------------------------------------------------------------------------------

/// Partition key of one idempotency record: the key scoped to the caller and the route.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecordId(String);

impl RecordId {
    /// `IDEMPOTENCY#<scope>#<route>#<key>`; `scope` is the caller id, `route` the method and path
    /// template (e.g. `POST /v1/appointments`).
    pub fn new(scope: &str, route: &str, key: &str) -> Self {
        RecordId(format!("{RECORD_PK_PREFIX}{scope}#{route}#{key}"))
    }

    /// The partition key value.
    pub fn pk(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// State of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordStatus {
    /// The first request is running (or crashed; see [`IdempotencyRecord::in_progress_until`]).
    InProgress,
    /// The first request finished; its response is kept for replay.
    Completed,
}

impl RecordStatus {
    /// The value stored in the `status` attribute.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordStatus::InProgress => "IN_PROGRESS",
            RecordStatus::Completed => "COMPLETED",
        }
    }

    /// Parses a stored `status` value.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "IN_PROGRESS" => Some(RecordStatus::InProgress),
            "COMPLETED" => Some(RecordStatus::Completed),
            _ => None,
        }
    }
}

/// The parts of a response kept for replay.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredResponse {
    /// HTTP status code.
    pub status: u16,
    /// `Content-Type`, when the response had one.
    pub content_type: Option<String>,
    /// `Location`, when the response had one.
    pub location: Option<String>,
    /// The body, exactly as first sent.
    pub body: Vec<u8>,
}

impl fmt::Debug for StoredResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Bodies may hold personal data: only their size is ever printed.
        f.debug_struct("StoredResponse")
            .field("status", &self.status)
            .field("content_type", &self.content_type)
            .field("location", &self.location)
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl StoredResponse {
    /// The kept response as sent again: same status, body, `Content-Type` and `Location`, plus
    /// `idempotent-replayed: true`.
    pub fn replay(&self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = Response::new(Body::from(self.body.clone()));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        if let Some(value) = self
            .content_type
            .as_deref()
            .and_then(|v| HeaderValue::from_str(v).ok())
        {
            headers.insert(header::CONTENT_TYPE, value);
        }
        if let Some(value) = self
            .location
            .as_deref()
            .and_then(|v| HeaderValue::from_str(v).ok())
        {
            headers.insert(header::LOCATION, value);
        }
        headers.insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
        response
    }
}

/// One stored idempotency record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// In progress or completed.
    pub status: RecordStatus,
    /// SHA-256 (hex) of the first request; see [`fingerprint`].
    pub fingerprint: String,
    /// First use of the key, epoch seconds.
    pub created_at: u64,
    /// When the key is forgotten, epoch seconds.
    pub expires_at: u64,
    /// Until when the in-flight marker holds, epoch milliseconds.
    pub in_progress_until: u64,
    /// Id of the attempt that wrote the record.
    pub attempt_id: String,
    /// The kept response, for completed records.
    pub response: Option<StoredResponse>,
}

impl IdempotencyRecord {
    /// Whether a new attempt may take this record's place at `now_ms`: it has expired, or it is
    /// an in-flight marker whose holder ran out of time. Mirrors the store's write condition.
    pub fn is_replaceable(&self, now_ms: u64) -> bool {
        self.expires_at < now_ms / 1000
            || (self.status == RecordStatus::InProgress && self.in_progress_until < now_ms)
    }
}

/// One attempt at running an operation under a key: what [`IdempotencyStore::begin`] writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// Unique id of this attempt; completing or releasing requires still owning the marker.
    pub attempt_id: String,
    /// SHA-256 (hex) of the request; see [`fingerprint`].
    pub fingerprint: String,
    /// The time the write conditions compare stored timestamps with, epoch milliseconds.
    pub now_ms: u64,
    /// Epoch seconds.
    pub created_at: u64,
    /// Epoch seconds.
    pub expires_at: u64,
    /// Epoch milliseconds: the invocation deadline, or now plus the configured default.
    pub in_progress_until: u64,
}

impl Attempt {
    /// The in-flight record this attempt writes.
    pub fn in_progress_record(&self) -> IdempotencyRecord {
        IdempotencyRecord {
            status: RecordStatus::InProgress,
            fingerprint: self.fingerprint.clone(),
            created_at: self.created_at,
            expires_at: self.expires_at,
            in_progress_until: self.in_progress_until,
            attempt_id: self.attempt_id.clone(),
            response: None,
        }
    }

    /// The completed record that replaces this attempt's marker.
    pub fn completed_record(&self, response: &StoredResponse) -> IdempotencyRecord {
        IdempotencyRecord {
            status: RecordStatus::Completed,
            response: Some(response.clone()),
            ..self.in_progress_record()
        }
    }
}

/// What [`IdempotencyStore::begin`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BeginOutcome {
    /// The marker was written: run the operation.
    Started,
    /// A live record already holds the key.
    Existing(IdempotencyRecord),
}

/// Why the store could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The backing service failed or could not be reached.
    #[error("idempotency store unavailable: {0}")]
    Unavailable(String),
    /// A stored record could not be read back.
    #[error("idempotency record is unreadable: {0}")]
    Corrupt(String),
    /// The marker no longer belongs to this attempt (it ran out of time and was taken over).
    #[error("the idempotency marker belongs to another attempt")]
    NotOwner,
}

/// The storage port of the idempotency layer. Every state change is a conditional write.
pub trait IdempotencyStore: Send + Sync {
    /// Writes `attempt`'s in-flight marker unless a live record holds `id` (one that is neither
    /// expired nor an in-flight marker past its `in_progress_until`); in that case returns it.
    fn begin(
        &self,
        id: &RecordId,
        attempt: &Attempt,
    ) -> impl Future<Output = Result<BeginOutcome, StoreError>> + Send;

    /// Replaces `attempt`'s marker by the completed record holding `response`.
    /// [`StoreError::NotOwner`] when the marker is no longer this attempt's.
    fn complete(
        &self,
        id: &RecordId,
        attempt: &Attempt,
        response: &StoredResponse,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Deletes `attempt`'s marker so that the key can be used again.
    /// [`StoreError::NotOwner`] when the marker is no longer this attempt's.
    fn release(
        &self,
        id: &RecordId,
        attempt: &Attempt,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

// ---------------------------------------------------------------------------------------------
// Fingerprints and keys
// ---------------------------------------------------------------------------------------------

/// SHA-256 (lower-case hex) of a request, used to tell a retry from a reuse of the key.
///
/// A JSON body is hashed in canonical form (object members sorted by name, no insignificant
/// whitespace), so a client re-serialising the same document is still a retry; any other body is
/// hashed as is. `path`, the concrete request path when given, is hashed too, so that one key sent
/// to `/v1/exams/A/files` and then to `/v1/exams/B/files` (one route template) is a reuse.
pub fn fingerprint(path: Option<&str>, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    if let Some(path) = path {
        hasher.update(path.as_bytes());
        hasher.update(b"\n");
    }
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(value) => {
            let mut canonical = Vec::with_capacity(body.len());
            write_canonical_json(&value, &mut canonical);
            hasher.update(&canonical);
        }
        Err(_) => hasher.update(body),
    }
    hex::encode(hasher.finalize())
}

fn write_canonical_json(value: &serde_json::Value, out: &mut Vec<u8>) {
    match value {
        serde_json::Value::Object(map) => {
            let mut members: Vec<_> = map.iter().collect();
            members.sort_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (name, member)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend(serde_json::to_vec(name).unwrap_or_default());
                out.push(b':');
                write_canonical_json(member, out);
            }
            out.push(b'}');
        }
        serde_json::Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical_json(item, out);
            }
            out.push(b']');
        }
        scalar => out.extend(serde_json::to_vec(scalar).unwrap_or_default()),
    }
}

/// Why an `Idempotency-Key` value was refused; answered 400 `INVALID_IDEMPOTENCY_KEY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidKey {
    /// Not visible ASCII.
    #[error("The Idempotency-Key header must be visible ASCII.")]
    NotAscii,
    /// Empty (or an empty quoted string).
    #[error("The Idempotency-Key header must not be empty.")]
    Empty,
    /// Longer than [`MAX_KEY_CHARS`].
    #[error(
        "The Idempotency-Key header must be at most {} characters long.",
        MAX_KEY_CHARS
    )]
    TooLong,
}

impl From<InvalidKey> for Problem {
    fn from(err: InvalidKey) -> Self {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "INVALID_IDEMPOTENCY_KEY",
            err.to_string(),
        )
    }
}

/// Checks a raw `Idempotency-Key` value and returns the key. A value sent as a structured-field
/// string (`"abc"`, as the draft writes it) is the same key as the bare `abc`.
///
/// # Errors
/// [`InvalidKey`] when the key is empty, longer than [`MAX_KEY_CHARS`] or not visible ASCII.
pub fn parse_key(raw: &HeaderValue) -> Result<&str, InvalidKey> {
    let text = raw.to_str().map_err(|_| InvalidKey::NotAscii)?.trim();
    let key = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    if key.is_empty() {
        return Err(InvalidKey::Empty);
    }
    if key.chars().count() > MAX_KEY_CHARS {
        return Err(InvalidKey::TooLong);
    }
    Ok(key)
}

/// The `Idempotency-Key` header of a request, if any.
pub fn idempotency_key(headers: &HeaderMap) -> Option<&HeaderValue> {
    headers.get(IDEMPOTENCY_KEY_HEADER)
}

// ---------------------------------------------------------------------------------------------
// HTTP level
// ---------------------------------------------------------------------------------------------

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

/// Axum extractor: the request's `Idempotency-Key` header, path and Lambda deadline. It never
/// rejects; [`Idempotency::run`] checks the key.
///
/// ```ignore
/// async fn book(State(app): State<App>, caller: Caller, idem: IdempotencyKey, body: Bytes) -> Response {
///     app.idempotency
///         .run(idem.required(&caller.id, "POST /v1/appointments", &body), || async {
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

    /// A request on a route where the key is required.
    pub fn required<'a>(
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

    /// A request on a route where the key is optional.
    pub fn optional<'a>(
        &'a self,
        scope: &'a str,
        route: &'a str,
        body: &'a [u8],
    ) -> IdempotencyRequest<'a> {
        IdempotencyRequest {
            required: false,
            ..self.required(scope, route, body)
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::from_parts(parts))
    }
}

/// A clock giving epoch milliseconds.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// Epoch milliseconds from the system clock.
pub fn system_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The idempotency layer: a store (DynamoDB unless said otherwise), its configuration and a clock.
/// Cheap to clone when the store is; keep one in the service's state.
#[derive(Clone)]
pub struct Idempotency<S = DynamoIdempotencyStore> {
    store: S,
    config: IdempotencyConfig,
    clock: Clock,
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
            clock: Arc::new(system_now_ms),
        }
    }

    /// Replaces the clock (epoch milliseconds), for tests.
    #[must_use]
    pub fn with_clock(mut self, clock: impl Fn() -> u64 + Send + Sync + 'static) -> Self {
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

        match self.store.begin(&id, &attempt).await {
            Ok(BeginOutcome::Started) => {
                tracing::debug!(record = %id, attempt = %attempt.attempt_id, "idempotency: started");
            }
            Ok(BeginOutcome::Existing(record)) => {
                return self.answer_existing(&id, &attempt, &record);
            }
            Err(err) => return store_failure(&id, &err),
        }

        let response = operation().await.into_response();
        self.finish(&id, &attempt, response).await
    }

    fn attempt(&self, request: &IdempotencyRequest<'_>) -> Attempt {
        let now_ms = (self.clock)();
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

// ---------------------------------------------------------------------------------------------
// DynamoDB adapter
// ---------------------------------------------------------------------------------------------

const ATTR_PK: &str = "pk";
const ATTR_SK: &str = "sk";
const ATTR_STATUS: &str = "status";
const ATTR_FINGERPRINT: &str = "fingerprint";
const ATTR_CREATED_AT: &str = "createdAt";
const ATTR_EXPIRES_AT: &str = "expiresAt";
const ATTR_IN_PROGRESS_UNTIL: &str = "inProgressUntil";
const ATTR_ATTEMPT_ID: &str = "attemptId";
const ATTR_RESPONSE_STATUS: &str = "responseStatus";
const ATTR_RESPONSE_CONTENT_TYPE: &str = "responseContentType";
const ATTR_RESPONSE_LOCATION: &str = "responseLocation";
const ATTR_RESPONSE_BODY: &str = "responseBody";

/// Written only when no live record holds the key.
const BEGIN_CONDITION: &str = "attribute_not_exists(#pk) OR (#status = :inProgress AND #inProgressUntil < :nowMs) OR #expiresAt < :nowS";
/// Completing or releasing requires still owning the in-flight marker.
const OWNER_CONDITION: &str = "#status = :inProgress AND #attemptId = :attemptId";

/// How many times `begin` retries when the record that blocked it vanished before it was read.
const BEGIN_ATTEMPTS: usize = 3;

/// [`IdempotencyStore`] on the service's DynamoDB table (string keys `pk` and `sk`).
#[derive(Debug, Clone)]
pub struct DynamoIdempotencyStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoIdempotencyStore {
    /// The store in `table`.
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Reads a record with a consistent read.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when DynamoDB fails, [`StoreError::Corrupt`] when the item is
    /// not a record.
    pub async fn get(&self, id: &RecordId) -> Result<Option<IdempotencyRecord>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(ATTR_PK, AttributeValue::S(id.pk().to_string()))
            .key(ATTR_SK, AttributeValue::S(RECORD_SK.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(crate::aws::error_text(&e)))?;
        output.item().map(record_from_item).transpose()
    }

    fn item(id: &RecordId, record: &IdempotencyRecord) -> HashMap<String, AttributeValue> {
        let mut item = HashMap::from([
            (ATTR_PK.to_string(), AttributeValue::S(id.pk().to_string())),
            (
                ATTR_SK.to_string(),
                AttributeValue::S(RECORD_SK.to_string()),
            ),
            (
                ATTR_STATUS.to_string(),
                AttributeValue::S(record.status.as_str().to_string()),
            ),
            (
                ATTR_FINGERPRINT.to_string(),
                AttributeValue::S(record.fingerprint.clone()),
            ),
            (ATTR_CREATED_AT.to_string(), number(record.created_at)),
            (ATTR_EXPIRES_AT.to_string(), number(record.expires_at)),
            (
                ATTR_IN_PROGRESS_UNTIL.to_string(),
                number(record.in_progress_until),
            ),
            (
                ATTR_ATTEMPT_ID.to_string(),
                AttributeValue::S(record.attempt_id.clone()),
            ),
        ]);
        if let Some(response) = &record.response {
            item.insert(
                ATTR_RESPONSE_STATUS.to_string(),
                number(u64::from(response.status)),
            );
            if let Some(content_type) = &response.content_type {
                item.insert(
                    ATTR_RESPONSE_CONTENT_TYPE.to_string(),
                    AttributeValue::S(content_type.clone()),
                );
            }
            if let Some(location) = &response.location {
                item.insert(
                    ATTR_RESPONSE_LOCATION.to_string(),
                    AttributeValue::S(location.clone()),
                );
            }
            if !response.body.is_empty() {
                item.insert(
                    ATTR_RESPONSE_BODY.to_string(),
                    AttributeValue::B(Blob::new(response.body.clone())),
                );
            }
        }
        item
    }
}

fn number(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn record_from_item(
    item: &HashMap<String, AttributeValue>,
) -> Result<IdempotencyRecord, StoreError> {
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
    let whole = |name: &str| {
        item.get(name)
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<u64>().ok())
    };
    let missing = |name: &str| StoreError::Corrupt(format!("attribute {name} missing or invalid"));
    let status = text(ATTR_STATUS)
        .as_deref()
        .and_then(RecordStatus::parse)
        .ok_or_else(|| missing(ATTR_STATUS))?;
    let response = match status {
        RecordStatus::InProgress => None,
        RecordStatus::Completed => Some(StoredResponse {
            status: whole(ATTR_RESPONSE_STATUS)
                .and_then(|s| u16::try_from(s).ok())
                .ok_or_else(|| missing(ATTR_RESPONSE_STATUS))?,
            content_type: text(ATTR_RESPONSE_CONTENT_TYPE),
            location: text(ATTR_RESPONSE_LOCATION),
            body: item
                .get(ATTR_RESPONSE_BODY)
                .and_then(|v| v.as_b().ok())
                .map(|b| b.as_ref().to_vec())
                .unwrap_or_default(),
        }),
    };
    Ok(IdempotencyRecord {
        status,
        fingerprint: text(ATTR_FINGERPRINT).ok_or_else(|| missing(ATTR_FINGERPRINT))?,
        created_at: whole(ATTR_CREATED_AT).ok_or_else(|| missing(ATTR_CREATED_AT))?,
        expires_at: whole(ATTR_EXPIRES_AT).ok_or_else(|| missing(ATTR_EXPIRES_AT))?,
        in_progress_until: whole(ATTR_IN_PROGRESS_UNTIL)
            .ok_or_else(|| missing(ATTR_IN_PROGRESS_UNTIL))?,
        attempt_id: text(ATTR_ATTEMPT_ID).unwrap_or_default(),
        response,
    })
}

impl IdempotencyStore for DynamoIdempotencyStore {
    async fn begin(&self, id: &RecordId, attempt: &Attempt) -> Result<BeginOutcome, StoreError> {
        let item = Self::item(id, &attempt.in_progress_record());
        for _ in 0..BEGIN_ATTEMPTS {
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item.clone()))
                .condition_expression(BEGIN_CONDITION)
                .expression_attribute_names("#pk", ATTR_PK)
                .expression_attribute_names("#status", ATTR_STATUS)
                .expression_attribute_names("#inProgressUntil", ATTR_IN_PROGRESS_UNTIL)
                .expression_attribute_names("#expiresAt", ATTR_EXPIRES_AT)
                .expression_attribute_values(
                    ":inProgress",
                    AttributeValue::S(RecordStatus::InProgress.as_str().to_string()),
                )
                .expression_attribute_values(":nowMs", number(attempt.now_ms))
                .expression_attribute_values(":nowS", number(attempt.now_ms / 1000))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .send()
                .await;
            let err = match result {
                Ok(_) => return Ok(BeginOutcome::Started),
                Err(err) => err,
            };
            let Some(PutItemError::ConditionalCheckFailedException(failed)) =
                err.as_service_error()
            else {
                return Err(StoreError::Unavailable(crate::aws::error_text(&err)));
            };
            let existing = match failed.item() {
                Some(item) => Some(record_from_item(item)?),
                None => self.get(id).await?,
            };
            match existing {
                Some(record) if !record.is_replaceable(attempt.now_ms) => {
                    return Ok(BeginOutcome::Existing(record));
                }
                // Released or lapsed between the write and the read: try again.
                _ => continue,
            }
        }
        Err(StoreError::Unavailable(
            "the record kept changing while starting".to_string(),
        ))
    }

    async fn complete(
        &self,
        id: &RecordId,
        attempt: &Attempt,
        response: &StoredResponse,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(Self::item(id, &attempt.completed_record(response))))
            .condition_expression(OWNER_CONDITION)
            .expression_attribute_names("#status", ATTR_STATUS)
            .expression_attribute_names("#attemptId", ATTR_ATTEMPT_ID)
            .expression_attribute_values(
                ":inProgress",
                AttributeValue::S(RecordStatus::InProgress.as_str().to_string()),
            )
            .expression_attribute_values(
                ":attemptId",
                AttributeValue::S(attempt.attempt_id.clone()),
            )
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) => match err.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(_)) => Err(StoreError::NotOwner),
                _ => Err(StoreError::Unavailable(crate::aws::error_text(&err))),
            },
        }
    }

    async fn release(&self, id: &RecordId, attempt: &Attempt) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(ATTR_PK, AttributeValue::S(id.pk().to_string()))
            .key(ATTR_SK, AttributeValue::S(RECORD_SK.to_string()))
            .condition_expression(OWNER_CONDITION)
            .expression_attribute_names("#status", ATTR_STATUS)
            .expression_attribute_names("#attemptId", ATTR_ATTEMPT_ID)
            .expression_attribute_values(
                ":inProgress",
                AttributeValue::S(RecordStatus::InProgress.as_str().to_string()),
            )
            .expression_attribute_values(
                ":attemptId",
                AttributeValue::S(attempt.attempt_id.clone()),
            )
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) => match err.as_service_error() {
                Some(DeleteItemError::ConditionalCheckFailedException(_)) => {
                    Err(StoreError::NotOwner)
                }
                _ => Err(StoreError::Unavailable(crate::aws::error_text(&err))),
            },
        }
    }
}

// ---------------------------------------------------------------------------------------------
// In-memory adapter
// ---------------------------------------------------------------------------------------------

/// [`IdempotencyStore`] in memory, with the same conditions as the DynamoDB one; for tests.
/// Clones share their records.
#[derive(Debug, Clone, Default)]
pub struct MemoryIdempotencyStore {
    records: Arc<Mutex<HashMap<RecordId, IdempotencyRecord>>>,
    unavailable: Arc<AtomicBool>,
}

impl MemoryIdempotencyStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The record under `id`, if any.
    pub fn get(&self, id: &RecordId) -> Option<IdempotencyRecord> {
        self.lock().get(id).cloned()
    }

    /// Stores `record` under `id` unconditionally (to set up a test).
    pub fn insert(&self, id: RecordId, record: IdempotencyRecord) {
        self.lock().insert(id, record);
    }

    /// Number of records held.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no record is held.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Makes every call fail with [`StoreError::Unavailable`] (or succeed again).
    pub fn set_unavailable(&self, unavailable: bool) {
        self.unavailable.store(unavailable, Ordering::SeqCst);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<RecordId, IdempotencyRecord>> {
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn check_available(&self) -> Result<(), StoreError> {
        if self.unavailable.load(Ordering::SeqCst) {
            Err(StoreError::Unavailable(
                "memory store switched off".to_string(),
            ))
        } else {
            Ok(())
        }
    }

    fn owned_by(record: Option<&IdempotencyRecord>, attempt: &Attempt) -> bool {
        record.is_some_and(|r| {
            r.status == RecordStatus::InProgress && r.attempt_id == attempt.attempt_id
        })
    }
}

impl IdempotencyStore for MemoryIdempotencyStore {
    async fn begin(&self, id: &RecordId, attempt: &Attempt) -> Result<BeginOutcome, StoreError> {
        self.check_available()?;
        let mut records = self.lock();
        match records.get(id) {
            Some(existing) if !existing.is_replaceable(attempt.now_ms) => {
                Ok(BeginOutcome::Existing(existing.clone()))
            }
            _ => {
                records.insert(id.clone(), attempt.in_progress_record());
                Ok(BeginOutcome::Started)
            }
        }
    }

    async fn complete(
        &self,
        id: &RecordId,
        attempt: &Attempt,
        response: &StoredResponse,
    ) -> Result<(), StoreError> {
        self.check_available()?;
        let mut records = self.lock();
        if !Self::owned_by(records.get(id), attempt) {
            return Err(StoreError::NotOwner);
        }
        records.insert(id.clone(), attempt.completed_record(response));
        Ok(())
    }

    async fn release(&self, id: &RecordId, attempt: &Attempt) -> Result<(), StoreError> {
        self.check_available()?;
        let mut records = self.lock();
        if !Self::owned_by(records.get(id), attempt) {
            return Err(StoreError::NotOwner);
        }
        records.remove(id);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, AtomicUsize};

    use serde_json::json;

    use super::*;

    const START_MS: u64 = 1_750_000_000_000;
    const ROUTE: &str = "POST /v1/things";

    struct Harness {
        idem: Idempotency<MemoryIdempotencyStore>,
        store: MemoryIdempotencyStore,
        now: Arc<AtomicU64>,
        runs: Arc<AtomicUsize>,
    }

    impl Harness {
        fn new() -> Self {
            let store = MemoryIdempotencyStore::new();
            let now = Arc::new(AtomicU64::new(START_MS));
            let clock = Arc::clone(&now);
            let idem = Idempotency::new(store.clone(), IdempotencyConfig::default())
                .with_clock(move || clock.load(Ordering::SeqCst));
            Self {
                idem,
                store,
                now,
                runs: Arc::new(AtomicUsize::new(0)),
            }
        }

        fn advance(&self, by: Duration) {
            self.now
                .fetch_add(u64::try_from(by.as_millis()).unwrap(), Ordering::SeqCst);
        }

        fn runs(&self) -> usize {
            self.runs.load(Ordering::SeqCst)
        }

        /// Runs the standard operation (201 with a Location and a numbered body).
        async fn create(&self, request: IdempotencyRequest<'_>) -> Reply {
            let runs = Arc::clone(&self.runs);
            Reply::read(self.idem.run(request, || created(runs)).await).await
        }
    }

    async fn created(runs: Arc<AtomicUsize>) -> Response {
        let n = runs.fetch_add(1, Ordering::SeqCst) + 1;
        (
            StatusCode::CREATED,
            [(header::LOCATION, format!("/v1/things/{n}"))],
            axum::Json(json!({ "id": n })),
        )
            .into_response()
    }

    #[derive(Debug)]
    struct Reply {
        status: StatusCode,
        headers: HeaderMap,
        body: Vec<u8>,
    }

    impl Reply {
        async fn read(response: Response) -> Self {
            let (parts, body) = response.into_parts();
            let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
            Self {
                status: parts.status,
                headers: parts.headers,
                body: body.to_vec(),
            }
        }

        fn replayed(&self) -> bool {
            self.headers
                .get(REPLAYED_HEADER)
                .is_some_and(|v| v == "true")
        }

        fn code(&self) -> String {
            let json: serde_json::Value = serde_json::from_slice(&self.body).unwrap();
            json["code"].as_str().unwrap_or_default().to_string()
        }
    }

    fn hv(value: &str) -> HeaderValue {
        HeaderValue::from_str(value).unwrap()
    }

    fn request<'a>(key: Option<&'a HeaderValue>, body: &'a [u8]) -> IdempotencyRequest<'a> {
        IdempotencyRequest {
            scope: "caller-1",
            route: ROUTE,
            key,
            required: true,
            body,
            path: None,
            deadline_ms: None,
        }
    }

    fn record_id(key: &str) -> RecordId {
        RecordId::new("caller-1", ROUTE, key)
    }

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
        h.store.begin(&record_id("k-1"), &attempt).await.unwrap();
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

    #[test]
    fn quoted_and_bare_keys_are_the_same() {
        assert_eq!(parse_key(&hv("\"abc-1\"")).unwrap(), "abc-1");
        assert_eq!(parse_key(&hv("abc-1")).unwrap(), "abc-1");
        assert_eq!(parse_key(&hv("\"\"")), Err(InvalidKey::Empty));
        assert_eq!(parse_key(&hv(&"k".repeat(256))), Err(InvalidKey::TooLong));
        assert_eq!(
            Problem::from(InvalidKey::TooLong).detail,
            "The Idempotency-Key header must be at most 255 characters long."
        );
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

    #[test]
    fn fingerprints_are_canonical_for_json_and_raw_otherwise() {
        let a = fingerprint(None, br#"{"x":{"b":1,"a":[true,null,"s"]},"y":1.5}"#);
        let b = fingerprint(
            None,
            b"{ \"y\": 1.5,\n \"x\": { \"a\": [true, null, \"s\"], \"b\": 1 } }",
        );
        assert_eq!(a, b);
        assert_eq!(a.len(), 64);
        assert_ne!(
            a,
            fingerprint(None, br#"{"x":{"b":2,"a":[true,null,"s"]},"y":1.5}"#)
        );
        assert_ne!(fingerprint(None, b"a b"), fingerprint(None, b"a  b"));
        assert_ne!(
            fingerprint(Some("/p/1"), b"{}"),
            fingerprint(Some("/p/2"), b"{}")
        );
        assert_eq!(
            fingerprint(None, b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn expiry_rules() {
        let attempt = Attempt {
            attempt_id: "a".into(),
            fingerprint: "f".into(),
            now_ms: 10_000,
            created_at: 10,
            expires_at: 20,
            in_progress_until: 15_000,
        };
        let in_progress = attempt.in_progress_record();
        assert!(!in_progress.is_replaceable(15_000));
        assert!(in_progress.is_replaceable(15_001));
        let completed = attempt.completed_record(&StoredResponse {
            status: 201,
            content_type: None,
            location: None,
            body: Vec::new(),
        });
        assert!(!completed.is_replaceable(15_001));
        assert!(!completed.is_replaceable(20_999));
        assert!(completed.is_replaceable(21_000));
    }

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
        let req = extracted.optional("c", ROUTE, b"{}");
        assert!(!req.required);
        assert_eq!(req.path, Some("/v1/exams/E1/files"));
        assert_eq!(req.deadline_ms, Some(1_234));
        assert!(extracted.required("c", ROUTE, b"{}").required);
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
            .run(idem.required("caller-1", ROUTE, &body), || async {
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

    #[test]
    fn the_dynamo_backed_run_future_is_send() {
        fn assert_send<T: Send>(_: &T) {}
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
            .build();
        let store =
            DynamoIdempotencyStore::new(aws_sdk_dynamodb::Client::from_conf(config), "table");
        let idem: Idempotency = Idempotency::new(store, IdempotencyConfig::default());
        let key = hv("k");
        let future = idem.run(request(Some(&key), b"{}"), || async { StatusCode::OK });
        assert_send(&future);
    }

    #[test]
    fn config_defaults() {
        let config = IdempotencyConfig::default();
        assert_eq!(config.expires_after, Duration::from_secs(86_400));
        assert_eq!(config.in_progress_default, Duration::from_secs(30));
        assert_eq!(
            IdempotencyConfig::from_env()
                .unwrap_or_default()
                .expires_after,
            config.expires_after
        );
    }

    #[test]
    fn dynamo_items_round_trip() {
        let attempt = Attempt {
            attempt_id: "01ATTEMPT".into(),
            fingerprint: "ab".repeat(32),
            now_ms: START_MS,
            created_at: START_MS / 1000,
            expires_at: START_MS / 1000 + 86_400,
            in_progress_until: START_MS + 900,
        };
        let id = record_id("k-1");
        let in_progress = attempt.in_progress_record();
        let item = DynamoIdempotencyStore::item(&id, &in_progress);
        assert_eq!(
            item["pk"].as_s().unwrap(),
            "IDEMPOTENCY#caller-1#POST /v1/things#k-1"
        );
        assert_eq!(item["sk"].as_s().unwrap(), "IDEMPOTENCY");
        assert_eq!(
            item["expiresAt"].as_n().unwrap(),
            &(START_MS / 1000 + 86_400).to_string()
        );
        assert_eq!(record_from_item(&item).unwrap(), in_progress);
        for body in [Vec::new(), b"{\"id\":1}".to_vec()] {
            let completed = attempt.completed_record(&StoredResponse {
                status: 201,
                content_type: Some("application/json".into()),
                location: Some("/v1/things/1".into()),
                body,
            });
            let item = DynamoIdempotencyStore::item(&id, &completed);
            assert_eq!(record_from_item(&item).unwrap(), completed);
        }
        let mut broken = item;
        broken.remove("fingerprint");
        assert!(matches!(
            record_from_item(&broken),
            Err(StoreError::Corrupt(_))
        ));
    }
}
