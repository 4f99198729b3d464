//! Errors of reading and resolving a template, each pointing at a place in the file
//! (`template.yaml:212`) so the message alone says what to fix and where.

use std::fmt;

/// A place in the template file: its name and, when known, a 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The template's name as given to [`super::Template::load`] or [`super::Template::parse`].
    pub source: String,
    /// 1-based line, when the place could be found in the text.
    pub line: Option<usize>,
}

impl Location {
    /// A location in `source` at `line`.
    pub fn new(source: impl Into<String>, line: Option<usize>) -> Self {
        Self {
            source: source.into(),
            line,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}", self.source),
            None => write!(f, "{}", self.source),
        }
    }
}

/// Why a template cannot be read, or a value in it cannot be resolved.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The file could not be read.
    #[error("{path}: cannot read the template: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },

    /// The text is not valid YAML.
    #[error("{source_name}:{line}:{column}: invalid YAML: {message}")]
    Yaml {
        source_name: String,
        line: usize,
        column: usize,
        message: String,
    },

    /// Valid YAML, but not shaped like a template (a section or entry of the wrong kind).
    #[error("{location}: {message}")]
    Structure { location: Location, message: String },

    /// A resource type the runner cannot emulate.
    #[error(
        "{location}: resource {logical_id} has type {type_name}, which the local runner cannot emulate"
    )]
    UnsupportedResource {
        location: Location,
        logical_id: String,
        type_name: String,
    },

    /// `Ref`, `Fn::Sub` or `DependsOn` names something that is neither a parameter, a pseudo
    /// parameter nor a resource.
    #[error(
        "{location}: {owner} refers to {target} ({via}), which is neither a parameter nor a resource of the template"
    )]
    UnknownReference {
        location: Location,
        /// The resource (or section) holding the reference.
        owner: String,
        target: String,
        /// How it is referred to: `Ref`, `Fn::GetAtt`, `Fn::Sub`, `DependsOn`.
        via: &'static str,
    },

    /// `Fn::GetAtt` (or `${A.B}` in `Fn::Sub`) names an attribute the resource does not have.
    #[error(
        "{location}: {owner} asks for attribute {attribute} of {target} ({type_name}), which has no such attribute (it has: {known})"
    )]
    UnknownAttribute {
        location: Location,
        owner: String,
        target: String,
        type_name: String,
        attribute: String,
        known: String,
    },

    /// A referenced value exists in the template but has no value here (e.g. the resource's
    /// condition is false, or the table has no stream).
    #[error("{location}: {owner}: {message}")]
    Unresolvable {
        location: Location,
        owner: String,
        message: String,
    },

    /// An intrinsic function is malformed or not supported.
    #[error("{location}: {owner}: {function}: {message}")]
    Intrinsic {
        location: Location,
        owner: String,
        function: String,
        message: String,
    },

    /// A parameter has no value, or a value it does not allow.
    #[error("{location}: parameter {name}: {message}")]
    Parameter {
        location: Location,
        name: String,
        message: String,
    },

    /// A condition is unknown or cannot be evaluated.
    #[error("{location}: condition {name}: {message}")]
    Condition {
        location: Location,
        name: String,
        message: String,
    },

    /// A property has a value the runner cannot use.
    #[error("{location}: resource {logical_id}: property {property}: {message}")]
    InvalidProperty {
        location: Location,
        logical_id: String,
        property: String,
        message: String,
    },

    /// A function's event has a type the runner cannot emulate.
    #[error(
        "{location}: function {function}: event {event} has type {event_type}, which the local runner cannot emulate"
    )]
    UnsupportedEvent {
        location: Location,
        function: String,
        event: String,
        event_type: String,
    },

    /// Resources depend on each other in a circle.
    #[error("{location}: resources depend on each other in a cycle: {cycle}")]
    DependencyCycle { location: Location, cycle: String },
}
