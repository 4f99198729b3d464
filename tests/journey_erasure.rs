//! Erasure across the services, through the real subscriptions: a patient who booked, had an
//! exam pushed by a hospital, got a result and downloaded it erases the account (`DELETE
//! /v1/me`); `account.deleted` reaches every service through the filter policies of
//! template.yaml, and afterwards no table of any service holds the person's CPF, e-mail, phone or
//! match key, while another patient's data is still there (so the scan sees what it should).

use aws_sdk_dynamodb::types::AttributeValue;
use clinic_file_management::domain::checks::sample_pdf;
use clinic_journeys::api::{Api, STAFF_EMAIL, STAFF_PASSWORD, cpf, eventually};
use clinic_journeys::local_system::{LocalSystem, bin_dir};
use clinic_journeys::root;
use serde_json::json;

/// Every item of every table of the local system, each as one line of text.
async fn every_item(emulator: &str) -> Vec<(String, String)> {
    let config = clinic_shared::aws::with_https_client(aws_config::defaults(
        aws_config::BehaviorVersion::latest(),
    ))
    .endpoint_url(emulator)
    .region(aws_config::Region::new("us-east-1"))
    .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
        "testing", "testing", None, None, "tests",
    ))
    .load()
    .await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let tables = dynamodb.list_tables().send().await.expect("tables");
    let mut items = Vec::new();
    for table in tables.table_names() {
        let mut pages = dynamodb
            .scan()
            .table_name(table)
            .into_paginator()
            .items()
            .send();
        while let Some(item) = pages.next().await {
            let item = item.expect("scan");
            items.push((table.clone(), render(&item)));
        }
    }
    items
}

fn render(item: &std::collections::HashMap<String, AttributeValue>) -> String {
    let mut keys: Vec<_> = item.keys().collect();
    keys.sort();
    keys.iter()
        .map(|k| format!("{k}={:?}", item[*k]))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The tables and items that still mention any of `needles`.
fn mentions<'a>(items: &'a [(String, String)], needles: &[&str]) -> Vec<&'a (String, String)> {
    items
        .iter()
        .filter(|(_, text)| needles.iter().any(|n| text.contains(n)))
        .collect()
}

