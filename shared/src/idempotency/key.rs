//! The `Idempotency-Key` header: reading it and checking its value.

use http::{HeaderMap, HeaderValue, StatusCode};

use crate::problem::Problem;

/// Request header carrying the client's idempotency key.
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";

/// Longest accepted key, in characters.
pub const MAX_KEY_CHARS: usize = 255;

/// Why an `Idempotency-Key` value was refused; answered 400 `INVALID_IDEMPOTENCY_KEY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidKey {
    /// Not visible ASCII.
    #[error("The Idempotency-Key header must be visible ASCII.")]
    NotAscii,
    /// Empty (or an empty quoted string).
    #[error("The Idempotency-Key header must not be empty.")]
    Empty,
    /// Longer than [`MAX_KEY_CHARS`].
    #[error(
        "The Idempotency-Key header must be at most {} characters long.",
        MAX_KEY_CHARS
    )]
    TooLong,
}

impl From<InvalidKey> for Problem {
    fn from(err: InvalidKey) -> Self {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "INVALID_IDEMPOTENCY_KEY",
            err.to_string(),
        )
    }
}

/// Checks a raw `Idempotency-Key` value and returns the key. A value sent as a structured-field
/// string (`"abc"`, as the draft writes it) is the same key as the bare `abc`.
///
/// # Errors
/// [`InvalidKey`] when the key is empty, longer than [`MAX_KEY_CHARS`] or not visible ASCII.
pub fn parse_key(raw: &HeaderValue) -> Result<&str, InvalidKey> {
    let text = raw.to_str().map_err(|_| InvalidKey::NotAscii)?.trim();
    let key = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    if key.is_empty() {
        return Err(InvalidKey::Empty);
    }
    if key.chars().count() > MAX_KEY_CHARS {
        return Err(InvalidKey::TooLong);
    }
    Ok(key)
}

/// The `Idempotency-Key` header of a request, if any.
pub fn idempotency_key(headers: &HeaderMap) -> Option<&HeaderValue> {
    headers.get(IDEMPOTENCY_KEY_HEADER)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idempotency::test_support::hv;

    #[test]
    fn quoted_and_bare_keys_are_the_same() {
        assert_eq!(parse_key(&hv("\"abc-1\"")).unwrap(), "abc-1");
        assert_eq!(parse_key(&hv("abc-1")).unwrap(), "abc-1");
        assert_eq!(parse_key(&hv("\"\"")), Err(InvalidKey::Empty));
        assert_eq!(parse_key(&hv(&"k".repeat(256))), Err(InvalidKey::TooLong));
        assert_eq!(
            Problem::from(InvalidKey::TooLong).detail,
            "The Idempotency-Key header must be at most 255 characters long."
        );
    }
}
