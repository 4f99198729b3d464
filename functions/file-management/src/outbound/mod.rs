//! Adapters: the ports implemented with the AWS SDK.

pub mod dynamodb;
pub mod pdf_sandbox;
pub mod s3;
pub mod sqs;
