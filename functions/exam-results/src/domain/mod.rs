//! The exam results domain: validated values, the model and its lifecycle rules, hospital
//! integration rules, the errors of the use cases and the ports they need. Nothing here imports
//! an AWS crate.

pub mod claim;
pub mod error;
pub mod ingest;
pub mod model;
pub mod ports;
pub mod values;

pub use error::{ConflictOn, ExamsError, QueueError, StoreError};
pub use model::*;
pub use ports::*;
