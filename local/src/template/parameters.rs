//! Parameters: what the template declares under `Parameters:`, and the value each takes in a
//! deployment (the override given, else its `Default`; lists split on commas; `AllowedValues`
//! enforced).

use std::collections::BTreeMap;

use serde_json::Value;
use serde_yaml::Value as Yaml;

use super::Template;
use super::errors::TemplateError;
use super::intrinsics::{ResolveSettings, scalar_string};

/// Pseudo parameters CloudFormation defines (values in [`super::intrinsics`]).
pub(super) const PSEUDO_PARAMETERS: &[&str] = &[
    "AWS::AccountId",
    "AWS::NoValue",
    "AWS::NotificationARNs",
    "AWS::Partition",
    "AWS::Region",
    "AWS::StackId",
    "AWS::StackName",
    "AWS::URLSuffix",
];

/// A template parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct Parameter {
    pub name: String,
    /// `String`, `Number`, `CommaDelimitedList`, `List<Number>`, ...
    pub type_name: String,
    /// `Default`, as written.
    pub default: Option<Value>,
    /// `AllowedValues`, as strings.
    pub allowed_values: Vec<String>,
}

impl Template {
    pub(super) fn read_parameters(
        &self,
        section: Option<&Yaml>,
    ) -> Result<Vec<Parameter>, TemplateError> {
        let mut parameters = Vec::new();
        for (name, body) in self.read_named("Parameters", section)? {
            let path = ["Parameters", name.as_str()];
            let Value::Object(body) = body else {
                return Err(self.structure(&path, format!("parameter {name} must be a mapping")));
            };
            let type_name = match body.get("Type") {
                Some(Value::String(t)) => t.clone(),
                _ => {
                    return Err(self.structure(&path, format!("parameter {name} has no Type")));
                }
            };
            let allowed_values = match body.get("AllowedValues") {
                None => Vec::new(),
                Some(Value::Array(values)) => values
                    .iter()
                    .map(|v| {
                        scalar_string(v).ok_or_else(|| {
                            self.structure(
                                &path,
                                format!("parameter {name}: AllowedValues must be scalars"),
                            )
                        })
                    })
                    .collect::<Result<_, _>>()?,
                Some(_) => {
                    return Err(self.structure(
                        &path,
                        format!("parameter {name}: AllowedValues must be a list"),
                    ));
                }
            };
            parameters.push(Parameter {
                default: body.get("Default").cloned(),
                name,
                type_name,
                allowed_values,
            });
        }
        Ok(parameters)
    }
}

/// Every parameter's value: a string, or a list of strings for list types.
///
/// # Errors
/// An override for a parameter the template lacks, a parameter with neither default nor
/// override, or a value outside `AllowedValues`.
pub(super) fn values(
    template: &Template,
    settings: &ResolveSettings,
) -> Result<BTreeMap<String, Value>, TemplateError> {
    let mut values = BTreeMap::new();
    for name in settings.parameter_overrides.keys() {
        if !template.parameters().iter().any(|p| &p.name == name) {
            return Err(TemplateError::Parameter {
                location: template.location(&["Parameters"]),
                name: name.clone(),
                message: "a value was given, but the template has no such parameter".into(),
            });
        }
    }
    for parameter in template.parameters() {
        let location = template.location(&["Parameters", &parameter.name]);
        let error = |message: String| TemplateError::Parameter {
            location: location.clone(),
            name: parameter.name.clone(),
            message,
        };
        let is_list =
            parameter.type_name == "CommaDelimitedList" || parameter.type_name.starts_with("List<");
        let value = match (
            settings.parameter_overrides.get(&parameter.name),
            &parameter.default,
        ) {
            (Some(given), _) => Value::String(given.clone()),
            (None, Some(default)) => default.clone(),
            (None, None) => {
                return Err(error("has no Default and no value was given".into()));
            }
        };
        let value = if is_list {
            let items: Vec<String> = match &value {
                Value::Array(items) => items
                    .iter()
                    .map(|i| {
                        scalar_string(i)
                            .ok_or_else(|| error(format!("list item {i} is not a scalar")))
                    })
                    .collect::<Result<_, _>>()?,
                other => scalar_string(other)
                    .ok_or_else(|| error(format!("value {other} is not a list")))?
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .collect(),
            };
            Value::Array(items.into_iter().map(Value::String).collect())
        } else {
            let text = scalar_string(&value)
                .ok_or_else(|| error(format!("value {value} is not a scalar")))?;
            if !parameter.allowed_values.is_empty() && !parameter.allowed_values.contains(&text) {
                return Err(error(format!(
                    "value {text:?} is not one of its AllowedValues ({})",
                    parameter.allowed_values.join(", ")
                )));
            }
            Value::String(text)
        };
        values.insert(parameter.name.clone(), value);
    }
    Ok(values)
}
