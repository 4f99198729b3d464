//! Lambda entry of the exam results events consumer (accounts and file events, via SQS).

use aws_lambda_events::event::sqs::SqsEvent;
use clinic_exam_results::config::ConsumerConfig;
use clinic_shared::sqs_batch::handle_batch;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    clinic_shared::telemetry::init();
    let config = ConsumerConfig::from_env()?;
    let sdk = clinic_shared::aws::sdk_config().await;
    let (handler, processor) = clinic_exam_results::build_events_consumer(&config, &sdk);
    let (handler, processor) = (&handler, &processor);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, lambda_runtime::Error>(handle_batch(processor, handler, event.payload).await)
    }))
    .await
}
