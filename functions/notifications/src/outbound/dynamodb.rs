//! [`NotificationStore`] and [`NotificationLog`] on the service's DynamoDB table (string keys
//! `pk`/`sk`, TTL attribute `expiresAt`).
//!
//! Items:
//! - `CONTACT#<accountId>` / `CONTACT`: the contact projection (`state = ACTIVE`) or, after
//!   `account.deleted`, a tombstone (`state = ERASED`, no contact data, kept 21 days);
//! - `SENT#<eventId>#<channel>` / `DELIVERY`: one delivery, `SENDING` with a claim token and a
//!   lease, then final (`SENT`, `FAILED`, `RATE_LIMITED`, `SKIPPED`) until `expiresAt`;
//! - `RATE#<recipientId>#<channel>#<hour>` / `RATE`: messages counted in that hour;
//! - `LOG#<recipientId>` / `<eventTime>#<eventId>#<channel>`: the person's log, newest last in
//!   the key order (listed backwards);
//! - `EVENT#notifications-sender#<eventId>` / `EVENT`: the shared batch processor's dedup records.
//!
//! `expiresAt` only cleans up: decisions compare the stored times in conditions, so an expired
//! item TTL has not removed yet behaves like a removed one.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, DeleteRequest, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
    Update, WriteRequest,
};
use clinic_shared::aws::error_text;
use clinic_shared::dynamo::{self, TransactFailure};
use clinic_shared::envelope::{Language, Preferences, Role};
use clinic_shared::pagination::{decode_cursor, encode_cursor};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::domain::{
    Channel, Contact, ContactRecord, DeliveryClaim, DeliveryKey, DeliveryStatus, EmailAddress,
    EventVersion, LogEntry, NotificationLog, NotificationStore, Page, PhoneNumber, RateWindow,
    StoreError, TemplateId,
};

const PK: &str = "pk";
const SK: &str = "sk";
const CONTACT_SK: &str = "CONTACT";
const DELIVERY_SK: &str = "DELIVERY";
const RATE_SK: &str = "RATE";
const ACTIVE: &str = "ACTIVE";
const ERASED: &str = "ERASED";
const SENDING: &str = "SENDING";
/// Longest failure reason stored.
const MAX_REASON_CHARS: usize = 300;
/// Attempts to write the unprocessed part of a batch of deletes.
const BATCH_ATTEMPTS: u32 = 5;

/// The notifications table.
#[derive(Debug, Clone)]
pub struct DynamoNotificationStore {
    client: Client,
    table: String,
}

impl DynamoNotificationStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    fn key(pk: String, sk: &str) -> HashMap<String, AttributeValue> {
        HashMap::from([(PK.to_string(), s(pk)), (SK.to_string(), s(sk))])
    }

    /// Deletes every log entry of `account_id`.
    async fn delete_log(&self, account_id: &str) -> Result<usize, StoreError> {
        let mut deleted = 0;
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#sk", SK)
                .expression_attribute_values(":pk", s(log_pk(account_id)))
                .projection_expression("#pk, #sk")
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| StoreError::Unavailable(error_text(&e)))?;
            let keys: Vec<HashMap<String, AttributeValue>> = out.items().to_vec();
            for chunk in keys.chunks(25) {
                self.delete_batch(chunk).await?;
                deleted += chunk.len();
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(deleted),
            }
        }
    }

    async fn delete_batch(
        &self,
        keys: &[HashMap<String, AttributeValue>],
    ) -> Result<(), StoreError> {
        let mut requests = keys
            .iter()
            .map(|key| {
                DeleteRequest::builder()
                    .set_key(Some(key.clone()))
                    .build()
                    .map(|d| WriteRequest::builder().delete_request(d).build())
                    .map_err(|e| StoreError::Unavailable(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        for attempt in 0..BATCH_ATTEMPTS {
            if requests.is_empty() {
                return Ok(());
            }
            let out = self
                .client
                .batch_write_item()
                .request_items(&self.table, requests)
                .send()
                .await
                .map_err(|e| StoreError::Unavailable(error_text(&e)))?;
            requests = out
                .unprocessed_items
                .and_then(|mut items| items.remove(&self.table))
                .unwrap_or_default();
            if !requests.is_empty() {
                tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
            }
        }
        if requests.is_empty() {
            Ok(())
        } else {
            Err(StoreError::Unavailable(
                "log entries left undeleted after retries".into(),
            ))
        }
    }

    async fn read_delivery(
        &self,
        key: &DeliveryKey,
    ) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
        self.client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(delivery_pk(key), DELIVERY_SK)))
            .consistent_read(true)
            .send()
            .await
            .map(|out| out.item)
            .map_err(|e| StoreError::Unavailable(error_text(&e)))
    }
}

