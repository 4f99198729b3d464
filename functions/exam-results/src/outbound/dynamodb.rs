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

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, KeysAndAttributes, Put, PutRequest, TransactWriteItem, Update,
    WriteRequest,
};
use clinic_shared::aws::error_text;
use clinic_shared::dynamo::{self, TransactFailure};
use clinic_shared::envelope::{Envelope, ExamStatus};
use clinic_shared::outbox::outbox_put;
use clinic_shared::pagination::{decode_cursor, encode_cursor};
use futures::stream::{self, StreamExt, TryStreamExt};
use jiff::Timestamp;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::domain::claim::{AccessCode, ExamClaim, MAX_FAILED_ATTEMPTS};
use crate::domain::ingest::{Batch, BatchItem, ItemState};
use crate::domain::values::time_key;
use crate::domain::{
    BatchStore, CatalogueStore, ClaimStore, ConflictOn, Exam, ExamStore, Hospital, Page,
    ProjectionStore, Slot, SlotQuery, SlotSpec, StoreError, Viewer,
};

/// The table's global secondary indexes: (name, partition key, sort key). Tests and the
/// template create exactly these.
pub const INDEXES: [(&str, &str, &str); 6] = [
    ("gsi1", "gsi1pk", "gsi1sk"),
    ("gsi2", "gsi2pk", "gsi2sk"),
    ("gsi3", "gsi3pk", "gsi3sk"),
    ("gsi4", "gsi4pk", "gsi4sk"),
    ("pendingMatch", "pendingMatch", "createdAt"),
    (
        clinic_shared::outbox::PENDING_INDEX,
        "outboxPending",
        "createdAt",
    ),
];

/// Query rounds spent filling one page of a filtered list.
const FILL_ROUNDS: usize = 10;

/// Every store port on one table.
#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_string())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
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
    let mut item: HashMap<String, AttributeValue> =
        serde_dynamo::to_item(value).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    item.retain(|_, v| !matches!(v, AttributeValue::Null(_)));
    Ok(item)
}

