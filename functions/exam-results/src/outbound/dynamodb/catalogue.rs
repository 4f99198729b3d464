//! The catalogue ([`CatalogueStore`]): hospitals (`HOSPITAL#<id>`, listed by name on `gsi1`),
//! the machine client → hospital mapping (`CLIENT#<clientId>`) and slots (`SLOT#<id>`, by start
//! time per hospital on `gsi1` and per exam type on `gsi2`).

use std::collections::HashMap;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, TransactWriteItem, Update};
use clinic_shared::dynamo::TransactFailure;
use clinic_shared::pagination::{decode_cursor, encode_cursor};

use clinic_shared::dynamo::{n, s, text};

use super::{DynamoStore, build_error, dated, from_item, unavailable};
use crate::domain::values::time_key;
use crate::domain::{
    CatalogueStore, ConflictOn, Hospital, Page, Slot, SlotQuery, SlotSpec, StoreError,
};

impl DynamoStore {
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
}

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
                .key("pk", s(format!("SLOT#{id}")))
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
                .expression_attribute_values(":start", s(time_key(spec.start)))
                .expression_attribute_values(":end", s(time_key(spec.end)))
                .expression_attribute_values(":epoch", n(spec.start.as_second()))
                .expression_attribute_values(":c", n(spec.capacity))
                .expression_attribute_values(":zero", n(0))
                .expression_attribute_values(":g1", s(format!("SLOTS#{}", hospital.id)))
                .expression_attribute_values(
                    ":g2",
                    s(format!("SLOTTYPE#{}", spec.exam_type.as_str())),
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
                .key("pk", s(format!("HOSPITAL#{}", hospital.id)))
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
                ("pk".to_string(), s(format!("SLOT#{id}"))),
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
                .expression_attribute_values(":from", s(time_key(query.from)))
                .expression_attribute_values(":to", s(time_key(query.to)))
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
