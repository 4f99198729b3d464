//! The projection consumer's use cases: keep exam views and hospital clients current, and erase
//! a deleted account (LGPD): a tombstone for every role, and for a patient every file, recording
//! that it did.
//!
//! An erased patient is never linked to an exam again: every exam write first looks for the
//! patient's tombstone and drops the link when there is one, whatever the event's age (a late
//! `exam.updated`, a redelivered `exam.created`). The erasure writes its tombstone before it
//! looks for the patient's exams, and an exam write looks for the tombstone again after it wrote,
//! so an exam written while an erasure runs is unlinked by one of the two.

use clinic_shared::clock::{self, SharedClock};
use clinic_shared::envelope::Role;

use crate::domain::{
    AccessAction, AccessEntry, Bucket, Erasures, ExamView, FileStatus, Files, FilesError,
    ObjectStorage, Projection,
};

/// The projection use cases over the table and the buckets.
pub struct ProjectionApp<S, O> {
    store: S,
    storage: O,
    clock: SharedClock,
}

clinic_shared::impl_with_clock!(ProjectionApp<S, O>);

impl<S: Projection + Files + Erasures, O: ObjectStorage> ProjectionApp<S, O> {
    pub fn new(store: S, storage: O) -> Self {
        Self {
            store,
            storage,
            clock: clock::system(),
        }
    }

    /// Applies an exam view unless a newer one is stored; an erased patient is left out.
    ///
    /// # Errors
    /// `Unavailable`.
    #[tracing::instrument(skip_all, fields(exam_id = %exam.exam_id))]
    pub async fn apply_exam(&self, exam: &ExamView) -> Result<bool, FilesError> {
        let mut exam = exam.clone();
        if let Some(patient) = &exam.patient_id
            && self.store.is_erased(patient).await?
        {
            exam.patient_id = None;
            exam.patient_erased = true;
        }
        let applied = self.store.upsert_exam(&exam).await?;
        if applied
            && let Some(patient) = &exam.patient_id
            && self.store.is_erased(patient).await?
        {
            // The patient's erasure began while this view was written.
            self.store.unlink_patient(&exam.exam_id).await?;
        }
        tracing::info!(applied, patient_erased = exam.patient_erased, "exam view");
        Ok(applied)
    }

    /// Remembers which hospital a machine client belongs to.
    ///
    /// # Errors
    /// `Unavailable`.
    pub async fn register_hospital(
        &self,
        client_id: &str,
        hospital_id: &str,
    ) -> Result<(), FilesError> {
        self.store
            .put_hospital_client(client_id, hospital_id)
            .await?;
        tracing::info!(hospital_id, "hospital client mapped");
        Ok(())
    }

    /// Erases an account: its tombstone first (from then on every route refuses the account and
    /// no exam links it), then, for a patient, every file of their exams. Returns the number of
    /// files erased. Running it again finishes what a failed run left.
    ///
    /// # Errors
    /// `Unavailable`.
    #[tracing::instrument(skip_all, fields(account_id = %account_id, role = role.as_str()))]
    pub async fn erase_account(
        &self,
        account_id: &str,
        role: Role,
        event_id: &str,
    ) -> Result<usize, FilesError> {
        self.store
            .begin_erasure(account_id, role, self.clock.now())
            .await?;
        let erased = if role == Role::Patient {
            self.erase_patient_files(account_id, event_id).await?
        } else {
            0
        };
        self.store
            .finish_erasure(account_id, erased, self.clock.now())
            .await?;
        tracing::info!(files = erased, "account erased");
        Ok(erased)
    }

    /// Erases every file of a patient's exams (every stored version), writes an `ERASED` entry
    /// per file (under the exam's `ERASED#` partition, which only this function writes), marks
    /// the records erased and unlinks the patient from the exams.
    async fn erase_patient_files(
        &self,
        account_id: &str,
        event_id: &str,
    ) -> Result<usize, FilesError> {
        let mut erased = 0;
        for exam_id in self.store.exams_of_patient(account_id).await? {
            let mut cursor: Option<String> = None;
            loop {
                let page = self
                    .store
                    .files_of_exam(&exam_id, 200, cursor.as_deref())
                    .await?;
                for file in page.items {
                    if file.status == FileStatus::Erased {
                        continue;
                    }
                    self.storage
                        .erase(Bucket::Uploads, &file.upload_key)
                        .await?;
                    if let Some(key) = &file.result_key {
                        self.storage.erase(Bucket::Results, key).await?;
                    }
                    let now = self.clock.now();
                    // Keyed by the file: a repeated erasure does not write it twice.
                    self.store
                        .record_erased_file(&AccessEntry {
                            entry_id: file.file_id.clone(),
                            exam_id: exam_id.clone(),
                            file_id: file.file_id.clone(),
                            action: AccessAction::Erased,
                            actor_id: "system".into(),
                            actor_role: Role::Staff,
                            at: now,
                            request_id: event_id.to_string(),
                        })
                        .await?;
                    self.store.mark_erased(&file.file_id, now).await?;
                    erased += 1;
                }
                match page.next_cursor {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            self.store.unlink_patient(&exam_id).await?;
        }
        Ok(erased)
    }
}
