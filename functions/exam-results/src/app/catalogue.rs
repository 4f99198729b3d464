//! Hospitals, their exam types and slots: listing and publishing availability.

use super::*;

impl<S, Q> ExamResults<S, Q>
where
    S: CatalogueStore + ExamStore + BatchStore + ClaimStore + ProjectionStore,
    Q: IngestQueue,
{
    /// Hospitals with the exam types each offers (cached for a few seconds).
    ///
    /// # Errors
    /// `InvalidCursor`, `Unavailable`.
    #[tracing::instrument(skip_all)]
    pub async fn list_hospitals(
        &self,
        limit: u16,
        cursor: Option<String>,
    ) -> Result<Page<Hospital>, ExamsError> {
        let key = (limit, cursor);
        if let Some(page) = self.hospitals_cache.get(&key) {
            return Ok(page);
        }
        let page = self.store.list_hospitals(limit, key.1.as_deref()).await?;
        self.hospitals_cache.put(key, page.clone());
        Ok(page)
    }

    /// Publishes availability: creates or updates the slots and registers their exam types in
    /// the hospital's catalogue. Staff for any hospital; a hospital for itself.
    ///
    /// # Errors
    /// `Forbidden`, `NotFound`, `CapacityBelowBooked`, `Unavailable`.
    #[tracing::instrument(skip_all, fields(hospital_id = %hospital_id))]
    pub async fn publish_slots(
        &self,
        caller: &Caller,
        hospital_id: &str,
        slots: Vec<SlotSpec>,
    ) -> Result<Vec<Slot>, ExamsError> {
        authorize(caller, Operation::PublishSlots)?;
        self.ensure_not_erased(caller).await?;
        let own = match caller.role {
            Role::Hospital => Some(self.hospital_of(caller).await?),
            _ => None,
        };
        let hospital = match Id::parse(hospital_id) {
            Ok(id) => self.store.get_hospital(id.as_str()).await?,
            Err(_) => None,
        }
        .ok_or(ExamsError::NotFound("Hospital"))?;
        if own.is_some_and(|own| own.id != hospital.id) {
            return Err(ExamsError::Forbidden(
                "a hospital publishes only its own slots",
            ));
        }
        match self.store.publish_slots(&hospital, &slots).await {
            Ok(published) => {
                self.slots_cache.clear();
                self.hospitals_cache.clear();
                tracing::info!(slots = published.len(), "slots published");
                Ok(published)
            }
            Err(StoreError::Conflict {
                on: ConflictOn::Slot,
                index: Some(index),
            }) => {
                let booked = match slots.get(index) {
                    Some(spec) => self
                        .store
                        .get_slot(&Slot::id_for(&hospital.id, &spec.exam_type, spec.start))
                        .await?
                        .map_or(0, |s| s.booked),
                    None => 0,
                };
                Err(ExamsError::CapacityBelowBooked { booked, index })
            }
            Err(other) => Err(other.into()),
        }
    }

    /// Open slots with places left (cached for a few seconds).
    ///
    /// # Errors
    /// `InvalidCursor`, `Unavailable`.
    #[tracing::instrument(skip_all)]
    pub async fn list_slots(
        &self,
        query: SlotQuery,
        limit: u16,
        cursor: Option<String>,
    ) -> Result<Page<Slot>, ExamsError> {
        let key = (query, limit, cursor);
        if let Some(page) = self.slots_cache.get(&key) {
            return Ok(page);
        }
        let page = self
            .store
            .list_open_slots(&key.0, limit, key.2.as_deref())
            .await?;
        self.slots_cache.put(key, page.clone());
        Ok(page)
    }
}
