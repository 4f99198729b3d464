//! Configuration of the exam results functions, read once at start-up.

use std::time::Duration;

use clinic_shared::config::{ConfigError, parsed_or, required};

use crate::app::CacheSettings;

/// What the API function needs.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub table_name: String,
    /// The queue accepted batch items wait in.
    pub ingest_queue_url: String,
    pub ingest_scope: String,
    pub cache: CacheSettings,
}

impl ApiConfig {
    /// Reads `TABLE_NAME`, `INGEST_QUEUE_URL`, `INGEST_SCOPE` (default `clinic/ingest`),
    /// `CATALOGUE_CACHE_SECONDS` (default 5) and `CATALOGUE_CACHE_ENTRIES` (default 256).
    ///
    /// # Errors
    /// When a required variable is missing or a number is invalid.
    pub fn from_env() -> Result<Self, ConfigError> {
        let defaults = CacheSettings::default();
        Ok(Self {
            table_name: required("TABLE_NAME")?,
            ingest_queue_url: required("INGEST_QUEUE_URL")?,
            ingest_scope: clinic_shared::auth::ingest_scope_from_env(),
            cache: CacheSettings {
                ttl: Duration::from_secs(parsed_or(
                    "CATALOGUE_CACHE_SECONDS",
                    defaults.ttl.as_secs(),
                )?),
                entries: parsed_or("CATALOGUE_CACHE_ENTRIES", defaults.entries)?,
            },
        })
    }
}

/// What a queue consumer (events or ingest) needs.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    pub table_name: String,
    /// Where messages that can never be processed are parked with their reason.
    pub dlq_url: String,
}

impl ConsumerConfig {
    /// # Errors
    /// When a required variable is missing.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            table_name: required("TABLE_NAME")?,
            dlq_url: required("DLQ_URL")?,
        })
    }
}
