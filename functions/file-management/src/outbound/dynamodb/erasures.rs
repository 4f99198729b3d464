//! Erased accounts ([`Erasures`]): the account's tombstone (`ERASURE#<accountId>`, kept for
//! good) with what its erasure did, and the `ERASED` audit entry of each erased file
//! (`ERASED#<examId>` / `FILE#<fileId>`).

use clinic_shared::dynamo::{self, n, s};
use clinic_shared::envelope::Role;
use jiff::Timestamp;

use super::{DynamoStore, to_item, unavailable};
use crate::domain::{AccessEntry, Erasures, StoreError};

const ERASURE_SK: &str = "ERASURE";

impl Erasures for DynamoStore {
    async fn is_erased(&self, account_id: &str) -> Result<bool, StoreError> {
        Ok(self
            .get(&format!("ERASURE#{account_id}"), ERASURE_SK)
            .await?
            .is_some())
    }

    async fn begin_erasure(
        &self,
        account_id: &str,
        role: Role,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("ERASURE#{account_id}")))
            .item("sk", s(ERASURE_SK))
            .item("accountId", s(account_id))
            .item("role", s(role.as_str()))
            .item("erasedAt", s(at.to_string()))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        // Begun before: the first record stands.
        dynamo::applied(result)
            .map(|_| ())
            .map_err(|e| unavailable(&e))
    }

    async fn record_erased_file(&self, entry: &AccessEntry) -> Result<bool, StoreError> {
        let mut item = to_item(entry)?;
        item.insert("pk".into(), s(format!("ERASED#{}", entry.exam_id)));
        item.insert("sk".into(), s(format!("FILE#{}", entry.entry_id)));
        match self.put_audit_entry(item).await {
            Ok(()) => Ok(true),
            Err(StoreError::Conflict(_)) => Ok(false),
            Err(err) => Err(err),
        }
    }

    async fn finish_erasure(
        &self,
        account_id: &str,
        files: usize,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.update_item(format!("ERASURE#{account_id}"), ERASURE_SK)
            .update_expression("SET filesErased = :files, completedAt = :at")
            .expression_attribute_values(":files", n(i64::try_from(files).unwrap_or(i64::MAX)))
            .expression_attribute_values(":at", s(at.to_string()))
            .send()
            .await
            .map_err(|e| unavailable(&e))?;
        Ok(())
    }
}
