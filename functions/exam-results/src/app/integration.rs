//! Hospitals pushing exams in batches, and the state of a batch.

use super::*;

impl<S, Q> ExamResults<S, Q>
where
    S: CatalogueStore + ExamStore + BatchStore + ClaimStore + ProjectionStore,
    Q: IngestQueue,
{
    /// Accepts a hospital's batch: validates every item, stores the batch with each item
    /// `ACCEPTED` or `REJECTED` (with its reason), and queues the accepted ones to be applied.
    /// Items that could not be queued are marked `REJECTED` so the hospital sends them again.
    ///
    /// # Errors
    /// `Forbidden`, `PayloadTooLarge` (over 500 items), `Validation` (no items), `Unavailable`
    /// (nothing could be queued).
    #[tracing::instrument(skip_all)]
    pub async fn submit_batch(
        &self,
        caller: &Caller,
        items: Vec<Value>,
        trace: &str,
    ) -> Result<BatchReceipt, ExamsError> {
        authorize(caller, Operation::SubmitBatch)?;
        if items.len() > MAX_ITEMS {
            return Err(ExamsError::PayloadTooLarge(format!(
                "A batch holds at most {MAX_ITEMS} items; this one has {}.",
                items.len()
            )));
        }
        if items.is_empty() {
            return Err(ExamsError::Validation(vec![FieldError::new(
                "items",
                "items must hold 1 to 500 exams.",
            )]));
        }
        let hospital = self.hospital_of(caller).await?;
        let batch_id = Ulid::new().to_string();
        let mut records = Vec::with_capacity(items.len());
        let mut commands = Vec::new();
        for (index, raw) in items.iter().enumerate() {
            let index = u32::try_from(index).unwrap_or(u32::MAX);
            match parse_item(raw) {
                Ok(item) => {
                    records.push(BatchItem {
                        index,
                        external_id: Some(item.external_id.as_str().to_string()),
                        version: Some(item.version.get()),
                        state: ItemState::Accepted,
                        reason: None,
                        access_code: None,
                    });
                    commands.push(IngestCommand {
                        batch_id: batch_id.clone(),
                        hospital_id: hospital.id.clone(),
                        index,
                        item,
                        trace: trace.to_string(),
                    });
                }
                Err(RejectedItem {
                    external_id,
                    version,
                    reason,
                }) => records.push(BatchItem {
                    index,
                    external_id,
                    version,
                    state: ItemState::Rejected,
                    reason: Some(reason),
                    access_code: None,
                }),
            }
        }
        let batch = Batch {
            id: batch_id.clone(),
            hospital_id: hospital.id.clone(),
            created_at: self.clock.now(),
            items: records,
        };
        self.store.create_batch(&batch).await?;
        let accepted = commands.len();
        let rejected = batch.items.len() - accepted;
        if !commands.is_empty() {
            let failed = match self.queue.enqueue(&commands).await {
                Ok(failed) => failed,
                Err(err) => {
                    tracing::error!(batch_id = %batch_id, error = %err, "batch could not be queued");
                    commands.iter().map(|c| c.index).collect()
                }
            };
            for index in &failed {
                self.store
                    .finish_item(
                        &batch_id,
                        *index,
                        ItemState::Rejected,
                        Some("The item could not be queued; send it again."),
                    )
                    .await?;
            }
            if failed.len() == accepted {
                return Err(ExamsError::Unavailable(
                    "the ingest queue refused the batch".into(),
                ));
            }
            tracing::info!(
                batch_id = %batch_id,
                hospital_id = %hospital.id,
                accepted = accepted - failed.len(),
                rejected = rejected + failed.len(),
                "batch accepted"
            );
            return Ok(BatchReceipt {
                batch_id,
                accepted: accepted - failed.len(),
                rejected: rejected + failed.len(),
            });
        }
        tracing::info!(batch_id = %batch_id, hospital_id = %hospital.id, rejected, "batch accepted");
        Ok(BatchReceipt {
            batch_id,
            accepted,
            rejected,
        })
    }

    /// A batch of the calling hospital with each item's state.
    ///
    /// # Errors
    /// `Forbidden`, `NotFound` (also for another hospital's batch), `Unavailable`.
    #[tracing::instrument(skip_all, fields(batch_id = %batch_id))]
    pub async fn get_batch(&self, caller: &Caller, batch_id: &str) -> Result<Batch, ExamsError> {
        caller
            .require(&[Role::Hospital])
            .map_err(|_| ExamsError::Forbidden("only the hospital that sent it reads a batch"))?;
        let hospital = self.hospital_of(caller).await?;
        let Ok(id) = Id::parse(batch_id) else {
            return Err(ExamsError::NotFound("Batch"));
        };
        self.store
            .get_batch(id.as_str())
            .await?
            .filter(|b| b.hospital_id == hospital.id)
            .ok_or(ExamsError::NotFound("Batch"))
    }
}
