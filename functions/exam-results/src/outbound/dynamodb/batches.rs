//! Integration batches ([`BatchStore`]): the batch header (`BATCH#<id>` / `BATCH`) and one item
//! per entry (`ITEM#<index>`), which holds the access code it issued once applied.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::{PutRequest, TransactWriteItem, Update, WriteRequest};
use clinic_shared::dynamo::{self, n, number, s, text};
use clinic_shared::envelope::Envelope;
use futures::stream::{self, StreamExt, TryStreamExt};
use jiff::Timestamp;

use super::claims::claim_item;
use super::{DynamoStore, build_error, from_item, to_item, unavailable};
use crate::domain::claim::{AccessCode, ExamClaim};
use crate::domain::ingest::{Batch, BatchItem, ItemState};
use crate::domain::{BatchStore, ConflictOn, Exam, StoreError};

impl DynamoStore {
    async fn batch_write(&self, requests: Vec<WriteRequest>) -> Result<(), StoreError> {
        let mut pending = requests;
        for attempt in 0..6u32 {
            if pending.is_empty() {
                return Ok(());
            }
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(20 << attempt)).await;
            }
            let out = self
                .client
                .batch_write_item()
                .request_items(&self.table, pending)
                .send()
                .await
                .map_err(|e| unavailable(&e))?;
            pending = out
                .unprocessed_items
                .and_then(|mut m| m.remove(&self.table))
                .unwrap_or_default();
        }
        if pending.is_empty() {
            Ok(())
        } else {
            Err(StoreError::Unavailable(
                "DynamoDB left batch items unprocessed".into(),
            ))
        }
    }
}

fn item_sk(index: u32) -> String {
    format!("ITEM#{index:05}")
}

impl BatchStore for DynamoStore {
    async fn create_batch(&self, batch: &Batch) -> Result<(), StoreError> {
        let pk = format!("BATCH#{}", batch.id);
        let header = HashMap::from([
            ("pk".to_string(), s(&pk)),
            ("sk".to_string(), s("BATCH")),
            ("id".to_string(), s(&batch.id)),
            ("hospitalId".to_string(), s(&batch.hospital_id)),
            ("createdAt".to_string(), s(batch.created_at.to_string())),
            ("itemCount".to_string(), n(batch.items.len())),
        ]);
        let mut rows = vec![header];
        for item in &batch.items {
            let mut row = to_item(item)?;
            row.insert("pk".into(), s(&pk));
            row.insert("sk".into(), s(item_sk(item.index)));
            rows.push(row);
        }
        let requests = rows
            .into_iter()
            .map(|row| {
                PutRequest::builder()
                    .set_item(Some(row))
                    .build()
                    .map(|put| WriteRequest::builder().put_request(put).build())
                    .map_err(build_error)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let chunks: Vec<Vec<WriteRequest>> = requests.chunks(25).map(<[_]>::to_vec).collect();
        stream::iter(chunks)
            .map(|chunk| self.batch_write(chunk))
            .buffer_unordered(4)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    async fn get_batch(&self, id: &str) -> Result<Option<Batch>, StoreError> {
        let pk = format!("BATCH#{id}");
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(&pk))
            .consistent_read(true);
        let rows = dynamo::query_all(query)
            .await
            .map_err(|e| unavailable(&e))?;
        let Some(header) = rows
            .iter()
            .find(|r| text(r, "sk").as_deref() == Some("BATCH"))
        else {
            return Ok(None);
        };
        let hospital_id = text(header, "hospitalId")
            .ok_or_else(|| StoreError::Corrupt("batch without hospitalId".into()))?;
        let created_at = text(header, "createdAt")
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| StoreError::Corrupt("batch without createdAt".into()))?;
        let mut items = rows
            .iter()
            .filter(|r| text(r, "sk").is_some_and(|sk| sk.starts_with("ITEM#")))
            .map(from_item::<BatchItem>)
            .collect::<Result<Vec<_>, _>>()?;
        items.sort_by_key(|i| i.index);
        if number::<u64>(header, "itemCount").is_some_and(|c| c != items.len() as u64) {
            return Err(StoreError::Corrupt("batch is missing items".into()));
        }
        Ok(Some(Batch {
            id: id.to_string(),
            hospital_id,
            created_at,
            items,
        }))
    }

    async fn finish_item(
        &self,
        batch_id: &str,
        index: u32,
        state: ItemState,
        reason: Option<&str>,
    ) -> Result<bool, StoreError> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("BATCH#{batch_id}")))
            .key("sk", s(item_sk(index)))
            .condition_expression("#state = :accepted")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":accepted", s(ItemState::Accepted.as_str()))
            .expression_attribute_values(":state", s(state.as_str()))
            .expression_attribute_values(":at", s(Timestamp::now().to_string()));
        request = match reason {
            Some(reason) => request
                .update_expression("SET #state = :state, finishedAt = :at, #reason = :reason")
                .expression_attribute_names("#reason", "reason")
                .expression_attribute_values(":reason", s(reason)),
            None => request.update_expression("SET #state = :state, finishedAt = :at"),
        };
        dynamo::applied(request.send().await).map_err(|e| unavailable(&e))
    }

    async fn apply_item(
        &self,
        exam: &Exam,
        batch_id: &str,
        index: u32,
        events: &[Envelope],
        issued: Option<(&ExamClaim, &AccessCode)>,
    ) -> Result<(), StoreError> {
        let mut finish = Update::builder()
            .table_name(&self.table)
            .key("pk", s(format!("BATCH#{batch_id}")))
            .key("sk", s(item_sk(index)))
            .condition_expression("#state = :accepted")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":applied", s(ItemState::Applied.as_str()))
            .expression_attribute_values(":accepted", s(ItemState::Accepted.as_str()))
            .expression_attribute_values(":at", s(Timestamp::now().to_string()))
            .expression_attribute_values(":exam", s(&exam.id));
        finish = match issued {
            Some((_, code)) => finish
                .update_expression(
                    "SET #state = :applied, finishedAt = :at, examId = :exam, accessCode = :code",
                )
                .expression_attribute_values(":code", s(code.display())),
            None => {
                finish.update_expression("SET #state = :applied, finishedAt = :at, examId = :exam")
            }
        };
        let mut items = vec![
            self.exam_put(exam)?,
            TransactWriteItem::builder()
                .update(finish.build().map_err(build_error)?)
                .build(),
        ];
        let mut roles = vec![ConflictOn::Exam, ConflictOn::BatchItem];
        if let Some((claim, _)) = issued {
            items.push(self.put(claim_item(claim), Some("attribute_not_exists(pk)"), &[])?);
            // A protocol drawn twice (80 random bits) would fail here; the item is retried.
            roles.push(ConflictOn::Exam);
        }
        items.extend(self.outbox(events)?);
        self.transact_as(items, &roles, &[ConflictOn::BatchItem, ConflictOn::Exam])
            .await
    }
}
