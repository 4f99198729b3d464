//! Processing of an uploaded object: checks, the checked bytes stored in the results bucket, file
//! record and event in one transaction. Idempotent on the file: only a `PENDING` file is
//! processed, and the final write is conditional on it still being `PENDING`, so a duplicate or
//! concurrent delivery of the same S3 event yields one record and one event.
//!
//! The bytes that are checked and hashed are the bytes that are stored: the upload URL stays
//! valid for minutes, so the object under the upload key may change after it was read, and it is
//! never copied from there.

use clinic_shared::clock::{self, SharedClock};
use clinic_shared::envelope::{FileProcessed, FileRejected};

use super::{event, result_key};
use crate::domain::checks::{self, Inspected};
use crate::domain::values::{ContentType, FileId, MAX_UPLOAD_BYTES};
use crate::domain::{
    Bucket, FileOutcome, FileRecord, FileStatus, Files, FilesError, ObjectStorage, PdfInspector,
    RejectReason, StorageError,
};

/// An object the uploads bucket announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadedObject {
    /// Decoded key.
    pub key: String,
    /// Size from the notification, when given.
    pub size: Option<u64>,
}

/// How processing ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Processed {
    Available,
    Rejected(RejectReason),
    /// Processed before (a repeated delivery): nothing done.
    Duplicate,
}

/// An upload that passed every check: what to store and record.
struct Checked {
    inspected: Inspected,
    bytes: Vec<u8>,
    content_type: ContentType,
}

/// The upload processor over the table, the buckets and the PDF checker.
pub struct UploadProcessor<S, O, P> {
    store: S,
    storage: O,
    pdf: P,
    clock: SharedClock,
}

clinic_shared::impl_with_clock!(UploadProcessor<S, O, P>);

impl<S: Files, O: ObjectStorage, P: PdfInspector> UploadProcessor<S, O, P> {
    pub fn new(store: S, storage: O, pdf: P) -> Self {
        Self {
            store,
            storage,
            pdf,
            clock: clock::system(),
        }
    }

    /// Processes one uploaded object.
    ///
    /// # Errors
    /// `NotFound` (an object no file expects: not retryable), `Unavailable` (retryable),
    /// `Internal`.
    #[tracing::instrument(skip_all)]
    pub async fn process(
        &self,
        object: &UploadedObject,
        trace: &str,
    ) -> Result<Processed, FilesError> {
        let file_id = object
            .key
            .strip_prefix("incoming/")
            .and_then(FileId::parse)
            .ok_or(FilesError::NotFound("Upload key"))?;
        tracing::Span::current().record("file_id", file_id.as_str());
        let file = self
            .store
            .file(file_id.as_str())
            .await?
            .ok_or(FilesError::NotFound("File"))?;
        if file.status == FileStatus::Erased {
            // The upload URL outlives an erasure by minutes: an object put after it belongs to
            // an erased patient and must not wait for the bucket's lifecycle.
            self.delete_upload(&file).await;
            tracing::info!(file_id = %file.file_id, "upload of an erased file deleted");
            return Ok(Processed::Duplicate);
        }
        if file.status != FileStatus::Pending {
            tracing::info!(file_id = %file.file_id, "upload already processed");
            return Ok(Processed::Duplicate);
        }
        let inspected = match self.inspect(&file, object).await {
            // Another delivery of the same object may have finished and deleted the upload
            // since the record was read: then this one is a duplicate, not a missing upload.
            Err(FilesError::NotFound("Upload")) => return self.overtaken(&file).await,
            other => other?,
        };
        let outcome = match inspected {
            Ok(checked) => {
                let key = result_key(&file.file_id);
                self.storage
                    .store_result(
                        &key,
                        checked.bytes,
                        checked.content_type.as_str(),
                        &checked.inspected.sha256,
                    )
                    .await?;
                FileOutcome::Available {
                    size: checked.inspected.size,
                    sha256: checked.inspected.sha256,
                    result_key: key,
                }
            }
            Err(reason) => FileOutcome::Rejected(reason),
        };
        let envelope = match &outcome {
            FileOutcome::Available { size, sha256, .. } => event(
                &file.file_id,
                FileProcessed {
                    file_id: file.file_id.clone(),
                    exam_id: file.exam_id.clone(),
                    kind: file.kind,
                    size: *size,
                    sha256: sha256.clone(),
                },
                trace,
            ),
            FileOutcome::Rejected(reason) => event(
                &file.file_id,
                FileRejected {
                    file_id: file.file_id.clone(),
                    exam_id: file.exam_id.clone(),
                    kind: file.kind,
                    reason: reason.code().to_string(),
                },
                trace,
            ),
        };
        let applied = self
            .store
            .finish_file(&file.file_id, &outcome, self.clock.now(), &envelope)
            .await?;
        if !applied {
            tracing::info!(file_id = %file.file_id, "processed concurrently by another delivery");
            return Ok(Processed::Duplicate);
        }
        self.delete_upload(&file).await;
        Ok(match outcome {
            FileOutcome::Available { .. } => {
                tracing::info!(file_id = %file.file_id, "file available");
                Processed::Available
            }
            FileOutcome::Rejected(reason) => {
                tracing::info!(file_id = %file.file_id, reason = reason.code(), "file rejected");
                Processed::Rejected(reason)
            }
        })
    }

