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

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use clinic_shared::aws::error_text;
use clinic_shared::dynamo::{self, TransactFailure};
use clinic_shared::envelope::Envelope;
use clinic_shared::outbox::outbox_put;
use clinic_shared::pagination::{decode_cursor, encode_cursor};
use jiff::Timestamp;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::domain::model::status_name;
use crate::domain::values::{ReportFilters, month_of};
use crate::domain::{
    AccessEntry, AuditTrail, Erasures, ExamView, FailOutcome, FileOutcome, FileRecord, Files, Page,
    Projection, Report, ReportClaim, ReportGrant, ReportStatus, Reports, StoreError,
};
use clinic_shared::envelope::Role;

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

/// `<nanoseconds since the epoch, fixed width>#<event id>`: orders the events of one exam by time,
/// then id, as a string comparison.
fn event_key(exam: &ExamView) -> String {
    format!(
        "{:020}#{}",
        exam.event_time.as_nanosecond().max(0),
        exam.event_id
    )
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

/// Whether a cancelled transaction failed on a condition (rather than throttling or a conflict).
/// Position of a report query: which month (or the hospital index) and where in it.
#[derive(serde::Serialize, Deserialize)]
struct ReportCursor {
    m: usize,
    #[serde(default)]
    k: Option<HashMap<String, String>>,
}

const EXAM_SK: &str = "EXAM";
const FILE_SK: &str = "FILE";
const REPORT_SK: &str = "REPORT";
const ERASURE_SK: &str = "ERASURE";
/// The table's TTL attribute (template.yaml `TimeToLiveSpecification`): never on audit entries.
const TTL_ATTRIBUTE: &str = "expiresAt";

/// Where an access-log page continues: in the grants, or in the erased files.
const CURSOR_GRANTS: &str = "G:";
const CURSOR_ERASED: &str = "E:";

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
        match result {
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

    async fn hospital_of_client(&self, client_id: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .get(&format!("CLIENT#{client_id}"), "HOSPITAL")
            .await?
            .and_then(|item| item.get("hospitalId").and_then(|v| v.as_s().ok()).cloned()))
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
        let mut exams = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page: Page<ExamView> = self
                .query_page(
                    Some("gsi3"),
                    "gsi3pk = :pk",
                    vec![(":pk", s(format!("PATIENT#{patient_id}")))],
                    &["pk", "sk", "gsi3pk", "gsi3sk"],
                    200,
                    cursor.as_deref(),
                )
                .await?;
            exams.extend(page.items.into_iter().map(|e| e.exam_id));
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(exams),
            }
        }
    }

    async fn unlink_patient(&self, exam_id: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("EXAM#{exam_id}")))
            .key("sk", s(EXAM_SK))
            .update_expression("REMOVE patientId, gsi3pk, gsi3sk SET patientErased = :t")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .send()
            .await;
        match result {
            Err(err)
                if !err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Err(unavailable(&err))
            }
            _ => Ok(()),
        }
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
        let items = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(from_item)
            .collect::<Result<Vec<ExamView>, _>>()?;
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
                    StoreError::Conflict("file id exists".into())
                } else {
                    unavailable(&e)
                }
            })?;
        Ok(())
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
        let update = update
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let items = vec![
            TransactWriteItem::builder().update(update).build(),
            self.outbox(event)?,
        ];
        match self.transact(items).await {
            Ok(()) => Ok(true),
            Err(TransactFailure::Conditions(_)) => Ok(false),
            Err(TransactFailure::Unavailable(text)) => Err(StoreError::Unavailable(text)),
        }
    }

    async fn mark_erased(&self, file_id: &str, at: Timestamp) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("FILE#{file_id}")))
            .key("sk", s(FILE_SK))
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

impl AuditTrail for DynamoStore {
    async fn append(&self, entry: &AccessEntry) -> Result<(), StoreError> {
        let mut item = to_item(entry)?;
        item.insert("pk".into(), s(format!("ACCESS#{}", entry.exam_id)));
        item.insert(
            "sk".into(),
            s(format!("{}#{}", sortable(entry.at), entry.entry_id)),
        );
        self.put_audit_entry(item).await
    }

    async fn append_report_grant(&self, grant: &ReportGrant) -> Result<(), StoreError> {
        let mut item = to_item(grant)?;
        item.insert("pk".into(), s(format!("ACCESS#REPORT#{}", grant.report_id)));
        item.insert(
            "sk".into(),
            s(format!("{}#{}", sortable(grant.at), grant.entry_id)),
        );
        self.put_audit_entry(item).await
    }

