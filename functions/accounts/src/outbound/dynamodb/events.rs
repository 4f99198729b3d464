//! The outbox items of the events about one person, found on `gsi1` (`OUTBOXOF#<subject>` /
//! `<time>#<eventId>`) so that an erasure can purge them.

use crate::domain::AccountEvents;
use clinic_shared::dynamo::{self, s, text};
use clinic_shared::envelope::EventType;

use super::{DynamoAccountStore, events_of_pk, unavailable};
use crate::domain::error::StoreError;

impl AccountEvents for DynamoAccountStore {
    async fn purge_events(&self, subject: &str, keep: &[EventType]) -> Result<(), StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("gsi1")
            .key_condition_expression("gsi1pk = :pk")
            .expression_attribute_values(":pk", s(events_of_pk(subject)));
        let events = dynamo::query_all(query)
            .await
            .map_err(|e| unavailable(&e))?;
        for item in events {
            let kept = text(&item, "eventType")
                .and_then(|t| EventType::parse(&t))
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
                .map_err(|e| unavailable(&e))?;
        }
        Ok(())
    }
}
