//! Use cases of the exam results service. Each receives parsed values and the verified caller,
//! decides who may do what (role → 403, someone else's exam → 404), and talks to the ports only.
//!
//! - [`ExamResults`]: the HTTP API (catalogue, slots, bookings, exams, integration batches);
//! - [`projections::Projections`]: what the events consumer does with other services' events;
//! - [`ingest::IngestWorker`]: applies queued batch items to exams.

pub mod access;
pub mod cache;
pub mod ingest;
pub mod projections;
#[cfg(test)]
mod tests;

use std::time::Duration;

use clinic_shared::auth::Caller;
use clinic_shared::clock::{self, SharedClock};
use clinic_shared::envelope::{ExamStatus, Role};
use clinic_shared::problem::FieldError;
use jiff::Timestamp;
use serde_json::Value;
use ulid::Ulid;

use self::access::{Operation, authorize};
use self::cache::TtlCache;
use crate::domain::claim::{AccessCode, CLAIM_FAILURES_PER_HOUR, ClaimCheck};
use crate::domain::ingest::{
    Batch, BatchItem, IngestCommand, ItemState, MAX_ITEMS, RejectedItem, parse_item,
};
use crate::domain::values::Id;
use crate::domain::{
    Action, BatchStore, CatalogueStore, ClaimStore, ConflictOn, Exam, ExamOrigin, ExamStore,
    ExamsError, Hospital, IngestQueue, Page, ProjectionStore, Slot, SlotQuery, SlotSpec,
    StoreError, Viewer, can_assign, next_status,
};

/// The service's name in metrics.
pub(crate) const SERVICE: &str = "exam-results";

/// How many times a write that lost a race with a concurrent change is decided again.
pub(crate) const WRITE_ATTEMPTS: usize = 5;

/// Whether a write of an exam went through (`true`) or lost the race with a concurrent change
/// of the exam (`false`: read it again and decide anew, up to [`WRITE_ATTEMPTS`] times).
///
/// # Errors
/// Any other store failure, as the use case's error.
pub(crate) fn went_through(written: Result<(), StoreError>) -> Result<bool, ExamsError> {
    match written {
        Ok(()) => Ok(true),
        Err(StoreError::Conflict {
            on: ConflictOn::Exam,
            ..
        }) => Ok(false),
        Err(other) => Err(other.into()),
    }
}

/// Settings of the in-function catalogue cache.
#[derive(Debug, Clone, Copy)]
pub struct CacheSettings {
    pub ttl: Duration,
    pub entries: usize,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(5),
            entries: 256,
        }
    }
}

type SlotsKey = (SlotQuery, u16, Option<String>);
type HospitalsKey = (u16, Option<String>);

/// The exam results API over its store and the ingest queue.
pub struct ExamResults<S, Q> {
    store: S,
    queue: Q,
    slots_cache: TtlCache<SlotsKey, Page<Slot>>,
    hospitals_cache: TtlCache<HospitalsKey, Page<Hospital>>,
    clock: SharedClock,
}

clinic_shared::impl_with_clock!(ExamResults<S, Q>);

/// The clock hour (UTC) failed claims are counted in, e.g. `2026-03-01T12`.
fn hour_key(now: Timestamp) -> String {
    let utc = now.to_zoned(jiff::tz::TimeZone::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}",
        utc.year(),
        utc.month(),
        utc.day(),
        utc.hour()
    )
}

/// Seconds until the next clock hour, when the failure count starts again.
fn seconds_to_next_hour(now: Timestamp) -> u32 {
    let into_hour = now.as_second().rem_euclid(3600);
    u32::try_from(3600 - into_hour).unwrap_or(3600)
}

/// What a batch submission answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchReceipt {
    pub batch_id: String,
    pub accepted: usize,
    pub rejected: usize,
}