    async fn entries(
        &self,
        exam_id: &str,
        limit: u16,
        cursor: Option<&str>,
    ) -> Result<Page<AccessEntry>, StoreError> {
        // Grants first, then erased files (an exam's files are erased after its last grant).
        let (in_grants, inner) = match cursor {
            None => (true, None),
            Some(raw) => match (
                raw.strip_prefix(CURSOR_GRANTS),
                raw.strip_prefix(CURSOR_ERASED),
            ) {
                (Some(inner), _) => (true, Some(inner)),
                (None, Some(inner)) => (false, (!inner.is_empty()).then_some(inner)),
                (None, None) => return Err(StoreError::InvalidCursor),
            },
        };
        let mut items = Vec::new();
        let mut inner = inner;
        if in_grants {
            let page: Page<AccessEntry> = self
                .query_page(
                    None,
                    "pk = :pk",
                    vec![(":pk", s(format!("ACCESS#{exam_id}")))],
                    &["pk", "sk"],
                    limit,
                    inner,
                )
                .await?;
            if let Some(next) = page.next_cursor {
                return Ok(Page {
                    items: page.items,
                    next_cursor: Some(format!("{CURSOR_GRANTS}{next}")),
                });
            }
            items = page.items;
            inner = None;
        }
        let left = limit.saturating_sub(u16::try_from(items.len()).unwrap_or(u16::MAX));
        if left == 0 {
            return Ok(Page {
                items,
                next_cursor: Some(CURSOR_ERASED.to_string()),
            });
        }
        let page: Page<AccessEntry> = self
            .query_page(
                None,
                "pk = :pk",
                vec![(":pk", s(format!("ERASED#{exam_id}")))],
                &["pk", "sk"],
                left,
                inner,
            )
            .await?;
        items.extend(page.items);
        Ok(Page {
            items,
            next_cursor: page.next_cursor.map(|n| format!("{CURSOR_ERASED}{n}")),
        })
    }
}

impl Erasures for DynamoStore {
    async fn is_erased(&self, account_id: &str) -> Result<bool, StoreError> {
        Ok(self
            .get(&format!("ERASURE#{account_id}"), ERASURE_SK)
            .await?
            .is_some())
    }

    async fn begin_erasure(
        &self,
        account_id: &str,
        role: Role,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("ERASURE#{account_id}")))
            .item("sk", s(ERASURE_SK))
            .item("accountId", s(account_id))
            .item("role", s(role.as_str()))
            .item("erasedAt", s(at.to_string()))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Err(err)
                if !err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Err(unavailable(&err))
            }
            _ => Ok(()),
        }
    }

    async fn record_erased_file(&self, entry: &AccessEntry) -> Result<bool, StoreError> {
        let mut item = to_item(entry)?;
        item.insert("pk".into(), s(format!("ERASED#{}", entry.exam_id)));
        item.insert("sk".into(), s(format!("FILE#{}", entry.entry_id)));
        match self.put_audit_entry(item).await {
            Ok(()) => Ok(true),
            Err(StoreError::Conflict(_)) => Ok(false),
            Err(err) => Err(err),
        }
    }

    async fn finish_erasure(
        &self,
        account_id: &str,
        files: usize,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("ERASURE#{account_id}")))
            .key("sk", s(ERASURE_SK))
            .update_expression("SET filesErased = :files, completedAt = :at")
            .expression_attribute_values(":files", n(i64::try_from(files).unwrap_or(i64::MAX)))
            .expression_attribute_values(":at", s(at.to_string()))
            .send()
            .await
            .map_err(|e| unavailable(&e))?;
        Ok(())
    }
}

fn report_of(item: Item) -> Result<Report, StoreError> {
    from_item(item)
}

