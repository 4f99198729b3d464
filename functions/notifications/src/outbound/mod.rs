//! Adapters implementing the notifications ports with the AWS SDK, and the DLQ redrive.

pub mod dynamodb;
pub mod redrive;
pub mod ses;
pub mod sns;
