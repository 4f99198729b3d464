//! What every Lambda entry (`src/bin/<service>-<role>.rs`) does before it builds its handler.
//!
//! Entries run on tokio's current-thread runtime: Lambda hands a process one event at a time,
//! so worker threads would only add to the cold start and the memory (CPU-bound work such as
//! rendering a report goes to the blocking pool, which every runtime has).

use aws_config::SdkConfig;

use crate::config::ConfigError;

/// Starts a function: telemetry first (so a missing setting is logged), then its settings read
/// once from the environment, then the AWS SDK configuration.
///
/// # Errors
/// The settings' error: a required variable is missing or unreadable.
pub async fn start<C>(
    settings: impl FnOnce() -> Result<C, ConfigError>,
) -> Result<(C, SdkConfig), ConfigError> {
    crate::telemetry::init();
    let config = settings()?;
    Ok((config, crate::aws::sdk_config().await))
}
