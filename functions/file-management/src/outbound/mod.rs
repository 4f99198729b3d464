//! Adapters: the ports implemented with the AWS SDK.

pub mod dynamodb;
pub mod s3;
pub mod sqs;
