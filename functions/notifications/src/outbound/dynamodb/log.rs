//! The notification log (`LOG#<recipientId>` / `<eventTime>#<eventId>#<channel>`): a person's
//! entries (each written with the delivery it completes), listed newest first
//! ([`NotificationLog`]) and deleted when the contact is erased.

use std::time::Duration;

use aws_sdk_dynamodb::types::{DeleteRequest, WriteRequest};
use clinic_shared::dynamo::{self, Item, s};
use clinic_shared::pagination::{decode_cursor, encode_cursor};

use super::{DynamoNotificationStore, LogItem, PK, SK, log_pk, unavailable};
use crate::domain::{LogEntry, NotificationLog, Page, StoreError};

/// Attempts to write the unprocessed part of a batch of deletes.
const BATCH_ATTEMPTS: u32 = 5;

fn log_entry(item: LogItem) -> LogEntry {
    LogEntry {
        recipient_id: item.recipient_id,
        channel: item.channel,
        template: item.template,
        status: item.status,
        reason: item.reason,
        event_id: item.event_id,
        event_type: item.event_type,
        event_time: item.event_time,
        recorded_at: item.recorded_at,
        provider_message_id: item.provider_message_id,
    }
}

impl DynamoNotificationStore {
    /// Deletes every log entry of `account_id`.
    pub(super) async fn delete_log(&self, account_id: &str) -> Result<usize, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sk", SK)
            .expression_attribute_values(":pk", s(log_pk(account_id)))
            .projection_expression("#pk, #sk")
            .consistent_read(true);
        let keys = dynamo::query_all(query)
            .await
            .map_err(|e| unavailable(&e))?;
        for chunk in keys.chunks(25) {
            self.delete_batch(chunk).await?;
        }
        Ok(keys.len())
    }

    async fn delete_batch(&self, keys: &[Item]) -> Result<(), StoreError> {
        let mut requests = keys
            .iter()
            .map(|key| {
                DeleteRequest::builder()
                    .set_key(Some(key.clone()))
                    .build()
                    .map(|d| WriteRequest::builder().delete_request(d).build())
                    .map_err(|e| StoreError::Unavailable(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        for attempt in 0..BATCH_ATTEMPTS {
            if requests.is_empty() {
                return Ok(());
            }
            let out = self
                .client
                .batch_write_item()
                .request_items(&self.table, requests)
                .send()
                .await
                .map_err(|e| unavailable(&e))?;
            requests = out
                .unprocessed_items
                .and_then(|mut items| items.remove(&self.table))
                .unwrap_or_default();
            if !requests.is_empty() {
                tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
            }
        }
        if requests.is_empty() {
            Ok(())
        } else {
            Err(StoreError::Unavailable(
                "log entries left undeleted after retries".into(),
            ))
        }
    }
}

impl NotificationLog for DynamoNotificationStore {
    #[tracing::instrument(skip(self, cursor))]
    async fn list(
        &self,
        recipient_id: &str,
        limit: u16,
        cursor: Option<&str>,
    ) -> Result<Page<LogEntry>, StoreError> {
        let pk = log_pk(recipient_id);
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":pk", s(&pk))
            .scan_index_forward(false)
            .limit(i32::from(limit));
        if let Some(cursor) = cursor {
            let start = decode_cursor(cursor, &[PK, SK]).map_err(|_| StoreError::InvalidCursor)?;
            // A cursor is only good for the log it was issued for.
            if start.get(PK).and_then(|v| v.as_s().ok()) != Some(&pk) {
                return Err(StoreError::InvalidCursor);
            }
            query = query.set_exclusive_start_key(Some(start));
        }
        let out = query.send().await.map_err(|e| unavailable(&e))?;
        let items = out
            .items()
            .iter()
            .map(|item| {
                serde_dynamo::from_item::<_, LogItem>(item.clone())
                    .map(log_entry)
                    .map_err(|e| StoreError::Corrupt(format!("log item: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page {
            items,
            next_cursor: out.last_evaluated_key().and_then(encode_cursor),
        })
    }
}
