//! In-memory fakes of the ports, holding the conditions the DynamoDB, S3 and SQS adapters
//! enforce: conditional writes (a file finished only while `PENDING`, a report claimed only when
//! `queued` or its lease ran out, finished only by the lease holder, failed only when nobody
//! holds it), audit entries written once, exam views kept to the newest event, the SHA-256 S3
//! verifies on a stored result. A named operation can be made unavailable, and a few can be
//! paused once so a test decides how two deliveries interleave.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use clinic_shared::clock::{Clock, ManualClock};
use clinic_shared::envelope::{Envelope, EventType, Role};
use jiff::{SignedDuration, Timestamp};
use sha2::{Digest, Sha256};
use tokio::sync::Notify;

use crate::domain::checks::parse_pdf;
use crate::domain::values::{PRESIGN_SECONDS, ReportFilters};
use crate::domain::{
    AccessAction, AccessEntry, AuditTrail, Bucket, Erasures, ExamView, FailOutcome, FileOutcome,
    FileRecord, FileStatus, Files, FilesError, ObjectStorage, Page, PdfInspector, Presigned,
    Projection, RejectReason, Report, ReportClaim, ReportGrant, ReportQueue, ReportStatus, Reports,
    StorageError, StoreError, StoredObject,
};

fn down(what: &str) -> StoreError {
    StoreError::Unavailable(format!("{what} is down"))
}

/// A report as the table holds it: the record and its lease.
#[derive(Debug, Clone)]
pub struct StoredReport {
    pub report: Report,
    pub lease_owner: Option<String>,
    pub lease_until: Option<Timestamp>,
}

/// An erased account's tombstone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tombstone {
    pub role: Role,
    pub erased_at: Timestamp,
    pub files_erased: Option<usize>,
    pub completed_at: Option<Timestamp>,
}

/// Something done to the table from inside an operation.
pub type Hook = Box<dyn FnOnce(&mut State) + Send>;

#[derive(Default)]
pub struct State {
    pub exams: BTreeMap<String, ExamView>,
    /// Every exam view written, in order.
    pub exams_written: Vec<ExamView>,
    pub clients: HashMap<String, String>,
    pub files: BTreeMap<String, FileRecord>,
    /// `ACCESS#<examId>` items by (exam, at, entry id): the adapter's key.
    pub grants: BTreeMap<(String, Timestamp, String), AccessEntry>,
    /// `ACCESS#REPORT#<reportId>` items by (report, at, entry id).
    pub report_grants: BTreeMap<(String, Timestamp, String), ReportGrant>,
    /// `ERASED#<examId>` items by (exam, file id).
    pub erased_files: BTreeMap<(String, String), AccessEntry>,
    pub tombstones: HashMap<String, Tombstone>,
    pub reports: HashMap<String, StoredReport>,
    /// The outbox: events written with their change.
    pub events: Vec<Envelope>,
    /// Operations answering `Unavailable`.
    pub down: HashSet<&'static str>,
    /// Exams per page of `report_exams` (the adapter pages by month and by 1 MB).
    pub report_page: usize,
    /// Runs once just before the next exam view is written (an erasure landing meanwhile).
    pub before_upsert: Option<Hook>,
}

/// Every table port in memory, with the adapter's conditions.
#[derive(Default)]
pub struct Memory(Mutex<State>);

impl Memory {
    pub fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap()
    }

    pub fn set_down(&self, operation: &'static str, is_down: bool) {
        let mut state = self.state();
        if is_down {
            state.down.insert(operation);
        } else {
            state.down.remove(operation);
        }
    }

    fn check(
        &self,
        operation: &'static str,
    ) -> Result<std::sync::MutexGuard<'_, State>, StoreError> {
        let state = self.state();
        if state.down.contains(operation) {
            return Err(down(operation));
        }
        Ok(state)
    }

    pub fn event_types(&self) -> Vec<EventType> {
        self.state().events.iter().map(|e| e.event_type).collect()
    }

    pub fn file_of(&self, file_id: &str) -> FileRecord {
        self.state().files[file_id].clone()
    }

    pub fn report_of(&self, report_id: &str) -> StoredReport {
        self.state().reports[report_id].clone()
    }

    pub fn grants(&self) -> Vec<AccessEntry> {
        self.state().grants.values().cloned().collect()
    }

    pub fn report_grants(&self) -> Vec<ReportGrant> {
        self.state().report_grants.values().cloned().collect()
    }
}

