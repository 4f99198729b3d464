//! Lambda entry of the file-management HTTP API.

use clinic_file_management::config::ApiConfig;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    clinic_shared::telemetry::init();
    let config = ApiConfig::from_env()?;
    let sdk = clinic_shared::aws::sdk_config().await;
    lambda_http::run(clinic_file_management::build_api(&config, &sdk)?).await
}
