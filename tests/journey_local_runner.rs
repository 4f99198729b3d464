//! The local runner, used from the outside: started from a clean state, driven over HTTP only.

use std::collections::HashMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use clinic_journeys::local_system::{LocalSystem, bin_dir, free_port, runner_command};
use clinic_journeys::root;
use serde_json::{Value, json};

async fn post(http: &reqwest::Client, url: &str, token: Option<&str>, body: Value) -> (u16, Value) {
    let mut request = http.post(url).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn get(http: &reqwest::Client, url: &str, token: Option<&str>) -> (u16, Value) {
    let mut request = http.get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn emulator_sdk(url: &str) -> aws_config::SdkConfig {
    clinic_shared::aws::with_https_client(aws_config::defaults(
        aws_config::BehaviorVersion::latest(),
    ))
    .region(aws_config::Region::new("us-east-1"))
    .credentials_provider(aws_sdk_sqs::config::Credentials::new(
        "testing", "testing", None, None, "static",
    ))
    .endpoint_url(url)
    .load()
    .await
}

/// Signs a patient up, confirms, signs in; returns the access token.
async fn patient_token(http: &reqwest::Client, base: &str, email: &str) -> String {
    let (status, body) = post(
        http,
        &format!("{base}/v1/accounts/patients"),
        None,
        json!({"email": email, "password": "Passw0rdOk", "name": "Ana Souza", "cpf": "52998224725",
               "birthDate": "1990-04-12", "phone": "+5511987654321"}),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let (status, _) = post(
        http,
        &format!("{base}/v1/accounts/confirm"),
        None,
        json!({"email": email, "code": "123456", "password": "Passw0rdOk"}),
    )
    .await;
    assert_eq!(status, 204);
    let (status, tokens) = post(
        http,
        &format!("{base}/v1/auth/token"),
        None,
        json!({"username": email, "password": "Passw0rdOk"}),
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    tokens["accessToken"]
        .as_str()
        .expect("access token")
        .to_string()
}

#[tokio::test]
async fn a_patient_signs_up_and_reads_the_profile_through_the_local_system() {
    let system = LocalSystem::start(&root().join("template.yaml"), &bin_dir(), &[]).await;
    let http = reqwest::Client::new();
    let base = &system.base_url;

    // Listen on the accounts topic like a consumer service would.
    let sdk = emulator_sdk(&system.emulator_url).await;
    let topic = "arn:aws:sns:us-east-1:123456789012:clinic-local-accounts-events";
    let probe = clinic_shared::testing::TopicProbe::subscribe(&sdk, topic).await;

    let token = patient_token(&http, base, "ana.journey@example.com").await;
    let (status, me) = get(&http, &format!("{base}/v1/me"), Some(&token)).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["email"], "ana.journey@example.com");
    assert_eq!(me["role"], "patient");

    let (status, refused) = post(
        &http,
        &format!("{base}/v1/doctors"),
        Some(&token),
        json!({"email": "d@example.com", "name": "Dr. X", "crm": "123456", "uf": "SP", "specialty": "Clínica"}),
    )
    .await;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(refused["code"], "FORBIDDEN");

    let (status, _) = get(&http, &format!("{base}/v1/me"), None).await;
    assert_eq!(
        status, 401,
        "the gateway's JWT authorizer refuses requests without a token"
    );
    let (status, _) = get(&http, &format!("{base}/v1/me"), Some("not-a-jwt")).await;
    assert_eq!(status, 401);

    // The outbox relay ran from the table's stream and published the sign-up's events.
    let events = probe.receive(2, Duration::from_secs(20)).await;
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert!(
        types.contains(&"account.created") && types.contains(&"patient.registered"),
        "{types:?}"
    );

    let (status, spec) = get(&http, &format!("{base}/openapi.json"), None).await;
    assert_eq!(status, 200);
    for path in [
        "/v1/me",
        "/v1/me/notifications",
        "/v1/files/{fileId}/download",
    ] {
        assert!(
            spec["paths"].get(path).is_some(),
            "{path} missing from the merged spec"
        );
    }

    let output = system.output();
    assert!(
        output.contains("[AccountsApiFunction] REPORT RequestId:"),
        "{output}"
    );
    assert!(output.contains("Max Memory Used:"));
}

#[tokio::test]
async fn only_the_failed_message_of_a_batch_is_redelivered_until_the_dlq() {
    let template = root().join("tests/fixtures/sqs-consumer.yaml");
    let system = LocalSystem::start(&template, &bin_dir().join("examples"), &[]).await;
    let sdk = emulator_sdk(&system.emulator_url).await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let queue = sqs
        .get_queue_url()
        .queue_name("clinic-local-WorkQueue")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let dlq = sqs
        .get_queue_url()
        .queue_name("clinic-local-WorkDeadLetterQueue")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();

    let entries: Vec<_> = ["ok-1", "ok-2", "please fail", "ok-3", "ok-4"]
        .iter()
        .enumerate()
        .map(|(i, body)| {
            aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                .id(format!("m{i}"))
                .message_body(*body)
                .build()
                .unwrap()
        })
        .collect();
    let sent = sqs
        .send_message_batch()
        .queue_url(&queue)
        .set_entries(Some(entries))
        .send()
        .await
        .unwrap();
    let ids: HashMap<String, String> = sent
        .successful()
        .iter()
        .map(|e| (e.id().to_string(), e.message_id().to_string()))
        .collect();
    assert_eq!(ids.len(), 5);

    let deadline = Instant::now() + Duration::from_secs(90);
    let parked = loop {
        let out = sqs
            .receive_message()
            .queue_url(&dlq)
            .wait_time_seconds(1)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
            .send()
            .await
            .unwrap();
        if let Some(message) = out.messages().first() {
            break message.clone();
        }
        assert!(
            Instant::now() < deadline,
            "nothing reached the DLQ; output:\n{}",
            system.output()
        );
    };
    assert_eq!(parked.body(), Some("please fail"));
    assert_eq!(parked.message_id(), Some(ids["m2"].as_str()));

    let output = system.output();
    let failed_deliveries = output
        .matches(&format!("sqs failed {} please fail", ids["m2"]))
        .count();
    assert_eq!(
        failed_deliveries, 4,
        "the failing message is received maxReceiveCount (4) times:\n{output}"
    );
    for key in ["m0", "m1", "m3", "m4"] {
        let processed = output
            .matches(&format!("sqs processed {} ", ids[key]))
            .count();
        assert_eq!(
            processed, 1,
            "{key} must be delivered exactly once:\n{output}"
        );
    }
    let left = sqs
        .get_queue_attributes()
        .queue_url(&queue)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .unwrap();
    let visible = left
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages))
        .cloned();
    assert_eq!(visible.as_deref(), Some("0"));
}

#[tokio::test]
async fn a_route_missing_from_the_template_is_not_served() {
    // The real template without the `GET /v1/doctors` route: the accounts function still has the
    // handler, but API Gateway (and so the runner) never routes to it.
    let text = std::fs::read_to_string(root().join("template.yaml")).unwrap();
    let start = text
        .find("        DoctorsGet:\n")
        .expect("DoctorsGet event in template.yaml");
    let end = start
        + text[start..]
            .find("        HospitalsPost:\n")
            .expect("next event");
    let trimmed = format!("{}{}", &text[..start], &text[end..]);
    let dir = std::env::temp_dir().join(format!("clinic-route-{}", free_port()));
    std::fs::create_dir_all(&dir).unwrap();
    let template = dir.join("template.yaml");
    std::fs::write(&template, trimmed).unwrap();

    let system = LocalSystem::start(&template, &bin_dir(), &[]).await;
    let http = reqwest::Client::new();
    let token = patient_token(&http, &system.base_url, "route.check@example.com").await;
    let (status, body) = get(
        &http,
        &format!("{}/v1/doctors", system.base_url),
        Some(&token),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body, json!({"message": "Not Found"}));
    let (status, _) = get(&http, &format!("{}/v1/me", system.base_url), Some(&token)).await;
    assert_eq!(status, 200, "the other routes still work");
    let _ = std::fs::remove_dir_all(dir);
}

fn run_runner_expecting_failure(template: &std::path::Path) -> String {
    let port = free_port();
    let output = runner_command(template, "http://127.0.0.1:1", port, &bin_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("run the runner");
    assert!(
        !output.status.success(),
        "the runner accepted a bad template"
    );
    String::from_utf8_lossy(&output.stderr).to_string()
}

#[test]
fn bad_templates_are_refused_with_the_resource_and_line() {
    let unknown =
        run_runner_expecting_failure(&root().join("tests/fixtures/unknown-resource.yaml"));
    assert!(unknown.contains("ReportsCluster"), "{unknown}");
    assert!(unknown.contains("AWS::RDS::DBCluster"), "{unknown}");
    assert!(unknown.contains("unknown-resource.yaml:6"), "{unknown}");

    let broken = run_runner_expecting_failure(&root().join("tests/fixtures/broken.yaml"));
    assert!(broken.contains("broken.yaml"), "{broken}");
    assert!(
        broken.contains("line 7") || broken.contains("broken.yaml:7") || broken.contains(":7"),
        "{broken}"
    );
}

#[test]
fn the_runner_says_when_the_emulator_is_down() {
    let stderr = run_runner_expecting_failure(&root().join("template.yaml"));
    assert!(stderr.contains("emulator"), "{stderr}");
}

#[tokio::test]
async fn demo_mode_brings_hospitals_slots_and_a_doctor() {
    let system = LocalSystem::start(&root().join("template.yaml"), &bin_dir(), &["--demo"]).await;
    let http = reqwest::Client::new();
    let base = &system.base_url;
    let (status, challenge) = post(
        &http,
        &format!("{base}/v1/auth/token"),
        None,
        json!({"username": "staff@clinic.local", "password": "Clinic0Staff"}),
    )
    .await;
    assert_eq!(status, 200, "{challenge}");
    assert_eq!(
        challenge["challenge"], "SOFTWARE_TOKEN_MFA",
        "staff answer an authenticator code: {challenge}"
    );
    let staff = clinic_local::seed::sign_in(
        &http,
        base,
        "staff@clinic.local",
        "Clinic0Staff",
        Some(&system.staff_secret()),
    )
    .await
    .expect("the seeded staff account signs in with its authenticator")
    .access_token;
    let staff = staff.as_str();

    let (_, hospitals) = get(&http, &format!("{base}/v1/hospitals"), Some(staff)).await;
    let items = hospitals["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 2, "{hospitals}");
    assert!(
        items
            .iter()
            .all(|h| h["examTypes"].as_array().is_some_and(|t| t.len() == 3)),
        "{hospitals}"
    );
    let hospital = items[0]["id"].as_str().unwrap();
    let (_, slots) = get(
        &http,
        &format!("{base}/v1/slots?hospitalId={hospital}"),
        Some(staff),
    )
    .await;
    assert!(
        slots["items"].as_array().is_some_and(|s| !s.is_empty()),
        "{slots}"
    );

    let (_, doctors) = get(&http, &format!("{base}/v1/doctors"), Some(staff)).await;
    assert_eq!(
        doctors["items"][0]["name"], "Dra. Beatriz Lima",
        "{doctors}"
    );
    assert!(
        system.output().contains("demo: "),
        "the banner lists what the demo created"
    );
}
