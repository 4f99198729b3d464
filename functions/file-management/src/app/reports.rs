//! Staff reports: request (queued, idempotent at the HTTP edge), status with a download URL, the
//! worker that builds a report under a lease, and the dead-letter handler that gives up on one
//! with a reason its requester can read.
//!
//! A report is served to the staff member who asked for it, while they are staff, for
//! [`REPORT_RETENTION_DAYS`](crate::domain::values::REPORT_RETENTION_DAYS) days from the
//! request (compared here; the bucket's lifecycle and the record's TTL only clean up later).
//! Every download URL is on the audit trail before it exists.
//!
//! Every status change is conditional: a report is taken only when `queued` (or when the lease of
//! a crashed worker ran out), finished only by the worker holding the lease, and failed only when
//! no worker holds it. A second worker receiving the same message therefore never builds it
//! twice, and a redelivery after a crash takes over and writes the same key.

use std::path::PathBuf;

use clinic_shared::auth::Caller;
use clinic_shared::clock::{self, SharedClock};
use clinic_shared::envelope::{ReportCompleted, ReportFailed, Role};
use jiff::SignedDuration;

use super::{event, report_key};
use crate::domain::values::{ReportFilters, ReportFormat, ReportId};
use crate::domain::{
    AuditTrail, Bucket, FailOutcome, FilesError, ObjectStorage, Presigned, Projection, Report,
    ReportClaim, ReportGrant, ReportQueue, ReportRow, ReportStatus, Reports, StorageError,
    StoreError,
};
use crate::report::{self, RenderError, ReportMeta};

/// How a build attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildOutcome {
    Built {
        rows: u64,
    },
    /// Done or failed before: nothing to do.
    AlreadyFinished,
    /// Another worker took over before this one finished; its result stands.
    LeaseLost,
}

