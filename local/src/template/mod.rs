//! Reading `template.yaml`: YAML with CloudFormation's short-form tags, SAM `Globals` merged into
//! each function and HTTP API, every resource type checked against what the runner can emulate,
//! every `Ref`/`Fn::GetAtt`/`Fn::Sub` checked against the template, and resources put in
//! dependency order. Values are resolved later by [`Resolver`], once provisioning knows the
//! physical names.

pub mod errors;
pub mod intrinsics;
pub mod kinds;
mod lines;
mod refs;
mod sub;
mod yaml;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::{Map, Value};
use serde_yaml::Value as Yaml;

pub use errors::{Location, TemplateError};
pub use intrinsics::{
    ACCOUNT_ID, DEFAULT_STACK_NAME, PARTITION, REGION, ResolveSettings, Resolver, ResourceValues,
    URL_SUFFIX,
};
pub use kinds::ResourceKind;

use refs::Reference;

/// Pseudo parameters CloudFormation defines (values in [`intrinsics`]).
pub const PSEUDO_PARAMETERS: &[&str] = &[
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

/// A parsed and checked template.
#[derive(Debug, Clone)]
pub struct Template {
    source_name: String,
    text: String,
    parameters: Vec<Parameter>,
    mappings: Map<String, Value>,
    conditions: Vec<(String, Value)>,
    resources: Vec<Resource>,
    outputs: Vec<(String, Value)>,
    /// Indexes into `resources`, dependencies first.
    order: Vec<usize>,
}

impl Template {
    /// Reads and parses the template at `path` (named by the path in messages).
    ///
    /// # Errors
    /// [`TemplateError::Io`] when the file cannot be read, else as [`Template::parse`].
    pub fn load(path: impl AsRef<Path>) -> Result<Template, TemplateError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| TemplateError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses template `text`; `source_name` names it in error messages (e.g. `template.yaml`).
    ///
    /// # Errors
    /// Broken YAML, a malformed section, an unsupported resource type, a reference to an
    /// unknown parameter, resource or attribute, or a dependency cycle — each with its line.
    pub fn parse(text: &str, source_name: &str) -> Result<Template, TemplateError> {
        let document: Yaml = serde_yaml::from_str(text).map_err(|e| match e.location() {
            Some(at) => TemplateError::Yaml {
                source_name: source_name.to_string(),
                line: at.line(),
                column: at.column(),
                message: e.to_string(),
            },
            None => TemplateError::Structure {
                location: Location::new(source_name, None),
                message: format!("invalid YAML: {e}"),
            },
        })?;
        let mut template = Template {
            source_name: source_name.to_string(),
            text: text.to_string(),
            parameters: Vec::new(),
            mappings: Map::new(),
            conditions: Vec::new(),
            resources: Vec::new(),
            outputs: Vec::new(),
            order: Vec::new(),
        };
        let Yaml::Mapping(top) = &document else {
            return Err(template.structure(&[], "a template is a mapping of sections"));
        };
        let section = |name: &str| top.get(name);

        template.parameters = template.read_parameters(section("Parameters"))?;
        if let Some(mappings) = section("Mappings") {
            match template.convert(mappings, &["Mappings"])? {
                Value::Object(map) => template.mappings = map,
                _ => return Err(template.structure(&["Mappings"], "Mappings must be a mapping")),
            }
        }
        template.conditions = template.read_named("Conditions", section("Conditions"))?;
        template.outputs = template.read_named("Outputs", section("Outputs"))?;
        let globals = match section("Globals") {
            Some(globals) => template.convert(globals, &["Globals"])?,
            None => Value::Null,
        };
        template.resources = template.read_resources(section("Resources"), &globals)?;
        template.check_references()?;
        template.order = template.dependency_order()?;
        Ok(template)
    }

    /// The name the template was loaded under.
    pub fn source_name(&self) -> &str {
        &self.source_name
    }

    /// The resources in file order.
    pub fn resources(&self) -> &[Resource] {
        &self.resources
    }

    /// The resources in dependency order (what each refers to comes before it; otherwise file
    /// order).
    pub fn resources_in_dependency_order(&self) -> impl Iterator<Item = &Resource> {
        self.order.iter().filter_map(|&i| self.resources.get(i))
    }

    /// The resource with this logical id.
    pub fn resource(&self, logical_id: &str) -> Option<&Resource> {
        self.resources.iter().find(|r| r.logical_id == logical_id)
    }

    /// The parameters in file order.
    pub fn parameters(&self) -> &[Parameter] {
        &self.parameters
    }

    /// The outputs (name and unresolved value) in file order.
    pub fn outputs(&self) -> &[(String, Value)] {
        &self.outputs
    }

    /// Where the mapping key at `path` is (e.g. `["Resources", "Table"]`); the line is `None`
    /// when it cannot be found in the text.
    pub fn location(&self, path: &[&str]) -> Location {
        Location::new(&self.source_name, lines::find_key_line(&self.text, path))
    }

    /// Where resource `logical_id` is defined.
    pub fn resource_location(&self, logical_id: &str) -> Location {
        self.location(&["Resources", logical_id])
    }

    /// Where a property of a resource is, falling back to the resource's own line.
    pub fn property_location(&self, logical_id: &str, property: &[&str]) -> Location {
        let mut path = vec!["Resources", logical_id, "Properties"];
        path.extend_from_slice(property);
        let location = self.location(&path);
        if location.line.is_some() {
            location
        } else {
            self.resource_location(logical_id)
        }
    }

    pub(crate) fn mappings(&self) -> &Map<String, Value> {
        &self.mappings
    }

    pub(crate) fn condition_definitions(&self) -> &[(String, Value)] {
        &self.conditions
    }

    fn structure(&self, path: &[&str], message: impl Into<String>) -> TemplateError {
        TemplateError::Structure {
            location: self.location(path),
            message: message.into(),
        }
    }

    /// Converts a YAML subtree, reporting problems at `path`.
    fn convert(&self, value: &Yaml, path: &[&str]) -> Result<Value, TemplateError> {
        yaml::to_json(value).map_err(|e| match e {
            yaml::ConvertError::UnknownTag(tag) => TemplateError::Structure {
                location: Location::new(
                    &self.source_name,
                    lines::find_text_line(&self.text, &tag)
                        .or_else(|| lines::find_key_line(&self.text, path)),
                ),
                message: format!("unknown tag {tag} (not a CloudFormation intrinsic function)"),
            },
            yaml::ConvertError::Other(message) => self.structure(path, message),
        })
    }

    fn read_parameters(&self, section: Option<&Yaml>) -> Result<Vec<Parameter>, TemplateError> {
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
                        intrinsics::scalar_string(v).ok_or_else(|| {
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

    /// A section that maps names to bodies (Parameters, Conditions, Outputs), in file order.
    fn read_named(
        &self,
        section_name: &str,
        section: Option<&Yaml>,
    ) -> Result<Vec<(String, Value)>, TemplateError> {
        let Some(section) = section else {
            return Ok(Vec::new());
        };
        let Yaml::Mapping(entries) = section else {
            return Err(
                self.structure(&[section_name], format!("{section_name} must be a mapping"))
            );
        };
        let mut out = Vec::new();
        for (key, body) in entries {
            let Yaml::String(name) = key else {
                return Err(self.structure(
                    &[section_name],
                    format!("{section_name}: names must be strings, found {key:?}"),
                ));
            };
            out.push((name.clone(), self.convert(body, &[section_name, name])?));
        }
        Ok(out)
    }

    fn read_resources(
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

    /// Checks every reference of resources, conditions and outputs; records dependencies.
    fn check_references(&mut self) -> Result<(), TemplateError> {
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
            let mut found = Vec::new();
            refs::collect(&resource.properties, &mut found).map_err(|message| {
                TemplateError::Intrinsic {
                    location: location.clone(),
                    owner: owner.clone(),
                    function: "intrinsic".into(),
                    message,
                }
            })?;
            let mut needs = BTreeSet::new();
            for reference in &found {
                self.check_reference(reference, &owner, &location, true)?;
                if self.resource(&reference.target).is_some() {
                    needs.insert(reference.target.clone());
                }
            }
            dependencies.push(needs);
        }
        for (resource, needs) in self.resources.iter_mut().zip(dependencies) {
            resource.dependencies.extend(needs);
        }
        for (name, body) in &self.conditions {
            let location = self.location(&["Conditions", name]);
            let owner = format!("condition {name}");
            let mut found = Vec::new();
            refs::collect(body, &mut found).map_err(|message| TemplateError::Intrinsic {
                location: location.clone(),
                owner: owner.clone(),
                function: "intrinsic".into(),
                message,
            })?;
            for reference in &found {
                self.check_reference(reference, &owner, &location, false)?;
            }
        }
        for (name, body) in &self.outputs {
            let location = self.location(&["Outputs", name]);
            let owner = format!("output {name}");
            let mut found = Vec::new();
            refs::collect(body, &mut found).map_err(|message| TemplateError::Intrinsic {
                location: location.clone(),
                owner: owner.clone(),
                function: "intrinsic".into(),
                message,
            })?;
            for reference in &found {
                self.check_reference(reference, &owner, &location, true)?;
            }
        }
        Ok(())
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
        let is_parameter = PSEUDO_PARAMETERS.contains(&reference.target.as_str())
            || self.parameters.iter().any(|p| p.name == reference.target);
        let Some(attribute) = &reference.attribute else {
            if is_parameter {
                return Ok(());
            }
            return match self.resource(&reference.target) {
                Some(_) if resources_allowed => Ok(()),
                Some(_) => Err(TemplateError::Intrinsic {
                    location: location.clone(),
                    owner: owner.to_string(),
                    function: reference.via.to_string(),
                    message: format!(
                        "refers to resource {}, but conditions may only use parameters",
                        reference.target
                    ),
                }),
                None => Err(unknown()),
            };
        };
        let Some(target) = self.resource(&reference.target) else {
            return Err(unknown());
        };
        if !resources_allowed {
            return Err(TemplateError::Intrinsic {
                location: location.clone(),
                owner: owner.to_string(),
                function: reference.via.to_string(),
                message: format!(
                    "refers to resource {}, but conditions may only use parameters",
                    reference.target
                ),
            });
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

    /// Kahn's algorithm, taking the earliest resource in file order whenever several are ready.
    fn dependency_order(&self) -> Result<Vec<usize>, TemplateError> {
        let index: BTreeMap<&str, usize> = self
            .resources
            .iter()
            .enumerate()
            .map(|(i, r)| (r.logical_id.as_str(), i))
            .collect();
        let mut placed = vec![false; self.resources.len()];
        let mut order = Vec::with_capacity(self.resources.len());
        while order.len() < self.resources.len() {
            let next = self.resources.iter().enumerate().position(|(i, r)| {
                !placed[i]
                    && r.dependencies
                        .iter()
                        .all(|d| index.get(d.as_str()).is_some_and(|&j| placed[j]))
            });
            let Some(next) = next else {
                let stuck: Vec<&str> = self
                    .resources
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| !placed[*i])
                    .map(|(_, r)| r.logical_id.as_str())
                    .collect();
                let first = stuck.first().copied().unwrap_or_default();
                return Err(TemplateError::DependencyCycle {
                    location: self.resource_location(first),
                    cycle: stuck.join(", "),
                });
            };
            placed[next] = true;
            order.push(next);
        }
        Ok(order)
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

/// `{"Ref": ..}`, `{"Fn::..": ..}` or `{"Condition": ..}`.
pub(crate) fn is_intrinsic(map: &Map<String, Value>) -> bool {
    map.len() == 1
        && map
            .keys()
            .all(|k| k == "Ref" || k == "Condition" || k.starts_with("Fn::"))
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
