//! Entry points: the HTTP API and the SQS consumers.

pub mod events;
pub mod http;
