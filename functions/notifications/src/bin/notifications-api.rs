//! Lambda entry of the notifications HTTP API (`GET /v1/me/notifications`).

use clinic_notifications::config::ApiConfig;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let (config, sdk) = clinic_shared::entry::start(ApiConfig::from_env).await?;
    lambda_http::run(clinic_notifications::build_api(&config, &sdk)).await
}
