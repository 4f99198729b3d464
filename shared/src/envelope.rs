//! The versioned event envelope every message between services travels in, and the catalogue of
//! event types with their typed payloads.
//!
//! Producers build an [`Envelope`] from a typed payload ([`EventData`]); consumers parse the raw
//! JSON with [`Envelope::parse`], which refuses unknown versions and types with an error value so
//! the message can be parked with its reason instead of being dropped.

use jiff::Timestamp;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use ulid::Ulid;

/// The envelope version this code writes and understands.
pub const ENVELOPE_VERSION: u32 = 1;

/// Every event type in the catalogue. The wire name (`account.created`, …) is what SNS filter
/// policies match on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "account.created")]
    AccountCreated,
    #[serde(rename = "account.updated")]
    AccountUpdated,
    #[serde(rename = "account.deleted")]
    AccountDeleted,
    #[serde(rename = "account.signup_repeated")]
    SignUpRepeated,
    #[serde(rename = "patient.registered")]
    PatientRegistered,
    #[serde(rename = "doctor.registered")]
    DoctorRegistered,
    #[serde(rename = "hospital.registered")]
    HospitalRegistered,
    #[serde(rename = "exam.created")]
    ExamCreated,
    #[serde(rename = "exam.updated")]
    ExamUpdated,
    #[serde(rename = "exam.completed")]
    ExamCompleted,
    #[serde(rename = "exam.result.ready")]
    ExamResultReady,
    #[serde(rename = "file.uploaded")]
    FileUploaded,
    #[serde(rename = "file.processed")]
    FileProcessed,
    #[serde(rename = "file.rejected")]
    FileRejected,
    #[serde(rename = "file.deleted")]
    FileDeleted,
    #[serde(rename = "report.completed")]
    ReportCompleted,
    #[serde(rename = "report.failed")]
    ReportFailed,
}

impl EventType {
    pub const ALL: [EventType; 17] = [
        EventType::AccountCreated,
        EventType::AccountUpdated,
        EventType::AccountDeleted,
        EventType::SignUpRepeated,
        EventType::PatientRegistered,
        EventType::DoctorRegistered,
        EventType::HospitalRegistered,
        EventType::ExamCreated,
        EventType::ExamUpdated,
        EventType::ExamCompleted,
        EventType::ExamResultReady,
        EventType::FileUploaded,
        EventType::FileProcessed,
        EventType::FileRejected,
        EventType::FileDeleted,
        EventType::ReportCompleted,
        EventType::ReportFailed,
    ];

    /// The wire name, e.g. `exam.result.ready`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::AccountCreated => "account.created",
            EventType::AccountUpdated => "account.updated",
            EventType::AccountDeleted => "account.deleted",
            EventType::SignUpRepeated => "account.signup_repeated",
            EventType::PatientRegistered => "patient.registered",
            EventType::DoctorRegistered => "doctor.registered",
            EventType::HospitalRegistered => "hospital.registered",
            EventType::ExamCreated => "exam.created",
            EventType::ExamUpdated => "exam.updated",
            EventType::ExamCompleted => "exam.completed",
            EventType::ExamResultReady => "exam.result.ready",
            EventType::FileUploaded => "file.uploaded",
            EventType::FileProcessed => "file.processed",
            EventType::FileRejected => "file.rejected",
            EventType::FileDeleted => "file.deleted",
            EventType::ReportCompleted => "report.completed",
            EventType::ReportFailed => "report.failed",
        }
    }

    pub fn parse(name: &str) -> Option<EventType> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a raw message is not a usable envelope. Consumers treat every variant as non-retryable:
/// the same bytes will fail the same way next time.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EnvelopeError {
    #[error("message is not a JSON envelope: {0}")]
    Malformed(String),
    #[error("unsupported envelope version {0} (this consumer understands {ENVELOPE_VERSION})")]
    UnsupportedVersion(u32),
    #[error("unknown event type `{0}`")]
    UnknownType(String),
    #[error("event type is {actual}, expected {expected}")]
    WrongType {
        expected: EventType,
        actual: EventType,
    },
    #[error("payload of {event_type} does not match its schema: {reason}")]
    InvalidData {
        event_type: EventType,
        reason: String,
    },
}

/// The envelope (fixed fields: id, type, version, source, time, subject, data, trace).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope<T = serde_json::Value> {
    /// ULID, unique per event; consumers deduplicate on it.
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: EventType,
    pub version: u32,
    /// Producing service, e.g. `clinic.accounts`.
    pub source: String,
    pub time: Timestamp,
    /// Id of the entity the event is about.
    pub subject: String,
    pub data: T,
    /// W3C `traceparent` of the request that caused the event.
    pub trace: String,
}

