//! `POST /oauth2/token`, the client-credentials grant of the Cognito user pool's domain, which
//! the emulator lacks. The client is checked against the emulator (`DescribeUserPoolClient`: its
//! secret, `client_credentials` among its OAuth flows, the requested scopes among its allowed
//! ones) and the access token is signed with the runner's local key. Answers and errors have
//! Cognito's shapes: `{"access_token", "expires_in", "token_type"}` or `{"error": "..."}`.

use std::time::Duration;

use aws_sdk_cognitoidentityprovider::types::OAuthFlowType;
use axum::body::Body;
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, PRAGMA, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, StatusCode};

use super::signer::LocalSigner;
use crate::model::IdentitySpec;

/// Path of the token endpoint.
pub const TOKEN_PATH: &str = "/oauth2/token";

/// Lifetime of issued access tokens (Cognito's default: one hour).
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// OAuth2 errors of the token endpoint (RFC 6749 §5.2, as Cognito names them).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuthError {
    #[error("invalid_request: {0}")]
    InvalidRequest(&'static str),
    #[error("invalid_client")]
    InvalidClient,
    #[error("unauthorized_client: the client may not use client_credentials")]
    UnauthorizedClient,
    #[error("unsupported_grant_type")]
    UnsupportedGrantType,
    #[error("invalid_scope")]
    InvalidScope,
    #[error("server_error: {0}")]
    ServerError(String),
}

impl OAuthError {
    /// The `error` code of the answer.
    pub fn code(&self) -> &'static str {
        match self {
            OAuthError::InvalidRequest(_) => "invalid_request",
            OAuthError::InvalidClient => "invalid_client",
            OAuthError::UnauthorizedClient => "unauthorized_client",
            OAuthError::UnsupportedGrantType => "unsupported_grant_type",
            OAuthError::InvalidScope => "invalid_scope",
            OAuthError::ServerError(_) => "server_error",
        }
    }

    /// 401 for a client that failed to authenticate, 500 for the runner's own failures, else 400.
    pub fn status(&self) -> StatusCode {
        match self {
            OAuthError::InvalidClient => StatusCode::UNAUTHORIZED,
            OAuthError::ServerError(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    fn response(&self) -> Response {
        let mut response = json_response(
            self.status(),
            serde_json::json!({ "error": self.code() }).to_string(),
        );
        if *self == OAuthError::InvalidClient {
            response.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"oauth2\""),
            );
        }
        response
    }
}

/// The token endpoint of the user pool: which pool, how to reach the emulator, token lifetime.
#[derive(Debug, Clone)]
pub struct TokenEndpoint {
    identity: IdentitySpec,
    cognito: aws_sdk_cognitoidentityprovider::Client,
    lifetime: Duration,
}

/// The client credentials a request presented.
struct Credentials {
    client_id: String,
    client_secret: Option<String>,
}

impl TokenEndpoint {
    /// The endpoint for `identity`'s user pool, checking clients through `cognito`.
    pub fn new(
        identity: IdentitySpec,
        cognito: aws_sdk_cognitoidentityprovider::Client,
    ) -> TokenEndpoint {
        TokenEndpoint {
            identity,
            cognito,
            lifetime: DEFAULT_TOKEN_LIFETIME,
        }
    }

    /// Issues tokens valid for `lifetime` instead of an hour.
    #[must_use]
    pub fn with_lifetime(mut self, lifetime: Duration) -> TokenEndpoint {
        self.lifetime = lifetime;
        self
    }

    /// Answers a token request (headers and form body).
    pub async fn handle(&self, signer: &LocalSigner, headers: &HeaderMap, body: &[u8]) -> Response {
        match self.grant(signer, headers, body).await {
            Ok(response) => response,
            Err(error) => {
                if let OAuthError::ServerError(reason) = &error {
                    tracing::error!(%reason, "token endpoint failed");
                } else {
                    tracing::info!(error = error.code(), "token request refused");
                }
                error.response()
            }
        }
    }

