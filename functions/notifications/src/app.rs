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
use clinic_shared::envelope::{
    AccountCreated, AccountDeleted, AccountUpdated, DoctorRegistered, Envelope, EventData,
    EventType, ExamCompleted, ExamCreated, ExamResultReady, ExamStatus, ExamUpdated, Language,
    ReportCompleted, Role, SignUpRepeated,
};
use jiff::{SignedDuration, Timestamp};

use crate::domain::{
    Address, Channel, Clock, Contact, ContactRecord, DeliveryClaim, DeliveryKey, DeliveryStatus,
    EmailAddress, EmailSender, EventVersion, HistoryError, LogEntry, MessageParams, Notification,
    NotificationLog, NotificationStore, NotifyError, Page, PhoneNumber, RateWindow, Recipient,
    RenderedMessage, SendError, SmsSender, StoreError, SystemClock, TemplateId,
};
use crate::templates::Templates;

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
pub struct Notifier<S, E, M, C = SystemClock> {
    store: S,
    email: E,
    sms: M,
    clock: C,
    templates: Templates,
    settings: Settings,
}

impl<S, E, M> Notifier<S, E, M, SystemClock>
where
    S: NotificationStore,
    E: EmailSender,
    M: SmsSender,
{
    pub fn new(store: S, email: E, sms: M, templates: Templates, settings: Settings) -> Self {
        Notifier::with_clock(store, email, sms, SystemClock, templates, settings)
    }
}

