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
//! The decisions live in [`Idempotency`]; they talk to a narrow port, [`IdempotencyStore`],
//! implemented for DynamoDB by [`DynamoIdempotencyStore`] and, for this module's own tests, in
//! memory with the same write conditions.

mod config;
mod dynamo;
mod engine;
mod extract;
mod fingerprint;
mod key;
mod record;
#[cfg(test)]
mod test_support;

pub use config::{EXPIRES_SECONDS_VAR, IN_PROGRESS_SECONDS_VAR, IdempotencyConfig};
pub use dynamo::DynamoIdempotencyStore;
pub use engine::{Idempotency, IdempotencyRequest, system_now_ms};
pub use extract::IdempotencyKey;
pub use fingerprint::fingerprint;
pub use key::{IDEMPOTENCY_KEY_HEADER, InvalidKey, MAX_KEY_CHARS, idempotency_key, parse_key};
pub use record::{
    Attempt, ClaimOutcome, IdempotencyRecord, IdempotencyStore, RECORD_PK_PREFIX, RECORD_SK,
    REPLAYED_HEADER, RecordId, RecordStatus, StoreError, StoredResponse,
};