    /// The upload is no longer needed; a failure here leaves it to the bucket's lifecycle.
    async fn delete_upload(&self, file: &FileRecord) {
        if let Err(err) = self.storage.delete(Bucket::Uploads, &file.upload_key).await {
            tracing::warn!(file_id = %file.file_id, error = %err, "upload not deleted");
        }
    }

    /// The answer when the upload vanished while being read: a duplicate when the file is no
    /// longer pending (another delivery processed it), otherwise a missing upload.
    async fn overtaken(&self, file: &FileRecord) -> Result<Processed, FilesError> {
        let now = self.store.file(&file.file_id).await?;
        if now.is_some_and(|f| f.status != FileStatus::Pending) {
            tracing::info!(file_id = %file.file_id, "processed meanwhile by another delivery");
            return Ok(Processed::Duplicate);
        }
        Err(FilesError::NotFound("Upload"))
    }

    /// Runs the checks; the outer error is a failure to read, the inner one a failed check.
    async fn inspect(
        &self,
        file: &FileRecord,
        object: &UploadedObject,
    ) -> Result<Result<Checked, RejectReason>, FilesError> {
        let declared = ContentType::parse(&file.content_type)
            .map_err(|_| FilesError::Internal(format!("file {} has a bad type", file.file_id)))?;
        // Never download more than the limit: the size in the notification, then the object's.
        let size = match object.size {
            Some(size) => size,
            None => {
                self.storage
                    .size_of(Bucket::Uploads, &file.upload_key)
                    .await?
            }
        };
        if let Err(reason) = checks::check_size(size, file.declared_size) {
            return Ok(Err(reason));
        }
        let stored = match self
            .storage
            .read(Bucket::Uploads, &file.upload_key, MAX_UPLOAD_BYTES)
            .await
        {
            Ok(stored) => stored,
            Err(StorageError::TooLarge(_)) => return Ok(Err(RejectReason::TooLarge)),
            Err(StorageError::NotFound) => return Err(FilesError::NotFound("Upload")),
            Err(err) => return Err(err.into()),
        };
        let inspected = match checks::inspect(
            &stored.bytes,
            stored.content_type.as_deref(),
            declared,
            file.declared_size,
        ) {
            Ok(inspected) => inspected,
            Err(reason) => return Ok(Err(reason)),
        };
        if declared == ContentType::Pdf
            && let Err(reason) = self.pdf.inspect_pdf(&stored.bytes).await?
        {
            return Ok(Err(reason));
        }
        Ok(Ok(Checked {
            inspected,
            bytes: stored.bytes,
            content_type: declared,
        }))
    }
}