#[tokio::test]
async fn an_erased_patient_leaves_nothing_identifying_in_any_service() {
    let system = LocalSystem::start(&root().join("template.yaml"), &bin_dir(), &[]).await;
    let api = Api::of(&system);
    let staff = api.sign_in(STAFF_EMAIL, STAFF_PASSWORD).await;
    let hospital = api
        .hospital(&staff.access, "Hospital Esquecimento", "2000301")
        .await;
    let doctor = api
        .doctor(&staff.access, "medica.erasure@example.com", "300001")
        .await;
    let slots = api
        .publish_slots(
            &staff.access,
            &hospital.id,
            json!([{"examType": "Raio-X", "start": "2031-05-01T10:00:00Z",
                    "end": "2031-05-01T10:30:00Z", "capacity": 3},
                   {"examType": "Raio-X", "start": "2031-05-02T10:00:00Z",
                    "end": "2031-05-02T10:30:00Z", "capacity": 3}]),
        )
        .await;

    let (email, cpf_digits, phone) = ("apagar.me@example.com", cpf(123_456_789), "+5511977776666");
    let patient = api.patient(email, &cpf_digits, phone).await;
    let other = api
        .patient("fica.aqui@example.com", &cpf(987_654_321), "+5511966665555")
        .await;

    // A booked exam that goes all the way to a downloaded result, a future appointment, and an
    // exam the hospital pushed for the same CPF and verified address.
    let done = api.book(&patient.access, &slots[0], "erasure-done").await;
    let upcoming = api
        .book(&patient.access, &slots[1], "erasure-upcoming")
        .await;
    api.book(&other.access, &slots[1], "erasure-other").await;
    let (_, pushed) = api
        .push_exams(
            &hospital.token,
            vec![
                json!({"externalId": "ERASE-1", "version": 1, "patientCpf": cpf_digits,
                        "patientEmail": email, "examType": "Hemograma", "status": "COMPLETED",
                        "scheduledAt": "2031-04-01T09:00:00Z"}),
            ],
        )
        .await;
    assert_eq!(pushed[0]["state"], "APPLIED", "{pushed:?}");
    eventually("the pushed exam reaches the patient", || async {
        let list = api.get("/v1/exams?limit=50", Some(&patient.access)).await;
        list.body["items"]
            .as_array()
            .is_some_and(|items| items.len() == 3)
    })
    .await;
    let file = api
        .perform(
            &staff.access,
            &doctor,
            &patient.access,
            &done,
            sample_pdf("Laudo a apagar"),
        )
        .await;
    let reply = api
        .get(&format!("/v1/files/{file}/download"), Some(&patient.access))
        .await;
    assert_eq!(reply.status, 200, "download: {}", reply.text);

    let cpf_formatted = format!(
        "{}.{}.{}-{}",
        &cpf_digits[0..3],
        &cpf_digits[3..6],
        &cpf_digits[6..9],
        &cpf_digits[9..11]
    );
    let match_key = clinic_shared::values::patient_match_key(
        &clinic_shared::values::Cpf::parse(&cpf_digits).expect("a valid CPF"),
        &clinic_shared::values::Email::parse(email).expect("a valid e-mail"),
    );
    let needles = [
        email,
        cpf_digits.as_str(),
        cpf_formatted.as_str(),
        phone,
        match_key.as_str(),
    ];
    // Before: the person is in the tables of the accounts, exam-results and notifications
    // services (the scan sees what erasure must remove).
    let before = every_item(&system.emulator_url).await;
    let mut holders: Vec<&str> = mentions(&before, &needles)
        .iter()
        .map(|(table, _)| table.as_str())
        .collect();
    holders.dedup();
    for service in ["Accounts", "ExamResults", "Notifications"] {
        assert!(
            holders.iter().any(|t| t.contains(service)),
            "no {service} table holds the patient before the erasure: {holders:?}"
        );
    }

    let reply = api
        .call(
            &clinic_journeys::api::Call::new(reqwest::Method::DELETE, "/v1/me")
                .token(Some(&patient.access)),
        )
        .await;
    assert_eq!(reply.status, 204, "erasure: {}", reply.text);

    // Every service learns it through its subscription; nothing identifying is left anywhere.
    eventually("no table mentions the erased patient", || async {
        let items = every_item(&system.emulator_url).await;
        mentions(&items, &needles).is_empty()
    })
    .await;
    let after = every_item(&system.emulator_url).await;
    assert!(
        !mentions(&after, &["fica.aqui@example.com"]).is_empty(),
        "the other patient's data must stay"
    );

    // The clinical records stay, without the person: the doctor still sees the exam, with no
    // patient; the future appointment was cancelled and its place freed.
    let exam = api
        .get(&format!("/v1/exams/{done}"), Some(&doctor.access))
        .await;
    assert_eq!(exam.status, 200, "{}", exam.text);
    assert!(exam.body["patientId"].is_null(), "{}", exam.text);
    let cancelled = api
        .get(&format!("/v1/exams/{upcoming}"), Some(&staff.access))
        .await;
    assert_eq!(cancelled.body["status"], "CANCELLED", "{}", cancelled.text);
    // The erased account opens nothing and changes nothing.
    let reply = api
        .call(
            &clinic_journeys::api::Call::new(reqwest::Method::POST, "/v1/appointments")
                .token(Some(&patient.access))
                .header("idempotency-key", "erasure-after")
                .json(json!({"slotId": slots[1]})),
        )
        .await;
    assert_eq!(reply.status, 401, "{}", reply.text);
    let reply = api
        .post(
            "/v1/auth/token",
            None,
            json!({"username": email, "password": clinic_journeys::api::PATIENT_PASSWORD}),
        )
        .await;
    assert_eq!(reply.status, 401, "sign-in after erasure: {}", reply.text);
    drop(system);
}