fn status_of(item: &Item) -> Option<&str> {
    item.get("status")
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

impl Reports for DynamoStore {
    async fn create_report(&self, report: &Report) -> Result<(), StoreError> {
        let mut item = to_item(report)?;
        item.insert("pk".into(), s(format!("REPORT#{}", report.report_id)));
        item.insert("sk".into(), s(REPORT_SK));
        // Clean-up only: the API stops serving the report at the same instant, TTL or not.
        item.insert(TTL_ATTRIBUTE.into(), n(report.retained_until().as_second()));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(|e| unavailable(&e))?;
        Ok(())
    }

    async fn report(&self, report_id: &str) -> Result<Option<Report>, StoreError> {
        self.get(&format!("REPORT#{report_id}"), REPORT_SK)
            .await?
            .map(report_of)
            .transpose()
    }

    async fn claim_report(
        &self,
        report_id: &str,
        token: &str,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<ReportClaim, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("REPORT#{report_id}")))
            .key("sk", s(REPORT_SK))
            .update_expression(
                "SET #status = :processing, leaseOwner = :token, leaseUntilMs = :until, \
                 updatedAt = :now, attempts = if_not_exists(attempts, :zero) + :one",
            )
            .condition_expression(
                "#status = :queued OR (#status = :processing AND leaseUntilMs < :nowMs)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":processing", s("processing"))
            .expression_attribute_values(":queued", s("queued"))
            .expression_attribute_values(":token", s(token))
            .expression_attribute_values(":until", n(lease_until.as_millisecond()))
            .expression_attribute_values(":nowMs", n(now.as_millisecond()))
            .expression_attribute_values(":now", s(now.to_string()))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => Ok(ReportClaim::Claimed(Box::new(report_of(
                out.attributes.unwrap_or_default(),
            )?))),
            Err(err) => {
                let Some(aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(failed)) =
                    err.as_service_error()
                else {
                    return Err(unavailable(&err));
                };
                let old = match failed.item() {
                    Some(item) => Some(item.clone()),
                    None => self.get(&format!("REPORT#{report_id}"), REPORT_SK).await?,
                };
                Ok(match old.as_ref().and_then(status_of) {
                    None => ReportClaim::Missing,
                    Some("done" | "error") => ReportClaim::Finished,
                    Some(_) => ReportClaim::Busy,
                })
            }
        }
    }

    async fn complete_report(
        &self,
        report_id: &str,
        token: &str,
        rows: u64,
        result_key: &str,
        event: &Envelope,
    ) -> Result<bool, StoreError> {
        let update = self
            .update(format!("REPORT#{report_id}"), REPORT_SK)
            .update_expression(
                "SET #status = :done, #rows = :rows, resultKey = :key, updatedAt = :now \
                 REMOVE leaseOwner, leaseUntilMs, lastError",
            )
            .condition_expression("#status = :processing AND leaseOwner = :token")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#rows", "rows")
            .expression_attribute_values(":done", s("done"))
            .expression_attribute_values(":processing", s("processing"))
            .expression_attribute_values(":token", s(token))
            .expression_attribute_values(":rows", n(i64::try_from(rows).unwrap_or(i64::MAX)))
            .expression_attribute_values(":key", s(result_key))
            .expression_attribute_values(":now", s(Timestamp::now().to_string()))
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let items = vec![
            TransactWriteItem::builder().update(update).build(),
            self.outbox(event)?,
        ];
        match self.transact(items).await {
            Ok(()) => Ok(true),
            Err(TransactFailure::Conditions(_)) => Ok(false),
            Err(TransactFailure::Unavailable(text)) => Err(StoreError::Unavailable(text)),
        }
    }

    async fn release_report(
        &self,
        report_id: &str,
        token: &str,
        error_code: &str,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("REPORT#{report_id}")))
            .key("sk", s(REPORT_SK))
            .update_expression(
                "SET #status = :queued, lastError = :code, updatedAt = :now REMOVE leaseOwner, leaseUntilMs",
            )
            .condition_expression("#status = :processing AND leaseOwner = :token")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":queued", s("queued"))
            .expression_attribute_values(":processing", s("processing"))
            .expression_attribute_values(":token", s(token))
            .expression_attribute_values(":code", s(error_code))
            .expression_attribute_values(":now", s(Timestamp::now().to_string()))
            .send()
            .await;
        match result {
            Err(err)
                if !err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Err(unavailable(&err))
            }
            _ => Ok(()),
        }
    }

    async fn fail_report(
        &self,
        report_id: &str,
        reason: &str,
        now: Timestamp,
        event: &Envelope,
    ) -> Result<FailOutcome, StoreError> {
        let update = self
            .update(format!("REPORT#{report_id}"), REPORT_SK)
            .update_expression(
                "SET #status = :error, #error = :reason, updatedAt = :now REMOVE leaseOwner, leaseUntilMs",
            )
            .condition_expression(
                "#status = :queued OR (#status = :processing AND leaseUntilMs < :nowMs)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#error", "error")
            .expression_attribute_values(":error", s("error"))
            .expression_attribute_values(":queued", s("queued"))
            .expression_attribute_values(":processing", s("processing"))
            .expression_attribute_values(":reason", s(reason))
            .expression_attribute_values(":nowMs", n(now.as_millisecond()))
            .expression_attribute_values(":now", s(now.to_string()))
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let items = vec![
            TransactWriteItem::builder().update(update).build(),
            self.outbox(event)?,
        ];
        match self.transact(items).await {
            Ok(()) => Ok(FailOutcome::Failed),
            Err(TransactFailure::Conditions(_)) => {
                let current = self.get(&format!("REPORT#{report_id}"), REPORT_SK).await?;
                Ok(match current.as_ref().and_then(status_of) {
                    None => FailOutcome::Missing,
                    Some("done" | "error") => FailOutcome::Finished,
                    Some(_) => FailOutcome::Busy,
                })
            }
            Err(TransactFailure::Unavailable(text)) => Err(StoreError::Unavailable(text)),
        }
    }

    async fn set_report_status(
        &self,
        report_id: &str,
        status: ReportStatus,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("REPORT#{report_id}")))
            .key("sk", s(REPORT_SK))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(status.as_str()))
            .expression_attribute_values(":now", s(Timestamp::now().to_string()));
        request = match error {
            Some(reason) => request
                .update_expression("SET #status = :status, #error = :reason, updatedAt = :now")
                .expression_attribute_names("#error", "error")
                .expression_attribute_values(":reason", s(reason)),
            None => request.update_expression("SET #status = :status, updatedAt = :now"),
        };
        request.send().await.map_err(|e| unavailable(&e))?;
        Ok(())
    }
}
