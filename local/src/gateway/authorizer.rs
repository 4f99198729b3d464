//! The HTTP API's JWT authorizer: reads the token from `Authorization` (with or without the
//! `Bearer` prefix), verifies its signature — RS256 keys from the authorizer's JWKS URL, or the
//! runner's own key for tokens its OAuth2 endpoint issued — then checks `exp`, `nbf`, `iat`,
//! `iss`, `aud`/`client_id` and the route's scopes, and hands the claims on as API Gateway does:
//! every value flattened to a string.

use std::collections::BTreeMap;
use std::sync::Arc;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Map, Value};

use super::jwks::{JwksCache, JwksError};
use super::signer::{LOCAL_KEY_ID, LocalSigner};
use crate::model::JwtAuthorizer;

/// What the authorizer passes to the function (`requestContext.authorizer.jwt`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorized {
    /// Every claim, its value as a string (`cognito:groups` as `"[a b]"`).
    pub claims: BTreeMap<String, String>,
    /// The token's `scope` claim split into a list; `None` when the token has none.
    pub scopes: Option<Vec<String>>,
}

/// Why a request was refused; [`AuthError::status`] and [`AuthError::www_authenticate`] give
/// the answer API Gateway would send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("the request carries no token")]
    MissingToken,
    #[error("the token is malformed: {0}")]
    Malformed(String),
    #[error("signing method {0} is invalid")]
    Algorithm(String),
    #[error("no signing key for the token: {0}")]
    Key(#[from] JwksError),
    #[error("the token's signature is invalid")]
    Signature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token was issued in the future")]
    IssuedInFuture,
    #[error("the token does not have a valid issuer")]
    Issuer,
    #[error("the token does not have a valid audience")]
    Audience,
    #[error("the token grants none of the route's scopes")]
    InsufficientScope { expected: Vec<String> },
}

impl AuthError {
    /// 403 for a missing scope, 401 otherwise.
    pub fn status(&self) -> http::StatusCode {
        match self {
            AuthError::InsufficientScope { .. } => http::StatusCode::FORBIDDEN,
            _ => http::StatusCode::UNAUTHORIZED,
        }
    }

    /// The `www-authenticate` header API Gateway sends with the refusal.
    pub fn www_authenticate(&self) -> String {
        match self {
            AuthError::MissingToken => "Bearer".to_string(),
            AuthError::InsufficientScope { expected } => format!(
                "Bearer scope=\"{}\" error=\"insufficient_scope\" error_description=\"expected scopes: [{}]\"",
                expected.join(" "),
                expected.join(" ")
            ),
            other => format!(
                "Bearer scope=\"\" error=\"invalid_token\" error_description=\"{}\"",
                other.description()
            ),
        }
    }

    /// A description without key ids, URLs or token content.
    fn description(&self) -> String {
        match self {
            AuthError::Malformed(_) => "the token is malformed".to_string(),
            AuthError::Key(JwksError::UnknownKid(_)) => {
                "the token's signing key is unknown".to_string()
            }
            AuthError::Key(JwksError::Fetch { .. }) => {
                "the signing keys could not be fetched".to_string()
            }
            other => other.to_string(),
        }
    }
}

/// Verifies tokens for every JWT authorizer of the API.
#[derive(Debug)]
pub struct JwtVerifier {
    signer: Arc<LocalSigner>,
    jwks: JwksCache,
}

impl JwtVerifier {
    /// A verifier trusting the authorizers' JWKS keys and the runner's `signer`.
    pub fn new(signer: Arc<LocalSigner>, jwks: JwksCache) -> JwtVerifier {
        JwtVerifier { signer, jwks }
    }

