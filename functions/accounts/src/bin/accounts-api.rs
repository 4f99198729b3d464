//! Lambda entry of the accounts HTTP API.

use clinic_accounts::config::ApiConfig;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let (config, sdk) = clinic_shared::entry::start(ApiConfig::from_env).await?;
    lambda_http::run(clinic_accounts::build_api(&config, &sdk)).await
}
