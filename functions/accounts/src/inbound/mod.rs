//! Entry points: the HTTP API (API Gateway → axum) and the API's Lambda authorizer.

pub mod authorizer;
pub mod http;
