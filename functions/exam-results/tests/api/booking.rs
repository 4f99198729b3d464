//! Bookings: never more than a slot's capacity, idempotent retries, cancellation.

use std::sync::Arc;

use clinic_shared::clock::{Clock, ManualClock};

use clinic_shared::envelope::{EventType, ExamCreated, ExamStatus, ExamUpdated};
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn booking_creates_the_exam_takes_a_place_and_announces_it() {
    let stack = Stack::new().await;
    let clara = stack.hospital("Hospital Santa Clara").await;
    let slot_id = stack.slot(&clara, "blood-count", 24, 2).await;
    let patient = patient_claims();

    let reply = stack.book(&patient, &slot_id).await;
    assert_eq!(reply.status, 201, "{reply:?}");
    assert_eq!(reply.body["status"], "SCHEDULED");
    let exam_id = reply.body["examId"].as_str().unwrap().to_string();
    assert_eq!(
        reply.headers["location"],
        format!("/v1/exams/{exam_id}").as_str()
    );
    assert_eq!(stack.booked_count(&slot_id).await, 1);

    let exam = stack.get_exam(&patient, &exam_id).await;
    assert_eq!(exam.status, 200);
    assert_eq!(exam.body["patientId"], sub(&patient).as_str());
    assert_eq!(exam.body["slotId"], slot_id.as_str());
    assert_eq!(exam.body["origin"], "BOOKING");
    assert_eq!(exam.body["hospitalName"], "Hospital Santa Clara");

    let events = stack.published(1).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].event_type, EventType::ExamCreated);
    assert_eq!(events[0].source, "clinic.exam-results");
    assert_eq!(events[0].trace, TRACE, "the request's trace continues");
    let created: ExamCreated = events[0].data_as().unwrap();
    assert_eq!(created.exam_id, exam_id);
    assert_eq!(created.patient_id.as_deref(), Some(sub(&patient).as_str()));
    assert_eq!(created.hospital_name, "Hospital Santa Clara");
    assert_eq!(created.status, ExamStatus::Scheduled);
}

#[tokio::test]
async fn fifty_concurrent_bookings_for_three_places_book_exactly_three() {
    let stack = Stack::new().await;
    let clara = stack.hospital("Hospital Santa Clara").await;
    let slot_id = stack.slot(&clara, "blood-count", 24, 3).await;

    let requests = (0..50).map(|_| {
        let request = booking(&patient_claims(), &slot_id, &ulid::Ulid::new().to_string());
        stack.call(request)
    });
    let replies = futures::future::join_all(requests).await;

    let created = replies.iter().filter(|r| r.status == 201).count();
    let full: Vec<_> = replies.iter().filter(|r| r.status == 409).collect();
    assert_eq!(created, 3, "{replies:?}");
    assert_eq!(full.len(), 47, "{replies:?}");
    assert!(
        full.iter().all(|r| r.body["code"] == "SLOT_FULL"),
        "{full:?}"
    );
    assert_eq!(stack.booked_count(&slot_id).await, 3);
    assert_eq!(stack.published(3).await.len(), 3);
    stack.nothing_published().await;
}

#[tokio::test]
async fn retries_with_the_same_key_book_once() {
    let stack = Stack::new().await;
    let clara = stack.hospital("Hospital Santa Clara").await;
    let slot_id = stack.slot(&clara, "blood-count", 24, 5).await;
    let other_slot = stack.slot(&clara, "mri", 24, 5).await;
    let patient = patient_claims();

    let first = stack.call(booking(&patient, &slot_id, "key-1")).await;
    let again = stack.call(booking(&patient, &slot_id, "key-1")).await;
    assert_eq!(first.status, 201);
    assert_eq!(again.status, 201);
    assert_eq!(again.body, first.body);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(stack.booked_count(&slot_id).await, 1);

    let reused = stack.call(booking(&patient, &other_slot, "key-1")).await;
    assert_eq!(reused.status, 422);
    assert_eq!(reused.body["code"], "IDEMPOTENCY_KEY_REUSED");

    // The key is scoped to the caller: another patient's key-1 is another request.
    let someone_else = stack
        .call(booking(&patient_claims(), &slot_id, "key-1"))
        .await;
    assert_eq!(someone_else.status, 201);

    let mut no_key = booking(&patient, &other_slot, "unused");
    no_key["headers"]
        .as_object_mut()
        .unwrap()
        .remove("idempotency-key");
    let no_key = stack.call(no_key).await;
    assert_eq!(no_key.status, 400);
    assert_eq!(no_key.body["code"], "IDEMPOTENCY_KEY_REQUIRED");

    // The same patient cannot hold two places of one slot.
    let twice = stack.book(&patient, &slot_id).await;
    assert_eq!(twice.status, 409);
    assert_eq!(twice.body["code"], "ALREADY_BOOKED");
    assert_eq!(stack.booked_count(&slot_id).await, 2);
}

