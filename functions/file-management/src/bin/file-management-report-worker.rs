//! Lambda entry of the file-management report worker (one report job at a time).

use aws_lambda_events::event::sqs::SqsEvent;
use clinic_file_management::config::ConsumerConfig;

use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    clinic_shared::telemetry::init();
    let config = ConsumerConfig::from_env()?;
    let sdk = clinic_shared::aws::sdk_config().await;
    let processor = &clinic_file_management::processor(&config, &sdk);
    let handler = &clinic_file_management::report_worker(&config, &sdk);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, lambda_runtime::Error>(processor.process_messages(handler, event.payload).await)
    }))
    .await
}
