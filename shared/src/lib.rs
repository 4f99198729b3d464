//! Cross-cutting code shared by Clinic's services. Nothing here knows about a particular service's
//! domain: it is the event envelope and catalogue, the caller read from the JWT authorizer, problem
//! responses, configuration, the clock, DynamoDB transactions, telemetry, idempotency, SQS batch handling and AWS client set-up.

pub mod arn;
pub mod auth;
pub mod aws;
pub mod clock;
pub mod config;
pub mod dynamo;
pub mod entry;
pub mod envelope;
pub mod http;
pub mod idempotency;
#[cfg(feature = "jwt")]
pub mod jwks;
pub mod metrics;
pub mod outbox;
pub mod pagination;
pub mod problem;
pub mod sqs_batch;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
pub mod values;
mod with_clock;
