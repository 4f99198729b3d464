//! Errors of provisioning: a template problem found while resolving, or the emulator refusing
//! a call — each naming the resource and its line.

use crate::template::{Location, TemplateError};

/// Why provisioning stopped.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// The template (or a value in it) is the problem.
    #[error(transparent)]
    Template(#[from] TemplateError),

    /// A call to the emulator failed.
    #[error("{location}: resource {logical_id}: {operation} failed in the emulator: {message}")]
    Aws {
        location: Location,
        logical_id: String,
        /// The AWS operation, e.g. `CreateTable`.
        operation: &'static str,
        /// The SDK error with its causes.
        message: String,
    },

    /// A request could not be built from the template's values.
    #[error("{location}: resource {logical_id}: {message}")]
    Request {
        location: Location,
        logical_id: String,
        message: String,
    },
}
