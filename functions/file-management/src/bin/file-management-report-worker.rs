//! Lambda entry of the file-management report worker (one report job at a time).

use clinic_file_management::config::ConsumerConfig;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let (config, sdk) = clinic_shared::entry::start(ConsumerConfig::from_env).await?;
    clinic_file_management::processor(&config, &sdk)
        .run_messages(clinic_file_management::report_worker(&config, &sdk))
        .await
}
