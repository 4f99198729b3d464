//! Clinic's local runner: the whole suite on one machine from `template.yaml`, with no Docker and
//! no AWS account — the emulator provisioned from the template, the real function binaries behind
//! the Lambda Runtime API, an HTTP API gateway with the JWT authorizer, and the event-source
//! mappings (SQS, DynamoDB streams, schedules).

pub mod app;
pub mod events;
pub mod gateway;
pub mod metrics;
pub mod model;
pub mod openapi;
pub mod portal;
pub mod provision;
pub mod runtime;
pub mod seed;
pub mod template;
pub mod totp;
pub mod watchdog;
