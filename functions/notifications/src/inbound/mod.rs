//! Entry points: the SQS consumer of the services' events and the HTTP API.

pub mod events;
pub mod http;