fn from_item<T: DeserializeOwned>(item: &HashMap<String, AttributeValue>) -> Result<T, StoreError> {
    serde_dynamo::from_item(item.clone()).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn text(item: &HashMap<String, AttributeValue>, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

fn number(item: &HashMap<String, AttributeValue>, name: &str) -> Option<u64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

/// Sort-key text of an item dated `at`: `<time>#<id>` (ids break ties).
fn dated(at: Timestamp, id: &str) -> String {
    format!("{}#{id}", time_key(at))
}

/// Index and partition value listing what `viewer` sees.
fn exam_index(viewer: &Viewer) -> (&'static str, &'static str, &'static str, String) {
    match viewer {
        Viewer::Patient(id) => ("gsi1", "gsi1pk", "gsi1sk", format!("PATIENT#{id}")),
        Viewer::Doctor(id) => ("gsi2", "gsi2pk", "gsi2sk", format!("DOCTOR#{id}")),
        Viewer::Hospital(id) => ("gsi3", "gsi3pk", "gsi3sk", format!("HOSPEXAMS#{id}")),
        Viewer::Staff => ("gsi4", "gsi4pk", "gsi4sk", "EXAMS".to_string()),
    }
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
        item.insert("pk".into(), s(&format!("EXAM#{}", exam.id)));
        item.insert("sk".into(), s("EXAM"));
        if let Some(patient) = &exam.patient_id {
            item.insert("gsi1pk".into(), s(&format!("PATIENT#{patient}")));
            item.insert("gsi1sk".into(), s(&sort));
        }
        if let Some(doctor) = &exam.doctor_id {
            item.insert("gsi2pk".into(), s(&format!("DOCTOR#{doctor}")));
            item.insert("gsi2sk".into(), s(&sort));
        }
        item.insert(
            "gsi3pk".into(),
            s(&format!("HOSPEXAMS#{}", exam.hospital_id)),
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

    /// Every item of a query (all pages).
    async fn query_all(
        &self,
        index: &str,
        key: &str,
        value: &str,
    ) -> Result<Vec<HashMap<String, AttributeValue>>, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index)
                .key_condition_expression("#k = :v")
                .expression_attribute_names("#k", key)
                .expression_attribute_values(":v", s(value))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| unavailable(&e))?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(items),
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

    fn hospital_from(item: &HashMap<String, AttributeValue>) -> Result<Hospital, StoreError> {
        let field = |name: &str| {
            text(item, name).ok_or_else(|| StoreError::Corrupt(format!("hospital without {name}")))
        };
        Ok(Hospital {
            id: field("id")?,
            name: field("name")?,
            cnes: text(item, "cnes").unwrap_or_default(),
            client_id: text(item, "clientId").unwrap_or_default(),
            exam_types: item
                .get("examTypes")
                .and_then(|v| v.as_ss().ok())
                .map(|set| set.iter().cloned().collect())
                .unwrap_or_default(),
        })
    }

    async fn delete(&self, pk: &str, sk: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| unavailable(&e))
    }

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

// ---------------------------------------------------------------------------------------------

impl CatalogueStore for DynamoStore {
    async fn list_hospitals(
        &self,
        limit: u16,
        cursor: Option<&str>,
    ) -> Result<Page<Hospital>, StoreError> {
        let start = cursor
            .map(|c| decode_cursor(c, &["pk", "sk", "gsi1pk", "gsi1sk"]))
            .transpose()
            .map_err(|_| StoreError::InvalidCursor)?;
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("gsi1")
            .key_condition_expression("gsi1pk = :pk")
            .expression_attribute_values(":pk", s("HOSPITALS"))
            .limit(i32::from(limit))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| match e.as_service_error().and_then(|s| s.code()) {
                Some("ValidationException") => StoreError::InvalidCursor,
                _ => unavailable(&e),
            })?;
        let items = out
            .items()
            .iter()
            .map(Self::hospital_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page {
            items,
            next_cursor: out.last_evaluated_key().and_then(encode_cursor),
        })
    }

    async fn get_hospital(&self, id: &str) -> Result<Option<Hospital>, StoreError> {
        self.get(&format!("HOSPITAL#{id}"), "HOSPITAL")
            .await?
            .map(|item| Self::hospital_from(&item))
            .transpose()
    }

    async fn hospital_for_client(&self, client_id: &str) -> Result<Option<Hospital>, StoreError> {
        let Some(mapping) = self.get(&format!("CLIENT#{client_id}"), "CLIENT").await? else {
            return Ok(None);
        };
        let Some(hospital_id) = text(&mapping, "hospitalId") else {
            return Err(StoreError::Corrupt(
                "client mapping without hospitalId".into(),
            ));
        };
        self.get_hospital(&hospital_id).await
    }

    async fn publish_slots(
        &self,
        hospital: &Hospital,
        slots: &[SlotSpec],
    ) -> Result<Vec<Slot>, StoreError> {
        let mut items = Vec::with_capacity(slots.len() + 1);
        let mut ids = Vec::with_capacity(slots.len());
        for spec in slots {
            let id = Slot::id_for(&hospital.id, &spec.exam_type, spec.start);
            let sort = dated(spec.start, &id);
            let update = Update::builder()
                .table_name(&self.table)
                .key("pk", s(&format!("SLOT#{id}")))
                .key("sk", s("SLOT"))
                .update_expression(
                    "SET #id = :id, hospitalId = :h, hospitalName = :hn, examType = :t, \
                     #start = :start, #end = :end, startEpoch = :epoch, #capacity = :c, \
                     booked = if_not_exists(booked, :zero), gsi1pk = :g1, gsi1sk = :sort, \
                     gsi2pk = :g2, gsi2sk = :sort",
                )
                .condition_expression("attribute_not_exists(pk) OR booked <= :c")
                .expression_attribute_names("#id", "id")
                .expression_attribute_names("#start", "start")
                .expression_attribute_names("#end", "end")
                .expression_attribute_names("#capacity", "capacity")
                .expression_attribute_values(":id", s(&id))
                .expression_attribute_values(":h", s(&hospital.id))
                .expression_attribute_values(":hn", s(&hospital.name))
                .expression_attribute_values(":t", s(spec.exam_type.as_str()))
                .expression_attribute_values(":start", s(&time_key(spec.start)))
                .expression_attribute_values(":end", s(&time_key(spec.end)))
                .expression_attribute_values(":epoch", n(spec.start.as_second()))
                .expression_attribute_values(":c", n(spec.capacity))
                .expression_attribute_values(":zero", n(0))
                .expression_attribute_values(":g1", s(&format!("SLOTS#{}", hospital.id)))
                .expression_attribute_values(
                    ":g2",
                    s(&format!("SLOTTYPE#{}", spec.exam_type.as_str())),
                )
                .expression_attribute_values(":sort", s(&sort))
                .build()
                .map_err(build_error)?;
            items.push(TransactWriteItem::builder().update(update).build());
            ids.push(id);
        }
        let mut types: Vec<String> = slots
            .iter()
            .map(|s| s.exam_type.as_str().to_string())
            .collect();
        types.sort();
        types.dedup();
        if !types.is_empty() {
            let update = Update::builder()
                .table_name(&self.table)
                .key("pk", s(&format!("HOSPITAL#{}", hospital.id)))
                .key("sk", s("HOSPITAL"))
                .update_expression("ADD examTypes :types")
                .condition_expression("attribute_exists(pk)")
                .expression_attribute_values(":types", AttributeValue::Ss(types))
                .build()
                .map_err(build_error)?;
            items.push(TransactWriteItem::builder().update(update).build());
        }
        if items.is_empty() {
            return Ok(Vec::new());
        }
        match self.transact(items).await {
            Ok(()) => {}
            Err(TransactFailure::Unavailable(err)) => return Err(StoreError::Unavailable(err)),
            Err(TransactFailure::Conditions(failed)) => {
                let index = failed.into_iter().find(|i| *i < slots.len());
                return Err(match index {
                    Some(index) => StoreError::Conflict {
                        on: ConflictOn::Slot,
                        index: Some(index),
                    },
                    None => StoreError::conflict(ConflictOn::Other),
                });
            }
        }
        // Read back what is stored (bookings included), in the order published.
        let keys = ids.iter().map(|id| {
            HashMap::from([
                ("pk".to_string(), s(&format!("SLOT#{id}"))),
                ("sk".to_string(), s("SLOT")),
            ])
        });
        let mut found: HashMap<String, Slot> = HashMap::new();
        let mut unread: Vec<HashMap<String, AttributeValue>> = keys.collect();
        unread.dedup();
        for _ in 0..5 {
            if unread.is_empty() {
                break;
            }
            let chunk: Vec<_> = unread.drain(..unread.len().min(100)).collect();
            let out = self
                .client
                .batch_get_item()
                .request_items(
                    &self.table,
                    KeysAndAttributes::builder()
                        .set_keys(Some(chunk))
                        .consistent_read(true)
                        .build()
                        .map_err(build_error)?,
                )
                .send()
                .await
                .map_err(|e| unavailable(&e))?;
            for item in out
                .responses
                .and_then(|mut r| r.remove(&self.table))
                .unwrap_or_default()
            {
                let slot: Slot = from_item(&item)?;
                found.insert(slot.id.clone(), slot);
            }
            if let Some(mut rest) = out.unprocessed_keys
                && let Some(keys) = rest.remove(&self.table)
            {
                unread.extend(keys.keys);
            }
        }
        Ok(ids.iter().filter_map(|id| found.get(id).cloned()).collect())
    }

    async fn list_open_slots(
        &self,
        query: &SlotQuery,
        limit: u16,
        cursor: Option<&str>,
    ) -> Result<Page<Slot>, StoreError> {
        let (index, pk_name, sk_name, pk) = match (&query.hospital_id, &query.exam_type) {
            (Some(hospital), _) => ("gsi1", "gsi1pk", "gsi1sk", format!("SLOTS#{hospital}")),
            (None, Some(exam_type)) => {
                ("gsi2", "gsi2pk", "gsi2sk", format!("SLOTTYPE#{exam_type}"))
            }
            (None, None) => {
                return Ok(Page {
                    items: Vec::new(),
                    next_cursor: None,
                });
            }
        };
        let start = cursor
            .map(|c| decode_cursor(c, &["pk", "sk", pk_name, sk_name]))
            .transpose()
            .map_err(|_| StoreError::InvalidCursor)?;
        let type_filter = query.hospital_id.is_some() && query.exam_type.is_some();
        let build = || {
            let mut request = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index)
                .key_condition_expression(format!(
                    "{pk_name} = :pk AND {sk_name} BETWEEN :from AND :to"
                ))
                .expression_attribute_values(":pk", s(&pk))
                .expression_attribute_values(":from", s(&time_key(query.from)))
                .expression_attribute_values(":to", s(&time_key(query.to)))
                .expression_attribute_names("#capacity", "capacity");
            if type_filter && let Some(exam_type) = &query.exam_type {
                request = request
                    .filter_expression("booked < #capacity AND examType = :t")
                    .expression_attribute_values(":t", s(exam_type));
            } else {
                request = request.filter_expression("booked < #capacity");
            }
            request
        };
        let (rows, next) = self.filled_page(limit, start, build).await?;
        let items = rows
            .iter()
            .map(from_item::<Slot>)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page {
            items,
            next_cursor: next.as_ref().and_then(encode_cursor),
        })
    }

    async fn get_slot(&self, id: &str) -> Result<Option<Slot>, StoreError> {
        self.get(&format!("SLOT#{id}"), "SLOT")
            .await?
            .map(|item| from_item(&item))
            .transpose()
    }
}

