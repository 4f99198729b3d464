//! Data the local system starts with: one staff account (always) and, with `--demo`, sample
//! hospitals with exam types and open slots, and a doctor, registered through the public API like
//! staff would.

use aws_sdk_cognitoidentityprovider::Client;
use aws_sdk_cognitoidentityprovider::types::{AttributeType, MessageActionType};
use serde_json::{Value, json};

/// Why seeding failed.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("could not seed the staff account: {0}")]
    Staff(String),
    #[error("demo data: {0}")]
    Demo(String),
    #[error("sender identity: {0}")]
    Sender(String),
}

fn attribute(name: &str, value: &str) -> Result<AttributeType, SeedError> {
    AttributeType::builder()
        .name(name)
        .value(value)
        .build()
        .map_err(|e| SeedError::Staff(e.to_string()))
}

/// Makes sure a confirmed staff user with this e-mail and password exists (idempotent).
///
/// # Errors
/// [`SeedError::Staff`] when the emulator refuses a step.
pub async fn ensure_staff(
    cognito: &Client,
    user_pool_id: &str,
    email: &str,
    password: &str,
) -> Result<(), SeedError> {
    let err = |e: &dyn std::fmt::Display| SeedError::Staff(e.to_string());
    let exists = cognito
        .admin_get_user()
        .user_pool_id(user_pool_id)
        .username(email)
        .send()
        .await
        .is_ok();
    if !exists {
        cognito
            .admin_create_user()
            .user_pool_id(user_pool_id)
            .username(email)
            .user_attributes(attribute("email", email)?)
            .user_attributes(attribute("email_verified", "true")?)
            .message_action(MessageActionType::Suppress)
            .temporary_password(password)
            .send()
            .await
            .map_err(|e| err(&clinic_shared::aws::error_text(&e)))?;
    }
    cognito
        .admin_set_user_password()
        .user_pool_id(user_pool_id)
        .username(email)
        .password(password)
        .permanent(true)
        .send()
        .await
        .map_err(|e| err(&clinic_shared::aws::error_text(&e)))?;
    cognito
        .admin_add_user_to_group()
        .user_pool_id(user_pool_id)
        .username(email)
        .group_name("staff")
        .send()
        .await
        .map_err(|e| err(&clinic_shared::aws::error_text(&e)))?;
    // Staff sign in with an authenticator code. Any authenticator set up by an earlier run is
    // forgotten so that this run sets one up again and can print its secret.
    cognito
        .admin_set_user_mfa_preference()
        .user_pool_id(user_pool_id)
        .username(email)
        .software_token_mfa_settings(
            aws_sdk_cognitoidentityprovider::types::SoftwareTokenMfaSettingsType::builder()
                .enabled(false)
                .preferred_mfa(false)
                .build(),
        )
        .send()
        .await
        .map_err(|e| err(&clinic_shared::aws::error_text(&e)))?;
    Ok(())
}

/// A person signed in through the API.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub access_token: String,
    /// The authenticator secret, when this sign-in set one up.
    pub authenticator_secret: Option<String>,
}

