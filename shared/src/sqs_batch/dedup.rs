//! Deduplication of events by envelope id: the [`DedupStore`] port the batch processor claims
//! events through, and its DynamoDB adapter.
//!
//! One item per (consumer, event) in the consumer's own table, keyed `pk = EVENT#<consumer>#<id>`,
//! `sk = EVENT`. A claim is `PROCESSING` with a lease (`leaseUntil`, epoch ms) and a random token;
//! a finished event is `DONE` with `expiresAt` (epoch seconds). `expiresAt` doubles as the table's
//! TTL attribute, but only for clean-up: every decision compares the stored timestamps in a
//! condition expression, so an item TTL has not yet removed behaves exactly like a removed one.

use std::future::Future;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;

use crate::aws::error_text;
use crate::dynamo::{self, Condition, Conditional, Item, n, s};

/// Sort key of every dedup item.
pub const DEDUP_SK: &str = "EVENT";

const PK: &str = "pk";
const SK: &str = "sk";
const STATE: &str = "state";
const TOKEN: &str = "claimToken";
const LEASE_UNTIL: &str = "leaseUntil";
const CLAIMED_AT: &str = "claimedAt";
const COMPLETED_AT: &str = "completedAt";
const EXPIRES_AT: &str = "expiresAt";
const EVENT_TYPE: &str = "eventType";
const OUTCOME: &str = "outcome";
const FAILURE_REASON: &str = "failureReason";

const PROCESSING: &str = "PROCESSING";
const DONE: &str = "DONE";
const SUCCEEDED: &str = "SUCCEEDED";
const FAILED: &str = "FAILED";

/// How many times a claim is retried when the item it collided with vanished before it could be
/// read (released by its holder in between).
const CLAIM_ATTEMPTS: usize = 3;

/// Identifies one event as seen by one consumer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DedupKey {
    /// Stable name of the consuming function (see [`super::EventHandler::consumer`]).
    pub consumer: String,
    /// The envelope `id`.
    pub event_id: String,
}

impl DedupKey {
    /// A key for `event_id` as seen by `consumer`.
    pub fn new(consumer: impl Into<String>, event_id: impl Into<String>) -> Self {
        Self {
            consumer: consumer.into(),
            event_id: event_id.into(),
        }
    }

    /// The partition key value: `EVENT#<consumer>#<eventId>`.
    pub fn pk(&self) -> String {
        format!("EVENT#{}#{}", self.consumer, self.event_id)
    }
}

/// A request to take an event for processing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// Which event, for which consumer.
    pub key: DedupKey,
    /// Random value identifying this attempt; completing or releasing requires it.
    pub token: String,
    /// Wire name of the event type (stored for operators; not used in decisions).
    pub event_type: String,
    /// Current time, epoch milliseconds.
    pub now_ms: i64,
    /// End of the lease this claim asks for, epoch milliseconds.
    pub lease_until_ms: i64,
    /// Whether an event already `DONE` with a failure may be taken again: true when the message
    /// is one this processor parked and an operator moved back from the DLQ.
    pub take_over_failed: bool,
}

/// Result of a [`Claim`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// The event is ours to process until the lease ends.
    Acquired,
    /// The event was processed (or parked) before: skip it as a success.
    AlreadyDone,
    /// Another invocation holds a live lease on the event.
    InProgress {
        /// When that lease ends, epoch milliseconds (0 when unknown).
        lease_until_ms: i64,
    },
}

/// How a claimed event ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completion {
    /// The handler succeeded.
    Succeeded,
    /// The handler refused the event for good; it was parked in the DLQ.
    Failed {
        /// Why (kept on the item for operators).
        reason: String,
    },
}

/// Errors of a [`DedupStore`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DedupError {
    /// The claim is no longer ours: its token changed or the item is gone (the lease ran out and
    /// another invocation took the event over).
    #[error("the claim on this event is no longer held")]
    ClaimLost,
    /// The store could not be reached or refused the request.
    #[error("dedup store error: {0}")]
    Store(String),
}