// ---------------------------------------------------------------------------------------------

impl ExamStore for DynamoStore {
    async fn get_exam(&self, id: &str) -> Result<Option<Exam>, StoreError> {
        self.get(&format!("EXAM#{id}"), "EXAM")
            .await?
            .map(|item| from_item(&item))
            .transpose()
    }

    async fn list_exams(
        &self,
        viewer: &Viewer,
        status: Option<ExamStatus>,
        limit: u16,
        cursor: Option<&str>,
    ) -> Result<Page<Exam>, StoreError> {
        let (index, pk_name, sk_name, pk) = exam_index(viewer);
        let start = cursor
            .map(|c| decode_cursor(c, &["pk", "sk", pk_name, sk_name]))
            .transpose()
            .map_err(|_| StoreError::InvalidCursor)?;
        let status = status.and_then(|st| {
            serde_json::to_value(st)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
        });
        let build = || {
            let request = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index)
                .key_condition_expression(format!("{pk_name} = :pk"))
                .expression_attribute_values(":pk", s(&pk))
                .scan_index_forward(false);
            match &status {
                Some(value) => request
                    .filter_expression("#status = :status")
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(":status", s(value)),
                None => request,
            }
        };
        let (rows, next) = self.filled_page(limit, start, build).await?;
        let items = rows
            .iter()
            .map(from_item::<Exam>)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page {
            items,
            next_cursor: next.as_ref().and_then(encode_cursor),
        })
    }

    async fn book(
        &self,
        exam: &Exam,
        events: &[Envelope],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let (Some(slot_id), Some(patient_id)) = (&exam.slot_id, &exam.patient_id) else {
            return Err(StoreError::Corrupt(
                "a booking needs a slot and a patient".into(),
            ));
        };
        let take_place = Update::builder()
            .table_name(&self.table)
            .key("pk", s(&format!("SLOT#{slot_id}")))
            .key("sk", s("SLOT"))
            .update_expression("SET booked = booked + :one")
            .condition_expression(
                "attribute_exists(pk) AND booked < #capacity AND startEpoch > :now",
            )
            .expression_attribute_names("#capacity", "capacity")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", n(now.as_second()))
            .build()
            .map_err(build_error)?;
        let marker = HashMap::from([
            ("pk".to_string(), s(&format!("SLOT#{slot_id}"))),
            ("sk".to_string(), s(&format!("BOOKING#{patient_id}"))),
            ("examId".to_string(), s(&exam.id)),
            ("bookedAt".to_string(), s(&time_key(now))),
        ]);
        let mut items = vec![
            TransactWriteItem::builder().update(take_place).build(),
            self.put(marker, Some("attribute_not_exists(pk)"), &[])?,
            self.exam_put(exam)?,
        ];
        items.extend(self.outbox(events)?);
        self.transact_as(
            items,
            &[ConflictOn::Slot, ConflictOn::Booking, ConflictOn::Exam],
            &[ConflictOn::Booking, ConflictOn::Slot],
        )
        .await
    }

    async fn cancel_booking(
        &self,
        exam: &Exam,
        booked_by: &str,
        events: &[Envelope],
    ) -> Result<(), StoreError> {
        let Some(slot_id) = &exam.slot_id else {
            return Err(StoreError::Corrupt(
                "only bookings are cancelled here".into(),
            ));
        };
        let free_place = Update::builder()
            .table_name(&self.table)
            .key("pk", s(&format!("SLOT#{slot_id}")))
            .key("sk", s("SLOT"))
            .update_expression("SET booked = booked - :one")
            .condition_expression("booked > :zero")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":zero", n(0))
            .build()
            .map_err(build_error)?;
        let marker = Delete::builder()
            .table_name(&self.table)
            .key("pk", s(&format!("SLOT#{slot_id}")))
            .key("sk", s(&format!("BOOKING#{booked_by}")))
            .build()
            .map_err(build_error)?;
        let mut items = vec![
            self.exam_put(exam)?,
            TransactWriteItem::builder().update(free_place).build(),
            TransactWriteItem::builder().delete(marker).build(),
        ];
        items.extend(self.outbox(events)?);
        self.transact_as(
            items,
            &[ConflictOn::Exam, ConflictOn::Slot],
            &[ConflictOn::Exam],
        )
        .await
    }

    async fn save_exam(&self, exam: &Exam, events: &[Envelope]) -> Result<(), StoreError> {
        let mut items = vec![self.exam_put(exam)?];
        items.extend(self.outbox(events)?);
        self.transact_as(items, &[ConflictOn::Exam], &[ConflictOn::Exam])
            .await
    }
}

