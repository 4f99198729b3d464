//! Resolving values: parameters (defaults and overrides), conditions, pseudo parameters, and the
//! intrinsic functions `Ref`, `Fn::GetAtt`, `Fn::Sub`, `Fn::Join`, `Fn::If`, `Fn::Select`,
//! `Fn::Split`, `Fn::Equals`, `Fn::Not`, `Fn::And`, `Fn::Or`, `Fn::FindInMap`, `Fn::Base64` and
//! `Fn::GetAZs`. `Ref`/`Fn::GetAtt` of resources answer what provisioning recorded with
//! [`Resolver::set_resource`]; `AWS::NoValue` removes the key or list item holding it.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use serde_json::{Map, Value};

use super::errors::{Location, TemplateError};
use super::refs;
use super::sub::{self, Part};
use super::{Resource, Template};

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
            parameters: BTreeMap::new(),
            conditions: BTreeMap::new(),
            resources: BTreeMap::new(),
        };
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
            let is_list = parameter.type_name == "CommaDelimitedList"
                || parameter.type_name.starts_with("List<");
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
                if !parameter.allowed_values.is_empty() && !parameter.allowed_values.contains(&text)
                {
                    return Err(error(format!(
                        "value {text:?} is not one of its AllowedValues ({})",
                        parameter.allowed_values.join(", ")
                    )));
                }
                Value::String(text)
            };
            resolver.parameters.insert(parameter.name.clone(), value);
        }
        for name in condition_order(template)? {
            let Some((_, body)) = template
                .condition_definitions()
                .iter()
                .find(|(n, _)| *n == name)
            else {
                continue;
            };
            let location = template.location(&["Conditions", &name]);
            let owner = format!("condition {name}");
            let value = resolver.eval_condition(
                body,
                Ctx {
                    owner: &owner,
                    location: &location,
                },
            )?;
            resolver.conditions.insert(name, value);
        }
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
                if key == "Ref" || key.starts_with("Fn::") {
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
            "Fn::Join" => {
                let [delimiter, list] = pair(arg)
                    .ok_or_else(|| fail(format!("takes [delimiter, [values]], found {arg}")))?;
                let delimiter = self.eval_string(delimiter, ctx, &fail)?;
                let items = match self.eval(list, ctx)? {
                    Some(Value::Array(items)) => items,
                    other => {
                        return Err(fail(format!("needs a list of values, found {other:?}")));
                    }
                };
                let parts: Vec<String> = items
                    .iter()
                    .map(|i| scalar_string(i).ok_or_else(|| fail(format!("cannot join {i}"))))
                    .collect::<Result<_, _>>()?;
                Ok(Some(Value::String(parts.join(&delimiter))))
            }
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
            "Fn::Equals" | "Fn::And" | "Fn::Or" | "Fn::Not" => {
                let mut whole = Map::new();
                whole.insert(function.to_string(), arg.clone());
                self.eval_condition(&Value::Object(whole), ctx)
                    .map(|b| Some(Value::Bool(b)))
            }
            "Fn::FindInMap" => {
                let Value::Array(items) = arg else {
                    return Err(fail(format!("takes [map, key, key], found {arg}")));
                };
                let [map, first, second] = items.as_slice() else {
                    return Err(fail(format!("takes [map, key, key], found {arg}")));
                };
                let map = self.eval_string(map, ctx, &fail)?;
                let first = self.eval_string(first, ctx, &fail)?;
                let second = self.eval_string(second, ctx, &fail)?;
                self.template
                    .mappings()
                    .get(&map)
                    .and_then(|m| m.get(&first))
                    .and_then(|m| m.get(&second))
                    .cloned()
                    .map(Some)
                    .ok_or_else(|| fail(format!("Mappings has no {map} → {first} → {second}")))
            }
            "Fn::Base64" => {
                let text = self.eval_string(arg, ctx, &fail)?;
                Ok(Some(Value::String(
                    base64::engine::general_purpose::STANDARD.encode(text),
                )))
            }
            "Fn::GetAZs" => Ok(Some(Value::Array(
                ["a", "b", "c"]
                    .iter()
                    .map(|z| Value::String(format!("{REGION}{z}")))
                    .collect(),
            ))),
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

    fn sub(
        &self,
        arg: &Value,
        ctx: Ctx<'_>,
        fail: &dyn Fn(String) -> TemplateError,
    ) -> Result<String, TemplateError> {
        let (text, variables) = match arg {
            Value::String(text) => (text, None),
            Value::Array(items) => match items.as_slice() {
                [Value::String(text), Value::Object(variables)] => (text, Some(variables)),
                _ => {
                    return Err(fail(format!(
                        "takes a string or [string, {{variables}}], found {arg}"
                    )));
                }
            },
            other => {
                return Err(fail(format!(
                    "takes a string or [string, {{variables}}], found {other}"
                )));
            }
        };
        let mut out = String::new();
        for part in sub::parse(text).map_err(fail)? {
            match part {
                Part::Text(t) => out.push_str(&t),
                Part::Var(name) => {
                    if let Some(value) = variables.and_then(|v| v.get(&name)) {
                        out.push_str(&self.eval_string(value, ctx, fail)?);
                    } else if let Some((resource, attribute)) = name.split_once('.') {
                        out.push_str(&self.attribute(resource, attribute, "Fn::Sub", ctx)?);
                    } else {
                        match self.reference(&name, "Fn::Sub", ctx)? {
                            Some(v) => out.push_str(&scalar_string(&v).ok_or_else(|| {
                                fail(format!("${{{name}}} is a list, not a string"))
                            })?),
                            None => return Err(fail(format!("${{{name}}} has no value"))),
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// `Ref name`: pseudo parameter, parameter or resource.
    fn reference(
        &self,
        name: &str,
        via: &'static str,
        ctx: Ctx<'_>,
    ) -> Result<Option<Value>, TemplateError> {
        let text = |s: &str| Ok(Some(Value::String(s.to_string())));
        match name {
            "AWS::Region" => return text(REGION),
            "AWS::AccountId" => return text(ACCOUNT_ID),
            "AWS::Partition" => return text(PARTITION),
            "AWS::URLSuffix" => return text(URL_SUFFIX),
            "AWS::StackName" => return text(&self.stack_name),
            "AWS::StackId" => {
                return text(&format!(
                    "arn:{PARTITION}:cloudformation:{REGION}:{ACCOUNT_ID}:stack/{}/00000000-0000-0000-0000-000000000000",
                    self.stack_name
                ));
            }
            "AWS::NotificationARNs" => return Ok(Some(Value::Array(Vec::new()))),
            "AWS::NoValue" => return Ok(None),
            _ => {}
        }
        if let Some(value) = self.parameters.get(name) {
            return Ok(Some(value.clone()));
        }
        let values = self.provisioned(name, via, ctx)?;
        Ok(Some(Value::String(values.reference.clone())))
    }

    /// `Fn::GetAtt resource.attribute`.
    fn attribute(
        &self,
        resource: &str,
        attribute: &str,
        via: &'static str,
        ctx: Ctx<'_>,
    ) -> Result<String, TemplateError> {
        if let Some(target) = self.template.resource(resource) {
            let known = target.kind.attributes(&target.type_name);
            if !known.contains(&attribute) {
                return Err(TemplateError::UnknownAttribute {
                    location: ctx.location.clone(),
                    owner: ctx.owner.to_string(),
                    target: resource.to_string(),
                    type_name: target.type_name.clone(),
                    attribute: attribute.to_string(),
                    known: if known.is_empty() {
                        "none".into()
                    } else {
                        known.join(", ")
                    },
                });
            }
        }
        let values = self.provisioned(resource, via, ctx)?;
        values.attributes.get(attribute).cloned().ok_or_else(|| {
            TemplateError::Unresolvable {
                location: ctx.location.clone(),
                owner: ctx.owner.to_string(),
                message: format!(
                    "attribute {attribute} of {resource} has no value in this stack (e.g. a table without a stream has no StreamArn)"
                ),
            }
        })
    }

    /// What provisioning recorded for resource `name`, or why there is nothing.
    fn provisioned(
        &self,
        name: &str,
        via: &'static str,
        ctx: Ctx<'_>,
    ) -> Result<&ResourceValues, TemplateError> {
        let Some(resource) = self.template.resource(name) else {
            return Err(TemplateError::UnknownReference {
                location: ctx.location.clone(),
                owner: ctx.owner.to_string(),
                target: name.to_string(),
                via,
            });
        };
        if !self.is_enabled(resource) {
            return Err(TemplateError::Unresolvable {
                location: ctx.location.clone(),
                owner: ctx.owner.to_string(),
                message: format!(
                    "refers to {name}, which is not created here (its condition {} is false)",
                    resource.condition.as_deref().unwrap_or_default()
                ),
            });
        }
        self.resources
            .get(name)
            .ok_or_else(|| TemplateError::Unresolvable {
                location: ctx.location.clone(),
                owner: ctx.owner.to_string(),
                message: format!("refers to {name}, which has not been provisioned yet"),
            })
    }

    fn named_condition(&self, name: &str, ctx: Ctx<'_>) -> Result<bool, TemplateError> {
        self.conditions
            .get(name)
            .copied()
            .ok_or_else(|| TemplateError::Condition {
                location: ctx.location.clone(),
                name: name.to_string(),
                message: format!(
                    "{} uses it, but the template's Conditions do not define it",
                    ctx.owner
                ),
            })
    }

    /// Evaluates a condition expression.
    fn eval_condition(&self, value: &Value, ctx: Ctx<'_>) -> Result<bool, TemplateError> {
        let fail = |function: &str, message: String| TemplateError::Intrinsic {
            location: ctx.location.clone(),
            owner: ctx.owner.to_string(),
            function: function.to_string(),
            message,
        };
        let args = |function: &str, arg: &Value| -> Result<Vec<Value>, TemplateError> {
            match arg {
                Value::Array(items) => Ok(items.clone()),
                other => Err(fail(function, format!("takes a list, found {other}"))),
            }
        };
        if let Value::Object(map) = value
            && map.len() == 1
            && let Some((function, arg)) = map.iter().next()
        {
            match function.as_str() {
                "Condition" => {
                    let Value::String(name) = arg else {
                        return Err(fail("Condition", format!("takes a name, found {arg}")));
                    };
                    return self.named_condition(name, ctx);
                }
                "Fn::Equals" => {
                    let items = args(function, arg)?;
                    let [a, b] = items.as_slice() else {
                        return Err(fail(function, "takes two values".into()));
                    };
                    let a = self.eval(a, ctx)?;
                    let b = self.eval(b, ctx)?;
                    let normal =
                        |v: Option<Value>| v.map(|v| scalar_string(&v).map_or(v, Value::String));
                    return Ok(normal(a) == normal(b));
                }
                "Fn::And" | "Fn::Or" => {
                    let items = args(function, arg)?;
                    if items.is_empty() {
                        return Err(fail(function, "takes at least one condition".into()));
                    }
                    let mut values = Vec::with_capacity(items.len());
                    for item in &items {
                        values.push(self.eval_condition(item, ctx)?);
                    }
                    return Ok(if function == "Fn::And" {
                        values.iter().all(|b| *b)
                    } else {
                        values.iter().any(|b| *b)
                    });
                }
                "Fn::Not" => {
                    let items = args(function, arg)?;
                    let [inner] = items.as_slice() else {
                        return Err(fail(function, "takes one condition".into()));
                    };
                    return Ok(!self.eval_condition(inner, ctx)?);
                }
                _ => {}
            }
        }
        match self.eval(value, ctx)? {
            Some(Value::Bool(b)) => Ok(b),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(true),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(false),
            other => Err(fail(
                "condition",
                format!("expected true or false, found {other:?}"),
            )),
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

/// Condition names ordered so that each comes after the conditions it uses.
fn condition_order(template: &Template) -> Result<Vec<String>, TemplateError> {
    let definitions = template.condition_definitions();
    let uses: BTreeMap<&str, Vec<String>> = definitions
        .iter()
        .map(|(name, body)| {
            let mut used = Vec::new();
            refs::condition_names(body, &mut used);
            (name.as_str(), used)
        })
        .collect();
    let mut order = Vec::new();
    let mut done = BTreeSet::new();
    for (name, _) in definitions {
        visit(
            name,
            &uses,
            &mut done,
            &mut Vec::new(),
            &mut order,
            template,
        )?;
    }
    Ok(order)
}

fn visit(
    name: &str,
    uses: &BTreeMap<&str, Vec<String>>,
    done: &mut BTreeSet<String>,
    path: &mut Vec<String>,
    order: &mut Vec<String>,
    template: &Template,
) -> Result<(), TemplateError> {
    if done.contains(name) {
        return Ok(());
    }
    if path.iter().any(|p| p == name) {
        return Err(TemplateError::Condition {
            location: template.location(&["Conditions", name]),
            name: name.to_string(),
            message: format!("conditions use each other in a cycle: {}", path.join(" → ")),
        });
    }
    let Some(used) = uses.get(name) else {
        let user = path.last().cloned().unwrap_or_default();
        return Err(TemplateError::Condition {
            location: template.location(&["Conditions", &user]),
            name: name.to_string(),
            message: format!("condition {user} uses it, but the template does not define it"),
        });
    };
    path.push(name.to_string());
    for dependency in used {
        visit(dependency, uses, done, path, order, template)?;
    }
    path.pop();
    done.insert(name.to_string());
    order.push(name.to_string());
    Ok(())
}
