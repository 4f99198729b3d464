//! Lambda entry of the notifications consumer: SQS batches of the services' events in, e-mail and
//! SMS out, partial batch failures back.

use aws_lambda_events::event::sqs::SqsEvent;
use clinic_notifications::config::ConsumerConfig;
use clinic_shared::sqs_batch::handle_batch;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    clinic_shared::telemetry::init();
    let config = ConsumerConfig::from_env()?;
    let sdk = clinic_shared::aws::sdk_config().await;
    let (processor, consumer) = clinic_notifications::build_consumer(&config, &sdk)?;
    let (processor, consumer) = (&processor, &consumer);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, lambda_runtime::Error>(handle_batch(processor, consumer, event.payload).await)
    }))
    .await
}