// ---------------------------------------------------------------------------------------------

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
            ("createdAt".to_string(), s(&batch.created_at.to_string())),
            ("itemCount".to_string(), n(batch.items.len())),
        ]);
        let mut rows = vec![header];
        for item in &batch.items {
            let mut row = to_item(item)?;
            row.insert("pk".into(), s(&pk));
            row.insert("sk".into(), s(&item_sk(item.index)));
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
        let mut rows = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(&pk))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| unavailable(&e))?;
            rows.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
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
        if number(header, "itemCount").is_some_and(|c| c != items.len() as u64) {
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
            .key("pk", s(&format!("BATCH#{batch_id}")))
            .key("sk", s(&item_sk(index)))
            .condition_expression("#state = :accepted")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":accepted", s(ItemState::Accepted.as_str()))
            .expression_attribute_values(":state", s(state.as_str()))
            .expression_attribute_values(":at", s(&Timestamp::now().to_string()));
        request = match reason {
            Some(reason) => request
                .update_expression("SET #state = :state, finishedAt = :at, #reason = :reason")
                .expression_attribute_names("#reason", "reason")
                .expression_attribute_values(":reason", s(reason)),
            None => request.update_expression("SET #state = :state, finishedAt = :at"),
        };
        match request.send().await {
            Ok(_) => Ok(true),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(err) => Err(unavailable(&err)),
        }
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
            .key("pk", s(&format!("BATCH#{batch_id}")))
            .key("sk", s(&item_sk(index)))
            .condition_expression("#state = :accepted")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":applied", s(ItemState::Applied.as_str()))
            .expression_attribute_values(":accepted", s(ItemState::Accepted.as_str()))
            .expression_attribute_values(":at", s(&Timestamp::now().to_string()))
            .expression_attribute_values(":exam", s(&exam.id));
        finish = match issued {
            Some((_, code)) => finish
                .update_expression(
                    "SET #state = :applied, finishedAt = :at, examId = :exam, accessCode = :code",
                )
                .expression_attribute_values(":code", s(&code.display())),
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

fn claim_pk(protocol: &str) -> String {
    format!("CLAIMCODE#{protocol}")
}

/// The stored claim record: the secret only as its digest. `expiresAt` (seconds) lets the
/// table's TTL clean up codes long after they stopped working; expiry itself is checked against
/// `expiresAtTime`.
fn claim_item(claim: &ExamClaim) -> HashMap<String, AttributeValue> {
    let mut item = HashMap::from([
        ("pk".to_string(), s(&claim_pk(&claim.protocol))),
        ("sk".to_string(), s("CLAIM")),
        ("examId".to_string(), s(&claim.exam_id)),
        ("secretDigest".to_string(), s(&claim.secret_digest)),
        ("issuedAt".to_string(), s(&claim.issued_at.to_string())),
        (
            "expiresAtTime".to_string(),
            s(&claim.expires_at.to_string()),
        ),
        (
            "expiresAt".to_string(),
            n(claim.expires_at.as_second() + CLAIM_RECORD_GRACE_SECONDS),
        ),
        ("failedAttempts".to_string(), n(claim.failed_attempts)),
    ]);
    if let Some(owner) = &claim.claimed_by {
        item.insert("claimedBy".to_string(), s(owner));
    }
    item
}

/// Claim records outlive their codes by a year, so a late claim still finds (and refuses) them.
const CLAIM_RECORD_GRACE_SECONDS: i64 = 365 * 24 * 3600;

fn claim_from(item: &HashMap<String, AttributeValue>) -> Result<ExamClaim, StoreError> {
    let time = |name: &str| -> Result<Timestamp, StoreError> {
        text(item, name)
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| StoreError::Corrupt(format!("claim record without {name}")))
    };
    let protocol = text(item, "pk")
        .and_then(|pk| pk.strip_prefix("CLAIMCODE#").map(str::to_string))
        .ok_or_else(|| StoreError::Corrupt("claim record without protocol".into()))?;
    Ok(ExamClaim {
        protocol,
        exam_id: text(item, "examId")
            .ok_or_else(|| StoreError::Corrupt("claim record without exam".into()))?,
        secret_digest: text(item, "secretDigest")
            .ok_or_else(|| StoreError::Corrupt("claim record without digest".into()))?,
        issued_at: time("issuedAt")?,
        expires_at: time("expiresAtTime")?,
        failed_attempts: number(item, "failedAttempts")
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(u32::MAX),
        claimed_by: text(item, "claimedBy"),
    })
}

