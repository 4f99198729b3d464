//! Hospital integration: the items of a batch, how each is validated, the batch record that shows
//! every item's state, and the rule that applies an item to its exam ("a higher version wins").

use clinic_shared::envelope::{Envelope, ExamStatus};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::model::{Exam, ExamOrigin};
use super::values::{
    Cpf, DoctorCrm, Email, ExamType, ExternalId, InvalidValue, Version, parse_time,
};

/// Most items in one batch.
pub const MAX_ITEMS: usize = 500;
/// Largest batch body, in bytes.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// One validated item: the state of one exam at one version, as the hospital sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestItem {
    pub external_id: ExternalId,
    pub version: Version,
    pub patient_cpf: Cpf,
    /// The e-mail the hospital has on file for the patient: with the CPF, it links the exam to
    /// the account that verified this address.
    pub patient_email: Option<Email>,
    pub exam_type: ExamType,
    pub status: ExamStatus,
    pub scheduled_at: Timestamp,
    pub doctor_crm: Option<DoctorCrm>,
}

impl IngestItem {
    /// The key that links this exam to the account that verified the hospital's e-mail for the
    /// hospital's CPF; `None` without an e-mail (then only the access code links it).
    pub fn match_key(&self) -> Option<String> {
        self.patient_email
            .as_ref()
            .map(|email| clinic_shared::values::patient_match_key(&self.patient_cpf, email))
    }
}

/// An item that failed validation: what could be read of it, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedItem {
    pub external_id: Option<String>,
    pub version: Option<u64>,
    pub reason: String,
}

/// Validates one raw item of a batch. Every offending field is named in the reason.
///
/// # Errors
/// [`RejectedItem`] with `field: message` parts joined by `; `.
pub fn parse_item(raw: &Value) -> Result<IngestItem, RejectedItem> {
    let Some(object) = raw.as_object() else {
        return Err(RejectedItem {
            external_id: None,
            version: None,
            reason: "item must be a JSON object.".into(),
        });
    };
    let mut problems: Vec<String> = Vec::new();
    let p = &mut problems;
    let external_id =
        need(p, object, "externalId").and_then(|r| check(p, "externalId", ExternalId::parse(r)));
    let patient_cpf =
        need(p, object, "patientCpf").and_then(|r| check(p, "patientCpf", Cpf::parse(r)));
    let exam_type =
        need(p, object, "examType").and_then(|r| check(p, "examType", ExamType::parse(r)));
    let status = need(p, object, "status").and_then(|r| check(p, "status", pushable_status(r)));
    let scheduled_at = need(p, object, "scheduledAt")
        .and_then(|r| check(p, "scheduledAt", parse_time(r, "scheduledAt")))
        .and_then(|t| check(p, "scheduledAt", plausible(t)));
    let raw_version = object.get("version");
    let version = match raw_version {
        None | Some(Value::Null) => {
            p.push("version: version is required.".into());
            None
        }
        Some(v) => match v.as_u64() {
            Some(n) => check(p, "version", Version::new(n)),
            None => {
                p.push("version: version must be a whole number from 1.".into());
                None
            }
        },
    };
    let patient_email = match object.get("patientEmail") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => check(p, "patientEmail", Email::parse(s)),
        Some(_) => {
            p.push("patientEmail: patientEmail must be a string.".into());
            None
        }
    };
    let doctor_crm = match object.get("doctorCrm") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => check(p, "doctorCrm", DoctorCrm::parse(s)),
        Some(_) => {
            p.push("doctorCrm: doctorCrm must be a string.".into());
            None
        }
    };
    match (
        external_id,
        version,
        patient_cpf,
        exam_type,
        status,
        scheduled_at,
    ) {
        (
            Some(external_id),
            Some(version),
            Some(patient_cpf),
            Some(exam_type),
            Some(status),
            Some(scheduled_at),
        ) if problems.is_empty() => Ok(IngestItem {
            external_id,
            version,
            patient_cpf,
            patient_email,
            exam_type,
            status,
            scheduled_at,
            doctor_crm,
        }),
        _ => Err(RejectedItem {
            external_id: object
                .get("externalId")
                .and_then(Value::as_str)
                .map(|s| s.chars().take(64).collect()),
            version: raw_version.and_then(Value::as_u64),
            reason: problems.join("; "),
        }),
    }
}

