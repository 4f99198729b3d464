//! Lambda entry of the file-management exam projection consumer (exam, hospital and account events).

use clinic_file_management::config::ConsumerConfig;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let (config, sdk) = clinic_shared::entry::start(ConsumerConfig::from_env).await?;
    clinic_shared::sqs_batch::run(
        clinic_file_management::processor(&config, &sdk),
        clinic_file_management::projection_handler(&config, &sdk),
    )
    .await
}
