//! Duplicate and out-of-order delivery, per consumer, through the local runner.
//!
//! A journey produces events of every kind the consumers take (accounts, hospitals, doctors,
//! bookings, the exam lifecycle, a processed result, a report, a profile change). Tap queues
//! subscribed to the three event topics keep a copy of every envelope. When the system has
//! settled, every envelope is published again, twice, newest first — so each consumer gets each
//! of its events twice more, in reverse order — together with a repeated S3 notification of the
//! uploaded result and a repeated report job. Afterwards nothing observable may have changed: no
//! e-mail or SMS more, the same notification logs, exam, files, access log and report, nothing in
//! a dead-letter queue.
//!
//! Out of order on first delivery: exam views the file service has never seen arrive newest
//! first (an assignment before the booking it follows) and the service must keep the newest.

mod bus;

use std::collections::BTreeMap;
use std::time::Duration;

use bus::Bus;
use clinic_file_management::domain::checks::sample_pdf;
use clinic_journeys::api::{Api, Call, STAFF_EMAIL, STAFF_PASSWORD, cpf, eventually};
use clinic_journeys::local_system::{LocalSystem, bin_dir};
use clinic_journeys::root;
use clinic_shared::envelope::{Envelope, ExamCreated, ExamStatus, ExamUpdated};
use reqwest::Method;
use serde_json::{Value, json};

/// Records the shared consumer recognised as already handled, in the runner's output.
fn duplicates(output: &str) -> usize {
    output
        .lines()
        .filter(|line| line.contains("sqs record done") && line.contains("\"duplicate\""))
        .count()
}