/// What the adapter orders an exam's events by: milliseconds, then `<nanos>#<event id>`.
fn event_order(exam: &ExamView) -> (i64, String) {
    (
        exam.event_time.as_millisecond(),
        format!(
            "{:020}#{}",
            exam.event_time.as_nanosecond().max(0),
            exam.event_id
        ),
    )
}

fn offset(cursor: Option<&str>) -> Result<usize, StoreError> {
    cursor.map_or(Ok(0), |c| c.parse().map_err(|_| StoreError::InvalidCursor))
}

fn paged<T>(items: Vec<T>, start: usize, limit: usize) -> Page<T> {
    let total = items.len();
    let end = (start + limit).min(total);
    Page {
        items: items.into_iter().skip(start).take(limit).collect(),
        next_cursor: (end < total).then(|| end.to_string()),
    }
}

impl Projection for &Memory {
    async fn exam(&self, exam_id: &str) -> Result<Option<ExamView>, StoreError> {
        Ok(self.check("exam")?.exams.get(exam_id).cloned())
    }

    async fn upsert_exam(&self, exam: &ExamView) -> Result<bool, StoreError> {
        let mut state = self.check("upsert_exam")?;
        if let Some(hook) = state.before_upsert.take() {
            hook(&mut state);
        }
        let newer = state
            .exams
            .get(&exam.exam_id)
            .is_none_or(|stored| event_order(stored) < event_order(exam));
        if newer {
            state.exams.insert(exam.exam_id.clone(), exam.clone());
            state.exams_written.push(exam.clone());
        }
        Ok(newer)
    }

    async fn hospital_of_client(&self, client_id: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .check("hospital_of_client")?
            .clients
            .get(client_id)
            .cloned())
    }

    async fn put_hospital_client(
        &self,
        client_id: &str,
        hospital_id: &str,
    ) -> Result<(), StoreError> {
        self.check("put_hospital_client")?
            .clients
            .insert(client_id.into(), hospital_id.into());
        Ok(())
    }

    async fn exams_of_patient(&self, patient_id: &str) -> Result<Vec<String>, StoreError> {
        Ok(self
            .check("exams_of_patient")?
            .exams
            .values()
            .filter(|e| e.patient_id.as_deref() == Some(patient_id))
            .map(|e| e.exam_id.clone())
            .collect())
    }

    async fn unlink_patient(&self, exam_id: &str) -> Result<(), StoreError> {
        if let Some(exam) = self.check("unlink_patient")?.exams.get_mut(exam_id) {
            exam.patient_id = None;
            exam.patient_erased = true;
        }
        Ok(())
    }

    async fn report_exams(
        &self,
        filters: &ReportFilters,
        cursor: Option<String>,
    ) -> Result<Page<ExamView>, StoreError> {
        let state = self.check("report_exams")?;
        let mut exams: Vec<ExamView> = state
            .exams
            .values()
            .filter(|e| e.scheduled_at >= filters.from && e.scheduled_at < filters.to)
            .filter(|e| {
                filters
                    .hospital_id
                    .as_ref()
                    .is_none_or(|h| *h == e.hospital_id)
            })
            .filter(|e| filters.status.is_none_or(|s| s == e.status))
            .cloned()
            .collect();
        exams.sort_by(|a, b| (a.scheduled_at, &a.exam_id).cmp(&(b.scheduled_at, &b.exam_id)));
        let page = state.report_page.max(1);
        Ok(paged(exams, offset(cursor.as_deref())?, page))
    }
}

impl Files for &Memory {
    async fn create_file(&self, file: &FileRecord) -> Result<(), StoreError> {
        let mut state = self.check("create_file")?;
        if state.files.contains_key(&file.file_id) {
            return Err(StoreError::Conflict("file id exists".into()));
        }
        state.files.insert(file.file_id.clone(), file.clone());
        Ok(())
    }

    async fn file(&self, file_id: &str) -> Result<Option<FileRecord>, StoreError> {
        Ok(self.check("file")?.files.get(file_id).cloned())
    }

    async fn files_of_exam(
        &self,
        exam_id: &str,
        limit: u16,
        cursor: Option<&str>,
    ) -> Result<Page<FileRecord>, StoreError> {
        let state = self.check("files_of_exam")?;
        let mut files: Vec<FileRecord> = state
            .files
            .values()
            .filter(|f| f.exam_id == exam_id)
            .cloned()
            .collect();
        files.sort_by(|a, b| (a.created_at, &a.file_id).cmp(&(b.created_at, &b.file_id)));
        Ok(paged(files, offset(cursor)?, usize::from(limit)))
    }