/// A typed payload of the catalogue: knows its event type.
pub trait EventData: Serialize + DeserializeOwned {
    const TYPE: EventType;
}

impl<T: EventData> Envelope<T> {
    /// A new envelope with a fresh ULID and the current time.
    pub fn new(
        source: &str,
        subject: impl Into<String>,
        data: T,
        trace: impl Into<String>,
    ) -> Self {
        Self {
            id: Ulid::new().to_string(),
            event_type: T::TYPE,
            version: ENVELOPE_VERSION,
            source: source.to_string(),
            time: Timestamp::now(),
            subject: subject.into(),
            data,
            trace: trace.into(),
        }
    }

    /// The same envelope with its payload as untyped JSON, as published.
    pub fn into_raw(self) -> Envelope {
        Envelope {
            id: self.id,
            event_type: self.event_type,
            version: self.version,
            source: self.source,
            time: self.time,
            subject: self.subject,
            data: serde_json::to_value(&self.data).unwrap_or(serde_json::Value::Null),
            trace: self.trace,
        }
    }
}

impl Envelope {
    /// Parses a raw message body, checking the version before anything else so that a future
    /// version is reported as such rather than as a schema mismatch.
    pub fn parse(body: &str) -> Result<Envelope, EnvelopeError> {
        let value: serde_json::Value =
            serde_json::from_str(body).map_err(|e| EnvelopeError::Malformed(e.to_string()))?;
        let version = value
            .get("version")
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| EnvelopeError::Malformed("missing numeric `version`".into()))?;
        if version != u64::from(ENVELOPE_VERSION) {
            return Err(EnvelopeError::UnsupportedVersion(
                u32::try_from(version).unwrap_or(u32::MAX),
            ));
        }
        let type_name = value
            .get("type")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| EnvelopeError::Malformed("missing string `type`".into()))?;
        if EventType::parse(type_name).is_none() {
            return Err(EnvelopeError::UnknownType(type_name.to_string()));
        }
        serde_json::from_value(value).map_err(|e| EnvelopeError::Malformed(e.to_string()))
    }

    /// Reads the payload as the typed data of `T`'s event type.
    pub fn data_as<T: EventData>(&self) -> Result<T, EnvelopeError> {
        if self.event_type != T::TYPE {
            return Err(EnvelopeError::WrongType {
                expected: T::TYPE,
                actual: self.event_type,
            });
        }
        serde_json::from_value(self.data.clone()).map_err(|e| EnvelopeError::InvalidData {
            event_type: self.event_type,
            reason: e.to_string(),
        })
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Roles a person or machine holds in Clinic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Patient,
    Doctor,
    Staff,
    Hospital,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Patient => "patient",
            Role::Doctor => "doctor",
            Role::Staff => "staff",
            Role::Hospital => "hospital",
        }
    }
}

/// Language of user-facing texts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Language {
    #[default]
    #[serde(rename = "pt-BR")]
    PtBr,
    #[serde(rename = "en")]
    En,
}

impl Language {
    pub fn as_str(self) -> &'static str {
        match self {
            Language::PtBr => "pt-BR",
            Language::En => "en",
        }
    }

    /// Reads a stored or requested language; anything unknown falls back to pt-BR.
    pub fn parse_or_default(value: &str) -> Language {
        match value {
            "en" | "en-US" | "en-GB" => Language::En,
            _ => Language::PtBr,
        }
    }
}

/// Contact preferences per channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Preferences {
    pub email: bool,
    pub sms: bool,
    pub language: Language,
}

impl Default for Preferences {
    fn default() -> Self {
        Self {
            email: true,
            sms: true,
            language: Language::PtBr,
        }
    }
}

// --- account events ----------------------------------------------------------------------------
// Contact data (e-mail, phone) travels only to services that must reach the person; health data
// never travels in events.

/// `account.created`: any person's account exists (patient sign-up, doctor registered by staff).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountCreated {
    pub account_id: String,
    pub role: Role,
    pub email: String,
    pub phone: Option<String>,
    pub preferences: Preferences,
}
impl EventData for AccountCreated {
    const TYPE: EventType = EventType::AccountCreated;
}

/// `account.updated`: contact data or preferences changed (the new values).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountUpdated {
    pub account_id: String,
    pub role: Role,
    pub email: String,
    pub phone: Option<String>,
    pub preferences: Preferences,
}
impl EventData for AccountUpdated {
    const TYPE: EventType = EventType::AccountUpdated;
}

