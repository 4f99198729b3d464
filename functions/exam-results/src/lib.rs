//! Clinic's exam results service: the hospital catalogue and its slots, bookings that never
//! exceed a slot's capacity, the exam lifecycle with who may see and change what, and the
//! hospitals' batch integration (replacing nightly FTP files). Every change is announced on
//! `exam-events` through a transactional outbox; other services' events keep small projections
//! here (hospitals, CPF → patient links) and drive result readiness and LGPD erasure.
//!
//! Layers: `inbound` (HTTP, SQS) → `app` (use cases) → `domain` (values, model, rules, ports);
//! `outbound` implements the ports with the AWS SDK.

pub mod app;
pub mod config;
pub mod domain;
pub mod inbound;
pub mod outbound;

use std::sync::Arc;

use clinic_shared::auth::IngestScope;
use clinic_shared::clock::{self, SharedClock};
use clinic_shared::idempotency::{DynamoIdempotencyStore, Idempotency, IdempotencyConfig};
use clinic_shared::sqs_batch::{BatchProcessor, DynamoDedupStore, SqsQueueOps};

use crate::app::ExamResults;
use crate::config::{ApiConfig, ConsumerConfig};
use crate::inbound::events::EventsHandler;
use crate::inbound::http::AppState;
use crate::inbound::ingest::IngestConsumer;
use crate::outbound::dynamodb::DynamoStore;
use crate::outbound::sqs::SqsIngestQueue;

/// The production service behind the HTTP API: DynamoDB and SQS adapters.
pub type ExamResultsService = ExamResults<DynamoStore, SqsIngestQueue>;

/// Builds the API router from configuration and an SDK configuration (clients made once).
pub fn build_api(
    config: &ApiConfig,
    idempotency: IdempotencyConfig,
    sdk: &aws_config::SdkConfig,
) -> axum::Router {
    let store = DynamoStore::new(clinic_shared::aws::dynamodb(sdk), config.table_name.clone());
    api_with_store(config, idempotency, sdk, store, clock::system())
}

/// The API router over a given store and clock (tests stand at a chosen moment).
pub fn api_with_store(
    config: &ApiConfig,
    idempotency: IdempotencyConfig,
    sdk: &aws_config::SdkConfig,
    store: DynamoStore,
    clock: SharedClock,
) -> axum::Router {
    let queue = SqsIngestQueue::new(
        clinic_shared::aws::sqs(sdk),
        config.ingest_queue_url.clone(),
    );
    let state = AppState {
        service: Arc::new(ExamResults::new(store, queue, config.cache).with_clock(clock)),
        idempotency: Idempotency::new(
            DynamoIdempotencyStore::new(
                clinic_shared::aws::dynamodb(sdk),
                config.table_name.clone(),
            ),
            idempotency,
        ),
    };
    inbound::http::router(state, IngestScope(config.ingest_scope.clone()))
}

/// The events consumer: the shared batch processor (dedup records in the service's table,
/// unreadable or refused events parked in the DLQ) and its handler.
pub fn build_events_consumer(
    config: &ConsumerConfig,
    sdk: &aws_config::SdkConfig,
) -> (
    BatchProcessor<DynamoDedupStore, SqsQueueOps>,
    EventsHandler<DynamoStore>,
) {
    let store = DynamoStore::new(clinic_shared::aws::dynamodb(sdk), config.table_name.clone());
    events_consumer_with_store(config, sdk, store)
}

/// The events consumer over a given store.
pub fn events_consumer_with_store(
    config: &ConsumerConfig,
    sdk: &aws_config::SdkConfig,
    store: DynamoStore,
) -> (
    BatchProcessor<DynamoDedupStore, SqsQueueOps>,
    EventsHandler<DynamoStore>,
) {
    (
        BatchProcessor::aws(sdk, config.table_name.clone(), config.dlq_url.clone()),
        EventsHandler::new(store),
    )
}

/// The ingest consumer.
pub fn build_ingest_consumer(
    config: &ConsumerConfig,
    sdk: &aws_config::SdkConfig,
) -> IngestConsumer<DynamoStore, SqsQueueOps> {
    let store = DynamoStore::new(clinic_shared::aws::dynamodb(sdk), config.table_name.clone());
    ingest_consumer_with_store(config, sdk, store)
}

/// The ingest consumer over a given store.
pub fn ingest_consumer_with_store(
    config: &ConsumerConfig,
    sdk: &aws_config::SdkConfig,
    store: DynamoStore,
) -> IngestConsumer<DynamoStore, SqsQueueOps> {
    IngestConsumer::new(
        store,
        SqsQueueOps::new(clinic_shared::aws::sqs(sdk)),
        config.dlq_url.clone(),
    )
}
