//! Turns the YAML tree (serde_yaml keeps CloudFormation's short-form tags as `Value::Tagged`)
//! into JSON with every intrinsic in its long form (`!Ref X` → `{"Ref": "X"}`, `!GetAtt A.B` →
//! `{"Fn::GetAtt": ["A", "B"]}`), so the resolver only ever sees one spelling.

use serde_json::{Map, Number, Value};
use serde_yaml::Value as Yaml;

/// The short-form tags CloudFormation defines, with their long-form keys.
const TAGS: &[(&str, &str)] = &[
    ("Ref", "Ref"),
    ("Condition", "Condition"),
    ("GetAtt", "Fn::GetAtt"),
    ("Sub", "Fn::Sub"),
    ("Join", "Fn::Join"),
    ("If", "Fn::If"),
    ("Select", "Fn::Select"),
    ("Split", "Fn::Split"),
    ("Equals", "Fn::Equals"),
    ("Not", "Fn::Not"),
    ("And", "Fn::And"),
    ("Or", "Fn::Or"),
    ("FindInMap", "Fn::FindInMap"),
    ("Base64", "Fn::Base64"),
    ("GetAZs", "Fn::GetAZs"),
    ("ImportValue", "Fn::ImportValue"),
    ("Cidr", "Fn::Cidr"),
    ("Transform", "Fn::Transform"),
    ("Length", "Fn::Length"),
    ("ToJsonString", "Fn::ToJsonString"),
];

/// Why a YAML value could not be converted; the caller adds the location.
#[derive(Debug)]
pub(crate) enum ConvertError {
    /// A tag that is not a CloudFormation intrinsic (the tag, with its `!`).
    UnknownTag(String),
    /// Anything else (non-scalar keys, non-finite numbers, malformed `!GetAtt`).
    Other(String),
}

/// Converts a YAML value into JSON with long-form intrinsics.
pub(crate) fn to_json(value: &Yaml) -> Result<Value, ConvertError> {
    Ok(match value {
        Yaml::Null => Value::Null,
        Yaml::Bool(b) => Value::Bool(*b),
        Yaml::Number(n) => number(n)?,
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Sequence(items) => Value::Array(items.iter().map(to_json).collect::<Result<_, _>>()?),
        Yaml::Mapping(mapping) => {
            let mut map = Map::new();
            for (key, value) in mapping {
                map.insert(key_string(key)?, to_json(value)?);
            }
            Value::Object(map)
        }
        Yaml::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let Some((_, long)) = TAGS.iter().find(|(short, _)| *short == name) else {
                return Err(ConvertError::UnknownTag(tag));
            };
            let inner = to_json(&tagged.value)?;
            let inner = match (*long, inner) {
                ("Fn::GetAtt", Value::String(s)) => {
                    let Some((resource, attribute)) = s.split_once('.') else {
                        return Err(ConvertError::Other(format!(
                            "!GetAtt {s}: expected `Resource.Attribute`"
                        )));
                    };
                    Value::Array(vec![
                        Value::String(resource.to_string()),
                        Value::String(attribute.to_string()),
                    ])
                }
                (_, inner) => inner,
            };
            let mut map = Map::new();
            map.insert((*long).to_string(), inner);
            Value::Object(map)
        }
    })
}

fn number(n: &serde_yaml::Number) -> Result<Value, ConvertError> {
    if let Some(i) = n.as_i64() {
        return Ok(Value::Number(i.into()));
    }
    if let Some(u) = n.as_u64() {
        return Ok(Value::Number(u.into()));
    }
    n.as_f64()
        .and_then(Number::from_f64)
        .map(Value::Number)
        .ok_or_else(|| ConvertError::Other(format!("number {n} is not finite")))
}

fn key_string(key: &Yaml) -> Result<String, ConvertError> {
    match key {
        Yaml::String(s) => Ok(s.clone()),
        Yaml::Number(n) => Ok(n.to_string()),
        Yaml::Bool(b) => Ok(b.to_string()),
        other => Err(ConvertError::Other(format!(
            "mapping keys must be scalars, found {other:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn convert(text: &str) -> Value {
        let yaml: Yaml = serde_yaml::from_str(text).expect("test yaml");
        to_json(&yaml).expect("converts")
    }

    #[test]
    fn short_forms_become_long_forms() {
        let value = convert(
            "a: !Ref X\nb: !GetAtt T.StreamArn\nc: !Sub '${A}-x'\nd: !If [C, 1, !Ref AWS::NoValue]\ne: !GetAtt [T, Arn]",
        );
        assert_eq!(
            value,
            json!({
                "a": {"Ref": "X"},
                "b": {"Fn::GetAtt": ["T", "StreamArn"]},
                "c": {"Fn::Sub": "${A}-x"},
                "d": {"Fn::If": ["C", 1, {"Ref": "AWS::NoValue"}]},
                "e": {"Fn::GetAtt": ["T", "Arn"]},
            })
        );
    }

    #[test]
    fn unknown_tags_are_reported() {
        let yaml: Yaml = serde_yaml::from_str("a: !Nope x").expect("test yaml");
        assert!(matches!(to_json(&yaml), Err(ConvertError::UnknownTag(t)) if t == "!Nope"));
    }
}