/// A required string member, or a problem recorded for it.
fn need<'a>(
    problems: &mut Vec<String>,
    object: &'a serde_json::Map<String, Value>,
    name: &str,
) -> Option<&'a str> {
    match object.get(name) {
        None | Some(Value::Null) => {
            problems.push(format!("{name}: {name} is required."));
            None
        }
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => {
            problems.push(format!("{name}: {name} must be a string."));
            None
        }
    }
}

/// The parsed value, or a problem recorded for `name`.
fn check<T>(problems: &mut Vec<String>, name: &str, result: Result<T, InvalidValue>) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(err) => {
            problems.push(format!("{name}: {err}"));
            None
        }
    }
}

/// The statuses a hospital may push. `RESULT_READY` is reached only when the result file is
/// processed.
fn pushable_status(raw: &str) -> Result<ExamStatus, InvalidValue> {
    match raw.trim() {
        "SCHEDULED" => Ok(ExamStatus::Scheduled),
        "COLLECTED" => Ok(ExamStatus::Collected),
        "COMPLETED" => Ok(ExamStatus::Completed),
        "CANCELLED" => Ok(ExamStatus::Cancelled),
        "RESULT_READY" => Err(InvalidValue(
            "RESULT_READY is set when the result file is processed, not pushed.".into(),
        )),
        _ => Err(InvalidValue(
            "status must be SCHEDULED, COLLECTED, COMPLETED or CANCELLED.".into(),
        )),
    }
}

/// Exam dates from 2000 to 2100: anything else is a typo in the hospital's system.
fn plausible(ts: Timestamp) -> Result<Timestamp, InvalidValue> {
    let year = ts.to_zoned(jiff::tz::TimeZone::UTC).year();
    if (2000..=2100).contains(&year) {
        Ok(ts)
    } else {
        Err(InvalidValue(
            "scheduledAt must be between the years 2000 and 2100.".into(),
        ))
    }
}

/// State of one item of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ItemState {
    /// Valid and queued; not applied yet.
    Accepted,
    /// Applied to its exam.
    Applied,
    /// A version as new or newer was already applied: nothing changed.
    Stale,
    /// Invalid (see the reason): nothing changed.
    Rejected,
}

impl ItemState {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemState::Accepted => "ACCEPTED",
            ItemState::Applied => "APPLIED",
            ItemState::Stale => "STALE",
            ItemState::Rejected => "REJECTED",
        }
    }
}

/// State of a whole batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BatchStatus {
    /// Some items are still queued.
    Processing,
    /// Every item is applied, stale or rejected.
    Completed,
}

/// One item of a stored batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchItem {
    /// Position in the batch as sent (from 0).
    pub index: u32,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub version: Option<u64>,
    pub state: ItemState,
    #[serde(default)]
    pub reason: Option<String>,
    /// The receipt's access code, when applying this item issued one.
    #[serde(default)]
    pub access_code: Option<String>,
}

/// A batch a hospital sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub id: String,
    pub hospital_id: String,
    pub created_at: Timestamp,
    pub items: Vec<BatchItem>,
}

impl Batch {
    pub fn status(&self) -> BatchStatus {
        if self.items.iter().any(|i| i.state == ItemState::Accepted) {
            BatchStatus::Processing
        } else {
            BatchStatus::Completed
        }
    }
}

/// One accepted item on its way through the ingest queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestCommand {
    pub batch_id: String,
    pub hospital_id: String,
    pub index: u32,
    pub item: IngestItem,
    /// `traceparent` of the request that sent the batch.
    pub trace: String,
}

/// An [`IngestCommand`] on the ingest queue (JSON body of one message). The item travels as the
/// hospital's fields and is validated again when read back, so the consumer trusts nothing it
/// did not parse itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IngestMessage {
    pub batch_id: String,
    pub hospital_id: String,
    pub index: u32,
    pub trace: String,
    pub item: Value,
}

