//! Booking a place in a slot and cancelling it.

use super::*;

impl<S, Q> ExamResults<S, Q>
where
    S: CatalogueStore + ExamStore + BatchStore + ClaimStore + ProjectionStore,
    Q: IngestQueue,
{
    /// Books a place in a slot for the calling patient. Never more bookings than places: the
    /// store takes the place with a conditional write in the same transaction that creates the
    /// exam.
    ///
    /// # Errors
    /// `Forbidden`, `NotFound` (slot), `SlotClosed`, `SlotFull`, `AlreadyBooked`, `Unavailable`.
    #[tracing::instrument(skip_all, fields(slot_id = %slot_id))]
    pub async fn book(
        &self,
        caller: &Caller,
        slot_id: &Id,
        trace: &str,
    ) -> Result<Exam, ExamsError> {
        authorize(caller, Operation::Book)?;
        self.ensure_not_erased(caller).await?;
        let slot = self
            .store
            .get_slot(slot_id.as_str())
            .await?
            .ok_or(ExamsError::NotFound("Slot"))?;
        let now = self.clock.now();
        if !slot.is_open(now) {
            return Err(ExamsError::SlotClosed);
        }
        if slot.remaining() == 0 {
            return Err(ExamsError::SlotFull);
        }
        let exam = Exam {
            id: Ulid::new().to_string(),
            origin: ExamOrigin::Booking,
            hospital_id: slot.hospital_id.clone(),
            hospital_name: slot.hospital_name.clone(),
            exam_type: slot.exam_type.clone(),
            scheduled_at: slot.start,
            status: ExamStatus::Scheduled,
            patient_id: Some(caller.id.clone()),
            patient_cpf: None,
            patient_match: None,
            doctor_id: None,
            doctor_crm: None,
            slot_id: Some(slot.id.clone()),
            external_id: None,
            version: None,
            result_file_id: None,
            anonymised_at: None,
            created_at: now,
            updated_at: now,
            revision: 1,
        };
        let events = [exam.created_event(trace)];
        match self.store.book(&exam, &events, now).await {
            Ok(()) => {
                self.slots_cache.clear();
                tracing::info!(exam_id = %exam.id, "exam booked");
                clinic_shared::metrics::count(SERVICE, "ExamsBooked", None);
                Ok(exam)
            }
            Err(StoreError::Conflict {
                on: ConflictOn::Slot,
                ..
            }) => {
                let closed = self
                    .store
                    .get_slot(&slot.id)
                    .await?
                    .is_none_or(|s| !s.is_open(self.clock.now()));
                Err(if closed {
                    ExamsError::SlotClosed
                } else {
                    ExamsError::SlotFull
                })
            }
            Err(StoreError::Conflict {
                on: ConflictOn::Booking,
                ..
            }) => Err(ExamsError::AlreadyBooked),
            Err(other) => Err(other.into()),
        }
    }

    /// Cancels the calling patient's appointment before it starts and frees its place.
    ///
    /// # Errors
    /// `Forbidden`, `NotFound`, `NotAnAppointment`, `InvalidTransition`, `TooLateToCancel`,
    /// `Unavailable`.
    #[tracing::instrument(skip_all, fields(exam_id = %exam_id))]
    pub async fn cancel(
        &self,
        caller: &Caller,
        exam_id: &str,
        trace: &str,
    ) -> Result<(), ExamsError> {
        caller
            .require(&[Role::Patient])
            .map_err(|_| ExamsError::Forbidden("only the patient cancels an appointment"))?;
        self.ensure_not_erased(caller).await?;
        let viewer = Viewer::Patient(caller.id.clone());
        for _ in 0..WRITE_ATTEMPTS {
            let exam = self.visible_exam(&viewer, exam_id).await?;
            if exam.slot_id.is_none() {
                return Err(ExamsError::NotAnAppointment);
            }
            let status = next_status(exam.status, Action::Cancel)
                .map_err(|e| ExamsError::InvalidTransition { current: e.current })?;
            let now = self.clock.now();
            if exam.scheduled_at <= now {
                return Err(ExamsError::TooLateToCancel);
            }
            let cancelled = Exam {
                status,
                updated_at: now,
                revision: exam.revision + 1,
                ..exam.clone()
            };
            let events = [cancelled.updated_event(exam.status, trace)];
            let written = self
                .store
                .cancel_booking(&cancelled, &caller.id, &events)
                .await;
            if went_through(written)? {
                self.slots_cache.clear();
                tracing::info!(exam_id = %exam.id, "appointment cancelled");
                return Ok(());
            }
        }
        Err(ExamsError::Unavailable(
            "the exam kept changing while cancelling".into(),
        ))
    }
}
