//! The exam projection (newest event wins, an erased patient never linked again), hospital
//! clients, and LGPD erasure of an account and a patient's files.

use clinic_shared::envelope::{ExamStatus, Role};

use super::fakes::{Tombstone, is_erasure_of};
use super::*;
use crate::app::uploads::Processed;
use crate::domain::checks::sample_pdf;
use crate::domain::{AccessAction, Bucket, FilesError, Projection};

#[tokio::test]
async fn an_older_exam_event_never_overwrites_a_newer_one() {
    let world = World::new();
    let projection = world.projection();
    let t = start();
    let mut collected = view("exam-9", t, "01B");
    collected.status = ExamStatus::Collected;
    let mut cancelled = view("exam-9", t + SignedDuration::from_millis(5), "01C");
    cancelled.status = ExamStatus::Cancelled;

    assert_eq!(projection.apply_exam(&cancelled).await, Ok(true));
    assert_eq!(projection.apply_exam(&collected).await, Ok(false));
    // The same event again is already applied.
    assert_eq!(projection.apply_exam(&cancelled).await, Ok(false));
    let stored = world.memory.state().exams["exam-9"].clone();
    assert_eq!(stored, cancelled);

    // A cancelled exam stays closed to uploads whatever arrives late.
    assert!(matches!(
        world
            .files()
            .request_upload(&doctor(), &exam_id("exam-9"), pdf_upload(10))
            .await,
        Err(FilesError::Conflict {
            code: "EXAM_CANCELLED",
            ..
        })
    ));
}

#[tokio::test]
async fn events_of_the_same_instant_converge_whatever_their_order() {
    let t = start();
    let mut low = view("exam-9", t, "01A");
    low.status = ExamStatus::Collected;
    let mut high = view("exam-9", t, "01B");
    high.status = ExamStatus::Completed;

    for order in [[&low, &high], [&high, &low]] {
        let world = World::new();
        let projection = world.projection();
        for exam in order {
            projection.apply_exam(exam).await.unwrap();
        }
        assert_eq!(
            world.memory.state().exams["exam-9"].status,
            ExamStatus::Completed,
            "the higher event id wins"
        );
    }
}