/// Where consumers record which events they have taken and finished.
///
/// Implementations must make [`DedupStore::claim`] atomic: of two concurrent claims on the same
/// key, at most one is [`ClaimOutcome::Acquired`].
pub trait DedupStore: Send + Sync {
    /// Takes the event unless it is done (and its record not yet expired) or someone else holds
    /// a live lease. An expired lease is taken over.
    fn claim(&self, claim: &Claim)
    -> impl Future<Output = Result<ClaimOutcome, DedupError>> + Send;

    /// Marks a claimed event `DONE` until `expires_at_s` (epoch seconds), provided the claim
    /// identified by `token` is still held.
    fn complete(
        &self,
        key: &DedupKey,
        token: &str,
        completion: &Completion,
        now_ms: i64,
        expires_at_s: i64,
    ) -> impl Future<Output = Result<(), DedupError>> + Send;

    /// Gives a claim up so that the next delivery can process the event, provided the claim
    /// identified by `token` is still held.
    fn release(
        &self,
        key: &DedupKey,
        token: &str,
    ) -> impl Future<Output = Result<(), DedupError>> + Send;
}

/// [`DedupStore`] on a DynamoDB table with string keys `pk` and `sk` (the consumer's own table).
///
/// Needs `dynamodb:PutItem`, `GetItem`, `UpdateItem` and `DeleteItem` on the table.
#[derive(Debug, Clone)]
pub struct DynamoDedupStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoDedupStore {
    /// A store writing to `table`.
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    fn key_map(key: &DedupKey) -> Item {
        dynamo::key(key.pk(), DEDUP_SK)
    }

    async fn read(&self, key: &DedupKey) -> Result<Option<Item>, DedupError> {
        dynamo::get_item(&self.client, &self.table, Self::key_map(key))
            .await
            .map_err(|e| store_error(&e))
    }
}

fn store_error<E>(err: &SdkError<E>) -> DedupError
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
{
    DedupError::Store(error_text(err))
}

/// `Ok` while the claim was still held when the write was made, [`DedupError::ClaimLost`] when
/// its token no longer matched.
fn held<O, E>(result: Result<O, SdkError<E>>) -> Result<(), DedupError>
where
    E: dynamo::ConditionalWrite
        + aws_smithy_types::error::metadata::ProvideErrorMetadata
        + std::error::Error
        + 'static,
{
    if dynamo::applied(result).map_err(|e| store_error(&e))? {
        Ok(())
    } else {
        Err(DedupError::ClaimLost)
    }
}

/// The item is still claimed, by the attempt holding `token`.
fn held_by(token: &str) -> Condition {
    Condition::new("#token = :token AND #state = :processing")
        .name("#token", TOKEN)
        .name("#state", STATE)
        .value(":token", s(token))
        .value(":processing", s(PROCESSING))
}

/// What a colliding item means for the claimer.
fn outcome_of(item: &Item) -> ClaimOutcome {
    if dynamo::text(item, STATE).is_some_and(|s| s == DONE) {
        return ClaimOutcome::AlreadyDone;
    }
    let lease_until_ms = dynamo::number(item, LEASE_UNTIL).unwrap_or(0);
    ClaimOutcome::InProgress { lease_until_ms }
}

/// Keeps stored and sent reasons to a bounded size (on a character boundary).
pub(crate) fn bounded(reason: &str, max_chars: usize) -> String {
    match reason.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &reason[..cut]),
        None => reason.to_string(),
    }
}

/// Longest failure reason stored or sent with a parked message.
pub(crate) const MAX_REASON_CHARS: usize = 1000;

