//! Lambda entry of the notifications HTTP API (`GET /v1/me/notifications`).

use clinic_notifications::config::ApiConfig;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    clinic_shared::telemetry::init();
    let config = ApiConfig::from_env()?;
    let sdk = clinic_shared::aws::sdk_config().await;
    lambda_http::run(clinic_notifications::build_api(&config, &sdk)).await
}
