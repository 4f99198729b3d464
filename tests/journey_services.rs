//! Journeys across services through the local runner, from the users' side: HTTP only (plus the
//! emulator's record of sent e-mail and SMS, which stands in for the patient's inbox and phone).

use std::time::{Duration, Instant};

use clinic_journeys::local_system::{LocalSystem, bin_dir};
use clinic_journeys::root;
use serde_json::{Value, json};

const STAFF_EMAIL: &str = "staff@clinic.local";
const STAFF_PASSWORD: &str = "Clinic0Staff";

struct Api {
    http: reqwest::Client,
    base: String,
    /// The seeded staff account's authenticator secret.
    staff_secret: String,
}

impl Api {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, Some(token), None)
            .await
    }

    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    /// Signs in as a person would, answering the second factor staff and doctors need.
    async fn sign_in(&self, username: &str, password: &str) -> String {
        let secret = (username == STAFF_EMAIL).then_some(self.staff_secret.as_str());
        clinic_local::seed::sign_in(&self.http, &self.base, username, password, secret)
            .await
            .unwrap_or_else(|e| panic!("{username} signs in: {e}"))
            .access_token
    }

    async fn patient(&self, email: &str, cpf: &str, phone: &str) -> String {
        let (status, body) = self
            .post(
                "/v1/accounts/patients",
                None,
                json!({"email": email, "password": "Passw0rdOk", "name": "Ana Souza", "cpf": cpf,
                       "birthDate": "1990-04-12", "phone": phone,
                       "preferences": {"email": true, "sms": true, "language": "pt-BR"}}),
            )
            .await;
        assert_eq!(status, 202, "{body}");
        let (status, _) = self
            .post(
                "/v1/accounts/confirm",
                None,
                json!({"email": email, "code": "123456", "password": "Passw0rdOk"}),
            )
            .await;
        assert_eq!(status, 204);
        self.sign_in(email, "Passw0rdOk").await
    }

    /// Registers a hospital as staff and waits until the exam catalogue knows it.
    async fn hospital(&self, staff: &str, name: &str, cnes: &str) -> (String, String, String) {
        let (status, hospital) = self
            .post(
                "/v1/hospitals",
                Some(staff),
                json!({"name": name, "cnes": cnes}),
            )
            .await;
        assert_eq!(status, 201, "{hospital}");
        let id = hospital["id"].as_str().expect("id").to_string();
        eventually("the hospital reaches the exam catalogue", || async {
            let (_, list) = self.get("/v1/hospitals", staff).await;
            list["items"]
                .as_array()
                .is_some_and(|items| items.iter().any(|h| h["id"] == id.as_str()))
        })
        .await;
        (
            id,
            hospital["clientId"]
                .as_str()
                .expect("client id")
                .to_string(),
            hospital["clientSecret"]
                .as_str()
                .expect("secret")
                .to_string(),
        )
    }
}

/// Polls `check` until it holds (events travel asynchronously between services).
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

impl Api {
    /// A hospital's machine token, from the OAuth2 client-credentials endpoint.
    async fn hospital_token(&self, client_id: &str, client_secret: &str) -> String {
        let token: Value = self
            .http
            .post(format!("{}/oauth2/token", self.base))
            .basic_auth(client_id, Some(client_secret))
            .form(&[
                ("grant_type", "client_credentials"),
                ("scope", "clinic/ingest"),
            ])
            .send()
            .await
            .expect("token request")
            .json()
            .await
            .expect("token JSON");
        token["access_token"]
            .as_str()
            .expect("access token")
            .to_string()
    }

