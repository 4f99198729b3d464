//! Ports: what the use cases need from the service's table, its buckets and the reports queue.
//! Each is narrow so a function's IAM policy can match the ports it uses; adapters in `outbound`
//! implement them with the AWS SDK.

use std::future::Future;
use std::path::Path;

use clinic_shared::envelope::{Envelope, Role};
use jiff::Timestamp;

use super::error::{FilesError, StorageError, StoreError};
use super::model::{
    AccessEntry, ExamView, FailOutcome, FileOutcome, FileRecord, Page, RejectReason, Report,
    ReportClaim, ReportGrant, ReportStatus,
};
use super::values::ReportFilters;

/// The exam projection and the hospital client map, fed by events.
pub trait Projection: Send + Sync {
    /// # Errors
    /// `Unavailable`, `Corrupt`.
    fn exam(
        &self,
        exam_id: &str,
    ) -> impl Future<Output = Result<Option<ExamView>, StoreError>> + Send;

    /// Writes the view unless a newer event already did; true when written. The caller decides
    /// whether the patient may be named (see [`Erasures`]).
    ///
    /// # Errors
    /// `Unavailable`.
    fn upsert_exam(&self, exam: &ExamView)
    -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The hospital a machine client id belongs to.
    ///
    /// # Errors
    /// `Unavailable`.
    fn hospital_of_client(
        &self,
        client_id: &str,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;

    /// # Errors
    /// `Unavailable`.
    fn put_hospital_client(
        &self,
        client_id: &str,
        hospital_id: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Ids of the exams linked to a patient.
    ///
    /// # Errors
    /// `Unavailable`.
    fn exams_of_patient(
        &self,
        patient_id: &str,
    ) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;

    /// Unlinks an erased patient from an exam (the exam stays for reports).
    ///
    /// # Errors
    /// `Unavailable`.
    fn unlink_patient(&self, exam_id: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// One page of the exams a report covers, oldest first.
    ///
    /// # Errors
    /// `InvalidCursor`, `Unavailable`, `Corrupt`.
    fn report_exams(
        &self,
        filters: &ReportFilters,
        cursor: Option<String>,
    ) -> impl Future<Output = Result<Page<ExamView>, StoreError>> + Send;
}

/// File records.
pub trait Files: Send + Sync {
    /// # Errors
    /// `Conflict` when the id exists; `Unavailable`.
    fn create_file(&self, file: &FileRecord)
    -> impl Future<Output = Result<(), StoreError>> + Send;

    /// # Errors
    /// `Unavailable`, `Corrupt`.
    fn file(
        &self,
        file_id: &str,
    ) -> impl Future<Output = Result<Option<FileRecord>, StoreError>> + Send;

    /// # Errors
    /// `InvalidCursor`, `Unavailable`, `Corrupt`.
    fn files_of_exam(
        &self,
        exam_id: &str,
        limit: u16,
        cursor: Option<&str>,
    ) -> impl Future<Output = Result<Page<FileRecord>, StoreError>> + Send;

    /// Records how processing ended and appends its event, atomically, provided the file is
    /// still `PENDING`; false when it was not (a duplicate delivery).
    ///
    /// # Errors
    /// `Unavailable`.
    fn finish_file(
        &self,
        file_id: &str,
        outcome: &FileOutcome,
        at: Timestamp,
        event: &Envelope,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Marks a file erased (name, hash and keys dropped); erasing twice is fine.
    ///
    /// # Errors
    /// `Unavailable`.
    fn mark_erased(
        &self,
        file_id: &str,
        at: Timestamp,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The append-only audit trail. Every entry is a conditional put (never an overwrite), carries no
/// TTL attribute, and each partition has one writing function (IAM denies the others).
pub trait AuditTrail: Send + Sync {
    /// Appends a download grant (API function only).
    ///
    /// # Errors
    /// `Conflict` when this entry was written before; `Unavailable`.
    fn append(&self, entry: &AccessEntry) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Appends a report download grant (API function only).
    ///
    /// # Errors
    /// `Conflict` when this entry was written before; `Unavailable`.
    fn append_report_grant(
        &self,
        grant: &ReportGrant,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// An exam's entries: its download grants oldest first, then its erased files.
    ///
    /// # Errors
    /// `InvalidCursor`, `Unavailable`, `Corrupt`.
    fn entries(
        &self,
        exam_id: &str,
        limit: u16,
        cursor: Option<&str>,
    ) -> impl Future<Output = Result<Page<AccessEntry>, StoreError>> + Send;
}

/// Erased accounts (LGPD): a tombstone per account, kept for good, that every route and every
/// projection write consults, and the erasure's own trail (projection function only).
pub trait Erasures: Send + Sync {
    /// Whether the account was erased.
    ///
    /// # Errors
    /// `Unavailable`.
    fn is_erased(&self, account_id: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Writes the account's tombstone (the first erasure's time stays).
    ///
    /// # Errors
    /// `Unavailable`.
    fn begin_erasure(
        &self,
        account_id: &str,
        role: Role,
        at: Timestamp,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Appends the `ERASED` entry of a file (its id is the entry's); false when it was written
    /// before (a repeated erasure).
    ///
    /// # Errors
    /// `Unavailable`.
    fn record_erased_file(
        &self,
        entry: &AccessEntry,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Records how many files the erasure removed, and when it finished.
    ///
    /// # Errors
    /// `Unavailable`.
    fn finish_erasure(
        &self,
        account_id: &str,
        files: usize,
        at: Timestamp,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Report jobs. Every status change is a conditional write.
pub trait Reports: Send + Sync {
    /// # Errors
    /// `Unavailable`.
    fn create_report(&self, report: &Report)
    -> impl Future<Output = Result<(), StoreError>> + Send;

    /// # Errors
    /// `Unavailable`, `Corrupt`.
    fn report(
        &self,
        report_id: &str,
    ) -> impl Future<Output = Result<Option<Report>, StoreError>> + Send;

    /// Takes a `queued` job, or a `processing` one whose lease ran out, for `token` until
    /// `lease_until`.
    ///
    /// # Errors
    /// `Unavailable`, `Corrupt`.
    fn claim_report(
        &self,
        report_id: &str,
        token: &str,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> impl Future<Output = Result<ReportClaim, StoreError>> + Send;

    /// `processing` → `done` with its file and event, provided `token` still holds the lease;
    /// false otherwise.
    ///
    /// # Errors
    /// `Unavailable`.
    fn complete_report(
        &self,
        report_id: &str,
        token: &str,
        rows: u64,
        result_key: &str,
        event: &Envelope,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Gives the job back (`processing` → `queued`) with the code of what went wrong, provided
    /// `token` still holds it.
    ///
    /// # Errors
    /// `Unavailable`.
    fn release_report(
        &self,
        report_id: &str,
        token: &str,
        error_code: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// `queued`, or `processing` with a lapsed lease, → `error` with a readable reason and its
    /// event.
    ///
    /// # Errors
    /// `Unavailable`, `Corrupt`.
    fn fail_report(
        &self,
        report_id: &str,
        reason: &str,
        now: Timestamp,
        event: &Envelope,
    ) -> impl Future<Output = Result<FailOutcome, StoreError>> + Send;

    /// Sets a status without conditions beyond existence (used when queueing fails).
    ///
    /// # Errors
    /// `Unavailable`.
    fn set_report_status(
        &self,
        report_id: &str,
        status: ReportStatus,
        error: Option<&str>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Which bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    Uploads,
    Results,
}

/// A presigned request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presigned {
    pub url: String,
    /// Headers the client must send with it (signed).
    pub headers: Vec<(String, String)>,
    pub expires_at: Timestamp,
}

/// An object read from a bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    pub bytes: Vec<u8>,
    pub content_type: Option<String>,
}

/// The service's buckets.
pub trait ObjectStorage: Send + Sync {
    /// A presigned PUT into the uploads bucket binding content type and length.
    ///
    /// # Errors
    /// `Unavailable`.
    fn presign_upload(
        &self,
        key: &str,
        content_type: &str,
        size: u64,
    ) -> impl Future<Output = Result<Presigned, StorageError>> + Send;

    /// A presigned GET, answered as an attachment named `file_name`.
    ///
    /// # Errors
    /// `Unavailable`.
    fn presign_download(
        &self,
        bucket: Bucket,
        key: &str,
        file_name: &str,
    ) -> impl Future<Output = Result<Presigned, StorageError>> + Send;

    /// Size of an object (`NotFound` when absent).
    ///
    /// # Errors
    /// `NotFound`, `Unavailable`.
    fn size_of(
        &self,
        bucket: Bucket,
        key: &str,
    ) -> impl Future<Output = Result<u64, StorageError>> + Send;

    /// Reads an object of at most `max_bytes`.
    ///
    /// # Errors
    /// `NotFound`, `TooLarge`, `Unavailable`.
    fn read(
        &self,
        bucket: Bucket,
        key: &str,
        max_bytes: u64,
    ) -> impl Future<Output = Result<StoredObject, StorageError>> + Send;

    /// Stores checked bytes in the results bucket (encrypted there by the bucket's key), with
    /// their SHA-256 (hex) for the bucket to verify: what is stored is exactly what was checked,
    /// whatever happened to the upload since.
    ///
    /// # Errors
    /// `Unavailable`.
    fn store_result(
        &self,
        result_key: &str,
        bytes: Vec<u8>,
        content_type: &str,
        sha256_hex: &str,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// Deletes an object (its current version; the lifecycle removes old ones).
    ///
    /// # Errors
    /// `Unavailable`.
    fn delete(
        &self,
        bucket: Bucket,
        key: &str,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// Deletes every version of an object (erasure).
    ///
    /// # Errors
    /// `Unavailable`.
    fn erase(
        &self,
        bucket: Bucket,
        key: &str,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// Uploads a local file to the results bucket, streaming it.
    ///
    /// # Errors
    /// `Unavailable`.
    fn put_file(
        &self,
        key: &str,
        path: &Path,
        content_type: &str,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;
}

/// The reports work queue.
pub trait ReportQueue: Send + Sync {
    /// # Errors
    /// `Unavailable`.
    fn enqueue(&self, report_id: &str) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The structural check of an uploaded PDF: parses untrusted input, so it runs within bounds of
/// memory, time and work (see `outbound::pdf_sandbox`).
pub trait PdfInspector: Send + Sync {
    /// `Ok(Err(reason))` when the document fails the check or exceeds its bounds.
    ///
    /// # Errors
    /// `Unavailable` when the check could not run (retry later).
    fn inspect_pdf(
        &self,
        bytes: &[u8],
    ) -> impl Future<Output = Result<Result<(), RejectReason>, FilesError>> + Send;
}