impl<S, E, M, C> Notifier<S, E, M, C>
where
    S: NotificationStore,
    E: EmailSender,
    M: SmsSender,
    C: Clock,
{
    pub fn with_clock(
        store: S,
        email: E,
        sms: M,
        clock: C,
        templates: Templates,
        settings: Settings,
    ) -> Self {
        Self {
            store,
            email,
            sms,
            clock,
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
                let role = data.role;
                let account_id = data.account_id.clone();
                self.project(contact_of(
                    event,
                    data.account_id,
                    data.role,
                    &data.email,
                    data.phone.as_deref(),
                    data.preferences,
                ))
                .await?;
                // Doctors get their first-access instructions from `doctor.registered` instead.
                if role == Role::Doctor {
                    return Ok(());
                }
                self.notify(notification(
                    event,
                    TemplateId::Welcome,
                    account_id,
                    MessageParams::default(),
                ))
                .await
            }
            EventType::AccountUpdated => {
                let data: AccountUpdated = typed_account_event(event)?;
                self.project(contact_of(
                    event,
                    data.account_id,
                    data.role,
                    &data.email,
                    data.phone.as_deref(),
                    data.preferences,
                ))
                .await
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
            EventType::ExamCreated => {
                let data: ExamCreated = event.data_as()?;
                match (data.status, data.patient_id) {
                    (ExamStatus::Scheduled, Some(patient)) => {
                        self.notify(notification(
                            event,
                            TemplateId::BookingConfirmed,
                            patient,
                            booking(&data.hospital_name, data.scheduled_at),
                        ))
                        .await
                    }
                    _ => Ok(()),
                }
            }
            EventType::ExamUpdated => {
                let data: ExamUpdated = event.data_as()?;
                let cancelled = data.status == ExamStatus::Cancelled
                    && data.previous_status != ExamStatus::Cancelled;
                match data.patient_id {
                    Some(patient) if cancelled => {
                        self.notify(notification(
                            event,
                            TemplateId::BookingCancelled,
                            patient,
                            booking(&data.hospital_name, data.scheduled_at),
                        ))
                        .await
                    }
                    _ => Ok(()),
                }
            }
            EventType::ExamCompleted => {
                let data: ExamCompleted = event.data_as()?;
                self.notify_patient(event, TemplateId::ExamCompleted, data.patient_id)
                    .await
            }
            EventType::ExamResultReady => {
                let data: ExamResultReady = event.data_as()?;
                self.notify_patient(event, TemplateId::ResultReady, data.patient_id)
                    .await
            }
            EventType::SignUpRepeated => {
                let data: SignUpRepeated = event.data_as()?;
                self.notify(notification(
                    event,
                    TemplateId::SignUpRepeated,
                    data.account_id,
                    MessageParams::default(),
                ))
                .await
            }
            EventType::ReportCompleted => {
                let data: ReportCompleted = event.data_as()?;
                self.notify(notification(
                    event,
                    TemplateId::ReportReady,
                    data.requested_by,
                    MessageParams::default(),
                ))
                .await
            }
            _ => {
                tracing::debug!("event type not used by notifications; ignored");
                Ok(())
            }
        }
    }

    async fn notify_patient(
        &self,
        event: &Envelope,
        template: TemplateId,
        patient: Option<String>,
    ) -> Result<(), NotifyError> {
        match patient {
            Some(patient) => {
                self.notify(notification(
                    event,
                    template,
                    patient,
                    MessageParams::default(),
                ))
                .await
            }
            // An exam a hospital pushed for someone without an account: nobody to tell.
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

    /// Sends `n` on every channel the recipient can be reached on.
    async fn notify(&self, n: Notification) -> Result<(), NotifyError> {
        let recipient = match self.store.contact(&n.recipient_id).await? {
            Some(ContactRecord::Erased) => {
                tracing::info!(recipient_id = %n.recipient_id, "recipient erased; nothing sent");
                return Ok(());
            }
            Some(ContactRecord::Active(contact)) => {
                let mut recipient = Recipient::from(contact);
                if recipient.email.is_none() {
                    recipient.email = n.fallback_email.clone();
                }
                recipient
            }
            None => match &n.fallback_email {
                Some(email) => Recipient {
                    account_id: n.recipient_id.clone(),
                    email: Some(email.clone()),
                    phone: None,
                    preferences: Default::default(),
                },
                None => return self.without_contact(&n).await,
            },
        };
        let message = self
            .templates
            .render(n.template, recipient.preferences.language, &n.params)
            .map_err(|e| NotifyError::Refuse(e.to_string()))?;
        let mut failures = Vec::new();
        for &channel in n.template.channels() {
            let Some(address) = recipient.address(channel) else {
                tracing::info!(
                    recipient_id = %n.recipient_id,
                    channel = %channel,
                    "channel opted out or no address; not sent"
                );
                continue;
            };
            if let Err(err) = self.deliver(&n, channel, address, &message).await {
                failures.push(format!("{channel}: {err}"));
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(NotifyError::Retry(failures.join("; ")))
        }
    }

    /// No contact is known: wait for the account event a little, then record the skip.
    async fn without_contact(&self, n: &Notification) -> Result<(), NotifyError> {
        let age = self.clock.now().duration_since(n.event_time);
        let wait =
            SignedDuration::try_from(self.settings.contact_wait).unwrap_or(SignedDuration::MAX);
        if age < wait {
            return Err(NotifyError::Retry(
                "no contact known for the recipient yet".into(),
            ));
        }
        tracing::warn!(recipient_id = %n.recipient_id, "no contact known; notification skipped");
        for channel in Channel::ALL {
            let key = DeliveryKey::new(n.event_id.clone(), channel);
            let token = ulid::Ulid::new().to_string();
            match self.begin(&key, &token).await? {
                DeliveryClaim::Started => {
                    self.finish(
                        &key,
                        &token,
                        self.entry(n, channel, DeliveryStatus::Skipped, Some(NO_CONTACT), None),
                    )
                    .await?;
                }
                DeliveryClaim::Finished(_) => {}
                DeliveryClaim::InProgress => {
                    return Err(NotifyError::Retry("delivery in progress elsewhere".into()));
                }
            }
        }
        Ok(())
    }

    async fn begin(&self, key: &DeliveryKey, token: &str) -> Result<DeliveryClaim, StoreError> {
        let now = self.clock.now();
        let lease_until = now
            .checked_add(
                SignedDuration::try_from(self.settings.lease).unwrap_or(SignedDuration::ZERO),
            )
            .unwrap_or(now);
        self.store
            .begin_delivery(key, token, now, lease_until)
            .await
    }

    /// Delivers one channel; `Err` only for what a retry may fix.
    #[tracing::instrument(skip_all, fields(recipient_id = %n.recipient_id, channel = %channel))]
    async fn deliver(
        &self,
        n: &Notification,
        channel: Channel,
        address: Address<'_>,
        message: &RenderedMessage,
    ) -> Result<(), NotifyError> {
        let key = DeliveryKey::new(n.event_id.clone(), channel);
        let token = ulid::Ulid::new().to_string();
        match self.begin(&key, &token).await? {
            DeliveryClaim::Started => {}
            DeliveryClaim::Finished(status) => {
                tracing::info!(status = status.as_str(), "already delivered; not repeated");
                return Ok(());
            }
            DeliveryClaim::InProgress => {
                return Err(NotifyError::Retry("delivery in progress elsewhere".into()));
            }
        }
        let window = RateWindow::of(self.clock.now());
        let limit = self.settings.limit(channel);
        let destination = address.limit_key();
        let allowed = match self
            .store
            .take_slot(&destination, channel, window, limit)
            .await
        {
            Ok(allowed) => allowed,
            Err(err) => {
                self.abandon(&key, &token).await;
                return Err(err.into());
            }
        };
        if !allowed {
            tracing::warn!(limit, "hourly limit reached; message held back");
            let reason = format!("at most {limit} per hour");
            let entry = self.entry(n, channel, DeliveryStatus::RateLimited, Some(&reason), None);
            return self.finish(&key, &token, entry).await;
        }
        let sent = match address {
            Address::Email(to) => self.email.send_email(to, message).await,
            Address::Sms(to) => self.sms.send_sms(to, &message.sms).await,
        };
        match sent {
            Ok(message_id) => {
                tracing::info!("sent");
                clinic_shared::metrics::count(
                    "notifications",
                    "NotificationsSent",
                    Some(("channel", channel.as_str())),
                );
                let entry = self.entry(n, channel, DeliveryStatus::Sent, None, Some(message_id));
                self.finish(&key, &token, entry).await
            }
            Err(SendError::Permanent(reason)) => {
                tracing::warn!(reason = %reason, "provider refused the message for good");
                clinic_shared::metrics::count(
                    "notifications",
                    "NotificationsFailed",
                    Some(("channel", channel.as_str())),
                );
                let entry = self.entry(n, channel, DeliveryStatus::Failed, Some(&reason), None);
                self.finish(&key, &token, entry).await
            }
            Err(SendError::Transient(reason)) => {
                tracing::warn!(reason = %reason, "provider failed; will retry");
                if let Err(err) = self.store.return_slot(&destination, channel, window).await {
                    tracing::warn!(error = %err, "could not give the rate-limit slot back");
                }
                self.abandon(&key, &token).await;
                Err(NotifyError::Retry(reason))
            }
        }
    }

    fn entry(
        &self,
        n: &Notification,
        channel: Channel,
        status: DeliveryStatus,
        reason: Option<&str>,
        provider_message_id: Option<String>,
    ) -> LogEntry {
        LogEntry {
            recipient_id: n.recipient_id.clone(),
            channel,
            template: n.template,
            status,
            reason: reason.map(str::to_string),
            event_id: n.event_id.clone(),
            event_type: n.event_type.as_str().to_string(),
            event_time: n.event_time,
            recorded_at: self.clock.now(),
            provider_message_id,
        }
    }

    async fn finish(
        &self,
        key: &DeliveryKey,
        token: &str,
        entry: LogEntry,
    ) -> Result<(), NotifyError> {
        let now = self.clock.now().as_second();
        let delivery_expires = now.saturating_add(seconds(self.settings.delivery_retention));
        let log_expires = now.saturating_add(seconds(self.settings.log_retention));
        match self
            .store
            .finish_delivery(key, token, &entry, delivery_expires, log_expires)
            .await
        {
            Ok(()) => Ok(()),
            // Taken over after the lease ran out: the other attempt records the outcome.
            Err(StoreError::ClaimLost) => {
                tracing::warn!("delivery claim was taken over before it was recorded");
                Ok(())
            }
            Err(err) => Err(err.into()),
        }
    }

    async fn abandon(&self, key: &DeliveryKey, token: &str) {
        if let Err(err) = self.store.abandon_delivery(key, token).await {
            // The lease runs out on its own; the retry then takes the delivery over.
            tracing::warn!(error = %err, "could not release the delivery claim");
        }
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

fn contact_of(
    event: &Envelope,
    account_id: String,
    role: Role,
    email: &str,
    phone: Option<&str>,
    preferences: clinic_shared::envelope::Preferences,
) -> Contact {
    let email = EmailAddress::parse(email).ok();
    if email.is_none() {
        tracing::warn!(account_id = %account_id, "account event carries an unusable e-mail");
    }
    let phone = phone.and_then(|p| PhoneNumber::parse(p).ok());
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
