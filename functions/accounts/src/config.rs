//! Configuration of the accounts functions, read once at start-up.

use clinic_shared::config::{ConfigError, required};

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
            ingest_scope: clinic_shared::auth::ingest_scope_from_env(),
        })
    }
}
