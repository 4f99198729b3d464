//! The outbox relays keep up through the local runner whatever happened before: failed DynamoDB
//! transactions (the emulator then restores the whole table, stream included, from a snapshot),
//! a restart of the runner, the emulator restarted under it. Measured as users see it — a
//! hospital reaches the exam catalogue, a booking is confirmed — and as the runner sees it: the
//! time from the API's answer to the outbox function's invocation with the stream record.

use std::time::{Duration, Instant};

use clinic_journeys::local_system::{LocalSystem, bin_dir};
use clinic_journeys::root;
use serde_json::{Value, json};

const STAFF_EMAIL: &str = "staff@clinic.local";
const STAFF_PASSWORD: &str = "Clinic0Staff";

/// How soon a registered hospital must be in the catalogue.
const CATALOGUE_WITHIN: Duration = Duration::from_secs(5);

/// How soon after a write the outbox function must be invoked with its stream record.
const RELAY_WITHIN: Duration = Duration::from_secs(2);

struct Api {
    http: reqwest::Client,
    base: String,
    /// The seeded staff account's authenticator secret.
    staff_secret: String,
}

impl Api {
    fn new(system: &LocalSystem) -> Api {
        Api {
            http: reqwest::Client::new(),
            base: system.base_url.clone(),
            staff_secret: system.staff_secret(),
        }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        idempotency_key: Option<&str>,
    ) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(key) = idempotency_key {
            request = request.header("idempotency-key", key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, token, Some(body), None)
            .await
    }

    /// Signs in as a person would, answering the second factor staff need.
    async fn sign_in(&self, username: &str, password: &str) -> String {
        let secret = (username == STAFF_EMAIL).then_some(self.staff_secret.as_str());
        clinic_local::seed::sign_in(&self.http, &self.base, username, password, secret)
            .await
            .unwrap_or_else(|e| panic!("{username} signs in: {e}"))
            .access_token
    }

    async fn patient(&self, email: &str, cpf: &str) -> String {
        let (status, body) = self
            .post(
                "/v1/accounts/patients",
                None,
                json!({"email": email, "password": "Passw0rdOk", "name": "Ana Souza", "cpf": cpf,
                       "birthDate": "1990-04-12", "phone": "+5511987654321",
                       "preferences": {"email": true, "sms": false, "language": "pt-BR"}}),
            )
            .await;
        assert!(
            (200..=202).contains(&status),
            "sign-up answered {status}: {body}"
        );
        let (status, body) = self
            .post(
                "/v1/accounts/confirm",
                None,
                json!({"email": email, "code": "123456", "password": "Passw0rdOk"}),
            )
            .await;
        assert!((200..=204).contains(&status), "confirm: {status} {body}");
        self.sign_in(email, "Passw0rdOk").await
    }

    /// `POST /v1/hospitals`: the status, the body, when the request left and when the answer came.
    async fn register_hospital(
        &self,
        staff: &str,
        name: &str,
        cnes: &str,
    ) -> (u16, Value, Instant, Instant) {
        let sent = Instant::now();
        let (status, body) = self
            .post(
                "/v1/hospitals",
                Some(staff),
                json!({"name": name, "cnes": cnes}),
            )
            .await;
        (status, body, sent, Instant::now())
    }

    async fn put_slots(&self, staff: &str, hospital_id: &str, slots: Value) -> (u16, Value) {
        self.send(
            reqwest::Method::PUT,
            &format!("/v1/hospitals/{hospital_id}/slots"),
            Some(staff),
            Some(slots),
            None,
        )
        .await
    }

    async fn book(&self, patient: &str, slot_id: &str, key: &str) -> (u16, Value, Instant) {
        let (status, body) = self
            .send(
                reqwest::Method::POST,
                "/v1/appointments",
                Some(patient),
                Some(json!({"slotId": slot_id})),
                Some(key),
            )
            .await;
        (status, body, Instant::now())
    }

