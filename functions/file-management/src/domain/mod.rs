//! The file-management domain: validated values, the model (exam projection, files, audit
//! entries, reports), the access rules, the content checks of uploads and the ports the use cases
//! need. Nothing here imports an AWS crate.

pub mod access;
pub mod checks;
pub mod error;
pub mod model;
pub mod ports;
pub mod values;

pub use error::{FilesError, StorageError, StoreError};
pub use model::*;
pub use ports::*;
