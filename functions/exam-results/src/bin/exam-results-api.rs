//! Lambda entry of the exam results HTTP API.

use clinic_exam_results::config::ApiConfig;
use clinic_shared::idempotency::IdempotencyConfig;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    clinic_shared::telemetry::init();
    let config = ApiConfig::from_env()?;
    let idempotency = IdempotencyConfig::from_env()?;
    let sdk = clinic_shared::aws::sdk_config().await;
    lambda_http::run(clinic_exam_results::build_api(&config, idempotency, &sdk)).await
}