impl IngestMessage {
    /// The message for a command.
    pub fn from_command(cmd: &IngestCommand) -> IngestMessage {
        let item = &cmd.item;
        let mut fields = serde_json::Map::new();
        fields.insert("externalId".into(), item.external_id.as_str().into());
        fields.insert("version".into(), item.version.get().into());
        fields.insert("patientCpf".into(), item.patient_cpf.as_str().into());
        if let Some(email) = &item.patient_email {
            fields.insert("patientEmail".into(), email.as_str().into());
        }
        fields.insert("examType".into(), item.exam_type.as_str().into());
        fields.insert(
            "status".into(),
            serde_json::to_value(item.status).unwrap_or(Value::Null),
        );
        fields.insert(
            "scheduledAt".into(),
            super::values::time_key(item.scheduled_at).into(),
        );
        if let Some(crm) = &item.doctor_crm {
            fields.insert("doctorCrm".into(), crm.as_str().into());
        }
        IngestMessage {
            batch_id: cmd.batch_id.clone(),
            hospital_id: cmd.hospital_id.clone(),
            index: cmd.index,
            trace: cmd.trace.clone(),
            item: Value::Object(fields),
        }
    }

    /// The command again, with its item validated.
    ///
    /// # Errors
    /// The rejection reason when the item is not valid.
    pub fn into_command(self) -> Result<IngestCommand, RejectedItem> {
        let item = parse_item(&self.item)?;
        Ok(IngestCommand {
            batch_id: self.batch_id,
            hospital_id: self.hospital_id,
            index: self.index,
            item,
            trace: self.trace,
        })
    }
}

/// What applying an item decided.
#[derive(Debug, Clone, PartialEq)]
pub enum IngestDecision {
    /// A version as new or newer is in place: change nothing.
    Stale,
    /// The exam belongs to another hospital: change nothing.
    Foreign,
    /// Write this exam (conditional on the exam read being still current) with these events.
    Apply {
        exam: Box<Exam>,
        events: Vec<Envelope>,
    },
}

/// Applies `cmd` to the exam as read (`current`): a higher version replaces the hospital's
/// fields; an equal or lower one is stale. `linked_account` is the account that verified the
/// item's e-mail for the item's CPF, if any (see [`IngestItem::match_key`]). What the clinic
/// itself decided is kept: the assigned doctor, the result file, `RESULT_READY` (unless the
/// hospital cancels), the patient link while the CPF stays the same (a claimed exam stays
/// claimed), and an erasure (no CPF is stored again for an anonymised exam).
pub fn decide(
    current: Option<&Exam>,
    cmd: &IngestCommand,
    hospital_name: &str,
    linked_account: Option<&str>,
    now: Timestamp,
) -> IngestDecision {
    let item = &cmd.item;
    if let Some(current) = current {
        if current.hospital_id != cmd.hospital_id {
            return IngestDecision::Foreign;
        }
        if current.version.unwrap_or(0) >= item.version.get() {
            return IngestDecision::Stale;
        }
    }
    let anonymised_at = current.and_then(|c| c.anonymised_at);
    let cpf = item.patient_cpf.as_str().to_string();
    let (patient_cpf, patient_match, patient_id) = if anonymised_at.is_some() {
        (None, None, None)
    } else {
        let kept = current
            .filter(|c| c.patient_cpf.as_deref() == Some(cpf.as_str()))
            .and_then(|c| c.patient_id.clone());
        (
            Some(cpf),
            item.match_key(),
            kept.or(linked_account.map(str::to_string)),
        )
    };
    let status = match current.map(|c| c.status) {
        Some(ExamStatus::ResultReady) if item.status != ExamStatus::Cancelled => {
            ExamStatus::ResultReady
        }
        _ => item.status,
    };
    let exam = Exam {
        id: Exam::id_for_external(&cmd.hospital_id, item.external_id.as_str()),
        origin: ExamOrigin::Integration,
        hospital_id: cmd.hospital_id.clone(),
        hospital_name: hospital_name.to_string(),
        exam_type: item.exam_type.as_str().to_string(),
        scheduled_at: item.scheduled_at,
        status,
        patient_id,
        patient_cpf,
        patient_match,
        doctor_id: current.and_then(|c| c.doctor_id.clone()),
        doctor_crm: item.doctor_crm.as_ref().map(|c| c.as_str().to_string()),
        slot_id: None,
        external_id: Some(item.external_id.as_str().to_string()),
        version: Some(item.version.get()),
        result_file_id: current.and_then(|c| c.result_file_id.clone()),
        anonymised_at,
        created_at: current.map_or(now, |c| c.created_at),
        updated_at: now,
        revision: current.map_or(1, |c| c.revision + 1),
    };
    let events = match current {
        None => vec![exam.created_event(&cmd.trace)],
        Some(before)
            if before.status != exam.status
                || before.scheduled_at != exam.scheduled_at
                || before.exam_type != exam.exam_type
                || before.patient_id != exam.patient_id =>
        {
            vec![exam.status_change_event(before.status, &cmd.trace)]
        }
        Some(_) => Vec::new(),
    };
    IngestDecision::Apply {
        exam: Box::new(exam),
        events,
    }
}