// --- items ---------------------------------------------------------------------------------------

/// The stored contact (or its tombstone).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ContactItem {
    pk: String,
    sk: String,
    state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    role: Option<Role>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    email_opt_in: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sms_opt_in: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    language: Option<String>,
    version_ms: i64,
    version_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<i64>,
}

/// One line of a person's log.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogItem {
    pk: String,
    sk: String,
    recipient_id: String,
    channel: Channel,
    template: TemplateId,
    status: DeliveryStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    event_id: String,
    event_type: String,
    event_time: Timestamp,
    recorded_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    provider_message_id: Option<String>,
    expires_at: i64,
}

fn contact_pk(account_id: &str) -> String {
    format!("CONTACT#{account_id}")
}

fn delivery_pk(key: &DeliveryKey) -> String {
    format!("SENT#{}#{}", key.event_id, key.channel.as_str())
}

fn rate_pk(destination: &str, channel: Channel, window: RateWindow) -> String {
    format!("RATE#{destination}#{}#{}", channel.as_str(), window.index)
}

fn log_pk(recipient_id: &str) -> String {
    format!("LOG#{recipient_id}")
}

/// `<eventTime, fixed width UTC with milliseconds>#<eventId>#<channel>`: sorts by event time.
fn log_sk(entry: &LogEntry) -> String {
    let millis = entry.event_time.as_millisecond().rem_euclid(1000);
    format!(
        "{}.{millis:03}Z#{}#{}",
        entry.event_time.strftime("%Y-%m-%dT%H:%M:%S"),
        entry.event_id,
        entry.channel.as_str()
    )
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn bounded(reason: &str) -> String {
    match reason.char_indices().nth(MAX_REASON_CHARS) {
        Some((cut, _)) => format!("{}…", &reason[..cut]),
        None => reason.to_string(),
    }
}

fn to_item<T: Serialize>(value: &T) -> Result<HashMap<String, AttributeValue>, StoreError> {
    let mut item: HashMap<String, AttributeValue> =
        serde_dynamo::to_item(value).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    item.retain(|_, v| !matches!(v, AttributeValue::Null(_)));
    Ok(item)
}

fn contact_item(contact: &Contact) -> ContactItem {
    ContactItem {
        pk: contact_pk(&contact.account_id),
        sk: CONTACT_SK.into(),
        state: ACTIVE.into(),
        role: Some(contact.role),
        email: contact.email.as_ref().map(|e| e.as_str().to_string()),
        phone: contact.phone.as_ref().map(|p| p.as_str().to_string()),
        email_opt_in: Some(contact.preferences.email),
        sms_opt_in: Some(contact.preferences.sms),
        language: Some(contact.preferences.language.as_str().to_string()),
        version_ms: contact.version.time_ms,
        version_id: contact.version.event_id.clone(),
        expires_at: None,
    }
}

fn contact_record(item: ContactItem, account_id: &str) -> Result<ContactRecord, StoreError> {
    if item.state == ERASED {
        return Ok(ContactRecord::Erased);
    }
    let role = item
        .role
        .ok_or_else(|| StoreError::Corrupt("contact without a role".into()))?;
    let defaults = Preferences::default();
    Ok(ContactRecord::Active(Contact {
        account_id: account_id.to_string(),
        role,
        email: item
            .email
            .as_deref()
            .and_then(|e| EmailAddress::parse(e).ok()),
        phone: item
            .phone
            .as_deref()
            .and_then(|p| PhoneNumber::parse(p).ok()),
        preferences: Preferences {
            email: item.email_opt_in.unwrap_or(defaults.email),
            sms: item.sms_opt_in.unwrap_or(defaults.sms),
            language: Language::parse_or_default(item.language.as_deref().unwrap_or_default()),
        },
        version: EventVersion {
            time_ms: item.version_ms,
            event_id: item.version_id,
        },
    }))
}

fn log_entry(item: LogItem) -> LogEntry {
    LogEntry {
        recipient_id: item.recipient_id,
        channel: item.channel,
        template: item.template,
        status: item.status,
        reason: item.reason,
        event_id: item.event_id,
        event_type: item.event_type,
        event_time: item.event_time,
        recorded_at: item.recorded_at,
        provider_message_id: item.provider_message_id,
    }
}

/// What a colliding delivery record means for the claimer.
fn claim_of(item: &HashMap<String, AttributeValue>) -> DeliveryClaim {
    let state = item.get("state").and_then(|v| v.as_s().ok());
    match state.map(String::as_str) {
        Some(SENDING) | None => DeliveryClaim::InProgress,
        Some(other) => DeliveryStatus::parse(other)
            .map(DeliveryClaim::Finished)
            .unwrap_or(DeliveryClaim::InProgress),
    }
}

impl NotificationStore for DynamoNotificationStore {
    #[tracing::instrument(skip(self))]
    async fn contact(&self, account_id: &str) -> Result<Option<ContactRecord>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(contact_pk(account_id), CONTACT_SK)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(error_text(&e)))?;
        match out.item {
            None => Ok(None),
            Some(item) => {
                let item: ContactItem = serde_dynamo::from_item(item)
                    .map_err(|e| StoreError::Corrupt(format!("contact item: {e}")))?;
                contact_record(item, account_id).map(Some)
            }
        }
    }

    #[tracing::instrument(skip_all, fields(account_id = %contact.account_id))]
    async fn upsert_contact(&self, contact: &Contact) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(&contact_item(contact))?))
            .condition_expression(
                "attribute_not_exists(#pk) OR (#state = :active AND (#vms < :vms \
                 OR (#vms = :vms AND #vid < :vid)))",
            )
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#vms", "versionMs")
            .expression_attribute_names("#vid", "versionId")
            .expression_attribute_values(":active", s(ACTIVE))
            .expression_attribute_values(":vms", n(contact.version.time_ms))
            .expression_attribute_values(":vid", s(&contact.version.event_id))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(PutItemError::is_conditional_check_failed_exception) =>
            {
                Ok(false)
            }
            Err(err) => Err(StoreError::Unavailable(error_text(&err))),
        }
    }

    #[tracing::instrument(skip(self, version))]
    async fn erase_contact(
        &self,
        account_id: &str,
        version: &EventVersion,
        tombstone_expires_s: i64,
    ) -> Result<(), StoreError> {
        let tombstone = ContactItem {
            pk: contact_pk(account_id),
            sk: CONTACT_SK.into(),
            state: ERASED.into(),
            role: None,
            email: None,
            phone: None,
            email_opt_in: None,
            sms_opt_in: None,
            language: None,
            version_ms: version.time_ms,
            version_id: version.event_id.clone(),
            expires_at: Some(tombstone_expires_s),
        };
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(&tombstone)?))
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(error_text(&e)))?;
        let deleted = self.delete_log(account_id).await?;
        tracing::info!(log_entries = deleted, "notification log deleted");
        Ok(())
    }

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
            _ => return Err(StoreError::Unavailable(error_text(&err))),
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
            .set_key(Some(Self::key(delivery_pk(key), DELIVERY_SK)))
            .condition_expression("#token = :token AND #state = :sending")
            .expression_attribute_names("#token", "claimToken")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#lease", "leaseUntil")
            .expression_attribute_names("#expiresAt", "expiresAt")
            .expression_attribute_names("#finishedAt", "finishedAt")
            .expression_attribute_values(":token", s(token))
            .expression_attribute_values(":sending", s(SENDING))
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
            .set_key(Some(Self::key(delivery_pk(key), DELIVERY_SK)))
            .condition_expression("#token = :token AND #state = :sending")
            .expression_attribute_names("#token", "claimToken")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":token", s(token))
            .expression_attribute_values(":sending", s(SENDING))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Err(StoreError::ClaimLost)
            }
            Err(err) => Err(StoreError::Unavailable(error_text(&err))),
        }
    }

    async fn take_slot(
        &self,
        destination: &str,
        channel: Channel,
        window: RateWindow,
        limit: u32,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(
                rate_pk(destination, channel, window),
                RATE_SK,
            )))
            .update_expression(
                "SET #count = if_not_exists(#count, :zero) + :one, #expiresAt = :expiresAt",
            )
            .condition_expression("attribute_not_exists(#count) OR #count < :limit")
            .expression_attribute_names("#count", "count")
            .expression_attribute_names("#expiresAt", "expiresAt")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n(i64::from(limit)))
            // Kept one hour past the window so an operator can still see it.
            .expression_attribute_values(":expiresAt", n(window.end_s() + 3600))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(err) => Err(StoreError::Unavailable(error_text(&err))),
        }
    }

    async fn return_slot(
        &self,
        destination: &str,
        channel: Channel,
        window: RateWindow,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(
                rate_pk(destination, channel, window),
                RATE_SK,
            )))
            .update_expression("SET #count = #count - :one")
            .condition_expression("#count > :zero")
            .expression_attribute_names("#count", "count")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(err) => Err(StoreError::Unavailable(error_text(&err))),
        }
    }
}

