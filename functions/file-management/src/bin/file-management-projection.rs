//! Lambda entry of the file-management exam projection consumer (exam, hospital and account events).

use aws_lambda_events::event::sqs::SqsEvent;
use clinic_file_management::config::ConsumerConfig;
use clinic_shared::sqs_batch::handle_batch;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    clinic_shared::telemetry::init();
    let config = ConsumerConfig::from_env()?;
    let sdk = clinic_shared::aws::sdk_config().await;
    let processor = &clinic_file_management::processor(&config, &sdk);
    let handler = &clinic_file_management::projection_handler(&config, &sdk);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, lambda_runtime::Error>(handle_batch(processor, handler, event.payload).await)
    }))
    .await
}
