//! Integration tests of the notifications service against the emulator: events through a real
//! queue and the real consumer (DynamoDB, SES v2, SNS), messages read back from the emulator,
//! and the notification log through the API function's router.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use aws_lambda_events::event::sqs::SqsEvent;
use clinic_notifications::app::Settings;
use clinic_shared::envelope::{
    AccountCreated, AccountDeleted, AccountUpdated, Envelope, EventType, ExamCreated,
    ExamResultReady, ExamStatus, Language, Preferences, Role,
};
use clinic_shared::sqs_batch::ATTR_FAILURE_REASON;
use clinic_shared::sqs_batch::redrive::{dead_letter_queue_of, redrive};
use clinic_shared::testing::{emulator_config, unique};
use serde_json::{Value, json};
use support::*;

fn prefs(email: bool, sms: bool, language: Language) -> Preferences {
    Preferences {
        email,
        sms,
        language,
    }
}

fn account_updated(person: &Person, role: Role, preferences: Preferences) -> Envelope {
    envelope(
        AccountUpdated {
            account_id: person.id.clone(),
            role,
            email: person.email.clone(),
            phone: Some(person.phone.clone()),
            preferences,
        },
        &person.id,
    )
}

fn result_ready(patient: &Person) -> Envelope {
    envelope(
        ExamResultReady {
            exam_id: unique("exam"),
            patient_id: Some(patient.id.clone()),
            hospital_id: "h-1".into(),
            doctor_id: None,
            file_id: unique("file"),
        },
        "exam",
    )
}

fn booking(patient: &Person) -> Envelope {
    envelope(
        ExamCreated {
            exam_id: unique("exam"),
            patient_id: Some(patient.id.clone()),
            hospital_id: "h-1".into(),
            hospital_name: "Hospital Santa Clara".into(),
            exam_type: "Hemograma completo".into(),
            scheduled_at: jiff::Timestamp::from_second(1_742_477_400).unwrap(),
            doctor_id: None,
            status: ExamStatus::Scheduled,
        },
        "exam",
    )
}

fn failed_ids(response: &aws_lambda_events::event::sqs::SqsBatchResponse) -> Vec<String> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect()
}

/// Sets a field of the sample envelope's payload.
fn set(envelope: &mut Envelope, field: &str, value: impl Into<Value>) {
    envelope.data[field] = value.into();
}