impl NotificationLog for DynamoNotificationStore {
    #[tracing::instrument(skip(self, cursor))]
    async fn list(
        &self,
        recipient_id: &str,
        limit: u16,
        cursor: Option<&str>,
    ) -> Result<Page<LogEntry>, StoreError> {
        let pk = log_pk(recipient_id);
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":pk", s(&pk))
            .scan_index_forward(false)
            .limit(i32::from(limit));
        if let Some(cursor) = cursor {
            let start = decode_cursor(cursor, &[PK, SK]).map_err(|_| StoreError::InvalidCursor)?;
            // A cursor is only good for the log it was issued for.
            if start.get(PK).and_then(|v| v.as_s().ok()) != Some(&pk) {
                return Err(StoreError::InvalidCursor);
            }
            query = query.set_exclusive_start_key(Some(start));
        }
        let out = query
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(error_text(&e)))?;
        let items = out
            .items()
            .iter()
            .map(|item| {
                serde_dynamo::from_item::<_, LogItem>(item.clone())
                    .map(log_entry)
                    .map_err(|e| StoreError::Corrupt(format!("log item: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page {
            items,
            next_cursor: out.last_evaluated_key().and_then(encode_cursor),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_documented_layout() {
        let key = DeliveryKey::new("01J00000000000000000000000", Channel::Sms);
        assert_eq!(delivery_pk(&key), "SENT#01J00000000000000000000000#SMS");
        assert_eq!(contact_pk("acc-1"), "CONTACT#acc-1");
        assert_eq!(
            rate_pk("acc-1", Channel::Email, RateWindow { index: 7 }),
            "RATE#acc-1#EMAIL#7"
        );
        assert_eq!(log_pk("acc-1"), "LOG#acc-1");
    }

    #[test]
    fn log_sort_keys_have_a_fixed_width_time() {
        let mut entry = LogEntry {
            recipient_id: "acc-1".into(),
            channel: Channel::Email,
            template: TemplateId::Welcome,
            status: DeliveryStatus::Sent,
            reason: None,
            event_id: "E1".into(),
            event_type: "account.created".into(),
            event_time: Timestamp::from_second(1_741_806_000).unwrap(),
            recorded_at: Timestamp::from_second(1_741_806_000).unwrap(),
            provider_message_id: None,
        };
        assert_eq!(log_sk(&entry), "2025-03-12T19:00:00.000Z#E1#EMAIL");
        entry.event_time = Timestamp::from_millisecond(1_741_806_000_042).unwrap();
        assert_eq!(log_sk(&entry), "2025-03-12T19:00:00.042Z#E1#EMAIL");
    }

    #[test]
    fn colliding_deliveries_are_read_by_state() {
        let item = |state: &str| HashMap::from([("state".to_string(), s(state))]);
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

    #[test]
    fn contacts_round_trip_through_items() {
        let contact = Contact {
            account_id: "acc-1".into(),
            role: Role::Patient,
            email: EmailAddress::parse("ana@example.com").ok(),
            phone: None,
            preferences: Preferences {
                email: true,
                sms: false,
                language: Language::En,
            },
            version: EventVersion {
                time_ms: 5,
                event_id: "E".into(),
            },
        };
        let item = to_item(&contact_item(&contact)).unwrap();
        assert!(!item.contains_key("phone"));
        let back: ContactItem = serde_dynamo::from_item(item).unwrap();
        assert_eq!(
            contact_record(back, "acc-1").unwrap(),
            ContactRecord::Active(contact)
        );
    }
}
