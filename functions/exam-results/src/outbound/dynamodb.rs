//! The store ports on the service's DynamoDB table (single-table design).
//!
//! | item | pk | sk | indexes |
//! |---|---|---|---|
//! | hospital | `HOSPITAL#<id>` | `HOSPITAL` | `gsi1` `HOSPITALS` / `<name>#<id>` |
//! | client → hospital | `CLIENT#<clientId>` | `CLIENT` | |
//! | slot | `SLOT#<id>` | `SLOT` | `gsi1` `SLOTS#<hospitalId>`, `gsi2` `SLOTTYPE#<examType>` / `<start>#<id>` |
//! | booking marker | `SLOT#<id>` | `BOOKING#<patientId>` | |
//! | exam | `EXAM#<id>` | `EXAM` | `gsi1` `PATIENT#<id>`, `gsi2` `DOCTOR#<id>`, `gsi3` `HOSPEXAMS#<id>`, `gsi4` `EXAMS` / `<scheduledAt>#<id>`; `pendingMatch` (the match key) while it waits for its patient |
//! | skipped result file | `EXAM#<id>` | `FILE#<fileId>` | |
//! | batch / batch item | `BATCH#<id>` | `BATCH` / `ITEM#<index>` (with the access code it issued) | |
//! | access code (claim) | `CLAIMCODE#<protocol>` | `CLAIM` | |
//! | failed claims of an account | `CLAIMS#<accountId>` | `FAILED#<hour>` | |
//! | match key → patient | `MATCH#<key>` | `ACCOUNT` | |
//! | patient → match key, erasure | `ACCOUNT#<id>` | `PATIENT` / `ERASURE` | |
//! | outbox, idempotency, event dedup | see `clinic_shared` | | `outbox` |
//!
//! Invariants are conditions: a slot's `booked < capacity` on every booking, one booking marker
//! per patient and slot, an exam's `revision` on every write, a batch item `ACCEPTED` until it
//! is finished.
//!
//! One submodule per port (`catalogue`, `exams`, `batches`, `claims`, `projections`); the
//! helpers they share (attribute values, item conversion, error mapping, the transaction and
//! paged-query runners) live here.

mod batches;
mod catalogue;
mod claims;
mod exams;
mod projections;

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use clinic_shared::aws::error_text;
use clinic_shared::dynamo::{self, TransactFailure, key, n, s};
use clinic_shared::envelope::Envelope;
use clinic_shared::outbox::outbox_put;
use jiff::Timestamp;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::domain::values::time_key;
use crate::domain::{ConflictOn, Exam, StoreError};

/// Query rounds spent filling one page of a filtered list.
const FILL_ROUNDS: usize = 10;

/// Every store port on one table.
#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

fn unavailable<E, R>(err: &SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    StoreError::Unavailable(error_text(err))
}

fn build_error(err: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("request could not be built: {err}"))
}

