//! Entry points: the HTTP API (API Gateway → axum) and the outbox relay.

pub mod http;