#[cfg(test)]
mod tests {
    use clinic_shared::envelope::EventType;
    use serde_json::json;

    use super::*;

    fn raw(version: u64, status: &str) -> Value {
        json!({
            "externalId": "LAB-1", "version": version, "patientCpf": "529.982.247-25",
            "examType": "blood-count", "status": status, "scheduledAt": "2025-03-12T19:00:00Z",
            "doctorCrm": "123456/SP"
        })
    }

    fn command(version: u64, status: &str) -> IngestCommand {
        IngestCommand {
            batch_id: "b1".into(),
            hospital_id: "h1".into(),
            index: 0,
            item: parse_item(&raw(version, status)).unwrap(),
            trace: "t".into(),
        }
    }

    fn now() -> Timestamp {
        "2025-03-10T00:00:00Z".parse().unwrap()
    }

    fn apply(current: Option<&Exam>, cmd: &IngestCommand, account: Option<&str>) -> IngestDecision {
        decide(current, cmd, "Hospital Santa Clara", account, now())
    }

    fn written(decision: IngestDecision) -> (Exam, Vec<Envelope>) {
        match decision {
            IngestDecision::Apply { exam, events } => (*exam, events),
            other => panic!("expected a write, got {other:?}"),
        }
    }

    #[test]
    fn a_valid_item_parses() {
        let item = parse_item(&raw(3, "COLLECTED")).unwrap();
        assert_eq!(item.version.get(), 3);
        assert_eq!(item.patient_cpf.as_str(), "52998224725");
        assert_eq!(item.status, ExamStatus::Collected);
        assert_eq!(item.doctor_crm.unwrap().as_str(), "123456/SP");
    }

    #[test]
    fn every_bad_field_is_named() {
        let rejected = parse_item(&json!({
            "externalId": "LAB 1", "version": 0, "patientCpf": "52998224724",
            "examType": "x", "status": "DONE", "scheduledAt": "yesterday", "doctorCrm": 5
        }))
        .unwrap_err();
        for field in [
            "externalId",
            "version",
            "patientCpf",
            "examType",
            "status",
            "scheduledAt",
            "doctorCrm",
        ] {
            assert!(
                rejected.reason.contains(&format!("{field}:")),
                "{field} missing in {}",
                rejected.reason
            );
        }
        assert_eq!(rejected.external_id.as_deref(), Some("LAB 1"));
        assert_eq!(rejected.version, Some(0));
        let missing = parse_item(&json!({})).unwrap_err();
        assert!(
            missing
                .reason
                .contains("externalId: externalId is required.")
        );
        assert!(parse_item(&json!([1])).is_err());
        assert!(parse_item(&raw(1, "RESULT_READY")).is_err());
        assert!(
            parse_item(&json!({"version": "3"}))
                .unwrap_err()
                .reason
                .contains("version:")
        );
        let mut old = raw(1, "SCHEDULED");
        old["scheduledAt"] = json!("1900-01-01T00:00:00Z");
        assert!(
            parse_item(&old)
                .unwrap_err()
                .reason
                .contains("scheduledAt:")
        );
    }