    async fn finish_file(
        &self,
        file_id: &str,
        outcome: &FileOutcome,
        at: Timestamp,
        event: &Envelope,
    ) -> Result<bool, StoreError> {
        let mut state = self.check("finish_file")?;
        let Some(file) = state.files.get_mut(file_id) else {
            return Ok(false);
        };
        if file.status != FileStatus::Pending {
            return Ok(false);
        }
        match outcome {
            FileOutcome::Available {
                size,
                sha256,
                result_key,
            } => {
                file.status = FileStatus::Available;
                file.size = Some(*size);
                file.sha256 = Some(sha256.clone());
                file.result_key = Some(result_key.clone());
            }
            FileOutcome::Rejected(reason) => {
                file.status = FileStatus::Rejected;
                file.reason = Some(*reason);
            }
        }
        file.processed_at = Some(at);
        state.events.push(event.clone());
        Ok(true)
    }

    async fn mark_erased(&self, file_id: &str, _at: Timestamp) -> Result<(), StoreError> {
        if let Some(file) = self.check("mark_erased")?.files.get_mut(file_id) {
            file.status = FileStatus::Erased;
            file.file_name = None;
            file.sha256 = None;
            file.result_key = None;
        }
        Ok(())
    }
}

impl AuditTrail for &Memory {
    async fn append(&self, entry: &AccessEntry) -> Result<(), StoreError> {
        let mut state = self.check("append")?;
        let key = (entry.exam_id.clone(), entry.at, entry.entry_id.clone());
        if state.grants.contains_key(&key) {
            return Err(StoreError::Conflict("audit entry exists".into()));
        }
        state.grants.insert(key, entry.clone());
        Ok(())
    }

    async fn append_report_grant(&self, grant: &ReportGrant) -> Result<(), StoreError> {
        let mut state = self.check("append_report_grant")?;
        let key = (grant.report_id.clone(), grant.at, grant.entry_id.clone());
        if state.report_grants.contains_key(&key) {
            return Err(StoreError::Conflict("audit entry exists".into()));
        }
        state.report_grants.insert(key, grant.clone());
        Ok(())
    }

    async fn entries(
        &self,
        exam_id: &str,
        limit: u16,
        cursor: Option<&str>,
    ) -> Result<Page<AccessEntry>, StoreError> {
        let state = self.check("entries")?;
        let entries: Vec<AccessEntry> = state
            .grants
            .iter()
            .filter(|((exam, _, _), _)| exam == exam_id)
            .map(|(_, e)| e.clone())
            .chain(
                state
                    .erased_files
                    .iter()
                    .filter(|((exam, _), _)| exam == exam_id)
                    .map(|(_, e)| e.clone()),
            )
            .collect();
        Ok(paged(entries, offset(cursor)?, usize::from(limit)))
    }
}

impl Erasures for &Memory {
    async fn is_erased(&self, account_id: &str) -> Result<bool, StoreError> {
        Ok(self.check("is_erased")?.tombstones.contains_key(account_id))
    }

    async fn begin_erasure(
        &self,
        account_id: &str,
        role: Role,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.check("begin_erasure")?
            .tombstones
            .entry(account_id.into())
            .or_insert(Tombstone {
                role,
                erased_at: at,
                files_erased: None,
                completed_at: None,
            });
        Ok(())
    }

    async fn record_erased_file(&self, entry: &AccessEntry) -> Result<bool, StoreError> {
        let mut state = self.check("record_erased_file")?;
        let key = (entry.exam_id.clone(), entry.entry_id.clone());
        if state.erased_files.contains_key(&key) {
            return Ok(false);
        }
        state.erased_files.insert(key, entry.clone());
        Ok(true)
    }

    async fn finish_erasure(
        &self,
        account_id: &str,
        files: usize,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut state = self.check("finish_erasure")?;
        // An update without condition: it would write the item if it were missing.
        let tombstone = state
            .tombstones
            .entry(account_id.into())
            .or_insert(Tombstone {
                role: Role::Patient,
                erased_at: at,
                files_erased: None,
                completed_at: None,
            });
        tombstone.files_erased = Some(files);
        tombstone.completed_at = Some(at);
        Ok(())
    }
}