impl DedupStore for DynamoDedupStore {
    async fn claim(&self, claim: &Claim) -> Result<ClaimOutcome, DedupError> {
        let now_s = claim.now_ms.div_euclid(1000);
        for _ in 0..CLAIM_ATTEMPTS {
            let mut condition = String::from(
                "attribute_not_exists(#pk) \
                 OR (#state = :processing AND #leaseUntil < :nowMs) \
                 OR (#state = :done AND #expiresAt < :nowS)",
            );
            let mut request = self
                .client
                .put_item()
                .table_name(&self.table)
                .item(PK, s(claim.key.pk()))
                .item(SK, s(DEDUP_SK))
                .item(STATE, s(PROCESSING))
                .item(TOKEN, s(&claim.token))
                .item(LEASE_UNTIL, n(claim.lease_until_ms))
                .item(CLAIMED_AT, n(claim.now_ms))
                .item(EVENT_TYPE, s(&claim.event_type))
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#state", STATE)
                .expression_attribute_names("#leaseUntil", LEASE_UNTIL)
                .expression_attribute_names("#expiresAt", EXPIRES_AT)
                .expression_attribute_values(":processing", s(PROCESSING))
                .expression_attribute_values(":done", s(DONE))
                .expression_attribute_values(":nowMs", n(claim.now_ms))
                .expression_attribute_values(":nowS", n(now_s))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                );
            if claim.take_over_failed {
                condition.push_str(" OR (#state = :done AND #outcome = :failed)");
                request = request
                    .expression_attribute_names("#outcome", OUTCOME)
                    .expression_attribute_values(":failed", s(FAILED));
            }
            let err = match request.condition_expression(condition).send().await {
                Ok(_) => return Ok(ClaimOutcome::Acquired),
                Err(err) => err,
            };
            let existing = match err.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(failed)) => {
                    failed.item().cloned()
                }
                _ => return Err(store_error(&err)),
            };
            let existing = match existing {
                Some(item) => Some(item),
                None => self.read(&claim.key).await?,
            };
            if let Some(item) = existing {
                return Ok(outcome_of(&item));
            }
            // The colliding item was released in between: try again.
        }
        Err(DedupError::Store(
            "claim kept colliding with other consumers".into(),
        ))
    }

    async fn complete(
        &self,
        key: &DedupKey,
        token: &str,
        completion: &Completion,
        now_ms: i64,
        expires_at_s: i64,
    ) -> Result<(), DedupError> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key_map(key)))
            .on(held_by(token))
            .expression_attribute_names("#state", STATE)
            .expression_attribute_names("#outcome", OUTCOME)
            .expression_attribute_names("#expiresAt", EXPIRES_AT)
            .expression_attribute_names("#completedAt", COMPLETED_AT)
            .expression_attribute_names("#leaseUntil", LEASE_UNTIL)
            .expression_attribute_values(":done", s(DONE))
            .expression_attribute_values(":expiresAt", n(expires_at_s))
            .expression_attribute_values(":completedAt", n(now_ms));
        let set = "SET #state = :done, #outcome = :outcome, #expiresAt = :expiresAt, \
                   #completedAt = :completedAt";
        request = match completion {
            Completion::Succeeded => request
                .update_expression(format!("{set} REMOVE #leaseUntil"))
                .expression_attribute_values(":outcome", s(SUCCEEDED)),
            Completion::Failed { reason } => request
                .update_expression(format!("{set}, #reason = :reason REMOVE #leaseUntil"))
                .expression_attribute_names("#reason", FAILURE_REASON)
                .expression_attribute_values(":outcome", s(FAILED))
                .expression_attribute_values(":reason", s(bounded(reason, MAX_REASON_CHARS))),
        };
        held(request.send().await)
    }

    async fn release(&self, key: &DedupKey, token: &str) -> Result<(), DedupError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Self::key_map(key)))
            .on(held_by(token))
            .send()
            .await;
        held(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_documented_layout() {
        let key = DedupKey::new("notifications-sender", "01J0000000000000000000000A");
        assert_eq!(
            key.pk(),
            "EVENT#notifications-sender#01J0000000000000000000000A"
        );
        assert_eq!(DEDUP_SK, "EVENT");
    }

    #[test]
    fn colliding_items_are_read_by_state() {
        let done = Item::from([(STATE.to_string(), s(DONE))]);
        assert_eq!(outcome_of(&done), ClaimOutcome::AlreadyDone);
        let busy = Item::from([
            (STATE.to_string(), s(PROCESSING)),
            (LEASE_UNTIL.to_string(), n(42)),
        ]);
        assert_eq!(
            outcome_of(&busy),
            ClaimOutcome::InProgress { lease_until_ms: 42 }
        );
    }

    #[test]
    fn reasons_are_bounded_on_char_boundaries() {
        assert_eq!(bounded("short", 10), "short");
        assert_eq!(bounded("ação-ação", 4), "ação…");
    }
}
