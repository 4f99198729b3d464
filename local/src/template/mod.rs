//! Reading `template.yaml`: YAML with CloudFormation's short-form tags, SAM `Globals` merged into
//! each function and HTTP API, every resource type checked against what the runner can emulate,
//! every `Ref`/`Fn::GetAtt`/`Fn::Sub` checked against the template, and resources put in
//! dependency order. Values are resolved later by [`Resolver`], once provisioning knows the
//! physical names.

pub mod errors;
pub mod intrinsics;
pub mod kinds;
mod lines;
mod order;
mod parameters;
mod refs;
mod resources;
mod sub;
mod yaml;

use std::path::Path;

use serde_json::{Map, Value};
use serde_yaml::Value as Yaml;

pub use errors::{Location, TemplateError};
pub use intrinsics::{
    ACCOUNT_ID, DEFAULT_STACK_NAME, PARTITION, REGION, ResolveSettings, Resolver, ResourceValues,
    URL_SUFFIX,
};
pub use kinds::ResourceKind;
pub use parameters::Parameter;
pub use resources::Resource;

/// A parsed and checked template.
#[derive(Debug, Clone)]
pub struct Template {
    source_name: String,
    text: String,
    parameters: Vec<Parameter>,
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

    fn condition_definitions(&self) -> &[(String, Value)] {
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
}

/// `{"Ref": ..}`, `{"Fn::..": ..}` or `{"Condition": ..}`: what the resolver evaluates (or refuses
/// by name) rather than walks into, and what `Globals` replace rather than merge with.
fn is_intrinsic(map: &Map<String, Value>) -> bool {
    map.len() == 1
        && map
            .keys()
            .all(|k| k == "Ref" || k == "Condition" || k.starts_with("Fn::"))
}
