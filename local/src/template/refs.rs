//! References: what a value refers to (`Ref`, `Fn::GetAtt`, variables of `Fn::Sub`), checked
//! against the template before anything is created, and recorded as the dependencies that order
//! the resources.

use std::collections::BTreeSet;

use serde_json::Value;

use super::Template;
use super::errors::{Location, TemplateError};
use super::parameters::PSEUDO_PARAMETERS;
use super::sub::{self, Part};

/// One reference found in a value.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Reference {
    /// The parameter, pseudo parameter or resource referred to.
    target: String,
    /// The attribute, for `Fn::GetAtt` and `${Resource.Attribute}`.
    attribute: Option<String>,
    /// `Ref`, `Fn::GetAtt` or `Fn::Sub`.
    via: &'static str,
}

/// Adds every reference in `value` to `out`; `Err` describes a malformed intrinsic.
fn collect(value: &Value, out: &mut Vec<Reference>) -> Result<(), String> {
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
pub(super) fn get_att_args(arg: &Value) -> Result<(String, String), String> {
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

impl Template {
    /// Checks every reference of resources, conditions and outputs; records dependencies.
    pub(super) fn check_references(&mut self) -> Result<(), TemplateError> {
        let condition_names: BTreeSet<&str> =
            self.conditions.iter().map(|(n, _)| n.as_str()).collect();
        let mut dependencies = Vec::new();
        for resource in &self.resources {
            let owner = format!("resource {}", resource.logical_id);
            let location = self.resource_location(&resource.logical_id);
            if let Some(condition) = &resource.condition
                && !condition_names.contains(condition.as_str())
            {
                return Err(TemplateError::Condition {
                    location,
                    name: condition.clone(),
                    message: format!(
                        "{owner} uses it, but the template's Conditions do not define it"
                    ),
                });
            }
            for target in &resource.dependencies {
                if self.resource(target).is_none() {
                    return Err(TemplateError::UnknownReference {
                        location,
                        owner,
                        target: target.clone(),
                        via: "DependsOn",
                    });
                }
            }
            let found = self.checked_references(&resource.properties, &owner, &location, true)?;
            let needs: BTreeSet<String> = found
                .into_iter()
                .filter(|reference| self.resource(&reference.target).is_some())
                .map(|reference| reference.target)
                .collect();
            dependencies.push(needs);
        }
        for (resource, needs) in self.resources.iter_mut().zip(dependencies) {
            resource.dependencies.extend(needs);
        }
        // Conditions may only use parameters; outputs may name resources too.
        let sections = [
            ("Conditions", "condition", &self.conditions, false),
            ("Outputs", "output", &self.outputs, true),
        ];
        for (section, kind, entries, resources_allowed) in sections {
            for (name, body) in entries {
                let location = self.location(&[section, name]);
                let owner = format!("{kind} {name}");
                self.checked_references(body, &owner, &location, resources_allowed)?;
            }
        }
        Ok(())
    }

    /// The references in `body`, each checked ([`Self::check_reference`]); an error names
    /// `owner` at `location`.
    fn checked_references(
        &self,
        body: &Value,
        owner: &str,
        location: &Location,
        resources_allowed: bool,
    ) -> Result<Vec<Reference>, TemplateError> {
        let mut found = Vec::new();
        collect(body, &mut found).map_err(|message| TemplateError::Intrinsic {
            location: location.clone(),
            owner: owner.to_string(),
            function: "intrinsic".into(),
            message,
        })?;
        for reference in &found {
            self.check_reference(reference, owner, location, resources_allowed)?;
        }
        Ok(found)
    }

    fn check_reference(
        &self,
        reference: &Reference,
        owner: &str,
        location: &Location,
        resources_allowed: bool,
    ) -> Result<(), TemplateError> {
        let unknown = || TemplateError::UnknownReference {
            location: location.clone(),
            owner: owner.to_string(),
            target: reference.target.clone(),
            via: reference.via,
        };
        let only_parameters = || TemplateError::Intrinsic {
            location: location.clone(),
            owner: owner.to_string(),
            function: reference.via.to_string(),
            message: format!(
                "refers to resource {}, but conditions may only use parameters",
                reference.target
            ),
        };
        let is_parameter = PSEUDO_PARAMETERS.contains(&reference.target.as_str())
            || self.parameters.iter().any(|p| p.name == reference.target);
        let Some(attribute) = &reference.attribute else {
            if is_parameter {
                return Ok(());
            }
            return match self.resource(&reference.target) {
                Some(_) if resources_allowed => Ok(()),
                Some(_) => Err(only_parameters()),
                None => Err(unknown()),
            };
        };
        let Some(target) = self.resource(&reference.target) else {
            return Err(unknown());
        };
        if !resources_allowed {
            return Err(only_parameters());
        }
        let known = target.kind.attributes(&target.type_name);
        if known.contains(&attribute.as_str()) {
            Ok(())
        } else {
            Err(TemplateError::UnknownAttribute {
                location: location.clone(),
                owner: owner.to_string(),
                target: target.logical_id.clone(),
                type_name: target.type_name.clone(),
                attribute: attribute.clone(),
                known: if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                },
            })
        }
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
