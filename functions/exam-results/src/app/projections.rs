//! What this service does with other services' events: keeps its hospital and patient
//! projections, links hospital-pushed exams to patients who sign up later, anonymises a patient's
//! exams when the account is erased, and marks results ready when the file service processed a
//! result file. Each step is safe to repeat.

use clinic_shared::clock::{self, SharedClock};
use clinic_shared::envelope::{
    AccountDeleted, ExamStatus, FileKind, FileProcessed, HospitalRegistered, PatientRegistered,
    Role,
};
use jiff::Timestamp;

use super::{WRITE_ATTEMPTS, went_through};
use crate::domain::values::{Id, MatchKey};
use crate::domain::{
    Action, Exam, ExamOrigin, ExamStore, ExamsError, Hospital, ProjectionStore, next_status,
};

/// The events consumer's use cases.
pub struct Projections<S> {
    store: S,
    clock: SharedClock,
}

clinic_shared::impl_with_clock!(Projections<S>);

impl<S: ProjectionStore + ExamStore> Projections<S> {
    pub fn new(store: S) -> Self {
        Self {
            store,
            clock: clock::system(),
        }
    }

    /// `hospital.registered`: the hospital joins the catalogue and its machine client is mapped.
    ///
    /// # Errors
    /// `Validation` (bad ids: never retried), `Unavailable`.
    #[tracing::instrument(skip_all, fields(hospital_id = %event.hospital_id))]
    pub async fn hospital_registered(&self, event: &HospitalRegistered) -> Result<(), ExamsError> {
        let id = Id::parse(&event.hospital_id)
            .map_err(|e| ExamsError::field("hospitalId", e.to_string()))?;
        let client = Id::parse(&event.client_id)
            .map_err(|e| ExamsError::field("clientId", e.to_string()))?;
        let hospital = Hospital {
            id: id.as_str().to_string(),
            name: event.name.trim().to_string(),
            cnes: event.cnes.clone(),
            client_id: client.as_str().to_string(),
            exam_types: Default::default(),
        };
        self.store.upsert_hospital(&hospital).await?;
        tracing::info!("hospital projected");
        Ok(())
    }

    /// `patient.registered`: remembers which account verified the address of the match key and
    /// links the exams hospitals pushed for that CPF and that address before the patient
    /// confirmed. A CPF alone never links anything.
    ///
    /// # Errors
    /// `Validation` (bad key or id: never retried), `Unavailable`.
    #[tracing::instrument(skip_all, fields(account_id = %event.account_id))]
    pub async fn patient_registered(
        &self,
        event: &PatientRegistered,
        trace: &str,
    ) -> Result<usize, ExamsError> {
        let account = Id::parse(&event.account_id)
            .map_err(|e| ExamsError::field("accountId", e.to_string()))?;
        let key = MatchKey::parse(&event.match_key)
            .map_err(|e| ExamsError::field("matchKey", e.to_string()))?;
        if self.store.is_erased(account.as_str()).await? {
            tracing::info!("account already erased; registration ignored");
            return Ok(0);
        }
        self.store
            .register_patient(account.as_str(), key.as_str())
            .await?;
        let waiting = self.store.exams_awaiting(key.as_str()).await?;
        let mut linked = 0;
        for exam in &waiting {
            if link_exam(
                &self.store,
                &exam.id,
                key.as_str(),
                account.as_str(),
                trace,
                self.clock.now(),
            )
            .await?
            {
                linked += 1;
            }
        }
        tracing::info!(linked, "patient projected");
        Ok(linked)
    }

    /// `account.deleted` of a patient: every exam linked to the account keeps its clinical
    /// record (ids, hospital, type, dates, status, result) but loses the CPF, the contact key and
    /// the link; future appointments are cancelled and their places freed. The account's match
    /// key is forgotten and the erasure recorded, so nothing links to the id again.
    ///
    /// # Errors
    /// `Validation` (bad id), `Unavailable`.
    #[tracing::instrument(skip_all, fields(account_id = %event.account_id))]
    pub async fn account_deleted(
        &self,
        event: &AccountDeleted,
        trace: &str,
    ) -> Result<usize, ExamsError> {
        if event.role != Role::Patient {
            return Ok(0);
        }
        let account = Id::parse(&event.account_id)
            .map_err(|e| ExamsError::field("accountId", e.to_string()))?;
        let key = self.store.match_of_account(account.as_str()).await?;
        let mut exams = self.store.exams_of_patient(account.as_str()).await?;
        if let Some(key) = &key {
            // Pushed for the same verified address and CPF but not linked yet (a push racing
            // the erasure): they are the person's too.
            for exam in self.store.exams_awaiting(key).await? {
                if !exams.iter().any(|e| e.id == exam.id) {
                    exams.push(exam);
                }
            }
        }
        let mut anonymised = 0;
        for exam in &exams {
            self.anonymise(&exam.id, account.as_str(), key.as_deref(), trace)
                .await?;
            anonymised += 1;
        }
        self.store
            .forget_patient(
                account.as_str(),
                key.as_deref(),
                anonymised,
                self.clock.now(),
            )
            .await?;
        tracing::info!(exams = anonymised, "patient data erased");
        Ok(anonymised)
    }

