//! Use-case rules against in-memory fakes of the ports: who may do what, 403 versus 404, the
//! lifecycle's conflicts, capacity, batches whose queue fails, and the consumers' projections.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use clinic_shared::auth::Caller;
use clinic_shared::envelope::{
    AccountDeleted, Envelope, EventType, ExamStatus, FileKind, FileProcessed, HospitalRegistered,
    PatientRegistered, Role,
};
use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use super::ingest::IngestWorker;
use super::projections::Projections;
use super::{CacheSettings, ExamResults};
use crate::domain::claim::{AccessCode, ExamClaim};
use crate::domain::ingest::{Batch, IngestCommand, ItemState, parse_item};
use crate::domain::values::{ExamType, Id};
use crate::domain::*;

#[derive(Default)]
struct State {
    hospitals: HashMap<String, Hospital>,
    slots: HashMap<String, Slot>,
    markers: HashMap<(String, String), String>,
    exams: BTreeMap<String, Exam>,
    batches: HashMap<String, Batch>,
    match_links: HashMap<String, String>,
    claims: HashMap<String, ExamClaim>,
    claim_failures: HashMap<(String, String), u32>,
    erased: Vec<String>,
    skipped: Vec<(String, String, String)>,
    events: Vec<Envelope>,
}

/// Every store port in memory, with the same conditions as the DynamoDB adapter.
#[derive(Default)]
struct Memory(Mutex<State>);

impl Memory {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap()
    }

    fn event_types(&self) -> Vec<EventType> {
        self.state().events.iter().map(|e| e.event_type).collect()
    }
}

fn check_revision(state: &State, exam: &Exam) -> Result<(), StoreError> {
    let stored = state.exams.get(&exam.id).map(|e| e.revision);
    match (stored, exam.revision) {
        (None, 1) => Ok(()),
        (Some(r), new) if r + 1 == new => Ok(()),
        _ => Err(StoreError::conflict(ConflictOn::Exam)),
    }
}

fn page<T>(items: Vec<T>) -> Page<T> {
    Page {
        items,
        next_cursor: None,
    }
}

impl CatalogueStore for &Memory {
    async fn list_hospitals(&self, _: u16, _: Option<&str>) -> Result<Page<Hospital>, StoreError> {
        Ok(page(self.state().hospitals.values().cloned().collect()))
    }
    async fn get_hospital(&self, id: &str) -> Result<Option<Hospital>, StoreError> {
        Ok(self.state().hospitals.get(id).cloned())
    }
    async fn hospital_for_client(&self, client: &str) -> Result<Option<Hospital>, StoreError> {
        Ok(self
            .state()
            .hospitals
            .values()
            .find(|h| h.client_id == client)
            .cloned())
    }
    async fn publish_slots(
        &self,
        hospital: &Hospital,
        slots: &[SlotSpec],
    ) -> Result<Vec<Slot>, StoreError> {
        let mut state = self.state();
        let mut out = Vec::new();
        for (index, spec) in slots.iter().enumerate() {
            let id = Slot::id_for(&hospital.id, &spec.exam_type, spec.start);
            let booked = state.slots.get(&id).map_or(0, |s| s.booked);
            if booked > spec.capacity {
                return Err(StoreError::Conflict {
                    on: ConflictOn::Slot,
                    index: Some(index),
                });
            }
            out.push(Slot {
                id,
                hospital_id: hospital.id.clone(),
                hospital_name: hospital.name.clone(),
                exam_type: spec.exam_type.as_str().into(),
                start: spec.start,
                end: spec.end,
                capacity: spec.capacity,
                booked,
            });
        }
        for slot in &out {
            state.slots.insert(slot.id.clone(), slot.clone());
        }
        Ok(out)
    }
    async fn list_open_slots(
        &self,
        _: &SlotQuery,
        _: u16,
        _: Option<&str>,
    ) -> Result<Page<Slot>, StoreError> {
        Ok(page(
            self.state()
                .slots
                .values()
                .filter(|s| s.remaining() > 0)
                .cloned()
                .collect(),
        ))
    }
    async fn get_slot(&self, id: &str) -> Result<Option<Slot>, StoreError> {
        Ok(self.state().slots.get(id).cloned())
    }
}

