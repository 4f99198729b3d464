//! Collects what a value refers to (`Ref`, `Fn::GetAtt`, variables of `Fn::Sub`), so the
//! template can be checked before anything is created and resources ordered by dependency.

use serde_json::Value;

use super::sub::{self, Part};

/// One reference found in a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reference {
    /// The parameter, pseudo parameter or resource referred to.
    pub target: String,
    /// The attribute, for `Fn::GetAtt` and `${Resource.Attribute}`.
    pub attribute: Option<String>,
    /// `Ref`, `Fn::GetAtt` or `Fn::Sub`.
    pub via: &'static str,
}

/// Adds every reference in `value` to `out`; `Err` describes a malformed intrinsic.
pub(crate) fn collect(value: &Value, out: &mut Vec<Reference>) -> Result<(), String> {
    match value {
        Value::Object(map) if map.len() == 1 => {
            let Some((key, arg)) = map.iter().next() else {
                return Ok(());
            };
            match key.as_str() {
                "Ref" => {
                    let Value::String(target) = arg else {
                        return Err(format!("Ref takes a name, found {arg}"));
                    };
                    out.push(Reference {
                        target: target.clone(),
                        attribute: None,
                        via: "Ref",
                    });
                    Ok(())
                }
                "Fn::GetAtt" => {
                    let (target, attribute) = get_att_args(arg)?;
                    out.push(Reference {
                        target,
                        attribute: Some(attribute),
                        via: "Fn::GetAtt",
                    });
                    Ok(())
                }
                "Fn::Sub" => collect_sub(arg, out),
                _ => collect(arg, out),
            }
        }
        Value::Object(map) => map.values().try_for_each(|v| collect(v, out)),
        Value::Array(items) => items.iter().try_for_each(|v| collect(v, out)),
        _ => Ok(()),
    }
}

/// The resource and attribute of a `Fn::GetAtt` argument (`[A, B]` or `"A.B"`).
pub(crate) fn get_att_args(arg: &Value) -> Result<(String, String), String> {
    match arg {
        Value::Array(items) => match items.as_slice() {
            [Value::String(resource), Value::String(attribute)] => {
                Ok((resource.clone(), attribute.clone()))
            }
            _ => Err(format!(
                "Fn::GetAtt takes [Resource, Attribute] (two names), found {arg}"
            )),
        },
        Value::String(s) => s
            .split_once('.')
            .map(|(r, a)| (r.to_string(), a.to_string()))
            .ok_or_else(|| format!("Fn::GetAtt takes `Resource.Attribute`, found {s:?}")),
        other => Err(format!(
            "Fn::GetAtt takes [Resource, Attribute], found {other}"
        )),
    }
}

fn collect_sub(arg: &Value, out: &mut Vec<Reference>) -> Result<(), String> {
    let (text, variables) = match arg {
        Value::String(text) => (text, None),
        Value::Array(items) => match items.as_slice() {
            [Value::String(text), Value::Object(variables)] => (text, Some(variables)),
            _ => {
                return Err(format!(
                    "Fn::Sub takes a string or [string, {{variables}}], found {arg}"
                ));
            }
        },
        other => {
            return Err(format!(
                "Fn::Sub takes a string or [string, {{variables}}], found {other}"
            ));
        }
    };
    for part in sub::parse(text)? {
        let Part::Var(name) = part else { continue };
        if variables.is_some_and(|v| v.contains_key(&name)) {
            continue;
        }
        let (target, attribute) = match name.split_once('.') {
            Some((target, attribute)) => (target.to_string(), Some(attribute.to_string())),
            None => (name, None),
        };
        out.push(Reference {
            target,
            attribute,
            via: "Fn::Sub",
        });
    }
    if let Some(variables) = variables {
        for value in variables.values() {
            collect(value, out)?;
        }
    }
    Ok(())
}

/// Condition names used through `{"Condition": name}` in a condition expression.
pub(crate) fn condition_names(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if map.len() == 1
                && let Some(Value::String(name)) = map.get("Condition")
            {
                out.push(name.clone());
                return;
            }
            map.values().for_each(|v| condition_names(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| condition_names(v, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_refs_getatts_and_sub_variables() {
        let value = json!({
            "A": {"Ref": "Table"},
            "B": [{"Fn::GetAtt": ["Queue", "Arn"]}],
            "C": {"Fn::Sub": "${Table.Arn}/index/* ${AWS::Region} ${!Skip}"},
            "D": {"Fn::Sub": ["${X}-${Topic}", {"X": {"Ref": "Param"}}]},
        });
        let mut refs = Vec::new();
        collect(&value, &mut refs).expect("collects");
        let found: Vec<(String, Option<String>)> =
            refs.into_iter().map(|r| (r.target, r.attribute)).collect();
        assert_eq!(
            found,
            vec![
                ("Table".into(), None),
                ("Queue".into(), Some("Arn".into())),
                ("Table".into(), Some("Arn".into())),
                ("AWS::Region".into(), None),
                ("Topic".into(), None),
                ("Param".into(), None),
            ]
        );
    }
}
