//! Entry points: the HTTP API, the events consumer and the ingest consumer.

pub mod events;
pub mod http;
pub mod ingest;