/// Why a build attempt failed (the code is kept on the report for the final message).
#[derive(Debug, thiserror::Error)]
enum BuildError {
    #[error("reading exams failed: {0}")]
    Data(#[from] StoreError),
    #[error("storing the file failed: {0}")]
    Storage(#[from] StorageError),
    #[error("rendering failed: {0}")]
    Render(#[from] RenderError),
}

impl BuildError {
    fn code(&self) -> &'static str {
        match self {
            BuildError::Data(_) => "DATA_UNAVAILABLE",
            BuildError::Storage(_) => "STORAGE_UNAVAILABLE",
            BuildError::Render(_) => "RENDER_FAILED",
        }
    }
}

/// The sentence a requester reads when their report failed.
pub fn readable_failure(last_error: Option<&str>, parked_reason: Option<&str>) -> String {
    if parked_reason.is_some() {
        return "The report job was invalid and could not be processed. Please request the report again.".into();
    }
    let cause = match last_error {
        Some("DATA_UNAVAILABLE") => "the exam data could not be read",
        Some("STORAGE_UNAVAILABLE") => "the report file could not be stored",
        Some("RENDER_FAILED") => "the report file could not be written",
        _ => "it took longer than allowed",
    };
    format!(
        "The report could not be generated after several attempts: {cause}. Please request it \
         again; if it keeps failing, narrow the date range or contact support."
    )
}

/// The report use cases.
pub struct ReportsApp<S, O, Q> {
    store: S,
    storage: O,
    queue: Q,
    work_dir: PathBuf,
    lease: SignedDuration,
    clock: SharedClock,
}

clinic_shared::impl_with_clock!(ReportsApp<S, O, Q>);

impl<S: Reports + Projection + AuditTrail, O: ObjectStorage, Q: ReportQueue> ReportsApp<S, O, Q> {
    /// `work_dir` holds temporary files (Lambda's `/tmp`); `lease` must exceed the worker's
    /// timeout and stay below the queue's visibility timeout.
    pub fn new(store: S, storage: O, queue: Q, work_dir: PathBuf, lease: SignedDuration) -> Self {
        Self {
            store,
            storage,
            queue,
            work_dir,
            lease,
            clock: clock::system(),
        }
    }

    /// Records a `queued` report and puts its job on the queue.
    ///
    /// # Errors
    /// `Forbidden` for non-staff; `Unavailable`.
    #[tracing::instrument(skip_all)]
    pub async fn request(
        &self,
        caller: &Caller,
        format: ReportFormat,
        filters: ReportFilters,
    ) -> Result<Report, FilesError> {
        if caller.role != Role::Staff {
            return Err(FilesError::Forbidden("only staff request reports"));
        }
        let now = self.clock.now();
        let report = Report {
            report_id: ReportId::new().as_str().to_string(),
            requested_by: caller.id.clone(),
            format,
            filters,
            status: ReportStatus::Queued,
            created_at: now,
            updated_at: now,
            attempts: 0,
            rows: None,
            result_key: None,
            last_error: None,
            error: None,
        };
        self.store.create_report(&report).await?;
        if let Err(err) = self.queue.enqueue(&report.report_id).await {
            // Not queued: say so on the report, and let the client retry (5xx frees the key).
            let _ = self
                .store
                .set_report_status(
                    &report.report_id,
                    ReportStatus::Error,
                    Some("The report could not be queued. Please request it again."),
                )
                .await;
            return Err(err.into());
        }
        tracing::info!(report_id = %report.report_id, "report queued");
        Ok(report)
    }

    /// A report of the caller's, with a download URL when done: for staff only, the requester
    /// only, within its retention; the URL is on the audit trail before it is minted.
    ///
    /// # Errors
    /// `Forbidden` (not staff), `NotFound` (unknown or someone else's), `ReportExpired`,
    /// `Unavailable`.
    #[tracing::instrument(skip_all, fields(report_id = %report_id.as_str()))]
    pub async fn status(
        &self,
        caller: &Caller,
        report_id: &ReportId,
        request_id: &str,
    ) -> Result<(Report, Option<Presigned>), FilesError> {
        if caller.role != Role::Staff {
            return Err(FilesError::Forbidden("only staff read reports"));
        }
        let report = self
            .store
            .report(report_id.as_str())
            .await?
            .filter(|r| r.requested_by == caller.id)
            .ok_or(FilesError::NotFound("Report"))?;
        let now = self.clock.now();
        if now >= report.retained_until() {
            return Err(FilesError::ReportExpired);
        }
        let url = match (&report.status, &report.result_key) {
            (ReportStatus::Done, Some(key)) => {
                self.store
                    .append_report_grant(&ReportGrant {
                        entry_id: ulid::Ulid::new().to_string(),
                        report_id: report.report_id.clone(),
                        actor_id: caller.id.clone(),
                        actor_role: caller.role,
                        at: now,
                        request_id: request_id.to_string(),
                    })
                    .await?;
                let name = format!(
                    "exams-report-{}.{}",
                    report.report_id,
                    report.format.as_str()
                );
                let url = self
                    .storage
                    .presign_download(Bucket::Results, key, &name)
                    .await?;
                tracing::info!("report download granted");
                Some(url)
            }
            _ => None,
        };
        Ok((report, url))
    }

    /// Builds a report: takes it under a lease, streams the exams into the writer, uploads the
    /// file and marks it done with `report.completed`, all or nothing.
    ///
    /// # Errors
    /// `NotFound` (no such report: not retryable); `Conflict` `REPORT_BUSY` (another worker holds
    /// it) and `Unavailable` (retryable).
    #[tracing::instrument(skip_all, fields(report_id = %report_id))]
    pub async fn build(&self, report_id: &str, trace: &str) -> Result<BuildOutcome, FilesError> {
        let token = ulid::Ulid::new().to_string();
        let now = self.clock.now();
        let report = match self
            .store
            .claim_report(report_id, &token, now, now + self.lease)
            .await?
        {
            ReportClaim::Claimed(report) => *report,
            ReportClaim::Finished => return Ok(BuildOutcome::AlreadyFinished),
            ReportClaim::Missing => return Err(FilesError::NotFound("Report")),
            ReportClaim::Busy => {
                return Err(FilesError::Conflict {
                    code: "REPORT_BUSY",
                    detail: "another worker is building this report".into(),
                });
            }
        };
        let started = std::time::Instant::now();
        match self.render_and_upload(&report).await {
            Ok((rows, key)) => {
                let completed = event(
                    &report.report_id,
                    ReportCompleted {
                        report_id: report.report_id.clone(),
                        requested_by: report.requested_by.clone(),
                        format: report.format.as_str().to_string(),
                        rows,
                    },
                    trace,
                );
                let won = self
                    .store
                    .complete_report(&report.report_id, &token, rows, &key, &completed)
                    .await?;
                if !won {
                    tracing::warn!("lease lost before the report was marked done");
                    return Ok(BuildOutcome::LeaseLost);
                }
                tracing::info!(
                    rows,
                    elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                    "report done"
                );
                clinic_shared::metrics::count("file-management", "ReportsCompleted", None);
                Ok(BuildOutcome::Built { rows })
            }
            Err(err) => {
                tracing::warn!(code = err.code(), error = %err, "report attempt failed");
                if let Err(release) = self
                    .store
                    .release_report(&report.report_id, &token, err.code())
                    .await
                {
                    tracing::warn!(error = %release, "could not release the report");
                }
                Err(FilesError::Unavailable(err.code().to_string()))
            }
        }
    }

    async fn render_and_upload(&self, report: &Report) -> Result<(u64, String), BuildError> {
        let path = report::local_path(&self.work_dir, &report.report_id, report.format);
        let result = self.render(report, &path).await;
        let uploaded = match result {
            Ok(rows) => {
                let key = report_key(&report.report_id, report.format.as_str());
                self.storage
                    .put_file(&key, &path, report.format.content_type())
                    .await
                    .map(|()| (rows, key))
                    .map_err(BuildError::from)
            }
            Err(err) => Err(err),
        };
        let _ = tokio::fs::remove_file(&path).await;
        uploaded
    }

    /// Feeds pages of exams to a writer running on a blocking thread (bounded channel: at most a
    /// few pages are in memory at once).
    async fn render(&self, report: &Report, path: &std::path::Path) -> Result<u64, BuildError> {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<ReportRow>>(2);
        let meta = ReportMeta {
            report_id: report.report_id.clone(),
            filters: report.filters.clone(),
            generated_at: self.clock.now(),
        };
        let (format, output, work_dir) = (report.format, path.to_path_buf(), self.work_dir.clone());
        let writer = tokio::task::spawn_blocking(move || {
            let mut sink = report::writer(format, &output, &work_dir, meta)?;
            while let Some(batch) = rx.blocking_recv() {
                for row in &batch {
                    sink.push(row)?;
                }
            }
            sink.finish()
        });
        let mut cursor = None;
        let fetched: Result<(), StoreError> = async {
            loop {
                let page = self.store.report_exams(&report.filters, cursor).await?;
                let rows: Vec<ReportRow> = page.items.into_iter().map(ReportRow::from).collect();
                if !rows.is_empty() && tx.send(rows).await.is_err() {
                    // The writer stopped (it failed): its error is the one to report.
                    return Ok(());
                }
                match page.next_cursor {
                    Some(next) => cursor = Some(next),
                    None => return Ok(()),
                }
            }
        }
        .await;
        drop(tx);
        let written = writer
            .await
            .map_err(|e| RenderError::Io(format!("writer thread: {e}")))?;
        fetched?;
        Ok(written?)
    }

    /// Gives up on a report whose job reached the dead-letter queue: marks it `error` with a
    /// readable reason and announces `report.failed` — unless it finished, or a worker still
    /// holds its lease (then the caller retries later).
    ///
    /// # Errors
    /// `NotFound`; `Conflict` `REPORT_BUSY` (retry later); `Unavailable`.
    #[tracing::instrument(skip_all, fields(report_id = %report_id))]
    pub async fn give_up(
        &self,
        report_id: &str,
        parked_reason: Option<&str>,
        trace: &str,
    ) -> Result<FailOutcome, FilesError> {
        let report = self
            .store
            .report(report_id)
            .await?
            .ok_or(FilesError::NotFound("Report"))?;
        let reason = readable_failure(report.last_error.as_deref(), parked_reason);
        let failed = event(
            &report.report_id,
            ReportFailed {
                report_id: report.report_id.clone(),
                requested_by: report.requested_by.clone(),
                reason: reason.clone(),
            },
            trace,
        );
        let outcome = self
            .store
            .fail_report(report_id, &reason, self.clock.now(), &failed)
            .await?;
        match outcome {
            FailOutcome::Busy => Err(FilesError::Conflict {
                code: "REPORT_BUSY",
                detail: "a worker still holds this report".into(),
            }),
            FailOutcome::Missing => Err(FilesError::NotFound("Report")),
            other => {
                tracing::info!(outcome = ?other, "report given up");
                clinic_shared::metrics::count("file-management", "ReportsFailed", None);
                Ok(other)
            }
        }
    }
}
