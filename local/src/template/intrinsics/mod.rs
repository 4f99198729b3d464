//! Resolving values: the intrinsic functions the runner emulates — `Ref`, `Fn::GetAtt`, `Fn::Sub`,
//! `Fn::If`, `Fn::Select`, `Fn::Split` and `Fn::Equals` — against parameters, conditions, pseudo
//! parameters and what provisioning recorded with [`Resolver::set_resource`]; `AWS::NoValue`
//! removes the key or list item holding it. Any other intrinsic is refused, named, with the place
//! that uses it.

mod conditions;
mod references;
mod substitution;

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::errors::{Location, TemplateError};
use super::{Resource, Template, is_intrinsic, parameters, refs};

/// The region the runner pretends to be in (`AWS::Region`).
pub const REGION: &str = "us-east-1";
/// The emulator's account (`AWS::AccountId`).
pub const ACCOUNT_ID: &str = "123456789012";
/// `AWS::Partition`.
pub const PARTITION: &str = "aws";
/// `AWS::URLSuffix`.
pub const URL_SUFFIX: &str = "amazonaws.com";
/// `AWS::StackName` unless configured.
pub const DEFAULT_STACK_NAME: &str = "clinic-local";

/// What a resolution depends on besides the template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveSettings {
    /// `AWS::StackName`, also the prefix of generated physical names.
    pub stack_name: String,
    /// Parameter values replacing the defaults.
    pub parameter_overrides: BTreeMap<String, String>,
}

impl Default for ResolveSettings {
    fn default() -> Self {
        Self {
            stack_name: DEFAULT_STACK_NAME.to_string(),
            parameter_overrides: BTreeMap::new(),
        }
    }
}

/// What `Ref` and `Fn::GetAtt` of one resource give.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResourceValues {
    /// The `Ref` value (a name, ARN, URL or id, as AWS gives it for the type).
    pub reference: String,
    /// `Fn::GetAtt` attributes that have a value.
    pub attributes: BTreeMap<String, String>,
}

impl ResourceValues {
    /// Values with this `Ref` and no attributes yet.
    pub fn new(reference: impl Into<String>) -> Self {
        Self {
            reference: reference.into(),
            attributes: BTreeMap::new(),
        }
    }

    /// Adds an attribute.
    #[must_use]
    pub fn with(mut self, attribute: &str, value: impl Into<String>) -> Self {
        self.attributes.insert(attribute.to_string(), value.into());
        self
    }
}

/// Where an evaluation happens, for error messages.
#[derive(Clone, Copy)]
struct Ctx<'a> {
    owner: &'a str,
    location: &'a Location,
}

/// Resolves intrinsic functions against parameters, conditions and provisioned resources.
#[derive(Debug, Clone)]
pub struct Resolver<'t> {
    template: &'t Template,
    stack_name: String,
    parameters: BTreeMap<String, Value>,
    conditions: BTreeMap<String, bool>,
    resources: BTreeMap<String, ResourceValues>,
}

impl<'t> Resolver<'t> {
    /// Computes parameter values and evaluates every condition.
    ///
    /// # Errors
    /// An override for a parameter the template lacks, a parameter with neither default nor
    /// override, a value outside `AllowedValues`, or a condition that cannot be evaluated.
    pub fn new(template: &'t Template, settings: &ResolveSettings) -> Result<Self, TemplateError> {
        let mut resolver = Resolver {
            template,
            stack_name: settings.stack_name.clone(),
            parameters: parameters::values(template, settings)?,
            conditions: BTreeMap::new(),
            resources: BTreeMap::new(),
        };
        resolver.evaluate_conditions()?;
        Ok(resolver)
    }

