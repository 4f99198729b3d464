//! Who sees which exam, and the lifecycle steps with their roles and conflicts.

use std::collections::HashMap;

use clinic_shared::envelope::{EventType, ExamCompleted, ExamUpdated};
use serde_json::{Value, json};

use crate::support::*;

fn list(claims: &HashMap<String, String>, query: &str) -> Value {
    with_query(event("exams-get.json", claims, None, &[]), query)
}

fn step(name: &str, claims: &HashMap<String, String>, exam_id: &str) -> Value {
    event(name, claims, None, &[("id", exam_id)])
}

fn assign(claims: &HashMap<String, String>, exam_id: &str, doctor: &str) -> Value {
    event(
        "exam-assign.json",
        claims,
        Some(json!({ "doctorId": doctor })),
        &[("id", exam_id)],
    )
}

#[tokio::test]
async fn each_role_sees_only_its_exams_newest_first() {
    let stack = Stack::new().await;
    let clara = stack.hospital("Hospital Santa Clara").await;
    let other = stack.hospital("Hospital Outro").await;
    let early = stack.slot(&clara, "blood-count", 24, 5).await;
    let late = stack.slot(&clara, "blood-count", 72, 5).await;
    let elsewhere = stack.slot(&other, "mri", 48, 5).await;
    let (ana, bia) = (patient_claims(), patient_claims());
    let ana_early = stack.booked(&ana, &early).await;
    let ana_late = stack.booked(&ana, &late).await;
    let ana_elsewhere = stack.booked(&ana, &elsewhere).await;
    let bia_early = stack.booked(&bia, &early).await;
    let doctor = doctor_claims();
    let assigned = stack
        .call(assign(&staff_claims(), &ana_late, &sub(&doctor)))
        .await;
    assert_eq!(assigned.status, 200, "{assigned:?}");

    let mine = stack.call(list(&ana, "")).await;
    assert_eq!(mine.status, 200, "{mine:?}");
    assert_eq!(
        ids(&mine),
        vec![ana_late.clone(), ana_elsewhere.clone(), ana_early.clone()],
        "newest scheduled first"
    );
    assert!(mine.body["items"][0].get("patientCpf").is_none());
    assert_eq!(
        ids(&stack.call(list(&bia, "")).await),
        vec![bia_early.clone()]
    );
    assert_eq!(
        ids(&stack.call(list(&doctor, "")).await),
        vec![ana_late.clone()]
    );
    assert!(ids(&stack.call(list(&doctor_claims(), "")).await).is_empty());
    let hospital_list = ids(&stack.call(list(&clara.claims, "")).await);
    assert_eq!(hospital_list.len(), 3);
    assert_eq!(hospital_list[0], ana_late);
    assert!(hospital_list.contains(&ana_early) && hospital_list.contains(&bia_early));
    assert_eq!(
        ids(&stack.call(list(&other.claims, "")).await),
        vec![ana_elsewhere.clone()]
    );
    assert_eq!(ids(&stack.call(list(&staff_claims(), "")).await).len(), 4);

    // Pages with a cursor.
    let first = stack.call(list(&ana, "limit=2")).await;
    assert_eq!(ids(&first), vec![ana_late.clone(), ana_elsewhere.clone()]);
    let cursor = first.body["nextCursor"].as_str().unwrap().to_string();
    let second = stack
        .call(list(&ana, &format!("limit=2&cursor={cursor}")))
        .await;
    assert_eq!(ids(&second), vec![ana_early.clone()]);
    assert!(second.body["nextCursor"].is_null());
    // A cursor of another list does not open someone else's.
    let foreign = stack
        .call(list(&bia, &format!("limit=2&cursor={cursor}")))
        .await;
    assert!(
        foreign.status == 400 || !ids(&foreign).contains(&ana_early),
        "{foreign:?}"
    );

    // Filters and bad input.
    let cancelled = stack
        .call(event(
            "appointments-delete.json",
            &ana,
            None,
            &[("examId", &ana_early)],
        ))
        .await;
    assert_eq!(cancelled.status, 204);
    assert_eq!(
        ids(&stack.call(list(&ana, "status=CANCELLED")).await),
        vec![ana_early.clone()]
    );
    for query in ["status=DONE", "limit=0", "cursor=xyz"] {
        assert_eq!(stack.call(list(&ana, query)).await.status, 400, "{query}");
    }
    let unregistered = stack
        .call(list(&hospital_claims("unknown-client"), ""))
        .await;
    assert_eq!(unregistered.status, 403);
    assert_eq!(stack.call(without_auth(list(&ana, ""))).await.status, 401);

    // One exam: own → 200, anyone else's → 404.
    for (claims, exam, status) in [
        (&ana, &ana_early, 200),
        (&bia, &ana_early, 404),
        (&doctor, &ana_late, 200),
        (&doctor, &ana_early, 404),
        (&clara.claims, &ana_early, 200),
        (&other.claims, &ana_early, 404),
        (&other.claims, &ana_elsewhere, 200),
    ] {
        let reply = stack.get_exam(claims, exam).await;
        assert_eq!(reply.status, status, "{reply:?}");
    }
    assert_eq!(
        stack.get_exam(&staff_claims(), &bia_early).await.status,
        200
    );
    assert_eq!(
        stack
            .get_exam(&ana, "01JNOSUCHEXAM0000000000000")
            .await
            .status,
        404
    );
    assert_eq!(stack.get_exam(&ana, "a%23b").await.status, 404);
}

