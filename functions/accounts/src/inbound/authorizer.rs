//! The HTTP API's Lambda authorizer for routes that machine clients call too.
//!
//! API Gateway's JWT authorizer only accepts app clients listed in a fixed audience, but every
//! hospital gets its own client-credentials app client at run time. This authorizer accepts the
//! same people's tokens as the JWT authorizer (signed by the user pool, issued to the web client)
//! and, in addition, access tokens of app clients registered as hospitals with the ingest scope.
//! It answers with an API Gateway "simple response"; the verified claims travel on as the
//! authorizer context, where `clinic_shared::auth::Caller` reads them.
//!
//! A token it cannot verify *because a dependency failed* (the key set or the hospital directory
//! unreachable) is not denied but answered with an error: API Gateway caches denials for the
//! route's `ReauthorizeEvery`, and a valid caller must not be shut out for minutes by a blip.
//! Every dependency call is bounded in time so the answer comes within the function's timeout.
//!
//! Tokens signed by the local runner's token endpoint (HS256, key id `clinic-local`) are
//! understood only in builds with the `local-tokens` feature, which workspace builds turn on (the
//! `tests` package depends on this crate with it) and release packaging leaves off.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use clinic_shared::config::{ConfigError, optional, required};
use clinic_shared::jwks::{JwksCache, JwksError};
#[cfg(feature = "local-tokens")]
use jsonwebtoken::DecodingKey;
use jsonwebtoken::{Algorithm, Validation, decode, decode_header};
use serde_json::{Value, json};

use crate::domain::error::StoreError;

/// Key id of tokens signed by the local runner's token endpoint.
#[cfg(feature = "local-tokens")]
const LOCAL_KEY_ID: &str = "clinic-local";

/// How long fetching the user pool's keys may take (the function's timeout is 3 s).
const JWKS_TIMEOUT: Duration = Duration::from_millis(1500);
/// How long looking a hospital client up may take.
const DIRECTORY_TIMEOUT: Duration = Duration::from_millis(1000);

/// What the authorizer checks tokens against.
#[derive(Clone)]
pub struct AuthorizerConfig {
    pub issuer: String,
    pub jwks_url: String,
    pub web_client_ids: Vec<String>,
    pub ingest_scope: String,
    /// HMAC secret of the local runner's tokens. Only the local runner sets
    /// `CLINIC_LOCAL_TOKEN_SECRET` (it is not in template.yaml); it is read only by builds with the
    /// `local-tokens` feature and only when an emulator endpoint is configured too, so deployed
    /// functions never accept local tokens.
    pub local_secret: Option<Vec<u8>>,
}

impl std::fmt::Debug for AuthorizerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizerConfig")
            .field("issuer", &self.issuer)
            .field("jwks_url", &self.jwks_url)
            .field("web_client_ids", &self.web_client_ids)
            .field("local_secret", &self.local_secret.as_ref().map(|_| "***"))
            .finish()
    }
}

impl AuthorizerConfig {
    /// # Errors
    /// When a required variable is missing or the local secret is not base64.
    pub fn from_env() -> Result<Self, ConfigError> {
        let pool = required("USER_POOL_ID")?;
        let region = optional("AWS_REGION").unwrap_or_else(|| "us-east-1".to_string());
        let issuer = format!("https://cognito-idp.{region}.amazonaws.com/{pool}");
        // Against the emulator the pool's keys are served by the emulator, not by Cognito.
        let endpoint = clinic_shared::aws::endpoint_override();
        let jwks_url = match &endpoint {
            Some(endpoint) => format!(
                "{}/{pool}/.well-known/jwks.json",
                endpoint.trim_end_matches('/')
            ),
            None => format!("{issuer}/.well-known/jwks.json"),
        };
        let local_secret = local_secret(endpoint.as_deref())?;
        Ok(Self {
            issuer,
            jwks_url,
            web_client_ids: required("USER_POOL_CLIENT_ID")?
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
            ingest_scope: clinic_shared::auth::ingest_scope_from_env(),
            local_secret,
        })
    }
}

/// The local runner's token secret, in builds that understand local tokens.
#[cfg(feature = "local-tokens")]
fn local_secret(endpoint: Option<&str>) -> Result<Option<Vec<u8>>, ConfigError> {
    use base64::Engine;
    match (endpoint, optional("CLINIC_LOCAL_TOKEN_SECRET")) {
        (Some(_), Some(encoded)) => base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map(Some)
            .map_err(|e| ConfigError::Invalid {
                name: "CLINIC_LOCAL_TOKEN_SECRET".into(),
                reason: e.to_string(),
            }),
        _ => Ok(None),
    }
}

