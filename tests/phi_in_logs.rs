//! No personal or health data in logs or messages (LGPD).
//!
//! A whole journey with a patient whose every identifier is distinctive: sign-up with name, CPF,
//! e-mail, phone and birth date; a hospital pushes an exam for that CPF with an exam type; the
//! patient books a slot of that type; a doctor collects, completes and uploads the result; the
//! patient downloads it and is notified by e-mail and SMS. Then every line the runner printed
//! (every function's log and the runner's own), every message published on the event topics
//! (body and attributes, through tap queues), every dead-letter entry, and every e-mail or SMS
//! sent to someone else are searched for each identifier.
//!
//! Allowed, by contract (`shared/src/envelope.rs`), and nowhere else:
//! - `account.created` / `account.updated` carry the person's e-mail and phone: the notifications
//!   service keeps them to reach the person (its contact projection);
//! - `exam.created` / `exam.updated` carry the exam type: scheduling data the file service keeps
//!   in its exam view (lists, staff reports), never results;
//! - e-mails and SMS to the patient themselves (their own address and phone) are not searched;
//! - the hospital's ingest queue is not searched: each message is one item of the hospital's
//!   batch (CPF, e-mail, exam type), the exam service's own work queue between accepting the batch
//!   and applying it (`IngestMessage`); it is not an event and no other service reads it.

mod bus;

use std::collections::BTreeMap;
use std::time::Duration;

use bus::Bus;
use clinic_file_management::domain::checks::sample_pdf;
use clinic_journeys::api::{Api, STAFF_EMAIL, STAFF_PASSWORD, cpf, eventually};
use clinic_journeys::local_system::{LocalSystem, bin_dir};
use clinic_journeys::root;
use serde_json::{Value, json};

const NAME: &str = "Marcela Quintanilha Vasconcelos";
const EMAIL: &str = "pessoa.sigilosa@example.com";
const PHONE: &str = "+5511976543218";
const BIRTH_DATE: &str = "1987-11-23";
const EXAM_TYPE: &str = "cintilografia-miocardica";
const PASSWORD: &str = "Passw0rdOk";

/// What must not appear, each under a label: `(label, needle)`, compared case-insensitively.
fn needles(cpf_digits: &str) -> Vec<(&'static str, String)> {
    let formatted = format!(
        "{}.{}.{}-{}",
        &cpf_digits[0..3],
        &cpf_digits[3..6],
        &cpf_digits[6..9],
        &cpf_digits[9..11]
    );
    let national = PHONE.trim_start_matches("+55").to_string();
    vec![
        ("name", NAME.to_string()),
        ("name", "Marcela".to_string()),
        ("name", "Quintanilha".to_string()),
        ("name", "Vasconcelos".to_string()),
        ("cpf", cpf_digits.to_string()),
        ("cpf", formatted),
        ("e-mail", EMAIL.to_string()),
        ("e-mail", EMAIL.replace('@', "%40")),
        ("e-mail", "pessoa.sigilosa".to_string()),
        ("phone", PHONE.to_string()),
        ("phone", national),
        ("birth date", BIRTH_DATE.to_string()),
        ("birth date", "23/11/1987".to_string()),
        ("exam type", EXAM_TYPE.to_string()),
        ("exam type", "cintilografia".to_string()),
    ]
}

/// Labels of the data an event of `kind` may carry by contract.
fn allowed_in_event(kind: &str) -> &'static [&'static str] {
    match kind {
        "account.created" | "account.updated" => &["e-mail", "phone"],
        "exam.created" | "exam.updated" => &["exam type"],
        _ => &[],
    }
}

