//! Lambda entry of the notifications consumer: SQS batches of the services' events in, e-mail and
//! SMS out, partial batch failures back.

use clinic_notifications::config::ConsumerConfig;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    clinic_shared::telemetry::init();
    let config = ConsumerConfig::from_env()?;
    let sdk = clinic_shared::aws::sdk_config().await;
    let (processor, consumer) = clinic_notifications::build_consumer(&config, &sdk)?;
    clinic_shared::sqs_batch::run(processor, consumer).await
}