#[tokio::test]
async fn an_erased_patient_is_never_linked_to_an_exam_again() {
    let world = World::new();
    let projection = world.projection();
    projection
        .erase_account(PATIENT, Role::Patient, "evt-erase")
        .await
        .unwrap();

    // A late update of a known exam, and an exam first heard of now.
    let mut late = view(EXAM, start(), "01Z");
    late.status = ExamStatus::Collected;
    assert_eq!(projection.apply_exam(&late).await, Ok(true));
    assert_eq!(
        projection
            .apply_exam(&view("exam-new", start(), "01Y"))
            .await,
        Ok(true)
    );

    {
        let state = world.memory.state();
        // Not even for a moment: no view naming the patient was written.
        assert_eq!(state.exams_written.len(), 2);
        assert!(
            state
                .exams_written
                .iter()
                .all(|e| e.patient_id.is_none() && e.patient_erased)
        );
        for id in [EXAM, "exam-new"] {
            let exam = &state.exams[id];
            assert_eq!(exam.patient_id, None, "{id}");
            assert!(exam.patient_erased, "{id}");
        }
        assert_eq!(
            state.exams[EXAM].status,
            ExamStatus::Collected,
            "the rest applies"
        );
    }
    assert!(
        (&world.memory)
            .exams_of_patient(PATIENT)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn an_exam_written_while_the_erasure_begins_is_unlinked() {
    let world = World::new();
    // The tombstone lands after the view was checked against it, before the view is written.
    world.memory.state().before_upsert = Some(Box::new(|state: &mut fakes::State| {
        state.tombstones.insert(
            PATIENT.into(),
            Tombstone {
                role: Role::Patient,
                erased_at: start(),
                files_erased: None,
                completed_at: None,
            },
        );
    }));
    assert_eq!(
        world
            .projection()
            .apply_exam(&view("exam-race", start(), "01R"))
            .await,
        Ok(true)
    );
    let exam = world.memory.state().exams["exam-race"].clone();
    assert_eq!(exam.patient_id, None);
    assert!(exam.patient_erased);
}

#[tokio::test]
async fn a_registered_hospital_client_uploads_for_its_hospital() {
    let world = World::new();
    let client = caller(Role::Hospital, "client-new");
    assert_eq!(
        world
            .files()
            .request_upload(&client, &exam_id(EXAM), pdf_upload(10))
            .await
            .err(),
        Some(FilesError::NotFound("Exam"))
    );
    world
        .projection()
        .register_hospital("client-new", HOSPITAL)
        .await
        .unwrap();
    assert!(
        world
            .files()
            .request_upload(&client, &exam_id(EXAM), pdf_upload(10))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn erasing_a_patient_removes_their_files_and_records_each_once() {
    let world = World::new();
    let mut second = view("exam-2", start(), "E1");
    second.status = ExamStatus::Completed;
    let mut strangers = view("exam-3", start(), "E1");
    strangers.patient_id = Some("patient-2".into());
    {
        let mut state = world.memory.state();
        state.exams.insert("exam-2".into(), second);
        state.exams.insert("exam-3".into(), strangers);
    }
    let pdf = sample_pdf("laudo");
    let (available, object) = world
        .upload(pdf.clone(), pdf.len(), "application/pdf")
        .await;
    assert_eq!(
        world.uploads().process(&object, TRACE).await,
        Ok(Processed::Available)
    );
    let pending = world.seed_file("exam-2", FileStatus::Pending);
    let kept = world.seed_file("exam-3", FileStatus::Available);
    world.storage.objects().results.insert(
        kept.result_key.clone().unwrap(),
        crate::domain::StoredObject {
            bytes: b"pdf".to_vec(),
            content_type: Some("application/pdf".into()),
        },
    );
    world
        .files()
        .download(
            &patient(),
            &crate::domain::values::FileId::parse(&available).unwrap(),
            "dl",
        )
        .await
        .unwrap();
    world.clock.advance(SignedDuration::from_hours(1));

    let projection = world.projection();
    assert_eq!(
        projection
            .erase_account(PATIENT, Role::Patient, "evt-erase")
            .await,
        Ok(2)
    );

    // Every version of the patient's objects is gone; the other patient's stay.
    {
        let objects = world.storage.objects();
        assert!(!objects.results.contains_key(&format!("files/{available}")));
        assert!(
            objects
                .results
                .contains_key(&format!("files/{}", kept.file_id))
        );
        for key in [format!("incoming/{available}"), pending.upload_key.clone()] {
            assert!(objects.erased.contains(&(Bucket::Uploads, key)));
        }
        assert!(
            objects
                .erased
                .contains(&(Bucket::Results, format!("files/{available}")))
        );
        assert_eq!(objects.erased.len(), 3);
    }

    {
        let state = world.memory.state();
        for file_id in [&available, &pending.file_id] {
            let file = &state.files[file_id.as_str()];
            assert_eq!(file.status, FileStatus::Erased);
            assert_eq!(
                (&file.file_name, &file.sha256, &file.result_key),
                (&None, &None, &None)
            );
        }
        assert_eq!(state.files[&kept.file_id].status, FileStatus::Available);
        let entries: Vec<_> = state.erased_files.values().cloned().collect();
        assert_eq!(entries.len(), 2);
        for entry in &entries {
            assert_eq!(entry.action, AccessAction::Erased);
            assert_eq!(
                (entry.actor_id.as_str(), entry.request_id.as_str()),
                ("system", "evt-erase")
            );
            assert_eq!(entry.at, start() + SignedDuration::from_hours(1));
        }
        assert!(
            entries
                .iter()
                .any(|e| is_erasure_of(e, &available) && e.exam_id == EXAM)
        );
        assert!(
            entries
                .iter()
                .any(|e| is_erasure_of(e, &pending.file_id) && e.exam_id == "exam-2")
        );
        for id in [EXAM, "exam-2"] {
            assert_eq!(state.exams[id].patient_id, None);
            assert!(state.exams[id].patient_erased);
        }
        assert_eq!(
            state.exams["exam-3"].patient_id.as_deref(),
            Some("patient-2")
        );
        let tombstone = state.tombstones[PATIENT].clone();
        assert_eq!(tombstone.role, Role::Patient);
        assert_eq!(tombstone.files_erased, Some(2));
    }

    // Staff read the erasure on the exam's access log, after its download grant.
    let log = world
        .files()
        .access_log(&staff(), &exam_id(EXAM), 50, None)
        .await
        .unwrap();
    let actions: Vec<_> = log.items.iter().map(|e| e.action).collect();
    assert_eq!(
        actions,
        [AccessAction::DownloadGranted, AccessAction::Erased]
    );

    // Erasing again finishes nothing twice and keeps the first time.
    world.clock.advance(SignedDuration::from_hours(1));
    assert_eq!(
        projection
            .erase_account(PATIENT, Role::Patient, "evt-again")
            .await,
        Ok(0)
    );
    let state = world.memory.state();
    assert_eq!(state.erased_files.len(), 2);
    assert_eq!(
        state.tombstones[PATIENT].erased_at,
        start() + SignedDuration::from_hours(1)
    );
}

#[tokio::test]
async fn an_interrupted_erasure_is_finished_by_the_next_run() {
    let world = World::new();
    // A run that died before unlinking the exam had erased this one already.
    let done = world.seed_file(EXAM, FileStatus::Erased);
    let first = world.seed_file(EXAM, FileStatus::Available);
    let second = world.seed_file(EXAM, FileStatus::Available);
    world.storage.set_down("erase", true);
    let projection = world.projection();
    assert!(matches!(
        projection
            .erase_account(PATIENT, Role::Patient, "evt")
            .await,
        Err(FilesError::Unavailable(_))
    ));
    // The tombstone is written first: the account is refused from then on.
    assert_eq!(
        world.files().ensure_active(&patient()).await,
        Err(FilesError::AccountErased)
    );
    assert_eq!(world.memory.state().tombstones[PATIENT].files_erased, None);
    assert_eq!(
        world.memory.state().exams[EXAM].patient_id.as_deref(),
        Some(PATIENT)
    );

    world.storage.set_down("erase", false);
    assert_eq!(
        projection
            .erase_account(PATIENT, Role::Patient, "evt")
            .await,
        Ok(2)
    );
    let state = world.memory.state();
    for file in [&first, &second] {
        assert_eq!(state.files[&file.file_id].status, FileStatus::Erased);
    }
    assert_eq!(state.tombstones[PATIENT].files_erased, Some(2));
    assert_eq!(state.exams[EXAM].patient_id, None);
    assert_eq!(state.erased_files.len(), 2);
    drop(state);
    let erased = world.storage.objects().erased.clone();
    assert_eq!(erased.len(), 4, "{erased:?}");
    assert!(erased.iter().all(|(_, key)| !key.contains(&done.file_id)));
}

#[tokio::test]
async fn erasing_a_doctor_or_staff_member_keeps_the_files_they_uploaded() {
    let world = World::new();
    let file = world.seed_file(EXAM, FileStatus::Available);
    let projection = world.projection();
    assert_eq!(
        projection
            .erase_account(DOCTOR, Role::Doctor, "evt-doctor")
            .await,
        Ok(0)
    );
    assert_eq!(
        projection
            .erase_account(STAFF, Role::Staff, "evt-staff")
            .await,
        Ok(0)
    );
    {
        let state = world.memory.state();
        assert_eq!(state.files[&file.file_id].status, FileStatus::Available);
        assert!(state.erased_files.is_empty());
        assert_eq!(state.exams[EXAM].patient_id.as_deref(), Some(PATIENT));
        assert_eq!(state.tombstones[DOCTOR].role, Role::Doctor);
        assert_eq!(state.tombstones[STAFF].files_erased, Some(0));
    }
    assert!(world.storage.objects().erased.is_empty());
}

#[tokio::test]
async fn an_upload_landing_after_the_erasure_is_not_kept() {
    let world = World::new();
    let ticket = world
        .files()
        .request_upload(&doctor(), &exam_id(EXAM), pdf_upload(5))
        .await
        .unwrap();
    world
        .projection()
        .erase_account(PATIENT, Role::Patient, "evt")
        .await
        .unwrap();
    let key = crate::app::upload_key(&ticket.file_id);
    world
        .storage
        .put_upload(&key, b"%PDF-".to_vec(), "application/pdf");
    world
        .uploads()
        .process(
            &UploadedObject {
                key: key.clone(),
                size: Some(5),
            },
            TRACE,
        )
        .await
        .unwrap();
    assert!(!world.storage.objects().uploads.contains_key(&key));
}
