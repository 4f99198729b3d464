//! Token attacks through the local runner: forged, stale, misdirected and revoked tokens against
//! routes of both authorizers — the API's Cognito JWT authorizer (`GET /v1/me`,
//! `GET /v1/me/notifications`, `GET /v1/files/{fileId}/download`) and the Lambda authorizer
//! (`GET /v1/exams`, `GET /v1/exams/{id}`, the hospital batch route). Every attack must be
//! refused with 401 or 403 and no data; the test counts the attacks it tried.
//!
//! Tokens with chosen claims are signed with the emulator's own Cognito key (the key the
//! emulator's JWKS publishes, shipped with it), so a refusal tests the claim checks and not only
//! the signature; hospital tokens with chosen claims are signed with the runner's token key,
//! read from the environment of the function processes of this test's runner.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use clinic_journeys::api::{
    Api, Call, Person, STAFF_EMAIL, STAFF_PASSWORD, claims_of, cpf, eventually,
};
use clinic_journeys::local_system::{LocalSystem, bin_dir};
use clinic_journeys::root;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde_json::{Value, json};

/// The emulator's Cognito signing key, as PEM (private, public).
fn emulator_key() -> (String, String) {
    let python = root().join(".venv/bin/python");
    let output = std::process::Command::new(python)
        .args([
            "-c",
            "import gzip, json, importlib.resources as r\n\
             from joserfc import jwk\n\
             raw = (r.files('moto') / 'cognitoidp/resources/jwks-private.json.gz').read_bytes()\n\
             key = jwk.RSAKey.import_key(json.loads(gzip.decompress(raw)))\n\
             print(json.dumps([key.as_pem(private=True).decode(), key.as_pem(private=False).decode()]))",
        ])
        .output()
        .expect("run the project's python");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let pems: Vec<String> = serde_json::from_slice(&output.stdout).expect("two PEM keys");
    (pems[0].clone(), pems[1].clone())
}

/// The runner's HS256 token key, from a function process of the runner that talks to
/// `emulator_url` (the runner hands it to the functions it runs).
fn runner_token_secret(emulator_url: &str) -> Option<Vec<u8>> {
    let endpoint = format!("AWS_ENDPOINT_URL={emulator_url}");
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        let vars: Vec<&[u8]> = environ.split(|b| *b == 0).collect();
        if !vars.contains(&endpoint.as_bytes()) {
            continue;
        }
        for var in vars {
            if let Some(secret) = var.strip_prefix(b"CLINIC_LOCAL_TOKEN_SECRET=") {
                return STANDARD.decode(secret).ok();
            }
        }
    }
    None
}

fn sign(header: &Header, claims: &Value, key: &EncodingKey) -> String {
    jsonwebtoken::encode(header, claims, key).expect("sign")
}

fn rs256(kid: &str) -> Header {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_string());
    header
}

fn hs256(kid: &str) -> Header {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid.to_string());
    header
}

