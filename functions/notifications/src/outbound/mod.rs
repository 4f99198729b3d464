//! Adapters implementing the notifications ports with the AWS SDK.

pub mod dynamodb;
pub mod ses;
pub mod sns;
