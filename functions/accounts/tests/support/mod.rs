//! A private accounts stack in the emulator per test: table, user pool, groups, app client,
//! resource server, events topic and a probe queue. Requests are the sample API Gateway events
//! from `events/accounts/`, adjusted per test and run through the function's real router.

#![allow(dead_code, unused_imports)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use aws_sdk_cognitoidentityprovider::types::ExplicitAuthFlowsType;
use aws_sdk_cognitoidentityprovider::types::{
    PasswordPolicyType, ResourceServerScopeType, UserPoolPolicyType, UsernameAttributeType,
    VerifiedAttributeType,
};
use base64::Engine;
use clinic_accounts::config::ApiConfig;
use clinic_shared::envelope::Envelope;
use clinic_shared::outbox::{DynamoOutbox, OutboxRelay, SnsPublisher, SweepReport};
use clinic_shared::testing::{TopicProbe, create_table, emulator_config, unique};
use serde_json::{Value, json};

pub const PASSWORD: &str = "Passw0rdOk";

pub struct Stack {
    pub sdk: aws_config::SdkConfig,
    pub cognito: aws_sdk_cognitoidentityprovider::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sns: aws_sdk_sns::Client,
    pub config: ApiConfig,
    pub topic_arn: String,
    pub probe: TopicProbe,
    pub router: axum::Router,
}

pub use clinic_shared::testing::Reply;

impl Stack {
    pub async fn new() -> Stack {
        Self::with_groups(&["patients", "doctors", "staff"]).await
    }