#[tokio::test]
async fn each_event_type_sends_its_message() {
    let stack = Stack::new().await;

    // account.created → welcome, in the language of the event (pt-BR here), on both channels.
    let newcomer = Person::new();
    let mut created = sample_envelope("sqs-account-created.json");
    set(&mut created, "accountId", newcomer.id.as_str());
    set(&mut created, "email", newcomer.email.as_str());
    set(&mut created, "phone", newcomer.phone.as_str());

    // doctor.registered → first-access instructions to the address in the event (no contact yet).
    let doctor = Person::new();
    let mut registered = sample_envelope("sqs-doctor-registered.json");
    set(&mut registered, "accountId", doctor.id.as_str());
    set(&mut registered, "email", doctor.email.as_str());

    // Exam events for a patient whose contact is known (English, both channels).
    let patient = Person::new();
    let exam_event = |name: &str| {
        let mut e = sample_envelope(name);
        set(&mut e, "patientId", patient.id.as_str());
        e
    };
    // report.completed → the staff member who asked.
    let staff = Person::new();
    let mut report = sample_envelope("sqs-report-completed.json");
    set(&mut report, "requestedBy", staff.id.as_str());

    stack
        .deliver_ok(&[
            account_updated(&patient, Role::Patient, prefs(true, true, Language::En)),
            account_updated(&staff, Role::Staff, prefs(true, false, Language::En)),
        ])
        .await;
    stack
        .deliver_ok(&[
            created,
            registered,
            exam_event("sqs-exam-created.json"),
            exam_event("sqs-exam-updated-cancelled.json"),
            exam_event("sqs-exam-completed.json"),
            exam_event("sqs-exam-result-ready.json"),
            report,
        ])
        .await;

    let outbox = Outbox::read().await;
    let subjects = |address: &str| -> Vec<String> {
        outbox
            .emails_to(address)
            .iter()
            .map(|m| m.subject.clone())
            .collect()
    };
    assert_eq!(subjects(&newcomer.email), vec!["Boas-vindas à Clinic"]);
    let welcome_sms = outbox.sms_to(&newcomer.phone);
    assert_eq!(welcome_sms.len(), 1);
    assert!(
        welcome_sms[0]
            .message
            .starts_with("Clinic: sua conta foi criada")
    );

    assert_eq!(
        subjects(&doctor.email),
        vec!["Seu primeiro acesso à Clinic"]
    );
    assert!(outbox.sms_to(&doctor.phone).is_empty());

    // 2025-03-20T13:30Z is 10:30 in Brasília.
    assert_eq!(
        subjects(&patient.email),
        vec![
            "Appointment confirmed for 20 Mar 2025 at 10:30",
            "Appointment cancelled: 20 Mar 2025 at 10:30",
            "Your exam has been performed",
            "A result is available in the portal",
        ]
    );
    let patient_sms: Vec<&str> = outbox
        .sms_to(&patient.phone)
        .iter()
        .map(|m| m.message.as_str())
        .collect();
    assert_eq!(patient_sms.len(), 4, "{patient_sms:?}");
    assert!(patient_sms[0].contains("Hospital Santa Clara, 20 Mar 2025 at 10:30"));
    assert!(patient_sms[3].contains(&format!("{PORTAL}/exams")));

    // Sent from the configured sender, as HTML in the patient's language with the portal link,
    // and never with the exam type or anything about the result.
    for email in outbox.emails_to(&patient.email) {
        assert_eq!(email.source, stack.config.sender_email);
        assert!(email.body.contains("<html lang=\"en\">"));
        assert!(email.body.contains(&format!("href=\"{PORTAL}/exams\"")));
        assert!(!email.body.contains("Hemograma"));
    }
    for sms in &patient_sms {
        assert!(!sms.contains("Hemograma"));
    }

    assert_eq!(subjects(&staff.email), vec!["Your report is ready"]);
    assert!(
        outbox.sms_to(&staff.phone).is_empty(),
        "staff opted out of SMS"
    );
}