/// A token with a hand-written header and claims and the given signature part.
fn raw_token(header: &Value, claims: &Value, signature: &str) -> String {
    format!(
        "{}.{}.{signature}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

fn with(claims: &Value, changes: Value) -> Value {
    let mut claims = claims.clone();
    if let (Some(target), Some(changes)) = (claims.as_object_mut(), changes.as_object()) {
        for (k, v) in changes {
            if v.is_null() {
                target.remove(k);
            } else {
                target.insert(k.clone(), v.clone());
            }
        }
    }
    claims
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// Emulator API call (JSON protocol) for what the API offers no route for.
async fn cognito(http: &reqwest::Client, emulator: &str, action: &str, body: Value) -> Value {
    let response = http
        .post(emulator)
        .header(
            "x-amz-target",
            format!("AWSCognitoIdentityProviderService.{action}"),
        )
        .header("content-type", "application/x-amz-json-1.1")
        .body(body.to_string())
        .send()
        .await
        .expect("emulator call");
    assert!(
        response.status().is_success(),
        "{action}: {}",
        response.status()
    );
    response.json().await.unwrap_or(Value::Null)
}

/// The routes every attack is tried on: `(label, call without token)`.
fn targets(exam: &str, file: &str) -> Vec<(String, Call)> {
    let batch = json!({"items": [{"externalId": "ATTACK-1", "version": 1, "patientCpf": cpf(123_456_789),
        "examType": "Glicemia", "status": "SCHEDULED", "scheduledAt": "2031-02-01T09:00:00Z"}]});
    vec![
        ("GET /v1/me".into(), Call::new(Method::GET, "/v1/me")),
        (
            "GET /v1/me/notifications".into(),
            Call::new(Method::GET, "/v1/me/notifications"),
        ),
        (
            "GET /v1/files/{fileId}/download".into(),
            Call::new(Method::GET, format!("/v1/files/{file}/download")),
        ),
        ("GET /v1/exams".into(), Call::new(Method::GET, "/v1/exams")),
        (
            "GET /v1/exams/{id}".into(),
            Call::new(Method::GET, format!("/v1/exams/{exam}")),
        ),
        (
            "POST /v1/integrations/exams:batch".into(),
            Call::new(Method::POST, "/v1/integrations/exams:batch").json(batch),
        ),
    ]
}

/// Attacks the product does not refuse yet, by `(attack, route)`, with why. Each must still
/// happen (a fixed gap fails the test until it is taken off this list); anything else that is not
/// refused fails it too.
const KNOWN_GAPS: &[(&str, &str, &str)] = &[
    // Cognito revokes a disabled user's access tokens for its own APIs, but API Gateway's JWT
    // authorizer (and the Lambda authorizer) check signatures and claims only: the token keeps
    // working until it expires (the web client's access tokens live 60 minutes). The owner's
    // own data only; nobody else's.
    (
        "access token of a disabled user",
        "GET /v1/me",
        "200: the disabled user's own profile",
    ),
    (
        "access token of a disabled user",
        "GET /v1/me/notifications",
        "200: own log",
    ),
    (
        "access token of a disabled user",
        "GET /v1/exams",
        "200: own exams",
    ),
    (
        "access token of a disabled user",
        "GET /v1/exams/{id}",
        "200: own exam",
    ),
    (
        "access token of a disabled user",
        "GET /v1/files/{fileId}/download",
        "404: no such file",
    ),
    // After erasure the reads find nothing of the person any more (the exam's links are gone,
    // the log deleted, the profile anonymised) and answer 404 or an empty list instead of 401;
    // changes are refused with 401 ACCOUNT_ERASED.
    (
        "access token of an erased account",
        "GET /v1/me",
        "404: the profile is anonymised",
    ),
    (
        "access token of an erased account",
        "GET /v1/me/notifications",
        "200: an empty log",
    ),
    (
        "access token of an erased account",
        "GET /v1/exams",
        "200: an empty list",
    ),
    (
        "access token of an erased account",
        "GET /v1/exams/{id}",
        "404: unlinked",
    ),
];

struct Outcome {
    tried: usize,
    findings: Vec<String>,
    known: Vec<(String, String)>,
    table: String,
}

/// Tries `token` on every target; anything but 401/403 (or a 2xx body naming the victim) is a
/// finding.
async fn attack(
    api: &Api,
    name: &str,
    token: &str,
    targets: &[(String, Call)],
    secrets: &[String],
    outcome: &mut Outcome,
) {
    let mut statuses = Vec::new();
    for (label, call) in targets {
        let reply = api.call(&call.clone().token(Some(token))).await;
        outcome.tried += 1;
        statuses.push(reply.status.to_string());
        let leaked: Vec<&String> = secrets
            .iter()
            .filter(|s| reply.text.contains(s.as_str()))
            .collect();
        let refused = matches!(reply.status, 401 | 403);
        let known = KNOWN_GAPS
            .iter()
            .any(|(attack, route, _)| *attack == name && route == label);
        if !refused && leaked.is_empty() && known {
            outcome.known.push((name.to_string(), label.clone()));
        } else if !refused || !leaked.is_empty() {
            outcome.findings.push(format!(
                "{name} on {label}: {} {}",
                reply.status,
                reply.text.chars().take(300).collect::<String>()
            ));
        }
    }
    outcome
        .table
        .push_str(&format!("{name:<58} {}\n", statuses.join(" ")));
}

#[tokio::test]
async fn forged_stale_misdirected_and_revoked_tokens_are_refused() {
    let system = LocalSystem::start(&root().join("template.yaml"), &bin_dir(), &[]).await;
    let api = Api::of(&system);
    let http = reqwest::Client::new();
    let emulator = system.emulator_url.clone();

    // The victim: a patient with a booked exam and a result file's id to aim at.
    let staff = api.sign_in(STAFF_EMAIL, STAFF_PASSWORD).await;
    let hospital = api
        .hospital(&staff.access, "Hospital Alvo", "2000101")
        .await;
    let slots = api
        .publish_slots(
            &staff.access,
            &hospital.id,
            json!([{"examType": "Raio-X", "start": "2031-03-01T10:00:00Z",
                    "end": "2031-03-01T10:30:00Z", "capacity": 3}]),
        )
        .await;
    let victim_cpf = cpf(111_444_777);
    let victim = api
        .patient("vitima.token@example.com", &victim_cpf, "+5511922220001")
        .await;
    let exam = api.book(&victim.access, &slots[0], "attack-booking").await;
    let secrets = vec![
        exam.clone(),
        victim.id.clone(),
        victim.email.clone(),
        victim_cpf.clone(),
    ];
    let targets = targets(&exam, "01JAAAAAAAAAAAAAAAAAAAAAAA");

    // The genuine tokens work (so a refusal below is the attack's doing).
    for (label, call) in &targets[..5] {
        let reply = api.call(&call.clone().token(Some(&victim.access))).await;
        assert!(
            reply.status == 200 || (label.contains("download") && reply.status == 404),
            "the victim's own token on {label}: {} {}",
            reply.status,
            reply.text
        );
    }
    let reply = api
        .call(&targets[5].1.clone().token(Some(&hospital.token)))
        .await;
    assert_eq!(
        reply.status, 202,
        "the hospital's own token: {}",
        reply.text
    );

    let (private_pem, public_pem) = emulator_key();
    let cognito_key = EncodingKey::from_rsa_pem(private_pem.as_bytes()).expect("emulator key");
    let access = claims_of(&victim.access);
    let kid = jsonwebtoken::decode_header(&victim.access)
        .expect("header")
        .kid
        .expect("kid");
    // The emulator's key really is the pool's: a token it signs with unchanged claims passes.
    let resigned = sign(&rs256(&kid), &access, &cognito_key);
    let reply = api.get("/v1/exams", Some(&resigned)).await;
    assert_eq!(
        reply.status, 200,
        "a re-signed genuine token: {}",
        reply.text
    );

    let mut attacks: BTreeMap<String, String> = BTreeMap::new();
    let mut add = |name: &str, token: String| {
        attacks.insert(name.to_string(), token);
    };
    let t = now();
    add(
        "expired (exp an hour ago)",
        sign(
            &rs256(&kid),
            &with(
                &access,
                json!({"exp": t - 3600, "iat": t - 7200, "auth_time": t - 7200}),
            ),
            &cognito_key,
        ),
    );
    add(
        "expired a second ago",
        sign(
            &rs256(&kid),
            &with(&access, json!({"exp": t - 1})),
            &cognito_key,
        ),
    );
    add(
        "no exp",
        sign(
            &rs256(&kid),
            &with(&access, json!({"exp": null})),
            &cognito_key,
        ),
    );
    add(
        "not yet valid (nbf in an hour)",
        sign(
            &rs256(&kid),
            &with(&access, json!({"nbf": t + 3600})),
            &cognito_key,
        ),
    );
    add(
        "issued in the future (iat in an hour)",
        sign(
            &rs256(&kid),
            &with(&access, json!({"iat": t + 3600, "exp": t + 7200})),
            &cognito_key,
        ),
    );
    add(
        "wrong issuer (another pool)",
        sign(
            &rs256(&kid),
            &with(
                &access,
                json!({"iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Attacker"}),
            ),
            &cognito_key,
        ),
    );
    add(
        "no issuer",
        sign(
            &rs256(&kid),
            &with(&access, json!({"iss": null})),
            &cognito_key,
        ),
    );
    add(
        "wrong client (client_id of another app)",
        sign(
            &rs256(&kid),
            &with(&access, json!({"client_id": "attacker-client"})),
            &cognito_key,
        ),
    );
    add(
        "wrong audience (aud of another app, no client_id)",
        sign(
            &rs256(&kid),
            &with(
                &access,
                json!({"client_id": null, "aud": "attacker-client"}),
            ),
            &cognito_key,
        ),
    );
    add(
        "unknown key id",
        sign(&rs256("attacker-key"), &access, &cognito_key),
    );
    // Bad signatures.
    let mut parts: Vec<String> = victim.access.split('.').map(str::to_string).collect();
    let mut sig = URL_SAFE_NO_PAD.decode(&parts[2]).expect("signature");
    sig[10] ^= 0x01;
    parts[2] = URL_SAFE_NO_PAD.encode(&sig);
    add("bad signature (one bit flipped)", parts.join("."));
    let escalated = raw_token(
        &json!({"alg": "RS256", "kid": kid}),
        &with(&access, json!({"cognito:groups": ["staff"]})),
        victim.access.split('.').nth(2).unwrap_or_default(),
    );
    add(
        "claims changed, genuine signature kept (groups → staff)",
        escalated,
    );
    add(
        "signature stripped",
        format!(
            "{}.",
            victim
                .access
                .rsplit_once('.')
                .map(|(h, _)| h)
                .unwrap_or_default()
        ),
    );
    for alg in ["none", "None", "NONE"] {
        add(
            &format!("alg: {alg}"),
            raw_token(&json!({"alg": alg, "kid": kid, "typ": "JWT"}), &access, ""),
        );
    }
    // HS256 with the public key as the HMAC secret (key confusion), with either key id.
    for pem in [public_pem.clone(), public_pem.trim_end().to_string()] {
        let key = EncodingKey::from_secret(pem.as_bytes());
        add(
            &format!(
                "HS256 signed with the public key ({} bytes), pool kid",
                pem.len()
            ),
            sign(&hs256(&kid), &access, &key),
        );
        add(
            &format!(
                "HS256 signed with the public key ({} bytes), runner kid",
                pem.len()
            ),
            sign(&hs256("clinic-local"), &access, &key),
        );
    }
    add(
        "HS256 with a guessed secret, runner kid",
        sign(
            &hs256("clinic-local"),
            &access,
            &EncodingKey::from_secret(b"secret"),
        ),
    );
    // Tokens of the wrong kind.
    add(
        "id token instead of an access token",
        victim.id_token.clone(),
    );
    add(
        "access token with token_use: refresh",
        sign(
            &rs256(&kid),
            &with(&access, json!({"token_use": "refresh"})),
            &cognito_key,
        ),
    );
    add("refresh token as bearer", victim.refresh.clone());
    add("garbage", "not.a.token".to_string());
    add("empty segments", "..".to_string());
    add("two segments", "eyJhbGciOiJub25lIn0.e30".to_string());
    add("huge", "A".repeat(16 * 1024));

    // Hospital tokens: a machine client of the pool that is not a hospital, one without the
    // ingest scope, and forged variants of a registered hospital's token.
    let pool = access["iss"]
        .as_str()
        .and_then(|iss| iss.rsplit('/').next())
        .expect("pool id")
        .to_string();
    for (name, scope) in [
        ("unregistered-machine", "clinic/ingest"),
        ("no-ingest-scope", "clinic/reports"),
    ] {
        let created = cognito(
            &http,
            &emulator,
            "CreateUserPoolClient",
            json!({"UserPoolId": pool, "ClientName": name, "GenerateSecret": true,
                   "AllowedOAuthFlows": ["client_credentials"], "AllowedOAuthFlowsUserPoolClient": true,
                   "AllowedOAuthScopes": [scope]}),
        )
        .await;
        let client = &created["UserPoolClient"];
        let token = api
            .client_token(
                client["ClientId"].as_str().expect("client id"),
                client["ClientSecret"].as_str().expect("secret"),
                Some(scope),
            )
            .await
            .expect("a token for the machine client");
        add(&format!("machine client {name} ({scope})"), token);
    }
    let hospital_claims = claims_of(&hospital.token);
    let secret = runner_token_secret(&emulator)
        .expect("the runner's token key in its functions' environment");
    {
        let key = EncodingKey::from_secret(&secret);
        let local = |changes: Value| {
            sign(
                &hs256("clinic-local"),
                &with(&hospital_claims, changes),
                &key,
            )
        };
        // Sanity: the key is the runner's (an unchanged hospital token signed with it passes).
        let reply = api
            .call(&targets[5].1.clone().token(Some(&local(json!({})))))
            .await;
        assert_eq!(
            reply.status, 202,
            "a re-signed hospital token: {}",
            reply.text
        );
        add(
            "hospital token without scope",
            local(json!({"scope": null})),
        );
        add(
            "hospital token with another scope",
            local(json!({"scope": "clinic/reports"})),
        );
        add("hospital token expired", local(json!({"exp": t - 60})));
        add(
            "hospital token not yet valid",
            local(json!({"nbf": t + 3600})),
        );
        add(
            "hospital token of another issuer",
            local(json!({"iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Attacker"})),
        );
        add(
            "hospital token claiming a person (username + patients group)",
            local(json!({"username": victim.id, "cognito:groups": ["patients"], "sub": victim.id})),
        );
    }

    let mut outcome = Outcome {
        tried: 0,
        findings: Vec::new(),
        known: Vec::new(),
        table: String::new(),
    };
    let names: Vec<String> = targets.iter().map(|(l, _)| l.clone()).collect();
    outcome
        .table
        .push_str(&format!("{:<58} {}\n", "attack", names.join(" | ")));
    for (name, token) in &attacks {
        attack(&api, name, token, &targets, &secrets, &mut outcome).await;
    }

    // Revoked identities: a disabled user, then an erased account.
    let disabled = api
        .patient(
            "desativada@example.com",
            &cpf(529_982_248),
            "+5511922220002",
        )
        .await;
    let disabled_exam = api
        .book(&disabled.access, &slots[0], "disabled-booking")
        .await;
    cognito(
        &http,
        &emulator,
        "AdminDisableUser",
        json!({"UserPoolId": pool, "Username": disabled.email}),
    )
    .await;
    let reply = api
        .post(
            "/v1/auth/token",
            None,
            json!({"username": disabled.email, "password": "Passw0rdOk"}),
        )
        .await;
    assert!(
        matches!(reply.status, 400 | 401 | 403),
        "a disabled user signs in: {}",
        reply.text
    );
    // Her own exam is what the token could still open; the victim's must stay closed anyway.
    let own_targets = self::targets(&disabled_exam, "01JAAAAAAAAAAAAAAAAAAAAAAA");
    attack(
        &api,
        "access token of a disabled user",
        &disabled.access,
        &own_targets[..5],
        &secrets,
        &mut outcome,
    )
    .await;
    erased_account_is_refused(
        &api,
        &staff.access,
        &exam,
        &victim,
        &targets,
        &secrets,
        &mut outcome,
    )
    .await;

    println!(
        "token attacks: {} tokens, {} requests\n{}",
        attacks.len() + 2,
        outcome.tried,
        outcome.table
    );
    let stale: Vec<String> = KNOWN_GAPS
        .iter()
        .filter(|(attack, route, _)| !outcome.known.iter().any(|(a, r)| a == attack && r == route))
        .map(|(attack, route, why)| format!("{attack} on {route} ({why})"))
        .collect();
    println!(
        "known gaps still open: {} of {}",
        outcome.known.len(),
        KNOWN_GAPS.len()
    );
    assert!(
        stale.is_empty(),
        "known gaps no longer happen — take them off KNOWN_GAPS:\n{}",
        stale.join("\n")
    );
    assert!(
        outcome.findings.is_empty(),
        "{} of {} attack requests were not refused:\n{}\n\n{}",
        outcome.findings.len(),
        outcome.tried,
        outcome.findings.join("\n"),
        outcome.table
    );
    drop(system);
}

/// After `DELETE /v1/me`, the erased account's still-unexpired access token opens nothing.
async fn erased_account_is_refused(
    api: &Api,
    staff: &str,
    exam: &str,
    victim: &Person,
    targets: &[(String, Call)],
    secrets: &[String],
    outcome: &mut Outcome,
) {
    let reply = api
        .call(&Call::new(Method::DELETE, "/v1/me").token(Some(&victim.access)))
        .await;
    assert_eq!(reply.status, 204, "erasure: {}", reply.text);
    // The erasure reaches the other services through events: wait until staff see the exam
    // anonymised.
    eventually("the erasure reaches the exam service", || async {
        let reply = api.get(&format!("/v1/exams/{exam}"), Some(staff)).await;
        reply.body["anonymised"] == true
    })
    .await;
    let erased: Vec<(String, Call)> = targets[..5].to_vec();
    attack(
        api,
        "access token of an erased account",
        &victim.access,
        &erased,
        secrets,
        outcome,
    )
    .await;
}
