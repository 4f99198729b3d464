//! How every service's DynamoDB adapter runs a transaction, so that the same race behaves the
//! same everywhere: a transaction cancelled only because another transaction was touching the
//! same items (`TransactionConflict`, or `TransactionInProgressException`) is tried again after a
//! short jittered backoff; one cancelled by a failed condition is reported with the positions of
//! the items whose conditions failed, for the adapter to say what was taken or changed.

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::TransactWriteItem;

/// A transaction cancelled by concurrent transactions is tried this many times in all.
pub const TRANSACTION_ATTEMPTS: u32 = 8;

/// Why a transaction did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransactFailure {
    /// Conditions failed on these items (positions in the transaction, in order).
    Conditions(Vec<usize>),
    /// The table could not be written: an error, or conflicts still there after every attempt.
    Unavailable(String),
}

/// Runs `items` as one transaction; see the module's documentation for what is retried.
///
/// # Errors
/// [`TransactFailure::Conditions`] when a condition failed, [`TransactFailure::Unavailable`]
/// otherwise.
pub async fn transact(
    client: &Client,
    items: Vec<TransactWriteItem>,
) -> Result<(), TransactFailure> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let err = match client
            .transact_write_items()
            .set_transact_items(Some(items.clone()))
            .send()
            .await
        {
            Ok(_) => return Ok(()),
            Err(err) => err,
        };
        match classify(&err) {
            Outcome::Conditions(failed) => return Err(TransactFailure::Conditions(failed)),
            Outcome::Retry if attempt < TRANSACTION_ATTEMPTS => {
                tokio::time::sleep(backoff(attempt)).await;
            }
            Outcome::Retry | Outcome::Fail => {
                let text = crate::aws::error_text(&err);
                if attempt > 1 {
                    tracing::warn!(attempts = attempt, error = %text, "transaction given up");
                }
                return Err(TransactFailure::Unavailable(text));
            }
        }
    }
}

/// Runs `items` as one transaction whose failed condition only means that it does not apply any
/// more (the records moved on): `Ok(true)` when it happened, `Ok(false)` when a condition failed.
///
/// # Errors
/// The text of why the table could not be written ([`TransactFailure::Unavailable`]).
pub async fn transact_applied(
    client: &Client,
    items: Vec<TransactWriteItem>,
) -> Result<bool, String> {
    match transact(client, items).await {
        Ok(()) => Ok(true),
        Err(TransactFailure::Conditions(_)) => Ok(false),
        Err(TransactFailure::Unavailable(text)) => Err(text),
    }
}

enum Outcome {
    Conditions(Vec<usize>),
    Retry,
    Fail,
}

fn classify(err: &SdkError<TransactWriteItemsError>) -> Outcome {
    match err.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
            let reasons = cancelled.cancellation_reasons();
            let failed: Vec<usize> = reasons
                .iter()
                .enumerate()
                .filter(|(_, r)| r.code() == Some("ConditionalCheckFailed"))
                .map(|(i, _)| i)
                .collect();
            if !failed.is_empty() {
                Outcome::Conditions(failed)
            } else if reasons
                .iter()
                .any(|r| r.code() == Some("TransactionConflict"))
            {
                Outcome::Retry
            } else {
                Outcome::Fail
            }
        }
        Some(TransactWriteItemsError::TransactionInProgressException(_)) => Outcome::Retry,
        // A server error the SDK already retried is worth a few more tries too.
        _ if err
            .raw_response()
            .is_some_and(|r| r.status().is_server_error()) =>
        {
            Outcome::Retry
        }
        _ => Outcome::Fail,
    }
}

/// 10 ms × 2^attempt plus up to as much again at random, so that the transactions that
/// conflicted do not meet again at the same moment.
fn backoff(attempt: u32) -> Duration {
    let base = 10u64 << attempt.min(6);
    let jitter = u64::try_from(ulid::Ulid::new().random() % u128::from(base)).unwrap_or(0);
    Duration::from_millis(base + jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_and_stays_bounded() {
        for attempt in 1..=TRANSACTION_ATTEMPTS {
            let base = 10u64 << attempt.min(6);
            let waited = backoff(attempt).as_millis();
            assert!(
                (u128::from(base)..u128::from(2 * base)).contains(&waited),
                "attempt {attempt}: {waited} ms"
            );
        }
    }
}