/// Signs in through the accounts API as a person would, answering a second-factor step with the
/// current code of `secret`, or setting an authenticator up (and returning its secret).
///
/// # Errors
/// A description of what the API answered when it gave no tokens.
pub async fn sign_in(
    http: &reqwest::Client,
    base_url: &str,
    username: &str,
    password: &str,
    secret: Option<&str>,
) -> Result<SignedIn, String> {
    let post = |path: &str, body: Value| {
        let request = http.post(format!("{base_url}{path}")).json(&body);
        async move {
            let response = request.send().await.map_err(|e| e.to_string())?;
            response.json::<Value>().await.map_err(|e| e.to_string())
        }
    };
    let answer = post(
        "/v1/auth/token",
        json!({"username": username, "password": password}),
    )
    .await?;
    let (session, secret) = match answer["challenge"].as_str() {
        None => {
            return answer["accessToken"]
                .as_str()
                .map(|token| SignedIn {
                    access_token: token.to_string(),
                    authenticator_secret: None,
                })
                .ok_or_else(|| format!("sign-in refused: {answer}"));
        }
        Some("MFA_SETUP") => (
            answer["session"].as_str().unwrap_or_default(),
            answer["secretCode"]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("no authenticator secret: {answer}"))?,
        ),
        Some("SOFTWARE_TOKEN_MFA") => (
            answer["session"].as_str().unwrap_or_default(),
            secret
                .map(str::to_string)
                .ok_or("an authenticator code is required and no secret is known")?,
        ),
        Some(other) => return Err(format!("unexpected sign-in step {other}")),
    };
    let code = crate::totp::code_now(&secret).map_err(|e| e.to_string())?;
    let tokens = post(
        "/v1/auth/mfa",
        json!({"username": username, "session": session, "code": code}),
    )
    .await?;
    let access_token = tokens["accessToken"]
        .as_str()
        .ok_or_else(|| format!("authenticator code refused: {tokens}"))?
        .to_string();
    Ok(SignedIn {
        access_token,
        authenticator_secret: (answer["challenge"] == "MFA_SETUP").then_some(secret),
    })
}

/// Registers the demo hospitals and doctor through the API, signed in as staff. Entries that
/// already exist (409) are left as they are, so `--demo` can be given on every start.
///
/// # Errors
/// [`SeedError::Demo`] when the API cannot be reached or refuses the staff sign-in.
pub async fn demo(
    base_url: &str,
    staff_email: &str,
    staff_password: &str,
    staff_secret: Option<&str>,
) -> Result<Vec<String>, SeedError> {
    let http = reqwest::Client::new();
    let demo_err = |e: &dyn std::fmt::Display| SeedError::Demo(e.to_string());
    let staff = sign_in(&http, base_url, staff_email, staff_password, staff_secret)
        .await
        .map_err(|e| SeedError::Demo(format!("staff sign-in failed: {e}")))?;
    let token = staff.access_token.as_str();
    let mut created = Vec::new();
    let requests = [
        (
            "/v1/hospitals",
            json!({"name": "Hospital Santa Luzia", "cnes": "2077485"}),
        ),
        (
            "/v1/hospitals",
            json!({"name": "Hospital São Lucas", "cnes": "2078015"}),
        ),
        (
            "/v1/doctors",
            json!({"email": "dra.beatriz@clinic.local", "name": "Dra. Beatriz Lima", "crm": "123456",
                   "uf": "SP", "specialty": "Cardiologia", "temporaryPassword": "Demo0Doctor1"}),
        ),
    ];
    for (path, body) in requests {
        let response = http
            .post(format!("{base_url}{path}"))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .map_err(|e| demo_err(&e))?;
        let status = response.status().as_u16();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        match status {
            201 => created.push(format!(
                "{path}: {} {}",
                body["name"].as_str().unwrap_or_default(),
                answer["clientId"]
                    .as_str()
                    .map(|id| format!(
                        "(clientId {id}, clientSecret {})",
                        answer["clientSecret"].as_str().unwrap_or("?")
                    ))
                    .unwrap_or_default()
            )),
            409 => {}
            other => {
                return Err(SeedError::Demo(format!(
                    "{path} answered {other}: {answer}"
                )));
            }
        }
    }
    created.extend(demo_slots(&http, base_url, token).await?);
    Ok(created)
}

