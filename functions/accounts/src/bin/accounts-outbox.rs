//! Lambda entry of the accounts outbox relay (DynamoDB stream + periodic sweep).

use clinic_accounts::config::OutboxConfig;
use clinic_shared::outbox::{DynamoOutbox, OutboxRelay, SnsPublisher};
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    clinic_shared::telemetry::init();
    let config = OutboxConfig::from_env()?;
    let sdk = clinic_shared::aws::sdk_config().await;
    let relay = OutboxRelay::new(
        SnsPublisher::new(clinic_shared::aws::sns(&sdk), config.events_topic_arn),
        DynamoOutbox::new(clinic_shared::aws::dynamodb(&sdk), config.table_name),
        jiff::SignedDuration::from_secs(60),
    )
    .for_service("accounts");
    let relay = &relay;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            relay
                .handle(event.payload)
                .await
                .map_err(lambda_runtime::Error::from)
        },
    ))
    .await
}
