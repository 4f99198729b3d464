//! Adapters implementing the domain ports with the AWS SDK.

pub mod dynamodb;
pub mod sqs;
