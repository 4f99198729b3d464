//! Typed configuration read once at start-up from the environment the template gives a function.
//! A missing required key stops the function at init with a message naming the key.

use std::fmt;

/// A configuration problem found at start-up.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("required environment variable {0} is not set")]
    Missing(String),
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: String, reason: String },
}

/// Reads a required, non-empty variable.
///
/// # Errors
/// [`ConfigError::Missing`] when unset or empty.
pub fn required(name: &str) -> Result<String, ConfigError> {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => Ok(value),
        _ => Err(ConfigError::Missing(name.to_string())),
    }
}

/// Reads an optional variable (unset or empty → `None`).
pub fn optional(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Reads an optional variable and parses it, falling back to `default` when unset.
///
/// # Errors
/// [`ConfigError::Invalid`] when set but unparsable.
pub fn parsed_or<T>(name: &str, default: T) -> Result<T, ConfigError>
where
    T: std::str::FromStr,
    T::Err: fmt::Display,
{
    match optional(name) {
        None => Ok(default),
        Some(raw) => raw
            .trim()
            .parse()
            .map_err(|e: T::Err| ConfigError::Invalid {
                name: name.to_string(),
                reason: e.to_string(),
            }),
    }
}

/// A value that must never reach logs: `Debug` and `Display` print a placeholder.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Secret(value)
    }

    /// The wrapped value, for the one place that needs it.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Secret<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(Secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2".to_string());
        assert_eq!(format!("{s:?} {s}"), "Secret(***) ***");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn missing_keys_are_named() {
        let err = required("CLINIC_TEST_SURELY_UNSET_VARIABLE").unwrap_err();
        assert_eq!(
            err.to_string(),
            "required environment variable CLINIC_TEST_SURELY_UNSET_VARIABLE is not set"
        );
        assert_eq!(parsed_or("CLINIC_TEST_SURELY_UNSET_VARIABLE", 7u32), Ok(7));
    }
}