    #[test]
    fn a_new_exam_is_created_with_its_event() {
        let (exam, events) = written(apply(None, &command(1, "SCHEDULED"), None));
        assert_eq!(exam.id, Exam::id_for_external("h1", "LAB-1"));
        assert_eq!(exam.version, Some(1));
        assert!(exam.awaits_patient());
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event_type, EventType::ExamCreated);
        let (linked, _) = written(apply(None, &command(1, "SCHEDULED"), Some("acc-1")));
        assert_eq!(linked.patient_id.as_deref(), Some("acc-1"));
        assert!(!linked.awaits_patient());
    }

    #[test]
    fn a_higher_version_wins_and_anything_else_is_stale() {
        let (v3, _) = written(apply(None, &command(3, "COMPLETED"), None));
        assert_eq!(
            apply(Some(&v3), &command(1, "SCHEDULED"), None),
            IngestDecision::Stale
        );
        assert_eq!(
            apply(Some(&v3), &command(2, "COLLECTED"), None),
            IngestDecision::Stale
        );
        assert_eq!(
            apply(Some(&v3), &command(3, "COMPLETED"), None),
            IngestDecision::Stale
        );
        let (v4, events) = written(apply(Some(&v3), &command(4, "CANCELLED"), None));
        assert_eq!(v4.status, ExamStatus::Cancelled);
        assert_eq!(events[0].event_type, EventType::ExamUpdated);
        let (v2, _) = written(apply(None, &command(2, "COLLECTED"), None));
        let (v3b, events) = written(apply(Some(&v2), &command(3, "COMPLETED"), None));
        assert_eq!(v3b.status, ExamStatus::Completed);
        assert_eq!(events[0].event_type, EventType::ExamCompleted);
    }

    #[test]
    fn what_the_clinic_decided_is_kept() {
        let (mut exam, _) = written(apply(None, &command(1, "COMPLETED"), Some("acc-1")));
        exam.doctor_id = Some("d1".into());
        exam.status = ExamStatus::ResultReady;
        exam.result_file_id = Some("f1".into());
        let (next, events) = written(apply(Some(&exam), &command(2, "COMPLETED"), None));
        assert_eq!(next.status, ExamStatus::ResultReady);
        assert_eq!(next.doctor_id.as_deref(), Some("d1"));
        assert_eq!(next.result_file_id.as_deref(), Some("f1"));
        assert_eq!(next.patient_id.as_deref(), Some("acc-1"));
        assert!(events.is_empty(), "nothing observable changed");
        let (cancelled, _) = written(apply(Some(&exam), &command(3, "CANCELLED"), None));
        assert_eq!(cancelled.status, ExamStatus::Cancelled);

        let erased = Exam {
            patient_id: None,
            patient_cpf: None,
            anonymised_at: Some(now()),
            ..exam
        };
        let (after, _) = written(apply(
            Some(&erased),
            &command(4, "COMPLETED"),
            Some("acc-2"),
        ));
        assert_eq!(after.patient_cpf, None);
        assert_eq!(after.patient_id, None);
        assert!(!after.awaits_patient());
    }

    #[test]
    fn another_hospitals_exam_is_never_touched() {
        let (exam, _) = written(apply(None, &command(1, "SCHEDULED"), None));
        let mut other = command(2, "CANCELLED");
        other.hospital_id = "h2".into();
        assert_eq!(
            decide(Some(&exam), &other, "Other", None, now()),
            IngestDecision::Foreign
        );
    }

    #[test]
    fn queue_messages_round_trip() {
        let cmd = command(7, "COMPLETED");
        let json = serde_json::to_string(&IngestMessage::from_command(&cmd)).unwrap();
        let back: IngestMessage = serde_json::from_str(&json).unwrap();
        assert_eq!(back.into_command().unwrap(), cmd);
    }

    #[test]
    fn batch_status_follows_its_items() {
        let item = |state| BatchItem {
            index: 0,
            external_id: None,
            version: None,
            state,
            reason: None,
            access_code: None,
        };
        let mut batch = Batch {
            id: "b".into(),
            hospital_id: "h".into(),
            created_at: now(),
            items: vec![item(ItemState::Applied), item(ItemState::Accepted)],
        };
        assert_eq!(batch.status(), BatchStatus::Processing);
        batch.items[1].state = ItemState::Stale;
        assert_eq!(batch.status(), BatchStatus::Completed);
    }
}
