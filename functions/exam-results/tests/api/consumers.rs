//! The events consumer (`hospital.registered`, `patient.registered`, `account.deleted`,
//! `file.processed`) and the outbox relay, through their sample events.

use std::time::Duration;

use clinic_shared::envelope::{
    EventType, ExamResultReady, FileKind, FileProcessed, HospitalRegistered, PatientRegistered,
};
use serde_json::json;

use crate::support::*;

/// A completed exam of a hospital (booked, assigned, collected, completed); returns its id and
/// the assigned doctor's claims.
async fn completed_exam(
    stack: &Stack,
    hospital: &HospitalFixture,
    patient: &std::collections::HashMap<String, String>,
) -> (String, std::collections::HashMap<String, String>) {
    let slot = stack.slot(hospital, "blood-count", 24, 5).await;
    let exam = stack.booked(patient, &slot).await;
    let doctor = doctor_claims();
    let assign = stack
        .call(event(
            "exam-assign.json",
            &staff_claims(),
            Some(json!({"doctorId": sub(&doctor)})),
            &[("id", &exam)],
        ))
        .await;
    assert_eq!(assign.status, 200);
    for name in ["exam-collect.json", "exam-complete.json"] {
        let reply = stack
            .call(event(name, &doctor, None, &[("id", &exam)]))
            .await;
        assert_eq!(reply.status, 200, "{name}: {reply:?}");
    }
    (exam, doctor)
}

#[tokio::test]
async fn a_processed_result_file_makes_the_result_ready_once() {
    let stack = Stack::new().await;
    let clara = stack.hospital("Hospital Santa Clara").await;
    let patient = patient_claims();
    let (exam, doctor) = completed_exam(&stack, &clara, &patient).await;
    stack.published(4).await;

    let file = ulid::Ulid::new().to_string();
    let response = stack.file_processed(&exam, &file, FileKind::Result).await;
    assert!(response.batch_item_failures.is_empty());
    let reply = stack.get_exam(&patient, &exam).await;
    assert_eq!(reply.body["status"], "RESULT_READY");
    assert_eq!(reply.body["resultFileId"], file.as_str());
    let events = stack.published(1).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type, EventType::ExamResultReady);
    let ready: ExamResultReady = events[0].data_as().unwrap();
    assert_eq!(ready.file_id, file);
    assert_eq!(ready.patient_id.as_deref(), Some(sub(&patient).as_str()));
    assert_eq!(ready.doctor_id.as_deref(), Some(sub(&doctor).as_str()));

    // The same file again (another event) changes nothing; an attachment is ignored. Both are
    // handled (not failed, not retried): the silence afterwards means "nothing to do".
    let again = stack.file_processed(&exam, &file, FileKind::Result).await;
    assert!(again.batch_item_failures.is_empty(), "{again:?}");
    let attachment = stack
        .file_processed(&exam, &ulid::Ulid::new().to_string(), FileKind::Attachment)
        .await;
    assert!(attachment.batch_item_failures.is_empty(), "{attachment:?}");
    stack.nothing_published().await;
    // The exact same event delivered twice is handled once (dedup on the envelope id).
    let event = envelope(
        &exam,
        FileProcessed {
            file_id: ulid::Ulid::new().to_string(),
            exam_id: exam.clone(),
            kind: FileKind::Result,
            size: 1,
            sha256: "ab".repeat(32),
        },
    );
    stack
        .deliver("events-file-processed.json", &[event.clone(), event])
        .await;
    assert_eq!(
        stack.published(2).await.len(),
        1,
        "a newer result file is announced once"
    );
}

#[tokio::test]
async fn a_result_file_for_an_exam_not_completed_is_recorded_and_skipped() {
    let stack = Stack::new().await;
    let clara = stack.hospital("Hospital Santa Clara").await;
    let slot = stack.slot(&clara, "blood-count", 24, 5).await;
    let patient = patient_claims();
    let exam = stack.booked(&patient, &slot).await;
    stack.published(1).await;

    let file = ulid::Ulid::new().to_string();
    let response = stack.file_processed(&exam, &file, FileKind::Result).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(
        stack.get_exam(&patient, &exam).await.body["status"],
        "SCHEDULED"
    );
    let skipped = stack
        .item(&format!("EXAM#{exam}"), &format!("FILE#{file}"))
        .await
        .expect("skip recorded");
    assert!(
        skipped["reason"]
            .as_s()
            .unwrap()
            .starts_with("NOT_COMPLETED")
    );
    let unknown = ulid::Ulid::new().to_string();
    stack
        .file_processed(&unknown, &file, FileKind::Result)
        .await;
    assert!(
        stack
            .item(&format!("EXAM#{unknown}"), &format!("FILE#{file}"))
            .await
            .is_some()
    );
    stack.nothing_published().await;
}

