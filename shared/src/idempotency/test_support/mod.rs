//! What the tests of several submodules share: a layer over the in-memory store on a clock they
//! move, a standard operation that counts its runs, and the response as read back.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::json;

pub(super) mod memory;

use self::memory::MemoryIdempotencyStore;
use super::{Idempotency, IdempotencyConfig, IdempotencyRequest, REPLAYED_HEADER, RecordId};
use crate::clock::ManualClock;

pub(super) const START_MS: u64 = 1_750_000_000_000;
pub(super) const ROUTE: &str = "POST /v1/things";

pub(super) struct Harness {
    pub(super) idem: Idempotency<MemoryIdempotencyStore>,
    pub(super) store: MemoryIdempotencyStore,
    clock: ManualClock,
    pub(super) runs: Arc<AtomicUsize>,
}

impl Harness {
    pub(super) fn new() -> Self {
        let store = MemoryIdempotencyStore::new();
        let clock = ManualClock::at(
            jiff::Timestamp::from_millisecond(START_MS as i64).expect("start time"),
        );
        let idem =
            Idempotency::new(store.clone(), IdempotencyConfig::default()).with_clock(clock.clone());
        Self {
            idem,
            store,
            clock,
            runs: Arc::new(AtomicUsize::new(0)),
        }
    }

    pub(super) fn advance(&self, by: Duration) {
        self.clock
            .advance(jiff::SignedDuration::try_from(by).expect("duration"));
    }

    pub(super) fn runs(&self) -> usize {
        self.runs.load(Ordering::SeqCst)
    }

    /// Runs the standard operation (201 with a Location and a numbered body).
    pub(super) async fn create(&self, request: IdempotencyRequest<'_>) -> Reply {
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
pub(super) struct Reply {
    pub(super) status: StatusCode,
    pub(super) headers: HeaderMap,
    pub(super) body: Vec<u8>,
}

impl Reply {
    pub(super) async fn read(response: Response) -> Self {
        let (parts, body) = response.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        Self {
            status: parts.status,
            headers: parts.headers,
            body: body.to_vec(),
        }
    }

    pub(super) fn replayed(&self) -> bool {
        self.headers
            .get(REPLAYED_HEADER)
            .is_some_and(|v| v == "true")
    }

    pub(super) fn code(&self) -> String {
        let json: serde_json::Value = serde_json::from_slice(&self.body).unwrap();
        json["code"].as_str().unwrap_or_default().to_string()
    }
}

pub(super) fn hv(value: &str) -> HeaderValue {
    HeaderValue::from_str(value).unwrap()
}

pub(super) fn request<'a>(key: Option<&'a HeaderValue>, body: &'a [u8]) -> IdempotencyRequest<'a> {
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

pub(super) fn record_id(key: &str) -> RecordId {
    RecordId::new("caller-1", ROUTE, key)
}
