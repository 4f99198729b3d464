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
//!
//! One submodule per aggregate, each implementing its port: `contacts` ([`ContactStore`]),
//! `deliveries` ([`DeliveryStore`]), `rate_slots` ([`RateLimitStore`]) and `log`
//! ([`NotificationLog`]). The keys of every item, the log item and the attribute helpers several
//! of them share live here.

mod contacts;
mod deliveries;
mod log;
mod rate_slots;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use clinic_shared::aws::error_text;
use clinic_shared::dynamo::{self, Item};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::domain::{
    Channel, DeliveryKey, DeliveryStatus, LogEntry, RateWindow, StoreError, TemplateId,
};

const PK: &str = "pk";
const SK: &str = "sk";

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
}

// --- items ---------------------------------------------------------------------------------------

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

fn to_item<T: Serialize>(value: &T) -> Result<Item, StoreError> {
    dynamo::to_item(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn unavailable<E>(err: &SdkError<E>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    StoreError::Unavailable(error_text(err))
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
}