/// Release builds never read a local token secret.
#[cfg(not(feature = "local-tokens"))]
fn local_secret(_endpoint: Option<&str>) -> Result<Option<Vec<u8>>, ConfigError> {
    Ok(None)
}

/// Looks up which hospital an app client belongs to.
pub trait HospitalDirectory: Send + Sync {
    /// # Errors
    /// `Unavailable` when the store cannot be read.
    fn hospital_for_client(
        &self,
        client_id: &str,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;
}

/// Why a token is refused (logged, never returned).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Denied {
    #[error("no bearer token")]
    NoToken,
    #[error("token rejected: {0}")]
    Invalid(String),
    #[error("token of an app client that is neither the web client nor a registered hospital")]
    UnknownClient,
    /// Not a verdict on the token: a dependency failed. Answered with an error, never cached.
    #[error("dependency unavailable: {0}")]
    Unavailable(String),
}

/// The authorizer could not decide (a dependency failed): the invocation fails, API Gateway
/// answers 500 for this request and caches nothing.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("authorizer dependency unavailable: {0}")]
pub struct Undecided(pub String);

/// The authorizer over its hospital directory.
pub struct Authorizer<D> {
    config: AuthorizerConfig,
    keys: JwksCache,
    hospitals: D,
}

/// Claim values as API Gateway's JWT authorizer flattens them: strings as they are, lists as
/// `[a b]`, anything else as JSON text.
fn flatten(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        other => other.to_string(),
    }
}

fn bearer(event: &Value) -> Option<String> {
    let from_header = event["headers"]
        .as_object()
        .and_then(|h| {
            h.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        })
        .and_then(|(_, v)| v.as_str());
    let raw = from_header
        .or_else(|| event["identitySource"][0].as_str())?
        .trim();
    let token = raw
        .strip_prefix("Bearer ")
        .or_else(|| raw.strip_prefix("bearer "))
        .unwrap_or(raw)
        .trim();
    (!token.is_empty()).then(|| token.to_string())
}

impl<D: HospitalDirectory> Authorizer<D> {
    pub fn new(config: AuthorizerConfig, hospitals: D) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(JWKS_TIMEOUT)
            .timeout(JWKS_TIMEOUT)
            .build()
            .unwrap_or_default();
        Self {
            config,
            keys: JwksCache::new(http, Duration::from_secs(60)),
            hospitals,
        }
    }

    /// Answers an authorizer event (payload 2.0) with a simple response.
    ///
    /// # Errors
    /// [`Undecided`] when a dependency failed: the request is neither allowed nor denied.
    pub async fn handle(&self, event: Value) -> Result<Value, Undecided> {
        match self.authorize(&event).await {
            Ok(context) => Ok(json!({ "isAuthorized": true, "context": context })),
            Err(Denied::Unavailable(reason)) => {
                tracing::error!(reason = %reason, "cannot decide: a dependency failed");
                Err(Undecided(reason))
            }
            Err(denied) => {
                tracing::info!(reason = %denied, "request not authorized");
                Ok(json!({ "isAuthorized": false }))
            }
        }
    }

    /// The claims to pass on, or why not.
    ///
    /// # Errors
    /// [`Denied`].
    pub async fn authorize(&self, event: &Value) -> Result<serde_json::Map<String, Value>, Denied> {
        let token = bearer(event).ok_or(Denied::NoToken)?;
        let claims = self.verify(&token).await?;
        let client_id = claims
            .get("client_id")
            .or_else(|| claims.get("aud"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let mut context: serde_json::Map<String, Value> = claims
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(flatten(v))))
            .collect();
        if self.config.web_client_ids.contains(&client_id) {
            return Ok(context);
        }
        let scopes = claims
            .get("scope")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let is_machine =
            !claims.contains_key("username") && !claims.contains_key("cognito:username");
        if !is_machine
            || !scopes
                .split_whitespace()
                .any(|s| s == self.config.ingest_scope)
        {
            return Err(Denied::UnknownClient);
        }
        let hospital = tokio::time::timeout(
            DIRECTORY_TIMEOUT,
            self.hospitals.hospital_for_client(&client_id),
        )
        .await
        .map_err(|_| Denied::Unavailable("hospital directory timed out".into()))?
        .map_err(|e| Denied::Unavailable(e.to_string()))?
        .ok_or(Denied::UnknownClient)?;
        context.insert("hospitalId".into(), Value::String(hospital));
        Ok(context)
    }

    async fn verify(&self, token: &str) -> Result<HashMap<String, Value>, Denied> {
        let invalid = |e: &dyn std::fmt::Display| Denied::Invalid(e.to_string());
        let header = decode_header(token).map_err(|e| invalid(&e))?;
        let (key, algorithm) = match (header.alg, header.kid.as_deref()) {
            (Algorithm::RS256, Some(kid)) => {
                let key = self
                    .keys
                    .key(&self.config.jwks_url, kid)
                    .await
                    .map_err(|e| match e {
                        JwksError::UnknownKid(_) => invalid(&e),
                        JwksError::Fetch { .. } => Denied::Unavailable(e.to_string()),
                    })?;
                (key, Algorithm::RS256)
            }
            #[cfg(feature = "local-tokens")]
            (Algorithm::HS256, Some(LOCAL_KEY_ID)) => match &self.config.local_secret {
                Some(secret) => (
                    std::sync::Arc::new(DecodingKey::from_secret(secret)),
                    Algorithm::HS256,
                ),
                None => {
                    return Err(Denied::Invalid(
                        "locally signed token outside the local runner".into(),
                    ));
                }
            },
            (alg, _) => {
                return Err(Denied::Invalid(format!(
                    "unexpected algorithm {alg:?} or key"
                )));
            }
        };
        let mut validation = Validation::new(algorithm);
        validation.set_issuer(&[&self.config.issuer]);
        validation.validate_aud = false;
        // As API Gateway's JWT authorizer: no grace after `exp`, `nbf` honoured.
        validation.leeway = 0;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        let data =
            decode::<HashMap<String, Value>>(token, &key, &validation).map_err(|e| invalid(&e))?;
        let now = jiff::Timestamp::now().as_second();
        if data
            .claims
            .get("iat")
            .and_then(Value::as_i64)
            .is_some_and(|iat| iat > now)
        {
            return Err(Denied::Invalid("issued in the future".into()));
        }
        // ID tokens name the user to the client; only access tokens authorise API calls.
        match data.claims.get("token_use").and_then(Value::as_str) {
            Some("access") => Ok(data.claims),
            _ => Err(Denied::Invalid("not an access token".into())),
        }
    }
}

