//! Lambda entry of the file-management upload processor (S3 notifications through the uploads
//! queue). Started with `--check-pdf`, the same binary is the limited child process that checks
//! one PDF for the processor.

use clinic_file_management::config::ConsumerConfig;

fn main() -> Result<(), lambda_runtime::Error> {
    if let Some(code) = clinic_file_management::outbound::pdf_sandbox::run_if_requested() {
        std::process::exit(code);
    }
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(run())
}

async fn run() -> Result<(), lambda_runtime::Error> {
    let (config, sdk) = clinic_shared::entry::start(ConsumerConfig::from_env).await?;
    clinic_file_management::processor(&config, &sdk)
        .run_messages(clinic_file_management::uploads_handler(&config, &sdk))
        .await
}
