//! File records ([`Files`]): one item per uploaded file (`FILE#<fileId>`), listed per exam on
//! `gsi3` (`EXAMFILES#<examId>`), finished with its event in one transaction.

use clinic_shared::dynamo::{n, s};
use clinic_shared::envelope::Envelope;
use jiff::Timestamp;

use super::{DynamoStore, from_item, sortable, to_item, unavailable};
use crate::domain::{FileOutcome, FileRecord, Files, Page, StoreError};

const FILE_SK: &str = "FILE";

impl Files for DynamoStore {
    async fn create_file(&self, file: &FileRecord) -> Result<(), StoreError> {
        let mut item = to_item(file)?;
        item.insert("pk".into(), s(format!("FILE#{}", file.file_id)));
        item.insert("sk".into(), s(FILE_SK));
        item.insert("gsi3pk".into(), s(format!("EXAMFILES#{}", file.exam_id)));
        item.insert(
            "gsi3sk".into(),
            s(format!("{}#{}", sortable(file.created_at), file.file_id)),
        );
        self.put_new_or_conflict(item, "file id exists").await
    }

    async fn file(&self, file_id: &str) -> Result<Option<FileRecord>, StoreError> {
        self.get(&format!("FILE#{file_id}"), FILE_SK)
            .await?
            .map(from_item)
            .transpose()
    }

    async fn files_of_exam(
        &self,
        exam_id: &str,
        limit: u16,
        cursor: Option<&str>,
    ) -> Result<Page<FileRecord>, StoreError> {
        self.query_page(
            Some("gsi3"),
            "gsi3pk = :pk",
            vec![(":pk", s(format!("EXAMFILES#{exam_id}")))],
            &["pk", "sk", "gsi3pk", "gsi3sk"],
            limit,
            cursor,
        )
        .await
    }

    async fn finish_file(
        &self,
        file_id: &str,
        outcome: &FileOutcome,
        at: Timestamp,
        event: &Envelope,
    ) -> Result<bool, StoreError> {
        let update = self
            .update(format!("FILE#{file_id}"), FILE_SK)
            .condition_expression("#status = :pending")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":pending", s("PENDING"))
            .expression_attribute_values(":at", s(at.to_string()));
        let update = match outcome {
            FileOutcome::Available {
                size,
                sha256,
                result_key,
            } => update
                .update_expression(
                    "SET #status = :available, #size = :size, sha256 = :sha, resultKey = :key, processedAt = :at",
                )
                .expression_attribute_names("#size", "size")
                .expression_attribute_values(":available", s("AVAILABLE"))
                .expression_attribute_values(":size", n(i64::try_from(*size).unwrap_or(i64::MAX)))
                .expression_attribute_values(":sha", s(sha256.clone()))
                .expression_attribute_values(":key", s(result_key.clone())),
            FileOutcome::Rejected(reason) => update
                .update_expression("SET #status = :rejected, reason = :reason, processedAt = :at")
                .expression_attribute_values(":rejected", s("REJECTED"))
                .expression_attribute_values(":reason", s(reason.code())),
        };
        self.update_with_event(update, event).await
    }

    async fn mark_erased(&self, file_id: &str, at: Timestamp) -> Result<(), StoreError> {
        self.update_item(format!("FILE#{file_id}"), FILE_SK)
            .update_expression(
                "SET #status = :erased, erasedAt = :at REMOVE fileName, sha256, resultKey",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":erased", s("ERASED"))
            .expression_attribute_values(":at", s(at.to_string()))
            .send()
            .await
            .map_err(|e| unavailable(&e))?;
        Ok(())
    }
}
