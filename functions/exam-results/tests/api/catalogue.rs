//! Hospitals, exam types and slots.

use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn hospitals_are_listed_with_the_exam_types_they_publish() {
    let stack = Stack::new().await;
    let clara = stack.hospital("Hospital Santa Clara").await;
    let alpha = stack.hospital("Alpha Diagnósticos").await;
    stack
        .slots(
            &clara,
            json!([
                slot_json("blood-count", 48, 2),
                slot_json("Chest-X-Ray", 50, 1)
            ]),
        )
        .await;

    for claims in [
        patient_claims(),
        doctor_claims(),
        staff_claims(),
        clara.claims.clone(),
    ] {
        let reply = stack
            .call(event("hospitals-get.json", &claims, None, &[]))
            .await;
        assert_eq!(reply.status, 200, "{reply:?}");
        assert_eq!(
            ids(&reply),
            vec![alpha.id.clone(), clara.id.clone()],
            "by name"
        );
        assert!(reply.headers.contains_key("x-request-id"));
    }
    let reply = stack
        .call(event("hospitals-get.json", &patient_claims(), None, &[]))
        .await;
    let listed = &reply.body["items"][1];
    assert_eq!(listed["name"], "Hospital Santa Clara");
    assert_eq!(listed["cnes"], "2077485");
    assert_eq!(listed["examTypes"], json!(["blood-count", "chest-x-ray"]));
    assert!(listed.get("clientId").is_none(), "client ids stay private");

    // Paginated with an opaque cursor.
    let first = stack
        .call(with_query(
            event("hospitals-get.json", &patient_claims(), None, &[]),
            "limit=1",
        ))
        .await;
    assert_eq!(ids(&first), vec![alpha.id.clone()]);
    let cursor = first.body["nextCursor"]
        .as_str()
        .expect("cursor")
        .to_string();
    let second = stack
        .call(with_query(
            event("hospitals-get.json", &patient_claims(), None, &[]),
            &format!("limit=1&cursor={cursor}"),
        ))
        .await;
    assert_eq!(ids(&second), vec![clara.id.clone()]);

    let bad = stack
        .call(with_query(
            event("hospitals-get.json", &patient_claims(), None, &[]),
            "limit=0",
        ))
        .await;
    assert_eq!(bad.status, 400);
    let forged = stack
        .call(with_query(
            event("hospitals-get.json", &patient_claims(), None, &[]),
            "cursor=bm90LWEtY3Vyc29y",
        ))
        .await;
    assert_eq!(forged.status, 400);
    assert_eq!(field_names(&forged.body), ["cursor"]);
    let anonymous = stack
        .call(without_auth(event(
            "hospitals-get.json",
            &patient_claims(),
            None,
            &[],
        )))
        .await;
    assert_eq!(anonymous.status, 401);
}

