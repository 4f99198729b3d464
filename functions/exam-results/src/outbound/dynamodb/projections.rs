//! What the service keeps of other services' data ([`ProjectionStore`]): hospital profiles with
//! their client mapping, the match key ↔ patient account links (`MATCH#<key>`,
//! `ACCOUNT#<id>` / `PATIENT`), erasure records (`ACCOUNT#<id>` / `ERASURE`) and the result
//! files that could not move their exam (`EXAM#<id>` / `FILE#<fileId>`).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{TransactWriteItem, Update};
use clinic_shared::dynamo::{self, key, n, s, text};
use jiff::Timestamp;

use super::{DynamoStore, build_error, from_item, unavailable};
use crate::domain::{Exam, Hospital, ProjectionStore, StoreError};

impl DynamoStore {
    /// The exams whose `attribute` on `index` is `value`.
    async fn exams_where(
        &self,
        index: &str,
        attribute: &str,
        value: &str,
    ) -> Result<Vec<Exam>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression("#k = :v")
            .expression_attribute_names("#k", attribute)
            .expression_attribute_values(":v", s(value));
        dynamo::query_all(query)
            .await
            .map_err(|e| unavailable(&e))?
            .iter()
            .map(from_item)
            .collect()
    }

    async fn delete(&self, pk: &str, sk: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| unavailable(&e))
    }
}

impl ProjectionStore for DynamoStore {
    async fn upsert_hospital(&self, hospital: &Hospital) -> Result<(), StoreError> {
        let profile = Update::builder()
            .table_name(&self.table)
            .key("pk", s(format!("HOSPITAL#{}", hospital.id)))
            .key("sk", s("HOSPITAL"))
            .update_expression(
                "SET #id = :id, #name = :name, cnes = :cnes, clientId = :client, \
                 gsi1pk = :g1, gsi1sk = :sort",
            )
            .expression_attribute_names("#id", "id")
            .expression_attribute_names("#name", "name")
            .expression_attribute_values(":id", s(&hospital.id))
            .expression_attribute_values(":name", s(&hospital.name))
            .expression_attribute_values(":cnes", s(&hospital.cnes))
            .expression_attribute_values(":client", s(&hospital.client_id))
            .expression_attribute_values(":g1", s("HOSPITALS"))
            .expression_attribute_values(
                ":sort",
                s(format!("{}#{}", hospital.name.to_lowercase(), hospital.id)),
            )
            .build()
            .map_err(build_error)?;
        let mapping = HashMap::from([
            (
                "pk".to_string(),
                s(format!("CLIENT#{}", hospital.client_id)),
            ),
            ("sk".to_string(), s("CLIENT")),
            ("hospitalId".to_string(), s(&hospital.id)),
        ]);
        let items = vec![
            TransactWriteItem::builder().update(profile).build(),
            self.put(mapping, None, &[])?,
        ];
        self.transact_as(items, &[], &[]).await
    }

    async fn register_patient(&self, account_id: &str, match_key: &str) -> Result<(), StoreError> {
        let link = HashMap::from([
            ("pk".to_string(), s(format!("MATCH#{match_key}"))),
            ("sk".to_string(), s("ACCOUNT")),
            ("accountId".to_string(), s(account_id)),
        ]);
        let patient = HashMap::from([
            ("pk".to_string(), s(format!("ACCOUNT#{account_id}"))),
            ("sk".to_string(), s("PATIENT")),
            ("matchKey".to_string(), s(match_key)),
        ]);
        let items = vec![self.put(link, None, &[])?, self.put(patient, None, &[])?];
        self.transact_as(items, &[], &[]).await
    }

    async fn account_for_match(&self, match_key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .get(&format!("MATCH#{match_key}"), "ACCOUNT")
            .await?
            .and_then(|item| text(&item, "accountId")))
    }

    async fn match_of_account(&self, account_id: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .get(&format!("ACCOUNT#{account_id}"), "PATIENT")
            .await?
            .and_then(|item| text(&item, "matchKey")))
    }

    async fn exams_awaiting(&self, match_key: &str) -> Result<Vec<Exam>, StoreError> {
        self.exams_where("pendingMatch", "pendingMatch", match_key)
            .await
    }

    async fn exams_of_patient(&self, account_id: &str) -> Result<Vec<Exam>, StoreError> {
        self.exams_where("gsi1", "gsi1pk", &format!("PATIENT#{account_id}"))
            .await
    }

    async fn forget_patient(
        &self,
        account_id: &str,
        match_key: Option<&str>,
        exams_anonymised: usize,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        if let Some(key) = match_key {
            // Only this account's link.
            let result = self
                .client
                .delete_item()
                .table_name(&self.table)
                .key("pk", s(format!("MATCH#{key}")))
                .key("sk", s("ACCOUNT"))
                .condition_expression("attribute_not_exists(pk) OR accountId = :id")
                .expression_attribute_values(":id", s(account_id))
                .send()
                .await;
            // Linked to another account since: that link stays.
            dynamo::applied(result).map_err(|e| unavailable(&e))?;
        }
        self.delete(&format!("ACCOUNT#{account_id}"), "PATIENT")
            .await?;
        // A repeated erasure keeps the first date and adds what it found.
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("ACCOUNT#{account_id}")))
            .key("sk", s("ERASURE"))
            .update_expression("SET erasedAt = if_not_exists(erasedAt, :at) ADD examsAnonymised :n")
            .expression_attribute_values(":at", s(at.to_string()))
            .expression_attribute_values(":n", n(exams_anonymised))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| unavailable(&e))
    }

    async fn is_erased(&self, account_id: &str) -> Result<bool, StoreError> {
        Ok(self
            .get(&format!("ACCOUNT#{account_id}"), "ERASURE")
            .await?
            .is_some())
    }

    async fn record_skipped_file(
        &self,
        exam_id: &str,
        file_id: &str,
        reason: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("EXAM#{exam_id}")))
            .item("sk", s(format!("FILE#{file_id}")))
            .item("reason", s(reason))
            .item("skippedAt", s(at.to_string()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| unavailable(&e))
    }
}
