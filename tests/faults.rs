//! Faults during a journey lose nothing that was accepted.
//!
//! 1. **Providers failing for a while**: the emulator refuses every e-mail (SES `SendEmail`) and
//!    text message (SNS `Publish` to a phone) with a throttling error while patients book; each
//!    booking's confirmation must still reach the patient by e-mail and SMS once the providers
//!    answer again (the consumer retries the record; nothing ends in a DLQ).
//! 2. **A poison message**: bodies no consumer can read are parked in the DLQ at once, each with
//!    a `failureReason` (not retried, not dropped).
//! 3. **The emulator killed and restarted** under the runner: everything it held is gone, so
//!    "lost" is measured from what is accepted afterwards — while the runner provisions again,
//!    a patient keeps trying to sign up; once a sign-up is accepted, the account must work and
//!    its booking be confirmed by e-mail and SMS.
//!
//! Prints `faults injected / operations / lost`; lost must be 0.

mod bus;

use std::time::{Duration, Instant};

use bus::Bus;
use clinic_journeys::api::{Api, STAFF_EMAIL, STAFF_PASSWORD, cpf};
use clinic_journeys::local_system::{LocalSystem, bin_dir};
use clinic_journeys::root;
use serde_json::{Value, json};

const PASSWORD: &str = "Passw0rdOk";

/// Signs a patient up with e-mail and SMS notifications; `None` unless the sign-up is accepted
/// (refused, or no answer: the runner may be provisioning again).
async fn sign_up(api: &Api, email: &str, cpf: &str, phone: &str) -> Option<()> {
    let response = api
        .http
        .post(format!("{}/v1/accounts/patients", api.base))
        .json(
            &json!({"email": email, "password": PASSWORD, "name": "Ana Falha", "cpf": cpf,
                   "birthDate": "1990-04-12", "phone": phone,
                   "preferences": {"email": true, "sms": true, "language": "pt-BR"}}),
        )
        .send()
        .await
        .ok()?;
    (response.status().as_u16() == 202).then_some(())
}

async fn confirm(api: &Api, email: &str) -> String {
    let reply = api
        .post(
            "/v1/accounts/confirm",
            None,
            json!({"email": email, "code": "123456", "password": PASSWORD}),
        )
        .await;
    assert_eq!(reply.status, 204, "confirmation of {email}: {}", reply.text);
    api.sign_in(email, PASSWORD).await.access
}

/// E-mails to `email` and SMS to `phone` the emulator has sent.
async fn delivered(emulator: &str, email: &str, phone: &str) -> (usize, usize) {
    let Ok(response) = reqwest::get(format!("{emulator}/moto-api/data.json")).await else {
        return (0, 0);
    };
    let data: Value = response.json().await.unwrap_or(Value::Null);
    let mails = data["ses"]["Message"].as_array().map_or(0, |m| {
        m.iter()
            .filter(|m| {
                m["destinations"]["ToAddresses"]
                    .as_array()
                    .is_some_and(|to| to.iter().any(|a| a == email))
            })
            .count()
    });
    let texts = data["sns"]["SMS"].as_array().map_or(0, |m| {
        m.iter().filter(|m| m["phone_number"] == phone).count()
    });
    (mails, texts)
}

/// What each `(email, phone)` has received so far: `(e-mails, SMS)`.
async fn received(emulator: &str, people: &[(String, String)]) -> Vec<(usize, usize)> {
    let mut counts = Vec::new();
    for (email, phone) in people {
        counts.push(delivered(emulator, email, phone).await);
    }
    counts
}

