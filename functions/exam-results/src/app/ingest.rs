//! Applies queued batch items to exams: a higher version wins, an equal or lower one is `STALE`,
//! and the batch item records the outcome in the same transaction as the exam. Applying the same
//! item twice (a redelivery, a batch sent again) changes nothing the second time.

use clinic_shared::clock::{self, SharedClock};

use super::WRITE_ATTEMPTS;
use crate::domain::claim::{AccessCode, ExamClaim};
use crate::domain::ingest::{IngestCommand, IngestDecision, ItemState, decide};
use crate::domain::{
    BatchStore, CatalogueStore, ConflictOn, Exam, ExamStore, ExamsError, ProjectionStore,
    StoreError,
};

/// Applies ingest commands.
pub struct IngestWorker<S> {
    store: S,
    clock: SharedClock,
}

clinic_shared::impl_with_clock!(IngestWorker<S>);

impl<S> IngestWorker<S>
where
    S: BatchStore + ExamStore + CatalogueStore + ProjectionStore,
{
    pub fn new(store: S) -> Self {
        Self {
            store,
            clock: clock::system(),
        }
    }

    /// Applies one item and returns the state its batch item ended in (for a redelivered item
    /// already finished: the state it was finished with is not re-read, `Applied` is reported
    /// only when this call applied it).
    ///
    /// # Errors
    /// `Unavailable` (retry later).
    #[tracing::instrument(skip_all, fields(batch_id = %cmd.batch_id, index = cmd.index))]
    pub async fn apply(&self, cmd: &IngestCommand) -> Result<ItemState, ExamsError> {
        let state = self.apply_once(cmd).await?;
        clinic_shared::metrics::count(
            super::SERVICE,
            "IngestItems",
            Some(("outcome", state.as_str())),
        );
        Ok(state)
    }

    async fn apply_once(&self, cmd: &IngestCommand) -> Result<ItemState, ExamsError> {
        let Some(hospital) = self.store.get_hospital(&cmd.hospital_id).await? else {
            return self
                .finish(cmd, ItemState::Rejected, Some("The hospital is unknown."))
                .await;
        };
        let exam_id = Exam::id_for_external(&cmd.hospital_id, cmd.item.external_id.as_str());
        let match_key = cmd.item.match_key();
        for _ in 0..WRITE_ATTEMPTS {
            let current = self.store.get_exam(&exam_id).await?;
            let account = match &match_key {
                Some(key) => self.store.account_for_match(key).await?,
                None => None,
            };
            let decision = decide(
                current.as_ref(),
                cmd,
                &hospital.name,
                account.as_deref(),
                self.clock.now(),
            );
            match decision {
                IngestDecision::Stale => {
                    return self.finish(cmd, ItemState::Stale, None).await;
                }
                IngestDecision::Foreign => {
                    return self
                        .finish(
                            cmd,
                            ItemState::Rejected,
                            Some("The exam belongs to another hospital."),
                        )
                        .await;
                }
                IngestDecision::Apply { exam, events } => {
                    // The receipt's code: issued with the exam's first push, for an exam no
                    // account could be linked to by a verified address.
                    let code =
                        if current.is_none() && exam.awaits_patient() {
                            Some(AccessCode::generate().map_err(|e| {
                                ExamsError::Unavailable(format!("no access code: {e}"))
                            })?)
                        } else {
                            None
                        };
                    let claim = code
                        .as_ref()
                        .map(|c| ExamClaim::issue(c, &exam.id, self.clock.now()));
                    let issued = claim.as_ref().zip(code.as_ref());
                    match self
                        .store
                        .apply_item(&exam, &cmd.batch_id, cmd.index, &events, issued)
                        .await
                    {
                        Ok(()) => {
                            tracing::info!(exam_id = %exam.id, version = cmd.item.version.get(), "batch item applied");
                            if exam.awaits_patient() {
                                self.link_if_registered_meanwhile(&exam, &cmd.trace).await?;
                            }
                            return Ok(ItemState::Applied);
                        }
                        Err(StoreError::Conflict {
                            on: ConflictOn::Exam,
                            ..
                        }) => continue,
                        Err(StoreError::Conflict {
                            on: ConflictOn::BatchItem,
                            ..
                        }) => {
                            tracing::info!("batch item already finished; nothing to do");
                            return Ok(ItemState::Applied);
                        }
                        Err(other) => return Err(other.into()),
                    }
                }
            }
        }
        Err(ExamsError::Unavailable(
            "the exam kept changing while applying the item".into(),
        ))
    }

    /// Finishes an item whose queued message fails validation as `REJECTED`.
    ///
    /// # Errors
    /// `Unavailable`.
    pub async fn reject(&self, batch_id: &str, index: u32, reason: &str) -> Result<(), ExamsError> {
        self.store
            .finish_item(batch_id, index, ItemState::Rejected, Some(reason))
            .await?;
        clinic_shared::metrics::count(
            super::SERVICE,
            "IngestItems",
            Some(("outcome", ItemState::Rejected.as_str())),
        );
        Ok(())
    }

    async fn finish(
        &self,
        cmd: &IngestCommand,
        state: ItemState,
        reason: Option<&str>,
    ) -> Result<ItemState, ExamsError> {
        let changed = self
            .store
            .finish_item(&cmd.batch_id, cmd.index, state, reason)
            .await?;
        tracing::info!(state = state.as_str(), changed, "batch item finished");
        Ok(state)
    }

    /// The patient may have confirmed between reading the match key's account and writing the
    /// exam: the registration's linking pass could then have missed this exam, so look once more.
    async fn link_if_registered_meanwhile(
        &self,
        exam: &Exam,
        trace: &str,
    ) -> Result<(), ExamsError> {
        let Some(key) = exam.awaited_match() else {
            return Ok(());
        };
        let Some(account) = self.store.account_for_match(key).await? else {
            return Ok(());
        };
        super::projections::link_exam(
            &self.store,
            &exam.id,
            key,
            &account,
            trace,
            self.clock.now(),
        )
        .await?;
        Ok(())
    }
}
