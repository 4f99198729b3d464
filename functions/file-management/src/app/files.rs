//! The HTTP use cases on exam files: issue an upload URL, list an exam's files, hand out a
//! download URL (audited), show the audit trail; and the check every route makes first, that the
//! caller's account was not erased.

use clinic_shared::auth::Caller;
use clinic_shared::clock::{self, SharedClock};
use clinic_shared::envelope::{ExamStatus, FileKind, Role};

use super::upload_key;
use crate::domain::access::{Access, Actor};
use crate::domain::values::{ContentType, ExamId, FileId, FileName, UploadSize};
use crate::domain::{
    AccessAction, AccessEntry, AuditTrail, Bucket, Erasures, ExamView, FileRecord, FileStatus,
    Files, FilesError, ObjectStorage, Page, Presigned, Projection,
};

/// A validated upload request.
#[derive(Debug, Clone)]
pub struct NewUpload {
    pub file_name: FileName,
    pub content_type: ContentType,
    pub size: UploadSize,
    pub kind: FileKind,
}

/// What an uploader gets: the file id and where to PUT the bytes.
#[derive(Debug, Clone)]
pub struct UploadTicket {
    pub file_id: String,
    pub upload: Presigned,
}

/// The file use cases over the table and the buckets.
pub struct FilesApp<S, O> {
    store: S,
    storage: O,
    clock: SharedClock,
}

clinic_shared::impl_with_clock!(FilesApp<S, O>);

fn check(access: Access, what: &'static str) -> Result<(), FilesError> {
    match access {
        Access::Allowed => Ok(()),
        Access::NotFound => Err(FilesError::NotFound(what)),
        Access::Forbidden => Err(FilesError::Forbidden("your role does not allow this")),
    }
}

impl<S: Projection + Files + AuditTrail + Erasures, O: ObjectStorage> FilesApp<S, O> {
    pub fn new(store: S, storage: O) -> Self {
        Self {
            store,
            storage,
            clock: clock::system(),
        }
    }

    /// Refuses a caller whose account was erased: its token stays valid for minutes after the
    /// erasure, and nothing may be done with it. Every route calls this before anything else
    /// (before an idempotent replay, too).
    ///
    /// # Errors
    /// `AccountErased`; `Unavailable`.
    pub async fn ensure_active(&self, caller: &Caller) -> Result<(), FilesError> {
        if self.store.is_erased(&caller.id).await? {
            tracing::info!(role = caller.role.as_str(), "erased account refused");
            return Err(FilesError::AccountErased);
        }
        Ok(())
    }

    /// The caller as the access rules see it (a hospital client resolved to its hospital).
    async fn actor(&self, caller: &Caller) -> Result<Actor, FilesError> {
        let hospital_id = if caller.role == Role::Hospital {
            self.store.hospital_of_client(&caller.id).await?
        } else {
            None
        };
        Ok(Actor {
            id: caller.id.clone(),
            role: caller.role,
            hospital_id,
        })
    }

    async fn exam(&self, exam_id: &str, what: &'static str) -> Result<ExamView, FilesError> {
        self.store
            .exam(exam_id)
            .await?
            .ok_or(FilesError::NotFound(what))
    }

    /// Creates a `PENDING` file and a presigned PUT for it.
    ///
    /// # Errors
    /// `NotFound` (exam unknown or not the caller's), `Forbidden` (role), `Conflict` (exam
    /// cancelled), `Unavailable`.
    #[tracing::instrument(skip_all, fields(exam_id = %exam_id.as_str()))]
    pub async fn request_upload(
        &self,
        caller: &Caller,
        exam_id: &ExamId,
        upload: NewUpload,
    ) -> Result<UploadTicket, FilesError> {
        if !matches!(caller.role, Role::Doctor | Role::Hospital) {
            return Err(FilesError::Forbidden("your role does not allow this"));
        }
        let exam = self.exam(exam_id.as_str(), "Exam").await?;
        check(self.actor(caller).await?.may_upload(&exam), "Exam")?;
        if exam.status == ExamStatus::Cancelled {
            return Err(FilesError::Conflict {
                code: "EXAM_CANCELLED",
                detail: "The exam was cancelled; it takes no files.".into(),
            });
        }
        let file_id = FileId::new();
        let key = upload_key(file_id.as_str());
        let record = FileRecord {
            file_id: file_id.as_str().to_string(),
            exam_id: exam.exam_id.clone(),
            kind: upload.kind,
            file_name: Some(upload.file_name.as_str().to_string()),
            content_type: upload.content_type.as_str().to_string(),
            declared_size: upload.size.bytes(),
            status: FileStatus::Pending,
            reason: None,
            upload_key: key.clone(),
            result_key: None,
            size: None,
            sha256: None,
            uploaded_by: caller.id.clone(),
            uploaded_by_role: caller.role,
            created_at: self.clock.now(),
            processed_at: None,
        };
        let presigned = self
            .storage
            .presign_upload(&key, upload.content_type.as_str(), upload.size.bytes())
            .await?;
        self.store.create_file(&record).await?;
        tracing::info!(file_id = %record.file_id, "upload url issued");
        Ok(UploadTicket {
            file_id: record.file_id,
            upload: presigned,
        })
    }