#[cfg(all(test, feature = "local-tokens"))]
mod tests {
    use std::sync::Mutex;

    use jsonwebtoken::{EncodingKey, Header, encode};

    use super::*;

    struct Directory(Mutex<HashMap<String, String>>);

    impl HospitalDirectory for Directory {
        async fn hospital_for_client(&self, client_id: &str) -> Result<Option<String>, StoreError> {
            Ok(self.0.lock().unwrap().get(client_id).cloned())
        }
    }

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
    const ISSUER: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_pool";

    fn authorizer() -> Authorizer<Directory> {
        Authorizer::new(
            AuthorizerConfig {
                issuer: ISSUER.into(),
                jwks_url: "http://127.0.0.1:1/jwks.json".into(),
                web_client_ids: vec!["web".into()],
                ingest_scope: "clinic/ingest".into(),
                local_secret: Some(SECRET.to_vec()),
            },
            Directory(Mutex::new(
                [("hosp-client".to_string(), "H1".to_string())].into(),
            )),
        )
    }

    fn token(claims: Value, secret: &[u8]) -> String {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(LOCAL_KEY_ID.into());
        encode(&header, &claims, &EncodingKey::from_secret(secret)).unwrap()
    }

    fn event(token: &str) -> Value {
        json!({"version": "2.0", "type": "REQUEST", "identitySource": [format!("Bearer {token}")],
               "headers": {"authorization": format!("Bearer {token}")}})
    }

    fn claims(client: &str, extra: Value) -> Value {
        let now = jiff::Timestamp::now().as_second();
        let mut c = json!({"sub": client, "client_id": client, "iss": ISSUER, "exp": now + 600,
                           "iat": now, "token_use": "access", "scope": "clinic/ingest"});
        if let (Some(c), Some(extra)) = (c.as_object_mut(), extra.as_object()) {
            c.extend(extra.clone());
        }
        c
    }

    #[tokio::test]
    async fn registered_hospital_clients_pass_with_their_hospital() {
        let answer = authorizer()
            .handle(event(&token(claims("hosp-client", json!({})), SECRET)))
            .await
            .unwrap();
        assert_eq!(answer["isAuthorized"], true);
        assert_eq!(answer["context"]["hospitalId"], "H1");
        assert_eq!(answer["context"]["client_id"], "hosp-client");
    }