    async fn slot_ids(&self, token: &str, hospital_id: &str, day: &str) -> Vec<String> {
        let (status, open) = self
            .send(
                reqwest::Method::GET,
                &format!(
                    "/v1/slots?hospitalId={hospital_id}&from={day}T00:00:00Z&to={day}T23:59:59Z"
                ),
                Some(token),
                None,
                None,
            )
            .await;
        assert_eq!(status, 200, "{open}");
        open["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|s| s["id"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Waits until the exam catalogue knows `hospital_id` (its slots can be set); how long after
/// `since` that was. Fails after [`CATALOGUE_WITHIN`].
async fn reaches_catalogue(api: &Api, staff: &str, hospital_id: &str, since: Instant) -> Duration {
    let slot = json!([{"examType": "Raio-X", "start": "2031-01-01T10:00:00Z",
                       "end": "2031-01-01T10:15:00Z", "capacity": 1}]);
    loop {
        let (status, body) = api.put_slots(staff, hospital_id, slot.clone()).await;
        if status == 200 || status == 201 {
            return since.elapsed();
        }
        // 404 until the projection is written. (The emulator does not isolate reads from a
        // write in progress: a read racing the projection's write may see a half-made item and
        // answer 500 once; the next try sees it whole.)
        assert!(
            since.elapsed() < CATALOGUE_WITHIN,
            "hospital {hospital_id} not in the catalogue {CATALOGUE_WITHIN:?} after its \
             registration; last answer {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// When `function` was first invoked after `since` (its `START` line); waits up to 10 s.
async fn invoked_after(system: &LocalSystem, function: &str, since: Instant) -> Instant {
    let start = format!("[{function}] START ");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some((at, _)) = system
            .lines()
            .into_iter()
            .find(|(at, line)| *at > since && line.starts_with(&start))
        {
            return at;
        }
        assert!(
            Instant::now() < deadline,
            "{function} was not invoked after the write"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A relay measurement: from the request that wrote the outbox item, and from its answer (zero
/// when the relay started before the answer arrived), to the outbox function's invocation.
#[derive(Debug, Clone, Copy)]
struct Relay {
    from_request: Duration,
    from_answer: Duration,
}

async fn relay_of(system: &LocalSystem, function: &str, sent: Instant, answered: Instant) -> Relay {
    let invoked = invoked_after(system, function, sent).await;
    let relay = Relay {
        from_request: invoked.saturating_duration_since(sent),
        from_answer: invoked.saturating_duration_since(answered),
    };
    assert!(
        relay.from_answer < RELAY_WITHIN,
        "{function} invoked {:?} after the write was acknowledged",
        relay.from_answer
    );
    relay
}

fn summary(what: &str, relays: &[Relay]) -> String {
    let percentile = |mut values: Vec<Duration>, p: f64| {
        values.sort();
        let index = ((values.len() as f64 * p).ceil() as usize).clamp(1, values.len()) - 1;
        values[index]
    };
    let requests: Vec<Duration> = relays.iter().map(|r| r.from_request).collect();
    let answers: Vec<Duration> = relays.iter().map(|r| r.from_answer).collect();
    format!(
        "{what}: {} relays; from the request p50 {:?} p99 {:?} max {:?}; from the answer p50 {:?} p99 {:?} max {:?}",
        relays.len(),
        percentile(requests.clone(), 0.5),
        percentile(requests.clone(), 0.99),
        percentile(requests, 1.0),
        percentile(answers.clone(), 0.5),
        percentile(answers.clone(), 0.99),
        percentile(answers, 1.0),
    )
}

/// Registers a hospital as staff, checks the relay and the catalogue; returns the hospital id.
async fn hospital(
    system: &LocalSystem,
    api: &Api,
    staff: &str,
    name: &str,
    cnes: &str,
    relays: &mut Vec<Relay>,
) -> String {
    let (status, body, sent, answered) = api.register_hospital(staff, name, cnes).await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().expect("hospital id").to_string();
    relays.push(relay_of(system, "AccountsOutboxFunction", sent, answered).await);
    reaches_catalogue(api, staff, &id, answered).await;
    id
}

/// CNES numbers no other journey uses.
fn cnes(n: u32) -> String {
    format!("{:07}", 3_100_000 + n)
}

#[tokio::test]
async fn events_keep_flowing_after_failed_transactions_on_the_accounts_and_exam_tables() {
    let system = LocalSystem::start(&root().join("template.yaml"), &bin_dir(), &[]).await;
    let api = Api::new(&system);
    let staff = api.sign_in(STAFF_EMAIL, STAFF_PASSWORD).await;
    let mut accounts = Vec::new();

    let first = hospital(
        &system,
        &api,
        &staff,
        "Hospital Primeiro",
        &cnes(0),
        &mut accounts,
    )
    .await;

    // A registration with a CNES already taken fails its DynamoDB transaction (409); the next
    // hospital still reaches the catalogue in time — again and again.
    for round in 1..=8 {
        let (status, body, _, _) = api
            .register_hospital(&staff, "Hospital Repetido", &cnes(0))
            .await;
        assert_eq!(status, 409, "{body}");
        hospital(
            &system,
            &api,
            &staff,
            &format!("Hospital {round}"),
            &cnes(round),
            &mut accounts,
        )
        .await;
    }

    // Exam-results: a slot with one place, booked; a second booking of it fails its transaction.
    let (status, body) = api
        .put_slots(
            &staff,
            &first,
            json!([{"examType": "Ultrassom", "start": "2031-02-03T09:00:00Z", "end": "2031-02-03T09:30:00Z", "capacity": 1},
                   {"examType": "Ultrassom", "start": "2031-02-03T10:00:00Z", "end": "2031-02-03T10:30:00Z", "capacity": 2}]),
        )
        .await;
    assert!(status == 200 || status == 201, "{status} {body}");
    let ana = api.patient("ana.relay@example.com", "52998224725").await;
    let bia = api.patient("bia.relay@example.com", "11144477735").await;
    let slots = api.slot_ids(&ana, &first, "2031-02-03").await;
    assert_eq!(slots.len(), 2, "{slots:?}");
    let mut exams = Vec::new();

    let sent = Instant::now();
    let (status, body, answered) = api.book(&ana, &slots[0], "relay-ana-1").await;
    assert_eq!(status, 201, "{body}");
    exams.push(relay_of(&system, "ExamResultsOutboxFunction", sent, answered).await);
    let (status, body, _) = api.book(&bia, &slots[0], "relay-bia-1").await;
    assert_eq!(status, 409, "the full slot: {body}");
    assert_eq!(body["code"], "SLOT_FULL", "{body}");

    // After the failed booking, a booking of the other slot is relayed and confirmed by e-mail…
    let sent = Instant::now();
    let (status, body, answered) = api.book(&bia, &slots[1], "relay-bia-2").await;
    assert_eq!(status, 201, "{body}");
    exams.push(relay_of(&system, "ExamResultsOutboxFunction", sent, answered).await);
    // …a second booking of the same slot by the same patient fails too…
    let (status, body, _) = api.book(&bia, &slots[1], "relay-bia-3").await;
    assert_eq!(status, 409, "{body}");
    let sent = Instant::now();
    let (status, body, answered) = api.book(&ana, &slots[1], "relay-ana-2").await;
    assert_eq!(status, 201, "{body}");
    exams.push(relay_of(&system, "ExamResultsOutboxFunction", sent, answered).await);
    // …and a new hospital still reaches the catalogue in time.
    hospital(
        &system,
        &api,
        &staff,
        "Hospital Depois",
        &cnes(20),
        &mut accounts,
    )
    .await;

    let emulator = reqwest::Client::new();
    let data_url = format!("{}/moto-api/data.json", system.emulator_url);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let data: Value = match emulator.get(&data_url).send().await {
            Ok(response) => response.json().await.unwrap_or(Value::Null),
            Err(_) => Value::Null,
        };
        let confirmations = data["ses"]["Message"]
            .as_array()
            .map(|mails| {
                mails
                    .iter()
                    .filter(|m| {
                        m["destinations"]["ToAddresses"]
                            .as_array()
                            .is_some_and(|to| {
                                to.iter().any(|a| {
                                    a == "bia.relay@example.com" || a == "ana.relay@example.com"
                                })
                            })
                            && m["body"]
                                .as_str()
                                .is_some_and(|b| b.contains("Hospital Primeiro"))
                    })
                    .count()
            })
            .unwrap_or(0);
        if confirmations >= 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "3 booking confirmations expected, {confirmations} sent"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    eprintln!("{}", summary("accounts outbox", &accounts));
    eprintln!("{}", summary("exam-results outbox", &exams));
}

/// How many events the accounts outbox function published so far.
fn published(system: &LocalSystem) -> usize {
    system
        .lines()
        .iter()
        .filter(|(_, line)| {
            line.starts_with("[AccountsOutboxFunction]") && line.contains("outbox event published")
        })
        .count()
}

#[tokio::test]
async fn a_restarted_runner_relays_new_events_without_publishing_old_ones_again() {
    let mut system = LocalSystem::start(&root().join("template.yaml"), &bin_dir(), &[]).await;
    let api = Api::new(&system);
    let staff = api.sign_in(STAFF_EMAIL, STAFF_PASSWORD).await;
    let mut relays = Vec::new();
    hospital(
        &system,
        &api,
        &staff,
        "Hospital Antes",
        &cnes(40),
        &mut relays,
    )
    .await;
    let (status, _, _, _) = api
        .register_hospital(&staff, "Hospital Antes", &cnes(40))
        .await;
    assert_eq!(status, 409);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = published(&system);
    assert!(before >= 1, "the first registration was published");

    system.restart_runner().await;
    // The restarted runner set the staff authenticator up again.
    let api = Api::new(&system);
    let staff = api.sign_in(STAFF_EMAIL, STAFF_PASSWORD).await;
    hospital(
        &system,
        &api,
        &staff,
        "Hospital Depois",
        &cnes(41),
        &mut relays,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        published(&system),
        2 * before,
        "after the restart only the new hospital's events are published"
    );
    assert!(
        system
            .output()
            .contains("stream poller resumes from its checkpoint"),
        "the restarted runner resumed its stream pollers"
    );
    eprintln!("{}", summary("accounts outbox around a restart", &relays));
}

#[tokio::test]
async fn the_runner_provisions_again_when_the_emulator_restarts_under_it() {
    let mut system = LocalSystem::start(&root().join("template.yaml"), &bin_dir(), &[]).await;
    let api = Api::new(&system);
    let staff = api.sign_in(STAFF_EMAIL, STAFF_PASSWORD).await;
    let mut relays = Vec::new();
    hospital(
        &system,
        &api,
        &staff,
        "Hospital Velho",
        &cnes(60),
        &mut relays,
    )
    .await;

    system.restart_emulator().await;
    let deadline = Instant::now() + Duration::from_secs(120);
    while !system.output().contains("Clinic is running again") {
        assert!(
            Instant::now() < deadline,
            "the runner did not provision the restarted emulator"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(
        system.output().contains("provisioning it again"),
        "the runner says why it starts again"
    );
    system.wait_healthy().await;

    // Everything is new: the staff account (its authenticator set up again), the hospital's
    // CNES is free again.
    let api = Api::new(&system);
    let staff = api.sign_in(STAFF_EMAIL, STAFF_PASSWORD).await;
    hospital(
        &system,
        &api,
        &staff,
        "Hospital Novo",
        &cnes(60),
        &mut relays,
    )
    .await;
    eprintln!(
        "{}",
        summary("accounts outbox around an emulator restart", &relays)
    );
}