    async fn grant(
        &self,
        signer: &LocalSigner,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Response, OAuthError> {
        let form_type = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                v.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !form_type {
            return Err(OAuthError::InvalidRequest(
                "the body must be application/x-www-form-urlencoded",
            ));
        }
        let form = Form::parse(body)?;
        match form.get("grant_type") {
            None => return Err(OAuthError::InvalidRequest("grant_type is missing")),
            Some("client_credentials") => {}
            Some(_) => return Err(OAuthError::UnsupportedGrantType),
        }
        let credentials = credentials(headers, &form)?;
        let allowed = self.check_client(&credentials).await?;
        let scopes = granted_scopes(form.get("scope"), &allowed)?;
        let issued = signer
            .issue_access_token(
                &self.identity.issuer,
                &credentials.client_id,
                &scopes,
                self.lifetime,
            )
            .map_err(|e| OAuthError::ServerError(e.to_string()))?;
        tracing::info!(client_id = %credentials.client_id, "issued a client-credentials token");
        let body = serde_json::json!({
            "access_token": issued.token,
            "expires_in": issued.expires_in,
            "token_type": "Bearer",
        });
        Ok(json_response(StatusCode::OK, body.to_string()))
    }

    /// Checks the client in the user pool; returns its allowed scopes.
    async fn check_client(&self, credentials: &Credentials) -> Result<Vec<String>, OAuthError> {
        let described = self
            .cognito
            .describe_user_pool_client()
            .user_pool_id(&self.identity.user_pool_id)
            .client_id(&credentials.client_id)
            .send()
            .await;
        let output = match described {
            Ok(output) => output,
            Err(error) => {
                return Err(match error.as_service_error() {
                    // Unknown client id (or one the pool rejects as malformed).
                    Some(_) => OAuthError::InvalidClient,
                    None => OAuthError::ServerError(format!(
                        "DescribeUserPoolClient failed: {}",
                        aws_sdk_cognitoidentityprovider::error::DisplayErrorContext(&error)
                    )),
                });
            }
        };
        let client = output.user_pool_client().ok_or(OAuthError::InvalidClient)?;
        let secret_ok = match (client.client_secret(), credentials.client_secret.as_deref()) {
            (Some(expected), Some(given)) => constant_time_eq(expected, given),
            _ => false,
        };
        if !secret_ok {
            return Err(OAuthError::InvalidClient);
        }
        if !client
            .allowed_o_auth_flows()
            .contains(&OAuthFlowType::ClientCredentials)
        {
            return Err(OAuthError::UnauthorizedClient);
        }
        Ok(client.allowed_o_auth_scopes().to_vec())
    }
}

/// Requested scopes if all are allowed, else every allowed scope when none was requested.
fn granted_scopes(requested: Option<&str>, allowed: &[String]) -> Result<Vec<String>, OAuthError> {
    let scopes: Vec<String> = match requested {
        Some(requested) => {
            let mut scopes: Vec<String> = Vec::new();
            for scope in requested.split_whitespace() {
                if !allowed.iter().any(|a| a == scope) {
                    return Err(OAuthError::InvalidScope);
                }
                if !scopes.iter().any(|s| s == scope) {
                    scopes.push(scope.to_string());
                }
            }
            scopes
        }
        None => allowed.to_vec(),
    };
    if scopes.is_empty() {
        return Err(OAuthError::InvalidScope);
    }
    Ok(scopes)
}

/// The client's credentials: HTTP Basic, or `client_id`/`client_secret` in the form — not both.
fn credentials(headers: &HeaderMap, form: &Form) -> Result<Credentials, OAuthError> {
    let basic = match headers.get(AUTHORIZATION) {
        None => None,
        Some(value) => Some(parse_basic(value).ok_or(OAuthError::InvalidClient)?),
    };
    match basic {
        Some(basic) => {
            if form.get("client_secret").is_some() {
                return Err(OAuthError::InvalidRequest(
                    "only one client authentication method may be used",
                ));
            }
            if form
                .get("client_id")
                .is_some_and(|id| id != basic.client_id)
            {
                return Err(OAuthError::InvalidRequest(
                    "client_id differs from the authenticated client",
                ));
            }
            Ok(basic)
        }
        None => {
            let client_id = form
                .get("client_id")
                .filter(|id| !id.is_empty())
                .ok_or(OAuthError::InvalidClient)?;
            Ok(Credentials {
                client_id: client_id.to_string(),
                client_secret: form.get("client_secret").map(str::to_string),
            })
        }
    }
}

fn parse_basic(value: &HeaderValue) -> Option<Credentials> {
    let value = value.to_str().ok()?.trim();
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = BASE64.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    if id.is_empty() {
        return None;
    }
    Some(Credentials {
        client_id: id.to_string(),
        client_secret: Some(secret.to_string()),
    })
}

/// Compares secrets without stopping at the first difference.
fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut diff = a.len() ^ b.len();
    for (i, x) in a.iter().enumerate() {
        diff |= usize::from(x ^ b.get(i).copied().unwrap_or(0));
    }
    diff == 0
}

fn json_response(status: StatusCode, body: String) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// A form body whose parameters each appear at most once.
struct Form(Vec<(String, String)>);

impl Form {
    fn parse(body: &[u8]) -> Result<Form, OAuthError> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (key, value) in form_urlencoded::parse(body) {
            if pairs.iter().any(|(k, _)| *k == key) {
                return Err(OAuthError::InvalidRequest("a parameter is repeated"));
            }
            pairs.push((key.into_owned(), value.into_owned()));
        }
        Ok(Form(pairs))
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed() -> Vec<String> {
        vec!["clinic/ingest".into(), "clinic/read".into()]
    }

    #[test]
    fn scopes_default_to_all_allowed_and_must_be_allowed() {
        assert_eq!(granted_scopes(None, &allowed()), Ok(allowed()));
        assert_eq!(
            granted_scopes(Some("clinic/read clinic/read"), &allowed()),
            Ok(vec!["clinic/read".to_string()])
        );
        assert_eq!(
            granted_scopes(Some("clinic/admin"), &allowed()),
            Err(OAuthError::InvalidScope)
        );
        assert_eq!(granted_scopes(None, &[]), Err(OAuthError::InvalidScope));
    }

    #[test]
    fn credentials_come_from_basic_or_the_form_but_not_both() {
        let form = Form::parse(b"grant_type=client_credentials").expect("form");
        let mut headers = HeaderMap::new();
        headers.insert(
            AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {}", BASE64.encode("id:secret"))).expect("ascii"),
        );
        let c = credentials(&headers, &form).expect("basic");
        assert_eq!(c.client_id, "id");
        assert_eq!(c.client_secret.as_deref(), Some("secret"));

        let both = Form::parse(b"client_secret=x").expect("form");
        assert!(matches!(
            credentials(&headers, &both),
            Err(OAuthError::InvalidRequest(_))
        ));

        let form = Form::parse(b"client_id=id&client_secret=s").expect("form");
        let c = credentials(&HeaderMap::new(), &form).expect("form credentials");
        assert_eq!(c.client_id, "id");

        let none = Form::parse(b"").expect("form");
        assert!(matches!(
            credentials(&HeaderMap::new(), &none),
            Err(OAuthError::InvalidClient)
        ));
        assert!(Form::parse(b"a=1&a=2").is_err());
    }

    #[test]
    fn secrets_compare_exactly() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "abcd"));
        assert!(!constant_time_eq("", "a"));
    }
}
