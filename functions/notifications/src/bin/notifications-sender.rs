//! Lambda entry of the notifications consumer: SQS batches of the services' events in, e-mail and
//! SMS out, partial batch failures back.

use clinic_notifications::config::ConsumerConfig;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let (config, sdk) = clinic_shared::entry::start(ConsumerConfig::from_env).await?;
    let (processor, consumer) = clinic_notifications::build_consumer(&config, &sdk)?;
    clinic_shared::sqs_batch::run(processor, consumer).await
}