/// The needles found in `text`: their labels.
fn found(text: &str, needles: &[(&'static str, String)]) -> Vec<&'static str> {
    let text = text.to_lowercase();
    let mut labels: Vec<&'static str> = needles
        .iter()
        .filter(|(_, needle)| text.contains(&needle.to_lowercase()))
        .map(|(label, _)| *label)
        .collect();
    labels.dedup();
    labels
}

fn excerpt(text: &str) -> String {
    text.chars().take(400).collect()
}

#[tokio::test]
async fn no_personal_or_health_data_in_logs_or_messages() {
    let system = LocalSystem::start(&root().join("template.yaml"), &bin_dir(), &[]).await;
    let api = Api::of(&system);
    let bus = Bus::new(&system.emulator_url).await;
    let taps = bus.tap_topics().await;
    let cpf_digits = cpf(398_271_654);

    // The journey.
    let staff = api.sign_in(STAFF_EMAIL, STAFF_PASSWORD).await;
    let hospital = api
        .hospital(&staff.access, "Hospital Sigilo", "2000401")
        .await;
    let doctor = api
        .doctor(&staff.access, "dr.sigilo@example.com", "200401")
        .await;
    let slots = api
        .publish_slots(
            &staff.access,
            &hospital.id,
            json!([{"examType": EXAM_TYPE, "start": "2031-09-01T10:00:00Z", "end": "2031-09-01T10:30:00Z", "capacity": 2}]),
        )
        .await;
    let reply = api
        .post(
            "/v1/accounts/patients",
            None,
            json!({"email": EMAIL, "password": PASSWORD, "name": NAME, "cpf": cpf_digits,
                   "birthDate": BIRTH_DATE, "phone": PHONE,
                   "preferences": {"email": true, "sms": true, "language": "pt-BR"}}),
        )
        .await;
    assert_eq!(reply.status, 202, "sign-up: {}", reply.text);
    let reply = api
        .post(
            "/v1/accounts/confirm",
            None,
            json!({"email": EMAIL, "code": "123456", "password": PASSWORD}),
        )
        .await;
    assert_eq!(reply.status, 204, "confirmation: {}", reply.text);
    let patient = api.sign_in(EMAIL, PASSWORD).await;
    // Paths that fail with the person's identifiers in the request: a wrong password, and a
    // second sign-up with the same e-mail and CPF (answered as usual; the owner is told).
    let reply = api
        .post(
            "/v1/auth/token",
            None,
            json!({"username": EMAIL, "password": "Wr0ngPassword"}),
        )
        .await;
    assert_eq!(reply.status, 401, "wrong password: {}", reply.text);
    let reply = api
        .post(
            "/v1/accounts/patients",
            None,
            json!({"email": EMAIL, "password": PASSWORD, "name": NAME, "cpf": cpf_digits,
                   "birthDate": BIRTH_DATE, "phone": PHONE,
                   "preferences": {"email": true, "sms": true, "language": "pt-BR"}}),
        )
        .await;
    assert_eq!(reply.status, 202, "repeated sign-up: {}", reply.text);
    let (_, items) = api
        .push_exams(
            &hospital.token,
            vec![
                json!({"externalId": "SIGILO-1", "version": 1, "patientCpf": cpf_digits,
                "patientEmail": EMAIL, "examType": EXAM_TYPE, "status": "SCHEDULED",
                "scheduledAt": "2031-09-02T09:00:00Z"}),
            ],
        )
        .await;
    assert_eq!(items[0]["state"], "APPLIED", "{items:?}");
    let exam = api.book(&patient.access, &slots[0], "sigilo-booking").await;
    let file = api
        .perform(
            &staff.access,
            &doctor,
            &patient.access,
            &exam,
            sample_pdf("Laudo sigiloso"),
        )
        .await;
    let reply = api
        .get(&format!("/v1/files/{file}/download"), Some(&patient.access))
        .await;
    assert_eq!(reply.status, 200, "download: {}", reply.text);
    let emulator = reqwest::Client::new();
    let data_url = format!("{}/moto-api/data.json", system.emulator_url);
    eventually(
        "the patient is told of the result by e-mail and SMS",
        || async {
            let data: Value = match emulator.get(&data_url).send().await {
                Ok(response) => response.json().await.unwrap_or(Value::Null),
                Err(_) => return false,
            };
            let mails = data["ses"]["Message"].as_array().map_or(0, |m| {
                m.iter().filter(|m| m.to_string().contains(EMAIL)).count()
            });
            let texts = data["sns"]["SMS"].as_array().map_or(0, |m| {
                m.iter().filter(|m| m["phone_number"] == PHONE).count()
            });
            // The booking's confirmation and the result, each by both channels.
            mails >= 2 && texts >= 2
        },
    )
    .await;
    bus.settle().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    bus.settle().await;

    // The search.
    let needles = needles(&cpf_digits);
    let mut violations = Vec::new();
    let mut allowed: BTreeMap<String, usize> = BTreeMap::new();

    let output = system.output();
    let lines = output.lines().count();
    for line in output.lines() {
        let hits = found(line, &needles);
        if !hits.is_empty() {
            violations.push(format!("runner output ({hits:?}): {}", excerpt(line)));
        }
    }

    let mut messages = 0;
    for url in taps.values() {
        for tapped in bus.drain(url).await {
            messages += 1;
            let permitted = allowed_in_event(&tapped.kind);
            for (place, text) in [("body", &tapped.body), ("attributes", &tapped.attributes)] {
                for label in found(text, &needles) {
                    if place == "body" && permitted.contains(&label) {
                        *allowed
                            .entry(format!("{label} in {}", tapped.kind))
                            .or_default() += 1;
                    } else {
                        violations.push(format!(
                            "{} {place} ({label}): {}",
                            tapped.kind,
                            excerpt(text)
                        ));
                    }
                }
            }
        }
    }

    let mut dead = 0;
    for url in bus.queues().await {
        if url.contains("DeadLetter") {
            for entry in bus.drain(&url).await {
                dead += 1;
                let hits = found(&format!("{} {}", entry.body, entry.attributes), &needles);
                if !hits.is_empty() {
                    violations.push(format!("DLQ {url} ({hits:?}): {}", excerpt(&entry.body)));
                }
            }
        }
    }

    // E-mails and SMS to anyone else (the doctor, staff) name nothing of the patient.
    let data: Value = emulator
        .get(&data_url)
        .send()
        .await
        .expect("emulator data")
        .json()
        .await
        .expect("emulator JSON");
    let mut others = 0;
    for mail in data["ses"]["Message"].as_array().into_iter().flatten() {
        let to_patient = mail["destinations"]["ToAddresses"]
            .as_array()
            .is_some_and(|to| to.iter().all(|a| a == EMAIL));
        if !to_patient {
            others += 1;
            let hits = found(&mail.to_string(), &needles);
            if !hits.is_empty() {
                violations.push(format!(
                    "e-mail to someone else ({hits:?}): {}",
                    excerpt(&mail.to_string())
                ));
            }
        }
    }
    for sms in data["sns"]["SMS"].as_array().into_iter().flatten() {
        if sms["phone_number"] != PHONE {
            others += 1;
            let hits = found(&sms.to_string(), &needles);
            if !hits.is_empty() {
                violations.push(format!(
                    "SMS to someone else ({hits:?}): {}",
                    excerpt(&sms.to_string())
                ));
            }
        }
    }

    println!(
        "searched {lines} runner lines, {messages} event messages, {dead} dead letters, {others} e-mails/SMS to others for {} identifiers: {} violations; allowed by contract: {allowed:?}",
        needles.len(),
        violations.len()
    );
    // The search sees what it looks for: the contact and the exam type travel where the contract
    // lets them, so a leak elsewhere would be found the same way.
    assert!(
        allowed.keys().any(|k| k.starts_with("e-mail in account."))
            && allowed.keys().any(|k| k.starts_with("exam type in exam.")),
        "the allowed places were not seen; is the search blind? {allowed:?}"
    );
    // Every service's log was read: each names the exam or the file by id.
    for id in [&exam, &file] {
        assert!(output.contains(id.as_str()), "{id} is in no log line");
    }
    assert!(lines > 100, "only {lines} lines of runner output");
    assert!(violations.is_empty(), "{}", violations.join("\n"));
    drop(system);
}