impl ExamStore for &Memory {
    async fn get_exam(&self, id: &str) -> Result<Option<Exam>, StoreError> {
        Ok(self.state().exams.get(id).cloned())
    }
    async fn list_exams(
        &self,
        viewer: &Viewer,
        status: Option<ExamStatus>,
        _: u16,
        _: Option<&str>,
    ) -> Result<Page<Exam>, StoreError> {
        Ok(page(
            self.state()
                .exams
                .values()
                .filter(|e| e.visible_to(viewer) && status.is_none_or(|s| e.status == s))
                .cloned()
                .collect(),
        ))
    }
    async fn book(
        &self,
        exam: &Exam,
        events: &[Envelope],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut state = self.state();
        let (slot_id, patient) = (
            exam.slot_id.clone().unwrap(),
            exam.patient_id.clone().unwrap(),
        );
        if state
            .markers
            .contains_key(&(slot_id.clone(), patient.clone()))
        {
            return Err(StoreError::conflict(ConflictOn::Booking));
        }
        let slot = state.slots.get_mut(&slot_id).unwrap();
        if slot.booked >= slot.capacity || slot.start <= now {
            return Err(StoreError::conflict(ConflictOn::Slot));
        }
        slot.booked += 1;
        state.markers.insert((slot_id, patient), exam.id.clone());
        state.exams.insert(exam.id.clone(), exam.clone());
        state.events.extend_from_slice(events);
        Ok(())
    }
    async fn cancel_booking(
        &self,
        exam: &Exam,
        booked_by: &str,
        events: &[Envelope],
    ) -> Result<(), StoreError> {
        let mut state = self.state();
        check_revision(&state, exam)?;
        let slot_id = exam.slot_id.clone().unwrap();
        state.slots.get_mut(&slot_id).unwrap().booked -= 1;
        state.markers.remove(&(slot_id, booked_by.to_string()));
        state.exams.insert(exam.id.clone(), exam.clone());
        state.events.extend_from_slice(events);
        Ok(())
    }
    async fn save_exam(&self, exam: &Exam, events: &[Envelope]) -> Result<(), StoreError> {
        let mut state = self.state();
        check_revision(&state, exam)?;
        state.exams.insert(exam.id.clone(), exam.clone());
        state.events.extend_from_slice(events);
        Ok(())
    }
}

impl BatchStore for &Memory {
    async fn create_batch(&self, batch: &Batch) -> Result<(), StoreError> {
        self.state().batches.insert(batch.id.clone(), batch.clone());
        Ok(())
    }
    async fn get_batch(&self, id: &str) -> Result<Option<Batch>, StoreError> {
        Ok(self.state().batches.get(id).cloned())
    }
    async fn finish_item(
        &self,
        batch_id: &str,
        index: u32,
        state: ItemState,
        reason: Option<&str>,
    ) -> Result<bool, StoreError> {
        let mut s = self.state();
        let Some(item) = s
            .batches
            .get_mut(batch_id)
            .and_then(|b| b.items.iter_mut().find(|i| i.index == index))
        else {
            return Ok(false);
        };
        if item.state != ItemState::Accepted {
            return Ok(false);
        }
        item.state = state;
        item.reason = reason.map(str::to_string);
        Ok(true)
    }
    async fn apply_item(
        &self,
        exam: &Exam,
        batch_id: &str,
        index: u32,
        events: &[Envelope],
        issued: Option<(&ExamClaim, &AccessCode)>,
    ) -> Result<(), StoreError> {
        let mut s = self.state();
        check_revision(&s, exam)?;
        let item = s
            .batches
            .get_mut(batch_id)
            .and_then(|b| b.items.iter_mut().find(|i| i.index == index))
            .unwrap();
        if item.state != ItemState::Accepted {
            return Err(StoreError::conflict(ConflictOn::BatchItem));
        }
        item.state = ItemState::Applied;
        item.access_code = issued.map(|(_, code)| code.display());
        if let Some((claim, _)) = issued {
            s.claims.insert(claim.protocol.clone(), claim.clone());
        }
        s.exams.insert(exam.id.clone(), exam.clone());
        s.events.extend_from_slice(events);
        Ok(())
    }
}

impl ClaimStore for &Memory {
    async fn get_claim(&self, protocol: &str) -> Result<Option<ExamClaim>, StoreError> {
        Ok(self.state().claims.get(protocol).cloned())
    }
    async fn claim_failures(&self, account: &str, hour: &str) -> Result<u32, StoreError> {
        Ok(self
            .state()
            .claim_failures
            .get(&(account.to_string(), hour.to_string()))
            .copied()
            .unwrap_or(0))
    }
    async fn record_failed_claim(
        &self,
        account: &str,
        hour: &str,
        protocol: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut s = self.state();
        *s.claim_failures
            .entry((account.to_string(), hour.to_string()))
            .or_default() += 1;
        if let Some(claim) = protocol.and_then(|p| s.claims.get_mut(p)) {
            claim.failed_attempts += 1;
        }
        Ok(())
    }
    async fn claim_exam(
        &self,
        protocol: &str,
        account: &str,
        exam: &Exam,
        events: &[Envelope],
    ) -> Result<(), StoreError> {
        let mut s = self.state();
        check_revision(&s, exam)?;
        let Some(claim) = s.claims.get_mut(protocol) else {
            return Err(StoreError::conflict(ConflictOn::Claim));
        };
        if claim.claimed_by.is_some()
            || claim.failed_attempts >= crate::domain::claim::MAX_FAILED_ATTEMPTS
        {
            return Err(StoreError::conflict(ConflictOn::Claim));
        }
        claim.claimed_by = Some(account.into());
        s.exams.insert(exam.id.clone(), exam.clone());
        s.events.extend_from_slice(events);
        Ok(())
    }
}

