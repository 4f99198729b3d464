//! Ports: what the notification use cases need from the outside world — the e-mail and SMS
//! providers, the service's table and a clock. Adapters in `outbound` implement them with the
//! AWS SDK; unit tests use in-memory fakes.

use std::future::Future;

use jiff::Timestamp;

use super::error::{SendError, StoreError};
use super::model::{
    Contact, ContactRecord, DeliveryClaim, DeliveryKey, EventVersion, LogEntry, Page, RateWindow,
    RenderedMessage,
};
use super::values::{Channel, EmailAddress, PhoneNumber};

/// Sends e-mail (SES in production).
pub trait EmailSender: Send + Sync {
    /// Sends the message's subject, HTML and plain-text parts to `to`; returns the provider's
    /// message id.
    ///
    /// # Errors
    /// [`SendError::Transient`] for throttling, 5xx and timeouts; [`SendError::Permanent`] when
    /// the provider refuses the message for good.
    fn send_email(
        &self,
        to: &EmailAddress,
        message: &RenderedMessage,
    ) -> impl Future<Output = Result<String, SendError>> + Send;
}

/// Sends transactional SMS (SNS in production).
pub trait SmsSender: Send + Sync {
    /// Sends `text` to `to`; returns the provider's message id.
    ///
    /// # Errors
    /// As [`EmailSender::send_email`]; an invalid number is permanent.
    fn send_sms(
        &self,
        to: &PhoneNumber,
        text: &str,
    ) -> impl Future<Output = Result<String, SendError>> + Send;
}

/// The consumer's view of the service's table: contact projection, per-channel delivery records,
/// rate-limit counters and the notification log; one trait per aggregate, each implemented where
/// its items are kept.
pub trait NotificationStore: ContactStore + DeliveryStore + RateLimitStore {}

impl<T: ContactStore + DeliveryStore + RateLimitStore> NotificationStore for T {}

/// The contact projection: where a person is reached, and its erasure.
pub trait ContactStore: Send + Sync {
    /// The contact of `account_id`, its tombstone, or nothing.
    ///
    /// # Errors
    /// `Unavailable`, `Corrupt`.
    fn contact(
        &self,
        account_id: &str,
    ) -> impl Future<Output = Result<Option<ContactRecord>, StoreError>> + Send;

    /// Stores `contact` unless the stored one is newer or erased; true when it was stored.
    ///
    /// # Errors
    /// `Unavailable`.
    fn upsert_contact(
        &self,
        contact: &Contact,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Replaces the contact with a tombstone kept until `tombstone_expires_s` (epoch seconds)
    /// and deletes the person's notification log. Repeating it is harmless.
    ///
    /// # Errors
    /// `Unavailable`.
    fn erase_contact(
        &self,
        account_id: &str,
        version: &EventVersion,
        tombstone_expires_s: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Per-channel delivery records: the lease that makes a message go out once, and the log entry
/// written with its outcome.
pub trait DeliveryStore: Send + Sync {
    /// Claims a delivery: succeeds when there is no record or only one whose lease ended.
    ///
    /// # Errors
    /// `Unavailable`.
    fn claim_delivery(
        &self,
        key: &DeliveryKey,
        token: &str,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> impl Future<Output = Result<DeliveryClaim, StoreError>> + Send;

    /// Marks a claimed delivery final with the entry's status and writes the log entry, in one
    /// transaction. The delivery record is kept until `delivery_expires_s`, the log entry until
    /// `log_expires_s` (epoch seconds).
    ///
    /// # Errors
    /// `ClaimLost` when `token` no longer holds the claim; `Unavailable`.
    fn complete_delivery(
        &self,
        key: &DeliveryKey,
        token: &str,
        entry: &LogEntry,
        delivery_expires_s: i64,
        log_expires_s: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Gives a claimed delivery up so that the next attempt sends it.
    ///
    /// # Errors
    /// `ClaimLost`, `Unavailable`.
    fn release_delivery(
        &self,
        key: &DeliveryKey,
        token: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Rate-limit counters per destination, channel and window.
pub trait RateLimitStore: Send + Sync {
    /// Counts one message to `destination` (an address's [`limit_key`]) on `channel` in
    /// `window` if fewer than `limit` were counted there; false when the limit is reached
    /// (nothing counted).
    ///
    /// [`limit_key`]: super::model::Address::limit_key
    ///
    /// # Errors
    /// `Unavailable`.
    fn take_slot(
        &self,
        destination: &str,
        channel: Channel,
        window: RateWindow,
        limit: u32,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Gives back a slot taken for a message that was not sent after all.
    ///
    /// # Errors
    /// `Unavailable`.
    fn return_slot(
        &self,
        destination: &str,
        channel: Channel,
        window: RateWindow,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The API's view of the table: a person's notification log.
pub trait NotificationLog: Send + Sync {
    /// The log of `recipient_id`, newest event first.
    ///
    /// # Errors
    /// `InvalidCursor` for a cursor not issued for this recipient; `Unavailable`.
    fn list(
        &self,
        recipient_id: &str,
        limit: u16,
        cursor: Option<&str>,
    ) -> impl Future<Output = Result<Page<LogEntry>, StoreError>> + Send;
}
