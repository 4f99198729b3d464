//! Resources: each entry of `Resources:` read into a [`Resource`] — its type checked against
//! what the runner can emulate, SAM `Globals` merged into functions and HTTP APIs, and the
//! execution role SAM gives a function without one added beside it.

use std::collections::BTreeSet;

use serde_json::{Map, Value};
use serde_yaml::Value as Yaml;

use super::errors::TemplateError;
use super::kinds::ResourceKind;
use super::{Template, is_intrinsic};

/// A resource of the template, with SAM globals already merged into its properties.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    /// Logical id, e.g. `AccountsTable`.
    pub logical_id: String,
    /// `Type`, e.g. `AWS::DynamoDB::Table`.
    pub type_name: String,
    pub kind: ResourceKind,
    /// `Properties` (an object, empty when absent) with intrinsics in their long form.
    pub properties: Value,
    /// `Metadata` (an object, empty when absent).
    pub metadata: Value,
    /// `Condition`, when the resource is conditional.
    pub condition: Option<String>,
    /// Logical ids of the resources this one needs first (`DependsOn` and references).
    pub dependencies: BTreeSet<String>,
    /// 1-based line of its key under `Resources:`.
    pub line: Option<usize>,
}

impl Template {
    pub(super) fn read_resources(
        &self,
        section: Option<&Yaml>,
        globals: &Value,
    ) -> Result<Vec<Resource>, TemplateError> {
        let Some(Yaml::Mapping(entries)) = section else {
            return Err(self.structure(&["Resources"], "the template needs a Resources mapping"));
        };
        let mut resources = Vec::new();
        for (key, body) in entries {
            let Yaml::String(logical_id) = key else {
                return Err(self.structure(
                    &["Resources"],
                    format!("resource names must be strings, found {key:?}"),
                ));
            };
            let path = ["Resources", logical_id.as_str()];
            let Value::Object(body) = self.convert(body, &path)? else {
                return Err(
                    self.structure(&path, format!("resource {logical_id} must be a mapping"))
                );
            };
            let Some(Value::String(type_name)) = body.get("Type") else {
                return Err(self.structure(&path, format!("resource {logical_id} has no Type")));
            };
            let Some(kind) = ResourceKind::of(type_name) else {
                return Err(TemplateError::UnsupportedResource {
                    location: self.location(&path),
                    logical_id: logical_id.clone(),
                    type_name: type_name.clone(),
                });
            };
            let mut properties = match body.get("Properties") {
                None | Some(Value::Null) => Value::Object(Map::new()),
                Some(p @ Value::Object(_)) => p.clone(),
                Some(_) => {
                    return Err(self.structure(
                        &path,
                        format!("resource {logical_id}: Properties must be a mapping"),
                    ));
                }
            };
            let global_section = match kind {
                ResourceKind::Function => globals.get("Function"),
                ResourceKind::HttpApi => globals.get("HttpApi"),
                _ => None,
            };
            if let Some(global) = global_section {
                properties = merge_globals(global, &properties);
            }
            if kind == ResourceKind::Function
                && let Value::Object(props) = &mut properties
            {
                // SAM turns this into CodeDeploy resources of their own (which the alarms it
                // names refer back to the function from): the function does not depend on them,
                // and locally there is no gradual deployment to run.
                props.remove("DeploymentPreference");
            }
            let condition = match body.get("Condition") {
                None => None,
                Some(Value::String(c)) => Some(c.clone()),
                Some(_) => {
                    return Err(self.structure(
                        &path,
                        format!("resource {logical_id}: Condition must be a condition name"),
                    ));
                }
            };
            let depends_on: Vec<String> = match body.get("DependsOn") {
                None => Vec::new(),
                Some(Value::String(d)) => vec![d.clone()],
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|i| match i {
                        Value::String(s) => Ok(s.clone()),
                        _ => Err(self.structure(
                            &path,
                            format!("resource {logical_id}: DependsOn lists resource names"),
                        )),
                    })
                    .collect::<Result<_, _>>()?,
                Some(_) => {
                    return Err(self.structure(
                        &path,
                        format!("resource {logical_id}: DependsOn lists resource names"),
                    ));
                }
            };
            // SAM gives a function without `Role` an execution role named `<Function>Role`,
            // which the template may refer to (e.g. a topic policy naming its one publisher).
            let implicit_role = (kind == ResourceKind::Function
                && properties.get("Role").is_none())
            .then(|| Resource {
                logical_id: format!("{logical_id}Role"),
                type_name: "AWS::IAM::Role".into(),
                kind: ResourceKind::Ignored,
                properties: Value::Object(Map::new()),
                metadata: Value::Object(Map::new()),
                condition: condition.clone(),
                dependencies: BTreeSet::new(),
                line: self.location(&path).line,
            });
            resources.push(Resource {
                logical_id: logical_id.clone(),
                type_name: type_name.clone(),
                kind,
                properties,
                metadata: body
                    .get("Metadata")
                    .cloned()
                    .unwrap_or_else(|| Value::Object(Map::new())),
                condition,
                dependencies: depends_on.into_iter().collect(),
                line: self.location(&path).line,
            });
            resources.extend(implicit_role);
        }
        Ok(resources)
    }
}

/// SAM's merge of a `Globals` section into a resource: maps merge key by key (the resource's
/// value wins), lists are concatenated (globals first), anything else is the resource's.
fn merge_globals(global: &Value, local: &Value) -> Value {
    match (global, local) {
        (Value::Object(g), Value::Object(l)) if !is_intrinsic(g) && !is_intrinsic(l) => {
            let mut merged = g.clone();
            for (key, value) in l {
                let value = match merged.get(key) {
                    Some(global_value) => merge_globals(global_value, value),
                    None => value.clone(),
                };
                merged.insert(key.clone(), value);
            }
            Value::Object(merged)
        }
        (Value::Array(g), Value::Array(l)) => {
            Value::Array(g.iter().chain(l.iter()).cloned().collect())
        }
        (_, local) => local.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merges_globals_key_by_key() {
        let global = json!({"Timeout": 5, "Environment": {"Variables": {"RUST_LOG": "info", "A": "g"}}, "Layers": ["x"]});
        let local = json!({"Timeout": 30, "Environment": {"Variables": {"A": "l", "B": {"Ref": "T"}}}, "Layers": ["y"]});
        assert_eq!(
            merge_globals(&global, &local),
            json!({"Timeout": 30, "Environment": {"Variables": {"RUST_LOG": "info", "A": "l", "B": {"Ref": "T"}}}, "Layers": ["x", "y"]})
        );
    }

    #[test]
    fn intrinsics_replace_rather_than_merge() {
        let global = json!({"Tags": {"Ref": "X"}});
        let local = json!({"Tags": {"a": "b"}});
        assert_eq!(merge_globals(&global, &local), json!({"Tags": {"a": "b"}}));
    }
}
