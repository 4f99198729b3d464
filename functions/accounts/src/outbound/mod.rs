//! Adapters implementing the accounts ports with the AWS SDK.

pub mod cognito;
pub mod dynamodb;
