//! Request and response bodies of the exam results API, and their parsing into validated values.
//! Every offending field is reported at once.

use std::collections::HashSet;

use clinic_shared::envelope::ExamStatus;
use clinic_shared::problem::{Problem, Validator};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::domain::claim::AccessCode;
use crate::domain::ingest::{Batch, BatchStatus, ItemState};
use crate::domain::values::{Capacity, ExamType, Id, Window, parse_time};
use crate::domain::{Exam, ExamOrigin, Hospital, Slot, SlotQuery, SlotSpec};

/// Most slots in one publication (one DynamoDB transaction with the catalogue update).
pub const MAX_SLOTS_PER_REQUEST: usize = 50;
/// Default span of a slot search.
const DEFAULT_SPAN: SignedDuration = SignedDuration::from_hours(31 * 24);
/// Longest span of a slot search.
const MAX_SPAN: SignedDuration = SignedDuration::from_hours(92 * 24);

/// Page-size and cursor query parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size, 1–200 (default 50).
    pub limit: Option<String>,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

/// A hospital of the catalogue.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HospitalResponse {
    pub id: String,
    pub name: String,
    pub cnes: String,
    /// Exam types it offers (from the slots it published).
    pub exam_types: Vec<String>,
}

impl From<Hospital> for HospitalResponse {
    fn from(h: Hospital) -> Self {
        Self {
            id: h.id,
            name: h.name,
            cnes: h.cnes,
            exam_types: h.exam_types.into_iter().collect(),
        }
    }
}

/// `GET /v1/hospitals`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HospitalsPage {
    pub items: Vec<HospitalResponse>,
    pub next_cursor: Option<String>,
}

clinic_shared::page_response!(HospitalsPage, HospitalResponse);

/// One slot to publish.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SlotInput {
    #[schema(value_type = String, example = "blood-count")]
    pub exam_type: Option<Value>,
    #[schema(value_type = String, example = "2025-03-20T08:00:00Z")]
    pub start: Option<Value>,
    #[schema(value_type = String, example = "2025-03-20T08:30:00Z")]
    pub end: Option<Value>,
    /// Places, 0 (closed) to 1000; never below the places already booked.
    #[schema(value_type = u32, example = 3)]
    pub capacity: Option<Value>,
}

fn string_field<'a>(v: &mut Validator, field: &str, value: &'a Option<Value>) -> Option<&'a str> {
    match value {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.as_str()),
        Some(Value::String(_)) | None | Some(Value::Null) => {
            v.push(field, format!("{} is required.", leaf(field)));
            None
        }
        Some(_) => {
            v.push(field, format!("{} must be a string.", leaf(field)));
            None
        }
    }
}

fn leaf(field: &str) -> &str {
    field.rsplit('.').next().unwrap_or(field)
}

/// Parses a publication: 1 to 50 slots, each with a valid type, window and capacity, no two
/// with the same type and start.
///
/// # Errors
/// 400 listing every invalid field (`[2].capacity`, …).
pub fn parse_slots(input: Vec<SlotInput>, now: Timestamp) -> Result<Vec<SlotSpec>, Problem> {
    if input.is_empty() || input.len() > MAX_SLOTS_PER_REQUEST {
        return Err(Problem::validation(vec![
            clinic_shared::problem::FieldError::new(
                "slots",
                format!("Send 1 to {MAX_SLOTS_PER_REQUEST} slots per request."),
            ),
        ]));
    }
    let mut v = Validator::new();
    let mut specs = Vec::with_capacity(input.len());
    let mut seen = HashSet::new();
    for (i, slot) in input.iter().enumerate() {
        let f = |name: &str| format!("[{i}].{name}");
        let exam_type = string_field(&mut v, &f("examType"), &slot.exam_type)
            .and_then(|raw| v.check(&f("examType"), ExamType::parse(raw)));
        let start = string_field(&mut v, &f("start"), &slot.start)
            .and_then(|raw| v.check(&f("start"), parse_time(raw, "start")));
        let end = string_field(&mut v, &f("end"), &slot.end)
            .and_then(|raw| v.check(&f("end"), parse_time(raw, "end")));
        let capacity = match &slot.capacity {
            None | Some(Value::Null) => {
                v.push(&f("capacity"), "capacity is required.");
                None
            }
            Some(value) => match value.as_u64() {
                Some(raw) => v.check(&f("capacity"), Capacity::new(raw)),
                None => {
                    v.push(
                        &f("capacity"),
                        "capacity must be a whole number from 0 to 1000.",
                    );
                    None
                }
            },
        };
        let window = match (start, end) {
            (Some(start), Some(end)) => match Window::new(start, end, now) {
                Ok(window) => Some(window),
                Err((field, err)) => {
                    v.push(&f(field), err.to_string());
                    None
                }
            },
            _ => None,
        };
        if let (Some(exam_type), Some(window), Some(capacity)) = (exam_type, window, capacity) {
            if !seen.insert((exam_type.clone(), window.start)) {
                v.push(
                    &f("start"),
                    "another slot of this request has the same examType and start.",
                );
            }
            specs.push(SlotSpec {
                exam_type,
                start: window.start,
                end: window.end,
                capacity: capacity.get(),
            });
        }
    }
    v.finish()?;
    Ok(specs)
}

