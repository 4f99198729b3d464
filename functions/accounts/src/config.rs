//! Configuration of the accounts functions, read once at start-up.

use clinic_shared::config::{ConfigError, optional, required};

/// What the API function needs.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub table_name: String,
    pub user_pool_id: String,
    pub user_pool_client_id: String,
    pub ingest_scope: String,
}

impl ApiConfig {
    /// # Errors
    /// When a required variable is missing.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            table_name: required("TABLE_NAME")?,
            user_pool_id: required("USER_POOL_ID")?,
            user_pool_client_id: required("USER_POOL_CLIENT_ID")?,
            ingest_scope: optional("INGEST_SCOPE").unwrap_or_else(|| "clinic/ingest".to_string()),
        })
    }
}

/// What the outbox relay needs.
#[derive(Debug, Clone)]
pub struct OutboxConfig {
    pub table_name: String,
    pub events_topic_arn: String,
}

impl OutboxConfig {
    /// # Errors
    /// When a required variable is missing.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            table_name: required("TABLE_NAME")?,
            events_topic_arn: required("EVENTS_TOPIC_ARN")?,
        })
    }
}
