//! The outbox items of the events about one person, found on `gsi1` (`OUTBOXOF#<subject>` /
//! `<time>#<eventId>`) so that an erasure can purge them.

use clinic_shared::envelope::EventType;

use super::{DynamoAccountStore, events_of_pk, s};
use crate::domain::error::StoreError;

impl DynamoAccountStore {
    pub(super) async fn delete_events_of(
        &self,
        subject: &str,
        keep: &[EventType],
    ) -> Result<(), StoreError> {
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name("gsi1")
                .key_condition_expression("gsi1pk = :pk")
                .expression_attribute_values(":pk", s(&events_of_pk(subject)))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| StoreError::Unavailable(clinic_shared::aws::error_text(&e)))?;
            for item in out.items() {
                let kept = item
                    .get("eventType")
                    .and_then(|v| v.as_s().ok())
                    .and_then(|t| EventType::parse(t))
                    .is_some_and(|t| keep.contains(&t));
                let (Some(pk), Some(sk)) = (item.get("pk"), item.get("sk")) else {
                    continue;
                };
                if kept {
                    continue;
                }
                self.client
                    .delete_item()
                    .table_name(&self.table)
                    .key("pk", pk.clone())
                    .key("sk", sk.clone())
                    .send()
                    .await
                    .map_err(|e| StoreError::Unavailable(clinic_shared::aws::error_text(&e)))?;
            }
            match out.last_evaluated_key() {
                Some(key) => start = Some(key.clone()),
                None => return Ok(()),
            }
        }
    }
}