/// The contact data an account starts with, in the form `account.updated` carries it: for
/// consumers that keep the latest contact data of either.
impl From<AccountCreated> for AccountUpdated {
    fn from(created: AccountCreated) -> Self {
        Self {
            account_id: created.account_id,
            role: created.role,
            email: created.email,
            phone: created.phone,
            preferences: created.preferences,
        }
    }
}

/// `account.deleted`: erase or anonymise this person's data everywhere (LGPD). Ids only: each
/// service finds what it holds of the person by the account id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountDeleted {
    pub account_id: String,
    pub role: Role,
}
impl EventData for AccountDeleted {
    const TYPE: EventType = EventType::AccountDeleted;
}

/// `account.signup_repeated`: someone tried to sign up with the e-mail of this confirmed account.
/// The sign-up answered as usual (no enumeration); the owner is told by e-mail instead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignUpRepeated {
    pub account_id: String,
}
impl EventData for SignUpRepeated {
    const TYPE: EventType = EventType::SignUpRepeated;
}

/// `patient.registered`: a patient confirmed their sign-up. Carries the key that links hospital
/// records made for the same CPF *and* the e-mail this account verified
/// ([`crate::values::patient_match_key`]) — never the CPF alone, which anyone can type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PatientRegistered {
    pub account_id: String,
    pub match_key: String,
}
impl EventData for PatientRegistered {
    const TYPE: EventType = EventType::PatientRegistered;
}

/// `doctor.registered`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DoctorRegistered {
    pub account_id: String,
    pub crm: String,
    pub uf: String,
    pub specialty: String,
    pub email: String,
    /// Whether Cognito sent the temporary password itself (no password chosen by staff).
    pub invitation_sent_by_cognito: bool,
}
impl EventData for DoctorRegistered {
    const TYPE: EventType = EventType::DoctorRegistered;
}

/// `hospital.registered`: the hospital's machine client id maps tokens to the hospital.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HospitalRegistered {
    pub hospital_id: String,
    pub name: String,
    pub cnes: String,
    pub client_id: String,
}
impl EventData for HospitalRegistered {
    const TYPE: EventType = EventType::HospitalRegistered;
}

// --- exam events -------------------------------------------------------------------------------
// Ids, status and scheduling only: never results, diagnoses or documents.

/// Lifecycle states of an exam.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExamStatus {
    Scheduled,
    Collected,
    Completed,
    ResultReady,
    Cancelled,
}

/// `exam.created`: an exam was booked by a patient or pushed by a hospital.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExamCreated {
    pub exam_id: String,
    /// The patient's account, when the exam is linked to one.
    pub patient_id: Option<String>,
    pub hospital_id: String,
    pub hospital_name: String,
    pub exam_type: String,
    pub scheduled_at: Timestamp,
    pub doctor_id: Option<String>,
    pub status: ExamStatus,
}
impl EventData for ExamCreated {
    const TYPE: EventType = EventType::ExamCreated;
}

/// `exam.updated`: status, schedule, doctor or patient link changed (e.g. `CANCELLED`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExamUpdated {
    pub exam_id: String,
    pub patient_id: Option<String>,
    pub hospital_id: String,
    pub hospital_name: String,
    pub exam_type: String,
    pub scheduled_at: Timestamp,
    pub doctor_id: Option<String>,
    pub status: ExamStatus,
    pub previous_status: ExamStatus,
}
impl EventData for ExamUpdated {
    const TYPE: EventType = EventType::ExamUpdated;
}

impl ExamUpdated {
    /// The exam as it stands after the change, in the fields `exam.created` describes an exam
    /// with (the previous status left out): for consumers that keep the latest state of either.
    pub fn into_created(self) -> ExamCreated {
        ExamCreated {
            exam_id: self.exam_id,
            patient_id: self.patient_id,
            hospital_id: self.hospital_id,
            hospital_name: self.hospital_name,
            exam_type: self.exam_type,
            scheduled_at: self.scheduled_at,
            doctor_id: self.doctor_id,
            status: self.status,
        }
    }
}

/// `exam.completed`: the exam was performed and awaits its result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExamCompleted {
    pub exam_id: String,
    pub patient_id: Option<String>,
    pub hospital_id: String,
    pub doctor_id: Option<String>,
}
impl EventData for ExamCompleted {
    const TYPE: EventType = EventType::ExamCompleted;
}

