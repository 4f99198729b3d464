//! Exams and their bookings ([`ExamStore`]): the exam item (`EXAM#<id>`, listed per viewer on
//! `gsi1`–`gsi4`), the slot's `booked` counter and the patient's booking marker
//! (`SLOT#<id>` / `BOOKING#<patientId>`), each change written with its outbox events.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{Delete, TransactWriteItem, Update};
use clinic_shared::envelope::{Envelope, ExamStatus};
use clinic_shared::pagination::{decode_cursor, encode_cursor};
use jiff::Timestamp;

use clinic_shared::dynamo::{n, s};

use super::{DynamoStore, build_error, from_item};
use crate::domain::values::time_key;
use crate::domain::{ConflictOn, Exam, ExamStore, Page, StoreError, Viewer};

/// Index and partition value listing what `viewer` sees.
fn exam_index(viewer: &Viewer) -> (&'static str, &'static str, &'static str, String) {
    match viewer {
        Viewer::Patient(id) => ("gsi1", "gsi1pk", "gsi1sk", format!("PATIENT#{id}")),
        Viewer::Doctor(id) => ("gsi2", "gsi2pk", "gsi2sk", format!("DOCTOR#{id}")),
        Viewer::Hospital(id) => ("gsi3", "gsi3pk", "gsi3sk", format!("HOSPEXAMS#{id}")),
        Viewer::Staff => ("gsi4", "gsi4pk", "gsi4sk", "EXAMS".to_string()),
    }
}

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
            .key("pk", s(format!("SLOT#{slot_id}")))
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
            ("pk".to_string(), s(format!("SLOT#{slot_id}"))),
            ("sk".to_string(), s(format!("BOOKING#{patient_id}"))),
            ("examId".to_string(), s(&exam.id)),
            ("bookedAt".to_string(), s(time_key(now))),
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
            .key("pk", s(format!("SLOT#{slot_id}")))
            .key("sk", s("SLOT"))
            .update_expression("SET booked = booked - :one")
            .condition_expression("booked > :zero")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":zero", n(0))
            .build()
            .map_err(build_error)?;
        let marker = Delete::builder()
            .table_name(&self.table)
            .key("pk", s(format!("SLOT#{slot_id}")))
            .key("sk", s(format!("BOOKING#{booked_by}")))
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
