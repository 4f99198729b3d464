//! Lambda entry of the exam results HTTP API.

use clinic_exam_results::config::ApiConfig;
use clinic_shared::idempotency::IdempotencyConfig;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let (config, sdk) = clinic_shared::entry::start(ApiConfig::from_env).await?;
    let idempotency = IdempotencyConfig::from_env()?;
    lambda_http::run(clinic_exam_results::build_api(&config, idempotency, &sdk)).await
}
