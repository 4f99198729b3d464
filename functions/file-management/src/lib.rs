//! Clinic's file-management service: exam result files in (presigned uploads, checked by the
//! upload processor) and out (presigned downloads, each one on an append-only audit trail), an
//! exam projection fed by events for access checks without calling other services, LGPD erasure
//! (a tombstone per deleted account, a deleted patient's files), and asynchronous XLSX/PDF
//! reports for staff.
//!
//! Layers: `inbound` (HTTP, SQS) → `app` (use cases) → `domain` (values, model, rules, ports);
//! `outbound` implements the ports with the AWS SDK; `report` renders report files.

pub mod app;
pub mod config;
pub mod domain;
pub mod inbound;
pub mod outbound;
pub mod report;

use std::sync::Arc;

use clinic_shared::auth::IngestScope;
use clinic_shared::idempotency::{DynamoIdempotencyStore, Idempotency, IdempotencyConfig};
use clinic_shared::sqs_batch::{BatchProcessor, DynamoDedupStore, SqsQueueOps};

use crate::app::files::FilesApp;
use crate::app::projection::ProjectionApp;
use crate::app::reports::ReportsApp;
use crate::app::uploads::UploadProcessor;
use crate::config::{ApiConfig, ConsumerConfig};
use crate::inbound::events::{
    ProjectionHandler, ReportDlqHandler, ReportJobHandler, UploadsHandler,
};
use crate::inbound::http::AppState;
use crate::outbound::dynamodb::DynamoStore;
use crate::outbound::pdf_sandbox::{SandboxLimits, SandboxedPdfInspector};
use crate::outbound::s3::S3Storage;
use crate::outbound::sqs::SqsReportQueue;

/// The batch processor every consumer of this service runs records through.
pub type Processor = BatchProcessor<DynamoDedupStore, SqsQueueOps>;

/// Production report app.
pub type ReportsService = ReportsApp<DynamoStore, S3Storage, SqsReportQueue>;

/// Files of exams behind the HTTP API: DynamoDB and S3 adapters.
pub type FilesService = FilesApp<DynamoStore, S3Storage>;

fn store(sdk: &aws_config::SdkConfig, table: &str) -> DynamoStore {
    DynamoStore::new(clinic_shared::aws::dynamodb(sdk), table)
}

fn storage(sdk: &aws_config::SdkConfig, uploads: &str, results: &str) -> S3Storage {
    S3Storage::new(outbound::s3::client(sdk), uploads, results)
}

/// Builds the API router (clients made once).
///
/// # Errors
/// When the idempotency settings are invalid.
pub fn build_api(
    config: &ApiConfig,
    sdk: &aws_config::SdkConfig,
) -> Result<axum::Router, clinic_shared::config::ConfigError> {
    let store = store(sdk, &config.table_name);
    let storage = storage(sdk, &config.uploads_bucket, &config.results_bucket);
    let queue = SqsReportQueue::new(clinic_shared::aws::sqs(sdk), &config.reports_queue_url);
    let state = AppState {
        files: Arc::new(FilesApp::new(store.clone(), storage.clone())),
        reports: Arc::new(ReportsApp::new(
            store,
            storage,
            queue,
            std::env::temp_dir(),
            jiff::SignedDuration::from_secs(360),
        )),
        idempotency: Idempotency::new(
            DynamoIdempotencyStore::new(clinic_shared::aws::dynamodb(sdk), &config.table_name),
            IdempotencyConfig::from_env()?,
        ),
    };
    Ok(inbound::http::router(
        state,
        IngestScope(config.ingest_scope.clone()),
    ))
}

/// The processor of a consumer parking into `config.dlq_url`.
pub fn processor(config: &ConsumerConfig, sdk: &aws_config::SdkConfig) -> Processor {
    BatchProcessor::aws(sdk, &config.table_name, &config.dlq_url)
}

/// The upload processor's handler (PDFs checked in limited child processes of
/// `config.pdf_checker`).
pub fn uploads_handler(
    config: &ConsumerConfig,
    sdk: &aws_config::SdkConfig,
) -> UploadsHandler<DynamoStore, S3Storage, SandboxedPdfInspector> {
    UploadsHandler::new(UploadProcessor::new(
        store(sdk, &config.table_name),
        storage(sdk, &config.uploads_bucket, &config.results_bucket),
        SandboxedPdfInspector::new(config.pdf_checker.clone(), SandboxLimits::DEFAULT),
    ))
}

/// The projection consumer's handler.
pub fn projection_handler(
    config: &ConsumerConfig,
    sdk: &aws_config::SdkConfig,
) -> ProjectionHandler<DynamoStore, S3Storage> {
    ProjectionHandler::new(ProjectionApp::new(
        store(sdk, &config.table_name),
        storage(sdk, &config.uploads_bucket, &config.results_bucket),
    ))
}

fn reports_app(config: &ConsumerConfig, sdk: &aws_config::SdkConfig) -> ReportsService {
    ReportsApp::new(
        store(sdk, &config.table_name),
        storage(sdk, &config.uploads_bucket, &config.results_bucket),
        // Workers never enqueue; the queue is only the API's.
        SqsReportQueue::new(clinic_shared::aws::sqs(sdk), ""),
        config.work_dir.clone(),
        jiff::SignedDuration::from_secs(config.report_lease_seconds),
    )
}

/// The report worker's handler.
pub fn report_worker(
    config: &ConsumerConfig,
    sdk: &aws_config::SdkConfig,
) -> ReportJobHandler<DynamoStore, S3Storage, SqsReportQueue> {
    ReportJobHandler::new(reports_app(config, sdk))
}

/// The reports DLQ handler.
pub fn report_dlq_handler(
    config: &ConsumerConfig,
    sdk: &aws_config::SdkConfig,
) -> ReportDlqHandler<DynamoStore, S3Storage, SqsReportQueue> {
    ReportDlqHandler::new(reports_app(config, sdk))
}
