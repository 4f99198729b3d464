//! Configuration of the notifications functions, read once at start-up from the environment the
//! template gives them. A missing or invalid key stops the function at init, naming the key.

use std::time::Duration;

use clinic_shared::config::{ConfigError, parsed_or, required};

use crate::app::Settings;
use crate::domain::EmailAddress;

/// What the event consumer needs.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// `TABLE_NAME`: contacts, deliveries, rate counters, log, dedup records.
    pub table_name: String,
    /// `DLQ_URL`: where events that can never be handled are parked.
    pub dlq_url: String,
    /// `SENDER_EMAIL`: the verified SES identity messages come from.
    pub sender_email: String,
    /// `PORTAL_URL`: base of every link in a message.
    pub portal_url: String,
    pub settings: Settings,
}

impl ConsumerConfig {
    /// # Errors
    /// When a required variable is missing or a value is invalid.
    pub fn from_env() -> Result<Self, ConfigError> {
        let sender_email = required("SENDER_EMAIL")?;
        EmailAddress::parse(&sender_email).map_err(|e| invalid("SENDER_EMAIL", e))?;
        let portal_url = portal_url(&required("PORTAL_URL")?)?;
        let defaults = Settings::default();
        let settings = Settings {
            sms_limit_per_hour: limit("SMS_RATE_LIMIT_PER_HOUR", defaults.sms_limit_per_hour)?,
            email_limit_per_hour: limit(
                "EMAIL_RATE_LIMIT_PER_HOUR",
                defaults.email_limit_per_hour,
            )?,
            contact_wait: Duration::from_secs(parsed_or(
                "CONTACT_WAIT_SECONDS",
                defaults.contact_wait.as_secs(),
            )?),
            ..defaults
        };
        Ok(Self {
            table_name: required("TABLE_NAME")?,
            dlq_url: required("DLQ_URL")?,
            sender_email,
            portal_url,
            settings,
        })
    }
}

/// What the API function needs.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub table_name: String,
    pub ingest_scope: String,
}

impl ApiConfig {
    /// # Errors
    /// When a required variable is missing.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            table_name: required("TABLE_NAME")?,
            ingest_scope: clinic_shared::auth::ingest_scope_from_env(),
        })
    }
}

fn invalid(name: &str, reason: impl std::fmt::Display) -> ConfigError {
    ConfigError::Invalid {
        name: name.to_string(),
        reason: reason.to_string(),
    }
}

fn limit(name: &str, default: u32) -> Result<u32, ConfigError> {
    match parsed_or(name, default)? {
        0 => Err(invalid(name, "must be at least 1")),
        n => Ok(n),
    }
}

/// An `http(s)` URL without spaces or quotes (it is put into links as it is).
///
/// # Errors
/// [`ConfigError::Invalid`] naming `PORTAL_URL`.
pub fn portal_url(raw: &str) -> Result<String, ConfigError> {
    let url = raw.trim();
    let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
    let clean = !url
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | '<' | '>'));
    if scheme_ok && clean {
        Ok(url.trim_end_matches('/').to_string())
    } else {
        Err(invalid(
            "PORTAL_URL",
            "must be an http(s) URL without spaces or quotes",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn portal_urls_are_checked() {
        assert_eq!(
            portal_url("https://portal.clinic.example/").unwrap(),
            "https://portal.clinic.example"
        );
        assert!(portal_url("http://localhost:3000").is_ok());
        for bad in [
            "",
            "ftp://x",
            "https://a b",
            "javascript:alert(1)",
            "https://x\"y",
        ] {
            assert!(portal_url(bad).is_err(), "{bad}");
        }
    }
}
