//! The exam projection ([`Projection`]): one view per exam (`EXAM#<examId>`, by month and by
//! hospital for reports, by patient for erasure), fed by events and kept to the newest, and the
//! hospital of each machine client (`CLIENT#<clientId>`).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use clinic_shared::dynamo::{self, Item, n, s};
use serde::Deserialize;

use super::{DynamoStore, from_item, from_items, sortable, to_item, unavailable};
use crate::domain::model::status_name;
use crate::domain::values::{ReportFilters, month_of};
use crate::domain::{ExamView, Page, Projection, StoreError};

/// `<nanoseconds since the epoch, fixed width>#<event id>`: orders the events of one exam by time,
/// then id, as a string comparison.
fn event_key(exam: &ExamView) -> String {
    format!(
        "{:020}#{}",
        exam.event_time.as_nanosecond().max(0),
        exam.event_id
    )
}

/// Position of a report query: which month (or the hospital index) and where in it.
#[derive(serde::Serialize, Deserialize)]
struct ReportCursor {
    m: usize,
    #[serde(default)]
    k: Option<HashMap<String, String>>,
}

const EXAM_SK: &str = "EXAM";

impl DynamoStore {
    fn exam_item(&self, exam: &ExamView) -> Result<Item, StoreError> {
        let mut item = to_item(exam)?;
        let position = format!("{}#{}", sortable(exam.scheduled_at), exam.exam_id);
        item.insert("pk".into(), s(format!("EXAM#{}", exam.exam_id)));
        item.insert("sk".into(), s(EXAM_SK));
        item.insert("eventMs".into(), n(exam.event_time.as_millisecond()));
        item.insert("eventKey".into(), s(event_key(exam)));
        item.insert(
            "gsi1pk".into(),
            s(format!("EXAMS#{}", month_of(exam.scheduled_at))),
        );
        item.insert("gsi1sk".into(), s(position.clone()));
        item.insert("gsi2pk".into(), s(format!("HOSPITAL#{}", exam.hospital_id)));
        item.insert("gsi2sk".into(), s(position));
        if let Some(patient) = &exam.patient_id {
            item.insert("gsi3pk".into(), s(format!("PATIENT#{patient}")));
            item.insert("gsi3sk".into(), s(format!("EXAM#{}", exam.exam_id)));
        }
        Ok(item)
    }
}

impl Projection for DynamoStore {
    async fn exam(&self, exam_id: &str) -> Result<Option<ExamView>, StoreError> {
        self.get(&format!("EXAM#{exam_id}"), EXAM_SK)
            .await?
            .map(from_item)
            .transpose()
    }

    async fn upsert_exam(&self, exam: &ExamView) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(self.exam_item(exam)?))
            // Newer by time, then by id within the same millisecond (a view stored before
            // `eventKey` was kept yields to any event of its millisecond). The same event again
            // fails the condition: already applied.
            .condition_expression(
                "attribute_not_exists(pk) OR eventMs < :ms OR (eventMs = :ms AND \
                 (attribute_not_exists(eventKey) OR eventKey < :key))",
            )
            .expression_attribute_values(":ms", n(exam.event_time.as_millisecond()))
            .expression_attribute_values(":key", s(event_key(exam)))
            .send()
            .await;
        dynamo::applied(result).map_err(|e| unavailable(&e))
    }

    async fn hospital_of_client(&self, client_id: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .get(&format!("CLIENT#{client_id}"), "HOSPITAL")
            .await?
            .and_then(|item| dynamo::text(&item, "hospitalId")))
    }

    async fn put_hospital_client(
        &self,
        client_id: &str,
        hospital_id: &str,
    ) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("CLIENT#{client_id}")))
            .item("sk", s("HOSPITAL"))
            .item("hospitalId", s(hospital_id))
            .send()
            .await
            .map_err(|e| unavailable(&e))?;
        Ok(())
    }

    async fn exams_of_patient(&self, patient_id: &str) -> Result<Vec<String>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("gsi3")
            .key_condition_expression("gsi3pk = :pk")
            .expression_attribute_values(":pk", s(format!("PATIENT#{patient_id}")));
        dynamo::query_all(query)
            .await
            .map_err(|e| unavailable(&e))?
            .into_iter()
            .map(|item| from_item::<ExamView>(item).map(|exam| exam.exam_id))
            .collect()
    }

    async fn unlink_patient(&self, exam_id: &str) -> Result<(), StoreError> {
        let result = self
            .update_item(format!("EXAM#{exam_id}"), EXAM_SK)
            .update_expression("REMOVE patientId, gsi3pk, gsi3sk SET patientErased = :t")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .send()
            .await;
        // No view of the exam: nothing links it to the patient.
        dynamo::applied(result)
            .map(|_| ())
            .map_err(|e| unavailable(&e))
    }

    async fn report_exams(
        &self,
        filters: &ReportFilters,
        cursor: Option<String>,
    ) -> Result<Page<ExamView>, StoreError> {
        let position: ReportCursor = match cursor {
            Some(raw) => serde_json::from_str(&raw).map_err(|_| StoreError::InvalidCursor)?,
            None => ReportCursor { m: 0, k: None },
        };
        let (index, partition) = match &filters.hospital_id {
            Some(hospital) => ("gsi2", format!("HOSPITAL#{hospital}")),
            None => {
                let months = filters.months();
                let Some(month) = months.get(position.m) else {
                    return Ok(Page {
                        items: vec![],
                        next_cursor: None,
                    });
                };
                ("gsi1", format!("EXAMS#{month}"))
            }
        };
        let (pk_name, sk_name) = if index == "gsi1" {
            ("gsi1pk", "gsi1sk")
        } else {
            ("gsi2pk", "gsi2sk")
        };
        let last = filters.to - jiff::SignedDuration::from_millis(1);
        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression(format!("{pk_name} = :pk AND {sk_name} BETWEEN :a AND :b"))
            .expression_attribute_values(":pk", s(partition))
            .expression_attribute_values(":a", s(sortable(filters.from)))
            .expression_attribute_values(":b", s(format!("{}#~", sortable(last))));
        if let Some(status) = filters.status {
            request = request
                .filter_expression("#status = :status")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":status", s(status_name(status)));
        }
        if let Some(key) = position.k {
            request = request
                .set_exclusive_start_key(Some(key.into_iter().map(|(k, v)| (k, s(v))).collect()));
        }
        let out = request.send().await.map_err(|e| unavailable(&e))?;
        let items = from_items(out.items)?;
        let next = match out.last_evaluated_key {
            Some(key) => Some(ReportCursor {
                m: position.m,
                k: Some(
                    key.into_iter()
                        .filter_map(|(k, v)| v.as_s().ok().map(|v| (k, v.clone())))
                        .collect(),
                ),
            }),
            None if filters.hospital_id.is_none() && position.m + 1 < filters.months().len() => {
                Some(ReportCursor {
                    m: position.m + 1,
                    k: None,
                })
            }
            None => None,
        };
        Ok(Page {
            items,
            next_cursor: next.and_then(|c| serde_json::to_string(&c).ok()),
        })
    }
}