/// `exam.result.ready`: a processed result file is available in the portal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExamResultReady {
    pub exam_id: String,
    pub patient_id: Option<String>,
    pub hospital_id: String,
    pub doctor_id: Option<String>,
    pub file_id: String,
}
impl EventData for ExamResultReady {
    const TYPE: EventType = EventType::ExamResultReady;
}

// --- file and report events ----------------------------------------------------------------------

/// Kinds of exam files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    Result,
    Attachment,
}

/// `file.processed`: an uploaded file passed the checks and is stored under its final key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileProcessed {
    pub file_id: String,
    pub exam_id: String,
    pub kind: FileKind,
    pub size: u64,
    pub sha256: String,
}
impl EventData for FileProcessed {
    const TYPE: EventType = EventType::FileProcessed;
}

/// `file.rejected`: an uploaded file failed a check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileRejected {
    pub file_id: String,
    pub exam_id: String,
    pub kind: FileKind,
    /// Machine code of the check that failed, e.g. `NOT_A_PDF`, `TOO_LARGE`.
    pub reason: String,
}
impl EventData for FileRejected {
    const TYPE: EventType = EventType::FileRejected;
}

/// `report.completed`: a staff report is ready for its requester.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportCompleted {
    pub report_id: String,
    pub requested_by: String,
    pub format: String,
    pub rows: u64,
}
impl EventData for ReportCompleted {
    const TYPE: EventType = EventType::ReportCompleted;
}

/// `report.failed`: a staff report could not be built.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportFailed {
    pub report_id: String,
    pub requested_by: String,
    pub reason: String,
}
impl EventData for ReportFailed {
    const TYPE: EventType = EventType::ReportFailed;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Envelope<PatientRegistered> {
        Envelope::new(
            "clinic.accounts",
            "acc-1",
            PatientRegistered {
                account_id: "acc-1".into(),
                match_key: "a1b2c3".into(),
            },
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )
    }

    #[test]
    fn round_trips_with_fixed_field_names() {
        let raw = sample().into_raw();
        let json: serde_json::Value = serde_json::from_str(&raw.to_json()).unwrap();
        for field in [
            "id", "type", "version", "source", "time", "subject", "data", "trace",
        ] {
            assert!(json.get(field).is_some(), "missing {field}");
        }
        assert_eq!(json["type"], "patient.registered");
        assert_eq!(json["data"]["accountId"], "acc-1");
        let parsed = Envelope::parse(&raw.to_json()).unwrap();
        assert_eq!(parsed, raw);
        let data: PatientRegistered = parsed.data_as().unwrap();
        assert_eq!(data.match_key, "a1b2c3");
    }

    #[test]
    fn ids_are_ulids_and_unique() {
        let a = sample();
        let b = sample();
        assert_ne!(a.id, b.id);
        assert!(Ulid::from_string(&a.id).is_ok());
    }

    #[test]
    fn unknown_version_is_an_error_value() {
        let mut json: serde_json::Value =
            serde_json::from_str(&sample().into_raw().to_json()).unwrap();
        json["version"] = 2.into();
        assert_eq!(
            Envelope::parse(&json.to_string()),
            Err(EnvelopeError::UnsupportedVersion(2))
        );
    }

    #[test]
    fn unknown_type_and_garbage_are_error_values() {
        let mut json: serde_json::Value =
            serde_json::from_str(&sample().into_raw().to_json()).unwrap();
        json["type"] = "exam.exploded".into();
        assert_eq!(
            Envelope::parse(&json.to_string()),
            Err(EnvelopeError::UnknownType("exam.exploded".into()))
        );
        assert!(matches!(
            Envelope::parse("not json"),
            Err(EnvelopeError::Malformed(_))
        ));
        assert!(matches!(
            Envelope::parse("{}"),
            Err(EnvelopeError::Malformed(_))
        ));
    }

    #[test]
    fn typed_data_checks_type_and_schema() {
        let raw = sample().into_raw();
        assert!(matches!(
            raw.data_as::<AccountDeleted>(),
            Err(EnvelopeError::WrongType { .. })
        ));
        let mut broken = raw.clone();
        broken.data = serde_json::json!({"accountId": 5});
        assert!(matches!(
            broken.data_as::<PatientRegistered>(),
            Err(EnvelopeError::InvalidData { .. })
        ));
    }

    #[test]
    fn every_type_name_round_trips() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
    }

    #[test]
    fn unknown_language_falls_back_to_portuguese() {
        assert_eq!(Language::parse_or_default("fr"), Language::PtBr);
        assert_eq!(Language::parse_or_default("en"), Language::En);
    }
}