impl ClaimStore for DynamoStore {
    async fn get_claim(&self, protocol: &str) -> Result<Option<ExamClaim>, StoreError> {
        self.get(&claim_pk(protocol), "CLAIM")
            .await?
            .map(|item| claim_from(&item))
            .transpose()
    }

    async fn claim_failures(&self, account_id: &str, hour: &str) -> Result<u32, StoreError> {
        Ok(self
            .get(&format!("CLAIMS#{account_id}"), &format!("FAILED#{hour}"))
            .await?
            .and_then(|item| number(&item, "count"))
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(0))
    }

    async fn record_failed_claim(
        &self,
        account_id: &str,
        hour: &str,
        protocol: Option<&str>,
    ) -> Result<(), StoreError> {
        // Kept two days: past its hour a counter only matters to whoever investigates abuse.
        let expires = Timestamp::now().as_second() + 2 * 24 * 3600;
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&format!("CLAIMS#{account_id}")))
            .key("sk", s(&format!("FAILED#{hour}")))
            .update_expression("ADD #count :one SET expiresAt = :exp")
            .expression_attribute_names("#count", "count")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":exp", n(expires))
            .send()
            .await
            .map_err(|e| unavailable(&e))?;
        if let Some(protocol) = protocol {
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", s(&claim_pk(protocol)))
                .key("sk", s("CLAIM"))
                .update_expression("ADD failedAttempts :one")
                .condition_expression("attribute_exists(pk)")
                .expression_attribute_values(":one", n(1))
                .send()
                .await;
            if let Err(err) = result
                && !err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception())
            {
                return Err(unavailable(&err));
            }
        }
        Ok(())
    }

    async fn claim_exam(
        &self,
        protocol: &str,
        account_id: &str,
        exam: &Exam,
        events: &[Envelope],
    ) -> Result<(), StoreError> {
        let use_code = Update::builder()
            .table_name(&self.table)
            .key("pk", s(&claim_pk(protocol)))
            .key("sk", s("CLAIM"))
            .update_expression("SET claimedBy = :account, claimedAt = :at")
            .condition_expression(
                "attribute_exists(pk) AND attribute_not_exists(claimedBy) AND failedAttempts < :max",
            )
            .expression_attribute_values(":account", s(account_id))
            .expression_attribute_values(":at", s(&Timestamp::now().to_string()))
            .expression_attribute_values(":max", n(MAX_FAILED_ATTEMPTS))
            .build()
            .map_err(build_error)?;
        let mut items = vec![
            self.exam_put(exam)?,
            TransactWriteItem::builder().update(use_code).build(),
        ];
        items.extend(self.outbox(events)?);
        self.transact_as(
            items,
            &[ConflictOn::Exam, ConflictOn::Claim],
            &[ConflictOn::Claim, ConflictOn::Exam],
        )
        .await
    }
}