fn to_item<T: Serialize>(value: &T) -> Result<HashMap<String, AttributeValue>, StoreError> {
    dynamo::to_item(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn from_item<T: DeserializeOwned>(item: &HashMap<String, AttributeValue>) -> Result<T, StoreError> {
    serde_dynamo::from_item(item.clone()).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Sort-key text of an item dated `at`: `<time>#<id>` (ids break ties).
fn dated(at: Timestamp, id: &str) -> String {
    format!("{}#{id}", time_key(at))
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    // --- building blocks --------------------------------------------------------------------

    async fn get(
        &self,
        pk: &str,
        sk: &str,
    ) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
        dynamo::get_item(&self.client, &self.table, key(pk, sk))
            .await
            .map_err(|e| unavailable(&e))
    }

    fn put(
        &self,
        item: HashMap<String, AttributeValue>,
        condition: Option<&str>,
        values: &[(&str, AttributeValue)],
    ) -> Result<TransactWriteItem, StoreError> {
        let mut put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression(condition.map(str::to_string));
        for (name, value) in values {
            put = put.expression_attribute_values(*name, value.clone());
        }
        Ok(TransactWriteItem::builder()
            .put(put.build().map_err(build_error)?)
            .build())
    }

    fn outbox(&self, events: &[Envelope]) -> Result<Vec<TransactWriteItem>, StoreError> {
        events
            .iter()
            .map(|e| outbox_put(&self.table, e).map_err(|err| build_error(err.to_string())))
            .collect()
    }

    /// The exam's item with its index keys.
    fn exam_item(&self, exam: &Exam) -> Result<HashMap<String, AttributeValue>, StoreError> {
        let mut item = to_item(exam)?;
        let sort = dated(exam.scheduled_at, &exam.id);
        item.insert("pk".into(), s(format!("EXAM#{}", exam.id)));
        item.insert("sk".into(), s("EXAM"));
        if let Some(patient) = &exam.patient_id {
            item.insert("gsi1pk".into(), s(format!("PATIENT#{patient}")));
            item.insert("gsi1sk".into(), s(&sort));
        }
        if let Some(doctor) = &exam.doctor_id {
            item.insert("gsi2pk".into(), s(format!("DOCTOR#{doctor}")));
            item.insert("gsi2sk".into(), s(&sort));
        }
        item.insert(
            "gsi3pk".into(),
            s(format!("HOSPEXAMS#{}", exam.hospital_id)),
        );
        item.insert("gsi3sk".into(), s(&sort));
        item.insert("gsi4pk".into(), s("EXAMS"));
        item.insert("gsi4sk".into(), s(&sort));
        if let Some(key) = exam.awaited_match() {
            item.insert("pendingMatch".into(), s(key));
        }
        Ok(item)
    }

    /// Writes the exam if the stored revision is the one before (none for revision 1).
    fn exam_put(&self, exam: &Exam) -> Result<TransactWriteItem, StoreError> {
        let item = self.exam_item(exam)?;
        if exam.revision <= 1 {
            self.put(item, Some("attribute_not_exists(pk)"), &[])
        } else {
            self.put(
                item,
                Some("revision = :previous"),
                &[(":previous", n(exam.revision - 1))],
            )
        }
    }

    /// Runs a transaction the way every service does (conflicts with concurrent transactions
    /// retried).
    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), TransactFailure> {
        dynamo::transact(&self.client, items).await
    }

    /// Runs a transaction, naming the first failed condition by `roles[position]`.
    async fn transact_as(
        &self,
        items: Vec<TransactWriteItem>,
        roles: &[ConflictOn],
        preference: &[ConflictOn],
    ) -> Result<(), StoreError> {
        match self.transact(items).await {
            Ok(()) => Ok(()),
            Err(TransactFailure::Unavailable(err)) => Err(StoreError::Unavailable(err)),
            Err(TransactFailure::Conditions(failed)) => {
                let on_failed: Vec<ConflictOn> = failed
                    .iter()
                    .map(|i| roles.get(*i).copied().unwrap_or(ConflictOn::Other))
                    .collect();
                let on = preference
                    .iter()
                    .find(|p| on_failed.contains(p))
                    .copied()
                    .or_else(|| on_failed.first().copied())
                    .unwrap_or(ConflictOn::Other);
                Err(StoreError::conflict(on))
            }
        }
    }

    /// Queries until `limit` items passed the filter or the partition ends: DynamoDB applies a
    /// filter after its own `Limit`, so one round may return fewer items than asked for. The
    /// returned key is where the next page starts.
    async fn filled_page<F>(
        &self,
        limit: u16,
        cursor: Option<HashMap<String, AttributeValue>>,
        build: F,
    ) -> Result<
        (
            Vec<HashMap<String, AttributeValue>>,
            Option<HashMap<String, AttributeValue>>,
        ),
        StoreError,
    >
    where
        F: Fn() -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
    {
        let from_cursor = cursor.is_some();
        let mut start = cursor;
        let mut items = Vec::new();
        let wanted = usize::from(limit);
        for _ in 0..FILL_ROUNDS {
            let room = i32::try_from(wanted - items.len()).unwrap_or(i32::MAX);
            let out = build()
                .limit(room)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| match e.as_service_error().and_then(|s| s.code()) {
                    Some("ValidationException") if from_cursor => StoreError::InvalidCursor,
                    _ => unavailable(&e),
                })?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok((items, None)),
            }
            if items.len() >= wanted {
                break;
            }
        }
        Ok((items, start))
    }
}
