//! Ports: what the use cases need from the outside world, one narrow trait per concern. The
//! DynamoDB and SQS adapters in `outbound` implement them; unit tests use in-memory fakes.
//!
//! Every exam write carries the exam's new `revision` and succeeds only if the stored revision is
//! the one before (or, for revision 1, if no exam exists): a conflicting concurrent change fails
//! with [`StoreError::Conflict`] on [`ConflictOn::Exam`] and the use case reads again.
//!
//! [`ConflictOn::Exam`]: super::error::ConflictOn::Exam

use std::future::Future;

use clinic_shared::envelope::{Envelope, ExamStatus};
use jiff::Timestamp;

use super::claim::{AccessCode, ExamClaim};
use super::error::{QueueError, StoreError};
use super::ingest::{Batch, IngestCommand, ItemState};
use super::model::{Exam, Hospital, Page, Slot, SlotSpec, Viewer};

/// Which open slots to list.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SlotQuery {
    pub hospital_id: Option<String>,
    pub exam_type: Option<String>,
    pub from: Timestamp,
    pub to: Timestamp,
}

/// Hospitals, their exam types and their slots.
pub trait CatalogueStore: Send + Sync {
    /// Hospitals ordered by name.
    ///
    /// # Errors
    /// `InvalidCursor`, `Unavailable`.
    fn list_hospitals(
        &self,
        limit: u16,
        cursor: Option<&str>,
    ) -> impl Future<Output = Result<Page<Hospital>, StoreError>> + Send;

    /// # Errors
    /// `Unavailable`.
    fn get_hospital(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<Hospital>, StoreError>> + Send;

    /// The hospital whose machine client this is.
    ///
    /// # Errors
    /// `Unavailable`.
    fn hospital_for_client(
        &self,
        client_id: &str,
    ) -> impl Future<Output = Result<Option<Hospital>, StoreError>> + Send;

    /// Creates or updates the slots and adds their exam types to the hospital's catalogue, all or
    /// nothing. A slot's capacity never drops below its bookings.
    ///
    /// # Errors
    /// `Conflict { on: Slot, index }` naming the slot whose bookings exceed the new capacity;
    /// `Unavailable`.
    fn publish_slots(
        &self,
        hospital: &Hospital,
        slots: &[SlotSpec],
    ) -> impl Future<Output = Result<Vec<Slot>, StoreError>> + Send;

    /// Slots starting in `[from, to)` with places left, by start time.
    ///
    /// # Errors
    /// `InvalidCursor`, `Unavailable`.
    fn list_open_slots(
        &self,
        query: &SlotQuery,
        limit: u16,
        cursor: Option<&str>,
    ) -> impl Future<Output = Result<Page<Slot>, StoreError>> + Send;

    /// # Errors
    /// `Unavailable`.
    fn get_slot(&self, id: &str) -> impl Future<Output = Result<Option<Slot>, StoreError>> + Send;
}

/// Exams, bookings and their events (written to the outbox in the same transaction).
pub trait ExamStore: Send + Sync {
    /// A consistent read.
    ///
    /// # Errors
    /// `Unavailable`, `Corrupt`.
    fn get_exam(&self, id: &str) -> impl Future<Output = Result<Option<Exam>, StoreError>> + Send;

    /// The exams `viewer` sees, newest scheduled first, optionally of one status.
    ///
    /// # Errors
    /// `InvalidCursor`, `Unavailable`.
    fn list_exams(
        &self,
        viewer: &Viewer,
        status: Option<ExamStatus>,
        limit: u16,
        cursor: Option<&str>,
    ) -> impl Future<Output = Result<Page<Exam>, StoreError>> + Send;