/// What the users can observe of the journey, plus the emulator's outboxes.
async fn observe(
    api: &Api,
    emulator: &str,
    tokens: &[(&str, &str)],
    paths: &[(&str, &str)],
) -> BTreeMap<String, String> {
    let mut seen = BTreeMap::new();
    let data: Value = reqwest::get(format!("{emulator}/moto-api/data.json"))
        .await
        .expect("emulator data")
        .json()
        .await
        .expect("emulator JSON");
    let emails = data["ses"]["Message"].as_array().map_or(0, Vec::len);
    let sms = data["sns"]["SMS"].as_array().map_or(0, Vec::len);
    seen.insert("e-mails sent".into(), emails.to_string());
    seen.insert("SMS sent".into(), sms.to_string());
    for (who, token) in tokens {
        let log = api.get("/v1/me/notifications?limit=200", Some(token)).await;
        let mut entries: Vec<String> = log.body["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|i| {
                        format!(
                            "{} {} {} {}",
                            i["eventType"], i["template"], i["channel"], i["status"]
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        entries.sort();
        seen.insert(format!("notification log of {who}"), entries.join("; "));
    }
    for (who, path) in paths {
        let token = tokens
            .iter()
            .find(|(w, _)| w == who)
            .map(|(_, t)| *t)
            .expect("token of the observer");
        let mut reply = api.get(path, Some(token)).await.body;
        // Fresh each call: presigned links and their expiry.
        for volatile in ["downloadUrl", "downloadExpiresAt"] {
            if let Some(object) = reply.as_object_mut() {
                object.remove(volatile);
            }
        }
        seen.insert(format!("{path} as {who}"), reply.to_string());
    }
    seen
}

#[tokio::test]
async fn events_delivered_again_or_out_of_order_change_nothing() {
    let system = LocalSystem::start(&root().join("template.yaml"), &bin_dir(), &[]).await;
    let api = Api::of(&system);
    let bus = Bus::new(&system.emulator_url).await;
    // Tap every event topic before anything happens.
    let topics = bus.topics().await;
    let taps = bus.tap_topics().await;

    // The journey.
    let staff = api.sign_in(STAFF_EMAIL, STAFF_PASSWORD).await;
    let hospital = api
        .hospital(&staff.access, "Hospital Reentrega", "2000301")
        .await;
    let slots = api
        .publish_slots(
            &staff.access,
            &hospital.id,
            json!([{"examType": "Raio-X", "start": "2031-08-01T10:00:00Z", "end": "2031-08-01T10:30:00Z", "capacity": 3}]),
        )
        .await;
    let doctor = api
        .doctor(&staff.access, "dr.reentrega@example.com", "200301")
        .await;
    let patient = api
        .patient(
            "paciente.reentrega@example.com",
            &cpf(123_987_456),
            "+5511977770001",
        )
        .await;
    let reply = api
        .call(&Call::new(Method::PATCH, "/v1/me").token(Some(&patient.access)).json(json!({"name": "Ana Reentrega", "preferences": {"email": true, "sms": true, "language": "pt-BR"}})))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let exam = api
        .book(&patient.access, &slots[0], "redelivery-booking")
        .await;
    let file = api
        .perform(
            &staff.access,
            &doctor,
            &patient.access,
            &exam,
            sample_pdf("Laudo reentregue"),
        )
        .await;
    let reply = api
        .get(&format!("/v1/files/{file}/download"), Some(&patient.access))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let report = api
        .call(
            &Call::new(Method::POST, "/v1/reports")
                .token(Some(&staff.access))
                .header("idempotency-key", "redelivery-report")
                .json(json!({"kind": "exams", "format": "xlsx", "filters": {"from": "2031-01-01", "to": "2031-12-31"}})),
        )
        .await;
    assert_eq!(report.status, 202, "{}", report.text);
    let report = report.body["reportId"]
        .as_str()
        .expect("report id")
        .to_string();
    eventually("the report is done", || async {
        api.get(&format!("/v1/reports/{report}"), Some(&staff.access))
            .await
            .body["status"]
            == "done"
    })
    .await;
    bus.settle().await;
    // Notifications wait a little for contacts; let them finish.
    tokio::time::sleep(Duration::from_secs(6)).await;
    bus.settle().await;

    let tokens = [
        ("patient", patient.access.as_str()),
        ("doctor", doctor.access.as_str()),
        ("staff", staff.access.as_str()),
    ];
    let paths = [
        ("patient", format!("/v1/exams/{exam}")),
        ("patient", format!("/v1/exams/{exam}/files")),
        ("patient", format!("/v1/exams/{exam}/access-log")),
        ("patient", "/v1/me".to_string()),
        ("staff", format!("/v1/reports/{report}")),
        ("staff", "/v1/hospitals?limit=200".to_string()),
    ];
    let paths: Vec<(&str, &str)> = paths.iter().map(|(w, p)| (*w, p.as_str())).collect();
    let before = observe(&api, &system.emulator_url, &tokens, &paths).await;
    let dead_before = bus.dead_letters().await;
    assert!(
        dead_before.values().all(|n| *n == 0),
        "dead letters after the journey: {dead_before:?}"
    );

    let duplicates_before = duplicates(&system.output());

    // Every event again, twice, newest first.
    let mut captured: Vec<(String, String, String)> = Vec::new();
    for (arn, url) in &taps {
        for tapped in bus.drain(url).await {
            captured.push((arn.clone(), tapped.kind, tapped.body));
        }
    }
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for (_, kind, _) in &captured {
        *kinds.entry(kind.clone()).or_default() += 1;
    }
    println!("captured {} events: {kinds:?}", captured.len());
    for expected in [
        "account.created",
        "account.updated",
        "patient.registered",
        "doctor.registered",
        "hospital.registered",
        "exam.created",
        "exam.updated",
        "exam.completed",
        "exam.result.ready",
        "file.processed",
        "report.completed",
    ] {
        assert!(
            kinds.contains_key(expected),
            "no {expected} captured: {kinds:?}"
        );
    }
    let mut ordered = captured.clone();
    ordered.sort_by_key(|(_, _, body)| {
        serde_json::from_str::<Value>(body)
            .ok()
            .and_then(|v| v["time"].as_str().map(str::to_string))
            .unwrap_or_default()
    });
    ordered.reverse();
    for _ in 0..2 {
        for (arn, kind, body) in &ordered {
            bus.publish(arn, kind, body).await;
        }
    }
    // The S3 notification of the result and the report job, again.
    let uploads = bus.queue("clinic-local-UploadsQueue").await;
    let s3_event = json!({"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": "uploads"}, "object": {"key": format!("incoming/{file}"), "size": 1}}}]});
    let reports = bus.queue("clinic-local-ReportsQueue").await;
    for _ in 0..2 {
        bus.sqs
            .send_message()
            .queue_url(&uploads)
            .message_body(s3_event.to_string())
            .send()
            .await
            .expect("s3 event");
        bus.sqs
            .send_message()
            .queue_url(&reports)
            .message_body(json!({"reportId": report}).to_string())
            .send()
            .await
            .expect("report job");
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    bus.settle().await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    bus.settle().await;
    let after = observe(&api, &system.emulator_url, &tokens, &paths).await;
    // The copies did reach the consumers, which recognised them.
    let recognised = duplicates(&system.output()) - duplicates_before;
    assert!(
        recognised >= ordered.len(),
        "only {recognised} deliveries recognised as duplicates for {} events sent twice: did the copies reach the consumers?",
        ordered.len()
    );
    let dead_after = bus.dead_letters().await;

    let mut changes = Vec::new();
    for (what, value) in &before {
        if after.get(what) != Some(value) {
            changes.push(format!(
                "{what}:\n  before {value}\n  after  {}",
                after.get(what).cloned().unwrap_or_default()
            ));
        }
    }
    if dead_after.values().any(|n| *n > 0) {
        changes.push(format!("dead letters: {dead_after:?}"));
    }
    println!(
        "redelivered {} events twice each, newest first, plus 2 S3 notifications and 2 report jobs; {recognised} deliveries recognised as duplicates; {} observations compared",
        ordered.len(),
        before.len()
    );
    assert!(changes.is_empty(), "{}", changes.join("\n"));

    out_of_order_exam_views_keep_the_newest(
        &api,
        &bus,
        &topics,
        &hospital.id,
        &doctor.access,
        &doctor.id,
    )
    .await;
    drop(system);
}