// ---------------------------------------------------------------------------------------------

impl ProjectionStore for DynamoStore {
    async fn upsert_hospital(&self, hospital: &Hospital) -> Result<(), StoreError> {
        let profile = Update::builder()
            .table_name(&self.table)
            .key("pk", s(&format!("HOSPITAL#{}", hospital.id)))
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
                s(&format!("{}#{}", hospital.name.to_lowercase(), hospital.id)),
            )
            .build()
            .map_err(build_error)?;
        let mapping = HashMap::from([
            (
                "pk".to_string(),
                s(&format!("CLIENT#{}", hospital.client_id)),
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
            ("pk".to_string(), s(&format!("MATCH#{match_key}"))),
            ("sk".to_string(), s("ACCOUNT")),
            ("accountId".to_string(), s(account_id)),
        ]);
        let patient = HashMap::from([
            ("pk".to_string(), s(&format!("ACCOUNT#{account_id}"))),
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
        self.query_all("pendingMatch", "pendingMatch", match_key)
            .await?
            .iter()
            .map(from_item)
            .collect()
    }

    async fn exams_of_patient(&self, account_id: &str) -> Result<Vec<Exam>, StoreError> {
        self.query_all("gsi1", "gsi1pk", &format!("PATIENT#{account_id}"))
            .await?
            .iter()
            .map(from_item)
            .collect()
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
                .key("pk", s(&format!("MATCH#{key}")))
                .key("sk", s("ACCOUNT"))
                .condition_expression("attribute_not_exists(pk) OR accountId = :id")
                .expression_attribute_values(":id", s(account_id))
                .send()
                .await;
            match result {
                Ok(_) => {}
                Err(err)
                    if err
                        .as_service_error()
                        .is_some_and(|e| e.is_conditional_check_failed_exception()) => {}
                Err(err) => return Err(unavailable(&err)),
            }
        }
        self.delete(&format!("ACCOUNT#{account_id}"), "PATIENT")
            .await?;
        // A repeated erasure keeps the first date and adds what it found.
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&format!("ACCOUNT#{account_id}")))
            .key("sk", s("ERASURE"))
            .update_expression("SET erasedAt = if_not_exists(erasedAt, :at) ADD examsAnonymised :n")
            .expression_attribute_values(":at", s(&at.to_string()))
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
            .item("pk", s(&format!("EXAM#{exam_id}")))
            .item("sk", s(&format!("FILE#{file_id}")))
            .item("reason", s(reason))
            .item("skippedAt", s(&at.to_string()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| unavailable(&e))
    }
}