impl ProjectionStore for &Memory {
    async fn upsert_hospital(&self, hospital: &Hospital) -> Result<(), StoreError> {
        let mut s = self.state();
        let types = s
            .hospitals
            .get(&hospital.id)
            .map(|h| h.exam_types.clone())
            .unwrap_or_default();
        let mut h = hospital.clone();
        h.exam_types = types;
        s.hospitals.insert(h.id.clone(), h);
        Ok(())
    }
    async fn register_patient(&self, account: &str, key: &str) -> Result<(), StoreError> {
        self.state().match_links.insert(key.into(), account.into());
        Ok(())
    }
    async fn account_for_match(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self.state().match_links.get(key).cloned())
    }
    async fn match_of_account(&self, account: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .state()
            .match_links
            .iter()
            .find(|(_, a)| a.as_str() == account)
            .map(|(k, _)| k.clone()))
    }
    async fn exams_awaiting(&self, key: &str) -> Result<Vec<Exam>, StoreError> {
        Ok(self
            .state()
            .exams
            .values()
            .filter(|e| e.awaited_match() == Some(key))
            .cloned()
            .collect())
    }
    async fn exams_of_patient(&self, account: &str) -> Result<Vec<Exam>, StoreError> {
        Ok(self
            .state()
            .exams
            .values()
            .filter(|e| e.patient_id.as_deref() == Some(account))
            .cloned()
            .collect())
    }
    async fn forget_patient(
        &self,
        account: &str,
        key: Option<&str>,
        _: usize,
        _: Timestamp,
    ) -> Result<(), StoreError> {
        let mut s = self.state();
        if let Some(key) = key {
            s.match_links.remove(key);
        }
        s.erased.push(account.into());
        Ok(())
    }
    async fn is_erased(&self, account: &str) -> Result<bool, StoreError> {
        Ok(self.state().erased.iter().any(|a| a == account))
    }
    async fn record_skipped_file(
        &self,
        exam: &str,
        file: &str,
        reason: &str,
        _: Timestamp,
    ) -> Result<(), StoreError> {
        self.state()
            .skipped
            .push((exam.into(), file.into(), reason.into()));
        Ok(())
    }
}

/// A queue that takes everything, or refuses the items at these indices.
#[derive(Default)]
struct Queue {
    refuse: Vec<u32>,
    sent: Mutex<Vec<IngestCommand>>,
}

impl IngestQueue for &Queue {
    async fn enqueue(&self, commands: &[IngestCommand]) -> Result<Vec<u32>, QueueError> {
        let (refused, taken): (Vec<_>, Vec<_>) = commands
            .iter()
            .cloned()
            .partition(|c| self.refuse.contains(&c.index));
        self.sent.lock().unwrap().extend(taken);
        Ok(refused.into_iter().map(|c| c.index).collect())
    }
}

fn caller(role: Role, id: &str) -> Caller {
    Caller {
        id: id.into(),
        role,
        scopes: vec![],
        username: None,
    }
}

const HOSPITAL: &str = "h1";
const CLIENT: &str = "client-1";

fn seeded() -> Memory {
    let memory = Memory::default();
    for (id, client) in [(HOSPITAL, CLIENT), ("h2", "client-2")] {
        memory.state().hospitals.insert(
            id.into(),
            Hospital {
                id: id.into(),
                name: format!("Hospital {id}"),
                cnes: "2077485".into(),
                client_id: client.into(),
                exam_types: Default::default(),
            },
        );
    }
    memory
}

fn service<'a>(memory: &'a Memory, queue: &'a Queue) -> ExamResults<&'a Memory, &'a Queue> {
    ExamResults::new(memory, queue, CacheSettings::default())
}

async fn slot(svc: &ExamResults<&Memory, &Queue>, capacity: u32) -> String {
    let start = Timestamp::now() + SignedDuration::from_hours(24);
    let slots = svc
        .publish_slots(
            &caller(Role::Staff, "s"),
            HOSPITAL,
            vec![SlotSpec {
                exam_type: ExamType::parse("blood-count").unwrap(),
                start,
                end: start + SignedDuration::from_mins(30),
                capacity,
            }],
        )
        .await
        .unwrap();
    slots[0].id.clone()
}

fn id(raw: &str) -> Id {
    Id::parse(raw).unwrap()
}

#[tokio::test]
async fn slots_are_published_by_staff_and_their_own_hospital_only() {
    let (memory, queue) = (seeded(), Queue::default());
    let svc = service(&memory, &queue);
    let spec = |capacity| {
        let start = Timestamp::now() + SignedDuration::from_hours(5);
        vec![SlotSpec {
            exam_type: ExamType::parse("mri").unwrap(),
            start,
            end: start + SignedDuration::from_hours(1),
            capacity,
        }]
    };
    assert!(
        svc.publish_slots(&caller(Role::Hospital, CLIENT), HOSPITAL, spec(2))
            .await
            .is_ok()
    );
    assert_eq!(
        svc.publish_slots(&caller(Role::Hospital, "client-2"), HOSPITAL, spec(2))
            .await,
        Err(ExamsError::Forbidden(
            "a hospital publishes only its own slots"
        ))
    );
    assert!(matches!(
        svc.publish_slots(&caller(Role::Hospital, "nobody"), HOSPITAL, spec(2))
            .await,
        Err(ExamsError::Forbidden(_))
    ));
    assert!(matches!(
        svc.publish_slots(&caller(Role::Patient, "p"), HOSPITAL, spec(2))
            .await,
        Err(ExamsError::Forbidden(_))
    ));
    assert_eq!(
        svc.publish_slots(&caller(Role::Staff, "s"), "nope", spec(2))
            .await,
        Err(ExamsError::NotFound("Hospital"))
    );
}

