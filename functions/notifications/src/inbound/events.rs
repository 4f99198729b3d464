//! The event consumer as the shared SQS batch processor sees it: a [`EventHandler`] whose
//! failures are classified for retry (transient) or parking (the payload breaks the contract).

use clinic_shared::envelope::Envelope;
use clinic_shared::sqs_batch::{EventHandler, HandlerFailure};

use crate::app::Notifier;
use crate::domain::{EmailSender, NotificationStore, NotifyError, SmsSender};

/// Stable name of the consumer in dedup keys (`EVENT#notifications-sender#<eventId>`). Never
/// change it once deployed: every event would look new.
pub const CONSUMER: &str = "notifications-sender";

/// Hands each event of a batch to the [`Notifier`].
pub struct EventConsumer<S, E, M> {
    notifier: Notifier<S, E, M>,
}

impl<S, E, M> EventConsumer<S, E, M> {
    pub fn new(notifier: Notifier<S, E, M>) -> Self {
        Self { notifier }
    }

    pub fn notifier(&self) -> &Notifier<S, E, M> {
        &self.notifier
    }
}

impl<S: NotificationStore, E: EmailSender, M: SmsSender> EventHandler for EventConsumer<S, E, M> {
    fn consumer(&self) -> &str {
        CONSUMER
    }

    async fn handle(&self, event: &Envelope) -> Result<(), HandlerFailure> {
        self.notifier.handle(event).await.map_err(|err| match err {
            NotifyError::Retry(reason) => HandlerFailure::Retryable(reason),
            NotifyError::Refuse(reason) => HandlerFailure::NonRetryable(reason),
        })
    }
}