    /// The template being resolved.
    pub fn template(&self) -> &'t Template {
        self.template
    }

    /// `AWS::StackName`.
    pub fn stack_name(&self) -> &str {
        &self.stack_name
    }

    /// A parameter's value (a string, or a list of strings for list types).
    pub fn parameter(&self, name: &str) -> Option<&Value> {
        self.parameters.get(name)
    }

    /// A condition's value.
    pub fn condition(&self, name: &str) -> Option<bool> {
        self.conditions.get(name).copied()
    }

    /// Whether the resource exists in this deployment (no condition, or a true one).
    pub fn is_enabled(&self, resource: &Resource) -> bool {
        resource
            .condition
            .as_ref()
            .is_none_or(|c| self.condition(c).unwrap_or(false))
    }

    /// Records what `Ref`/`Fn::GetAtt` of a provisioned resource give.
    pub fn set_resource(&mut self, logical_id: &str, values: ResourceValues) {
        self.resources.insert(logical_id.to_string(), values);
    }

    /// What was recorded for a resource.
    pub fn resource_values(&self, logical_id: &str) -> Option<&ResourceValues> {
        self.resources.get(logical_id)
    }

    /// The resource's `Properties` with every intrinsic resolved (an object).
    ///
    /// # Errors
    /// A reference that has no value yet or any more, or a malformed intrinsic.
    pub fn resolve_properties(&self, resource: &Resource) -> Result<Value, TemplateError> {
        let location = self.template.resource_location(&resource.logical_id);
        let owner = format!("resource {}", resource.logical_id);
        Ok(self
            .eval(
                &resource.properties,
                Ctx {
                    owner: &owner,
                    location: &location,
                },
            )?
            .unwrap_or_else(|| Value::Object(Map::new())))
    }

    /// Resolves any value; `owner` and `location` name its place in messages. `None` is
    /// `AWS::NoValue`.
    ///
    /// # Errors
    /// As [`Resolver::resolve_properties`].
    pub fn resolve(
        &self,
        owner: &str,
        location: &Location,
        value: &Value,
    ) -> Result<Option<Value>, TemplateError> {
        self.eval(value, Ctx { owner, location })
    }

    /// The template's outputs whose values resolve to strings (others are skipped).
    pub fn outputs(&self) -> BTreeMap<String, String> {
        let mut outputs = BTreeMap::new();
        for (name, body) in self.template.outputs() {
            let location = self.template.location(&["Outputs", name]);
            let owner = format!("output {name}");
            let value = body.get("Value").unwrap_or(&Value::Null);
            if let Ok(Some(resolved)) = self.resolve(&owner, &location, value)
                && let Some(text) = scalar_string(&resolved)
            {
                outputs.insert(name.clone(), text);
            }
        }
        outputs
    }

    fn eval(&self, value: &Value, ctx: Ctx<'_>) -> Result<Option<Value>, TemplateError> {
        match value {
            Value::Object(map) if map.len() == 1 => {
                let Some((key, arg)) = map.iter().next() else {
                    return Ok(Some(Value::Object(Map::new())));
                };
                if is_intrinsic(map) {
                    return self.intrinsic(key, arg, ctx);
                }
                self.eval_object(map, ctx)
            }
            Value::Object(map) => self.eval_object(map, ctx),
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    if let Some(v) = self.eval(item, ctx)? {
                        out.push(v);
                    }
                }
                Ok(Some(Value::Array(out)))
            }
            scalar => Ok(Some(scalar.clone())),
        }
    }

    fn eval_object(
        &self,
        map: &Map<String, Value>,
        ctx: Ctx<'_>,
    ) -> Result<Option<Value>, TemplateError> {
        let mut out = Map::new();
        for (key, value) in map {
            if let Some(v) = self.eval(value, ctx)? {
                out.insert(key.clone(), v);
            }
        }
        Ok(Some(Value::Object(out)))
    }

    fn intrinsic(
        &self,
        function: &str,
        arg: &Value,
        ctx: Ctx<'_>,
    ) -> Result<Option<Value>, TemplateError> {
        let fail = |message: String| TemplateError::Intrinsic {
            location: ctx.location.clone(),
            owner: ctx.owner.to_string(),
            function: function.to_string(),
            message,
        };
        match function {
            "Ref" => {
                let Value::String(name) = arg else {
                    return Err(fail(format!("takes a name, found {arg}")));
                };
                self.reference(name, "Ref", ctx)
            }
            "Fn::GetAtt" => {
                let arg = match arg {
                    Value::Array(items) => Value::Array(
                        items
                            .iter()
                            .map(|i| self.eval_string(i, ctx, &fail).map(Value::String))
                            .collect::<Result<_, _>>()?,
                    ),
                    other => other.clone(),
                };
                let (resource, attribute) = refs::get_att_args(&arg).map_err(fail)?;
                self.attribute(&resource, &attribute, "Fn::GetAtt", ctx)
                    .map(|v| Some(Value::String(v)))
            }
            "Fn::Sub" => self.sub(arg, ctx, &fail).map(|s| Some(Value::String(s))),
            "Fn::If" => {
                let Value::Array(items) = arg else {
                    return Err(fail(format!(
                        "takes [condition, value if true, value if false], found {arg}"
                    )));
                };
                let [Value::String(condition), when_true, when_false] = items.as_slice() else {
                    return Err(fail(format!(
                        "takes [condition, value if true, value if false], found {arg}"
                    )));
                };
                let chosen = if self.named_condition(condition, ctx)? {
                    when_true
                } else {
                    when_false
                };
                self.eval(chosen, ctx)
            }
            "Fn::Select" => {
                let [index, list] = pair(arg)
                    .ok_or_else(|| fail(format!("takes [index, [values]], found {arg}")))?;
                let index = self.eval_string(index, ctx, &fail)?;
                let index: usize = index
                    .parse()
                    .map_err(|_| fail(format!("index {index:?} is not a number")))?;
                match self.eval(list, ctx)? {
                    Some(Value::Array(items)) => {
                        items.get(index).cloned().map(Some).ok_or_else(|| {
                            fail(format!(
                                "index {index} is past the end of {} values",
                                items.len()
                            ))
                        })
                    }
                    other => Err(fail(format!("needs a list of values, found {other:?}"))),
                }
            }
            "Fn::Split" => {
                let [delimiter, source] = pair(arg)
                    .ok_or_else(|| fail(format!("takes [delimiter, string], found {arg}")))?;
                let delimiter = self.eval_string(delimiter, ctx, &fail)?;
                let source = self.eval_string(source, ctx, &fail)?;
                if delimiter.is_empty() {
                    return Err(fail("the delimiter is empty".into()));
                }
                Ok(Some(Value::Array(
                    source
                        .split(delimiter.as_str())
                        .map(|s| Value::String(s.to_string()))
                        .collect(),
                )))
            }
            "Fn::Equals" => self.equals(arg, ctx, &fail).map(|b| Some(Value::Bool(b))),
            other => Err(TemplateError::Intrinsic {
                location: ctx.location.clone(),
                owner: ctx.owner.to_string(),
                function: other.to_string(),
                message: "this intrinsic function is not supported by the local runner".into(),
            }),
        }
    }

    /// Evaluates `value` and requires a scalar, returned as a string.
    fn eval_string(
        &self,
        value: &Value,
        ctx: Ctx<'_>,
        fail: &dyn Fn(String) -> TemplateError,
    ) -> Result<String, TemplateError> {
        match self.eval(value, ctx)? {
            Some(v) => {
                scalar_string(&v).ok_or_else(|| fail(format!("expected a string, found {v}")))
            }
            None => Err(fail("expected a string, found AWS::NoValue".into())),
        }
    }
}

/// A scalar as CloudFormation passes it on: strings as they are, numbers and booleans printed.
pub fn scalar_string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn pair(arg: &Value) -> Option<[&Value; 2]> {
    match arg {
        Value::Array(items) => match items.as_slice() {
            [a, b] => Some([a, b]),
            _ => None,
        },
        _ => None,
    }
}
