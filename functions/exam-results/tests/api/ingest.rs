//! Hospital integration: batches accepted at once, applied through the ingest queue, a higher
//! version wins, replays and older versions change nothing, a hospital touches only its own.

use clinic_shared::envelope::{EventType, ExamCreated, ExamUpdated};
use serde_json::{Value, json};

use crate::support::*;

fn states(reply: &Reply) -> Vec<String> {
    reply.body["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|i| i["state"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_batch_is_accepted_at_once_and_applied_from_the_queue() {
    let stack = Stack::new().await;
    let clara = stack.hospital("Hospital Santa Clara").await;
    let (known_cpf, unknown_cpf) = (random_cpf(), random_cpf());
    let patient = uuid_like();
    stack.patient_registered(&patient, &known_cpf).await;
    let items = json!([
        item("LAB-1", 2, &known_cpf, "COLLECTED"),
        item("LAB-2", 1, &unknown_cpf, "SCHEDULED"),
    ]);

    let reply = stack
        .post_batch(&clara.claims, json!({ "items": items }))
        .await;
    assert_eq!(reply.status, 202, "{reply:?}");
    assert_eq!(reply.body["accepted"], 2);
    assert_eq!(reply.body["rejected"], 0);
    let batch_id = reply.body["batchId"].as_str().unwrap().to_string();
    assert_eq!(
        reply.headers["location"],
        format!("/v1/integrations/batches/{batch_id}").as_str()
    );

    let pending = stack.batch(&clara, &batch_id).await;
    assert_eq!(pending.status, 200, "{pending:?}");
    assert_eq!(pending.body["status"], "PROCESSING");
    assert_eq!(states(&pending), ["ACCEPTED", "ACCEPTED"]);
    assert_eq!(pending.body["items"][0]["externalId"], "LAB-1");
    assert_eq!(pending.body["items"][0]["version"], 2);

    assert_eq!(stack.run_ingest().await, 2);
    let done = stack.batch(&clara, &batch_id).await;
    assert_eq!(done.body["status"], "COMPLETED");
    assert_eq!(states(&done), ["APPLIED", "APPLIED"]);

    // Linked now (the patient's account was known) or waiting for the account.
    let linked = stack
        .get_exam(&clara.claims, &pushed_exam_id(&clara, "LAB-1"))
        .await;
    assert_eq!(linked.status, 200, "{linked:?}");
    assert_eq!(linked.body["patientId"], patient.as_str());
    assert_eq!(linked.body["status"], "COLLECTED");
    assert_eq!(linked.body["externalId"], "LAB-1");
    assert_eq!(linked.body["version"], 2);
    assert_eq!(linked.body["origin"], "INTEGRATION");
    assert_eq!(linked.body["doctorCrm"], "123456/SP");
    assert!(linked.body.get("patientCpf").is_none());
    let waiting = stack
        .get_exam(&clara.claims, &pushed_exam_id(&clara, "LAB-2"))
        .await;
    assert_eq!(waiting.body["patientId"], Value::Null);
    assert_eq!(waiting.body["awaitingPatient"], true);
    let mine = stack
        .call(event(
            "exams-get.json",
            &patient_with_sub(&patient),
            None,
            &[],
        ))
        .await;
    assert_eq!(ids(&mine), vec![pushed_exam_id(&clara, "LAB-1")]);

    let events = stack.published(2).await;
    assert_eq!(events.len(), 2);
    assert!(
        events
            .iter()
            .all(|e| e.event_type == EventType::ExamCreated)
    );
    assert!(
        events
            .iter()
            .all(|e| !e.to_json().contains(&known_cpf) && !e.to_json().contains(&unknown_cpf)),
        "no CPF in events"
    );
    let created: ExamCreated = events
        .iter()
        .find(|e| e.subject == pushed_exam_id(&clara, "LAB-1"))
        .unwrap()
        .data_as()
        .unwrap();
    assert_eq!(created.hospital_name, "Hospital Santa Clara");
    assert_eq!(created.patient_id.as_deref(), Some(patient.as_str()));
}

fn patient_with_sub(id: &str) -> std::collections::HashMap<String, String> {
    let mut claims = patient_claims();
    claims.insert("sub".into(), id.to_string());
    claims.insert("username".into(), id.to_string());
    claims
}

#[tokio::test]
async fn the_same_batch_twice_changes_nothing_the_second_time() {
    let stack = Stack::new().await;
    let clara = stack.hospital("Hospital Santa Clara").await;
    let items = json!([
        item("LAB-1", 1, &random_cpf(), "SCHEDULED"),
        item("LAB-2", 4, &random_cpf(), "COMPLETED"),
    ]);
    let first = stack.send_batch(&clara, items.clone()).await;
    stack.run_ingest().await;
    assert_eq!(
        states(&stack.batch(&clara, &first).await),
        ["APPLIED", "APPLIED"]
    );
    assert_eq!(stack.published(2).await.len(), 2);
    let before = stack
        .item(&format!("EXAM#{}", pushed_exam_id(&clara, "LAB-2")), "EXAM")
        .await
        .unwrap();

    let second = stack.send_batch(&clara, items).await;
    stack.run_ingest().await;
    let replay = stack.batch(&clara, &second).await;
    assert_eq!(states(&replay), ["STALE", "STALE"]);
    assert_eq!(replay.body["status"], "COMPLETED");
    let after = stack
        .item(&format!("EXAM#{}", pushed_exam_id(&clara, "LAB-2")), "EXAM")
        .await
        .unwrap();
    assert_eq!(before, after, "the stored exam did not change at all");
    stack.nothing_published().await;
}

#[tokio::test]
async fn versions_three_one_two_leave_version_three() {
    let stack = Stack::new().await;
    let clara = stack.hospital("Hospital Santa Clara").await;
    let cpf = random_cpf();
    let mut outcomes = Vec::new();
    for (version, status) in [(3, "COMPLETED"), (1, "SCHEDULED"), (2, "COLLECTED")] {
        let batch = stack
            .send_batch(&clara, json!([item("LAB-7", version, &cpf, status)]))
            .await;
        stack.run_ingest().await;
        outcomes.extend(states(&stack.batch(&clara, &batch).await));
    }
    assert_eq!(outcomes, ["APPLIED", "STALE", "STALE"]);
    let exam = stack
        .get_exam(&clara.claims, &pushed_exam_id(&clara, "LAB-7"))
        .await;
    assert_eq!(exam.body["version"], 3);
    assert_eq!(exam.body["status"], "COMPLETED");

    // The same three in one batch, applied concurrently: still version 3.
    let batch = stack
        .send_batch(
            &clara,
            json!([
                item("LAB-8", 3, &cpf, "COMPLETED"),
                item("LAB-8", 1, &cpf, "SCHEDULED"),
                item("LAB-8", 2, &cpf, "COLLECTED"),
            ]),
        )
        .await;
    // Until every item is final: an item that lost a race is retried by the queue.
    for _ in 0..10 {
        stack.run_ingest().await;
        if !states(&stack.batch(&clara, &batch).await).contains(&"ACCEPTED".to_string()) {
            break;
        }
    }
    let exam = stack
        .get_exam(&clara.claims, &pushed_exam_id(&clara, "LAB-8"))
        .await;
    assert_eq!(exam.body["version"], 3);
    assert_eq!(exam.body["status"], "COMPLETED");
    let mut seen = states(&stack.batch(&clara, &batch).await);
    seen.sort();
    assert!(
        seen.iter().all(|s| s == "APPLIED" || s == "STALE") && seen.contains(&"APPLIED".into()),
        "{seen:?}"
    );

    // A higher version later still wins, announcing the change.
    stack.published(10).await;
    let batch = stack
        .send_batch(&clara, json!([item("LAB-7", 4, &cpf, "CANCELLED")]))
        .await;
    stack.run_ingest().await;
    assert_eq!(states(&stack.batch(&clara, &batch).await), ["APPLIED"]);
    let events = stack.published(1).await;
    let updated: ExamUpdated = events[0].data_as().unwrap();
    assert_eq!(
        updated.status,
        clinic_shared::envelope::ExamStatus::Cancelled
    );
    assert_eq!(
        updated.previous_status,
        clinic_shared::envelope::ExamStatus::Completed
    );
}

#[tokio::test]
async fn a_malformed_item_is_rejected_while_the_rest_applies() {
    let stack = Stack::new().await;
    let clara = stack.hospital("Hospital Santa Clara").await;
    let mut bad_cpf = item("LAB-2", 1, "52998224724", "SCHEDULED");
    bad_cpf["status"] = json!("DONE");
    let batch = stack
        .send_batch(
            &clara,
            json!([
                item("LAB-1", 1, &random_cpf(), "SCHEDULED"),
                bad_cpf,
                "not an object",
                {"externalId": "LAB-4", "version": 0},
                item("LAB-5", 1, &random_cpf(), "RESULT_READY"),
            ]),
        )
        .await;
    let accepted = stack.batch(&clara, &batch).await;
    assert_eq!(
        states(&accepted),
        ["ACCEPTED", "REJECTED", "REJECTED", "REJECTED", "REJECTED"]
    );
    stack.run_ingest().await;
    let done = stack.batch(&clara, &batch).await;
    assert_eq!(
        states(&done),
        ["APPLIED", "REJECTED", "REJECTED", "REJECTED", "REJECTED"]
    );
    let items = &done.body["items"];
    let reason = items[1]["reason"].as_str().unwrap();
    assert!(
        reason.contains("patientCpf: CPF check digits are invalid."),
        "{reason}"
    );
    assert!(reason.contains("status:"), "{reason}");
    assert!(!reason.contains("52998224724"), "no CPF in reasons");
    assert_eq!(items[1]["externalId"], "LAB-2");
    assert_eq!(items[2]["reason"], "item must be a JSON object.");
    assert!(items[3]["reason"].as_str().unwrap().contains("version:"));
    assert!(
        items[4]["reason"]
            .as_str()
            .unwrap()
            .contains("RESULT_READY")
    );
    assert_eq!(
        stack
            .get_exam(&clara.claims, &pushed_exam_id(&clara, "LAB-2"))
            .await
            .status,
        404
    );
    assert_eq!(
        stack
            .get_exam(&clara.claims, &pushed_exam_id(&clara, "LAB-1"))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn a_hospital_touches_only_its_own_exams_and_batches() {
    let stack = Stack::new().await;
    let clara = stack.hospital("Hospital Santa Clara").await;
    let other = stack.hospital("Hospital Outro").await;
    let cpf = random_cpf();
    let batch = stack
        .send_batch(&clara, json!([item("LAB-1", 1, &cpf, "SCHEDULED")]))
        .await;
    stack.run_ingest().await;
    let clara_exam = pushed_exam_id(&clara, "LAB-1");
    let before = stack
        .item(&format!("EXAM#{clara_exam}"), "EXAM")
        .await
        .unwrap();

    // The same external id from another hospital is that hospital's own exam.
    let theirs = stack
        .send_batch(&other, json!([item("LAB-1", 9, &cpf, "CANCELLED")]))
        .await;
    stack.run_ingest().await;
    assert_eq!(states(&stack.batch(&other, &theirs).await), ["APPLIED"]);
    let after = stack
        .item(&format!("EXAM#{clara_exam}"), "EXAM")
        .await
        .unwrap();
    assert_eq!(before, after);
    assert_ne!(pushed_exam_id(&other, "LAB-1"), clara_exam);

    assert_eq!(stack.get_exam(&other.claims, &clara_exam).await.status, 404);
    assert_eq!(stack.batch(&other, &batch).await.status, 404);
    let assign = stack
        .call(event(
            "exam-assign.json",
            &other.claims,
            Some(json!({"doctorId": "d-1"})),
            &[("id", &clara_exam)],
        ))
        .await;
    assert_eq!(assign.status, 404);
    let collect = stack
        .call(event(
            "exam-collect.json",
            &other.claims,
            None,
            &[("id", &clara_exam)],
        ))
        .await;
    assert_eq!(collect.status, 404);
    // A pushed exam is not a patient's appointment.
    let cancel = stack
        .call(event(
            "appointments-delete.json",
            &patient_claims(),
            None,
            &[("examId", &clara_exam)],
        ))
        .await;
    assert_eq!(cancel.status, 404);
}

#[tokio::test]
async fn batch_envelope_problems() {
    let stack = Stack::new().await;
    let clara = stack.hospital("Hospital Santa Clara").await;
    let one = item("LAB-1", 1, &random_cpf(), "SCHEDULED");

    for claims in [patient_claims(), doctor_claims(), staff_claims()] {
        let reply = stack
            .post_batch(&claims, json!({"items": [one.clone()]}))
            .await;
        assert_eq!(reply.status, 403, "{reply:?}");
    }
    let unregistered = stack
        .post_batch(
            &hospital_claims("not-a-hospital"),
            json!({"items": [one.clone()]}),
        )
        .await;
    assert_eq!(unregistered.status, 403);
    let anonymous = stack
        .call(without_auth(event(
            "integrations-batch-post.json",
            &clara.claims,
            Some(json!({"items": [one.clone()]})),
            &[],
        )))
        .await;
    assert_eq!(anonymous.status, 401);

    let many: Vec<Value> = (0..501)
        .map(|i| item(&format!("L{i}"), 1, "x", "SCHEDULED"))
        .collect();
    let too_many = stack
        .post_batch(&clara.claims, json!({ "items": many }))
        .await;
    assert_eq!(too_many.status, 413);
    assert_eq!(too_many.body["code"], "PAYLOAD_TOO_LARGE");
    let mut huge = one.clone();
    huge["padding"] = json!("x".repeat(1024 * 1024));
    let too_big = stack
        .post_batch(&clara.claims, json!({"items": [huge]}))
        .await;
    assert_eq!(too_big.status, 413);
    assert_eq!(too_big.body["code"], "PAYLOAD_TOO_LARGE");

    let empty = stack.post_batch(&clara.claims, json!({"items": []})).await;
    assert_eq!(empty.status, 400);
    assert_eq!(field_names(&empty.body), ["items"]);
    let no_items = stack
        .post_batch(&clara.claims, json!({"exams": [one.clone()]}))
        .await;
    assert_eq!(field_names(&no_items.body), ["items"]);
    let array = stack.post_batch(&clara.claims, json!([one.clone()])).await;
    assert_eq!(array.status, 400);
    let unkeyed = |body: Option<Value>| {
        let mut e = event("integrations-batch-post.json", &clara.claims, body, &[]);
        e["headers"]
            .as_object_mut()
            .unwrap()
            .remove("idempotency-key");
        e
    };
    let mut garbage = unkeyed(None);
    garbage["body"] = json!("{\"items\": [");
    let garbage = stack.call(garbage).await;
    assert_eq!(garbage.status, 400);
    assert_eq!(garbage.body["code"], "MALFORMED_REQUEST");
    let mut text = unkeyed(Some(json!({"items": [one.clone()]})));
    text["headers"]["content-type"] = json!("text/csv");
    assert_eq!(stack.call(text).await.status, 415);

    // An idempotency key replays the first answer instead of making a second batch.
    let keyed = |key: &str| {
        let mut e = event(
            "integrations-batch-post.json",
            &clara.claims,
            Some(json!({"items": [one.clone()]})),
            &[],
        );
        e["headers"]["idempotency-key"] = json!(key);
        e
    };
    let first = stack.call(keyed("batch-1")).await;
    let again = stack.call(keyed("batch-1")).await;
    assert_eq!(first.status, 202);
    assert_eq!(again.body["batchId"], first.body["batchId"]);
    assert_eq!(again.headers["idempotent-replayed"], "true");

    let unknown = stack.batch(&clara, "01JNOSUCHBATCH000000000000").await;
    assert_eq!(unknown.status, 404);
    let for_patient = stack
        .call(event(
            "integrations-batch-get.json",
            &patient_claims(),
            None,
            &[("batchId", first.body["batchId"].as_str().unwrap())],
        ))
        .await;
    assert_eq!(for_patient.status, 403);
}

#[tokio::test]
async fn exams_wait_for_their_patient_and_are_linked_on_registration() {
    let stack = Stack::new().await;
    let clara = stack.hospital("Hospital Santa Clara").await;
    let cpf = random_cpf();
    stack
        .send_batch(
            &clara,
            json!([
                item("LAB-1", 1, &cpf, "SCHEDULED"),
                item("LAB-2", 1, &cpf, "COMPLETED")
            ]),
        )
        .await;
    stack.run_ingest().await;
    stack.published(2).await;
    let patient = uuid_like();
    let claims = patient_with_sub(&patient);
    assert!(
        ids(&stack
            .call(event("exams-get.json", &claims, None, &[]))
            .await)
        .is_empty()
    );

    let response = stack.patient_registered(&patient, &cpf).await;
    assert!(response.batch_item_failures.is_empty());
    let mine = stack
        .call(event("exams-get.json", &claims, None, &[]))
        .await;
    assert_eq!(ids(&mine).len(), 2);
    assert!(
        mine.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["awaitingPatient"] == false)
    );
    let events = stack.published(2).await;
    assert_eq!(events.len(), 2);
    for e in &events {
        assert_eq!(e.event_type, EventType::ExamUpdated);
        let updated: ExamUpdated = e.data_as().unwrap();
        assert_eq!(updated.patient_id.as_deref(), Some(patient.as_str()));
    }

    // A later push for the same CPF is linked at once; a redelivered registration does nothing.
    stack
        .send_batch(&clara, json!([item("LAB-3", 1, &cpf, "SCHEDULED")]))
        .await;
    stack.run_ingest().await;
    assert_eq!(
        ids(&stack
            .call(event("exams-get.json", &claims, None, &[]))
            .await)
        .len(),
        3
    );
    stack.published(1).await;
    let registered = stack.patient_registered(&patient, &cpf).await;
    assert!(registered.batch_item_failures.is_empty(), "{registered:?}");
    stack.nothing_published().await;
}
