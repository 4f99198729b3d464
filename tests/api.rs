//! An HTTP client for the tests that drive a local system from the users' side: people sign up,
//! confirm and sign in through the API, staff register doctors and hospitals, hospitals take
//! client-credentials tokens from the runner's token endpoint and push exams.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::local_system::LocalSystem;

/// E-mail of the staff account the runner creates.
pub const STAFF_EMAIL: &str = "staff@clinic.local";
/// Password of the staff account the runner creates.
pub const STAFF_PASSWORD: &str = "Clinic0Staff";
/// Password every patient made by [`Api::patient`] signs up with.
pub const PATIENT_PASSWORD: &str = "Passw0rdOk";

/// An answer: status, the body as JSON (`Null` when it is not JSON) and as text.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub text: String,
}

/// A request to send.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: reqwest::Method,
    pub path: String,
    pub token: Option<String>,
    pub body: Option<Value>,
    pub headers: Vec<(String, String)>,
}

impl Call {
    pub fn new(method: reqwest::Method, path: impl Into<String>) -> Call {
        Call {
            method,
            path: path.into(),
            token: None,
            body: None,
            headers: Vec::new(),
        }
    }

    #[must_use]
    pub fn token(mut self, token: Option<&str>) -> Call {
        self.token = token.map(str::to_string);
        self
    }

    #[must_use]
    pub fn json(mut self, body: Value) -> Call {
        self.body = Some(body);
        self
    }

    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Call {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

/// A person's session: account id (`sub`) and tokens.
#[derive(Debug, Clone)]
pub struct Person {
    pub id: String,
    pub email: String,
    pub access: String,
    pub id_token: String,
    pub refresh: String,
}

/// A hospital registered by staff, with its machine token.
#[derive(Debug, Clone)]
pub struct Hospital {
    pub id: String,
    pub client_id: String,
    pub client_secret: String,
    pub token: String,
}

/// The claims of a JWT, read without checking anything (the test's own tokens).
pub fn claims_of(token: &str) -> Value {
    token
        .split('.')
        .nth(1)
        .and_then(|part| URL_SAFE_NO_PAD.decode(part).ok())
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or(Value::Null)
}

/// A valid CPF (check digits computed) from nine base digits taken from `seed`.
pub fn cpf(seed: u64) -> String {
    let mut digits: Vec<u32> = format!("{:09}", seed % 1_000_000_000)
        .chars()
        .filter_map(|c| c.to_digit(10))
        .collect();
    if digits.iter().all(|d| *d == digits[0]) {
        digits[8] = (digits[8] + 1) % 10;
    }
    for len in [9usize, 10] {
        let sum: u32 = digits[..len]
            .iter()
            .zip((2..=len as u32 + 1).rev())
            .map(|(d, w)| d * w)
            .sum();
        let rest = (sum * 10) % 11;
        digits.push(if rest == 10 { 0 } else { rest });
    }
    digits.iter().map(u32::to_string).collect()
}

/// Polls `check` until it holds or `what` times out after a minute.
///
/// # Panics
/// When the condition does not hold within a minute.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The API of one local system.
#[derive(Debug, Clone)]
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
    /// Authenticator secrets by username: staff and doctors answer a second factor.
    secrets: Arc<Mutex<BTreeMap<String, String>>>,
}

impl Api {
    pub fn new(base: &str) -> Api {
        Api {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("http client"),
            base: base.to_string(),
            secrets: Arc::default(),
        }
    }

    /// The API of `system`, knowing the authenticator the runner set up for its staff member.
    pub fn of(system: &LocalSystem) -> Api {
        Api::new(&system.base_url).with_secret(STAFF_EMAIL, &system.staff_secret())
    }

    /// The same API, knowing `username`'s authenticator secret (the seeded staff account's is in
    /// the runner's banner: `LocalSystem::staff_secret`).
    #[must_use]
    pub fn with_secret(self, username: &str, secret: &str) -> Api {
        self.remember_secret(username, secret);
        self
    }

    fn remember_secret(&self, username: &str, secret: &str) {
        if let Ok(mut secrets) = self.secrets.lock() {
            secrets.insert(username.to_string(), secret.to_string());
        }
    }

    /// Answers a sign-in step: tokens as they are, a second-factor challenge with the code of
    /// the known (or, for `MFA_SETUP`, the offered) authenticator secret.
    async fn second_factor(&self, username: &str, step: Reply) -> Reply {
        let secret = match step.body["challenge"].as_str() {
            None => return step,
            Some("MFA_SETUP") => {
                let secret = step.body["secretCode"]
                    .as_str()
                    .unwrap_or_else(|| panic!("no authenticator secret: {}", step.text))
                    .to_string();
                self.remember_secret(username, &secret);
                secret
            }
            Some("SOFTWARE_TOKEN_MFA") => self
                .secrets
                .lock()
                .ok()
                .and_then(|s| s.get(username).cloned())
                .unwrap_or_else(|| {
                    panic!("{username} needs an authenticator code; no secret known")
                }),
            Some(other) => panic!("unexpected sign-in step {other} for {username}"),
        };
        let code = clinic_local::totp::code_now(&secret).expect("authenticator code");
        let reply = self
            .post(
                "/v1/auth/mfa",
                None,
                json!({"username": username, "session": step.body["session"], "code": code}),
            )
            .await;
        assert_eq!(
            reply.status, 200,
            "second factor of {username}: {}",
            reply.text
        );
        reply
    }

