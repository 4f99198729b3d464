//! Clinic's notifications service: e-mail (SES) and SMS (SNS) to patients, doctors and staff when
//! something happens to their account, bookings, exams or reports — once per event and channel,
//! within each person's preferences and hourly limits, with no health content — and the log
//! each person can read at `GET /v1/me/notifications`.
//!
//! Layers: `inbound` (SQS consumer, HTTP) → `app` (use cases) → `domain` (values, model, ports);
//! `outbound` implements the ports with the AWS SDK; `templates` renders the messages.

pub mod app;
pub mod config;
pub mod domain;
pub mod inbound;
pub mod outbound;

use std::sync::Arc;

use clinic_shared::auth::IngestScope;
use clinic_shared::sqs_batch::{BatchProcessor, DynamoDedupStore, SqsQueueOps};

use crate::app::{History, Notifier};
use crate::config::{ApiConfig, ConsumerConfig};
use crate::domain::templates::{TemplateError, Templates};
use crate::inbound::events::EventConsumer;
use crate::inbound::http::AppState;
use crate::outbound::dynamodb::DynamoNotificationStore;
use crate::outbound::ses::SesEmailSender;
use crate::outbound::sns::SnsSmsSender;

/// The consumer as deployed: DynamoDB, SES and SNS adapters.
pub type Consumer = EventConsumer<DynamoNotificationStore, SesEmailSender, SnsSmsSender>;

/// The batch processor as deployed: dedup records in the service's table, parking in its DLQ.
pub type Processor = BatchProcessor<DynamoDedupStore, SqsQueueOps>;

/// What was sent to the caller, behind the HTTP API: the DynamoDB adapter.
pub type HistoryService = History<DynamoNotificationStore>;

/// Builds the API router from configuration and an SDK configuration (clients made once).
pub fn build_api(config: &ApiConfig, sdk: &aws_config::SdkConfig) -> axum::Router {
    let store =
        DynamoNotificationStore::new(clinic_shared::aws::dynamodb(sdk), config.table_name.clone());
    let state = AppState {
        history: Arc::new(History::new(store)),
    };
    inbound::http::router(state, IngestScope(config.ingest_scope.clone()))
}

/// Builds the batch processor and the event consumer (clients made once).
///
/// # Errors
/// [`TemplateError`] when a template does not load (caught by the unit tests).
pub fn build_consumer(
    config: &ConsumerConfig,
    sdk: &aws_config::SdkConfig,
) -> Result<(Processor, Consumer), TemplateError> {
    let notifier = Notifier::new(
        DynamoNotificationStore::new(clinic_shared::aws::dynamodb(sdk), config.table_name.clone()),
        SesEmailSender::new(aws_sdk_sesv2::Client::new(sdk), config.sender_email.clone()),
        SnsSmsSender::new(clinic_shared::aws::sns(sdk)),
        Templates::new(&config.portal_url)?,
        config.settings.clone(),
    );
    Ok((processor(config, sdk), EventConsumer::new(notifier)))
}

/// The batch processor for `config`: the claim lease matches the delivery lease, and finished
/// events are remembered as long as deliveries are (beyond the DLQ's 14 days).
pub fn processor(config: &ConsumerConfig, sdk: &aws_config::SdkConfig) -> Processor {
    BatchProcessor::aws(sdk, config.table_name.clone(), config.dlq_url.clone())
        .with_lease(config.settings.lease)
        .with_done_retention(config.settings.delivery_retention)
}