#[tokio::test]
async fn booking_respects_capacity_roles_and_one_place_per_patient() {
    let (memory, queue) = (seeded(), Queue::default());
    let svc = service(&memory, &queue);
    let slot_id = slot(&svc, 2).await;
    let ana = caller(Role::Patient, "ana");
    assert!(matches!(
        svc.book(&caller(Role::Doctor, "d"), &id(&slot_id), "t")
            .await,
        Err(ExamsError::Forbidden(_))
    ));
    assert_eq!(
        svc.book(&ana, &id("missing"), "t").await,
        Err(ExamsError::NotFound("Slot"))
    );
    let exam = svc.book(&ana, &id(&slot_id), "t").await.unwrap();
    assert_eq!(exam.status, ExamStatus::Scheduled);
    assert_eq!(
        svc.book(&ana, &id(&slot_id), "t").await,
        Err(ExamsError::AlreadyBooked)
    );
    svc.book(&caller(Role::Patient, "bia"), &id(&slot_id), "t")
        .await
        .unwrap();
    assert_eq!(
        svc.book(&caller(Role::Patient, "caio"), &id(&slot_id), "t")
            .await,
        Err(ExamsError::SlotFull)
    );
    assert_eq!(memory.state().slots[&slot_id].booked, 2);
    assert_eq!(
        memory.event_types(),
        [EventType::ExamCreated, EventType::ExamCreated]
    );

    // Lowering the capacity below the bookings is refused with the count.
    let slot = memory.state().slots[&slot_id].clone();
    let lower = vec![SlotSpec {
        exam_type: ExamType::parse("blood-count").unwrap(),
        start: slot.start,
        end: slot.end,
        capacity: 1,
    }];
    assert_eq!(
        svc.publish_slots(&caller(Role::Staff, "s"), HOSPITAL, lower)
            .await,
        Err(ExamsError::CapacityBelowBooked {
            booked: 2,
            index: 0
        })
    );
}

#[tokio::test]
async fn cancelling_is_the_owners_before_the_exam_moves_on() {
    let (memory, queue) = (seeded(), Queue::default());
    let svc = service(&memory, &queue);
    let slot_id = slot(&svc, 1).await;
    let ana = caller(Role::Patient, "ana");
    let exam = svc.book(&ana, &id(&slot_id), "t").await.unwrap();
    assert!(matches!(
        svc.cancel(&caller(Role::Staff, "s"), &exam.id, "t").await,
        Err(ExamsError::Forbidden(_))
    ));
    assert_eq!(
        svc.cancel(&caller(Role::Patient, "bia"), &exam.id, "t")
            .await,
        Err(ExamsError::NotFound("Exam"))
    );
    svc.cancel(&ana, &exam.id, "t").await.unwrap();
    assert_eq!(memory.state().slots[&slot_id].booked, 0);
    assert_eq!(
        svc.cancel(&ana, &exam.id, "t").await,
        Err(ExamsError::InvalidTransition {
            current: ExamStatus::Cancelled
        })
    );
    // A pushed exam linked to the patient is no appointment of theirs to cancel.
    let mut pushed = exam.clone();
    pushed.id = "x1".into();
    pushed.slot_id = None;
    pushed.status = ExamStatus::Scheduled;
    pushed.origin = ExamOrigin::Integration;
    memory.state().exams.insert("x1".into(), pushed);
    assert_eq!(
        svc.cancel(&ana, "x1", "t").await,
        Err(ExamsError::NotAnAppointment)
    );
}