    /// Pushes one exam and waits until it is applied; returns the batch item (with the access
    /// code when one was issued).
    async fn push_exam(&self, hospital: &str, item: Value) -> Value {
        let (status, accepted) = self
            .post(
                "/v1/integrations/exams:batch",
                Some(hospital),
                json!({ "items": [item] }),
            )
            .await;
        assert_eq!(status, 202, "{accepted}");
        let batch = accepted["batchId"].as_str().expect("batch id").to_string();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (_, state) = self
                .get(&format!("/v1/integrations/batches/{batch}"), hospital)
                .await;
            if state["items"][0]["state"] == "APPLIED" {
                return state["items"][0].clone();
            }
            assert!(
                Instant::now() < deadline,
                "the batch item was not applied: {state}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn external_ids(&self, token: &str) -> Vec<String> {
        let (status, exams) = self.get("/v1/exams", token).await;
        assert_eq!(status, 200, "{exams}");
        exams["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|e| e["externalId"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// An attacker who signs up with a victim's CPF (and their own, confirmed, e-mail) sees nothing
/// of the victim's — not what hospitals pushed before, not what they push later, no file, no
/// notification — while the victim, proving the address the hospital has on file or holding the
/// receipt's access code, sees everything.
#[tokio::test]
async fn a_typed_cpf_opens_nothing_proof_of_address_or_receipt_code_opens_everything() {
    let system = LocalSystem::start(&root().join("template.yaml"), &bin_dir(), &[]).await;
    let api = Api {
        http: reqwest::Client::new(),
        base: system.base_url.clone(),
        staff_secret: system.staff_secret(),
    };
    let staff = api.sign_in(STAFF_EMAIL, STAFF_PASSWORD).await;
    let (_, client_id, client_secret) = api
        .hospital(&staff, "Hospital Santa Luzia", "2077485")
        .await;
    let hospital = api.hospital_token(&client_id, &client_secret).await;
    let victim_cpf = "11144477735";
    let victim_email = "vitima@example.com";
    let exam = |external: &str, email: Option<&str>| {
        let mut item = json!({"externalId": external, "version": 1, "patientCpf": victim_cpf,
            "examType": "hemograma", "status": "COMPLETED", "scheduledAt": "2030-01-10T09:00:00Z"});
        if let Some(email) = email {
            item["patientEmail"] = json!(email);
        }
        item
    };

    // Before anyone signs up: the hospital has the victim's e-mail on file for LAB-1.
    api.push_exam(&hospital, exam("LAB-1", Some(victim_email)))
        .await;

    // The attacker signs up with the victim's CPF and their own address, confirms, signs in.
    let attacker = api
        .patient("atacante@example.com", victim_cpf, "+5511912340000")
        .await;
    // Later pushes: one with the victim's address, one with none (receipt code only).
    api.push_exam(&hospital, exam("LAB-2", Some(victim_email)))
        .await;
    let receipt = api.push_exam(&hospital, exam("LAB-3", None)).await;
    let code = receipt["accessCode"]
        .as_str()
        .expect("the receipt's access code")
        .to_string();

    // The victim signs up (a different account with the same CPF: nothing blocks them).
    let victim = api
        .patient(victim_email, victim_cpf, "+5511912341111")
        .await;
    eventually(
        "the victim sees the exams sent with their address",
        || async {
            let ids = api.external_ids(&victim).await;
            ids.contains(&"LAB-1".to_string()) && ids.contains(&"LAB-2".to_string())
        },
    )
    .await;
    // The receipt's code links the third one.
    let (status, claimed) = api
        .post(
            "/v1/exams:claim",
            Some(&victim),
            json!({"accessCode": code}),
        )
        .await;
    assert_eq!(status, 200, "{claimed}");
    assert_eq!(claimed["externalId"], "LAB-3");
    let mut ids = api.external_ids(&victim).await;
    ids.sort();
    assert_eq!(ids, ["LAB-1", "LAB-2", "LAB-3"]);

    // A used code opens nothing for the attacker; nothing was ever linked to them.
    let (status, refused) = api
        .post(
            "/v1/exams:claim",
            Some(&attacker),
            json!({"accessCode": code}),
        )
        .await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["code"], "ACCESS_CODE_INVALID");
    assert!(api.external_ids(&attacker).await.is_empty());
    for exam in [&claimed] {
        let id = exam["id"].as_str().expect("exam id");
        let (status, _) = api.get(&format!("/v1/exams/{id}"), &attacker).await;
        assert_eq!(status, 404);
        let (status, _) = api.get(&format!("/v1/exams/{id}/files"), &attacker).await;
        assert_eq!(status, 404);
    }
    // No notification of the victim's reached the attacker (only their own welcome).
    let (status, log) = api.get("/v1/me/notifications", &attacker).await;
    assert_eq!(status, 200, "{log}");
    assert!(
        log["items"]
            .as_array()
            .is_some_and(|items| items.iter().all(|n| n["template"] == "welcome")),
        "{log}"
    );
}

#[tokio::test]
async fn booking_an_exam_sends_the_confirmation_by_email_and_sms() {
    let system = LocalSystem::start(&root().join("template.yaml"), &bin_dir(), &[]).await;
    let api = Api {
        http: reqwest::Client::new(),
        base: system.base_url.clone(),
        staff_secret: system.staff_secret(),
    };
    let staff = api.sign_in(STAFF_EMAIL, STAFF_PASSWORD).await;
    let (hospital_id, _, _) = api.hospital(&staff, "Hospital São Lucas", "2078015").await;
    let (status, slots) = api
        .send(
            reqwest::Method::PUT,
            &format!("/v1/hospitals/{hospital_id}/slots"),
            Some(&staff),
            Some(json!([{"examType": "Ultrassom", "start": "2030-02-01T13:00:00Z", "end": "2030-02-01T13:30:00Z", "capacity": 2}])),
        )
        .await;
    assert!(status == 200 || status == 201, "{status} {slots}");

    let email = "booking.patient@example.com";
    let phone = "+5521998765432";
    let patient = api.patient(email, "11144477735", phone).await;
    let (_, open) = api.get(
            &format!("/v1/slots?hospitalId={hospital_id}&from=2030-02-01T00:00:00Z&to=2030-02-02T00:00:00Z"),
            &patient,
        ).await;
    let slot_id = open["items"][0]["id"]
        .as_str()
        .expect("an open slot")
        .to_string();

    let response = api
        .http
        .post(format!("{}/v1/appointments", api.base))
        .bearer_auth(&patient)
        .header("idempotency-key", "booking-journey-1")
        .header(
            "traceparent",
            format!("00-{BOOKING_TRACE}-00f067aa0ba902b7-01"),
        )
        .json(&json!({"slotId": slot_id}))
        .send()
        .await
        .expect("booking");
    assert_eq!(response.status().as_u16(), 201);
    let booked: Value = response.json().await.expect("booking JSON");
    assert_eq!(booked["status"], "SCHEDULED");

    let emulator = reqwest::Client::new();
    let data_url = format!("{}/moto-api/data.json", system.emulator_url);
    eventually("the confirmation e-mail and SMS are sent", || async {
        let Ok(response) = emulator.get(&data_url).send().await else {
            return false;
        };
        let data: Value = response.json().await.unwrap_or(Value::Null);
        let emails = data["ses"]["Message"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let sms = data["sns"]["SMS"].as_array().cloned().unwrap_or_default();
        let mail = emails.iter().any(|m| {
            m["destinations"]["ToAddresses"]
                .as_array()
                .is_some_and(|to| to.iter().any(|a| a == email))
                && m["body"]
                    .as_str()
                    .is_some_and(|b| b.contains("Hospital São Lucas"))
        });
        let text = sms.iter().any(|m| m["phone_number"] == phone);
        mail && text
    })
    .await;

    eventually("the notifications appear in the patient's log", || async {
        let (_, log) = api.get("/v1/me/notifications", &patient).await;
        let channels: Vec<String> = log["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|i| i["channel"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        channels.iter().any(|c| c.eq_ignore_ascii_case("email"))
            && channels.iter().any(|c| c.eq_ignore_ascii_case("sms"))
    })
    .await;

    // One trace from the HTTP request through the outbox, SNS, SQS and the consumers to the
    // e-mail and the SMS: every log line of the booking carries the caller's trace id.
    let traced = traced_lines(&system.output(), BOOKING_TRACE);
    for (function, message) in [
        ("ExamResultsApiFunction", "exam booked"),
        ("ExamResultsApiFunction", "request finished"),
        ("ExamResultsOutboxFunction", "outbox event published"),
        ("NotificationsSenderFunction", "sent"),
        ("FilesProjectionFunction", "sqs record done"),
    ] {
        assert!(
            traced.iter().any(|(f, m)| f == function && m == message),
            "no `{message}` of {function} in the trace; traced lines: {traced:?}"
        );
    }
    let sent = traced
        .iter()
        .filter(|(f, m)| f == "NotificationsSenderFunction" && m == "sent")
        .count();
    assert_eq!(
        sent, 2,
        "the e-mail and the SMS, each in the trace: {traced:?}"
    );
}

/// The trace id the booking journey sends in its `traceparent`.
const BOOKING_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

/// (function, message) of every JSON log line of the runner's output that carries `trace_id`,
/// in one of its spans or as a field of its own.
fn traced_lines(output: &str, trace_id: &str) -> Vec<(String, String)> {
    output
        .lines()
        .filter_map(|line| {
            let (function, json) = line.strip_prefix('[')?.split_once("] ")?;
            let value: Value = serde_json::from_str(json).ok()?;
            let carries = value["trace_id"] == trace_id
                || value["spans"]
                    .as_array()
                    .is_some_and(|spans| spans.iter().any(|s| s["trace_id"] == trace_id));
            carries.then(|| {
                (
                    function.to_string(),
                    value["message"].as_str().unwrap_or_default().to_string(),
                )
            })
        })
        .collect()
}

#[tokio::test]
async fn a_doctor_publishes_a_result_and_only_its_patient_downloads_it() {
    let system = LocalSystem::start(&root().join("template.yaml"), &bin_dir(), &[]).await;
    let api = Api {
        http: reqwest::Client::new(),
        base: system.base_url.clone(),
        staff_secret: system.staff_secret(),
    };
    let staff = api.sign_in(STAFF_EMAIL, STAFF_PASSWORD).await;
    let (hospital_id, _, _) = api
        .hospital(&staff, "Hospital das Clínicas", "2079798")
        .await;
    let (status, _) = api
        .send(
            reqwest::Method::PUT,
            &format!("/v1/hospitals/{hospital_id}/slots"),
            Some(&staff),
            Some(json!([{"examType": "Raio-X", "start": "2030-03-01T10:00:00Z", "end": "2030-03-01T10:15:00Z", "capacity": 1}])),
        )
        .await;
    assert!(status == 200 || status == 201);
    let patient = api
        .patient(
            "result.patient@example.com",
            "52998224725",
            "+5511955554444",
        )
        .await;
    let (_, open) = api
        .get(
            &format!("/v1/slots?hospitalId={hospital_id}&from=2030-03-01T00:00:00Z&to=2030-03-02T00:00:00Z"),
            &patient,
        )
        .await;
    let slot_id = open["items"][0]["id"]
        .as_str()
        .expect("an open slot")
        .to_string();
    let booked: Value = api
        .http
        .post(format!("{}/v1/appointments", api.base))
        .bearer_auth(&patient)
        .header("idempotency-key", "result-journey-1")
        .json(&json!({"slotId": slot_id}))
        .send()
        .await
        .expect("booking")
        .json()
        .await
        .expect("booking JSON");
    let exam_id = booked["examId"].as_str().expect("exam id").to_string();

    // Staff register a doctor, who chooses a password at first sign-in.
    let (status, doctor) = api
        .post(
            "/v1/doctors",
            Some(&staff),
            json!({"email": "dra.result@example.com", "name": "Dra. Helena Prado", "crm": "654321", "uf": "RJ",
                   "specialty": "Radiologia", "temporaryPassword": "Temp0rary1x"}),
        )
        .await;
    assert_eq!(status, 201, "{doctor}");
    let doctor_id = doctor["id"].as_str().expect("doctor id").to_string();
    let (_, challenge) = api
        .post(
            "/v1/auth/token",
            None,
            json!({"username": "dra.result@example.com", "password": "Temp0rary1x"}),
        )
        .await;
    let (status, setup) = api
        .post(
            "/v1/auth/new-password",
            None,
            json!({"username": "dra.result@example.com", "session": challenge["session"], "newPassword": "Chosen0Password"}),
        )
        .await;
    assert_eq!(status, 200, "{setup}");
    // Doctors set an authenticator app up before any token.
    assert_eq!(setup["challenge"], "MFA_SETUP", "{setup}");
    assert!(setup.get("accessToken").is_none());
    let secret = setup["secretCode"].as_str().expect("secret").to_string();
    let (status, tokens) = api
        .post(
            "/v1/auth/mfa",
            None,
            json!({"username": "dra.result@example.com", "session": setup["session"],
                   "code": clinic_local::totp::code_now(&secret).expect("code")}),
        )
        .await;
    assert_eq!(status, 200, "{tokens}");
    let doctor_token = tokens["accessToken"].as_str().expect("token").to_string();
    // From now on the doctor's sign-in asks for the authenticator's code.
    let (_, challenge) = api
        .post(
            "/v1/auth/token",
            None,
            json!({"username": "dra.result@example.com", "password": "Chosen0Password"}),
        )
        .await;
    assert_eq!(challenge["challenge"], "SOFTWARE_TOKEN_MFA", "{challenge}");
    assert!(challenge.get("accessToken").is_none());

    let (status, body) = api
        .post(
            &format!("/v1/exams/{exam_id}/assign"),
            Some(&staff),
            json!({"doctorId": doctor_id}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    for step in ["collect", "complete"] {
        let (status, body) = api
            .post(
                &format!("/v1/exams/{exam_id}/{step}"),
                Some(&doctor_token),
                json!({}),
            )
            .await;
        assert_eq!(status, 200, "{step}: {body}");
    }

    // The file service learns of the assignment through exam events; then the doctor uploads.
    let pdf = clinic_file_management::domain::checks::sample_pdf("Laudo de teste");
    let deadline = Instant::now() + Duration::from_secs(60);
    let upload = loop {
        let (status, body) = api
            .post(
                &format!("/v1/exams/{exam_id}/files"),
                Some(&doctor_token),
                json!({"fileName": "laudo.pdf", "contentType": "application/pdf", "size": pdf.len(), "kind": "result"}),
            )
            .await;
        if status == 201 {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "the doctor never got an upload link: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let mut put = api
        .http
        .put(upload["uploadUrl"].as_str().expect("upload url"))
        .body(pdf.clone());
    if let Some(headers) = upload["uploadHeaders"].as_object() {
        for (name, value) in headers
            .iter()
            .filter(|(n, _)| n.as_str() != "content-length")
        {
            put = put.header(name, value.as_str().unwrap_or_default());
        }
    }
    assert_eq!(put.send().await.expect("upload").status().as_u16(), 200);
    let file_id = upload["fileId"].as_str().expect("file id").to_string();

    eventually(
        "the result is processed and the exam is RESULT_READY",
        || async {
            let (_, exam) = api.get(&format!("/v1/exams/{exam_id}"), &patient).await;
            exam["status"] == "RESULT_READY"
        },
    )
    .await;

    let (status, download) = api
        .get(&format!("/v1/files/{file_id}/download"), &patient)
        .await;
    assert_eq!(status, 200, "{download}");
    let url = download["url"].as_str().expect("url");
    let expires: u64 = url
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("X-Amz-Expires="))
        .and_then(|v| v.parse().ok())
        .expect("X-Amz-Expires in the link");
    assert!(expires <= 300, "download links live at most 5 minutes");
    let bytes = api
        .http
        .get(url)
        .send()
        .await
        .expect("download")
        .bytes()
        .await
        .expect("bytes");
    assert_eq!(bytes.as_ref(), pdf.as_slice());

    let stranger = api
        .patient("stranger@example.com", "11144477735", "+5511933332222")
        .await;
    let (status, _) = api
        .get(&format!("/v1/files/{file_id}/download"), &stranger)
        .await;
    assert_eq!(status, 404, "another patient cannot tell the file exists");

    let (status, log) = api
        .get(&format!("/v1/exams/{exam_id}/access-log"), &patient)
        .await;
    assert_eq!(status, 200, "{log}");
    let entries = log["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(entries.len(), 1, "{log}");
    assert_eq!(entries[0]["actorRole"], "patient");
    assert_eq!(entries[0]["fileId"], file_id.as_str());
}
