//! Idempotency records, the replay of a kept response, and the storage port every adapter
//! implements.

use std::fmt;
use std::future::Future;

use axum::body::Body;
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};

/// Response header set (to `true`) on every replayed response.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

/// Sort key of every idempotency record.
pub const RECORD_SK: &str = "IDEMPOTENCY";

/// Prefix of the partition key of every idempotency record.
pub const RECORD_PK_PREFIX: &str = "IDEMPOTENCY#";

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
    /// SHA-256 (hex) of the first request; see [`fingerprint`](super::fingerprint()).
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

/// One attempt at running an operation under a key: what [`IdempotencyStore::claim`] writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// Unique id of this attempt; completing or releasing requires still owning the marker.
    pub attempt_id: String,
    /// SHA-256 (hex) of the request; see [`fingerprint`](super::fingerprint()).
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

/// What [`IdempotencyStore::claim`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
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
    fn claim(
        &self,
        id: &RecordId,
        attempt: &Attempt,
    ) -> impl Future<Output = Result<ClaimOutcome, StoreError>> + Send;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
