//! Lambda entry of the accounts HTTP API.

use clinic_accounts::config::ApiConfig;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    clinic_shared::telemetry::init();
    let config = ApiConfig::from_env()?;
    let sdk = clinic_shared::aws::sdk_config().await;
    lambda_http::run(clinic_accounts::build_api(&config, &sdk)).await
}