#[tokio::test]
async fn an_erased_patient_keeps_clinical_records_without_personal_links() {
    let stack = Stack::new().await;
    let clara = stack.hospital("Hospital Santa Clara").await;
    let account = uuid_like();
    let mut patient = patient_claims();
    patient.insert("sub".into(), account.clone());
    patient.insert("username".into(), account.clone());
    let cpf = random_cpf();
    stack.patient_registered(&account, &cpf).await;
    let (done, _) = completed_exam(&stack, &clara, &patient).await;
    let upcoming_slot = stack.slot(&clara, "mri", 48, 2).await;
    let upcoming = stack.booked(&patient, &upcoming_slot).await;
    let other_cpf = random_cpf();
    stack
        .send_batch(
            &clara,
            json!([
                item("LAB-1", 1, &cpf, "COMPLETED"),
                item("LAB-2", 1, &other_cpf, "SCHEDULED")
            ]),
        )
        .await;
    stack.run_ingest().await;
    stack.published(10).await;
    assert_eq!(stack.booked_count(&upcoming_slot).await, 1);

    let response = stack.account_deleted(&account).await;
    assert!(response.batch_item_failures.is_empty());

    for exam in [&done, &upcoming, &pushed_exam_id(&clara, "LAB-1")] {
        let stored = stack.item(&format!("EXAM#{exam}"), "EXAM").await.unwrap();
        assert!(!stored.contains_key("patientId"), "{exam}");
        assert!(!stored.contains_key("patientCpf"), "{exam}");
        assert!(!stored.contains_key("gsi1pk"), "{exam}");
        assert!(!stored.contains_key("pendingMatch"), "{exam}");
        assert!(!stored.contains_key("patientMatch"), "{exam}");
        assert!(stored.contains_key("anonymisedAt"), "{exam}");
        let kept = stack.get_exam(&staff_claims(), exam).await;
        assert_eq!(kept.status, 200, "the clinical record is kept");
        assert_eq!(kept.body["anonymised"], true);
    }
    assert_eq!(
        stack.get_exam(&staff_claims(), &done).await.body["status"],
        "COMPLETED"
    );
    assert_eq!(
        stack.get_exam(&staff_claims(), &upcoming).await.body["status"],
        "CANCELLED"
    );
    assert_eq!(
        stack.booked_count(&upcoming_slot).await,
        0,
        "the place is freed"
    );
    let other = stack
        .item(&format!("EXAM#{}", pushed_exam_id(&clara, "LAB-2")), "EXAM")
        .await
        .unwrap();
    assert!(
        other.contains_key("patientCpf"),
        "another person's exam is untouched"
    );
    assert!(
        ids(&stack
            .call(event("exams-get.json", &patient, None, &[]))
            .await)
        .is_empty()
    );
    assert!(
        stack
            .item(&format!("MATCH#{}", match_key(&cpf)), "ACCOUNT")
            .await
            .is_none()
    );
    let erasure = stack
        .item(&format!("ACCOUNT#{account}"), "ERASURE")
        .await
        .expect("erasure recorded");
    assert_eq!(erasure["examsAnonymised"].as_n().unwrap(), "3");
    let events = stack.published(1).await;
    assert_eq!(
        events.len(),
        1,
        "only the cancelled appointment is announced"
    );
    assert_eq!(events[0].subject, upcoming);

    // A later push with the erased CPF is not linked to the erased account, and a late
    // registration event for the erased account links nothing.
    stack
        .send_batch(&clara, json!([item("LAB-9", 1, &cpf, "SCHEDULED")]))
        .await;
    stack.run_ingest().await;
    let late = stack
        .get_exam(&clara.claims, &pushed_exam_id(&clara, "LAB-9"))
        .await;
    assert_eq!(late.body["patientId"], serde_json::Value::Null);
    let registered = stack.patient_registered(&account, &cpf).await;
    assert!(registered.batch_item_failures.is_empty(), "{registered:?}");
    let late = stack
        .get_exam(&clara.claims, &pushed_exam_id(&clara, "LAB-9"))
        .await;
    assert_eq!(late.body["patientId"], serde_json::Value::Null);
    // Erasing again is harmless.
    assert!(
        stack
            .account_deleted(&account)
            .await
            .batch_item_failures
            .is_empty()
    );
}