impl<S, Q> ExamResults<S, Q>
where
    S: CatalogueStore + ExamStore + BatchStore + ClaimStore + ProjectionStore,
    Q: IngestQueue,
{
    pub fn new(store: S, queue: Q, cache: CacheSettings) -> Self {
        Self {
            store,
            queue,
            slots_cache: TtlCache::new(cache.entries, cache.ttl),
            hospitals_cache: TtlCache::new(cache.entries, cache.ttl),
            clock: clock::system(),
        }
    }

    /// The time the service acts on; the HTTP edge reads "now" here too.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The hospital a hospital caller's machine client belongs to.
    ///
    /// # Errors
    /// `Forbidden` when the client is no registered hospital; `Unavailable`.
    pub async fn hospital_of(&self, caller: &Caller) -> Result<Hospital, ExamsError> {
        self.store
            .hospital_for_client(&caller.id)
            .await?
            .ok_or(ExamsError::Forbidden(
                "this client is not a registered hospital",
            ))
    }

    /// Refuses a person whose account was erased (an access token outlives the erasure by up to
    /// its lifetime): every route that changes something checks it.
    async fn ensure_not_erased(&self, caller: &Caller) -> Result<(), ExamsError> {
        if caller.role != Role::Hospital && self.store.is_erased(&caller.id).await? {
            return Err(ExamsError::AccountErased);
        }
        Ok(())
    }

    /// Whose exams the caller sees.
    async fn viewer(&self, caller: &Caller) -> Result<Viewer, ExamsError> {
        Ok(match caller.role {
            Role::Patient => Viewer::Patient(caller.id.clone()),
            Role::Doctor => Viewer::Doctor(caller.id.clone()),
            Role::Staff => Viewer::Staff,
            Role::Hospital => Viewer::Hospital(self.hospital_of(caller).await?.id),
        })
    }

    // --- catalogue --------------------------------------------------------------------------

    /// Hospitals with the exam types each offers (cached for a few seconds).
    ///
    /// # Errors
    /// `InvalidCursor`, `Unavailable`.
    #[tracing::instrument(skip_all)]
    pub async fn list_hospitals(
        &self,
        limit: u16,
        cursor: Option<String>,
    ) -> Result<Page<Hospital>, ExamsError> {
        let key = (limit, cursor);
        if let Some(page) = self.hospitals_cache.get(&key) {
            return Ok(page);
        }
        let page = self.store.list_hospitals(limit, key.1.as_deref()).await?;
        self.hospitals_cache.put(key, page.clone());
        Ok(page)
    }

    /// Publishes availability: creates or updates the slots and registers their exam types in
    /// the hospital's catalogue. Staff for any hospital; a hospital for itself.
    ///
    /// # Errors
    /// `Forbidden`, `NotFound`, `CapacityBelowBooked`, `Unavailable`.
    #[tracing::instrument(skip_all, fields(hospital_id = %hospital_id))]
    pub async fn publish_slots(
        &self,
        caller: &Caller,
        hospital_id: &str,
        slots: Vec<SlotSpec>,
    ) -> Result<Vec<Slot>, ExamsError> {
        authorize(caller, Operation::PublishSlots)?;
        self.ensure_not_erased(caller).await?;
        let own = match caller.role {
            Role::Hospital => Some(self.hospital_of(caller).await?),
            _ => None,
        };
        let hospital = match Id::parse(hospital_id) {
            Ok(id) => self.store.get_hospital(id.as_str()).await?,
            Err(_) => None,
        }
        .ok_or(ExamsError::NotFound("Hospital"))?;
        if own.is_some_and(|own| own.id != hospital.id) {
            return Err(ExamsError::Forbidden(
                "a hospital publishes only its own slots",
            ));
        }
        match self.store.publish_slots(&hospital, &slots).await {
            Ok(published) => {
                self.slots_cache.clear();
                self.hospitals_cache.clear();
                tracing::info!(slots = published.len(), "slots published");
                Ok(published)
            }
            Err(StoreError::Conflict {
                on: ConflictOn::Slot,
                index: Some(index),
            }) => {
                let booked = match slots.get(index) {
                    Some(spec) => self
                        .store
                        .get_slot(&Slot::id_for(&hospital.id, &spec.exam_type, spec.start))
                        .await?
                        .map_or(0, |s| s.booked),
                    None => 0,
                };
                Err(ExamsError::CapacityBelowBooked { booked, index })
            }
            Err(other) => Err(other.into()),
        }
    }

    /// Open slots with places left (cached for a few seconds).
    ///
    /// # Errors
    /// `InvalidCursor`, `Unavailable`.
    #[tracing::instrument(skip_all)]
    pub async fn list_slots(
        &self,
        query: SlotQuery,
        limit: u16,
        cursor: Option<String>,
    ) -> Result<Page<Slot>, ExamsError> {
        let key = (query, limit, cursor);
        if let Some(page) = self.slots_cache.get(&key) {
            return Ok(page);
        }
        let page = self
            .store
            .list_open_slots(&key.0, limit, key.2.as_deref())
            .await?;
        self.slots_cache.put(key, page.clone());
        Ok(page)
    }

    // --- bookings ---------------------------------------------------------------------------

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

    // --- exams ------------------------------------------------------------------------------

    /// The caller's exams (own, assigned, the hospital's, or all for staff), newest first.
    ///
    /// # Errors
    /// `Forbidden` (unregistered hospital client), `InvalidCursor`, `Unavailable`.
    #[tracing::instrument(skip_all)]
    pub async fn list_exams(
        &self,
        caller: &Caller,
        status: Option<ExamStatus>,
        limit: u16,
        cursor: Option<&str>,
    ) -> Result<Page<Exam>, ExamsError> {
        let viewer = self.viewer(caller).await?;
        Ok(self
            .store
            .list_exams(&viewer, status, limit, cursor)
            .await?)
    }

    /// One exam the caller may see; someone else's is `NotFound`.
    ///
    /// # Errors
    /// `NotFound`, `Forbidden` (unregistered hospital client), `Unavailable`.
    #[tracing::instrument(skip_all, fields(exam_id = %exam_id))]
    pub async fn get_exam(&self, caller: &Caller, exam_id: &str) -> Result<Exam, ExamsError> {
        let viewer = self.viewer(caller).await?;
        self.visible_exam(&viewer, exam_id).await
    }

    async fn visible_exam(&self, viewer: &Viewer, exam_id: &str) -> Result<Exam, ExamsError> {
        let Ok(id) = Id::parse(exam_id) else {
            return Err(ExamsError::NotFound("Exam"));
        };
        self.store
            .get_exam(id.as_str())
            .await?
            .filter(|exam| exam.visible_to(viewer))
            .ok_or(ExamsError::NotFound("Exam"))
    }

    /// Assigns (or reassigns) the doctor of an exam not yet completed. Staff for any exam, a
    /// hospital for its own.
    ///
    /// # Errors
    /// `Forbidden`, `NotFound`, `InvalidTransition`, `Unavailable`.
    #[tracing::instrument(skip_all, fields(exam_id = %exam_id))]
    pub async fn assign(
        &self,
        caller: &Caller,
        exam_id: &str,
        doctor_id: &Id,
        trace: &str,
    ) -> Result<Exam, ExamsError> {
        authorize(caller, Operation::Assign)?;
        let viewer = self.viewer(caller).await?;
        self.ensure_not_erased(caller).await?;
        for _ in 0..WRITE_ATTEMPTS {
            let exam = self.visible_exam(&viewer, exam_id).await?;
            if !can_assign(exam.status) {
                return Err(ExamsError::InvalidTransition {
                    current: exam.status,
                });
            }
            if exam.doctor_id.as_deref() == Some(doctor_id.as_str()) {
                return Ok(exam);
            }
            let assigned = Exam {
                doctor_id: Some(doctor_id.as_str().to_string()),
                updated_at: self.clock.now(),
                revision: exam.revision + 1,
                ..exam.clone()
            };
            let events = [assigned.updated_event(exam.status, trace)];
            if went_through(self.store.save_exam(&assigned, &events).await)? {
                tracing::info!(exam_id = %exam.id, "doctor assigned");
                return Ok(assigned);
            }
        }
        Err(ExamsError::Unavailable(
            "the exam kept changing while assigning".into(),
        ))
    }

    /// Moves an exam one step along its lifecycle (`Collect` or `Complete`). Collecting: staff,
    /// the hospital or the assigned doctor; completing: the hospital or the assigned doctor.
    ///
    /// # Errors
    /// `Forbidden`, `NotFound`, `InvalidTransition`, `Unavailable`.
    #[tracing::instrument(skip_all, fields(exam_id = %exam_id, action = ?action))]
    pub async fn advance(
        &self,
        caller: &Caller,
        exam_id: &str,
        action: Action,
        trace: &str,
    ) -> Result<Exam, ExamsError> {
        let allowed: &[Role] = match action {
            Action::Collect => &[Role::Staff, Role::Hospital, Role::Doctor],
            Action::Complete => &[Role::Hospital, Role::Doctor],
            Action::Cancel | Action::ResultReady => &[],
        };
        if !allowed.contains(&caller.role) {
            return Err(ExamsError::Forbidden(
                "your role may not take this step of the exam",
            ));
        }
        self.ensure_not_erased(caller).await?;
        let viewer = self.viewer(caller).await?;
        for _ in 0..WRITE_ATTEMPTS {
            let exam = self.visible_exam(&viewer, exam_id).await?;
            let status = next_status(exam.status, action)
                .map_err(|e| ExamsError::InvalidTransition { current: e.current })?;
            let moved = Exam {
                status,
                updated_at: self.clock.now(),
                revision: exam.revision + 1,
                ..exam.clone()
            };
            let events = [moved.status_change_event(exam.status, trace)];
            if went_through(self.store.save_exam(&moved, &events).await)? {
                tracing::info!(exam_id = %exam.id, status = ?status, "exam advanced");
                return Ok(moved);
            }
        }
        Err(ExamsError::Unavailable(
            "the exam kept changing while advancing it".into(),
        ))
    }

    /// Links a hospital's exam to the calling patient with the access code printed on the
    /// receipt. Every kind of failure is the same answer; failures count against the account
    /// (a few per hour) and wrong secrets against the code (which locks after a few). Claiming
    /// again with the same code answers as the first time.
    ///
    /// # Errors
    /// `Forbidden` (not a patient), `AccountErased`, `TooManyClaims`, `AccessCodeInvalid`,
    /// `Unavailable`.
    #[tracing::instrument(skip_all, fields(protocol = %code.protocol()))]
    pub async fn claim(
        &self,
        caller: &Caller,
        code: &AccessCode,
        trace: &str,
    ) -> Result<Exam, ExamsError> {
        caller
            .require(&[Role::Patient])
            .map_err(|_| ExamsError::Forbidden("only patients claim exams"))?;
        self.ensure_not_erased(caller).await?;
        let now = self.clock.now();
        let hour = hour_key(now);
        if self.store.claim_failures(&caller.id, &hour).await? >= CLAIM_FAILURES_PER_HOUR {
            return Err(ExamsError::TooManyClaims {
                retry_after: seconds_to_next_hour(now),
            });
        }
        for _ in 0..WRITE_ATTEMPTS {
            let claim = self.store.get_claim(code.protocol()).await?;
            let check = claim.as_ref().map(|c| c.check(code, &caller.id, now));
            let claim = match (claim, check) {
                (Some(claim), Some(ClaimCheck::Valid)) => claim,
                (Some(claim), Some(ClaimCheck::AlreadyYours)) => {
                    let viewer = Viewer::Patient(caller.id.clone());
                    return self
                        .visible_exam(&viewer, &claim.exam_id)
                        .await
                        .map_err(|_| ExamsError::AccessCodeInvalid);
                }
                (_, check) => {
                    let wrong_secret = check == Some(ClaimCheck::WrongSecret);
                    self.store
                        .record_failed_claim(
                            &caller.id,
                            &hour,
                            wrong_secret.then(|| code.protocol()),
                        )
                        .await?;
                    tracing::info!(outcome = ?check, "access code refused");
                    return Err(ExamsError::AccessCodeInvalid);
                }
            };
            let Some(exam) = self
                .store
                .get_exam(&claim.exam_id)
                .await?
                .filter(Exam::awaits_patient)
            else {
                // Linked by a verified address meanwhile, or erased: nothing left to claim.
                return Err(ExamsError::AccessCodeInvalid);
            };
            let linked = Exam {
                patient_id: Some(caller.id.clone()),
                updated_at: self.clock.now(),
                revision: exam.revision + 1,
                ..exam.clone()
            };
            let events = [linked.updated_event(exam.status, trace)];
            match self
                .store
                .claim_exam(&claim.protocol, &caller.id, &linked, &events)
                .await
            {
                Ok(()) => {
                    tracing::info!(exam_id = %linked.id, "exam claimed with its access code");
                    clinic_shared::metrics::count(SERVICE, "ExamsClaimed", None);
                    return Ok(linked);
                }
                Err(StoreError::Conflict {
                    on: ConflictOn::Exam | ConflictOn::Claim,
                    ..
                }) => continue,
                Err(other) => return Err(other.into()),
            }
        }
        Err(ExamsError::Unavailable(
            "the exam kept changing while claiming it".into(),
        ))
    }

    // --- integration ------------------------------------------------------------------------

    /// Accepts a hospital's batch: validates every item, stores the batch with each item
    /// `ACCEPTED` or `REJECTED` (with its reason), and queues the accepted ones to be applied.
    /// Items that could not be queued are marked `REJECTED` so the hospital sends them again.
    ///
    /// # Errors
    /// `Forbidden`, `PayloadTooLarge` (over 500 items), `Validation` (no items), `Unavailable`
    /// (nothing could be queued).
    #[tracing::instrument(skip_all)]
    pub async fn submit_batch(
        &self,
        caller: &Caller,
        items: Vec<Value>,
        trace: &str,
    ) -> Result<BatchReceipt, ExamsError> {
        authorize(caller, Operation::SubmitBatch)?;
        if items.len() > MAX_ITEMS {
            return Err(ExamsError::PayloadTooLarge(format!(
                "A batch holds at most {MAX_ITEMS} items; this one has {}.",
                items.len()
            )));
        }
        if items.is_empty() {
            return Err(ExamsError::Validation(vec![FieldError::new(
                "items",
                "items must hold 1 to 500 exams.",
            )]));
        }
        let hospital = self.hospital_of(caller).await?;
        let batch_id = Ulid::new().to_string();
        let mut records = Vec::with_capacity(items.len());
        let mut commands = Vec::new();
        for (index, raw) in items.iter().enumerate() {
            let index = u32::try_from(index).unwrap_or(u32::MAX);
            match parse_item(raw) {
                Ok(item) => {
                    records.push(BatchItem {
                        index,
                        external_id: Some(item.external_id.as_str().to_string()),
                        version: Some(item.version.get()),
                        state: ItemState::Accepted,
                        reason: None,
                        access_code: None,
                    });
                    commands.push(IngestCommand {
                        batch_id: batch_id.clone(),
                        hospital_id: hospital.id.clone(),
                        index,
                        item,
                        trace: trace.to_string(),
                    });
                }
                Err(RejectedItem {
                    external_id,
                    version,
                    reason,
                }) => records.push(BatchItem {
                    index,
                    external_id,
                    version,
                    state: ItemState::Rejected,
                    reason: Some(reason),
                    access_code: None,
                }),
            }
        }
        let batch = Batch {
            id: batch_id.clone(),
            hospital_id: hospital.id.clone(),
            created_at: self.clock.now(),
            items: records,
        };
        self.store.create_batch(&batch).await?;
        let accepted = commands.len();
        let rejected = batch.items.len() - accepted;
        if !commands.is_empty() {
            let failed = match self.queue.enqueue(&commands).await {
                Ok(failed) => failed,
                Err(err) => {
                    tracing::error!(batch_id = %batch_id, error = %err, "batch could not be queued");
                    commands.iter().map(|c| c.index).collect()
                }
            };
            for index in &failed {
                self.store
                    .finish_item(
                        &batch_id,
                        *index,
                        ItemState::Rejected,
                        Some("The item could not be queued; send it again."),
                    )
                    .await?;
            }
            if failed.len() == accepted {
                return Err(ExamsError::Unavailable(
                    "the ingest queue refused the batch".into(),
                ));
            }
            tracing::info!(
                batch_id = %batch_id,
                hospital_id = %hospital.id,
                accepted = accepted - failed.len(),
                rejected = rejected + failed.len(),
                "batch accepted"
            );
            return Ok(BatchReceipt {
                batch_id,
                accepted: accepted - failed.len(),
                rejected: rejected + failed.len(),
            });
        }
        tracing::info!(batch_id = %batch_id, hospital_id = %hospital.id, rejected, "batch accepted");
        Ok(BatchReceipt {
            batch_id,
            accepted,
            rejected,
        })
    }

    /// A batch of the calling hospital with each item's state.
    ///
    /// # Errors
    /// `Forbidden`, `NotFound` (also for another hospital's batch), `Unavailable`.
    #[tracing::instrument(skip_all, fields(batch_id = %batch_id))]
    pub async fn get_batch(&self, caller: &Caller, batch_id: &str) -> Result<Batch, ExamsError> {
        caller
            .require(&[Role::Hospital])
            .map_err(|_| ExamsError::Forbidden("only the hospital that sent it reads a batch"))?;
        let hospital = self.hospital_of(caller).await?;
        let Ok(id) = Id::parse(batch_id) else {
            return Err(ExamsError::NotFound("Batch"));
        };
        self.store
            .get_batch(id.as_str())
            .await?
            .filter(|b| b.hospital_id == hospital.id)
            .ok_or(ExamsError::NotFound("Batch"))
    }
}