/// `queued`, or `processing` with a lease that ended before `now` (a missing lease never ends).
fn takeable(stored: &StoredReport, now: Timestamp) -> bool {
    match stored.report.status {
        ReportStatus::Queued => true,
        ReportStatus::Processing => stored.lease_until.is_some_and(|until| until < now),
        ReportStatus::Done | ReportStatus::Error => false,
    }
}

fn finished(status: ReportStatus) -> bool {
    matches!(status, ReportStatus::Done | ReportStatus::Error)
}

impl Reports for &Memory {
    async fn create_report(&self, report: &Report) -> Result<(), StoreError> {
        let mut state = self.check("create_report")?;
        if state.reports.contains_key(&report.report_id) {
            // The adapter's failed condition is not told apart from other failures.
            return Err(down("create_report"));
        }
        state.reports.insert(
            report.report_id.clone(),
            StoredReport {
                report: report.clone(),
                lease_owner: None,
                lease_until: None,
            },
        );
        Ok(())
    }

    async fn report(&self, report_id: &str) -> Result<Option<Report>, StoreError> {
        Ok(self
            .check("report")?
            .reports
            .get(report_id)
            .map(|r| r.report.clone()))
    }

    async fn claim_report(
        &self,
        report_id: &str,
        token: &str,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<ReportClaim, StoreError> {
        let mut state = self.check("claim_report")?;
        let Some(stored) = state.reports.get_mut(report_id) else {
            return Ok(ReportClaim::Missing);
        };
        if !takeable(stored, now) {
            return Ok(if finished(stored.report.status) {
                ReportClaim::Finished
            } else {
                ReportClaim::Busy
            });
        }
        stored.report.status = ReportStatus::Processing;
        stored.report.updated_at = now;
        stored.report.attempts += 1;
        stored.lease_owner = Some(token.into());
        stored.lease_until = Some(lease_until);
        Ok(ReportClaim::Claimed(Box::new(stored.report.clone())))
    }

    async fn complete_report(
        &self,
        report_id: &str,
        token: &str,
        rows: u64,
        result_key: &str,
        event: &Envelope,
    ) -> Result<bool, StoreError> {
        let mut state = self.check("complete_report")?;
        let Some(stored) = state.reports.get_mut(report_id) else {
            return Ok(false);
        };
        if stored.report.status != ReportStatus::Processing
            || stored.lease_owner.as_deref() != Some(token)
        {
            return Ok(false);
        }
        stored.report.status = ReportStatus::Done;
        stored.report.rows = Some(rows);
        stored.report.result_key = Some(result_key.into());
        stored.report.last_error = None;
        stored.lease_owner = None;
        stored.lease_until = None;
        state.events.push(event.clone());
        Ok(true)
    }

    async fn release_report(
        &self,
        report_id: &str,
        token: &str,
        error_code: &str,
    ) -> Result<(), StoreError> {
        let mut state = self.check("release_report")?;
        if let Some(stored) = state.reports.get_mut(report_id)
            && stored.report.status == ReportStatus::Processing
            && stored.lease_owner.as_deref() == Some(token)
        {
            stored.report.status = ReportStatus::Queued;
            stored.report.last_error = Some(error_code.into());
            stored.lease_owner = None;
            stored.lease_until = None;
        }
        Ok(())
    }

    async fn fail_report(
        &self,
        report_id: &str,
        reason: &str,
        now: Timestamp,
        event: &Envelope,
    ) -> Result<FailOutcome, StoreError> {
        let mut state = self.check("fail_report")?;
        let Some(stored) = state.reports.get_mut(report_id) else {
            return Ok(FailOutcome::Missing);
        };
        if !takeable(stored, now) {
            return Ok(if finished(stored.report.status) {
                FailOutcome::Finished
            } else {
                FailOutcome::Busy
            });
        }
        stored.report.status = ReportStatus::Error;
        stored.report.error = Some(reason.into());
        stored.report.updated_at = now;
        stored.lease_owner = None;
        stored.lease_until = None;
        state.events.push(event.clone());
        Ok(FailOutcome::Failed)
    }

    async fn set_report_status(
        &self,
        report_id: &str,
        status: ReportStatus,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut state = self.check("set_report_status")?;
        let Some(stored) = state.reports.get_mut(report_id) else {
            return Err(down("set_report_status"));
        };
        stored.report.status = status;
        if let Some(reason) = error {
            stored.report.error = Some(reason.into());
        }
        Ok(())
    }
}

/// A one-shot pause: the first call through it says it arrived and waits to be let go.
#[derive(Default)]
pub struct Gate {
    armed: AtomicBool,
    pub arrived: Notify,
    pub release: Notify,
}

impl Gate {
    pub fn arm(&self) {
        self.armed.store(true, Ordering::SeqCst);
    }