#[tokio::test]
async fn lifecycle_steps_check_role_then_ownership_then_state() {
    let (memory, queue) = (seeded(), Queue::default());
    let svc = service(&memory, &queue);
    let slot_id = slot(&svc, 1).await;
    let ana = caller(Role::Patient, "ana");
    let exam = svc.book(&ana, &id(&slot_id), "t").await.unwrap();
    let doctor = caller(Role::Doctor, "doc");
    let staff = caller(Role::Staff, "s");
    let hospital = caller(Role::Hospital, CLIENT);
    let other_hospital = caller(Role::Hospital, "client-2");

    assert!(matches!(
        svc.assign(&doctor, &exam.id, &id("doc"), "t").await,
        Err(ExamsError::Forbidden(_))
    ));
    assert_eq!(
        svc.assign(&other_hospital, &exam.id, &id("doc"), "t").await,
        Err(ExamsError::NotFound("Exam"))
    );
    svc.assign(&hospital, &exam.id, &id("doc"), "t")
        .await
        .unwrap();

    assert!(matches!(
        svc.advance(&ana, &exam.id, Action::Collect, "t").await,
        Err(ExamsError::Forbidden(_))
    ));
    assert!(matches!(
        svc.advance(&staff, &exam.id, Action::Complete, "t").await,
        Err(ExamsError::Forbidden(_))
    ));
    assert_eq!(
        svc.advance(
            &caller(Role::Doctor, "other"),
            &exam.id,
            Action::Collect,
            "t"
        )
        .await,
        Err(ExamsError::NotFound("Exam"))
    );
    assert_eq!(
        svc.advance(&doctor, &exam.id, Action::Complete, "t").await,
        Err(ExamsError::InvalidTransition {
            current: ExamStatus::Scheduled
        })
    );
    svc.advance(&staff, &exam.id, Action::Collect, "t")
        .await
        .unwrap();
    let done = svc
        .advance(&doctor, &exam.id, Action::Complete, "t")
        .await
        .unwrap();
    assert_eq!(done.status, ExamStatus::Completed);
    assert_eq!(
        svc.assign(&staff, &exam.id, &id("doc2"), "t").await,
        Err(ExamsError::InvalidTransition {
            current: ExamStatus::Completed
        })
    );
    assert_eq!(
        memory.event_types(),
        [
            EventType::ExamCreated,
            EventType::ExamUpdated,
            EventType::ExamUpdated,
            EventType::ExamCompleted
        ]
    );
    // Lists follow the same rules.
    let listed = |c: Caller| {
        let svc = &svc;
        async move {
            svc.list_exams(&c, None, 50, None)
                .await
                .unwrap()
                .items
                .len()
        }
    };
    assert_eq!(listed(ana.clone()).await, 1);
    assert_eq!(listed(caller(Role::Patient, "bia")).await, 0);
    assert_eq!(listed(doctor.clone()).await, 1);
    assert_eq!(listed(other_hospital.clone()).await, 0);
    assert_eq!(listed(staff.clone()).await, 1);
}

/// A hospital's item for the patient with this CPF, with the e-mail the hospital has on file.
fn item(external: &str, version: u64, cpf: &str) -> serde_json::Value {
    json!({"externalId": external, "version": version, "patientCpf": cpf, "examType": "mri",
           "status": "SCHEDULED", "scheduledAt": "2030-01-01T10:00:00Z",
           "patientEmail": ANA_EMAIL})
}

const ANA_EMAIL: &str = "ana@example.com";

/// The match key of a CPF with an address.
fn key(cpf: &str, email: &str) -> String {
    clinic_shared::values::patient_match_key(
        &clinic_shared::values::Cpf::parse(cpf).unwrap(),
        &clinic_shared::values::Email::parse(email).unwrap(),
    )
}

#[tokio::test]
async fn batches_reject_bad_items_and_what_the_queue_refused() {
    let memory = seeded();
    let queue = Queue {
        refuse: vec![2],
        ..Queue::default()
    };
    let svc = service(&memory, &queue);
    let hospital = caller(Role::Hospital, CLIENT);
    assert!(matches!(
        svc.submit_batch(
            &caller(Role::Staff, "s"),
            vec![item("a", 1, "52998224725")],
            "t"
        )
        .await,
        Err(ExamsError::Forbidden(_))
    ));
    assert!(matches!(
        svc.submit_batch(&hospital, vec![json!({}); 501], "t").await,
        Err(ExamsError::PayloadTooLarge(_))
    ));
    assert!(matches!(
        svc.submit_batch(&hospital, vec![], "t").await,
        Err(ExamsError::Validation(_))
    ));
    let receipt = svc
        .submit_batch(
            &hospital,
            vec![
                item("a", 1, "52998224725"),
                json!("bad"),
                item("c", 1, "52998224725"),
            ],
            "t",
        )
        .await
        .unwrap();
    assert_eq!((receipt.accepted, receipt.rejected), (1, 2));
    let batch = svc.get_batch(&hospital, &receipt.batch_id).await.unwrap();
    let states: Vec<_> = batch.items.iter().map(|i| i.state).collect();
    assert_eq!(
        states,
        [
            ItemState::Accepted,
            ItemState::Rejected,
            ItemState::Rejected
        ]
    );
    assert!(batch.items[2].reason.as_deref().unwrap().contains("queued"));
    assert_eq!(
        svc.get_batch(&caller(Role::Hospital, "client-2"), &receipt.batch_id)
            .await,
        Err(ExamsError::NotFound("Batch"))
    );

    let all_refused = Queue {
        refuse: vec![0],
        ..Queue::default()
    };
    let svc = service(&memory, &all_refused);
    assert!(matches!(
        svc.submit_batch(&hospital, vec![item("a", 1, "52998224725")], "t")
            .await,
        Err(ExamsError::Unavailable(_))
    ));
}