    /// A stack whose user pool has only these groups (to make a step of account creation fail).
    pub async fn with_groups(groups: &[&str]) -> Stack {
        let sdk = emulator_config().await;
        let cognito = aws_sdk_cognitoidentityprovider::Client::new(&sdk);
        let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
        let sns = aws_sdk_sns::Client::new(&sdk);
        let table = unique("accounts");
        create_table(&dynamodb, &table, "AccountsTable").await;
        let pool = cognito
            .create_user_pool()
            .pool_name(unique("clinic"))
            .username_attributes(UsernameAttributeType::Email)
            .mfa_configuration(aws_sdk_cognitoidentityprovider::types::UserPoolMfaType::Optional)
            .auto_verified_attributes(VerifiedAttributeType::Email)
            .policies(
                UserPoolPolicyType::builder()
                    .password_policy(
                        PasswordPolicyType::builder()
                            .minimum_length(8)
                            .require_lowercase(true)
                            .require_uppercase(true)
                            .require_numbers(true)
                            .require_symbols(false)
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .expect("user pool")
            .user_pool
            .and_then(|p| p.id)
            .expect("pool id");
        for group in groups {
            cognito
                .create_group()
                .user_pool_id(&pool)
                .group_name(*group)
                .send()
                .await
                .expect("group");
        }
        let client_id = cognito
            .create_user_pool_client()
            .user_pool_id(&pool)
            .client_name("web")
            .explicit_auth_flows(ExplicitAuthFlowsType::AllowUserPasswordAuth)
            .explicit_auth_flows(ExplicitAuthFlowsType::AllowRefreshTokenAuth)
            .send()
            .await
            .expect("client")
            .user_pool_client
            .and_then(|c| c.client_id)
            .expect("client id");
        cognito
            .create_resource_server()
            .user_pool_id(&pool)
            .identifier("clinic")
            .name("clinic")
            .scopes(
                ResourceServerScopeType::builder()
                    .scope_name("ingest")
                    .scope_description("push exams")
                    .build()
                    .expect("scope"),
            )
            .send()
            .await
            .expect("resource server");
        let topic_arn = sns
            .create_topic()
            .name(unique("accounts-events"))
            .send()
            .await
            .expect("topic")
            .topic_arn
            .expect("topic arn");
        let probe = TopicProbe::subscribe(&sdk, &topic_arn).await;
        let config = ApiConfig {
            table_name: table,
            user_pool_id: pool,
            user_pool_client_id: client_id,
            ingest_scope: "clinic/ingest".into(),
        };
        let router = clinic_accounts::build_api(&config, &sdk);
        Stack {
            sdk,
            cognito,
            dynamodb,
            sns,
            config,
            topic_arn,
            probe,
            router,
        }
    }

    /// Runs an API Gateway v2 event through the function's router.
    pub async fn call(&self, event: Value) -> Reply {
        clinic_shared::testing::call(&self.router, event).await
    }

    /// Publishes whatever the outbox holds (what the relay function does on its schedule).
    pub async fn relay(&self) -> SweepReport {
        self.relay_to(&self.topic_arn).await
    }

    pub async fn relay_to(&self, topic_arn: &str) -> SweepReport {
        let relay = OutboxRelay::new(
            SnsPublisher::new(self.sns.clone(), topic_arn.to_string()),
            DynamoOutbox::new(self.dynamodb.clone(), self.config.table_name.clone()),
            jiff::SignedDuration::ZERO,
        );
        relay.sweep().await.expect("sweep")
    }

    /// Relays the outbox and returns the events that reached the topic.
    pub async fn published(&self, expected: usize) -> Vec<Envelope> {
        self.relay().await;
        self.probe.receive(expected, Duration::from_secs(5)).await
    }

    /// Signs a patient up with a fresh e-mail and CPF (not confirmed); returns (id, email, cpf).
    pub async fn sign_up(&self) -> (String, String, String) {
        let email = format!("{}@example.com", unique("patient"));
        let cpf = random_cpf();
        let reply = self.call(sign_up_event(&email, &cpf)).await;
        assert_eq!(reply.status, 202, "{:?}", reply.body);
        assert_eq!(reply.body, json!({"status": "PENDING_CONFIRMATION"}));
        (self.user_id(&email).await, email, cpf)
    }

    /// The identity provider's id of the user with this e-mail.
    pub async fn user_id(&self, email: &str) -> String {
        self.cognito
            .admin_get_user()
            .user_pool_id(&self.config.user_pool_id)
            .username(email)
            .send()
            .await
            .expect("user exists")
            .username()
            .to_string()
    }

    /// Confirms a sign-up with the password chosen at sign-up.
    pub async fn confirm(&self, email: &str) -> Reply {
        self.call(confirm_event(email, PASSWORD)).await
    }

    /// Signs up, confirms and signs in; returns (id, email, access-token claims).
    pub async fn patient(&self) -> (String, String, HashMap<String, String>) {
        let (id, email, _) = self.sign_up().await;
        let confirm = self.confirm(&email).await;
        assert_eq!(confirm.status, 204, "{:?}", confirm.body);
        let tokens = self
            .call(public_event(
                "auth-token.json",
                json!({"username": email, "password": PASSWORD}),
            ))
            .await;
        assert_eq!(tokens.status, 200, "{:?}", tokens.body);
        let claims = claims_of(tokens.body["accessToken"].as_str().expect("access token"));
        (id, email, claims)
    }

    /// The events of `subject` still kept in the table's outbox, by type.
    pub async fn kept_events(&self, subject: &str) -> Vec<String> {
        let out = self
            .dynamodb
            .query()
            .table_name(&self.config.table_name)
            .index_name("gsi1")
            .key_condition_expression("gsi1pk = :pk")
            .expression_attribute_values(
                ":pk",
                aws_sdk_dynamodb::types::AttributeValue::S(format!("OUTBOXOF#{subject}")),
            )
            .send()
            .await
            .expect("query");
        out.items()
            .iter()
            .filter_map(|i| i.get("eventType").and_then(|v| v.as_s().ok()).cloned())
            .collect()
    }
}

/// A sample event from `events/accounts/`.
pub fn sample(name: &str) -> Value {
    let path = PathBuf::from(
        std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string()),
    )
    .join("../../events/accounts")
    .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("sample event is JSON")
}

/// A public route's sample event with this body.
pub fn public_event(name: &str, body: Value) -> Value {
    let mut event = sample(name);
    event["body"] = Value::String(body.to_string());
    event["headers"]["content-type"] = json!("application/json");
    event
}

/// An authenticated route's sample event with these verified claims (and body, if any).
pub fn authed_event(name: &str, claims: &HashMap<String, String>, body: Option<Value>) -> Value {
    let mut event = sample(name);
    event["requestContext"]["authorizer"]["jwt"]["claims"] = json!(claims);
    if let Some(body) = body {
        event["body"] = Value::String(body.to_string());
        event["headers"]["content-type"] = json!("application/json");
    }
    event
}

/// The same event as it arrives when no authorizer ran.
pub fn without_auth(mut event: Value) -> Value {
    if let Some(ctx) = event["requestContext"].as_object_mut() {
        ctx.remove("authorizer");
    }
    event
}

pub fn confirm_event(email: &str, password: &str) -> Value {
    public_event(
        "confirm.json",
        json!({"email": email, "code": "123456", "password": password}),
    )
}

pub fn sign_up_event(email: &str, cpf: &str) -> Value {
    public_event(
        "signup-patient.json",
        json!({
            "email": email, "password": PASSWORD, "name": "Ana Souza", "cpf": cpf,
            "birthDate": "1990-04-12", "phone": "+5511987654321",
            "preferences": {"email": true, "sms": false, "language": "en"}
        }),
    )
}

/// Claims as API Gateway's JWT authorizer hands them over: every value a string, arrays as
/// `[a b]`.
pub fn claims_of(token: &str) -> HashMap<String, String> {
    let payload = token.split('.').nth(1).expect("JWT payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .expect("base64 payload");
    let value: serde_json::Map<String, Value> =
        serde_json::from_slice(&bytes).expect("JSON payload");
    value
        .into_iter()
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s,
                Value::Array(items) => format!(
                    "[{}]",
                    items
                        .iter()
                        .map(|i| i
                            .as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| i.to_string()))
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
                other => other.to_string(),
            };
            (k, text)
        })
        .collect()
}

/// Claims of a staff member (the authorizer already verified the token).
pub fn staff_claims() -> HashMap<String, String> {
    let id = ulid::Ulid::new().to_string();
    [
        ("sub", id.as_str()),
        ("username", id.as_str()),
        ("cognito:groups", "[staff]"),
        ("token_use", "access"),
        ("scope", "aws.cognito.signin.user.admin"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Claims of a hospital's client-credentials token.
pub fn hospital_claims() -> HashMap<String, String> {
    let id = ulid::Ulid::new().to_string().to_lowercase();
    [
        ("sub", id.as_str()),
        ("client_id", id.as_str()),
        ("token_use", "access"),
        ("scope", "clinic/ingest"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

pub use clinic_shared::testing::random_cpf;

pub use clinic_shared::testing::field_names;
