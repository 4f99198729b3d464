//! The service's DynamoDB table (single-table design) behind every table port.
//!
//! Items (`pk` / `sk`):
//! - `EXAM#<examId>` / `EXAM`: exam view; `gsi1` = `EXAMS#<yyyy-mm>` / `<scheduledMs>#<examId>`
//!   (reports by date), `gsi2` = `HOSPITAL#<id>` / same (reports of one hospital), `gsi3` =
//!   `PATIENT#<id>` / `EXAM#<examId>` (erasure);
//! - `CLIENT#<clientId>` / `HOSPITAL`: the hospital of a machine client;
//! - `FILE#<fileId>` / `FILE`: file record; `gsi3` = `EXAMFILES#<examId>` / `<createdMs>#<fileId>`;
//! - `ACCESS#<examId>` / `<atMs>#<entryId>`: download grants of an exam's files, and
//!   `ACCESS#REPORT#<reportId>` / `<atMs>#<entryId>`: report download grants; written only by
//!   the API function;
//! - `ERASED#<examId>` / `FILE#<fileId>`: the erasure of a file, written only by the projection
//!   function;
//! - `ERASURE#<accountId>` / `ERASURE`: an erased account's tombstone (kept for good) and what
//!   its erasure did;
//! - `REPORT#<reportId>` / `REPORT`: report job with its lease (`leaseOwner`, `leaseUntilMs`),
//!   removed by TTL (`expiresAt`) after its retention;
//! - plus the shared `IDEMPOTENCY#…`, `EVENT#…` (consumer dedup) and `OUTBOX#…` items.
//!
//! Audit entries (`ACCESS#`, `ERASED#`) are conditional puts that never overwrite, carry no TTL
//! attribute, and each partition has one writing function: template.yaml denies PutItem to the
//! others, UpdateItem / DeleteItem / BatchWriteItem to everyone, and the TTL attribute to the
//! writer.
//!
//! Sort keys holding times use zero-padded epoch milliseconds, which order as numbers do.
//!
//! One submodule per port (`projection`, `files`, `audit_trail`, `erasures`, `reports`); the
//! helpers they share (attribute values, item conversion, error mapping, the transaction and
//! paged-query runners, the audit put) live here.

mod audit_trail;
mod erasures;
mod files;
mod projection;
mod reports;

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use clinic_shared::aws::error_text;
use clinic_shared::dynamo::{self, TransactFailure};
use clinic_shared::envelope::Envelope;
use clinic_shared::outbox::outbox_put;
use clinic_shared::pagination::{decode_cursor, encode_cursor};
use jiff::Timestamp;
use serde::de::DeserializeOwned;

use crate::domain::{Page, StoreError};

type Item = HashMap<String, AttributeValue>;

/// The file-management table.
#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// Zero-padded epoch milliseconds: sorts like the instant it stands for.
fn sortable(ts: Timestamp) -> String {
    format!("{:015}", ts.as_millisecond().max(0))
}

fn unavailable<E, R>(err: &SdkError<E, R>) -> StoreError
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    StoreError::Unavailable(error_text(err))
}

fn to_item<T: serde::Serialize>(value: &T) -> Result<Item, StoreError> {
    let mut item: Item =
        serde_dynamo::to_item(value).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    item.retain(|_, v| !matches!(v, AttributeValue::Null(_)));
    Ok(item)
}

fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// The table's TTL attribute (template.yaml `TimeToLiveSpecification`): never on audit entries.
const TTL_ATTRIBUTE: &str = "expiresAt";

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable(&e))?;
        Ok(out.item)
    }

    /// Runs a transaction the way every service does (conflicts with concurrent transactions
    /// retried).
    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), TransactFailure> {
        dynamo::transact(&self.client, items).await
    }

    fn outbox(&self, event: &Envelope) -> Result<TransactWriteItem, StoreError> {
        outbox_put(&self.table, event).map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    fn update(&self, pk: String, sk: &str) -> aws_sdk_dynamodb::types::builders::UpdateBuilder {
        Update::builder()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
    }

    /// Puts an audit item that must not exist yet; `Conflict` when it does.
    async fn put_audit_entry(&self, mut item: Item) -> Result<(), StoreError> {
        // Audit entries never expire, whatever a caller put in them.
        item.remove(TTL_ATTRIBUTE);
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(|e| {
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception())
                {
                    StoreError::Conflict("audit entry exists".into())
                } else {
                    unavailable(&e)
                }
            })?;
        Ok(())
    }

    async fn query_page<T: DeserializeOwned>(
        &self,
        index: Option<&str>,
        key_condition: &str,
        values: Vec<(&str, AttributeValue)>,
        key_names: &[&str],
        limit: u16,
        cursor: Option<&str>,
    ) -> Result<Page<T>, StoreError> {
        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .set_index_name(index.map(str::to_string))
            .key_condition_expression(key_condition)
            .limit(i32::from(limit));
        for (name, value) in values {
            request = request.expression_attribute_values(name, value);
        }
        if let Some(cursor) = cursor {
            let start = decode_cursor(cursor, key_names).map_err(|_| StoreError::InvalidCursor)?;
            request = request.set_exclusive_start_key(Some(start));
        }
        let out = request.send().await.map_err(|e| unavailable(&e))?;
        let items = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(from_item)
            .collect::<Result<Vec<T>, _>>()?;
        Ok(Page {
            items,
            next_cursor: out.last_evaluated_key.as_ref().and_then(encode_cursor),
        })
    }
}
