//! Lambda entry of the file-management HTTP API.

use clinic_file_management::config::ApiConfig;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let (config, sdk) = clinic_shared::entry::start(ApiConfig::from_env).await?;
    lambda_http::run(clinic_file_management::build_api(&config, &sdk)?).await
}
