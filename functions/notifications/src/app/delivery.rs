//! Delivering one notification: on each channel the recipient can be reached on, once per
//! event and channel (a delivery record claimed before sending, completed or released after),
//! within each destination's hourly limit, with the outcome in the recipient's log.

use super::*;

impl<S: NotificationStore, E: EmailSender, M: SmsSender> Notifier<S, E, M> {
    /// Sends `n` on every channel the recipient can be reached on.
    pub(super) async fn notify(&self, n: Notification) -> Result<(), NotifyError> {
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
            match self.claim(&key, &token).await? {
                DeliveryClaim::Started => {
                    self.complete(
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

    async fn claim(&self, key: &DeliveryKey, token: &str) -> Result<DeliveryClaim, StoreError> {
        let now = self.clock.now();
        let lease_until = now
            .checked_add(
                SignedDuration::try_from(self.settings.lease).unwrap_or(SignedDuration::ZERO),
            )
            .unwrap_or(now);
        self.store
            .claim_delivery(key, token, now, lease_until)
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
        match self.claim(&key, &token).await? {
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
                self.release(&key, &token).await;
                return Err(err.into());
            }
        };
        if !allowed {
            tracing::warn!(limit, "hourly limit reached; message held back");
            let reason = format!("at most {limit} per hour");
            let entry = self.entry(n, channel, DeliveryStatus::RateLimited, Some(&reason), None);
            return self.complete(&key, &token, entry).await;
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
                self.complete(&key, &token, entry).await
            }
            Err(SendError::Permanent(reason)) => {
                tracing::warn!(reason = %reason, "provider refused the message for good");
                clinic_shared::metrics::count(
                    "notifications",
                    "NotificationsFailed",
                    Some(("channel", channel.as_str())),
                );
                let entry = self.entry(n, channel, DeliveryStatus::Failed, Some(&reason), None);
                self.complete(&key, &token, entry).await
            }
            Err(SendError::Transient(reason)) => {
                tracing::warn!(reason = %reason, "provider failed; will retry");
                if let Err(err) = self.store.return_slot(&destination, channel, window).await {
                    tracing::warn!(error = %err, "could not give the rate-limit slot back");
                }
                self.release(&key, &token).await;
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

    async fn complete(
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
            .complete_delivery(key, token, &entry, delivery_expires, log_expires)
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

    async fn release(&self, key: &DeliveryKey, token: &str) {
        if let Err(err) = self.store.release_delivery(key, token).await {
            // The lease runs out on its own; the retry then takes the delivery over.
            tracing::warn!(error = %err, "could not release the delivery claim");
        }
    }
}