#[tokio::test]
async fn the_sample_events_run_as_lambda_delivers_them() {
    let stack = Stack::new().await;
    let names = [
        "sqs-account-created.json",
        "sqs-account-updated.json",
        "sqs-doctor-registered.json",
        "sqs-exam-created.json",
        "sqs-exam-updated-cancelled.json",
        "sqs-exam-completed.json",
        "sqs-exam-result-ready.json",
        "sqs-report-completed.json",
    ];
    for name in names {
        let event: SqsEvent = serde_json::from_value(sample(name)).expect("an SQS event");
        let response = stack.processor.process(&stack.consumer, event).await;
        assert!(response.batch_item_failures.is_empty(), "{name}");
    }
    // The sample patient (the subject of the sample token) sees what was sent to them: the
    // welcome on both channels, then e-mail only (the update turned SMS off).
    let reply = stack.call(sample("me-notifications-get.json")).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let items = reply.body["items"].as_array().cloned().unwrap_or_default();
    let seen: Vec<(String, String, String)> = items
        .iter()
        .map(|i| {
            (
                i["template"].as_str().unwrap_or_default().to_string(),
                i["channel"].as_str().unwrap_or_default().to_string(),
                i["status"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let expected: Vec<(String, String, String)> = [
        ("result_ready", "EMAIL"),
        ("exam_completed", "EMAIL"),
        ("booking_cancelled", "EMAIL"),
        ("booking_confirmed", "EMAIL"),
        ("welcome", "SMS"),
        ("welcome", "EMAIL"),
    ]
    .into_iter()
    .map(|(t, c)| (t.to_string(), c.to_string(), "SENT".to_string()))
    .collect();
    assert_eq!(seen, expected);
    assert_eq!(reply.body["items"][0]["eventType"], "exam.result.ready");

    // The staff member of the sample report has no contact here: after the wait, skipped.
    let staff = "6e2b1d3c-7a8f-4b9e-8c1d-2e3f4a5b6c7d";
    let staff_log = stack.my_notifications(staff).await;
    assert_eq!(staff_log.len(), 2);
    assert!(
        staff_log
            .iter()
            .all(|i| i["status"] == "SKIPPED" && i["reason"] == "NO_CONTACT")
    );

    // account.deleted erases the contact and the log.
    let event: SqsEvent =
        serde_json::from_value(sample("sqs-account-deleted.json")).expect("an SQS event");
    let response = stack.processor.process(&stack.consumer, event).await;
    assert!(response.batch_item_failures.is_empty());
    let reply = stack.call(sample("me-notifications-get.json")).await;
    assert_eq!(reply.body["items"], json!([]));
}

#[tokio::test]
async fn duplicate_delivery_sends_one_message_per_channel() {
    let stack = Stack::new().await;
    let patient = Person::new();
    stack
        .deliver_ok(&[account_updated(
            &patient,
            Role::Patient,
            prefs(true, true, Language::PtBr),
        )])
        .await;
    let event = result_ready(&patient);
    // Twice in one batch (SNS retried the publish), then once more later (SQS redelivered).
    let first = stack.deliver(&[event.clone(), event.clone()]).await;
    assert!(first.batch_item_failures.is_empty());
    let again = stack.deliver(&[event]).await;
    assert!(again.batch_item_failures.is_empty());

    let outbox = Outbox::read().await;
    assert_eq!(outbox.emails_to(&patient.email).len(), 1);
    assert_eq!(outbox.sms_to(&patient.phone).len(), 1);
    assert_eq!(stack.my_notifications(&patient.id).await.len(), 2);
}

#[tokio::test]
async fn an_sms_opt_out_gets_email_but_no_sms() {
    let stack = Stack::new().await;
    let patient = Person::new();
    stack
        .deliver_ok(&[
            account_updated(&patient, Role::Patient, prefs(true, false, Language::PtBr)),
            result_ready(&patient),
        ])
        .await;
    let outbox = Outbox::read().await;
    let emails = outbox.emails_to(&patient.email);
    assert_eq!(emails.len(), 1);
    assert_eq!(emails[0].subject, "Há um resultado disponível no portal");
    assert!(outbox.sms_to(&patient.phone).is_empty());
    let log = stack.my_notifications(&patient.id).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["channel"], "EMAIL");
}

#[tokio::test]
async fn an_unknown_language_falls_back_to_portuguese() {
    let stack = Stack::new().await;
    let person = Person::new();
    let mut created = envelope(
        AccountCreated {
            account_id: person.id.clone(),
            role: Role::Patient,
            email: person.email.clone(),
            phone: Some(person.phone.clone()),
            preferences: prefs(true, true, Language::En),
        },
        &person.id,
    );
    created.data["preferences"]["language"] = json!("fr");
    stack.deliver_ok(&[created]).await;
    let outbox = Outbox::read().await;
    let emails = outbox.emails_to(&person.email);
    assert_eq!(emails.len(), 1);
    assert_eq!(emails[0].subject, "Boas-vindas à Clinic");
    assert!(emails[0].body.contains("<html lang=\"pt-BR\">"));
    assert!(
        outbox.sms_to(&person.phone)[0]
            .message
            .contains("sua conta foi criada")
    );
}

#[tokio::test]
async fn a_provider_failure_on_one_record_of_ten_retries_only_that_record() {
    let stack = Stack::new().await;
    let patients: Vec<Person> = (0..10).map(|_| Person::new()).collect();
    let contacts: Vec<Envelope> = patients
        .iter()
        .map(|p| account_updated(p, Role::Patient, prefs(true, true, Language::PtBr)))
        .collect();
    assert!(
        stack
            .deliver(&contacts)
            .await
            .batch_item_failures
            .is_empty()
    );

    let unlucky = &patients[3];
    let consumer = stack.consumer_with_sms(FlakySms::new(&stack, &unlucky.phone, 1));
    let bookings: Vec<Envelope> = patients.iter().map(booking).collect();
    stack.enqueue(&bookings).await;
    let batch = stack.receive(10, Duration::from_secs(10)).await;
    assert_eq!(batch.records.len(), 10);
    let unlucky_message = batch
        .records
        .iter()
        .find(|r| r.body.as_deref().is_some_and(|b| b.contains(&unlucky.id)))
        .and_then(|r| r.message_id.clone())
        .expect("the unlucky patient's record");
    let response = stack.run(&consumer, batch).await;
    assert_eq!(failed_ids(&response), vec![unlucky_message.clone()]);

    // The failed record comes back after the 1 s backoff (not the queue's 30 s visibility
    // timeout) and succeeds; its e-mail, sent the first time, is not sent again.
    let retry = stack.receive(1, Duration::from_secs(6)).await;
    assert_eq!(retry.records.len(), 1, "redelivered after the backoff");
    assert_eq!(
        retry.records[0].message_id.as_deref(),
        Some(unlucky_message.as_str())
    );
    assert_eq!(retry.records[0].attributes["ApproximateReceiveCount"], "2");
    assert!(
        stack
            .run(&consumer, retry)
            .await
            .batch_item_failures
            .is_empty()
    );

    let outbox = Outbox::read().await;
    for patient in &patients {
        assert_eq!(outbox.emails_to(&patient.email).len(), 1, "one e-mail each");
        assert_eq!(outbox.sms_to(&patient.phone).len(), 1, "one SMS each");
    }
    let sms = consumer.notifier().sms_sender();
    assert_eq!(sms.attempts.load(std::sync::atomic::Ordering::SeqCst), 2);
}

#[tokio::test]
async fn permanent_failures_are_recorded_failed_and_not_retried() {
    // The sender is not verified in SES (MessageRejected) and the phone number is one SNS
    // refuses (InvalidParameter: E.164 numbers do not start with 0).
    let stack = Stack::with(Settings::default(), false).await;
    let mut patient = Person::new();
    patient.phone = "+0119876543".into();
    stack
        .deliver_ok(&[account_updated(
            &patient,
            Role::Patient,
            prefs(true, true, Language::PtBr),
        )])
        .await;
    let event = result_ready(&patient);
    let response = stack.deliver(std::slice::from_ref(&event)).await;
    assert!(response.batch_item_failures.is_empty(), "not retried");
    assert!(stack.dlq_messages().await.is_empty(), "not parked either");

    let mut log = stack.my_notifications(&patient.id).await;
    log.sort_by_key(|i| i["channel"].as_str().unwrap_or_default().to_string());
    assert_eq!(log.len(), 2);
    assert_eq!(log[0]["channel"], "EMAIL");
    assert_eq!(log[0]["status"], "FAILED");
    assert_eq!(log[0]["reason"], "MessageRejected");
    assert_eq!(log[1]["channel"], "SMS");
    assert_eq!(log[1]["status"], "FAILED");
    assert_eq!(log[1]["reason"], "InvalidParameter");

    // Delivered again, nothing is attempted again.
    assert!(stack.deliver(&[event]).await.batch_item_failures.is_empty());
    assert_eq!(stack.my_notifications(&patient.id).await.len(), 2);
    let outbox = Outbox::read().await;
    assert!(outbox.emails_to(&patient.email).is_empty());
}

#[tokio::test]
async fn the_hourly_sms_limit_holds_back_the_excess_and_records_it() {
    let stack = Stack::with(
        Settings {
            sms_limit_per_hour: 2,
            ..Settings::default()
        },
        true,
    )
    .await;
    let patient = Person::new();
    stack
        .deliver_ok(&[account_updated(
            &patient,
            Role::Patient,
            prefs(true, true, Language::PtBr),
        )])
        .await;
    let events: Vec<Envelope> = (0..3).map(|_| result_ready(&patient)).collect();
    for event in &events {
        stack.deliver_ok(std::slice::from_ref(event)).await;
    }
    let outbox = Outbox::read().await;
    assert_eq!(outbox.sms_to(&patient.phone).len(), 2);
    assert_eq!(outbox.emails_to(&patient.email).len(), 3);
    let log = stack.my_notifications(&patient.id).await;
    let held: Vec<&Value> = log
        .iter()
        .filter(|i| i["status"] == "RATE_LIMITED")
        .collect();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0]["channel"], "SMS");
    assert_eq!(held[0]["reason"], "at most 2 per hour");
    assert_eq!(held[0]["eventId"], events[2].id.as_str());
}

#[tokio::test]
async fn a_notification_ahead_of_its_contact_is_retried_after_a_backoff() {
    // A generous wait, so a slow machine cannot turn the retry into a skip.
    let stack = Stack::with(
        Settings {
            contact_wait: Duration::from_secs(60),
            ..Settings::default()
        },
        true,
    )
    .await;
    let patient = Person::new();
    let response = stack.deliver(&[result_ready(&patient)]).await;
    assert_eq!(
        response.batch_item_failures.len(),
        1,
        "contact not known yet"
    );

    // The account event arrives (handled directly, so that the queue holds only the retry);
    // the retry, back after 1 s, sends.
    stack
        .consumer
        .notifier()
        .handle(&account_updated(
            &patient,
            Role::Patient,
            prefs(true, false, Language::PtBr),
        ))
        .await
        .expect("contact projected");
    let retry = stack.receive(1, Duration::from_secs(6)).await;
    assert_eq!(retry.records.len(), 1);
    assert!(
        stack
            .run(&stack.consumer, retry)
            .await
            .batch_item_failures
            .is_empty()
    );
    let outbox = Outbox::read().await;
    assert_eq!(outbox.emails_to(&patient.email).len(), 1);
}

#[tokio::test]
async fn account_deletion_erases_contact_and_log_and_nothing_brings_them_back() {
    let stack = Stack::new().await;
    let patient = Person::new();
    let first_update = account_updated(&patient, Role::Patient, prefs(true, true, Language::PtBr));
    stack
        .deliver_ok(&[first_update.clone(), result_ready(&patient)])
        .await;
    assert_eq!(stack.my_notifications(&patient.id).await.len(), 2);

    let deleted = envelope(
        AccountDeleted {
            account_id: patient.id.clone(),
            role: Role::Patient,
        },
        &patient.id,
    );
    stack.deliver_ok(&[deleted]).await;
    assert!(stack.my_notifications(&patient.id).await.is_empty());

    // A late update (newer than the deletion, even) and a new exam event change nothing.
    let late = account_updated(&patient, Role::Patient, prefs(true, true, Language::En));
    stack.deliver_ok(&[late, result_ready(&patient)]).await;
    assert!(stack.my_notifications(&patient.id).await.is_empty());
    let outbox = Outbox::read().await;
    assert_eq!(outbox.emails_to(&patient.email).len(), 1);
    assert_eq!(outbox.sms_to(&patient.phone).len(), 1);
}

#[tokio::test]
async fn a_payload_that_breaks_the_contract_is_parked_and_can_be_redriven() {
    let stack = Stack::new().await;
    let patient = Person::new();
    let mut broken = result_ready(&patient);
    broken.data = json!({"examId": 42});
    let response = stack.deliver(&[broken.clone()]).await;
    assert!(
        response.batch_item_failures.is_empty(),
        "parked, not retried"
    );
    let parked = stack.dlq_messages().await;
    assert_eq!(parked.len(), 1);
    let reason = parked[0]
        .message_attributes()
        .and_then(|a| a.get(ATTR_FAILURE_REASON))
        .and_then(|v| v.string_value())
        .unwrap_or_default()
        .to_string();
    assert!(reason.contains("exam.result.ready"), "{reason}");

    // The operator moves it back; it arrives with its attributes, as the processor expects.
    assert_eq!(
        dead_letter_queue_of(&stack.sqs, &stack.queue_url).await,
        Ok(stack.dlq_url.clone()),
        "the DLQ is found from the queue's redrive policy"
    );
    let report = redrive(&stack.sqs, &stack.dlq_url, &stack.queue_url, None)
        .await
        .expect("redrive");
    assert_eq!(report.moved, 1);
    assert_eq!(report.failed, 0);
    assert!(stack.dlq_messages().await.is_empty());
    let back = stack.receive(1, Duration::from_secs(5)).await;
    assert_eq!(back.records.len(), 1);
    assert_eq!(
        back.records[0].body.as_deref().map(Envelope::parse),
        Some(Ok(broken))
    );
    assert!(
        back.records[0]
            .message_attributes
            .contains_key(ATTR_FAILURE_REASON)
    );
}

#[tokio::test]
async fn the_callers_log_only_newest_first_and_paginated() {
    let stack = Stack::new().await;
    let ana = Person::new();
    let bruno = Person::new();
    stack
        .deliver_ok(&[
            account_updated(&ana, Role::Patient, prefs(true, false, Language::PtBr)),
            account_updated(&bruno, Role::Patient, prefs(true, false, Language::PtBr)),
        ])
        .await;
    let first = booking(&ana);
    let mut second = result_ready(&ana);
    second.time = first
        .time
        .checked_add(jiff::SignedDuration::from_secs(1))
        .expect("time");
    stack
        .deliver_ok(&[first.clone(), second.clone(), result_ready(&bruno)])
        .await;

    let log = stack.my_notifications(&ana.id).await;
    let events: Vec<&str> = log.iter().filter_map(|i| i["eventId"].as_str()).collect();
    assert_eq!(events, vec![second.id.as_str(), first.id.as_str()]);
    assert_eq!(log[0]["template"], "result_ready");
    assert_eq!(log[0]["channel"], "EMAIL");
    assert_eq!(log[0]["status"], "SENT");
    assert_eq!(log[0]["eventType"], "exam.result.ready");
    assert!(log[0]["time"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert!(log[0].get("reason").is_none());
    // Nothing of the message itself.
    let fields: BTreeSet<&str> = log[0]
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    assert_eq!(
        fields,
        BTreeSet::from([
            "channel",
            "eventId",
            "eventTime",
            "eventType",
            "status",
            "template",
            "time"
        ])
    );

    // Page by page.
    let page = stack
        .call(list_event(&patient_claims(&ana.id), Some("limit=1")))
        .await;
    assert_eq!(page.status, 200);
    assert_eq!(page.body["items"][0]["eventId"], second.id.as_str());
    let cursor = page.body["nextCursor"]
        .as_str()
        .expect("a next page")
        .to_string();
    let next = stack
        .call(list_event(
            &patient_claims(&ana.id),
            Some(&format!("limit=1&cursor={cursor}")),
        ))
        .await;
    assert_eq!(next.status, 200, "{:?}", next.body);
    assert_eq!(next.body["items"][0]["eventId"], first.id.as_str());

    // Bruno sees only his own, and cannot use Ana's cursor to read hers.
    let bruno_log = stack.my_notifications(&bruno.id).await;
    assert_eq!(bruno_log.len(), 1);
    let forged = stack
        .call(list_event(
            &patient_claims(&bruno.id),
            Some(&format!("limit=1&cursor={cursor}")),
        ))
        .await;
    assert_eq!(forged.status, 400);
    assert_eq!(forged.body["errors"][0]["field"], "cursor");
}

#[tokio::test]
async fn the_log_needs_a_token_and_valid_paging() {
    let stack = Stack::new().await;
    let mut anonymous = list_event(&patient_claims("x"), None);
    if let Some(ctx) = anonymous["requestContext"].as_object_mut() {
        ctx.remove("authorizer");
    }
    let reply = stack.call(anonymous).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.body["code"], "UNAUTHORIZED");

    for query in ["limit=0", "limit=201", "limit=ten", "cursor=not-a-cursor"] {
        let reply = stack
            .call(list_event(&patient_claims("someone"), Some(query)))
            .await;
        assert_eq!(reply.status, 400, "{query}");
        assert_eq!(reply.body["code"], "VALIDATION_FAILED", "{query}");
    }

    // Any signed-in role has a log (staff get report notices); a new one is empty.
    let mut staff = patient_claims("staff-1");
    staff.insert("cognito:groups".into(), "[staff]".into());
    let reply = stack.call(list_event(&staff, None)).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, json!({"items": [], "nextCursor": null}));
}

/// The filter policies written in template.yaml, applied by the emulator's SNS: exactly the
/// event types the consumer uses reach its queue.
#[tokio::test]
async fn the_template_subscriptions_deliver_exactly_the_consumed_types() {
    let template: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(
            std::path::PathBuf::from(
                std::env::var("CARGO_MANIFEST_DIR")
                    .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string()),
            )
            .join("../../template.yaml"),
        )
        .expect("template.yaml"),
    )
    .expect("template is YAML");
    let policy = |subscription: &str| -> String {
        let properties = &template["Resources"][subscription]["Properties"];
        assert_eq!(
            properties["RawMessageDelivery"],
            serde_yaml::Value::Bool(true)
        );
        let policy: Value = serde_json::to_value(&properties["FilterPolicy"]).expect("policy");
        policy.to_string()
    };
    let sdk = emulator_config().await;
    let sns = aws_sdk_sns::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let (queue_url, queue_arn) = create_queue(&sqs, &unique("notifications-filter"), None).await;
    let mut topics = Vec::new();
    for (subscription, topic) in [
        ("NotificationsAccountsEventsSubscription", "accounts-events"),
        ("NotificationsExamEventsSubscription", "exam-events"),
        ("NotificationsFileEventsSubscription", "file-events"),
    ] {
        let arn = sns
            .create_topic()
            .name(unique(topic))
            .send()
            .await
            .expect("topic")
            .topic_arn
            .expect("topic arn");
        sns.subscribe()
            .topic_arn(&arn)
            .protocol("sqs")
            .endpoint(&queue_arn)
            .attributes("RawMessageDelivery", "true")
            .attributes("FilterPolicy", policy(subscription))
            .send()
            .await
            .expect("subscribe");
        topics.push((topic, arn));
    }
    let topic_of = |t: EventType| {
        let name = t.as_str();
        let topic = if name.starts_with("account.") || name.ends_with(".registered") {
            "accounts-events"
        } else if name.starts_with("exam.") {
            "exam-events"
        } else {
            "file-events"
        };
        topics
            .iter()
            .find(|(n, _)| *n == topic)
            .map(|(_, arn)| arn.clone())
            .expect("topic")
    };
    for event_type in EventType::ALL {
        let body = json!({"id": ulid::Ulid::new().to_string(), "type": event_type.as_str()});
        sns.publish()
            .topic_arn(topic_of(event_type))
            .message(body.to_string())
            .message_attributes(
                "type",
                aws_sdk_sns::types::MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value(event_type.as_str())
                    .build()
                    .expect("attribute"),
            )
            .message_attributes(
                "source",
                aws_sdk_sns::types::MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value("clinic.test")
                    .build()
                    .expect("attribute"),
            )
            .send()
            .await
            .expect("publish");
    }
    let mut received = BTreeSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while tokio::time::Instant::now() < deadline {
        let out = sqs
            .receive_message()
            .queue_url(&queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive");
        for message in out.messages() {
            let body: Value =
                serde_json::from_str(message.body().unwrap_or("{}")).unwrap_or_default();
            received.insert(body["type"].as_str().unwrap_or_default().to_string());
            if let Some(handle) = message.receipt_handle() {
                let _ = sqs
                    .delete_message()
                    .queue_url(&queue_url)
                    .receipt_handle(handle)
                    .send()
                    .await;
            }
        }
        if received.len() >= 10 {
            break;
        }
    }
    let expected: BTreeSet<String> = [
        "account.created",
        "account.updated",
        "account.deleted",
        "account.signup_repeated",
        "doctor.registered",
        "exam.created",
        "exam.updated",
        "exam.completed",
        "exam.result.ready",
        "report.completed",
    ]
    .into_iter()
    .map(str::to_string)
    .collect();
    assert_eq!(received, expected);
}
