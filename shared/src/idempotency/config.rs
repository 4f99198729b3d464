//! Lifetimes and limits of idempotency records, read from the environment.

use std::time::Duration;

use crate::config::{self, ConfigError};

/// Environment variable: seconds a key is remembered (default 86 400).
pub const EXPIRES_SECONDS_VAR: &str = "IDEMPOTENCY_EXPIRES_SECONDS";

/// Environment variable: seconds an in-flight marker holds when no Lambda deadline is known
/// (default 30).
pub const IN_PROGRESS_SECONDS_VAR: &str = "IDEMPOTENCY_IN_PROGRESS_SECONDS";

/// Lifetimes and limits of idempotency records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyConfig {
    /// How long a key is remembered after its first use.
    pub expires_after: Duration,
    /// How long an in-flight marker holds when the request carries no Lambda deadline.
    pub in_progress_default: Duration,
    /// Largest response body kept for replay. A bigger response is returned but not kept (its
    /// marker is released), since a DynamoDB item holds at most 400 KB.
    pub max_stored_body_bytes: usize,
}

impl Default for IdempotencyConfig {
    fn default() -> Self {
        Self {
            expires_after: Duration::from_secs(24 * 60 * 60),
            in_progress_default: Duration::from_secs(30),
            max_stored_body_bytes: 300 * 1024,
        }
    }
}

impl IdempotencyConfig {
    /// Reads [`EXPIRES_SECONDS_VAR`] and [`IN_PROGRESS_SECONDS_VAR`], defaulting to 24 h and 30 s.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] when a variable is set but is not a whole number of seconds.
    pub fn from_env() -> Result<Self, ConfigError> {
        let defaults = Self::default();
        Ok(Self {
            expires_after: Duration::from_secs(config::parsed_or(
                EXPIRES_SECONDS_VAR,
                defaults.expires_after.as_secs(),
            )?),
            in_progress_default: Duration::from_secs(config::parsed_or(
                IN_PROGRESS_SECONDS_VAR,
                defaults.in_progress_default.as_secs(),
            )?),
            ..defaults
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults() {
        let config = IdempotencyConfig::default();
        assert_eq!(config.expires_after, Duration::from_secs(86_400));
        assert_eq!(config.in_progress_default, Duration::from_secs(30));
        assert_eq!(
            IdempotencyConfig::from_env()
                .unwrap_or_default()
                .expires_after,
            config.expires_after
        );
    }
}
