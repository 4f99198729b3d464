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
//! helpers they share (item conversion, error mapping, the update and put builders, the
//! update-with-its-event transaction, the paged-query runner, the audit put) live here, on top of
//! `clinic_shared::dynamo`.

mod audit_trail;
mod erasures;
mod files;
mod projection;
mod reports;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::builders::UpdateBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use clinic_shared::aws::error_text;
use clinic_shared::dynamo::{self, Item, key, s};
use clinic_shared::envelope::Envelope;
use clinic_shared::outbox::outbox_put;
use clinic_shared::pagination::{decode_cursor, encode_cursor};
use jiff::Timestamp;
use serde::de::DeserializeOwned;

use crate::domain::{Page, StoreError};

/// The file-management table.
#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
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
    dynamo::to_item(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// The items of one query page, read as `T`.
fn from_items<T: DeserializeOwned>(items: Option<Vec<Item>>) -> Result<Vec<T>, StoreError> {
    items
        .unwrap_or_default()
        .into_iter()
        .map(from_item)
        .collect()
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
        dynamo::get_item(&self.client, &self.table, key(pk, sk))
            .await
            .map_err(|e| unavailable(&e))
    }

    /// Runs `update` and the outbox item of `event` as one transaction: `Ok(false)` when the
    /// update's condition failed and nothing was written.
    async fn update_with_event(
        &self,
        update: UpdateBuilder,
        event: &Envelope,
    ) -> Result<bool, StoreError> {
        let update = update
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let items = vec![
            TransactWriteItem::builder().update(update).build(),
            self.outbox(event)?,
        ];
        dynamo::transact_applied(&self.client, items)
            .await
            .map_err(StoreError::Unavailable)
    }

    fn outbox(&self, event: &Envelope) -> Result<TransactWriteItem, StoreError> {
        outbox_put(&self.table, event).map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    /// The update of one item, to run in a transaction.
    fn update(&self, pk: String, sk: &str) -> UpdateBuilder {
        Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
    }

    /// The update of one item, on its own.
    fn update_item(&self, pk: String, sk: &str) -> UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
    }

    /// Puts `item` if no item has its key yet.
    async fn put_new(&self, item: Item) -> Result<(), SdkError<PutItemError>> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map(|_| ())
    }

    /// Puts `item` if no item has its key yet; `Conflict` saying `what` when one has.
    async fn put_new_or_conflict(&self, item: Item, what: &str) -> Result<(), StoreError> {
        if dynamo::applied(self.put_new(item).await).map_err(|e| unavailable(&e))? {
            Ok(())
        } else {
            Err(StoreError::Conflict(what.into()))
        }
    }

    /// Puts an audit item that must not exist yet; `Conflict` when it does.
    async fn put_audit_entry(&self, mut item: Item) -> Result<(), StoreError> {
        // Audit entries never expire, whatever a caller put in them.
        item.remove(TTL_ATTRIBUTE);
        self.put_new_or_conflict(item, "audit entry exists").await
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
        Ok(Page {
            items: from_items(out.items)?,
            next_cursor: out.last_evaluated_key.as_ref().and_then(encode_cursor),
        })
    }
}
