//! Typed reading of a resource's resolved properties: every accessor names the property path
//! (`GlobalSecondaryIndexes[1].KeySchema`) and the resource's line when a value is missing or of
//! the wrong kind, and wraps SDK errors the same way.

use aws_sdk_dynamodb::error::DisplayErrorContext;
use serde_json::Value;

use super::errors::ProvisionError;
use crate::template::{Location, Resource, Template, TemplateError};

/// The resource being provisioned, for messages.
#[derive(Clone, Copy)]
pub(crate) struct Place<'a> {
    pub template: &'a Template,
    pub resource: &'a Resource,
}

impl<'a> Place<'a> {
    pub fn logical_id(&self) -> &'a str {
        &self.resource.logical_id
    }

    pub fn location(&self) -> Location {
        self.template.resource_location(&self.resource.logical_id)
    }

    /// Maps an SDK error of `operation` to a [`ProvisionError::Aws`].
    pub fn aws<E>(self, operation: &'static str) -> impl FnOnce(E) -> ProvisionError
    where
        E: std::error::Error,
    {
        move |error| ProvisionError::Aws {
            location: self.location(),
            logical_id: self.logical_id().to_string(),
            operation,
            message: DisplayErrorContext(&error).to_string(),
        }
    }

    /// Maps a request-builder error to a [`ProvisionError::Request`].
    pub fn request<E>(self, what: &'static str) -> impl FnOnce(E) -> ProvisionError
    where
        E: std::fmt::Display,
    {
        move |error| ProvisionError::Request {
            location: self.location(),
            logical_id: self.logical_id().to_string(),
            message: format!("{what}: {error}"),
        }
    }

    /// The resource's resolved properties as a [`Node`].
    pub fn root(self, properties: &'a Value) -> Node<'a> {
        Node {
            place: self,
            value: properties,
            path: String::new(),
            keys: Vec::new(),
            in_list: false,
        }
    }
}

/// One value inside a resource's resolved properties, with its path.
#[derive(Clone)]
pub(crate) struct Node<'a> {
    place: Place<'a>,
    value: &'a Value,
    /// `A.B[2].C`, for messages.
    path: String,
    /// Mapping keys down to the first list, for finding the line.
    keys: Vec<&'a str>,
    in_list: bool,
}

impl<'a> Node<'a> {
    /// The raw value.
    pub fn value(&self) -> &'a Value {
        self.value
    }

    /// A "this value is wrong" error at this node.
    pub fn invalid(&self, message: impl Into<String>) -> TemplateError {
        TemplateError::InvalidProperty {
            location: self
                .place
                .template
                .property_location(self.place.logical_id(), &self.keys),
            logical_id: self.place.logical_id().to_string(),
            property: if self.path.is_empty() {
                "Properties".to_string()
            } else {
                self.path.clone()
            },
            message: message.into(),
        }
    }

    /// The member `key` of this mapping; `None` when absent or null.
    pub fn get(&self, key: &str) -> Option<Node<'a>> {
        let Value::Object(map) = self.value else {
            return None;
        };
        let (stored_key, value) = map.get_key_value(key)?;
        if value.is_null() {
            return None;
        }
        let mut keys = self.keys.clone();
        if !self.in_list {
            keys.push(stored_key.as_str());
        }
        Some(Node {
            place: self.place,
            value,
            path: if self.path.is_empty() {
                key.to_string()
            } else {
                format!("{}.{key}", self.path)
            },
            keys,
            in_list: self.in_list,
        })
    }

    /// The member `key`, which must be present.
    pub fn require(&self, key: &str) -> Result<Node<'a>, TemplateError> {
        self.get(key).ok_or_else(|| {
            let mut missing = self.clone();
            missing.path = if self.path.is_empty() {
                key.to_string()
            } else {
                format!("{}.{key}", self.path)
            };
            missing.invalid("is required")
        })
    }

    /// This scalar as a string (numbers and booleans printed as CloudFormation passes them).
    pub fn string(&self) -> Result<String, TemplateError> {
        crate::template::intrinsics::scalar_string(self.value)
            .ok_or_else(|| self.invalid(format!("expected a string, found {}", self.value)))
    }

    /// This value as a boolean (`true`/`false`, also as strings).
    pub fn bool(&self) -> Result<bool, TemplateError> {
        match self.value {
            Value::Bool(b) => Ok(*b),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
            other => Err(self.invalid(format!("expected true or false, found {other}"))),
        }
    }

    /// This value as an integer (a number or a numeric string).
    pub fn int(&self) -> Result<i64, TemplateError> {
        let parsed = match self.value {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        };
        parsed.ok_or_else(|| self.invalid(format!("expected an integer, found {}", self.value)))
    }

    /// This value as an integer of type `T` (range-checked).
    pub fn int_as<T: TryFrom<i64>>(&self) -> Result<T, TemplateError> {
        let n = self.int()?;
        T::try_from(n).map_err(|_| self.invalid(format!("{n} is out of range")))
    }

    /// The items of this list.
    pub fn items(&self) -> Result<Vec<Node<'a>>, TemplateError> {
        let Value::Array(items) = self.value else {
            return Err(self.invalid(format!("expected a list, found {}", self.value)));
        };
        Ok(items
            .iter()
            .enumerate()
            .map(|(i, value)| Node {
                place: self.place,
                value,
                path: format!("{}[{i}]", self.path),
                keys: self.keys.clone(),
                in_list: true,
            })
            .collect())
    }

    /// The entries of this mapping, in key order.
    pub fn entries(&self) -> Result<Vec<(String, Node<'a>)>, TemplateError> {
        let Value::Object(map) = self.value else {
            return Err(self.invalid(format!("expected a mapping, found {}", self.value)));
        };
        Ok(map
            .keys()
            .filter_map(|k| self.get(k).map(|node| (k.clone(), node)))
            .collect())
    }

    /// This value as JSON text: strings as they are, mappings and lists serialised (as the
    /// AWS APIs want `FilterPolicy`, `RedrivePolicy`, ...).
    pub fn json_string(&self) -> Result<String, TemplateError> {
        match self.value {
            Value::String(s) => Ok(s.clone()),
            other => serde_json::to_string(other)
                .map_err(|e| self.invalid(format!("cannot serialise to JSON: {e}"))),
        }
    }

    /// Member `key` as a string, if present.
    pub fn opt_string(&self, key: &str) -> Result<Option<String>, TemplateError> {
        self.get(key).map(|n| n.string()).transpose()
    }

    /// Member `key` as a boolean, if present.
    pub fn opt_bool(&self, key: &str) -> Result<Option<bool>, TemplateError> {
        self.get(key).map(|n| n.bool()).transpose()
    }

    /// Member `key` as a boolean, false when absent (CloudFormation's switches default to off).
    pub fn flag(&self, key: &str) -> Result<bool, TemplateError> {
        Ok(self.opt_bool(key)?.unwrap_or(false))
    }

    /// Member `key` as an integer of type `T`, if present.
    pub fn opt_int<T: TryFrom<i64>>(&self, key: &str) -> Result<Option<T>, TemplateError> {
        self.get(key).map(|n| n.int_as::<T>()).transpose()
    }

    /// Member `key` as a list (empty when absent).
    pub fn list(&self, key: &str) -> Result<Vec<Node<'a>>, TemplateError> {
        self.get(key).map_or_else(|| Ok(Vec::new()), |n| n.items())
    }

    /// Member `key` as a list of strings (empty when absent).
    pub fn strings(&self, key: &str) -> Result<Vec<String>, TemplateError> {
        self.list(key)?.iter().map(Node::string).collect()
    }

    /// CloudFormation's `Tags: [{Key, Value}]` (also accepts a `{key: value}` mapping, as SAM
    /// writes them).
    pub fn tags(&self, key: &str) -> Result<Vec<(String, String)>, TemplateError> {
        let Some(tags) = self.get(key) else {
            return Ok(Vec::new());
        };
        match tags.value {
            Value::Object(_) => tags
                .entries()?
                .into_iter()
                .map(|(k, v)| Ok((k, v.string()?)))
                .collect(),
            _ => tags
                .items()?
                .iter()
                .map(|t| Ok((t.require("Key")?.string()?, t.require("Value")?.string()?)))
                .collect(),
        }
    }
}