/// A slot.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SlotResponse {
    pub id: String,
    pub hospital_id: String,
    pub hospital_name: String,
    pub exam_type: String,
    #[schema(value_type = String, format = DateTime)]
    pub start: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub end: Timestamp,
    pub capacity: u32,
    pub booked: u32,
    /// Places still free.
    pub remaining: u32,
}

impl From<Slot> for SlotResponse {
    fn from(s: Slot) -> Self {
        let remaining = s.remaining();
        Self {
            id: s.id,
            hospital_id: s.hospital_id,
            hospital_name: s.hospital_name,
            exam_type: s.exam_type,
            start: s.start,
            end: s.end,
            capacity: s.capacity,
            booked: s.booked,
            remaining,
        }
    }
}

/// `PUT /v1/hospitals/{id}/slots`: the slots as stored.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublishedSlots {
    pub items: Vec<SlotResponse>,
}

/// `GET /v1/slots`: open slots, by start time.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SlotsPage {
    pub items: Vec<SlotResponse>,
    pub next_cursor: Option<String>,
}

clinic_shared::page_response!(SlotsPage, SlotResponse);

/// `GET /v1/slots` query: a hospital or an exam type (or both), and a time range.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct SlotsQuery {
    /// Slots of this hospital.
    pub hospital_id: Option<String>,
    /// Slots of this exam type.
    pub exam_type: Option<String>,
    /// Start at or after this time (default now).
    pub from: Option<String>,
    /// Start before this time (default `from` + 31 days; at most 92 days after `from`).
    pub to: Option<String>,
    /// Page size, 1–200 (default 50).
    pub limit: Option<String>,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

impl SlotsQuery {
    /// # Errors
    /// 400 listing every invalid parameter.
    pub fn parse(&self, now: Timestamp) -> Result<SlotQuery, Problem> {
        let mut v = Validator::new();
        let hospital_id = self
            .hospital_id
            .as_deref()
            .and_then(|raw| v.check("hospitalId", Id::parse(raw)))
            .map(|id| id.as_str().to_string());
        let exam_type = self
            .exam_type
            .as_deref()
            .and_then(|raw| v.check("examType", ExamType::parse(raw)))
            .map(|t| t.as_str().to_string());
        if self.hospital_id.is_none() && self.exam_type.is_none() {
            v.push("hospitalId", "give hospitalId, examType or both.");
        }
        let from = match self.from.as_deref() {
            Some(raw) => v.check("from", parse_time(raw, "from")),
            None => Some(crate::domain::values::whole_seconds(now)),
        };
        let to = match (self.to.as_deref(), from) {
            (Some(raw), _) => v.check("to", parse_time(raw, "to")),
            (None, Some(from)) => Some(from + DEFAULT_SPAN),
            (None, None) => None,
        };
        if let (Some(from), Some(to)) = (from, to) {
            if to <= from {
                v.push("to", "to must be after from.");
            } else if to.duration_since(from) > MAX_SPAN {
                v.push("to", "search at most 92 days at a time.");
            }
        }
        v.finish()?;
        match (from, to) {
            (Some(from), Some(to)) => Ok(SlotQuery {
                hospital_id,
                exam_type,
                from,
                to,
            }),
            _ => Err(Problem::internal()),
        }
    }
}