#[tokio::test]
async fn ingest_applies_higher_versions_once_and_links_known_patients() {
    let (memory, queue) = (seeded(), Queue::default());
    let svc = service(&memory, &queue);
    let hospital = caller(Role::Hospital, CLIENT);
    memory
        .state()
        .match_links
        .insert(key("52998224725", ANA_EMAIL), "ana".into());
    let batch = svc
        .submit_batch(
            &hospital,
            vec![
                item("a", 3, "52998224725"),
                item("a", 1, "52998224725"),
                item("a", 3, "52998224725"),
            ],
            "t",
        )
        .await
        .unwrap();
    let worker = IngestWorker::new(&memory);
    let sent = queue.sent.lock().unwrap().clone();
    let mut states = Vec::new();
    for cmd in &sent {
        states.push(worker.apply(cmd).await.unwrap());
    }
    assert_eq!(
        states,
        [ItemState::Applied, ItemState::Stale, ItemState::Stale]
    );
    // A redelivery of the applied item changes nothing.
    assert_eq!(worker.apply(&sent[0]).await.unwrap(), ItemState::Stale);
    let stored = svc.get_batch(&hospital, &batch.batch_id).await.unwrap();
    assert_eq!(stored.items[0].state, ItemState::Applied);
    let exam = memory.state().exams[&Exam::id_for_external(HOSPITAL, "a")].clone();
    assert_eq!(exam.version, Some(3));
    assert_eq!(exam.patient_id.as_deref(), Some("ana"));
    assert_eq!(memory.event_types(), [EventType::ExamCreated]);

    // An unknown hospital's item is rejected, not retried.
    let mut orphan = sent[0].clone();
    orphan.hospital_id = "gone".into();
    assert_eq!(worker.apply(&orphan).await.unwrap(), ItemState::Rejected);
}

fn pushed(memory: &Memory, external: &str, cpf: &str, status: ExamStatus) -> String {
    let cmd = IngestCommand {
        batch_id: "b".into(),
        hospital_id: HOSPITAL.into(),
        index: 0,
        item: parse_item(&item(external, 1, cpf)).unwrap(),
        trace: "t".into(),
    };
    let IngestDecision::Apply { mut exam, .. } =
        crate::domain::ingest::decide(None, &cmd, "Hospital h1", None, Timestamp::now())
    else {
        panic!("a new exam is written");
    };
    exam.status = status;
    memory
        .state()
        .exams
        .insert(exam.id.clone(), (*exam).clone());
    exam.id.clone()
}

use crate::domain::ingest::IngestDecision;

