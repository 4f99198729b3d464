//! Lambda entry of the exam results events consumer (accounts and file events, via SQS).

use clinic_exam_results::config::ConsumerConfig;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let (config, sdk) = clinic_shared::entry::start(ConsumerConfig::from_env).await?;
    let (processor, handler) = clinic_exam_results::build_events_consumer(&config, &sdk);
    clinic_shared::sqs_batch::run(processor, handler).await
}