/// `POST /v1/appointments`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BookRequest {
    pub slot_id: Option<String>,
}

impl BookRequest {
    /// # Errors
    /// 400 when `slotId` is missing or malformed.
    pub fn parse(&self) -> Result<Id, Problem> {
        let mut v = Validator::new();
        let id = match self.slot_id.as_deref() {
            Some(raw) => v.check("slotId", Id::parse(raw)),
            None => {
                v.push("slotId", "slotId is required.");
                None
            }
        };
        v.finish()?;
        id.ok_or_else(Problem::internal)
    }
}

/// `201` answer of a booking.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BookResponse {
    pub exam_id: String,
    pub status: ExamStatus,
}

/// `GET /v1/exams` query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExamsQuery {
    /// Only exams in this status.
    pub status: Option<String>,
    /// Page size, 1–200 (default 50).
    pub limit: Option<String>,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

/// Reads `?status=`.
///
/// # Errors
/// 400 for an unknown status.
pub fn parse_status(raw: Option<&str>) -> Result<Option<ExamStatus>, Problem> {
    let Some(raw) = raw else { return Ok(None) };
    let mut v = Validator::new();
    let status = v.check(
        "status",
        serde_json::from_value::<ExamStatus>(Value::String(raw.trim().to_string())).map_err(
            |_| "status must be SCHEDULED, COLLECTED, COMPLETED, RESULT_READY or CANCELLED.",
        ),
    );
    v.finish()?;
    Ok(status)
}

/// An exam as the caller may see it. The patient's CPF is never returned.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExamResponse {
    pub id: String,
    pub status: ExamStatus,
    pub origin: ExamOrigin,
    pub hospital_id: String,
    pub hospital_name: String,
    pub exam_type: String,
    #[schema(value_type = String, format = DateTime)]
    pub scheduled_at: Timestamp,
    pub patient_id: Option<String>,
    pub doctor_id: Option<String>,
    pub doctor_crm: Option<String>,
    pub slot_id: Option<String>,
    /// The hospital's id for an exam it pushed.
    pub external_id: Option<String>,
    /// Version of the hospital's last applied push.
    pub version: Option<u64>,
    pub result_file_id: Option<String>,
    /// Whether the patient was waiting to be linked by CPF (no account yet).
    pub awaiting_patient: bool,
    /// Whether the patient's account was erased (the record is kept without personal links).
    pub anonymised: bool,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

impl From<Exam> for ExamResponse {
    fn from(e: Exam) -> Self {
        let awaiting_patient = e.awaits_patient();
        Self {
            id: e.id,
            status: e.status,
            origin: e.origin,
            hospital_id: e.hospital_id,
            hospital_name: e.hospital_name,
            exam_type: e.exam_type,
            scheduled_at: e.scheduled_at,
            patient_id: e.patient_id,
            doctor_id: e.doctor_id,
            doctor_crm: e.doctor_crm,
            slot_id: e.slot_id,
            external_id: e.external_id,
            version: e.version,
            result_file_id: e.result_file_id,
            awaiting_patient,
            anonymised: e.anonymised_at.is_some(),
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

/// `GET /v1/exams`: newest scheduled first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExamsPage {
    pub items: Vec<ExamResponse>,
    pub next_cursor: Option<String>,
}

clinic_shared::page_response!(ExamsPage, ExamResponse);

/// `POST /v1/exams/{id}/assign`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AssignRequest {
    /// The doctor's account id.
    pub doctor_id: Option<String>,
}

impl AssignRequest {
    /// # Errors
    /// 400 when `doctorId` is missing or malformed.
    pub fn parse(&self) -> Result<Id, Problem> {
        let mut v = Validator::new();
        let id = match self.doctor_id.as_deref() {
            Some(raw) => v.check("doctorId", Id::parse(raw)),
            None => {
                v.push("doctorId", "doctorId is required.");
                None
            }
        };
        v.finish()?;
        id.ok_or_else(Problem::internal)
    }
}

/// One exam of a batch, as a hospital sends it. Items are validated one by one: an invalid item
/// is `REJECTED` with its reason and the others still apply.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct BatchItemInput {
    /// The hospital's own id of the exam.
    #[schema(example = "LAB-2025-000123")]
    pub external_id: String,
    /// Increases with every change of this exam at the hospital; a higher version wins.
    #[schema(example = 3)]
    pub version: u64,
    #[schema(example = "52998224725")]
    pub patient_cpf: String,
    /// The e-mail the hospital has on file for the patient. With the CPF it links the exam to
    /// the account that verified this address; without it only the receipt's access code does.
    #[schema(example = "ana@example.com")]
    pub patient_email: Option<String>,
    #[schema(example = "blood-count")]
    pub exam_type: String,
    /// `SCHEDULED`, `COLLECTED`, `COMPLETED` or `CANCELLED`.
    #[schema(example = "COLLECTED")]
    pub status: String,
    #[schema(example = "2025-03-20T08:00:00Z")]
    pub scheduled_at: String,
    #[schema(example = "123456/SP")]
    pub doctor_crm: Option<String>,
}