/// An exam the file service has never seen: its assignment (newer) arrives before its creation
/// (older). The assigned doctor must be able to upload; the view must not fall back.
async fn out_of_order_exam_views_keep_the_newest(
    api: &Api,
    bus: &Bus,
    topics: &BTreeMap<String, String>,
    hospital_id: &str,
    doctor: &str,
    doctor_id: &str,
) {
    let exam_id = "01JORDERTESTEXAM0000000001";
    let scheduled_at = jiff::Timestamp::from_second(1_938_000_000).expect("time");
    let created = ExamCreated {
        exam_id: exam_id.into(),
        patient_id: None,
        hospital_id: hospital_id.into(),
        hospital_name: "Hospital Reentrega".into(),
        exam_type: "raio-x".into(),
        scheduled_at,
        doctor_id: None,
        status: ExamStatus::Scheduled,
    };
    let assigned = ExamUpdated {
        exam_id: exam_id.into(),
        patient_id: None,
        hospital_id: hospital_id.into(),
        hospital_name: "Hospital Reentrega".into(),
        exam_type: "raio-x".into(),
        scheduled_at,
        doctor_id: Some(doctor_id.into()),
        status: ExamStatus::Scheduled,
        previous_status: ExamStatus::Scheduled,
    };
    let older = Envelope::new(
        "clinic.exam-results",
        exam_id,
        created,
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    );
    let mut newer = Envelope::new(
        "clinic.exam-results",
        exam_id,
        assigned,
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    );
    newer.time = older.time + jiff::SignedDuration::from_secs(60);
    let topic = topics
        .iter()
        .find(|(name, _)| name.ends_with("exam-events"))
        .map(|(_, arn)| arn.clone())
        .expect("exam events topic");
    bus.publish(&topic, "exam.updated", &newer.into_raw().to_json())
        .await;
    bus.settle().await;
    bus.publish(&topic, "exam.created", &older.into_raw().to_json())
        .await;
    bus.settle().await;
    let reply = api
        .post(
            &format!("/v1/exams/{exam_id}/files"),
            Some(doctor),
            json!({"fileName": "laudo.pdf", "contentType": "application/pdf", "size": 1000, "kind": "result"}),
        )
        .await;
    assert_eq!(
        reply.status, 201,
        "the older exam view replaced the newer one: the assigned doctor cannot upload: {}",
        reply.text
    );
}