    #[tokio::test]
    async fn web_client_users_pass_with_flattened_groups() {
        let user = claims(
            "web",
            json!({"username": "u1", "sub": "u1", "cognito:groups": ["patients"],
                                         "scope": "aws.cognito.signin.user.admin"}),
        );
        let answer = authorizer()
            .handle(event(&token(user, SECRET)))
            .await
            .unwrap();
        assert_eq!(answer["isAuthorized"], true);
        assert_eq!(answer["context"]["cognito:groups"], "[patients]");
    }

    #[tokio::test]
    async fn everything_else_is_refused() {
        let a = authorizer();
        let unknown = token(claims("other-client", json!({})), SECRET);
        assert_eq!(
            a.authorize(&event(&unknown)).await,
            Err(Denied::UnknownClient)
        );
        let no_scope = token(claims("hosp-client", json!({"scope": "other"})), SECRET);
        assert_eq!(
            a.authorize(&event(&no_scope)).await,
            Err(Denied::UnknownClient)
        );
        let user_with_scope = token(claims("hosp-client", json!({"username": "x"})), SECRET);
        assert_eq!(
            a.authorize(&event(&user_with_scope)).await,
            Err(Denied::UnknownClient)
        );
        let forged = token(
            claims("hosp-client", json!({})),
            b"another-secret-another-secret-xx",
        );
        assert!(matches!(
            a.authorize(&event(&forged)).await,
            Err(Denied::Invalid(_))
        ));
        let expired = token(claims("hosp-client", json!({"exp": 1000})), SECRET);
        assert!(matches!(
            a.authorize(&event(&expired)).await,
            Err(Denied::Invalid(_))
        ));
        let now = jiff::Timestamp::now().as_second();
        for (what, changes) in [
            ("expired a second ago", json!({"exp": now - 1})),
            ("not yet valid", json!({"nbf": now + 600})),
            ("issued in the future", json!({"iat": now + 600})),
            ("an id token", json!({"token_use": "id"})),
        ] {
            let refused = token(claims("hosp-client", changes), SECRET);
            assert!(
                matches!(a.authorize(&event(&refused)).await, Err(Denied::Invalid(_))),
                "{what}"
            );
        }
        let wrong_issuer = token(
            claims("hosp-client", json!({"iss": "https://evil"})),
            SECRET,
        );
        assert!(matches!(
            a.authorize(&event(&wrong_issuer)).await,
            Err(Denied::Invalid(_))
        ));
        assert_eq!(
            a.authorize(&json!({"headers": {}})).await,
            Err(Denied::NoToken)
        );
        assert_eq!(
            a.handle(json!({"headers": {}})).await,
            Ok(json!({"isAuthorized": false}))
        );
    }

    #[tokio::test]
    async fn local_tokens_need_the_local_secret() {
        let mut a = authorizer();
        a.config.local_secret = None;
        let t = token(claims("hosp-client", json!({})), SECRET);
        assert!(matches!(
            a.authorize(&event(&t)).await,
            Err(Denied::Invalid(_))
        ));
    }
}

/// What release builds (no `local-tokens`) do with a token signed like the local runner's:
/// refuse it, whatever secret the environment holds. Run by `scripts/test` on this package
/// alone, where the feature is off.
#[cfg(all(test, not(feature = "local-tokens")))]
mod release_tests {
    use super::*;

    struct NoHospitals;

    impl HospitalDirectory for NoHospitals {
        async fn hospital_for_client(&self, _: &str) -> Result<Option<String>, StoreError> {
            Ok(Some("H1".into()))
        }
    }

    #[tokio::test]
    async fn locally_signed_tokens_are_refused() {
        use jsonwebtoken::{EncodingKey, Header, encode};
        let secret = b"0123456789abcdef0123456789abcdef";
        let issuer = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_pool";
        let authorizer = Authorizer::new(
            AuthorizerConfig {
                issuer: issuer.into(),
                jwks_url: "http://127.0.0.1:1/jwks.json".into(),
                web_client_ids: vec!["web".into()],
                ingest_scope: "clinic/ingest".into(),
                local_secret: Some(secret.to_vec()),
            },
            NoHospitals,
        );
        let now = jiff::Timestamp::now().as_second();
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("clinic-local".into());
        let token = encode(
            &header,
            &json!({"sub": "c", "client_id": "c", "iss": issuer, "exp": now + 600, "iat": now,
                    "token_use": "access", "scope": "clinic/ingest"}),
            &EncodingKey::from_secret(secret),
        )
        .unwrap();
        let event = json!({"headers": {"authorization": format!("Bearer {token}")}});
        assert!(matches!(
            authorizer.authorize(&event).await,
            Err(Denied::Invalid(_))
        ));
        assert_eq!(
            authorizer.handle(event).await,
            Ok(json!({"isAuthorized": false}))
        );
    }
}