/// `POST /v1/exams:claim`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClaimRequest {
    /// As printed on the receipt; case, dashes and spaces do not matter.
    #[schema(example = "K7QM-4XPR-9T2D-H6WB")]
    pub access_code: Option<String>,
}

impl ClaimRequest {
    /// # Errors
    /// 400 naming `accessCode` when it is missing or malformed.
    pub fn parse(self) -> Result<AccessCode, Problem> {
        let raw = self.access_code.unwrap_or_default();
        AccessCode::parse(&raw).map_err(|e| {
            Problem::validation(vec![clinic_shared::problem::FieldError::new(
                "accessCode",
                e.to_string(),
            )])
        })
    }
}

/// `POST /v1/integrations/exams:batch`: at most 500 items and 1 MB.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct BatchRequest {
    pub items: Vec<BatchItemInput>,
}

/// Reads the batch envelope leniently: items stay raw JSON so that each is judged on its own.
///
/// # Errors
/// 400 when the body is not an object with an `items` array.
pub fn batch_items(body: &[u8]) -> Result<Vec<Value>, Problem> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| Problem::malformed(format!("The body is not valid JSON: {e}.")))?;
    match value {
        Value::Object(mut object) => match object.remove("items") {
            Some(Value::Array(items)) => Ok(items),
            _ => Err(Problem::validation(vec![
                clinic_shared::problem::FieldError::new(
                    "items",
                    "items must be an array of 1 to 500 exams.",
                ),
            ])),
        },
        _ => Err(Problem::validation(vec![
            clinic_shared::problem::FieldError::new(
                "items",
                "the body must be {\"items\": [...]}.",
            ),
        ])),
    }
}

/// `202` answer of a batch.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchAccepted {
    pub batch_id: String,
    /// Items queued to be applied.
    pub accepted: usize,
    /// Items refused (see the batch for the reasons).
    pub rejected: usize,
}

/// The state of one item of a batch.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchItemResponse {
    /// Position in the batch as sent (from 0).
    pub index: u32,
    pub external_id: Option<String>,
    pub version: Option<u64>,
    pub state: ItemState,
    pub reason: Option<String>,
    /// The code to print on the patient's receipt ("protocolo + senha"), issued when this item
    /// created an exam no account could be linked to yet. The patient claims the exam with it
    /// (`POST /v1/exams:claim`); it works once and expires after 90 days.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "K7QM-4XPR-9T2D-H6WB")]
    pub access_code: Option<String>,
}

/// `GET /v1/integrations/batches/{batchId}`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchResponse {
    pub id: String,
    pub status: BatchStatus,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    pub items: Vec<BatchItemResponse>,
}

