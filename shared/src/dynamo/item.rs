//! Attribute values and items: the few shapes every adapter builds and reads.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;

/// One DynamoDB item: attribute name to value.
pub type Item = HashMap<String, AttributeValue>;

/// A string attribute (DynamoDB's `S`).
pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// A number attribute (DynamoDB's `N`), written as its decimal text.
pub fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// The primary key of an item: partition key `pk`, sort key `sk`.
pub fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
}

/// `value` as an item, without its null attributes: an absent optional field is no attribute
/// rather than a `NULL` one, so that conditions such as `attribute_not_exists` see it as absent.
///
/// # Errors
/// When `value` does not serialize to a map.
pub fn to_item<T: Serialize>(value: &T) -> Result<Item, serde_dynamo::Error> {
    let mut item: Item = serde_dynamo::to_item(value)?;
    item.retain(|_, v| !matches!(v, AttributeValue::Null(_)));
    Ok(item)
}

/// The string attribute `name` of `item`, if it is one.
pub fn text(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

/// The number attribute `name` of `item`, if it is a whole number that fits.
pub fn number<T: std::str::FromStr>(item: &Item, name: &str) -> Option<T> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_drop_their_null_attributes() {
        #[derive(Serialize)]
        struct Row {
            id: &'static str,
            note: Option<&'static str>,
        }
        let item = to_item(&Row {
            id: "a",
            note: None,
        })
        .expect("a struct is a map");
        assert_eq!(item, HashMap::from([("id".to_string(), s("a"))]));
    }

    #[test]
    fn attributes_read_back_as_written() {
        let mut item = key("A#1", "B");
        item.insert("count".into(), n(42));
        assert_eq!(text(&item, "pk").as_deref(), Some("A#1"));
        assert_eq!(number::<u32>(&item, "count"), Some(42));
        assert_eq!(number::<u32>(&item, "pk"), None);
        assert_eq!(text(&item, "count"), None);
    }
}
