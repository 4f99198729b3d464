//! The notifications model: the contact projection kept from account events, what is to be sent
//! (a [`Notification`]), the rendered message, per-channel deliveries and the log entries a
//! person can list. Log entries never hold message content.

use clinic_shared::envelope::{EventType, Preferences, Role};
use jiff::Timestamp;

use super::values::{Channel, DeliveryStatus, EmailAddress, PhoneNumber, TemplateId};

/// Orders the account events that feed a contact: the envelope time, then the envelope id
/// (ULIDs of one producer grow with time) for events stamped in the same millisecond.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct EventVersion {
    /// Envelope `time`, epoch milliseconds.
    pub time_ms: i64,
    /// Envelope `id`.
    pub event_id: String,
}

impl EventVersion {
    pub fn new(time: Timestamp, event_id: impl Into<String>) -> Self {
        Self {
            time_ms: time.as_millisecond(),
            event_id: event_id.into(),
        }
    }
}

/// What the service knows of how to reach a person (from `account.created|updated`).
#[derive(Debug, Clone, PartialEq)]
pub struct Contact {
    pub account_id: String,
    pub role: Role,
    pub email: Option<EmailAddress>,
    pub phone: Option<PhoneNumber>,
    pub preferences: Preferences,
    /// The account event this contact comes from; only newer events replace it.
    pub version: EventVersion,
}

/// A stored contact, or the tombstone an `account.deleted` leaves so that a late
/// `account.updated` cannot bring the person's data back.
#[derive(Debug, Clone, PartialEq)]
pub enum ContactRecord {
    Active(Contact),
    Erased,
}

/// Who a notification goes to, with the addresses the person agreed to be reached at.
#[derive(Debug, Clone, PartialEq)]
pub struct Recipient {
    pub account_id: String,
    pub email: Option<EmailAddress>,
    pub phone: Option<PhoneNumber>,
    pub preferences: Preferences,
}

/// Where one channel's message goes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Address<'a> {
    Email(&'a EmailAddress),
    Sms(&'a PhoneNumber),
}

impl Address<'_> {
    /// The key hourly limits count messages under: the destination itself (SHA-256 of channel
    /// and address), not the account, so nobody can pump messages to one phone or mailbox
    /// through many accounts. The address itself is never stored in the counter.
    pub fn limit_key(&self) -> String {
        use sha2::{Digest, Sha256};
        let (channel, address) = match self {
            Address::Email(email) => ("email", email.as_str().to_lowercase()),
            Address::Sms(phone) => ("sms", phone.as_str().to_string()),
        };
        let mut hasher = Sha256::new();
        hasher.update(channel.as_bytes());
        hasher.update(b"\n");
        hasher.update(address.as_bytes());
        hex::encode(hasher.finalize())
    }
}

impl Recipient {
    /// The address for `channel`, when known and the person has not opted out of the channel.
    pub fn address(&self, channel: Channel) -> Option<Address<'_>> {
        match channel {
            Channel::Email if self.preferences.email => self.email.as_ref().map(Address::Email),
            Channel::Sms if self.preferences.sms => self.phone.as_ref().map(Address::Sms),
            _ => None,
        }
    }
}

impl From<Contact> for Recipient {
    fn from(contact: Contact) -> Self {
        Recipient {
            account_id: contact.account_id,
            email: contact.email,
            phone: contact.phone,
            preferences: contact.preferences,
        }
    }
}

/// What a template may show besides links: the booking's hospital and time. Never exam types,
/// results or diagnoses.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MessageParams {
    pub hospital: Option<String>,
    pub scheduled_at: Option<Timestamp>,
    /// For a doctor's first access: whether the temporary password went out by e-mail (else
    /// staff hand it over).
    pub password_sent_by_email: bool,
}

/// A message to send to one person because of one event.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub template: TemplateId,
    pub recipient_id: String,
    pub event_id: String,
    pub event_type: EventType,
    pub event_time: Timestamp,
    pub params: MessageParams,
    /// An address the event itself carries, used while the contact projection does not know
    /// the person yet (`doctor.registered` has the doctor's e-mail).
    pub fallback_email: Option<EmailAddress>,
}

