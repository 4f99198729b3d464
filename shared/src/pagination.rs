//! Cursor pagination for DynamoDB-backed lists: `?limit=` (default 50, max 200) and an opaque
//! `nextCursor` that encodes the last evaluated key.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::problem::{FieldError, Problem};

pub const DEFAULT_LIMIT: u16 = 50;
pub const MAX_LIMIT: u16 = 200;

/// Reads `?limit=`.
///
/// # Errors
/// A 400 problem on a non-number or a value outside 1..=200.
pub fn parse_limit(raw: Option<&str>) -> Result<u16, Problem> {
    match raw {
        None => Ok(DEFAULT_LIMIT),
        Some(value) => match value.parse::<u16>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => Err(Problem::validation(vec![FieldError::new(
                "limit",
                format!("limit must be a number from 1 to {MAX_LIMIT}."),
            )])),
        },
    }
}

/// Encodes a `LastEvaluatedKey` (string attributes only, which is all Clinic's keys use).
pub fn encode_cursor(key: &HashMap<String, AttributeValue>) -> Option<String> {
    let plain: HashMap<&str, &str> = key
        .iter()
        .filter_map(|(k, v)| v.as_s().ok().map(|s| (k.as_str(), s.as_str())))
        .collect();
    if plain.is_empty() {
        return None;
    }
    serde_json::to_vec(&plain)
        .ok()
        .map(|json| URL_SAFE_NO_PAD.encode(json))
}

/// Why a cursor is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the cursor is not one this list issued")]
pub struct InvalidCursor;

/// Decodes a cursor back into an `ExclusiveStartKey`, accepting only the expected key names so a
/// forged cursor cannot steer the query elsewhere.
///
/// # Errors
/// [`InvalidCursor`] when it does not decode or names other attributes.
pub fn decode_cursor(
    cursor: &str,
    expected_keys: &[&str],
) -> Result<HashMap<String, AttributeValue>, InvalidCursor> {
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor.trim())
        .map_err(|_| InvalidCursor)?;
    let plain: HashMap<String, String> =
        serde_json::from_slice(&bytes).map_err(|_| InvalidCursor)?;
    if plain.len() != expected_keys.len() || !expected_keys.iter().all(|k| plain.contains_key(*k)) {
        return Err(InvalidCursor);
    }
    Ok(plain
        .into_iter()
        .map(|(k, v)| (k, AttributeValue::S(v)))
        .collect())
}

impl From<InvalidCursor> for Problem {
    fn from(_: InvalidCursor) -> Self {
        Problem::validation(vec![FieldError::new(
            "cursor",
            "The cursor is invalid or expired.",
        )])
    }
}

/// A page of a list and the opaque cursor of the next one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// Implements `From<Page<T>>` for a page response (`$page { items: Vec<$item>, next_cursor }`)
/// from a page of anything that converts into `$item`: what every list route answers.
#[macro_export]
macro_rules! page_response {
    ($page:ty, $item:ty) => {
        impl<T: Into<$item>> From<$crate::pagination::Page<T>> for $page {
            fn from(page: $crate::pagination::Page<T>) -> Self {
                Self {
                    items: page.items.into_iter().map(Into::into).collect(),
                    next_cursor: page.next_cursor,
                }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_defaults_and_bounds() {
        assert_eq!(parse_limit(None), Ok(50));
        assert_eq!(parse_limit(Some("200")), Ok(200));
        for bad in ["0", "201", "-1", "ten"] {
            assert_eq!(parse_limit(Some(bad)).unwrap_err().status, 400);
        }
    }

    #[test]
    fn cursor_round_trips_and_refuses_forgeries() {
        let key: HashMap<String, AttributeValue> = [("pk", "A#1"), ("sk", "B")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), AttributeValue::S(v.to_string())))
            .collect();
        let cursor = encode_cursor(&key).unwrap();
        assert_eq!(decode_cursor(&cursor, &["pk", "sk"]).unwrap(), key);
        assert_eq!(
            decode_cursor(&cursor, &["pk", "sk", "gsi1pk"]),
            Err(InvalidCursor)
        );
        assert_eq!(decode_cursor("!!!", &["pk"]), Err(InvalidCursor));
        assert_eq!(
            decode_cursor(&URL_SAFE_NO_PAD.encode("[1]"), &["pk"]),
            Err(InvalidCursor)
        );
    }
}