impl From<Batch> for BatchResponse {
    fn from(b: Batch) -> Self {
        let status = b.status();
        Self {
            id: b.id,
            status,
            created_at: b.created_at,
            items: b
                .items
                .into_iter()
                .map(|i| BatchItemResponse {
                    index: i.index,
                    external_id: i.external_id,
                    version: i.version,
                    state: i.state,
                    reason: i.reason,
                    access_code: i.access_code,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn now() -> Timestamp {
        "2025-03-12T00:00:00Z".parse().unwrap()
    }

    fn slots(value: Value) -> Vec<SlotInput> {
        serde_json::from_value(value).unwrap()
    }

    fn fields(problem: &Problem) -> Vec<&str> {
        problem.errors.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn slots_parse_and_report_every_field() {
        let ok = parse_slots(
            slots(
                json!([{"examType": "Blood-Count", "start": "2025-03-20T08:00:00Z",
                          "end": "2025-03-20T08:30:00Z", "capacity": 3}]),
            ),
            now(),
        )
        .unwrap();
        assert_eq!(ok[0].exam_type.as_str(), "blood-count");
        assert_eq!(ok[0].capacity, 3);
        let problem = parse_slots(
            slots(json!([
                {"examType": "x", "start": "2025-03-20T08:00:00Z", "end": "2025-03-20T07:00:00Z", "capacity": "3"},
                {"start": "yesterday", "end": "2025-03-20T08:30:00Z", "capacity": 1001},
                {"examType": "mri", "start": "2025-03-01T08:00:00Z", "end": "2025-03-01T09:00:00Z", "capacity": 1}
            ])),
            now(),
        )
        .unwrap_err();
        assert_eq!(problem.status, 400);
        assert_eq!(
            fields(&problem),
            [
                "[0].examType",
                "[0].capacity",
                "[0].end",
                "[1].examType",
                "[1].start",
                "[1].capacity",
                "[2].start"
            ]
        );
        assert_eq!(fields(&parse_slots(vec![], now()).unwrap_err()), ["slots"]);
        let twice = json!({"examType": "mri", "start": "2025-03-20T08:00:00Z", "end": "2025-03-20T09:00:00Z", "capacity": 1});
        assert_eq!(
            fields(&parse_slots(slots(json!([twice.clone(), twice])), now()).unwrap_err()),
            ["[1].start"]
        );
    }

    #[test]
    fn slot_queries_need_a_hospital_or_a_type_and_a_sane_range() {
        let q =
            |h: Option<&str>, t: Option<&str>, from: Option<&str>, to: Option<&str>| SlotsQuery {
                hospital_id: h.map(str::to_string),
                exam_type: t.map(str::to_string),
                from: from.map(str::to_string),
                to: to.map(str::to_string),
                limit: None,
                cursor: None,
            };
        let parsed = q(Some("h1"), None, None, None).parse(now()).unwrap();
        assert_eq!(parsed.from, now());
        assert_eq!(parsed.to, now() + DEFAULT_SPAN);
        assert!(q(None, Some("mri"), None, None).parse(now()).is_ok());
        assert_eq!(
            fields(&q(None, None, None, None).parse(now()).unwrap_err()),
            ["hospitalId"]
        );
        assert_eq!(
            fields(
                &q(Some("a#b"), Some("-"), Some("x"), None)
                    .parse(now())
                    .unwrap_err()
            ),
            ["hospitalId", "examType", "from"]
        );
        assert_eq!(
            fields(
                &q(
                    Some("h"),
                    None,
                    Some("2025-03-12T00:00:00Z"),
                    Some("2025-09-12T00:00:00Z")
                )
                .parse(now())
                .unwrap_err()
            ),
            ["to"]
        );
    }

    #[test]
    fn batch_envelopes_and_statuses() {
        assert_eq!(batch_items(br#"{"items": [1, {}]}"#).unwrap().len(), 2);
        assert_eq!(batch_items(b"[]").unwrap_err().status, 400);
        assert_eq!(
            batch_items(br#"{"items": 5}"#).unwrap_err().errors[0].field,
            "items"
        );
        assert_eq!(batch_items(b"{oops").unwrap_err().code, "MALFORMED_REQUEST");
        assert_eq!(
            parse_status(Some("RESULT_READY")).unwrap(),
            Some(ExamStatus::ResultReady)
        );
        assert_eq!(parse_status(None).unwrap(), None);
        assert_eq!(parse_status(Some("DONE")).unwrap_err().status, 400);
    }
}
