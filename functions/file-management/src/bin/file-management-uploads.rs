//! Lambda entry of the file-management upload processor (S3 notifications through the uploads
//! queue). Started with `--check-pdf`, the same binary is the limited child process that checks
//! one PDF for the processor.

use aws_lambda_events::event::sqs::SqsEvent;
use clinic_file_management::config::ConsumerConfig;
use lambda_runtime::{LambdaEvent, service_fn};

fn main() -> Result<(), lambda_runtime::Error> {
    if let Some(code) = clinic_file_management::outbound::pdf_sandbox::run_if_requested() {
        std::process::exit(code);
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run())
}

async fn run() -> Result<(), lambda_runtime::Error> {
    clinic_shared::telemetry::init();
    let config = ConsumerConfig::from_env()?;
    let sdk = clinic_shared::aws::sdk_config().await;
    let processor = &clinic_file_management::processor(&config, &sdk);
    let handler = &clinic_file_management::uploads_handler(&config, &sdk);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, lambda_runtime::Error>(processor.process_messages(handler, event.payload).await)
    }))
    .await
}