    async fn pass(&self) {
        if self.armed.swap(false, Ordering::SeqCst) {
            self.arrived.notify_one();
            self.release.notified().await;
        }
    }
}

/// A presigned request the fake handed out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Minted {
    pub bucket: Bucket,
    pub key: String,
    pub file_name: Option<String>,
}

#[derive(Default)]
pub struct Objects {
    pub uploads: HashMap<String, StoredObject>,
    pub results: HashMap<String, StoredObject>,
    /// Every write to the results bucket, by key (each one a version).
    pub result_writes: Vec<String>,
    pub uploads_minted: Vec<Minted>,
    pub downloads_minted: Vec<Minted>,
    pub deleted: Vec<(Bucket, String)>,
    pub erased: Vec<(Bucket, String)>,
    pub reads: usize,
    pub down: HashSet<&'static str>,
}

/// Both buckets in memory.
pub struct Storage {
    objects: Mutex<Objects>,
    clock: ManualClock,
    /// Pauses the first `read` before it looks for the object.
    pub read_gate: Gate,
    /// Pauses the first `store_result` before it writes.
    pub store_gate: Gate,
    /// Pauses the first `put_file` before it reads the local file.
    pub put_gate: Gate,
}

impl Storage {
    pub fn new(clock: ManualClock) -> Self {
        Self {
            objects: Mutex::default(),
            clock,
            read_gate: Gate::default(),
            store_gate: Gate::default(),
            put_gate: Gate::default(),
        }
    }

    pub fn objects(&self) -> std::sync::MutexGuard<'_, Objects> {
        self.objects.lock().unwrap()
    }

    pub fn set_down(&self, operation: &'static str, is_down: bool) {
        let mut objects = self.objects();
        if is_down {
            objects.down.insert(operation);
        } else {
            objects.down.remove(operation);
        }
    }

    /// What the uploader PUT with its presigned URL.
    pub fn put_upload(&self, key: &str, bytes: Vec<u8>, content_type: &str) {
        self.objects().uploads.insert(
            key.into(),
            StoredObject {
                bytes,
                content_type: Some(content_type.into()),
            },
        );
    }

    fn check(&self, operation: &'static str) -> Result<(), StorageError> {
        if self.objects().down.contains(operation) {
            return Err(StorageError::Unavailable(format!("{operation} is down")));
        }
        Ok(())
    }

    fn presigned(&self, url: String, headers: Vec<(String, String)>) -> Presigned {
        Presigned {
            url,
            headers,
            expires_at: self.clock.now() + SignedDuration::from_secs(PRESIGN_SECONDS as i64),
        }
    }
}

impl ObjectStorage for &Storage {
    async fn presign_upload(
        &self,
        key: &str,
        content_type: &str,
        size: u64,
    ) -> Result<Presigned, StorageError> {
        self.check("presign_upload")?;
        self.objects().uploads_minted.push(Minted {
            bucket: Bucket::Uploads,
            key: key.into(),
            file_name: None,
        });
        Ok(self.presigned(
            format!("https://uploads.example/{key}?X-Amz-Expires={PRESIGN_SECONDS}"),
            vec![
                ("content-length".into(), size.to_string()),
                ("content-type".into(), content_type.into()),
            ],
        ))
    }

    async fn presign_download(
        &self,
        bucket: Bucket,
        key: &str,
        file_name: &str,
    ) -> Result<Presigned, StorageError> {
        self.check("presign_download")?;
        self.objects().downloads_minted.push(Minted {
            bucket,
            key: key.into(),
            file_name: Some(file_name.into()),
        });
        Ok(self.presigned(
            format!("https://results.example/{key}?X-Amz-Expires={PRESIGN_SECONDS}"),
            vec![],
        ))
    }

    async fn size_of(&self, bucket: Bucket, key: &str) -> Result<u64, StorageError> {
        self.check("size_of")?;
        let objects = self.objects();
        let store = match bucket {
            Bucket::Uploads => &objects.uploads,
            Bucket::Results => &objects.results,
        };
        store
            .get(key)
            .map(|o| o.bytes.len() as u64)
            .ok_or(StorageError::NotFound)
    }