    /// Authorizes a request for a route guarded by `authorizer` and requiring `route_scopes`
    /// (at least one of them, as API Gateway requires), given its `Authorization` header.
    ///
    /// # Errors
    /// [`AuthError`] when the request must be refused.
    pub async fn authorize(
        &self,
        authorizer: &JwtAuthorizer,
        route_scopes: &[String],
        authorization: Option<&str>,
    ) -> Result<Authorized, AuthError> {
        let token = bearer_token(authorization).ok_or(AuthError::MissingToken)?;
        let claims = self.verify_signature(authorizer, token).await?;
        check_claims(&claims, authorizer, jiff::Timestamp::now().as_second())?;
        let granted = granted_scopes(&claims);
        if !route_scopes.is_empty() && !route_scopes.iter().any(|s| granted.contains(s)) {
            return Err(AuthError::InsufficientScope {
                expected: route_scopes.to_vec(),
            });
        }
        let scopes = match claims.get("scope") {
            Some(Value::String(s)) => Some(s.split_whitespace().map(str::to_string).collect()),
            Some(Value::Array(items)) => Some(items.iter().map(claim_string).collect()),
            _ => None,
        };
        Ok(Authorized {
            claims: claims
                .iter()
                .map(|(k, v)| (k.clone(), claim_string(v)))
                .collect(),
            scopes,
        })
    }

    async fn verify_signature(
        &self,
        authorizer: &JwtAuthorizer,
        token: &str,
    ) -> Result<Map<String, Value>, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(map_jwt_error)?;
        if header.kid.as_deref() == Some(LOCAL_KEY_ID) {
            if header.alg != Algorithm::HS256 {
                return Err(AuthError::Algorithm(format!("{:?}", header.alg)));
            }
            return self.signer.verify_signature(token).map_err(map_jwt_error);
        }
        if !matches!(
            header.alg,
            Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512
        ) {
            return Err(AuthError::Algorithm(format!("{:?}", header.alg)));
        }
        let kid = header
            .kid
            .ok_or_else(|| AuthError::Malformed("no kid in the header".to_string()))?;
        let key = self.jwks.key(&authorizer.jwks_url, &kid).await?;
        let mut validation = Validation::new(header.alg);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
            .map(|data| data.claims)
            .map_err(map_jwt_error)
    }
}

fn map_jwt_error(error: jsonwebtoken::errors::Error) -> AuthError {
    match error.kind() {
        ErrorKind::InvalidSignature => AuthError::Signature,
        ErrorKind::InvalidAlgorithm => AuthError::Algorithm("of the token".to_string()),
        // Decoding errors can quote bytes of the token: keep only what kind of failure it was.
        ErrorKind::Base64(_)
        | ErrorKind::Json(_)
        | ErrorKind::Utf8(_)
        | ErrorKind::InvalidToken => AuthError::Malformed("not a decodable JWT".to_string()),
        _ => AuthError::Malformed("unusable token".to_string()),
    }
}

/// The token of an `Authorization` value: `Bearer <jwt>` or the bare token.
fn bearer_token(value: Option<&str>) -> Option<&str> {
    let value = value?.trim();
    let token = match value.split_once(char::is_whitespace) {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        None if value.eq_ignore_ascii_case("bearer") => "",
        _ => value,
    };
    (!token.is_empty()).then_some(token)
}

fn numeric(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, AuthError> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f.floor() as i64))
            .map(Some)
            .ok_or_else(|| AuthError::Malformed(format!("`{name}` is not a number"))),
        Some(_) => Err(AuthError::Malformed(format!("`{name}` is not a number"))),
    }
}

/// The claim checks of API Gateway, in its order, at time `now` (seconds).
fn check_claims(
    claims: &Map<String, Value>,
    authorizer: &JwtAuthorizer,
    now: i64,
) -> Result<(), AuthError> {
    if claims.get("iss").and_then(Value::as_str) != Some(authorizer.issuer.as_str()) {
        return Err(AuthError::Issuer);
    }
    let audience_ok = match claims.get("aud") {
        Some(Value::String(aud)) => authorizer.audience.contains(aud),
        Some(Value::Array(auds)) => auds
            .iter()
            .filter_map(Value::as_str)
            .any(|aud| authorizer.audience.iter().any(|a| a == aud)),
        _ => claims
            .get("client_id")
            .and_then(Value::as_str)
            .is_some_and(|id| authorizer.audience.iter().any(|a| a == id)),
    };
    if !audience_ok {
        return Err(AuthError::Audience);
    }
    match numeric(claims, "exp")? {
        Some(exp) if exp > now => {}
        Some(_) => return Err(AuthError::Expired),
        None => return Err(AuthError::Malformed("no `exp` claim".to_string())),
    }
    if numeric(claims, "nbf")?.is_some_and(|nbf| nbf > now) {
        return Err(AuthError::NotYetValid);
    }
    if numeric(claims, "iat")?.is_some_and(|iat| iat > now) {
        return Err(AuthError::IssuedInFuture);
    }
    Ok(())
}

