//! Event filtering of event-source mappings (`FilterCriteria`): the subset of EventBridge event
//! patterns Lambda supports — literal values, `exists`, `prefix`, `anything-but`, `numeric`
//! comparisons — applied to the record as JSON. A record passes when any pattern matches.

use serde_json::Value;

/// True when `record` matches at least one pattern (or there are none).
pub fn passes(patterns: &[Value], record: &Value) -> bool {
    patterns.is_empty() || patterns.iter().any(|p| matches(p, Some(record)))
}

fn matches(pattern: &Value, value: Option<&Value>) -> bool {
    match pattern {
        Value::Object(fields) => fields.iter().all(|(key, sub)| {
            let inner = value.and_then(|v| v.get(key));
            match sub {
                Value::Array(rules) => rules.iter().any(|rule| rule_matches(rule, inner)),
                Value::Object(_) => matches(sub, inner),
                // A bare value is not valid in a pattern; treat it as an equality rule.
                literal => inner == Some(literal),
            }
        }),
        _ => false,
    }
}

fn rule_matches(rule: &Value, value: Option<&Value>) -> bool {
    let Some(rule_object) = rule.as_object() else {
        // A literal: equal to the value, or to one element of an array value.
        return match value {
            Some(Value::Array(items)) => items.contains(rule),
            Some(v) => v == rule,
            None => false,
        };
    };
    if let Some(exists) = rule_object.get("exists").and_then(Value::as_bool) {
        return value.is_some() == exists;
    }
    let Some(value) = value else { return false };
    if let Some(prefix) = rule_object.get("prefix").and_then(Value::as_str) {
        return value.as_str().is_some_and(|s| s.starts_with(prefix));
    }
    if let Some(excluded) = rule_object.get("anything-but") {
        return match excluded {
            Value::Array(items) => !items.contains(value),
            Value::Object(inner) => match inner.get("prefix").and_then(Value::as_str) {
                Some(prefix) => value.as_str().is_some_and(|s| !s.starts_with(prefix)),
                None => true,
            },
            single => single != value,
        };
    }
    if let Some(Value::Array(terms)) = rule_object.get("numeric") {
        let number = value
            .as_f64()
            .or_else(|| value.as_str().and_then(|s| s.parse::<f64>().ok()));
        let Some(number) = number else { return false };
        return terms.chunks(2).all(|pair| {
            match (
                pair.first().and_then(Value::as_str),
                pair.get(1).and_then(Value::as_f64),
            ) {
                (Some("="), Some(x)) => (number - x).abs() < f64::EPSILON,
                (Some(">"), Some(x)) => number > x,
                (Some(">="), Some(x)) => number >= x,
                (Some("<"), Some(x)) => number < x,
                (Some("<="), Some(x)) => number <= x,
                _ => false,
            }
        });
    }
    false
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn record() -> Value {
        json!({"eventName": "INSERT", "dynamodb": {"NewImage": {"outboxPending": {"S": "PENDING"}, "n": {"N": "5"}}}})
    }

    #[test]
    fn exists_prefix_literal_and_numeric() {
        let r = record();
        assert!(passes(
            &[json!({"dynamodb": {"NewImage": {"outboxPending": {"S": [{"exists": true}]}}}})],
            &r
        ));
        assert!(!passes(
            &[json!({"dynamodb": {"NewImage": {"other": {"S": [{"exists": true}]}}}})],
            &r
        ));
        assert!(passes(
            &[json!({"dynamodb": {"NewImage": {"other": {"S": [{"exists": false}]}}}})],
            &r
        ));
        assert!(passes(&[json!({"eventName": ["MODIFY", "INSERT"]})], &r));
        assert!(!passes(&[json!({"eventName": ["REMOVE"]})], &r));
        assert!(passes(&[json!({"eventName": [{"prefix": "INS"}]})], &r));
        assert!(passes(
            &[json!({"eventName": [{"anything-but": ["REMOVE"]}]})],
            &r
        ));
        assert!(passes(
            &[json!({"dynamodb": {"NewImage": {"n": {"N": [{"numeric": [">", 3, "<=", 5]}]}}}})],
            &r
        ));
        assert!(!passes(
            &[json!({"dynamodb": {"NewImage": {"n": {"N": [{"numeric": [">", 5]}]}}}})],
            &r
        ));
    }

    #[test]
    fn any_pattern_suffices_and_none_means_everything() {
        let r = record();
        assert!(passes(&[], &r));
        assert!(passes(
            &[
                json!({"eventName": ["REMOVE"]}),
                json!({"eventName": ["INSERT"]})
            ],
            &r
        ));
    }
}
