//! Lambda entry of the file-management exam projection consumer (exam, hospital and account events).

use clinic_file_management::config::ConsumerConfig;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    clinic_shared::telemetry::init();
    let config = ConsumerConfig::from_env()?;
    let sdk = clinic_shared::aws::sdk_config().await;
    clinic_shared::sqs_batch::run(
        clinic_file_management::processor(&config, &sdk),
        clinic_file_management::projection_handler(&config, &sdk),
    )
    .await
}
