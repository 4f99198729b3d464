//! The idempotency layer against the DynamoDB emulator (moto server): conditional writes, the
//! old item returned on a failed condition, concurrent duplicates, replays, takeovers and scoping.
//!
//! Endpoint from `CLINIC_EMULATOR_URL` (default `http://127.0.0.1:4566`; start it with
//! `scripts/emulator start`). Each test creates its own table, so tests run in parallel in any order.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::config::Credentials;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ReturnValuesOnConditionCheckFailure, ScalarAttributeType,
};
use axum::response::{IntoResponse, Response};
use clinic_shared::clock::ManualClock;
use clinic_shared::idempotency::{
    Attempt, ClaimOutcome, DynamoIdempotencyStore, Idempotency, IdempotencyConfig,
    IdempotencyRequest, IdempotencyStore, REPLAYED_HEADER, RecordId, RecordStatus, StoreError,
    fingerprint, system_now_ms,
};
use clinic_shared::problem::Problem;
use http::{HeaderMap, HeaderValue, StatusCode, header};

const ROUTE: &str = "POST /v1/appointments";

fn endpoint() -> String {
    std::env::var("CLINIC_EMULATOR_URL").unwrap_or_else(|_| "http://127.0.0.1:4566".to_string())
}

/// A client with explicit region and dummy credentials: nothing is looked up in the environment or
/// the instance metadata service.
async fn client_for(endpoint: &str, max_attempts: u32) -> aws_sdk_dynamodb::Client {
    let config =
        clinic_shared::aws::with_https_client(aws_config::defaults(BehaviorVersion::latest()))
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "static"))
            .endpoint_url(endpoint)
            .retry_config(RetryConfig::standard().with_max_attempts(max_attempts))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(2))
                    .operation_attempt_timeout(Duration::from_secs(10))
                    .build(),
            )
            .load()
            .await;
    aws_sdk_dynamodb::Client::new(&config)
}

/// A fresh table (`pk`/`sk` strings, on demand) for one test.
struct TestTable {
    client: aws_sdk_dynamodb::Client,
    name: String,
}

impl TestTable {
    async fn create() -> Self {
        let client = client_for(&endpoint(), 3).await;
        let name = format!("idem-{}", ulid::Ulid::new().to_string().to_lowercase());
        let key = |name: &str, key_type| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(key_type)
                .build()
                .expect("key schema")
        };
        let attribute = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attribute definition")
        };
        client
            .create_table()
            .table_name(&name)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key("pk", KeyType::Hash))
            .key_schema(key("sk", KeyType::Range))
            .attribute_definitions(attribute("pk"))
            .attribute_definitions(attribute("sk"))
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "cannot create a table at {} (is the emulator up? scripts/emulator start): {e:?}",
                    endpoint()
                )
            });
        Self { client, name }
    }

    fn store(&self) -> DynamoIdempotencyStore {
        DynamoIdempotencyStore::new(self.client.clone(), &self.name)
    }

    fn idempotency(&self) -> Idempotency<DynamoIdempotencyStore> {
        Idempotency::new(self.store(), IdempotencyConfig::default())
    }

    async fn delete(self) {
        let _ = self
            .client
            .delete_table()
            .table_name(&self.name)
            .send()
            .await;
    }
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
        let body = axum::body::to_bytes(body, usize::MAX).await.expect("body");
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
        let json: serde_json::Value = serde_json::from_slice(&self.body).expect("problem json");
        json["code"].as_str().unwrap_or_default().to_string()
    }
}

fn request<'a>(
    scope: &'a str,
    key: &'a HeaderValue,
    body: &'a [u8],
    deadline_ms: Option<u64>,
) -> IdempotencyRequest<'a> {
    IdempotencyRequest {
        scope,
        route: ROUTE,
        key: Some(key),
        required: true,
        body,
        path: Some("/v1/appointments"),
        deadline_ms,
    }
}

/// The operation under test: counts its runs and answers 201 with a fresh id and a Location.
async fn book(runs: Arc<AtomicUsize>, delay: Duration) -> Response {
    runs.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(delay).await;
    let id = ulid::Ulid::new().to_string();
    (
        StatusCode::CREATED,
        [(header::LOCATION, format!("/v1/exams/{id}"))],
        axum::Json(serde_json::json!({ "examId": id, "status": "SCHEDULED" })),
    )
        .into_response()
}

fn record_id(scope: &str, key: &str) -> RecordId {
    RecordId::new(scope, ROUTE, key)
}

