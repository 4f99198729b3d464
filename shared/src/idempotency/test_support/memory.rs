//! The store port in memory, with the same conditions as the DynamoDB adapter: what this module's
//! tests run the decisions against.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::super::record::{
    Attempt, ClaimOutcome, IdempotencyRecord, IdempotencyStore, RecordId, RecordStatus, StoreError,
    StoredResponse,
};

/// [`IdempotencyStore`] in memory, with the same conditions as the DynamoDB one; for tests.
/// Clones share their records.
#[derive(Debug, Clone, Default)]
pub struct MemoryIdempotencyStore {
    records: Arc<Mutex<HashMap<RecordId, IdempotencyRecord>>>,
    unavailable: Arc<AtomicBool>,
}

impl MemoryIdempotencyStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The record under `id`, if any.
    pub fn get(&self, id: &RecordId) -> Option<IdempotencyRecord> {
        self.lock().get(id).cloned()
    }

    /// Stores `record` under `id` unconditionally (to set up a test).
    pub fn insert(&self, id: RecordId, record: IdempotencyRecord) {
        self.lock().insert(id, record);
    }

    /// Number of records held.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no record is held.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Makes every call fail with [`StoreError::Unavailable`] (or succeed again).
    pub fn set_unavailable(&self, unavailable: bool) {
        self.unavailable.store(unavailable, Ordering::SeqCst);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<RecordId, IdempotencyRecord>> {
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn check_available(&self) -> Result<(), StoreError> {
        if self.unavailable.load(Ordering::SeqCst) {
            Err(StoreError::Unavailable(
                "memory store switched off".to_string(),
            ))
        } else {
            Ok(())
        }
    }

    fn owned_by(record: Option<&IdempotencyRecord>, attempt: &Attempt) -> bool {
        record.is_some_and(|r| {
            r.status == RecordStatus::InProgress && r.attempt_id == attempt.attempt_id
        })
    }
}

impl IdempotencyStore for MemoryIdempotencyStore {
    async fn claim(&self, id: &RecordId, attempt: &Attempt) -> Result<ClaimOutcome, StoreError> {
        self.check_available()?;
        let mut records = self.lock();
        match records.get(id) {
            Some(existing) if !existing.is_replaceable(attempt.now_ms) => {
                Ok(ClaimOutcome::Existing(existing.clone()))
            }
            _ => {
                records.insert(id.clone(), attempt.in_progress_record());
                Ok(ClaimOutcome::Started)
            }
        }
    }

    async fn complete(
        &self,
        id: &RecordId,
        attempt: &Attempt,
        response: &StoredResponse,
    ) -> Result<(), StoreError> {
        self.check_available()?;
        let mut records = self.lock();
        if !Self::owned_by(records.get(id), attempt) {
            return Err(StoreError::NotOwner);
        }
        records.insert(id.clone(), attempt.completed_record(response));
        Ok(())
    }

    async fn release(&self, id: &RecordId, attempt: &Attempt) -> Result<(), StoreError> {
        self.check_available()?;
        let mut records = self.lock();
        if !Self::owned_by(records.get(id), attempt) {
            return Err(StoreError::NotOwner);
        }
        records.remove(id);
        Ok(())
    }
}
