//! Exams as each role sees them, their lifecycle steps, and claiming one with an access code.

use super::*;

impl<S, Q> ExamResults<S, Q>
where
    S: CatalogueStore + ExamStore + BatchStore + ClaimStore + ProjectionStore,
    Q: IngestQueue,
{
    /// The caller's exams (own, assigned, the hospital's, or all for staff), newest first.
    ///
    /// # Errors
    /// `Forbidden` (unregistered hospital client), `InvalidCursor`, `Unavailable`.
    #[tracing::instrument(skip_all)]
    pub async fn list_exams(
        &self,
        caller: &Caller,
        status: Option<ExamStatus>,
        limit: u16,
        cursor: Option<&str>,
    ) -> Result<Page<Exam>, ExamsError> {
        let viewer = self.viewer(caller).await?;
        Ok(self
            .store
            .list_exams(&viewer, status, limit, cursor)
            .await?)
    }

    /// One exam the caller may see; someone else's is `NotFound`.
    ///
    /// # Errors
    /// `NotFound`, `Forbidden` (unregistered hospital client), `Unavailable`.
    #[tracing::instrument(skip_all, fields(exam_id = %exam_id))]
    pub async fn get_exam(&self, caller: &Caller, exam_id: &str) -> Result<Exam, ExamsError> {
        let viewer = self.viewer(caller).await?;
        self.visible_exam(&viewer, exam_id).await
    }

    pub(super) async fn visible_exam(
        &self,
        viewer: &Viewer,
        exam_id: &str,
    ) -> Result<Exam, ExamsError> {
        let Ok(id) = Id::parse(exam_id) else {
            return Err(ExamsError::NotFound("Exam"));
        };
        self.store
            .get_exam(id.as_str())
            .await?
            .filter(|exam| exam.visible_to(viewer))
            .ok_or(ExamsError::NotFound("Exam"))
    }

    /// Assigns (or reassigns) the doctor of an exam not yet completed. Staff for any exam, a
    /// hospital for its own.
    ///
    /// # Errors
    /// `Forbidden`, `NotFound`, `InvalidTransition`, `Unavailable`.
    #[tracing::instrument(skip_all, fields(exam_id = %exam_id))]
    pub async fn assign(
        &self,
        caller: &Caller,
        exam_id: &str,
        doctor_id: &Id,
        trace: &str,
    ) -> Result<Exam, ExamsError> {
        authorize(caller, Operation::Assign)?;
        let viewer = self.viewer(caller).await?;
        self.ensure_not_erased(caller).await?;
        for _ in 0..WRITE_ATTEMPTS {
            let exam = self.visible_exam(&viewer, exam_id).await?;
            if !can_assign(exam.status) {
                return Err(ExamsError::InvalidTransition {
                    current: exam.status,
                });
            }
            if exam.doctor_id.as_deref() == Some(doctor_id.as_str()) {
                return Ok(exam);
            }
            let assigned = Exam {
                doctor_id: Some(doctor_id.as_str().to_string()),
                updated_at: self.clock.now(),
                revision: exam.revision + 1,
                ..exam.clone()
            };
            let events = [assigned.updated_event(exam.status, trace)];
            if went_through(self.store.save_exam(&assigned, &events).await)? {
                tracing::info!(exam_id = %exam.id, "doctor assigned");
                return Ok(assigned);
            }
        }
        Err(ExamsError::Unavailable(
            "the exam kept changing while assigning".into(),
        ))
    }

    /// Moves an exam one step along its lifecycle (`Collect` or `Complete`). Collecting: staff,
    /// the hospital or the assigned doctor; completing: the hospital or the assigned doctor.
    ///
    /// # Errors
    /// `Forbidden`, `NotFound`, `InvalidTransition`, `Unavailable`.
    #[tracing::instrument(skip_all, fields(exam_id = %exam_id, action = ?action))]
    pub async fn advance(
        &self,
        caller: &Caller,
        exam_id: &str,
        action: Action,
        trace: &str,
    ) -> Result<Exam, ExamsError> {
        let allowed: &[Role] = match action {
            Action::Collect => &[Role::Staff, Role::Hospital, Role::Doctor],
            Action::Complete => &[Role::Hospital, Role::Doctor],
            Action::Cancel | Action::ResultReady => &[],
        };
        if !allowed.contains(&caller.role) {
            return Err(ExamsError::Forbidden(
                "your role may not take this step of the exam",
            ));
        }
        self.ensure_not_erased(caller).await?;
        let viewer = self.viewer(caller).await?;
        for _ in 0..WRITE_ATTEMPTS {
            let exam = self.visible_exam(&viewer, exam_id).await?;
            let status = next_status(exam.status, action)
                .map_err(|e| ExamsError::InvalidTransition { current: e.current })?;
            let moved = Exam {
                status,
                updated_at: self.clock.now(),
                revision: exam.revision + 1,
                ..exam.clone()
            };
            let events = [moved.status_change_event(exam.status, trace)];
            if went_through(self.store.save_exam(&moved, &events).await)? {
                tracing::info!(exam_id = %exam.id, status = ?status, "exam advanced");
                return Ok(moved);
            }
        }
        Err(ExamsError::Unavailable(
            "the exam kept changing while advancing it".into(),
        ))
    }

    /// Links a hospital's exam to the calling patient with the access code printed on the
    /// receipt. Every kind of failure is the same answer; failures count against the account
    /// (a few per hour) and wrong secrets against the code (which locks after a few). Claiming
    /// again with the same code answers as the first time.
    ///
    /// # Errors
    /// `Forbidden` (not a patient), `AccountErased`, `TooManyClaims`, `AccessCodeInvalid`,
    /// `Unavailable`.
    #[tracing::instrument(skip_all, fields(protocol = %code.protocol()))]
    pub async fn claim(
        &self,
        caller: &Caller,
        code: &AccessCode,
        trace: &str,
    ) -> Result<Exam, ExamsError> {
        caller
            .require(&[Role::Patient])
            .map_err(|_| ExamsError::Forbidden("only patients claim exams"))?;
        self.ensure_not_erased(caller).await?;
        let now = self.clock.now();
        let hour = hour_key(now);
        if self.store.claim_failures(&caller.id, &hour).await? >= CLAIM_FAILURES_PER_HOUR {
            return Err(ExamsError::TooManyClaims {
                retry_after: seconds_to_next_hour(now),
            });
        }
        for _ in 0..WRITE_ATTEMPTS {
            let claim = self.store.get_claim(code.protocol()).await?;
            let check = claim.as_ref().map(|c| c.check(code, &caller.id, now));
            let claim = match (claim, check) {
                (Some(claim), Some(ClaimCheck::Valid)) => claim,
                (Some(claim), Some(ClaimCheck::AlreadyYours)) => {
                    let viewer = Viewer::Patient(caller.id.clone());
                    return self
                        .visible_exam(&viewer, &claim.exam_id)
                        .await
                        .map_err(|_| ExamsError::AccessCodeInvalid);
                }
                (_, check) => {
                    let wrong_secret = check == Some(ClaimCheck::WrongSecret);
                    self.store
                        .record_failed_claim(
                            &caller.id,
                            &hour,
                            wrong_secret.then(|| code.protocol()),
                        )
                        .await?;
                    tracing::info!(outcome = ?check, "access code refused");
                    return Err(ExamsError::AccessCodeInvalid);
                }
            };
            let Some(exam) = self
                .store
                .get_exam(&claim.exam_id)
                .await?
                .filter(Exam::awaits_patient)
            else {
                // Linked by a verified address meanwhile, or erased: nothing left to claim.
                return Err(ExamsError::AccessCodeInvalid);
            };
            let linked = Exam {
                patient_id: Some(caller.id.clone()),
                updated_at: self.clock.now(),
                revision: exam.revision + 1,
                ..exam.clone()
            };
            let events = [linked.updated_event(exam.status, trace)];
            match self
                .store
                .claim_exam(&claim.protocol, &caller.id, &linked, &events)
                .await
            {
                Ok(()) => {
                    tracing::info!(exam_id = %linked.id, "exam claimed with its access code");
                    clinic_shared::metrics::count(SERVICE, "ExamsClaimed", None);
                    return Ok(linked);
                }
                Err(StoreError::Conflict {
                    on: ConflictOn::Exam | ConflictOn::Claim,
                    ..
                }) => continue,
                Err(other) => return Err(other.into()),
            }
        }
        Err(ExamsError::Unavailable(
            "the exam kept changing while claiming it".into(),
        ))
    }
}
