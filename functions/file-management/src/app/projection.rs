//! The projection consumer's use cases: keep exam views and hospital clients current, and erase
//! a deleted patient's files (LGPD), recording that it did.

use clinic_shared::envelope::Role;
use jiff::Timestamp;

use crate::domain::{
    AccessAction, AccessEntry, AuditTrail, Bucket, ExamView, FileStatus, Files, FilesError,
    ObjectStorage, Projection,
};

/// The projection use cases over the table and the buckets.
pub struct ProjectionApp<S, O> {
    store: S,
    storage: O,
}

impl<S: Projection + Files + AuditTrail, O: ObjectStorage> ProjectionApp<S, O> {
    pub fn new(store: S, storage: O) -> Self {
        Self { store, storage }
    }

    /// Applies an exam view unless a newer one is stored.
    ///
    /// # Errors
    /// `Unavailable`.
    #[tracing::instrument(skip_all, fields(exam_id = %exam.exam_id))]
    pub async fn apply_exam(&self, exam: &ExamView) -> Result<bool, FilesError> {
        let applied = self.store.upsert_exam(exam).await?;
        tracing::info!(applied, "exam view");
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

    /// Erases every file of a patient's exams (every stored version), marks the records erased,
    /// writes an `ERASED` entry per file to the audit trail and records the erasure. Running it
    /// again finishes what a failed run left.
    ///
    /// # Errors
    /// `Unavailable`.
    #[tracing::instrument(skip_all, fields(account_id = %account_id))]
    pub async fn erase_patient(
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
                    let now = Timestamp::now();
                    self.store.mark_erased(&file.file_id, now).await?;
                    self.store
                        .append(&AccessEntry {
                            exam_id: exam_id.clone(),
                            file_id: file.file_id.clone(),
                            action: AccessAction::Erased,
                            actor_id: "system".into(),
                            actor_role: Role::Staff,
                            at: now,
                            request_id: event_id.to_string(),
                        })
                        .await?;
                    erased += 1;
                }
                match page.next_cursor {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            self.store.unlink_patient(&exam_id).await?;
        }
        self.store
            .record_erasure(account_id, erased, Timestamp::now())
            .await?;
        tracing::info!(files = erased, "patient files erased");
        Ok(erased)
    }
}