    /// The files of an exam the caller may see.
    ///
    /// # Errors
    /// `NotFound`, `InvalidCursor`, `Unavailable`.
    #[tracing::instrument(skip_all, fields(exam_id = %exam_id.as_str()))]
    pub async fn list_files(
        &self,
        caller: &Caller,
        exam_id: &ExamId,
        limit: u16,
        cursor: Option<&str>,
    ) -> Result<Page<FileRecord>, FilesError> {
        let exam = self.exam(exam_id.as_str(), "Exam").await?;
        check(self.actor(caller).await?.may_see(&exam), "Exam")?;
        Ok(self
            .store
            .files_of_exam(exam_id.as_str(), limit, cursor)
            .await?)
    }

    /// A presigned GET of an available file, after the audit trail recorded the grant.
    ///
    /// # Errors
    /// `NotFound` (unknown, or not the caller's), `Conflict` (not available), `Unavailable`.
    #[tracing::instrument(skip_all, fields(file_id = %file_id.as_str()))]
    pub async fn download(
        &self,
        caller: &Caller,
        file_id: &FileId,
        request_id: &str,
    ) -> Result<Presigned, FilesError> {
        let file = self
            .store
            .file(file_id.as_str())
            .await?
            .ok_or(FilesError::NotFound("File"))?;
        let exam = self.exam(&file.exam_id, "File").await?;
        check(self.actor(caller).await?.may_download(&exam), "File")?;
        let (FileStatus::Available, Some(key)) = (file.status, file.result_key.as_deref()) else {
            return Err(FilesError::Conflict {
                code: "FILE_NOT_AVAILABLE",
                detail: "The file is not available for download.".into(),
            });
        };
        // The grant is on record before the URL exists: no URL without its audit entry.
        self.store
            .append(&AccessEntry {
                entry_id: ulid::Ulid::new().to_string(),
                exam_id: exam.exam_id.clone(),
                file_id: file.file_id.clone(),
                action: AccessAction::DownloadGranted,
                actor_id: caller.id.clone(),
                actor_role: caller.role,
                at: self.clock.now(),
                request_id: request_id.to_string(),
            })
            .await?;
        let name = file
            .file_name
            .clone()
            .unwrap_or_else(|| format!("{}.pdf", file.file_id));
        let url = self
            .storage
            .presign_download(Bucket::Results, key, &name)
            .await?;
        tracing::info!(file_id = %file.file_id, role = caller.role.as_str(), "download granted");
        clinic_shared::metrics::count("file-management", "DownloadsGranted", None);
        Ok(url)
    }

    /// The audit trail of an exam's files.
    ///
    /// # Errors
    /// `NotFound`, `Forbidden`, `InvalidCursor`, `Unavailable`.
    #[tracing::instrument(skip_all, fields(exam_id = %exam_id.as_str()))]
    pub async fn access_log(
        &self,
        caller: &Caller,
        exam_id: &ExamId,
        limit: u16,
        cursor: Option<&str>,
    ) -> Result<Page<AccessEntry>, FilesError> {
        let exam = self.exam(exam_id.as_str(), "Exam").await?;
        check(self.actor(caller).await?.may_read_access_log(&exam), "Exam")?;
        Ok(self.store.entries(exam_id.as_str(), limit, cursor).await?)
    }
}
