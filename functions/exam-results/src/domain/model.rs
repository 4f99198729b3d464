//! The exam results model: hospitals and their catalogue, slots, exams with their lifecycle and
//! who may see them, and the events an exam change announces.

use std::collections::BTreeSet;

use clinic_shared::envelope::{
    Envelope, EventData, ExamCompleted, ExamCreated, ExamResultReady, ExamStatus, ExamUpdated,
};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::values::{ExamType, time_key};

/// Event source name of this service.
pub const SOURCE: &str = "clinic.exam-results";

/// A hospital as this service knows it (projection of `hospital.registered`) with the exam types
/// it offers (registered when it publishes slots).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hospital {
    pub id: String,
    pub name: String,
    pub cnes: String,
    /// The hospital's machine client: the `sub` of its client-credentials tokens.
    pub client_id: String,
    #[serde(default)]
    pub exam_types: BTreeSet<String>,
}

/// A bookable slot: `capacity` places for one exam type at one hospital, `booked` of them taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Slot {
    pub id: String,
    pub hospital_id: String,
    pub hospital_name: String,
    pub exam_type: String,
    pub start: Timestamp,
    pub end: Timestamp,
    pub capacity: u32,
    pub booked: u32,
}

impl Slot {
    /// The id of the slot a hospital publishes for this exam type and start: publishing the same
    /// slot again updates it instead of adding another.
    pub fn id_for(hospital_id: &str, exam_type: &ExamType, start: Timestamp) -> String {
        derived_id(
            's',
            &[hospital_id, exam_type.as_str(), time_key(start).as_str()],
        )
    }

    /// Places still free.
    pub fn remaining(&self) -> u32 {
        self.capacity.saturating_sub(self.booked)
    }

    /// Whether it can still be booked at `now`.
    pub fn is_open(&self, now: Timestamp) -> bool {
        self.start > now
    }
}

/// A slot as published: exam type, window and capacity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotSpec {
    pub exam_type: ExamType,
    pub start: Timestamp,
    pub end: Timestamp,
    pub capacity: u32,
}

/// How an exam came to exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExamOrigin {
    /// A patient booked a slot.
    Booking,
    /// A hospital pushed it through the integration API.
    Integration,
}

/// An exam. Personal data is limited to the CPF a hospital sent (until the patient's account is
/// erased); events carry ids, status and schedule only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Exam {
    pub id: String,
    pub origin: ExamOrigin,
    pub hospital_id: String,
    pub hospital_name: String,
    pub exam_type: String,
    pub scheduled_at: Timestamp,
    pub status: ExamStatus,
    /// The patient's account, once known.
    #[serde(default)]
    pub patient_id: Option<String>,
    /// The CPF a hospital sent (hospital data, removed when the patient's account is erased).
    #[serde(default)]
    pub patient_cpf: Option<String>,
    /// The key of the hospital's CPF *and* the e-mail it has on file
    /// ([`clinic_shared::values::patient_match_key`]): the exam links to the account that
    /// verified that address for that CPF. `None` when the hospital sent no e-mail: then only the
    /// receipt's access code links it.
    #[serde(default)]
    pub patient_match: Option<String>,
    #[serde(default)]
    pub doctor_id: Option<String>,
    #[serde(default)]
    pub doctor_crm: Option<String>,
    /// The booked slot (bookings only).
    #[serde(default)]
    pub slot_id: Option<String>,
    /// The hospital's own id and the version of its last applied push (integration only).
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub version: Option<u64>,
    #[serde(default)]
    pub result_file_id: Option<String>,
    /// Set when the patient's account was erased and the exam kept without personal links.
    #[serde(default)]
    pub anonymised_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Incremented by every write; each write is conditional on the revision it read, so two
    /// concurrent changes never overwrite each other.
    #[serde(default)]
    pub revision: u64,
}

/// A lifecycle step someone asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Collect,
    Complete,
    Cancel,
    ResultReady,
}

/// A step the current status does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{action:?} is not allowed from {current:?}")]
pub struct InvalidTransition {
    pub current: ExamStatus,
    pub action: Action,
}

/// `SCHEDULED → COLLECTED → COMPLETED → RESULT_READY`, or `SCHEDULED → CANCELLED`.
///
/// # Errors
/// [`InvalidTransition`] for any other step.
pub fn next_status(current: ExamStatus, action: Action) -> Result<ExamStatus, InvalidTransition> {
    use ExamStatus::*;
    match (current, action) {
        (Scheduled, Action::Collect) => Ok(Collected),
        (Collected, Action::Complete) => Ok(Completed),
        (Scheduled, Action::Cancel) => Ok(Cancelled),
        (Completed, Action::ResultReady) => Ok(ResultReady),
        _ => Err(InvalidTransition { current, action }),
    }
}