    /// Sends `call`; a transport failure panics.
    pub async fn call(&self, call: &Call) -> Reply {
        let mut request = self
            .http
            .request(call.method.clone(), format!("{}{}", self.base, call.path));
        if let Some(token) = &call.token {
            request = request.bearer_auth(token);
        }
        for (name, value) in &call.headers {
            request = request.header(name, value);
        }
        if let Some(body) = &call.body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{} {}: {e}", call.method, call.path));
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        Reply {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.call(&Call::new(reqwest::Method::GET, path).token(token))
            .await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.call(
            &Call::new(reqwest::Method::POST, path)
                .token(token)
                .json(body),
        )
        .await
    }

    /// Signs in; panics unless tokens come back.
    pub async fn sign_in(&self, username: &str, password: &str) -> Person {
        let reply = self
            .post(
                "/v1/auth/token",
                None,
                json!({"username": username, "password": password}),
            )
            .await;
        assert_eq!(reply.status, 200, "sign-in of {username}: {}", reply.text);
        let reply = self.second_factor(username, reply).await;
        person(username, &reply.body)
    }

    /// Signs a patient up, confirms the address and signs in.
    pub async fn patient(&self, email: &str, cpf: &str, phone: &str) -> Person {
        let reply = self
            .post(
                "/v1/accounts/patients",
                None,
                json!({"email": email, "password": PATIENT_PASSWORD, "name": "Ana Souza", "cpf": cpf,
                       "birthDate": "1990-04-12", "phone": phone,
                       "preferences": {"email": true, "sms": false, "language": "pt-BR"}}),
            )
            .await;
        assert_eq!(reply.status, 202, "sign-up of {email}: {}", reply.text);
        let reply = self
            .post(
                "/v1/accounts/confirm",
                None,
                json!({"email": email, "code": "123456", "password": PATIENT_PASSWORD}),
            )
            .await;
        assert_eq!(reply.status, 204, "confirmation of {email}: {}", reply.text);
        self.sign_in(email, PATIENT_PASSWORD).await
    }

    /// Staff register a doctor with a temporary password; the doctor chooses a password.
    pub async fn doctor(&self, staff: &str, email: &str, crm: &str) -> Person {
        let reply = self
            .post(
                "/v1/doctors",
                Some(staff),
                json!({"email": email, "name": "Dra. Helena Prado", "crm": crm, "uf": "SP",
                       "specialty": "Radiologia", "temporaryPassword": "Temp0rary1x"}),
            )
            .await;
        assert_eq!(reply.status, 201, "doctor {email}: {}", reply.text);
        let challenge = self
            .post(
                "/v1/auth/token",
                None,
                json!({"username": email, "password": "Temp0rary1x"}),
            )
            .await;
        assert_eq!(challenge.status, 200, "{}", challenge.text);
        let reply = self
            .post(
                "/v1/auth/new-password",
                None,
                json!({"username": email, "session": challenge.body["session"], "newPassword": "Chosen0Password"}),
            )
            .await;
        assert_eq!(reply.status, 200, "new password of {email}: {}", reply.text);
        // Doctors set an authenticator up before their first token.
        let reply = self.second_factor(email, reply).await;
        person(email, &reply.body)
    }

    /// Staff register a hospital; waits until the exam catalogue knows it and takes its token.
    pub async fn hospital(&self, staff: &str, name: &str, cnes: &str) -> Hospital {
        let reply = self
            .post(
                "/v1/hospitals",
                Some(staff),
                json!({"name": name, "cnes": cnes}),
            )
            .await;
        assert_eq!(reply.status, 201, "hospital {name}: {}", reply.text);
        let id = reply.body["id"].as_str().expect("id").to_string();
        let client_id = reply.body["clientId"].as_str().expect("client id");
        let client_secret = reply.body["clientSecret"].as_str().expect("secret");
        eventually("the hospital reaches the exam catalogue", || async {
            let list = self.get("/v1/hospitals?limit=200", Some(staff)).await;
            list.body["items"]
                .as_array()
                .is_some_and(|items| items.iter().any(|h| h["id"] == id.as_str()))
        })
        .await;
        let token = self
            .client_token(client_id, client_secret, Some("clinic/ingest"))
            .await
            .expect("hospital token");
        Hospital {
            id,
            client_id: client_id.to_string(),
            client_secret: client_secret.to_string(),
            token,
        }
    }

    /// A client-credentials access token from the runner's `POST /oauth2/token`; the error
    /// answer when none is issued.
    ///
    /// # Errors
    /// The token endpoint's answer when it issues no token.
    pub async fn client_token(
        &self,
        client_id: &str,
        client_secret: &str,
        scope: Option<&str>,
    ) -> Result<String, Reply> {
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(scope) = scope {
            form.push(("scope", scope));
        }
        let response = self
            .http
            .post(format!("{}/oauth2/token", self.base))
            .basic_auth(client_id, Some(client_secret))
            .form(&form)
            .send()
            .await
            .expect("token request");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        match body["access_token"].as_str() {
            Some(token) if status == 200 => Ok(token.to_string()),
            _ => Err(Reply { status, body, text }),
        }
    }

    /// Pushes `items` in one batch and waits until none is `ACCEPTED` any more; returns the
    /// batch id and its items.
    pub async fn push_exams(&self, hospital: &str, items: Vec<Value>) -> (String, Vec<Value>) {
        let reply = self
            .post(
                "/v1/integrations/exams:batch",
                Some(hospital),
                json!({ "items": items }),
            )
            .await;
        assert_eq!(reply.status, 202, "{}", reply.text);
        let batch = reply.body["batchId"]
            .as_str()
            .expect("batch id")
            .to_string();
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let state = self
                .get(&format!("/v1/integrations/batches/{batch}"), Some(hospital))
                .await;
            let items = state.body["items"].as_array().cloned().unwrap_or_default();
            if !items.is_empty() && items.iter().all(|i| i["state"] != "ACCEPTED") {
                return (batch, items);
            }
            assert!(
                Instant::now() < deadline,
                "the batch was not applied: {}",
                state.text
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Publishes slots of `hospital_id` (as staff); returns their ids in the order given.
    pub async fn publish_slots(&self, staff: &str, hospital_id: &str, slots: Value) -> Vec<String> {
        let reply = self
            .call(
                &Call::new(
                    reqwest::Method::PUT,
                    format!("/v1/hospitals/{hospital_id}/slots"),
                )
                .token(Some(staff))
                .json(slots),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        reply.body["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|s| s["id"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Books `slot_id` for the patient; returns the exam id.
    pub async fn book(&self, patient: &str, slot_id: &str, key: &str) -> String {
        let reply = self
            .call(
                &Call::new(reqwest::Method::POST, "/v1/appointments")
                    .token(Some(patient))
                    .header("idempotency-key", key)
                    .json(json!({ "slotId": slot_id })),
            )
            .await;
        assert_eq!(reply.status, 201, "booking {slot_id}: {}", reply.text);
        reply.body["examId"].as_str().expect("exam id").to_string()
    }

    /// An exam's way to its result: staff assign `doctor`, who collects, completes and uploads
    /// `pdf`; returns the file id once `patient` sees the exam `RESULT_READY`.
    pub async fn perform(
        &self,
        staff: &str,
        doctor: &Person,
        patient: &str,
        exam: &str,
        pdf: Vec<u8>,
    ) -> String {
        let reply = self
            .post(
                &format!("/v1/exams/{exam}/assign"),
                Some(staff),
                json!({"doctorId": doctor.id}),
            )
            .await;
        assert_eq!(reply.status, 200, "assign {exam}: {}", reply.text);
        for step in ["collect", "complete"] {
            let reply = self
                .post(
                    &format!("/v1/exams/{exam}/{step}"),
                    Some(&doctor.access),
                    json!({}),
                )
                .await;
            assert_eq!(reply.status, 200, "{step} {exam}: {}", reply.text);
        }
        let file = self.upload_result(&doctor.access, exam, pdf).await;
        eventually("the result is ready", || async {
            self.get(&format!("/v1/exams/{exam}"), Some(patient))
                .await
                .body["status"]
                == "RESULT_READY"
        })
        .await;
        file
    }

    /// The doctor uploads a small PDF as the exam's result; returns the file id.
    pub async fn upload_result(&self, doctor: &str, exam: &str, pdf: Vec<u8>) -> String {
        let api = self;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let ticket = loop {
            let reply = api
                .post(
                    &format!("/v1/exams/{exam}/files"),
                    Some(doctor),
                    json!({"fileName": "laudo.pdf", "contentType": "application/pdf",
                       "size": pdf.len(), "kind": "result"}),
                )
                .await;
            if reply.status == 201 {
                break reply.body;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the file service never learnt the assignment: {}",
                reply.text
            );
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        };
        let mut put = api
            .http
            .put(ticket["uploadUrl"].as_str().expect("upload url"))
            .body(pdf);
        if let Some(headers) = ticket["uploadHeaders"].as_object() {
            for (name, value) in headers
                .iter()
                .filter(|(n, _)| n.as_str() != "content-length")
            {
                put = put.header(name, value.as_str().unwrap_or_default());
            }
        }
        assert_eq!(put.send().await.expect("upload").status().as_u16(), 200);
        ticket["fileId"].as_str().expect("file id").to_string()
    }
}

fn person(username: &str, tokens: &Value) -> Person {
    let access = tokens["accessToken"]
        .as_str()
        .unwrap_or_else(|| panic!("no access token for {username}: {tokens}"))
        .to_string();
    Person {
        id: claims_of(&access)["sub"]
            .as_str()
            .expect("sub of the access token")
            .to_string(),
        email: username.to_string(),
        access,
        id_token: tokens["idToken"].as_str().unwrap_or_default().to_string(),
        refresh: tokens["refreshToken"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    }
}