/// Publishes a week of morning slots for each demo hospital once the exam catalogue knows it
/// (hospitals reach it through `hospital.registered`).
async fn demo_slots(
    http: &reqwest::Client,
    base_url: &str,
    token: &str,
) -> Result<Vec<String>, SeedError> {
    let demo_err = |e: &dyn std::fmt::Display| SeedError::Demo(e.to_string());
    let wanted = ["Hospital Santa Luzia", "Hospital São Lucas"];
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    let hospitals = loop {
        let list: Value = http
            .get(format!("{base_url}/v1/hospitals"))
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| demo_err(&e))?
            .json()
            .await
            .map_err(|e| demo_err(&e))?;
        let found: Vec<(String, String)> = list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|h| h["name"].as_str().is_some_and(|n| wanted.contains(&n)))
            .filter_map(|h| {
                Some((
                    h["id"].as_str()?.to_string(),
                    h["name"].as_str()?.to_string(),
                ))
            })
            .collect();
        if found.len() == wanted.len() {
            break found;
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(SeedError::Demo(
                "the demo hospitals did not reach the exam catalogue".into(),
            ));
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    };
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let mut published = Vec::new();
    for (id, name) in hospitals {
        let mut slots = Vec::new();
        for day in 1..=7 {
            let date = today.saturating_add(jiff::Span::new().days(day));
            for (exam_type, hour) in [("Hemograma", 8), ("Raio-X", 10), ("Ultrassom", 14)] {
                let start = format!("{date}T{hour:02}:00:00Z");
                let end = format!("{date}T{hour:02}:30:00Z");
                slots.push(
                    json!({"examType": exam_type, "start": start, "end": end, "capacity": 3}),
                );
            }
        }
        let response = http
            .put(format!("{base_url}/v1/hospitals/{id}/slots"))
            .bearer_auth(token)
            .json(&slots)
            .send()
            .await
            .map_err(|e| demo_err(&e))?;
        if !response.status().is_success() {
            let status = response.status();
            let answer = response.text().await.unwrap_or_default();
            return Err(SeedError::Demo(format!(
                "slots of {name} answered {status}: {answer}"
            )));
        }
        published.push(format!(
            "{name}: {} slots over the next 7 days",
            slots.len()
        ));
    }
    Ok(published)
}

/// Verifies the sender addresses the functions are configured with (`*SENDER_EMAIL` variables),
/// as a deployment does out of band: the emulator, like SES, refuses unverified senders.
///
/// # Errors
/// [`SeedError::Sender`] when the emulator refuses the identity.
pub async fn verify_senders(
    ses: &aws_sdk_sesv2::Client,
    stack: &crate::model::LocalStack,
) -> Result<Vec<String>, SeedError> {
    let mut senders: Vec<String> = stack
        .functions
        .iter()
        .flat_map(|f| f.environment.iter())
        .filter(|(name, value)| name.ends_with("SENDER_EMAIL") && value.contains('@'))
        .map(|(_, value)| value.clone())
        .collect();
    senders.sort();
    senders.dedup();
    for sender in &senders {
        let result = ses
            .create_email_identity()
            .email_identity(sender)
            .send()
            .await;
        if let Err(err) = result {
            let code = aws_sdk_sesv2::error::ProvideErrorMetadata::code(&err)
                .unwrap_or_default()
                .to_string();
            if code != "AlreadyExistsException" {
                return Err(SeedError::Sender(format!(
                    "could not verify {sender}: {}",
                    clinic_shared::aws::error_text(&err)
                )));
            }
        }
    }
    Ok(senders)
}

/// A valid CPF (check digits right) made from `n`, for synthetic people: load runs and benches.
pub fn synthetic_cpf(n: u64) -> String {
    let mut digits: Vec<u32> = format!("{:09}", 100_000_000 + n % 800_000_000)
        .chars()
        .filter_map(|c| c.to_digit(10))
        .collect();
    for len in [9u32, 10] {
        let sum: u32 = digits
            .iter()
            .zip((2..=len + 1).rev())
            .map(|(digit, weight)| digit * weight)
            .sum();
        let rest = (sum * 10) % 11;
        digits.push(if rest == 10 { 0 } else { rest });
    }
    digits
        .iter()
        .map(|d| char::from_digit(*d, 10).unwrap_or('0'))
        .collect()
}

#[cfg(test)]
mod synthetic_cpf_tests {
    #[test]
    fn check_digits_are_right() {
        // 111.444.777-35 is the textbook example of a valid CPF.
        assert_eq!(super::synthetic_cpf(11_444_777), "11144477735");
    }
}