/// The status a step starts from (the write is conditional on it).
pub fn required_status(action: Action) -> ExamStatus {
    match action {
        Action::Collect | Action::Cancel => ExamStatus::Scheduled,
        Action::Complete => ExamStatus::Collected,
        Action::ResultReady => ExamStatus::Completed,
    }
}

/// Whether a doctor may still be (re)assigned: before the exam is completed or cancelled.
pub fn can_assign(status: ExamStatus) -> bool {
    matches!(status, ExamStatus::Scheduled | ExamStatus::Collected)
}

/// Whose exams a caller sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Viewer {
    /// A patient: their own exams.
    Patient(String),
    /// A doctor: the exams assigned to them.
    Doctor(String),
    /// A hospital (by hospital id): its own exams.
    Hospital(String),
    /// Staff: every exam.
    Staff,
}

impl Exam {
    /// The id of the exam a hospital pushes under its `externalId`: the same pair always names
    /// the same exam, and no other hospital's push can reach it.
    pub fn id_for_external(hospital_id: &str, external_id: &str) -> String {
        derived_id('x', &[hospital_id, external_id])
    }

    /// Whether `viewer` may see this exam.
    pub fn visible_to(&self, viewer: &Viewer) -> bool {
        match viewer {
            Viewer::Patient(id) => self.patient_id.as_deref() == Some(id.as_str()),
            Viewer::Doctor(id) => self.doctor_id.as_deref() == Some(id.as_str()),
            Viewer::Hospital(id) => self.hospital_id == *id,
            Viewer::Staff => true,
        }
    }

    /// Whether it waits for its patient's account (a hospital's exam not linked yet).
    pub fn awaits_patient(&self) -> bool {
        self.patient_id.is_none() && self.patient_cpf.is_some() && self.anonymised_at.is_none()
    }

    /// The match key it waits on, while it waits for its patient.
    pub fn awaited_match(&self) -> Option<&str> {
        self.patient_match
            .as_deref()
            .filter(|_| self.awaits_patient())
    }

    /// `exam.created`.
    pub fn created_event(&self, trace: &str) -> Envelope {
        self.event(
            ExamCreated {
                exam_id: self.id.clone(),
                patient_id: self.patient_id.clone(),
                hospital_id: self.hospital_id.clone(),
                hospital_name: self.hospital_name.clone(),
                exam_type: self.exam_type.clone(),
                scheduled_at: self.scheduled_at,
                doctor_id: self.doctor_id.clone(),
                status: self.status,
            },
            trace,
        )
    }

    /// `exam.updated` (status, schedule, doctor or patient link changed).
    pub fn updated_event(&self, previous_status: ExamStatus, trace: &str) -> Envelope {
        self.event(
            ExamUpdated {
                exam_id: self.id.clone(),
                patient_id: self.patient_id.clone(),
                hospital_id: self.hospital_id.clone(),
                hospital_name: self.hospital_name.clone(),
                exam_type: self.exam_type.clone(),
                scheduled_at: self.scheduled_at,
                doctor_id: self.doctor_id.clone(),
                status: self.status,
                previous_status,
            },
            trace,
        )
    }

    /// `exam.completed`.
    pub fn completed_event(&self, trace: &str) -> Envelope {
        self.event(
            ExamCompleted {
                exam_id: self.id.clone(),
                patient_id: self.patient_id.clone(),
                hospital_id: self.hospital_id.clone(),
                doctor_id: self.doctor_id.clone(),
            },
            trace,
        )
    }

    /// `exam.result.ready`.
    pub fn result_ready_event(&self, file_id: &str, trace: &str) -> Envelope {
        self.event(
            ExamResultReady {
                exam_id: self.id.clone(),
                patient_id: self.patient_id.clone(),
                hospital_id: self.hospital_id.clone(),
                doctor_id: self.doctor_id.clone(),
                file_id: file_id.to_string(),
            },
            trace,
        )
    }

    /// The event a status change announces: `exam.completed` on completion, `exam.result.ready`
    /// handled by its own step, `exam.updated` otherwise.
    pub fn status_change_event(&self, previous_status: ExamStatus, trace: &str) -> Envelope {
        if self.status == ExamStatus::Completed && previous_status != ExamStatus::Completed {
            self.completed_event(trace)
        } else {
            self.updated_event(previous_status, trace)
        }
    }

    fn event<T: EventData>(&self, data: T, trace: &str) -> Envelope {
        Envelope::new(SOURCE, self.id.clone(), data, trace).into_raw()
    }
}

/// `<prefix>` + the first 31 hex digits of SHA-256 over the parts (newline separated).
fn derived_id(prefix: char, parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update(b"\n");
    }
    let digest = hex::encode(hasher.finalize());
    format!("{prefix}{}", &digest[..31])
}

