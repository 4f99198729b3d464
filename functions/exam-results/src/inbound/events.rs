//! The events consumer: `hospital.registered`, `patient.registered` and `account.deleted` from
//! the accounts topic, `file.processed` from the file topic, all through the shared SQS batch
//! helper (deduplication on the envelope id, partial batch failures, backoff, parking).

use clinic_shared::envelope::{
    AccountDeleted, Envelope, EventType, FileProcessed, HospitalRegistered, PatientRegistered,
};
use clinic_shared::sqs_batch::{EventHandler, HandlerFailure};

use crate::app::projections::Projections;
use crate::domain::{ExamStore, ExamsError, ProjectionStore};

/// Stable consumer name (part of every dedup key: never change it once deployed).
pub const CONSUMER: &str = "exam-results-events";

/// Routes each event to its use case.
pub struct EventsHandler<S> {
    projections: Projections<S>,
}

impl<S: ProjectionStore + ExamStore> EventsHandler<S> {
    pub fn new(store: S) -> Self {
        Self {
            projections: Projections::new(store),
        }
    }
}

/// A dependency failing is worth retrying; bad data never is. Reasons name fields, never values.
pub fn failure(err: ExamsError) -> HandlerFailure {
    match err {
        ExamsError::Unavailable(reason) => HandlerFailure::Retryable(reason),
        ExamsError::Internal(reason) => HandlerFailure::Retryable(reason),
        ExamsError::Validation(errors) => HandlerFailure::NonRetryable(format!(
            "invalid event data: {}",
            errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; ")
        )),
        other => HandlerFailure::NonRetryable(other.to_string()),
    }
}

impl<S: ProjectionStore + ExamStore> EventHandler for EventsHandler<S> {
    fn consumer(&self) -> &str {
        CONSUMER
    }

    async fn handle(&self, event: &Envelope) -> Result<(), HandlerFailure> {
        let p = &self.projections;
        let result = match event.event_type {
            EventType::HospitalRegistered => {
                p.hospital_registered(&event.data_as::<HospitalRegistered>()?)
                    .await
            }
            EventType::PatientRegistered => p
                .patient_registered(&event.data_as::<PatientRegistered>()?, &event.trace)
                .await
                .map(drop),
            EventType::AccountDeleted => p
                .account_deleted(&event.data_as::<AccountDeleted>()?, &event.trace)
                .await
                .map(drop),
            EventType::FileProcessed => p
                .file_processed(&event.data_as::<FileProcessed>()?, &event.trace)
                .await
                .map(drop),
            other => {
                return Err(HandlerFailure::NonRetryable(format!(
                    "{other} is not consumed by {CONSUMER} (check the subscription filter)"
                )));
            }
        };
        result.map_err(failure)
    }
}