    async fn anonymise(
        &self,
        exam_id: &str,
        account_id: &str,
        key: Option<&str>,
        trace: &str,
    ) -> Result<(), ExamsError> {
        for _ in 0..WRITE_ATTEMPTS {
            let Some(exam) = self.store.get_exam(exam_id).await? else {
                return Ok(());
            };
            let belongs = exam.patient_id.as_deref() == Some(account_id)
                || (key.is_some() && exam.awaited_match() == key);
            if !belongs {
                return Ok(());
            }
            let now = self.clock.now();
            let mut erased = Exam {
                patient_id: None,
                patient_cpf: None,
                patient_match: None,
                anonymised_at: Some(now),
                updated_at: now,
                revision: exam.revision + 1,
                ..exam.clone()
            };
            let upcoming = exam.origin == ExamOrigin::Booking
                && exam.status == ExamStatus::Scheduled
                && exam.scheduled_at > now;
            let result = if upcoming {
                erased.status = ExamStatus::Cancelled;
                let events = [erased.updated_event(exam.status, trace)];
                self.store
                    .cancel_booking(&erased, account_id, &events)
                    .await
            } else {
                self.store.save_exam(&erased, &[]).await
            };
            if went_through(result)? {
                return Ok(());
            }
        }
        Err(ExamsError::Unavailable(
            "the exam kept changing while anonymising it".into(),
        ))
    }

    /// `file.processed`: a processed `result` file moves a `COMPLETED` exam to `RESULT_READY`
    /// and announces `exam.result.ready`. Any other state is recorded and skipped; attachments
    /// are ignored; the same file twice changes nothing.
    ///
    /// # Errors
    /// `Unavailable`.
    #[tracing::instrument(skip_all, fields(exam_id = %event.exam_id, file_id = %event.file_id))]
    pub async fn file_processed(
        &self,
        event: &FileProcessed,
        trace: &str,
    ) -> Result<bool, ExamsError> {
        if event.kind != FileKind::Result {
            return Ok(false);
        }
        let (Ok(exam_id), Ok(file_id)) = (Id::parse(&event.exam_id), Id::parse(&event.file_id))
        else {
            return Err(ExamsError::field("examId", "not an id this service issued"));
        };
        for _ in 0..WRITE_ATTEMPTS {
            let now = self.clock.now();
            let Some(exam) = self.store.get_exam(exam_id.as_str()).await? else {
                self.skip(exam_id.as_str(), file_id.as_str(), "EXAM_NOT_FOUND", now)
                    .await?;
                return Ok(false);
            };
            let ready = match exam.status {
                ExamStatus::ResultReady
                    if exam.result_file_id.as_deref() == Some(file_id.as_str()) =>
                {
                    return Ok(false);
                }
                ExamStatus::ResultReady => Exam {
                    result_file_id: Some(file_id.as_str().to_string()),
                    updated_at: now,
                    revision: exam.revision + 1,
                    ..exam.clone()
                },
                current => match next_status(current, Action::ResultReady) {
                    Ok(status) => Exam {
                        status,
                        result_file_id: Some(file_id.as_str().to_string()),
                        updated_at: now,
                        revision: exam.revision + 1,
                        ..exam.clone()
                    },
                    Err(_) => {
                        let reason = format!("NOT_COMPLETED: exam is {current:?}");
                        self.skip(exam_id.as_str(), file_id.as_str(), &reason, now)
                            .await?;
                        return Ok(false);
                    }
                },
            };
            let events = [ready.result_ready_event(file_id.as_str(), trace)];
            if went_through(self.store.save_exam(&ready, &events).await)? {
                tracing::info!("exam result ready");
                clinic_shared::metrics::count(super::SERVICE, "ResultsPublished", None);
                return Ok(true);
            }
        }
        Err(ExamsError::Unavailable(
            "the exam kept changing while marking its result".into(),
        ))
    }

    async fn skip(
        &self,
        exam_id: &str,
        file_id: &str,
        reason: &str,
        at: Timestamp,
    ) -> Result<(), ExamsError> {
        tracing::warn!(reason = %reason, "result file skipped");
        Ok(self
            .store
            .record_skipped_file(exam_id, file_id, reason, at)
            .await?)
    }
}

/// Links an exam waiting for the patient of `match_key` to the account, announcing
/// `exam.updated`. `Ok(false)` when the exam no longer waits for that key.
///
/// # Errors
/// `Unavailable`.
pub(crate) async fn link_exam<S: ExamStore>(
    store: &S,
    exam_id: &str,
    match_key: &str,
    account_id: &str,
    trace: &str,
    now: Timestamp,
) -> Result<bool, ExamsError> {
    for _ in 0..WRITE_ATTEMPTS {
        let Some(exam) = store.get_exam(exam_id).await? else {
            return Ok(false);
        };
        if exam.awaited_match() != Some(match_key) {
            return Ok(false);
        }
        let linked = Exam {
            patient_id: Some(account_id.to_string()),
            updated_at: now,
            revision: exam.revision + 1,
            ..exam.clone()
        };
        let events = [linked.updated_event(exam.status, trace)];
        if went_through(store.save_exam(&linked, &events).await)? {
            tracing::info!(exam_id = %exam.id, "exam linked to its patient");
            return Ok(true);
        }
    }
    Err(ExamsError::Unavailable(
        "the exam kept changing while linking it".into(),
    ))
}
