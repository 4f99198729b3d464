//! Lambda entry of the exam results ingest consumer (hospital batch items, via SQS).

use aws_lambda_events::event::sqs::SqsEvent;
use clinic_exam_results::config::ConsumerConfig;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let (config, sdk) = clinic_shared::entry::start(ConsumerConfig::from_env).await?;
    let consumer = clinic_exam_results::build_ingest_consumer(&config, &sdk);
    let consumer = &consumer;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, lambda_runtime::Error>(consumer.process(event.payload).await)
    }))
    .await
}
