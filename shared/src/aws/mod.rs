//! AWS client construction shared by every function and test.
//!
//! The SDK honours `AWS_ENDPOINT_URL` itself; this module adds what the emulator needs on top:
//! path-style S3 when an endpoint is set, and short timeouts and few retries so that a call the
//! emulator does not implement fails fast instead of being retried for a minute.
//!
//! Inside Lambda the configuration is taken straight from what Lambda sets (region, the role's
//! credentials in the environment) instead of walking the SDK's provider chains, and the HTTPS
//! client trusts Amazon's roots only ([`https`]): together that is most of a function's cold
//! start otherwise (see README, "Performance").

mod https;
pub mod timing;

use std::time::Duration;

use aws_config::environment::credentials::EnvironmentVariableCredentialsProvider;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};

/// The endpoint override in force (`AWS_ENDPOINT_URL`), if any.
pub fn endpoint_override() -> Option<String> {
    crate::config::optional("AWS_ENDPOINT_URL")
}

/// Whether S3 must use path-style addressing (any custom endpoint: the emulator has no
/// virtual-host buckets).
pub fn s3_force_path_style() -> bool {
    endpoint_override().is_some()
}

/// Loads the shared SDK configuration from the environment (region, credentials, endpoint).
///
/// In a Lambda function (Lambda sets `AWS_LAMBDA_FUNCTION_NAME`, `AWS_REGION` and the role's
/// credentials as variables) the region and credentials are read from those variables directly;
/// the SDK's provider chains would look for the same values in profile files, SSO caches and
/// the instance metadata service first, and build an HTTP client for the latter, at every cold
/// start. Elsewhere (operator commands, tests) the chains run as usual.
pub async fn sdk_config() -> SdkConfig {
    let lambda = crate::config::optional("AWS_LAMBDA_FUNCTION_NAME").is_some();
    let region = crate::config::optional("AWS_REGION")
        .or_else(|| crate::config::optional("AWS_DEFAULT_REGION"));
    let env_credentials = crate::config::optional("AWS_ACCESS_KEY_ID").is_some();
    let mut loader = loader();
    if let (true, Some(region), true) = (lambda, region, env_credentials) {
        loader = loader
            .region(Region::new(region))
            .credentials_provider(EnvironmentVariableCredentialsProvider::new());
    }
    loader.load().await
}

/// Like [`sdk_config`], but against an explicit endpoint (tests pointing at an emulator).
pub async fn sdk_config_for_endpoint(endpoint: &str) -> SdkConfig {
    loader().endpoint_url(endpoint).load().await
}

/// `loader` with the HTTPS client every SDK client of the project uses. The SDK's default client
/// is not compiled in (it would bring a second TLS stack), so every configuration goes through
/// here: functions, the runner, operator commands and tests alike.
pub fn with_https_client(loader: aws_config::ConfigLoader) -> aws_config::ConfigLoader {
    https::with_client(loader, endpoint_override().as_deref())
}

fn loader() -> aws_config::ConfigLoader {
    with_https_client(aws_config::defaults(BehaviorVersion::latest()))
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_attempt_timeout(Duration::from_secs(10))
                .build(),
        )
}

/// DynamoDB client (its calls timed, see [`timing`]).
pub fn dynamodb(config: &SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(config)
            .interceptor(timing::CallTimer)
            .build(),
    )
}

/// SNS client (its calls timed, see [`timing`]).
pub fn sns(config: &SdkConfig) -> aws_sdk_sns::Client {
    aws_sdk_sns::Client::from_conf(
        aws_sdk_sns::config::Builder::from(config)
            .interceptor(timing::CallTimer)
            .build(),
    )
}

/// SQS client (its calls timed, see [`timing`]).
pub fn sqs(config: &SdkConfig) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(config)
            .interceptor(timing::CallTimer)
            .build(),
    )
}

/// Short text of an SDK error for logs: the error code and message, never request payloads.
pub fn error_text<E, R>(err: &aws_sdk_dynamodb::error::SdkError<E, R>) -> String
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match err {
        aws_sdk_dynamodb::error::SdkError::ServiceError(service) => {
            let e = service.err();
            format!(
                "{}: {}",
                e.code().unwrap_or("ServiceError"),
                e.message().unwrap_or("")
            )
        }
        other => format!(
            "{}",
            aws_smithy_types::error::display::DisplayErrorContext(other)
        ),
    }
}