/// Waits up to `within` for one more e-mail and SMS to each `(email, phone)` than `before`;
/// returns those that never came, and how many came more than once.
async fn confirmations(
    emulator: &str,
    people: &[(String, String)],
    before: &[(usize, usize)],
    within: Duration,
) -> (Vec<String>, usize) {
    let deadline = Instant::now() + within;
    loop {
        let mut missing = Vec::new();
        let mut repeated = 0;
        for ((email, phone), (mails_before, texts_before)) in people.iter().zip(before) {
            let (mails, texts) = delivered(emulator, email, phone).await;
            let (mails, texts) = (mails - mails_before, texts - texts_before);
            if mails == 0 {
                missing.push(format!("e-mail to {email}"));
            }
            if texts == 0 {
                missing.push(format!("SMS to {phone}"));
            }
            repeated += mails.saturating_sub(1) + texts.saturating_sub(1);
        }
        if missing.is_empty() || Instant::now() >= deadline {
            return (missing, repeated);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Staff, a hospital and one slot of `places`; returns the staff token and the slot id.
async fn clinic(api: &Api, cnes: &str, places: usize) -> String {
    let staff = api.sign_in(STAFF_EMAIL, STAFF_PASSWORD).await;
    let hospital = api
        .hospital(&staff.access, &format!("Hospital Falha {cnes}"), cnes)
        .await;
    let slots = api
        .publish_slots(
            &staff.access,
            &hospital.id,
            json!([{"examType": "raio-x", "start": "2031-10-01T10:00:00Z", "end": "2031-10-01T10:30:00Z", "capacity": places}]),
        )
        .await;
    slots[0].clone()
}

#[tokio::test]
async fn faults_during_a_journey_lose_nothing_accepted() {
    let mut system = LocalSystem::start(&root().join("template.yaml"), &bin_dir(), &[]).await;
    let api = Api::of(&system);
    let mut operations = 0;
    let mut lost = Vec::new();

    // 1. Providers throttled while patients book.
    let slot = clinic(&api, "2000501", 3).await;
    let mut people = Vec::new();
    let mut tokens = Vec::new();
    for i in 0..3u64 {
        let email = format!("falha.{i}@example.com");
        let phone = format!("+55119800000{i:02}");
        sign_up(&api, &email, &cpf(510_000_000 + i), &phone)
            .await
            .expect("sign-up");
        tokens.push(confirm(&api, &email).await);
        people.push((email, phone));
    }
    let bus = Bus::new(&system.emulator_url).await;
    // Sign-ups send their own messages: count from when they are done.
    bus.settle().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = received(&system.emulator_url, &people).await;
    system.inject_faults(
        &["sesv2:SendEmail", "sns:Publish:sms"],
        Duration::from_secs(5),
    );
    for (i, token) in tokens.iter().enumerate() {
        api.book(token, &slot, &format!("faults-booking-{i}")).await;
        operations += 1;
    }
    let (missing, repeated) = confirmations(
        &system.emulator_url,
        &people,
        &before,
        Duration::from_secs(45),
    )
    .await;
    let throttled: usize = system.faults_injected().values().sum();
    assert!(
        throttled > 0,
        "no request was refused: the fault was not injected ({:?})",
        system.faults_injected()
    );
    println!(
        "providers throttled 5 s: {throttled} requests refused; {} bookings, {} confirmations missing, {repeated} sent twice",
        people.len(),
        missing.len()
    );
    lost.extend(missing);
    bus.settle().await;
    let dead = bus.dead_letters().await;
    assert!(
        dead.values().all(|n| *n == 0),
        "a throttled notification ended in a DLQ: {dead:?}"
    );

    // 2. Poison messages: parked at once, with a reason.
    let queue = bus.queue("clinic-local-NotificationsQueue").await;
    let dlq = bus.queue("clinic-local-NotificationsDeadLetterQueue").await;
    let poison = [
        "not JSON at all".to_string(),
        json!({"id": "01POISON", "type": "exam.unknown", "version": 1}).to_string(),
        json!({"id": "01POISON2", "type": "account.created", "version": 99, "data": {}})
            .to_string(),
    ];
    for body in &poison {
        bus.sqs
            .send_message()
            .queue_url(&queue)
            .message_body(body)
            .send()
            .await
            .expect("poison message");
        operations += 1;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut parked = Vec::new();
    while parked.len() < poison.len() && Instant::now() < deadline {
        for tapped in bus.drain(&dlq).await {
            parked.push(tapped);
        }
    }
    for body in &poison {
        match parked.iter().find(|p| &p.body == body) {
            Some(p) if p.attributes.contains("failureReason=") => {}
            Some(p) => lost.push(format!(
                "parked without a reason: {body} ({})",
                p.attributes
            )),
            None => lost.push(format!("poison message not parked: {body}")),
        }
    }
    println!(
        "poison messages: {} sent, {} parked with a reason",
        poison.len(),
        parked
            .iter()
            .filter(|p| p.attributes.contains("failureReason="))
            .count()
    );

    // 3. The emulator killed and restarted under the runner, in the middle of a sign-up.
    system.restart_emulator().await;
    let email = "falha.restart@example.com".to_string();
    let phone = "+5511980000099".to_string();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut refused = 0;
    loop {
        // Refusals while the runner provisions again are fine; an accepted sign-up must hold.
        if sign_up(&api, &email, &cpf(519_999_999), &phone)
            .await
            .is_some()
        {
            break;
        }
        refused += 1;
        assert!(
            Instant::now() < deadline,
            "no sign-up accepted after the restart"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    operations += 1;
    while !system.output().contains("Clinic is running again") {
        assert!(
            Instant::now() < deadline,
            "the runner did not provision the restarted emulator"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    system.wait_healthy().await;
    let api = Api::of(&system);
    let token = confirm(&api, &email).await;
    let slot = clinic(&api, "2000502", 1).await;
    let person = [(email.clone(), phone.clone())];
    let bus = Bus::new(&system.emulator_url).await;
    bus.settle().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = received(&system.emulator_url, &person).await;
    api.book(&token, &slot, "faults-after-restart").await;
    operations += 1;
    let (missing, _) = confirmations(
        &system.emulator_url,
        &person,
        &before,
        Duration::from_secs(45),
    )
    .await;
    println!(
        "emulator restarted: {refused} sign-ups refused while the runner provisioned again, then accepted; {} confirmations missing",
        missing.len()
    );
    lost.extend(missing);

    let injected = throttled + poison.len() + 1;
    println!(
        "faults injected / operations / lost: {injected} / {operations} / {}",
        lost.len()
    );
    assert!(lost.is_empty(), "lost:\n{}", lost.join("\n"));
    drop(system);
}