#[tokio::test]
async fn hospital_registration_is_idempotent_and_maps_the_machine_client() {
    let stack = Stack::new().await;
    let clara = stack.hospital("Hospital Santa Clara").await;
    stack.slot(&clara, "blood-count", 24, 1).await;
    let renamed = envelope(
        &clara.id,
        HospitalRegistered {
            hospital_id: clara.id.clone(),
            name: "Hospital Santa Clara Matriz".into(),
            cnes: "2077485".into(),
            client_id: clara.client_id.clone(),
        },
    );
    stack
        .deliver("events-hospital-registered.json", &[renamed])
        .await;
    let list = stack
        .call(event("hospitals-get.json", &patient_claims(), None, &[]))
        .await;
    assert_eq!(list.body["items"][0]["name"], "Hospital Santa Clara Matriz");
    assert_eq!(
        list.body["items"][0]["examTypes"],
        json!(["blood-count"]),
        "kept"
    );
    let mine = stack
        .call(event("exams-get.json", &clara.claims, None, &[]))
        .await;
    assert_eq!(mine.status, 200, "the client maps to the hospital");
}

#[tokio::test]
async fn unusable_events_are_parked_with_their_reason() {
    let stack = Stack::new().await;
    let bad_cpf = envelope(
        "p-1",
        PatientRegistered {
            account_id: "p-1".into(),
            match_key: "52998224724".into(),
        },
    );
    let mut future = envelope(
        "p-2",
        PatientRegistered {
            account_id: "p-2".into(),
            match_key: match_key(&random_cpf()),
        },
    );
    future.version = 2;
    let response = stack
        .deliver("events-patient-registered.json", &[bad_cpf, future])
        .await;
    assert!(
        response.batch_item_failures.is_empty(),
        "parked, not retried"
    );
    let mut reasons = Vec::new();
    for _ in 0..5 {
        reasons.extend(stack.parked(&stack.events_dlq_url).await);
        if reasons.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    reasons.sort();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("matchKey: matchKey must be 64 lower-case hex digits.")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("version 2")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().all(|r| !r.contains("52998224724")),
        "no CPF in reasons"
    );
}

#[tokio::test]
async fn the_ingest_sample_and_unreadable_ingest_messages() {
    let stack = Stack::new().await;
    // The committed sample names a hospital this stack does not know: its item is rejected.
    let mut sample_event: aws_lambda_events::event::sqs::SqsEvent =
        serde_json::from_value(sample("ingest-item.json")).unwrap();
    let response = stack.ingest.process(sample_event.clone()).await;
    assert!(response.batch_item_failures.is_empty());
    sample_event.records[0].body = Some("{not json".into());
    let response = stack.ingest.process(sample_event).await;
    assert!(
        response.batch_item_failures.is_empty(),
        "parked, not retried"
    );
    let parked = stack.parked(&stack.ingest_dlq_url).await;
    assert_eq!(parked.len(), 1);
    assert!(parked[0].starts_with("not an ingest message"), "{parked:?}");
}

#[tokio::test]
async fn the_outbox_samples_are_relayed() {
    let stack = Stack::new().await;
    let relay = clinic_shared::outbox::OutboxRelay::new(
        clinic_shared::outbox::SnsPublisher::new(stack.sns.clone(), stack.topic_arn.clone()),
        clinic_shared::outbox::DynamoOutbox::new(
            stack.dynamodb.clone(),
            stack.config.table_name.clone(),
        ),
        jiff::SignedDuration::ZERO,
    );
    let response = relay.handle(sample("outbox-stream.json")).await.unwrap();
    assert_eq!(response["batchItemFailures"], json!([]));
    let events = stack.probe.receive(1, Duration::from_secs(5)).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type, EventType::ExamCreated);
    let schedule = relay.handle(sample("outbox-schedule.json")).await.unwrap();
    assert_eq!(schedule["failed"], 0);
}