/// Scopes the token grants, from `scope` and `scp` (space-separated strings or lists).
fn granted_scopes(claims: &Map<String, Value>) -> Vec<String> {
    let mut scopes = Vec::new();
    for name in ["scope", "scp"] {
        match claims.get(name) {
            Some(Value::String(s)) => scopes.extend(s.split_whitespace().map(str::to_string)),
            Some(Value::Array(items)) => scopes.extend(items.iter().map(claim_string)),
            _ => {}
        }
    }
    scopes
}

/// A claim value as API Gateway passes it on: strings as they are, numbers and booleans
/// printed, lists as `[a b]`, objects as `map[k:v]`.
pub fn claim_string(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(claim_string).collect();
            format!("[{}]", parts.join(" "))
        }
        Value::Object(map) => {
            let mut parts: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{k}:{}", claim_string(v)))
                .collect();
            parts.sort();
            format!("map[{}]", parts.join(" "))
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn authorizer() -> JwtAuthorizer {
        JwtAuthorizer {
            name: "CognitoJwt".into(),
            issuer: "https://issuer".into(),
            audience: vec!["web".into()],
            jwks_url: "http://127.0.0.1:1/keys".into(),
        }
    }

    fn claims(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn claims_are_flattened_to_strings() {
        assert_eq!(
            claim_string(&json!(["patients", "staff"])),
            "[patients staff]"
        );
        assert_eq!(claim_string(&json!(1_700_000_000)), "1700000000");
        assert_eq!(claim_string(&json!(true)), "true");
        assert_eq!(claim_string(&json!({"b": 1, "a": "x"})), "map[a:x b:1]");
    }

    #[test]
    fn bearer_prefix_is_optional() {
        assert_eq!(bearer_token(Some("Bearer abc")), Some("abc"));
        assert_eq!(bearer_token(Some("bearer  abc ")), Some("abc"));
        assert_eq!(bearer_token(Some("abc")), Some("abc"));
        assert_eq!(bearer_token(Some("Bearer ")), None);
        assert_eq!(bearer_token(None), None);
    }

    #[test]
    fn claim_checks_follow_api_gateway() {
        let a = authorizer();
        let ok = json!({"iss": "https://issuer", "client_id": "web", "exp": 200, "iat": 100});
        assert_eq!(check_claims(&claims(ok.clone()), &a, 150), Ok(()));
        assert_eq!(
            check_claims(&claims(ok.clone()), &a, 200),
            Err(AuthError::Expired)
        );
        assert_eq!(
            check_claims(&claims(ok), &a, 50),
            Err(AuthError::IssuedInFuture)
        );
        let id = json!({"iss": "https://issuer", "aud": "web", "client_id": "other", "exp": 200});
        assert_eq!(check_claims(&claims(id), &a, 150), Ok(()));
        let wrong_aud =
            json!({"iss": "https://issuer", "aud": "other", "client_id": "web", "exp": 200});
        assert_eq!(
            check_claims(&claims(wrong_aud), &a, 150),
            Err(AuthError::Audience)
        );
        let nbf = json!({"iss": "https://issuer", "client_id": "web", "exp": 200, "nbf": 180});
        assert_eq!(
            check_claims(&claims(nbf), &a, 150),
            Err(AuthError::NotYetValid)
        );
        let wrong_iss = json!({"iss": "https://other", "client_id": "web", "exp": 200});
        assert_eq!(
            check_claims(&claims(wrong_iss), &a, 150),
            Err(AuthError::Issuer)
        );
    }

    #[test]
    fn refusals_carry_api_gateway_challenges() {
        assert_eq!(AuthError::MissingToken.www_authenticate(), "Bearer");
        assert!(
            AuthError::Expired
                .www_authenticate()
                .contains("error_description=\"the token has expired\"")
        );
        let scope = AuthError::InsufficientScope {
            expected: vec!["clinic/ingest".into()],
        };
        assert_eq!(scope.status(), http::StatusCode::FORBIDDEN);
        assert!(scope.www_authenticate().contains("insufficient_scope"));
    }
}
