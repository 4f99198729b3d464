//! Entry points: the SQS consumer of the services' events and the HTTP API.

pub mod http;
pub mod sqs;