/// A template rendered for one language: e-mail subject, plain-text and HTML bodies, SMS text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedMessage {
    pub subject: String,
    pub text: String,
    pub html: String,
    pub sms: String,
}

/// Identifies one channel's delivery of one event: `SENT#<eventId>#<channel>` in the table.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeliveryKey {
    pub event_id: String,
    pub channel: Channel,
}

impl DeliveryKey {
    pub fn new(event_id: impl Into<String>, channel: Channel) -> Self {
        Self {
            event_id: event_id.into(),
            channel,
        }
    }
}

/// The answer to "may I deliver this event on this channel?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryClaim {
    /// Yours, until the lease ends: send, then complete or release it.
    Started,
    /// Done before (sent, failed for good, held back or skipped): do nothing.
    Finished(DeliveryStatus),
    /// Another invocation holds a live lease on it.
    InProgress,
}

/// One line of a person's notification log: what was sent (or held back) to them, never the
/// message itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub recipient_id: String,
    pub channel: Channel,
    pub template: TemplateId,
    pub status: DeliveryStatus,
    /// Why it failed or was held back: a provider error code or a rule, never personal data.
    pub reason: Option<String>,
    pub event_id: String,
    pub event_type: String,
    /// When the event happened (orders the log).
    pub event_time: Timestamp,
    /// When the outcome was recorded.
    pub recorded_at: Timestamp,
    /// The provider's message id, for tracing a bounce or a complaint.
    pub provider_message_id: Option<String>,
}

/// A fixed one-hour window of the per-recipient rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateWindow {
    /// Hours since the epoch.
    pub index: i64,
}

impl RateWindow {
    const SECONDS: i64 = 3600;

    /// The window `now` falls in.
    pub fn of(now: Timestamp) -> RateWindow {
        RateWindow {
            index: now.as_second().div_euclid(Self::SECONDS),
        }
    }

    /// When the window ends, epoch seconds.
    pub fn end_s(self) -> i64 {
        (self.index + 1) * Self::SECONDS
    }
}

pub use clinic_shared::pagination::Page;

#[cfg(test)]
mod tests {
    use super::*;
    use clinic_shared::envelope::Language;

    fn recipient(email: bool, sms: bool) -> Recipient {
        Recipient {
            account_id: "acc-1".into(),
            email: EmailAddress::parse("ana@example.com").ok(),
            phone: PhoneNumber::parse("+5511987654321").ok(),
            preferences: Preferences {
                email,
                sms,
                language: Language::En,
            },
        }
    }

    #[test]
    fn opted_out_channels_have_no_address() {
        let both = recipient(true, true);
        assert!(matches!(
            both.address(Channel::Email),
            Some(Address::Email(_))
        ));
        assert!(matches!(both.address(Channel::Sms), Some(Address::Sms(_))));
        let email_only = recipient(true, false);
        assert!(email_only.address(Channel::Sms).is_none());
        assert!(email_only.address(Channel::Email).is_some());
        let mut no_phone = recipient(true, true);
        no_phone.phone = None;
        assert!(no_phone.address(Channel::Sms).is_none());
    }

    #[test]
    fn versions_order_by_time_then_id() {
        let t = Timestamp::from_millisecond(1_000).unwrap();
        let later = Timestamp::from_millisecond(2_000).unwrap();
        assert!(EventVersion::new(later, "A") > EventVersion::new(t, "Z"));
        assert!(EventVersion::new(t, "B") > EventVersion::new(t, "A"));
    }

    #[test]
    fn hour_windows() {
        let t = Timestamp::from_second(7_200 + 59).unwrap();
        let window = RateWindow::of(t);
        assert_eq!(window.index, 2);
        assert_eq!(window.end_s(), 10_800);
        assert_eq!(
            RateWindow::of(Timestamp::from_second(10_799).unwrap()),
            window
        );
    }
}
