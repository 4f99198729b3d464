//! The accounts domain: validated values, the account model, the errors of its use cases and the
//! ports (traits) the use cases need from the outside world. Nothing here imports an AWS crate.

pub mod error;
pub mod model;
pub mod ports;
pub mod values;

pub use error::AccountsError;
pub use model::*;
pub use ports::*;