    async fn read(
        &self,
        bucket: Bucket,
        key: &str,
        max_bytes: u64,
    ) -> Result<StoredObject, StorageError> {
        self.read_gate.pass().await;
        self.check("read")?;
        let mut objects = self.objects();
        objects.reads += 1;
        let store = match bucket {
            Bucket::Uploads => &objects.uploads,
            Bucket::Results => &objects.results,
        };
        let object = store.get(key).cloned().ok_or(StorageError::NotFound)?;
        let size = object.bytes.len() as u64;
        if size > max_bytes {
            return Err(StorageError::TooLarge(size));
        }
        Ok(object)
    }

    async fn store_result(
        &self,
        result_key: &str,
        bytes: Vec<u8>,
        content_type: &str,
        sha256_hex: &str,
    ) -> Result<(), StorageError> {
        self.store_gate.pass().await;
        self.check("store_result")?;
        // S3 refuses a body whose SHA-256 is not the one sent with it.
        if hex::encode(Sha256::digest(&bytes)) != sha256_hex {
            return Err(StorageError::Unavailable("BadDigest".into()));
        }
        let mut objects = self.objects();
        objects.result_writes.push(result_key.into());
        objects.results.insert(
            result_key.into(),
            StoredObject {
                bytes,
                content_type: Some(content_type.into()),
            },
        );
        Ok(())
    }

    async fn delete(&self, bucket: Bucket, key: &str) -> Result<(), StorageError> {
        self.check("delete")?;
        let mut objects = self.objects();
        match bucket {
            Bucket::Uploads => objects.uploads.remove(key),
            Bucket::Results => objects.results.remove(key),
        };
        objects.deleted.push((bucket, key.into()));
        Ok(())
    }

    async fn erase(&self, bucket: Bucket, key: &str) -> Result<(), StorageError> {
        self.check("erase")?;
        let mut objects = self.objects();
        match bucket {
            Bucket::Uploads => objects.uploads.remove(key),
            Bucket::Results => objects.results.remove(key),
        };
        objects.erased.push((bucket, key.into()));
        Ok(())
    }

    async fn put_file(
        &self,
        key: &str,
        path: &Path,
        content_type: &str,
    ) -> Result<(), StorageError> {
        self.put_gate.pass().await;
        self.check("put_file")?;
        let bytes = tokio::fs::read(path)
            .await
            .map_err(|e| StorageError::Unavailable(e.to_string()))?;
        let mut objects = self.objects();
        objects.result_writes.push(key.into());
        objects.results.insert(
            key.into(),
            StoredObject {
                bytes,
                content_type: Some(content_type.into()),
            },
        );
        Ok(())
    }
}

/// The reports queue.
#[derive(Default)]
pub struct Queue {
    pub sent: Mutex<Vec<String>>,
    pub down: AtomicBool,
}

impl Queue {
    pub fn sent(&self) -> Vec<String> {
        self.sent.lock().unwrap().clone()
    }
}

impl ReportQueue for &Queue {
    async fn enqueue(&self, report_id: &str) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(down("queue"));
        }
        self.sent.lock().unwrap().push(report_id.into());
        Ok(())
    }
}

/// The structural PDF check, in process (the documents are the tests' own), with an answer a
/// test can impose instead and a count of the checks run.
#[derive(Default)]
pub struct Pdf {
    /// Imposed answer; the real parse otherwise.
    pub verdict: Mutex<Option<Result<(), RejectReason>>>,
    /// The checker cannot run (no child process could start).
    pub unavailable: AtomicBool,
    pub calls: AtomicUsize,
}

impl Pdf {
    pub fn answering(verdict: Result<(), RejectReason>) -> Self {
        let pdf = Self::default();
        *pdf.verdict.lock().unwrap() = Some(verdict);
        pdf
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl PdfInspector for &Pdf {
    async fn inspect_pdf(&self, bytes: &[u8]) -> Result<Result<(), RejectReason>, FilesError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.unavailable.load(Ordering::SeqCst) {
            return Err(FilesError::Unavailable("checker could not start".into()));
        }
        Ok((*self.verdict.lock().unwrap()).unwrap_or_else(|| parse_pdf(bytes)))
    }
}

/// An `ERASED` entry of the erased file, as the projection writes it.
pub fn is_erasure_of(entry: &AccessEntry, file_id: &str) -> bool {
    entry.action == AccessAction::Erased && entry.file_id == file_id && entry.entry_id == file_id
}