#[tokio::test]
async fn projections_link_erase_and_mark_results() {
    let memory = seeded();
    let projections = Projections::new(&memory);
    projections
        .hospital_registered(&HospitalRegistered {
            hospital_id: "h3".into(),
            name: "Novo".into(),
            cnes: "1".into(),
            client_id: "client-3".into(),
        })
        .await
        .unwrap();
    assert!(memory.state().hospitals.contains_key("h3"));
    assert!(matches!(
        projections
            .hospital_registered(&HospitalRegistered {
                hospital_id: "h#3".into(),
                name: "x".into(),
                cnes: "1".into(),
                client_id: "c".into(),
            })
            .await,
        Err(ExamsError::Validation(_))
    ));

    let waiting = pushed(&memory, "w", "52998224725", ExamStatus::Completed);
    let linked = projections
        .patient_registered(
            &PatientRegistered {
                account_id: "ana".into(),
                match_key: key("529.982.247-25", ANA_EMAIL),
            },
            "t",
        )
        .await
        .unwrap();
    assert_eq!(linked, 1);
    assert_eq!(
        memory.state().exams[&waiting].patient_id.as_deref(),
        Some("ana")
    );
    assert!(matches!(
        projections
            .patient_registered(
                &PatientRegistered {
                    account_id: "bia".into(),
                    match_key: "52998224724".into(),
                },
                "t",
            )
            .await,
        Err(ExamsError::Validation(_))
    ));

    let file = |exam: &str, kind| FileProcessed {
        file_id: "f1".into(),
        exam_id: exam.into(),
        kind,
        size: 1,
        sha256: String::new(),
    };
    assert!(
        projections
            .file_processed(&file(&waiting, FileKind::Result), "t")
            .await
            .unwrap()
    );
    assert_eq!(
        memory.state().exams[&waiting].status,
        ExamStatus::ResultReady
    );
    assert!(
        !projections
            .file_processed(&file(&waiting, FileKind::Result), "t")
            .await
            .unwrap()
    );
    assert!(
        !projections
            .file_processed(&file(&waiting, FileKind::Attachment), "t")
            .await
            .unwrap()
    );
    let scheduled = pushed(&memory, "s", "11144477735", ExamStatus::Scheduled);
    assert!(
        !projections
            .file_processed(&file(&scheduled, FileKind::Result), "t")
            .await
            .unwrap()
    );
    assert!(memory.state().skipped[0].2.starts_with("NOT_COMPLETED"));

    let erased = projections
        .account_deleted(
            &AccountDeleted {
                account_id: "ana".into(),
                role: Role::Patient,
            },
            "t",
        )
        .await
        .unwrap();
    assert_eq!(erased, 1);
    let exam = memory.state().exams[&waiting].clone();
    assert!(
        exam.patient_id.is_none() && exam.patient_cpf.is_none() && exam.anonymised_at.is_some()
    );
    assert_eq!(
        exam.status,
        ExamStatus::ResultReady,
        "the clinical record is kept"
    );
    assert!(memory.state().exams[&scheduled].patient_cpf.is_some());
    // A late registration of the erased account links nothing.
    let late = projections
        .patient_registered(
            &PatientRegistered {
                account_id: "ana".into(),
                match_key: key("52998224725", ANA_EMAIL),
            },
            "t",
        )
        .await
        .unwrap();
    assert_eq!(late, 0);
    // Other roles' erasures concern nothing here.
    assert_eq!(
        projections
            .account_deleted(
                &AccountDeleted {
                    account_id: "doc".into(),
                    role: Role::Doctor,
                },
                "t",
            )
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn a_typed_cpf_links_nothing_only_a_verified_address_or_the_receipt_code_does() {
    let memory = seeded();
    let projections = Projections::new(&memory);
    let victim_cpf = "52998224725";
    let with_email = pushed(&memory, "e1", victim_cpf, ExamStatus::Completed);
    let no_email = {
        let cmd = IngestCommand {
            batch_id: "b".into(),
            hospital_id: HOSPITAL.into(),
            index: 0,
            item: parse_item(
                &json!({"externalId": "n1", "version": 1, "patientCpf": victim_cpf,
                "examType": "mri", "status": "SCHEDULED", "scheduledAt": "2030-01-01T10:00:00Z"}),
            )
            .unwrap(),
            trace: "t".into(),
        };
        let IngestDecision::Apply { exam, .. } =
            crate::domain::ingest::decide(None, &cmd, "Hospital h1", None, Timestamp::now())
        else {
            panic!("a new exam is written");
        };
        memory
            .state()
            .exams
            .insert(exam.id.clone(), (*exam).clone());
        exam.id.clone()
    };

    // The attacker confirmed their own address and typed the victim's CPF.
    let linked = projections
        .patient_registered(
            &PatientRegistered {
                account_id: "eve".into(),
                match_key: key(victim_cpf, "eve@example.com"),
            },
            "t",
        )
        .await
        .unwrap();
    assert_eq!(linked, 0);
    let queue = Queue::default();
    let svc = service(&memory, &queue);
    let eve = caller(Role::Patient, "eve");
    let page = svc.list_exams(&eve, None, 50, None).await.unwrap();
    assert!(page.items.is_empty());
    assert_eq!(
        svc.get_exam(&eve, &with_email).await,
        Err(ExamsError::NotFound("Exam"))
    );

    // The victim verified the address the hospital has on file.
    let linked = projections
        .patient_registered(
            &PatientRegistered {
                account_id: "ana".into(),
                match_key: key(victim_cpf, ANA_EMAIL),
            },
            "t",
        )
        .await
        .unwrap();
    assert_eq!(linked, 1);
    assert_eq!(
        memory.state().exams[&with_email].patient_id.as_deref(),
        Some("ana")
    );
    // Without an address on file only the receipt's code links an exam.
    assert!(memory.state().exams[&no_email].patient_id.is_none());
}

/// Pushes one exam through the ingest worker and returns (exam id, the receipt's code).
async fn pushed_with_code(
    memory: &Memory,
    external: &str,
    email: Option<&str>,
) -> (String, String) {
    let queue = Queue::default();
    let svc = service(memory, &queue);
    let mut raw = item(external, 1, "11144477735");
    match email {
        Some(email) => raw["patientEmail"] = json!(email),
        None => {
            raw.as_object_mut().unwrap().remove("patientEmail");
        }
    }
    let receipt = svc
        .submit_batch(&caller(Role::Hospital, CLIENT), vec![raw], "t")
        .await
        .unwrap();
    let worker = IngestWorker::new(memory);
    let sent = queue.sent.lock().unwrap().clone();
    for cmd in sent {
        worker.apply(&cmd).await.unwrap();
    }
    let batch = svc
        .get_batch(&caller(Role::Hospital, CLIENT), &receipt.batch_id)
        .await
        .unwrap();
    let code = batch.items[0]
        .access_code
        .clone()
        .expect("a code is issued");
    (Exam::id_for_external(HOSPITAL, external), code)
}

#[tokio::test]
async fn the_receipt_code_claims_an_exam_once_for_one_patient() {
    let memory = seeded();
    let (exam_id, code) = pushed_with_code(&memory, "c1", None).await;
    let queue = Queue::default();
    let svc = service(&memory, &queue);
    let ana = caller(Role::Patient, "ana");
    let bia = caller(Role::Patient, "bia");
    let parsed = AccessCode::parse(&code.to_lowercase()).unwrap();

    let claimed = svc.claim(&ana, &parsed, "t").await.unwrap();
    assert_eq!(claimed.id, exam_id);
    assert_eq!(claimed.patient_id.as_deref(), Some("ana"));
    assert_eq!(
        memory.event_types().last(),
        Some(&EventType::ExamUpdated),
        "the link is announced"
    );
    // A retried claim answers as the first time; anyone else gets the one refusal.
    assert_eq!(svc.claim(&ana, &parsed, "t").await.unwrap().id, exam_id);
    assert_eq!(
        svc.claim(&bia, &parsed, "t").await,
        Err(ExamsError::AccessCodeInvalid)
    );
    assert_eq!(svc.get_exam(&ana, &exam_id).await.unwrap().id, exam_id);
    assert_eq!(
        svc.get_exam(&bia, &exam_id).await,
        Err(ExamsError::NotFound("Exam"))
    );
    // Only patients claim.
    assert!(matches!(
        svc.claim(&caller(Role::Doctor, "d"), &parsed, "t").await,
        Err(ExamsError::Forbidden(_))
    ));
    // Codes are issued only for exams nobody could be linked to by address.
    memory
        .state()
        .match_links
        .insert(key("11144477735", "cai@example.com"), "cai".into());
    let queue = Queue::default();
    let svc = service(&memory, &queue);
    let receipt = svc
        .submit_batch(
            &caller(Role::Hospital, CLIENT),
            vec![{
                let mut raw = item("c2", 1, "11144477735");
                raw["patientEmail"] = json!("cai@example.com");
                raw
            }],
            "t",
        )
        .await
        .unwrap();
    let sent = queue.sent.lock().unwrap().clone();
    for cmd in sent {
        IngestWorker::new(&memory).apply(&cmd).await.unwrap();
    }
    let batch = svc
        .get_batch(&caller(Role::Hospital, CLIENT), &receipt.batch_id)
        .await
        .unwrap();
    assert_eq!(batch.items[0].access_code, None);
    assert_eq!(
        memory.state().exams[&Exam::id_for_external(HOSPITAL, "c2")]
            .patient_id
            .as_deref(),
        Some("cai")
    );
}

#[tokio::test]
async fn guessing_codes_locks_the_code_and_then_the_account() {
    let memory = seeded();
    let (exam_id, code) = pushed_with_code(&memory, "g1", None).await;
    let queue = Queue::default();
    let svc = service(&memory, &queue);
    let eve = caller(Role::Patient, "eve");
    let right = AccessCode::parse(&code).unwrap();
    let wrong_secret = |i: usize| {
        let mut chars: Vec<char> = code.chars().filter(|c| *c != '-').collect();
        chars[15] = if chars[15] == '0' { '1' } else { '0' };
        chars[14] = "23456789".chars().nth(i % 8).unwrap();
        AccessCode::parse(&chars.into_iter().collect::<String>()).unwrap()
    };
    for i in 0..crate::domain::claim::MAX_FAILED_ATTEMPTS as usize {
        assert_eq!(
            svc.claim(&eve, &wrong_secret(i), "t").await,
            Err(ExamsError::AccessCodeInvalid)
        );
    }
    // The code is locked now, even for its holder.
    let ana = caller(Role::Patient, "ana");
    assert_eq!(
        svc.claim(&ana, &right, "t").await,
        Err(ExamsError::AccessCodeInvalid)
    );
    assert!(memory.state().exams[&exam_id].patient_id.is_none());
    // Unknown protocols count against the account until it has to wait.
    let unknown = AccessCode::parse("ZZZZ-ZZZZ-ZZZZ-ZZZZ").unwrap();
    let mut refused = 0;
    loop {
        match svc.claim(&eve, &unknown, "t").await {
            Err(ExamsError::AccessCodeInvalid) => refused += 1,
            Err(ExamsError::TooManyClaims { retry_after }) => {
                assert!((1..=3600).contains(&retry_after));
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(refused < 20, "never limited");
    }
    assert_eq!(
        refused + crate::domain::claim::MAX_FAILED_ATTEMPTS,
        crate::domain::claim::CLAIM_FAILURES_PER_HOUR
    );
}

#[tokio::test]
async fn an_erased_account_is_refused_by_every_write() {
    let memory = seeded();
    let queue = Queue::default();
    let svc = service(&memory, &queue);
    let id = slot(&svc, 3).await;
    memory.state().erased.push("gone".into());
    let gone = caller(Role::Patient, "gone");
    assert_eq!(
        svc.book(&gone, &Id::parse(&id).unwrap(), "t").await,
        Err(ExamsError::AccountErased)
    );
    assert_eq!(
        svc.claim(
            &gone,
            &AccessCode::parse("ZZZZ-ZZZZ-ZZZZ-ZZZZ").unwrap(),
            "t"
        )
        .await,
        Err(ExamsError::AccountErased)
    );
    memory.state().erased.push("staff-gone".into());
    assert!(matches!(
        svc.publish_slots(&caller(Role::Staff, "staff-gone"), HOSPITAL, vec![])
            .await,
        Err(ExamsError::AccountErased)
    ));
}
