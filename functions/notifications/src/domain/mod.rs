//! The notifications domain: validated values, the model (contacts, notifications, deliveries,
//! log entries), errors and the ports the use cases need. Nothing here imports an AWS crate.

pub mod error;
pub mod model;
pub mod ports;
pub mod templates;
pub mod values;

pub use error::{HistoryError, NotifyError, SendError, StoreError};
pub use model::*;
pub use ports::*;
pub use values::*;