#[tokio::test]
async fn the_lifecycle_moves_only_forward_and_only_for_the_right_roles() {
    let stack = Stack::new().await;
    let clara = stack.hospital("Hospital Santa Clara").await;
    let other = stack.hospital("Hospital Outro").await;
    let slot_id = stack.slot(&clara, "blood-count", 24, 5).await;
    let patient = patient_claims();
    let exam_id = stack.booked(&patient, &slot_id).await;
    stack.published(1).await;
    let doctor = doctor_claims();

    // Assigning: staff or the exam's hospital; the others may not.
    for claims in [patient.clone(), doctor.clone()] {
        assert_eq!(
            stack
                .call(assign(&claims, &exam_id, &sub(&doctor)))
                .await
                .status,
            403
        );
    }
    assert_eq!(
        stack
            .call(assign(&other.claims, &exam_id, &sub(&doctor)))
            .await
            .status,
        404
    );
    for bad in [json!({}), json!({"doctorId": "a b"})] {
        let reply = stack
            .call(event(
                "exam-assign.json",
                &staff_claims(),
                Some(bad),
                &[("id", &exam_id)],
            ))
            .await;
        assert_eq!(reply.status, 400);
        assert_eq!(field_names(&reply.body), ["doctorId"]);
    }
    let assigned = stack
        .call(assign(&clara.claims, &exam_id, &sub(&doctor)))
        .await;
    assert_eq!(assigned.status, 200, "{assigned:?}");
    assert_eq!(assigned.body["doctorId"], sub(&doctor).as_str());
    let events = stack.published(1).await;
    let updated: ExamUpdated = events[0].data_as().unwrap();
    assert_eq!(updated.doctor_id.as_deref(), Some(sub(&doctor).as_str()));
    let same = stack
        .call(assign(&staff_claims(), &exam_id, &sub(&doctor)))
        .await;
    assert_eq!(same.status, 200);
    stack.nothing_published().await;

    // Completing before collection is an illegal transition.
    let early = stack
        .call(step("exam-complete.json", &doctor, &exam_id))
        .await;
    assert_eq!(early.status, 409);
    assert_eq!(early.body["code"], "INVALID_TRANSITION");
    assert_eq!(early.body["currentStatus"], "SCHEDULED");

    // Collecting: staff, the hospital or the assigned doctor; not the patient.
    assert_eq!(
        stack
            .call(step("exam-collect.json", &patient, &exam_id))
            .await
            .status,
        403
    );
    assert_eq!(
        stack
            .call(step("exam-collect.json", &doctor_claims(), &exam_id))
            .await
            .status,
        404,
        "a doctor not assigned does not see the exam"
    );
    let collected = stack
        .call(step("exam-collect.json", &doctor, &exam_id))
        .await;
    assert_eq!(collected.status, 200, "{collected:?}");
    assert_eq!(collected.body["status"], "COLLECTED");
    let again = stack
        .call(step("exam-collect.json", &staff_claims(), &exam_id))
        .await;
    assert_eq!(again.status, 409);
    assert_eq!(again.body["currentStatus"], "COLLECTED");

    // Cancelling a collected exam is illegal too.
    let cancel = stack
        .call(event(
            "appointments-delete.json",
            &patient,
            None,
            &[("examId", &exam_id)],
        ))
        .await;
    assert_eq!(cancel.status, 409);
    assert_eq!(cancel.body["currentStatus"], "COLLECTED");

    // Completing: the assigned doctor or the hospital; not staff or the patient.
    for claims in [staff_claims(), patient.clone()] {
        assert_eq!(
            stack
                .call(step("exam-complete.json", &claims, &exam_id))
                .await
                .status,
            403
        );
    }
    assert_eq!(
        stack
            .call(step("exam-complete.json", &other.claims, &exam_id))
            .await
            .status,
        404
    );
    let completed = stack
        .call(step("exam-complete.json", &doctor, &exam_id))
        .await;
    assert_eq!(completed.status, 200, "{completed:?}");
    assert_eq!(completed.body["status"], "COMPLETED");
    let twice = stack
        .call(step("exam-complete.json", &clara.claims, &exam_id))
        .await;
    assert_eq!(twice.status, 409);
    assert_eq!(twice.body["currentStatus"], "COMPLETED");

    // Reassigning after completion is refused.
    let late = stack
        .call(assign(&staff_claims(), &exam_id, &sub(&doctor_claims())))
        .await;
    assert_eq!(late.status, 409);
    assert_eq!(late.body["currentStatus"], "COMPLETED");

    let events = stack.published(2).await;
    let types: Vec<_> = events.iter().map(|e| e.event_type).collect();
    assert_eq!(types.len(), 2, "{types:?}");
    assert!(types.contains(&EventType::ExamUpdated) && types.contains(&EventType::ExamCompleted));
    let done: ExamCompleted = events
        .iter()
        .find(|e| e.event_type == EventType::ExamCompleted)
        .unwrap()
        .data_as()
        .unwrap();
    assert_eq!(done.exam_id, exam_id);
    assert_eq!(done.doctor_id.as_deref(), Some(sub(&doctor).as_str()));
    assert_eq!(done.patient_id.as_deref(), Some(sub(&patient).as_str()));

    for name in ["exam-collect.json", "exam-complete.json"] {
        assert_eq!(
            stack
                .call(without_auth(step(name, &doctor, &exam_id)))
                .await
                .status,
            401
        );
        assert_eq!(
            stack
                .call(step(name, &clara.claims, "01JNOSUCHEXAM0000000000000"))
                .await
                .status,
            404
        );
    }
}

#[tokio::test]
async fn callers_verified_by_the_lambda_authorizer_are_recognised() {
    // Routes hospitals call sit behind the Lambda authorizer, which passes the verified claims
    // on as `authorizer.lambda` instead of `authorizer.jwt`.
    let stack = Stack::new().await;
    let clara = stack.hospital("Hospital Santa Clara").await;
    let mut e = event("exams-get.json", &clara.claims, None, &[]);
    e["requestContext"]["authorizer"] = json!({ "lambda": clara.claims });
    let reply = stack.call(e).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let patient = patient_claims();
    let mut e = event("exams-get.json", &patient, None, &[]);
    e["requestContext"]["authorizer"] = json!({ "lambda": patient });
    assert_eq!(stack.call(e).await.status, 200);
}