#[tokio::test]
async fn staff_and_the_hospital_itself_publish_slots() {
    let stack = Stack::new().await;
    let clara = stack.hospital("Hospital Santa Clara").await;
    let other = stack.hospital("Hospital Outro").await;
    let body = json!([slot_json("blood-count", 24, 3)]);
    let put = |claims: &std::collections::HashMap<String, String>, id: &str| {
        event("slots-put.json", claims, Some(body.clone()), &[("id", id)])
    };

    let by_staff = stack.call(put(&staff_claims(), &clara.id)).await;
    assert_eq!(by_staff.status, 200, "{by_staff:?}");
    let slot = &by_staff.body["items"][0];
    assert_eq!(slot["capacity"], 3);
    assert_eq!(slot["booked"], 0);
    assert_eq!(slot["remaining"], 3);
    assert_eq!(slot["hospitalName"], "Hospital Santa Clara");
    let slot_id = slot["id"].as_str().unwrap().to_string();

    // Publishing the same slot again updates it instead of adding one.
    let mut bigger = body.clone();
    bigger[0]["capacity"] = json!(5);
    let by_itself = stack
        .call(event(
            "slots-put.json",
            &clara.claims,
            Some(bigger),
            &[("id", &clara.id)],
        ))
        .await;
    assert_eq!(by_itself.status, 200, "{by_itself:?}");
    assert_eq!(by_itself.body["items"][0]["id"], slot_id.as_str());
    assert_eq!(by_itself.body["items"][0]["capacity"], 5);

    for (claims, status) in [
        (other.claims.clone(), 403),
        (patient_claims(), 403),
        (doctor_claims(), 403),
    ] {
        let reply = stack.call(put(&claims, &clara.id)).await;
        assert_eq!(reply.status, status, "{reply:?}");
        assert_eq!(reply.body["code"], "FORBIDDEN");
    }
    let unregistered = stack
        .call(put(&hospital_claims("never-registered"), &clara.id))
        .await;
    assert_eq!(unregistered.status, 403);
    let unknown = stack
        .call(put(&staff_claims(), "01JNOSUCHHOSPITAL000000000"))
        .await;
    assert_eq!(unknown.status, 404);
    let malformed_id = stack.call(put(&staff_claims(), "a%23b")).await;
    assert_eq!(malformed_id.status, 404);
    let anonymous = stack
        .call(without_auth(put(&staff_claims(), &clara.id)))
        .await;
    assert_eq!(anonymous.status, 401);

    let invalid = stack
        .call(event(
            "slots-put.json",
            &staff_claims(),
            Some(json!([
                {"examType": "x", "start": in_hours(-1), "end": in_hours(2), "capacity": -1},
                {"examType": "mri", "start": in_hours(5), "end": in_hours(4)}
            ])),
            &[("id", &clara.id)],
        ))
        .await;
    assert_eq!(invalid.status, 400);
    assert_eq!(invalid.body["code"], "VALIDATION_FAILED");
    assert_eq!(
        field_names(&invalid.body),
        [
            "[0].examType",
            "[0].capacity",
            "[0].start",
            "[1].capacity",
            "[1].end"
        ]
    );
    let empty = stack
        .call(event(
            "slots-put.json",
            &staff_claims(),
            Some(json!([])),
            &[("id", &clara.id)],
        ))
        .await;
    assert_eq!(field_names(&empty.body), ["slots"]);
    let too_many: Vec<_> = (0..51).map(|h| slot_json("mri", 10 + h, 1)).collect();
    let crowded = stack
        .call(event(
            "slots-put.json",
            &staff_claims(),
            Some(json!(too_many)),
            &[("id", &clara.id)],
        ))
        .await;
    assert_eq!(crowded.status, 400);
    let mut not_json = put(&staff_claims(), &clara.id);
    not_json["headers"]["content-type"] = json!("text/plain");
    assert_eq!(stack.call(not_json).await.status, 415);
    let mut garbage = put(&staff_claims(), &clara.id);
    garbage["body"] = json!("{\"examType\":");
    let garbage = stack.call(garbage).await;
    assert_eq!(garbage.status, 400);
    assert_eq!(garbage.body["code"], "MALFORMED_REQUEST");
}

#[tokio::test]
async fn capacity_never_drops_below_the_bookings() {
    let stack = Stack::new().await;
    let clara = stack.hospital("Hospital Santa Clara").await;
    let body = json!([slot_json("blood-count", 24, 2), slot_json("mri", 30, 4)]);
    let published = stack.slots(&clara, body.clone()).await;
    let slot_id = published[0]["id"].as_str().unwrap();
    stack.booked(&patient_claims(), slot_id).await;
    stack.booked(&patient_claims(), slot_id).await;

    let mut lower = body.clone();
    lower[0]["capacity"] = json!(1);
    lower[1]["capacity"] = json!(9);
    let reply = stack
        .call(event(
            "slots-put.json",
            &staff_claims(),
            Some(lower),
            &[("id", &clara.id)],
        ))
        .await;
    assert_eq!(reply.status, 409, "{reply:?}");
    assert_eq!(reply.body["code"], "CAPACITY_BELOW_BOOKED");
    assert_eq!(reply.body["index"], 0);
    assert_eq!(reply.body["booked"], 2);
    // All or nothing: the other slot kept its capacity.
    let mri = stack
        .item(
            &format!("SLOT#{}", published[1]["id"].as_str().unwrap()),
            "SLOT",
        )
        .await
        .unwrap();
    assert_eq!(mri["capacity"].as_n().unwrap(), "4");

    let mut same = body;
    same[0]["capacity"] = json!(2);
    let reply = stack
        .call(event(
            "slots-put.json",
            &staff_claims(),
            Some(same),
            &[("id", &clara.id)],
        ))
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["items"][0]["booked"], 2);
    assert_eq!(reply.body["items"][0]["remaining"], 0);
}

