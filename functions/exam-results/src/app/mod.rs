//! Use cases of the exam results service. Each receives parsed values and the verified caller,
//! decides who may do what (role → 403, someone else's exam → 404), and talks to the ports only.
//!
//! - [`ExamResults`]: the HTTP API (catalogue, slots, bookings, exams, integration batches);
//! - [`projections::Projections`]: what the events consumer does with other services' events;
//! - [`ingest::IngestWorker`]: applies queued batch items to exams.

pub mod access;
mod bookings;
pub mod cache;
mod catalogue;
mod exams;
pub mod ingest;
mod integration;
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
}
