//! What a conditional write came to: written, refused by its condition, or failed.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;

/// The error of a single-item write that can carry a condition.
pub trait ConditionalWrite {
    /// Whether the write was refused because its condition did not hold.
    fn is_condition_failure(&self) -> bool;
}

impl ConditionalWrite for PutItemError {
    fn is_condition_failure(&self) -> bool {
        self.is_conditional_check_failed_exception()
    }
}

impl ConditionalWrite for UpdateItemError {
    fn is_condition_failure(&self) -> bool {
        self.is_conditional_check_failed_exception()
    }
}

impl ConditionalWrite for DeleteItemError {
    fn is_condition_failure(&self) -> bool {
        self.is_conditional_check_failed_exception()
    }
}

/// `Ok(true)` when the write happened, `Ok(false)` when its condition did not hold (nothing was
/// written): a failed condition is an answer about the item, not a failure of the table.
///
/// # Errors
/// Any other error of the write, as the SDK gave it.
pub fn applied<O, E, R>(result: Result<O, SdkError<E, R>>) -> Result<bool, SdkError<E, R>>
where
    E: ConditionalWrite,
{
    match result {
        Ok(_) => Ok(true),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(ConditionalWrite::is_condition_failure) =>
        {
            Ok(false)
        }
        Err(err) => Err(err),
    }
}
