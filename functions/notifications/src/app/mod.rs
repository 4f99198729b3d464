//! Use cases: turn one event into the contact projection's change and the messages it calls for
//! ([`Notifier`]), and list a person's notification log ([`History`]).
//!
//! Delivering one message on one channel:
//! 1. claim `SENT#<eventId>#<channel>` (a conditional write; a finished record means "already
//!    done", so a redelivered event sends nothing twice);
//! 2. take a slot of the recipient's hourly limit on that channel, or record `RATE_LIMITED`;
//! 3. send; then record `SENT`, or `FAILED` with the provider's reason when the refusal is
//!    permanent — together with the log entry, in one transaction;
//! 4. a transient failure gives the slot and the claim back and makes the event fail, so SQS
//!    retries it after a backoff; the other channel, if it finished, is not repeated.

use std::time::Duration;

use clinic_shared::auth::Caller;
use clinic_shared::clock::{self, SharedClock};
use clinic_shared::envelope::{
    AccountCreated, AccountDeleted, AccountUpdated, DoctorRegistered, Envelope, EnvelopeError,
    EventData, EventType, ExamCompleted, ExamCreated, ExamResultReady, ExamStatus, ExamUpdated,
    Language, ReportCompleted, Role, SignUpRepeated,
};
use jiff::{SignedDuration, Timestamp};

use crate::domain::templates::Templates;
use crate::domain::{
    Address, Channel, Contact, ContactRecord, DeliveryClaim, DeliveryKey, DeliveryStatus,
    EmailAddress, EmailSender, EventVersion, HistoryError, LogEntry, MessageParams, Notification,
    NotificationLog, NotificationStore, NotifyError, Page, PhoneNumber, RateWindow, Recipient,
    RenderedMessage, SendError, SmsSender, StoreError, TemplateId,
};

mod delivery;

/// Reason recorded when no contact is known for a recipient once the wait is over.
pub const NO_CONTACT: &str = "NO_CONTACT";

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// Tunables of the consumer, from configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Most e-mails one address gets per hour (whatever the account).
    pub email_limit_per_hour: u32,
    /// Most SMS one phone number gets per hour (whatever the account).
    pub sms_limit_per_hour: u32,
    /// How long after an event a recipient with no known contact is waited for (the account
    /// event may still be on its way through another topic); after it, `SKIPPED`.
    pub contact_wait: Duration,
    /// How long a delivery claim keeps other invocations away (≥ the function timeout).
    pub lease: Duration,
    /// How long a finished delivery record keeps duplicates away: longer than a message can
    /// live in the queue (4 days) plus the DLQ (14 days), so a redriven event sends nothing twice.
    pub delivery_retention: Duration,
    /// How long a person's log entries are kept.
    pub log_retention: Duration,
    /// How long the tombstone of an erased contact is kept (same bound as deliveries).
    pub tombstone_retention: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            email_limit_per_hour: 20,
            sms_limit_per_hour: 5,
            contact_wait: Duration::from_secs(5),
            lease: Duration::from_secs(15),
            delivery_retention: DAY * 21,
            log_retention: DAY * 365,
            tombstone_retention: DAY * 21,
        }
    }
}

impl Settings {
    fn limit(&self, channel: Channel) -> u32 {
        match channel {
            Channel::Email => self.email_limit_per_hour,
            Channel::Sms => self.sms_limit_per_hour,
        }
    }
}

/// Handles the events the notifications consumer receives.
pub struct Notifier<S, E, M> {
    store: S,
    email: E,
    sms: M,
    clock: SharedClock,
    templates: Templates,
    settings: Settings,
}

clinic_shared::impl_with_clock!(Notifier<S, E, M>);