fn attempt(body: &[u8], in_progress_until: u64) -> Attempt {
    let now_ms = system_now_ms();
    Attempt {
        attempt_id: ulid::Ulid::new().to_string(),
        fingerprint: fingerprint(Some("/v1/appointments"), body),
        now_ms,
        created_at: now_ms / 1000,
        expires_at: now_ms / 1000 + 86_400,
        in_progress_until,
    }
}

#[tokio::test]
async fn emulator_returns_the_old_item_when_a_condition_fails() {
    let table = TestTable::create().await;
    let put = |value: &str| {
        table
            .client
            .put_item()
            .table_name(&table.name)
            .item("pk", AttributeValue::S("IDEMPOTENCY#probe".into()))
            .item("sk", AttributeValue::S("IDEMPOTENCY".into()))
            .item("v", AttributeValue::S(value.into()))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
    };
    put("first").await.expect("first put");
    let err = put("second").await.expect_err("condition must fail");
    let Some(PutItemError::ConditionalCheckFailedException(failed)) = err.as_service_error() else {
        panic!("expected ConditionalCheckFailed, got {err:?}");
    };
    let item = failed.item().expect("the emulator returns the old item");
    assert_eq!(item["v"], AttributeValue::S("first".into()));
    table.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_duplicates_run_the_operation_once() {
    let table = TestTable::create().await;
    let idem = table.idempotency();
    let runs = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(tokio::sync::Barrier::new(10));
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let idem = idem.clone();
        let runs = Arc::clone(&runs);
        let barrier = Arc::clone(&barrier);
        tasks.push(tokio::spawn(async move {
            let key = HeaderValue::from_static("same-key");
            let body = br#"{"slotId":"S1"}"#;
            barrier.wait().await;
            let response = idem
                .run(request("patient-1", &key, body, None), || {
                    book(runs, Duration::from_millis(500))
                })
                .await;
            Reply::read(response).await
        }));
    }
    let mut replies = Vec::new();
    for task in tasks {
        replies.push(task.await.expect("task"));
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the operation ran once");
    let originals: Vec<_> = replies
        .iter()
        .filter(|r| r.status == StatusCode::CREATED && !r.replayed())
        .collect();
    assert_eq!(originals.len(), 1);
    let original = originals[0];
    for reply in &replies {
        match reply.status {
            StatusCode::CREATED if reply.replayed() => assert_eq!(reply.body, original.body),
            StatusCode::CREATED => {}
            StatusCode::CONFLICT => assert_eq!(reply.code(), "REQUEST_IN_PROGRESS"),
            other => panic!("unexpected status {other}"),
        }
    }
    // Once finished, every retry is the replay.
    let key = HeaderValue::from_static("same-key");
    let runs_after = Arc::clone(&runs);
    let retry = Reply::read(
        idem.run(
            request("patient-1", &key, br#"{"slotId":"S1"}"#, None),
            || book(runs_after, Duration::ZERO),
        )
        .await,
    )
    .await;
    assert!(retry.replayed());
    assert_eq!(retry.body, original.body);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    table.delete().await;
}

#[tokio::test]
async fn replay_after_completion_is_byte_identical() {
    let table = TestTable::create().await;
    let idem = table.idempotency();
    let runs = Arc::new(AtomicUsize::new(0));
    let key = HeaderValue::from_static("k-replay");
    let body = br#"{"slotId":"S1"}"#;
    let first = Reply::read(
        idem.run(request("patient-1", &key, body, None), || {
            book(Arc::clone(&runs), Duration::ZERO)
        })
        .await,
    )
    .await;
    let second = Reply::read(
        idem.run(request("patient-1", &key, body, None), || {
            book(Arc::clone(&runs), Duration::ZERO)
        })
        .await,
    )
    .await;
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(first.status, StatusCode::CREATED);
    assert!(!first.replayed());
    assert!(second.replayed());
    assert_eq!(second.status, first.status);
    assert_eq!(second.body, first.body);
    for name in [header::CONTENT_TYPE, header::LOCATION] {
        assert_eq!(
            second.headers.get(&name),
            first.headers.get(&name),
            "{name}"
        );
    }
    let stored = table
        .store()
        .get(&record_id("patient-1", "k-replay"))
        .await
        .expect("get")
        .expect("record");
    assert_eq!(stored.status, RecordStatus::Completed);
    assert!(stored.in_progress_until > 0 && stored.expires_at > stored.created_at);

    // An error response is kept and replayed the same way.
    let key = HeaderValue::from_static("k-error");
    let full = || async { Problem::conflict("SLOT_FULL", "The slot is full.") };
    let first = Reply::read(idem.run(request("patient-1", &key, body, None), full).await).await;
    let second = Reply::read(
        idem.run(request("patient-1", &key, body, None), || {
            book(Arc::clone(&runs), Duration::ZERO)
        })
        .await,
    )
    .await;
    assert_eq!(first.status, StatusCode::CONFLICT);
    assert_eq!(second.status, StatusCode::CONFLICT);
    assert_eq!(second.body, first.body);
    assert_eq!(
        second.headers[header::CONTENT_TYPE],
        first.headers[header::CONTENT_TYPE]
    );
    assert!(second.replayed());
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    table.delete().await;
}

#[tokio::test]
async fn same_key_with_another_body_is_422() {
    let table = TestTable::create().await;
    let idem = table.idempotency();
    let runs = Arc::new(AtomicUsize::new(0));
    let key = HeaderValue::from_static("k-reuse");
    let first = Reply::read(
        idem.run(
            request("patient-1", &key, br#"{"slotId":"S1"}"#, None),
            || book(Arc::clone(&runs), Duration::ZERO),
        )
        .await,
    )
    .await;
    assert_eq!(first.status, StatusCode::CREATED);
    let other = Reply::read(
        idem.run(
            request("patient-1", &key, br#"{"slotId":"S2"}"#, None),
            || book(Arc::clone(&runs), Duration::ZERO),
        )
        .await,
    )
    .await;
    assert_eq!(other.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(other.code(), "IDEMPOTENCY_KEY_REUSED");
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    table.delete().await;
}

#[tokio::test]
async fn in_flight_marker_is_409_until_its_deadline_then_taken_over() {
    let table = TestTable::create().await;
    let store = table.store();
    let idem = table.idempotency();
    let runs = Arc::new(AtomicUsize::new(0));
    let body = br#"{"slotId":"S1"}"#;

    // A first attempt still running (deadline a minute away): a retry is told to wait.
    let live = attempt(body, system_now_ms() + 60_000);
    let id = record_id("patient-1", "k-live");
    assert_eq!(
        store.claim(&id, &live).await.expect("claim"),
        ClaimOutcome::Started
    );
    let key = HeaderValue::from_static("k-live");
    let reply = Reply::read(
        idem.run(request("patient-1", &key, body, None), || {
            book(Arc::clone(&runs), Duration::ZERO)
        })
        .await,
    )
    .await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert_eq!(reply.code(), "REQUEST_IN_PROGRESS");
    assert!(reply.headers.contains_key(header::RETRY_AFTER));
    assert_eq!(runs.load(Ordering::SeqCst), 0);

    // A crashed attempt whose invocation deadline has passed: the retry takes over.
    let crashed = attempt(body, system_now_ms() - 1_000);
    let id = record_id("patient-1", "k-crashed");
    assert_eq!(
        store.claim(&id, &crashed).await.expect("claim"),
        ClaimOutcome::Started
    );
    let key = HeaderValue::from_static("k-crashed");
    let reply = Reply::read(
        idem.run(
            request("patient-1", &key, body, Some(system_now_ms() + 30_000)),
            || book(Arc::clone(&runs), Duration::ZERO),
        )
        .await,
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert!(!reply.replayed());
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let record = store.get(&id).await.expect("get").expect("record");
    assert_eq!(record.status, RecordStatus::Completed);
    assert_ne!(record.attempt_id, crashed.attempt_id);

    // The crashed attempt, should it wake up, owns nothing any more.
    let response = clinic_shared::idempotency::StoredResponse {
        status: 201,
        content_type: None,
        location: None,
        body: b"late".to_vec(),
    };
    assert_eq!(
        store.complete(&id, &crashed, &response).await,
        Err(StoreError::NotOwner)
    );
    assert_eq!(
        store.release(&id, &crashed).await,
        Err(StoreError::NotOwner)
    );
    let record = store.get(&id).await.expect("get").expect("record");
    assert_eq!(record.response.expect("response").body, reply.body);
    table.delete().await;
}

#[tokio::test]
async fn past_deadline_lets_a_concurrent_retry_take_over() {
    let table = TestTable::create().await;
    let idem = table.idempotency();
    let runs = Arc::new(AtomicUsize::new(0));
    let key = HeaderValue::from_static("k-deadline");
    let body = br#"{"slotId":"S1"}"#;
    // The first attempt's deadline is already behind it, so a retry arriving while it runs
    // takes the key over instead of waiting.
    let outer = idem
        .run(
            request("patient-1", &key, body, Some(system_now_ms() - 1)),
            || async {
                runs.fetch_add(1, Ordering::SeqCst);
                let inner = idem
                    .run(request("patient-1", &key, body, None), || {
                        book(Arc::clone(&runs), Duration::ZERO)
                    })
                    .await;
                assert_eq!(inner.status(), StatusCode::CREATED);
                (StatusCode::CREATED, "first")
            },
        )
        .await;
    assert_eq!(outer.status(), StatusCode::CREATED);
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    let record = table
        .store()
        .get(&record_id("patient-1", "k-deadline"))
        .await
        .expect("get")
        .expect("record");
    // The record is the retry's: the late first attempt did not overwrite it.
    assert_ne!(record.response.expect("response").body, b"first");
    table.delete().await;
}

#[tokio::test]
async fn expired_completed_record_is_overwritten() {
    let table = TestTable::create().await;
    let runs = Arc::new(AtomicUsize::new(0));
    let key = HeaderValue::from_static("k-old");
    // First used 25 hours ago: the record has expired (the emulator never deletes TTL items).
    let long_ago = system_now_ms() - 25 * 60 * 60 * 1000;
    let past = table.idempotency().with_clock(ManualClock::at(
        jiff::Timestamp::from_millisecond(long_ago as i64).expect("a time"),
    ));
    let first = Reply::read(
        past.run(
            request("patient-1", &key, br#"{"slotId":"S1"}"#, None),
            || book(Arc::clone(&runs), Duration::ZERO),
        )
        .await,
    )
    .await;
    assert_eq!(first.status, StatusCode::CREATED);
    let idem = table.idempotency();
    let again = Reply::read(
        idem.run(
            request("patient-1", &key, br#"{"slotId":"S2"}"#, None),
            || book(Arc::clone(&runs), Duration::ZERO),
        )
        .await,
    )
    .await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert!(!again.replayed());
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    table.delete().await;
}

#[tokio::test]
async fn server_errors_release_the_key() {
    let table = TestTable::create().await;
    let idem = table.idempotency();
    let runs = Arc::new(AtomicUsize::new(0));
    let key = HeaderValue::from_static("k-5xx");
    let body = br#"{"slotId":"S1"}"#;
    let failed = Reply::read(
        idem.run(request("patient-1", &key, body, None), || async {
            Problem::unavailable(1)
        })
        .await,
    )
    .await;
    assert_eq!(failed.status, StatusCode::SERVICE_UNAVAILABLE);
    let record = table
        .store()
        .get(&record_id("patient-1", "k-5xx"))
        .await
        .expect("get");
    assert_eq!(record, None);
    let retry = Reply::read(
        idem.run(request("patient-1", &key, body, None), || {
            book(Arc::clone(&runs), Duration::ZERO)
        })
        .await,
    )
    .await;
    assert_eq!(retry.status, StatusCode::CREATED);
    assert!(!retry.replayed());
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    table.delete().await;
}

#[tokio::test]
async fn keys_are_scoped_per_caller() {
    let table = TestTable::create().await;
    let idem = table.idempotency();
    let runs = Arc::new(AtomicUsize::new(0));
    let key = HeaderValue::from_static("k-shared");
    let body = br#"{"slotId":"S1"}"#;
    let mut replies = Vec::new();
    for caller in ["patient-a", "patient-b"] {
        replies.push(
            Reply::read(
                idem.run(request(caller, &key, body, None), || {
                    book(Arc::clone(&runs), Duration::ZERO)
                })
                .await,
            )
            .await,
        );
    }
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    assert!(
        replies
            .iter()
            .all(|r| r.status == StatusCode::CREATED && !r.replayed())
    );
    assert_ne!(replies[0].body, replies[1].body);
    table.delete().await;
}

#[tokio::test]
async fn unreachable_store_is_503_and_nothing_runs() {
    // Nothing listens on port 1: the store fails, and the operation must not run unguarded.
    let client = client_for("http://127.0.0.1:1", 1).await;
    let idem = Idempotency::new(
        DynamoIdempotencyStore::new(client, "nowhere"),
        IdempotencyConfig::default(),
    );
    let runs = Arc::new(AtomicUsize::new(0));
    let key = HeaderValue::from_static("k-down");
    let reply = Reply::read(
        idem.run(request("patient-1", &key, b"{}", None), || {
            book(Arc::clone(&runs), Duration::ZERO)
        })
        .await,
    )
    .await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.code(), "UNAVAILABLE");
    assert_eq!(runs.load(Ordering::SeqCst), 0);
}