pub use clinic_shared::pagination::Page;

#[cfg(test)]
mod tests {
    use super::*;
    use ExamStatus::*;

    #[test]
    fn the_lifecycle_allows_only_its_steps() {
        assert_eq!(next_status(Scheduled, Action::Collect), Ok(Collected));
        assert_eq!(next_status(Collected, Action::Complete), Ok(Completed));
        assert_eq!(next_status(Completed, Action::ResultReady), Ok(ResultReady));
        assert_eq!(next_status(Scheduled, Action::Cancel), Ok(Cancelled));
        let all = [Scheduled, Collected, Completed, ResultReady, Cancelled];
        let actions = [
            Action::Collect,
            Action::Complete,
            Action::Cancel,
            Action::ResultReady,
        ];
        let mut allowed = 0;
        for from in all {
            for action in actions {
                match next_status(from, action) {
                    Ok(_) => {
                        allowed += 1;
                        assert_eq!(required_status(action), from);
                    }
                    Err(err) => assert_eq!(err.current, from),
                }
            }
        }
        assert_eq!(allowed, 4);
        assert!(next_status(Scheduled, Action::Complete).is_err());
        assert!(next_status(Cancelled, Action::Cancel).is_err());
        assert!(next_status(ResultReady, Action::Collect).is_err());
        assert!(can_assign(Scheduled) && can_assign(Collected));
        assert!(!can_assign(Completed) && !can_assign(Cancelled) && !can_assign(ResultReady));
    }

    fn exam() -> Exam {
        let at: Timestamp = "2025-03-12T19:00:00Z".parse().unwrap();
        Exam {
            id: "e1".into(),
            origin: ExamOrigin::Booking,
            hospital_id: "h1".into(),
            hospital_name: "Hospital Santa Clara".into(),
            exam_type: "blood-count".into(),
            scheduled_at: at,
            status: Scheduled,
            patient_id: Some("p1".into()),
            patient_cpf: Some("52998224725".into()),
            patient_match: None,
            doctor_id: Some("d1".into()),
            doctor_crm: None,
            slot_id: Some("s1".into()),
            external_id: None,
            version: None,
            result_file_id: None,
            anonymised_at: None,
            created_at: at,
            updated_at: at,
            revision: 1,
        }
    }

    #[test]
    fn each_role_sees_only_its_exams() {
        let e = exam();
        assert!(e.visible_to(&Viewer::Patient("p1".into())));
        assert!(!e.visible_to(&Viewer::Patient("p2".into())));
        assert!(e.visible_to(&Viewer::Doctor("d1".into())));
        assert!(!e.visible_to(&Viewer::Doctor("d2".into())));
        assert!(e.visible_to(&Viewer::Hospital("h1".into())));
        assert!(!e.visible_to(&Viewer::Hospital("h2".into())));
        assert!(e.visible_to(&Viewer::Staff));
        let unlinked = Exam {
            patient_id: None,
            doctor_id: None,
            ..e
        };
        assert!(!unlinked.visible_to(&Viewer::Patient(String::new())));
        assert!(!unlinked.visible_to(&Viewer::Doctor(String::new())));
        assert!(unlinked.awaits_patient());
    }

    #[test]
    fn events_carry_no_personal_data() {
        let e = exam();
        for event in [
            e.created_event("t"),
            e.updated_event(Scheduled, "t"),
            e.completed_event("t"),
            e.result_ready_event("f1", "t"),
        ] {
            let json = event.to_json();
            assert!(!json.contains("52998224725"), "{json}");
            assert_eq!(event.subject, "e1");
            assert_eq!(event.source, SOURCE);
        }
        let completed = Exam {
            status: Completed,
            ..e.clone()
        };
        assert_eq!(
            completed.status_change_event(Collected, "t").event_type,
            clinic_shared::envelope::EventType::ExamCompleted
        );
        assert_eq!(
            e.status_change_event(Collected, "t").event_type,
            clinic_shared::envelope::EventType::ExamUpdated
        );
    }

    #[test]
    fn derived_ids_are_stable_and_separate_hospitals() {
        let a = Exam::id_for_external("h1", "LAB-1");
        assert_eq!(a, Exam::id_for_external("h1", "LAB-1"));
        assert_ne!(a, Exam::id_for_external("h2", "LAB-1"));
        assert_eq!(a.len(), 32);
        assert!(a.starts_with('x'));
        let t = ExamType::parse("blood-count").unwrap();
        let at: Timestamp = "2025-03-12T19:00:00Z".parse().unwrap();
        assert_eq!(Slot::id_for("h1", &t, at), Slot::id_for("h1", &t, at));
        assert_ne!(Slot::id_for("h1", &t, at), Slot::id_for("h2", &t, at));
    }
}
