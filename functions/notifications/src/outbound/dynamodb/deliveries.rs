//! Deliveries (`SENT#<eventId>#<channel>` / `DELIVERY`): the lease on sending one message,
//! `SENDING` with a claim token until it is completed (final status, with its log entry in the
//! same transaction) or released.

use crate::domain::DeliveryStore;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{
    Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use clinic_shared::dynamo::{self, Condition, Conditional, Item, TransactFailure, key, n, s};
use jiff::Timestamp;

use super::{
    DynamoNotificationStore, LogItem, PK, SK, delivery_pk, log_pk, log_sk, to_item, unavailable,
};
use crate::domain::{DeliveryClaim, DeliveryKey, DeliveryStatus, LogEntry, StoreError};

const DELIVERY_SK: &str = "DELIVERY";
const SENDING: &str = "SENDING";
/// Longest failure reason stored.
const MAX_REASON_CHARS: usize = 300;

fn bounded(reason: &str) -> String {
    match reason.char_indices().nth(MAX_REASON_CHARS) {
        Some((cut, _)) => format!("{}…", &reason[..cut]),
        None => reason.to_string(),
    }
}

/// What a colliding delivery record means for the claimer.
fn claim_of(item: &Item) -> DeliveryClaim {
    match dynamo::text(item, "state").as_deref() {
        Some(SENDING) | None => DeliveryClaim::InProgress,
        Some(other) => DeliveryStatus::parse(other)
            .map(DeliveryClaim::Finished)
            .unwrap_or(DeliveryClaim::InProgress),
    }
}

/// The delivery is still being sent, by the attempt holding `token`.
fn held_by(token: &str) -> Condition {
    Condition::new("#token = :token AND #state = :sending")
        .name("#token", "claimToken")
        .name("#state", "state")
        .value(":token", s(token))
        .value(":sending", s(SENDING))
}

fn delivery_key(delivery: &DeliveryKey) -> Item {
    key(delivery_pk(delivery), DELIVERY_SK)
}

impl DynamoNotificationStore {
    async fn read_delivery(&self, delivery: &DeliveryKey) -> Result<Option<Item>, StoreError> {
        dynamo::get_item(&self.client, &self.table, delivery_key(delivery))
            .await
            .map_err(|e| unavailable(&e))
    }
}

impl DeliveryStore for DynamoNotificationStore {
    async fn claim_delivery(
        &self,
        key: &DeliveryKey,
        token: &str,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<DeliveryClaim, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(PK, s(delivery_pk(key)))
            .item(SK, s(DELIVERY_SK))
            .item("state", s(SENDING))
            .item("claimToken", s(token))
            .item("leaseUntil", n(lease_until.as_millisecond()))
            .item("claimedAt", n(now.as_millisecond()))
            .condition_expression(
                "attribute_not_exists(#pk) OR (#state = :sending AND #lease < :nowMs) \
                 OR (#state <> :sending AND #expiresAt < :nowS)",
            )
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#lease", "leaseUntil")
            .expression_attribute_names("#expiresAt", "expiresAt")
            .expression_attribute_values(":sending", s(SENDING))
            .expression_attribute_values(":nowMs", n(now.as_millisecond()))
            .expression_attribute_values(":nowS", n(now.as_second()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let err = match result {
            Ok(_) => return Ok(DeliveryClaim::Started),
            Err(err) => err,
        };
        let existing = match err.as_service_error() {
            Some(PutItemError::ConditionalCheckFailedException(failed)) => failed.item().cloned(),
            _ => return Err(unavailable(&err)),
        };
        let existing = match existing {
            Some(item) => Some(item),
            None => self.read_delivery(key).await?,
        };
        // Gone in between (released by its holder): the next attempt claims it.
        Ok(existing
            .as_ref()
            .map(claim_of)
            .unwrap_or(DeliveryClaim::InProgress))
    }

    async fn complete_delivery(
        &self,
        key: &DeliveryKey,
        token: &str,
        entry: &LogEntry,
        delivery_expires_s: i64,
        log_expires_s: i64,
    ) -> Result<(), StoreError> {
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(delivery_key(key)))
            .on(held_by(token))
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#lease", "leaseUntil")
            .expression_attribute_names("#expiresAt", "expiresAt")
            .expression_attribute_names("#finishedAt", "finishedAt")
            .expression_attribute_values(":status", s(entry.status.as_str()))
            .expression_attribute_values(":expiresAt", n(delivery_expires_s))
            .expression_attribute_values(":finishedAt", n(entry.recorded_at.as_millisecond()));
        let set = "SET #state = :status, #expiresAt = :expiresAt, #finishedAt = :finishedAt";
        update = match &entry.reason {
            Some(reason) => update
                .update_expression(format!("{set}, #reason = :reason REMOVE #token, #lease"))
                .expression_attribute_names("#reason", "reason")
                .expression_attribute_values(":reason", s(bounded(reason))),
            None => update.update_expression(format!("{set} REMOVE #token, #lease")),
        };
        let update = update
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let log = LogItem {
            pk: log_pk(&entry.recipient_id),
            sk: log_sk(entry),
            recipient_id: entry.recipient_id.clone(),
            channel: entry.channel,
            template: entry.template,
            status: entry.status,
            reason: entry.reason.as_deref().map(bounded),
            event_id: entry.event_id.clone(),
            event_type: entry.event_type.clone(),
            event_time: entry.event_time,
            recorded_at: entry.recorded_at,
            provider_message_id: entry.provider_message_id.clone(),
            expires_at: log_expires_s,
        };
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(to_item(&log)?))
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let items = vec![
            TransactWriteItem::builder().update(update).build(),
            TransactWriteItem::builder().put(put).build(),
        ];
        match dynamo::transact(&self.client, items).await {
            Ok(()) => Ok(()),
            Err(TransactFailure::Conditions(_)) => Err(StoreError::ClaimLost),
            Err(TransactFailure::Unavailable(text)) => Err(StoreError::Unavailable(text)),
        }
    }

    async fn release_delivery(&self, key: &DeliveryKey, token: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(delivery_key(key)))
            .on(held_by(token))
            .send()
            .await;
        if dynamo::applied(result).map_err(|e| unavailable(&e))? {
            Ok(())
        } else {
            Err(StoreError::ClaimLost)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colliding_deliveries_are_read_by_state() {
        let item = |state: &str| Item::from([("state".to_string(), s(state))]);
        assert_eq!(claim_of(&item("SENDING")), DeliveryClaim::InProgress);
        assert_eq!(
            claim_of(&item("SENT")),
            DeliveryClaim::Finished(DeliveryStatus::Sent)
        );
        assert_eq!(
            claim_of(&item("RATE_LIMITED")),
            DeliveryClaim::Finished(DeliveryStatus::RateLimited)
        );
    }
}