#[tokio::test]
async fn open_slots_are_found_by_hospital_type_and_time() {
    let stack = Stack::new().await;
    let clara = stack.hospital("Hospital Santa Clara").await;
    let other = stack.hospital("Hospital Outro").await;
    let published = stack
        .slots(
            &clara,
            json!([
                slot_json("blood-count", 24, 1),
                slot_json("blood-count", 48, 2),
                slot_json("mri", 30, 1),
                slot_json("blood-count", 24 * 40, 1)
            ]),
        )
        .await;
    let slot_ids: Vec<String> = published
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    let other_slot = stack.slot(&other, "blood-count", 36, 1).await;
    let list =
        |query: &str| with_query(event("slots-get.json", &patient_claims(), None, &[]), query);

    let by_hospital = stack.call(list(&format!("hospitalId={}", clara.id))).await;
    assert_eq!(by_hospital.status, 200, "{by_hospital:?}");
    assert_eq!(
        ids(&by_hospital),
        vec![
            slot_ids[0].clone(),
            slot_ids[2].clone(),
            slot_ids[1].clone()
        ],
        "next 31 days by start time"
    );
    let by_both = stack
        .call(list(&format!(
            "hospitalId={}&examType=blood-count",
            clara.id
        )))
        .await;
    assert_eq!(
        ids(&by_both),
        vec![slot_ids[0].clone(), slot_ids[1].clone()]
    );
    let by_type = stack.call(list("examType=blood-count")).await;
    assert_eq!(
        ids(&by_type),
        vec![slot_ids[0].clone(), other_slot.clone(), slot_ids[1].clone()]
    );
    let window = stack
        .call(list(&format!(
            "hospitalId={}&from={}&to={}",
            clara.id,
            in_hours(24 * 39),
            in_hours(24 * 41)
        )))
        .await;
    assert_eq!(ids(&window), vec![slot_ids[3].clone()]);

    // A full slot is not open any more (a booking clears this instance's cache).
    stack.booked(&patient_claims(), &slot_ids[0]).await;
    let after = stack.call(list(&format!("hospitalId={}", clara.id))).await;
    assert_eq!(ids(&after), vec![slot_ids[2].clone(), slot_ids[1].clone()]);
    assert_eq!(after.body["items"][1]["remaining"], 2);

    let page = stack
        .call(list(&format!("hospitalId={}&limit=1", clara.id)))
        .await;
    assert_eq!(ids(&page).len(), 1);
    assert!(page.body["nextCursor"].is_string());

    for (query, fields) in [
        ("", vec!["hospitalId"]),
        ("examType=-", vec!["examType"]),
        ("hospitalId=x&from=yesterday", vec!["from"]),
        (
            "hospitalId=x&from=2030-01-02T00:00:00Z&to=2030-01-01T00:00:00Z",
            vec!["to"],
        ),
        (
            "hospitalId=x&from=2030-01-01T00:00:00Z&to=2030-12-01T00:00:00Z",
            vec!["to"],
        ),
        ("hospitalId=x&limit=500", vec!["limit"]),
        ("hospitalId=x&cursor=garbage", vec!["cursor"]),
    ] {
        let reply = stack.call(list(query)).await;
        assert_eq!(reply.status, 400, "{query}: {reply:?}");
        assert_eq!(field_names(&reply.body), fields, "{query}");
    }
    for claims in [doctor_claims(), staff_claims(), clara.claims.clone()] {
        let reply = stack
            .call(with_query(
                event("slots-get.json", &claims, None, &[]),
                "examType=mri",
            ))
            .await;
        assert_eq!(reply.status, 200);
    }
    let anonymous = stack.call(without_auth(list("examType=mri"))).await;
    assert_eq!(anonymous.status, 401);
}

#[tokio::test]
async fn unknown_routes_are_problems() {
    let stack = Stack::new().await;
    let mut e = sample("hospitals-get.json");
    e["rawPath"] = json!("/v1/nothing-here");
    e["requestContext"]["http"]["path"] = json!("/v1/nothing-here");
    let reply = stack.call(e).await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.body["code"], "NOT_FOUND");
}

#[tokio::test]
async fn every_sample_request_is_served() {
    // The samples as committed (fixed ids and dates) reach their handlers: none answers 404
    // for the route itself or 401 for its claims.
    let stack = Stack::new().await;
    for name in [
        "hospitals-get.json",
        "slots-put.json",
        "slots-get.json",
        "appointments-post.json",
        "appointments-delete.json",
        "exams-get.json",
        "exam-get.json",
        "exam-assign.json",
        "exam-collect.json",
        "exam-complete.json",
        "integrations-batch-post.json",
        "integrations-batch-get.json",
    ] {
        let reply = stack.call(sample(name)).await;
        assert_ne!(reply.status, 401, "{name}: {reply:?}");
        assert!(
            reply.status != 404 || reply.body["detail"] != "Route not found.",
            "{name} is not routed: {reply:?}"
        );
        assert!(reply.status < 500, "{name}: {reply:?}");
    }
}