    /// Books a place: takes one of the slot's places only while `booked < capacity`, marks the
    /// patient as holding a place in the slot, creates the exam and appends its events — in one
    /// transaction, so concurrent bookings can never exceed the capacity.
    ///
    /// # Errors
    /// `Conflict { on: Slot }` when full or started; `Conflict { on: Booking }` when the patient
    /// already holds a place; `Unavailable`.
    fn book(
        &self,
        exam: &Exam,
        events: &[Envelope],
        now: Timestamp,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Cancels a booked exam (already `CANCELLED` in `exam`), frees its place and the marker of
    /// the patient who booked it, atomically.
    ///
    /// # Errors
    /// `Conflict { on: Exam }` on a concurrent change; `Unavailable`.
    fn cancel_booking(
        &self,
        exam: &Exam,
        booked_by: &str,
        events: &[Envelope],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Writes the exam (conditional on its revision) with its events.
    ///
    /// # Errors
    /// `Conflict { on: Exam }` on a concurrent change; `Unavailable`.
    fn save_exam(
        &self,
        exam: &Exam,
        events: &[Envelope],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Integration batches and the queue items are applied from.
pub trait BatchStore: Send + Sync {
    /// Stores a new batch with every item's first state.
    ///
    /// # Errors
    /// `Unavailable`.
    fn create_batch(&self, batch: &Batch) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// # Errors
    /// `Unavailable`, `Corrupt`.
    fn get_batch(&self, id: &str)
    -> impl Future<Output = Result<Option<Batch>, StoreError>> + Send;

    /// Moves an `ACCEPTED` item to a final state; `Ok(false)` when it already was in one.
    ///
    /// # Errors
    /// `Unavailable`.
    fn finish_item(
        &self,
        batch_id: &str,
        index: u32,
        state: ItemState,
        reason: Option<&str>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Writes an integration exam (conditional on its revision), finishes its batch item as
    /// `APPLIED` and appends the events, in one transaction. With `issued`, the exam's access
    /// code is recorded too and the batch item shows the code to the hospital.
    ///
    /// # Errors
    /// `Conflict { on: Exam }` on a concurrent change; `Conflict { on: BatchItem }` when the item
    /// was already finished (a redelivery); `Unavailable`.
    fn apply_item(
        &self,
        exam: &Exam,
        batch_id: &str,
        index: u32,
        events: &[Envelope],
        issued: Option<(&ExamClaim, &AccessCode)>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The claim records behind the access codes, and the limits on guessing them.
pub trait ClaimStore: Send + Sync {
    /// The claim record of a protocol (consistent read).
    ///
    /// # Errors
    /// `Unavailable`, `Corrupt`.
    fn get_claim(
        &self,
        protocol: &str,
    ) -> impl Future<Output = Result<Option<ExamClaim>, StoreError>> + Send;

    /// Failed claims of an account in the clock hour `hour` (`YYYY-MM-DDTHH`).
    ///
    /// # Errors
    /// `Unavailable`.
    fn claim_failures(
        &self,
        account_id: &str,
        hour: &str,
    ) -> impl Future<Output = Result<u32, StoreError>> + Send;

    /// Counts a failed claim: against the account's hour and, when the protocol exists, against
    /// the code itself (which locks after a few).
    ///
    /// # Errors
    /// `Unavailable`.
    fn record_failed_claim(
        &self,
        account_id: &str,
        hour: &str,
        protocol: Option<&str>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Links the exam (already carrying `account_id`, conditional on its revision) and uses up
    /// the code, with the events, in one transaction.
    ///
    /// # Errors
    /// `Conflict { on: Exam }` when the exam changed; `Conflict { on: Claim }` when the code was
    /// used or locked meanwhile; `Unavailable`.
    fn claim_exam(
        &self,
        protocol: &str,
        account_id: &str,
        exam: &Exam,
        events: &[Envelope],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Where accepted batch items wait to be applied.
pub trait IngestQueue: Send + Sync {
    /// Queues the commands; returns the batch indices of those that could not be queued.
    ///
    /// # Errors
    /// Only when nothing at all could be sent.
    fn enqueue(
        &self,
        commands: &[IngestCommand],
    ) -> impl Future<Output = Result<Vec<u32>, QueueError>> + Send;
}

/// What this service keeps of other services' data (fed by their events).
pub trait ProjectionStore: Send + Sync {
    /// Creates or updates a hospital and the mapping of its machine client, keeping its exam
    /// types.
    ///
    /// # Errors
    /// `Unavailable`.
    fn upsert_hospital(
        &self,
        hospital: &Hospital,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Records that the patient account `account_id` verified the address of `match_key`.
    ///
    /// # Errors
    /// `Unavailable`.
    fn register_patient(
        &self,
        account_id: &str,
        match_key: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The patient account registered for a match key (consistent read).
    ///
    /// # Errors
    /// `Unavailable`.
    fn account_for_match(
        &self,
        match_key: &str,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;

    /// The match key registered for a patient account.
    ///
    /// # Errors
    /// `Unavailable`.
    fn match_of_account(
        &self,
        account_id: &str,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;

    /// Exams waiting for the patient of this match key.
    ///
    /// # Errors
    /// `Unavailable`, `Corrupt`.
    fn exams_awaiting(
        &self,
        match_key: &str,
    ) -> impl Future<Output = Result<Vec<Exam>, StoreError>> + Send;

    /// Every exam linked to a patient account.
    ///
    /// # Errors
    /// `Unavailable`, `Corrupt`.
    fn exams_of_patient(
        &self,
        account_id: &str,
    ) -> impl Future<Output = Result<Vec<Exam>, StoreError>> + Send;

    /// Removes the match key ↔ account records and records that the account was erased here.
    ///
    /// # Errors
    /// `Unavailable`.
    fn forget_patient(
        &self,
        account_id: &str,
        match_key: Option<&str>,
        exams_anonymised: usize,
        at: Timestamp,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Whether the account was erased here.
    ///
    /// # Errors
    /// `Unavailable`.
    fn is_erased(&self, account_id: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Records a result file that could not move its exam to `RESULT_READY`.
    ///
    /// # Errors
    /// `Unavailable`.
    fn record_skipped_file(
        &self,
        exam_id: &str,
        file_id: &str,
        reason: &str,
        at: Timestamp,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}