#[tokio::test]
async fn booking_refuses_other_roles_and_bad_input() {
    let stack = Stack::new().await;
    let clara = stack.hospital("Hospital Santa Clara").await;
    let slot_id = stack.slot(&clara, "blood-count", 24, 1).await;

    for claims in [doctor_claims(), staff_claims(), clara.claims.clone()] {
        let reply = stack.book(&claims, &slot_id).await;
        assert_eq!(reply.status, 403, "{reply:?}");
    }
    let anonymous = stack
        .call(without_auth(booking(&patient_claims(), &slot_id, "k")))
        .await;
    assert_eq!(anonymous.status, 401);
    let unknown = stack
        .book(&patient_claims(), "01JNOSUCHSLOT0000000000000")
        .await;
    assert_eq!(unknown.status, 404);
    for body in [json!({}), json!({"slotId": "a#b"}), json!({"slotId": 5})] {
        let mut e = booking(&patient_claims(), &slot_id, &ulid::Ulid::new().to_string());
        e["body"] = json!(body.to_string());
        let reply = stack.call(e).await;
        assert_eq!(reply.status, 400, "{body}: {reply:?}");
    }
    let mut text = booking(&patient_claims(), &slot_id, "k2");
    text["headers"]["content-type"] = json!("text/plain");
    assert_eq!(stack.call(text).await.status, 415);

    stack.booked(&patient_claims(), &slot_id).await;
    let full = stack.book(&patient_claims(), &slot_id).await;
    assert_eq!(full.status, 409);
    assert_eq!(full.body["code"], "SLOT_FULL");
}

#[tokio::test]
async fn cancelling_frees_the_place_once() {
    let stack = Stack::new().await;
    let clara = stack.hospital("Hospital Santa Clara").await;
    let slot_id = stack.slot(&clara, "blood-count", 24, 1).await;
    let patient = patient_claims();
    let exam_id = stack.booked(&patient, &slot_id).await;
    assert_eq!(stack.book(&patient_claims(), &slot_id).await.status, 409);
    stack.published(1).await;
    let cancel = |claims: &std::collections::HashMap<String, String>, id: &str| {
        event("appointments-delete.json", claims, None, &[("examId", id)])
    };

    for claims in [doctor_claims(), staff_claims(), clara.claims.clone()] {
        assert_eq!(stack.call(cancel(&claims, &exam_id)).await.status, 403);
    }
    let not_theirs = stack.call(cancel(&patient_claims(), &exam_id)).await;
    assert_eq!(
        not_theirs.status, 404,
        "another patient's exam is not found"
    );
    assert_eq!(
        stack
            .call(cancel(&patient, "01JNOSUCHEXAM0000000000000"))
            .await
            .status,
        404
    );

    let reply = stack.call(cancel(&patient, &exam_id)).await;
    assert_eq!(reply.status, 204, "{reply:?}");
    assert_eq!(stack.booked_count(&slot_id).await, 0);
    let exam = stack.get_exam(&patient, &exam_id).await;
    assert_eq!(exam.body["status"], "CANCELLED");
    let events = stack.published(1).await;
    assert_eq!(events[0].event_type, EventType::ExamUpdated);
    let updated: ExamUpdated = events[0].data_as().unwrap();
    assert_eq!(updated.status, ExamStatus::Cancelled);
    assert_eq!(updated.previous_status, ExamStatus::Scheduled);

    let again = stack.call(cancel(&patient, &exam_id)).await;
    assert_eq!(again.status, 409);
    assert_eq!(again.body["code"], "INVALID_TRANSITION");
    assert_eq!(again.body["currentStatus"], "CANCELLED");
    assert_eq!(stack.booked_count(&slot_id).await, 0, "freed once");

    // The freed place can be booked again, also by the same patient.
    stack.booked(&patient, &slot_id).await;
    assert_eq!(stack.booked_count(&slot_id).await, 1);
}

#[tokio::test]
async fn an_appointment_that_started_cannot_be_booked_or_cancelled() {
    let clock = ManualClock::starting_now();
    let stack = Stack::on_clock(Arc::new(clock.clone())).await;
    let clara = stack.hospital("Hospital Santa Clara").await;
    let soon = jiff::Timestamp::from_second(clock.now().as_second() + 60).unwrap();
    let slots = stack
        .slots(
            &clara,
            json!([{"examType": "blood-count", "start": soon.to_string(),
                    "end": (soon + jiff::SignedDuration::from_mins(30)).to_string(), "capacity": 2}]),
        )
        .await;
    let slot_id = slots[0]["id"].as_str().unwrap().to_string();
    let patient = patient_claims();
    let exam_id = stack.booked(&patient, &slot_id).await;
    // The appointment's time comes.
    clock.set(soon);

    let late = stack
        .call(event(
            "appointments-delete.json",
            &patient,
            None,
            &[("examId", &exam_id)],
        ))
        .await;
    assert_eq!(late.status, 409);
    assert_eq!(late.body["code"], "TOO_LATE_TO_CANCEL");
    let closed = stack.book(&patient_claims(), &slot_id).await;
    assert_eq!(closed.status, 409);
    assert_eq!(closed.body["code"], "SLOT_CLOSED");
    assert_eq!(stack.booked_count(&slot_id).await, 1);
}