impl<S: NotificationStore, E: EmailSender, M: SmsSender> Notifier<S, E, M> {
    pub fn new(store: S, email: E, sms: M, templates: Templates, settings: Settings) -> Self {
        Self {
            store,
            email,
            sms,
            clock: clock::system(),
            templates,
            settings,
        }
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn email_sender(&self) -> &E {
        &self.email
    }

    pub fn sms_sender(&self) -> &M {
        &self.sms
    }

    /// Handles one event: updates the contact projection and sends what it calls for. Events
    /// this service has no use for are accepted and ignored.
    ///
    /// # Errors
    /// [`NotifyError::Retry`] when something transient failed (deliveries already finished stay
    /// finished); [`NotifyError::Refuse`] when the payload breaks the contract.
    #[tracing::instrument(skip_all, fields(event_id = %event.id, event_type = %event.event_type))]
    pub async fn handle(&self, event: &Envelope) -> Result<(), NotifyError> {
        match event.event_type {
            EventType::AccountCreated => {
                let data: AccountCreated = typed_account_event(event)?;
                let (role, account_id) = (data.role, data.account_id.clone());
                self.project(contact_of(event, data.into())).await?;
                // Doctors get their first-access instructions from `doctor.registered` instead.
                if role == Role::Doctor {
                    return Ok(());
                }
                self.notify_recipient(event, TemplateId::Welcome, Some(account_id))
                    .await
            }
            EventType::AccountUpdated => {
                let data: AccountUpdated = typed_account_event(event)?;
                self.project(contact_of(event, data)).await
            }
            EventType::AccountDeleted => {
                let data: AccountDeleted = event.data_as()?;
                self.erase(event, &data.account_id).await
            }
            EventType::DoctorRegistered => {
                let data: DoctorRegistered = event.data_as()?;
                let mut n = notification(
                    event,
                    TemplateId::DoctorFirstAccess,
                    data.account_id,
                    MessageParams {
                        password_sent_by_email: data.invitation_sent_by_cognito,
                        ..MessageParams::default()
                    },
                );
                n.fallback_email = EmailAddress::parse(&data.email).ok();
                self.notify(n).await
            }
            EventType::ExamCreated | EventType::ExamUpdated => {
                let (template, exam, concerned) = booking_notice(event)?;
                self.notify_recipient_with(
                    event,
                    template,
                    exam.patient_id.filter(|_| concerned),
                    booking(&exam.hospital_name, exam.scheduled_at),
                )
                .await
            }
            EventType::ExamCompleted => {
                let data: ExamCompleted = event.data_as()?;
                self.notify_recipient(event, TemplateId::ExamCompleted, data.patient_id)
                    .await
            }
            EventType::ExamResultReady => {
                let data: ExamResultReady = event.data_as()?;
                self.notify_recipient(event, TemplateId::ResultReady, data.patient_id)
                    .await
            }
            EventType::SignUpRepeated => {
                let data: SignUpRepeated = event.data_as()?;
                self.notify_recipient(event, TemplateId::SignUpRepeated, Some(data.account_id))
                    .await
            }
            EventType::ReportCompleted => {
                let data: ReportCompleted = event.data_as()?;
                self.notify_recipient(event, TemplateId::ReportReady, Some(data.requested_by))
                    .await
            }
            _ => {
                tracing::debug!("event type not used by notifications; ignored");
                Ok(())
            }
        }
    }

    /// Tells the event's recipient, when there is one to tell.
    async fn notify_recipient(
        &self,
        event: &Envelope,
        template: TemplateId,
        recipient: Option<String>,
    ) -> Result<(), NotifyError> {
        self.notify_recipient_with(event, template, recipient, MessageParams::default())
            .await
    }

    /// Tells the event's recipient, when there is one to tell, with the details the message
    /// shows.
    async fn notify_recipient_with(
        &self,
        event: &Envelope,
        template: TemplateId,
        recipient: Option<String>,
        params: MessageParams,
    ) -> Result<(), NotifyError> {
        match recipient {
            Some(recipient) => {
                self.notify(notification(event, template, recipient, params))
                    .await
            }
            // An exam a hospital pushed for someone without an account, or a change that calls
            // for no message: nobody to tell.
            None => Ok(()),
        }
    }

    async fn project(&self, contact: Contact) -> Result<(), NotifyError> {
        let applied = self.store.upsert_contact(&contact).await?;
        tracing::info!(
            account_id = %contact.account_id,
            applied,
            "contact projection updated"
        );
        Ok(())
    }

    async fn erase(&self, event: &Envelope, account_id: &str) -> Result<(), NotifyError> {
        let expires = self
            .clock
            .now()
            .as_second()
            .saturating_add(seconds(self.settings.tombstone_retention));
        self.store
            .erase_contact(
                account_id,
                &EventVersion::new(event.time, event.id.clone()),
                expires,
            )
            .await?;
        tracing::info!(account_id = %account_id, "contact and notification log erased");
        Ok(())
    }
}

/// Reads an account event, taking any language the producer may add as pt-BR (the default)
/// rather than refusing the whole event.
fn typed_account_event<T: EventData>(event: &Envelope) -> Result<T, NotifyError> {
    let mut event = event.clone();
    if let Some(language) = event
        .data
        .get_mut("preferences")
        .and_then(|p| p.get_mut("language"))
    {
        let known = Language::parse_or_default(language.as_str().unwrap_or_default());
        *language = serde_json::Value::String(known.as_str().to_string());
    }
    Ok(event.data_as()?)
}

/// The contact an account event describes (`account.created` in the form `account.updated` has).
fn contact_of(event: &Envelope, account: AccountUpdated) -> Contact {
    let AccountUpdated {
        account_id,
        role,
        email,
        phone,
        preferences,
    } = account;
    let email = EmailAddress::parse(&email).ok();
    if email.is_none() {
        tracing::warn!(account_id = %account_id, "account event carries an unusable e-mail");
    }
    let phone = phone.and_then(|p| PhoneNumber::parse(&p).ok());
    Contact {
        account_id,
        role,
        email,
        phone,
        preferences,
        version: EventVersion::new(event.time, event.id.clone()),
    }
}

fn notification(
    event: &Envelope,
    template: TemplateId,
    recipient_id: String,
    params: MessageParams,
) -> Notification {
    Notification {
        template,
        recipient_id,
        event_id: event.id.clone(),
        event_type: event.event_type,
        event_time: event.time,
        params,
        fallback_email: None,
    }
}

/// The booking notice an exam event stands for, the exam as it now is, and whether the patient is
/// concerned: confirmed when a booked exam is created, cancelled when an exam becomes cancelled.
fn booking_notice(event: &Envelope) -> Result<(TemplateId, ExamCreated, bool), EnvelopeError> {
    if event.event_type == EventType::ExamCreated {
        let exam: ExamCreated = event.data_as()?;
        let booked = exam.status == ExamStatus::Scheduled;
        return Ok((TemplateId::BookingConfirmed, exam, booked));
    }
    let change: ExamUpdated = event.data_as()?;
    let cancelled =
        change.status == ExamStatus::Cancelled && change.previous_status != ExamStatus::Cancelled;
    Ok((
        TemplateId::BookingCancelled,
        change.into_created(),
        cancelled,
    ))
}

fn booking(hospital: &str, scheduled_at: Timestamp) -> MessageParams {
    MessageParams {
        hospital: Some(hospital.to_string()),
        scheduled_at: Some(scheduled_at),
        password_sent_by_email: false,
    }
}

fn seconds(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

/// Lists a person's notification log.
pub struct History<L> {
    log: L,
}

impl<L: NotificationLog> History<L> {
    pub fn new(log: L) -> Self {
        Self { log }
    }

    /// The caller's own log, newest first. Anyone signed in has one (staff get report notices).
    ///
    /// # Errors
    /// [`HistoryError::InvalidCursor`], [`HistoryError::Unavailable`].
    #[tracing::instrument(skip_all, fields(caller = %caller.id))]
    pub async fn mine(
        &self,
        caller: &Caller,
        limit: u16,
        cursor: Option<&str>,
    ) -> Result<Page<LogEntry>, HistoryError> {
        Ok(self.log.list(&caller.id, limit, cursor).await?)
    }
}

#[cfg(test)]
mod tests;
