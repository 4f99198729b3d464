//! The verified caller, read from the API Gateway HTTP API JWT authorizer context.
//!
//! API Gateway has already checked the token's signature, issuer, audience and expiry; functions
//! read the claims it passes on and still decide, per route, who may do what. Claims arrive as
//! strings (`cognito:groups` as `"[patients staff]"`).

use std::collections::HashMap;

use axum::extract::FromRequestParts;
use http::request::Parts;
use lambda_http::request::RequestContext;

use crate::envelope::Role;
use crate::problem::Problem;

/// Who is calling, as proven by the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Account id (the Cognito `sub`) for people; the app client id for hospitals.
    pub id: String,
    pub role: Role,
    pub scopes: Vec<String>,
    /// Cognito username, when the token is a person's.
    pub username: Option<String>,
}

/// Why no caller could be read: always answered with 401.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("the request carries no verified token")]
    Missing,
    #[error("the token carries no usable subject")]
    NoSubject,
    #[error("the token grants no Clinic role")]
    NoRole,
    #[error("the token is not an access token")]
    NotAnAccessToken,
}

impl From<AuthError> for Problem {
    fn from(_: AuthError) -> Self {
        Problem::unauthorized()
    }
}

impl Caller {
    /// Reads the caller from verified JWT claims and scopes.
    ///
    /// # Errors
    /// [`AuthError`] when the claims do not name a subject or a role.
    pub fn from_claims(
        claims: &HashMap<String, String>,
        scopes: Option<&[String]>,
        ingest_scope: &str,
    ) -> Result<Caller, AuthError> {
        // API Gateway's JWT authorizer takes ID tokens too (their `aud` is the client id): only
        // access tokens authorise calls.
        if claims
            .get("token_use")
            .is_some_and(|token_use| token_use != "access")
        {
            return Err(AuthError::NotAnAccessToken);
        }
        let subject = claims
            .get("sub")
            .filter(|s| !s.is_empty())
            .ok_or(AuthError::NoSubject)?;
        let mut all_scopes: Vec<String> = scopes.map(<[String]>::to_vec).unwrap_or_default();
        if let Some(scope) = claims.get("scope") {
            for s in scope.split_whitespace() {
                if !all_scopes.iter().any(|known| known == s) {
                    all_scopes.push(s.to_string());
                }
            }
        }
        let groups = claims
            .get("cognito:groups")
            .map(|g| parse_groups(g))
            .unwrap_or_default();
        let username = claims
            .get("username")
            .or_else(|| claims.get("cognito:username"))
            .cloned();
        // The most privileged group wins: staff who are also patients act as staff.
        let role = if groups.iter().any(|g| g == "staff") {
            Role::Staff
        } else if groups.iter().any(|g| g == "doctors") {
            Role::Doctor
        } else if groups.iter().any(|g| g == "patients") {
            Role::Patient
        } else if username.is_none() && all_scopes.iter().any(|s| s == ingest_scope) {
            // Client-credentials tokens have no user: the subject is the hospital's app client.
            Role::Hospital
        } else {
            return Err(AuthError::NoRole);
        };
        Ok(Caller {
            id: subject.clone(),
            role,
            scopes: all_scopes,
            username,
        })
    }

    /// Reads the caller from an API Gateway v2 request context.
    ///
    /// # Errors
    /// [`AuthError::Missing`] when the request went through no JWT authorizer.
    pub fn from_request_context(
        context: &RequestContext,
        ingest_scope: &str,
    ) -> Result<Caller, AuthError> {
        #[allow(unreachable_patterns)]
        let ctx = match context {
            RequestContext::ApiGatewayV2(ctx) => ctx,
            _ => return Err(AuthError::Missing),
        };
        let authorizer = ctx.authorizer.as_ref().ok_or(AuthError::Missing)?;
        if let Some(jwt) = authorizer.jwt.as_ref() {
            return Caller::from_claims(&jwt.claims, jwt.scopes.as_deref(), ingest_scope);
        }
        // A Lambda authorizer passes the verified claims on as its context.
        if authorizer.fields.is_empty() {
            return Err(AuthError::Missing);
        }
        let claims: HashMap<String, String> = authorizer
            .fields
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_str().map_or_else(|| v.to_string(), str::to_string),
                )
            })
            .collect();
        Caller::from_claims(&claims, None, ingest_scope)
    }

    /// `Ok` when the caller holds one of `roles`, else 403.
    ///
    /// # Errors
    /// A 403 problem naming nothing about the resource.
    pub fn require(&self, roles: &[Role]) -> Result<(), Problem> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(Problem::forbidden(
                "Your role does not allow this operation.",
            ))
        }
    }

    /// `Ok` when the caller owns the resource or holds one of the `privileged` roles; otherwise
    /// 404, so that ids of other people's resources cannot be probed.
    ///
    /// # Errors
    /// A 404 problem for `what`.
    pub fn require_owner(
        &self,
        owner_id: &str,
        privileged: &[Role],
        what: &str,
    ) -> Result<(), Problem> {
        if self.id == owner_id || privileged.contains(&self.role) {
            Ok(())
        } else {
            Err(Problem::not_found(what))
        }
    }
}

/// Parses `cognito:groups` as API Gateway flattens it (`"[a b]"`), or as a JSON array string.
fn parse_groups(raw: &str) -> Vec<String> {
    if let Ok(list) = serde_json::from_str::<Vec<String>>(raw) {
        return list;
    }
    raw.trim_matches(|c| c == '[' || c == ']')
        .split([' ', ','])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The scope hospital machine clients are granted (`<resource server>/ingest` in the template),
/// unless a function's `INGEST_SCOPE` says otherwise.
pub const DEFAULT_INGEST_SCOPE: &str = "clinic/ingest";

/// The scope name that marks hospital (client-credentials) tokens; set once at start-up by the
/// service (from its configuration) so the extractor can classify machine callers.
#[derive(Debug, Clone)]
pub struct IngestScope(pub String);

impl Default for IngestScope {
    fn default() -> Self {
        IngestScope(DEFAULT_INGEST_SCOPE.to_string())
    }
}

/// The ingest scope a function is configured with (`INGEST_SCOPE`, or the default).
pub fn ingest_scope_from_env() -> String {
    crate::config::optional("INGEST_SCOPE").unwrap_or_else(|| DEFAULT_INGEST_SCOPE.to_string())
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let scope = parts
            .extensions
            .get::<IngestScope>()
            .cloned()
            .unwrap_or_default();
        let context = parts
            .extensions
            .get::<RequestContext>()
            .ok_or(AuthError::Missing)?;
        Ok(Caller::from_request_context(context, &scope.0)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn reads_roles_from_flattened_groups() {
        let c = Caller::from_claims(
            &claims(&[
                ("sub", "u1"),
                ("username", "u1"),
                ("cognito:groups", "[patients]"),
            ]),
            None,
            "clinic/ingest",
        )
        .unwrap();
        assert_eq!(c.role, Role::Patient);
        let c = Caller::from_claims(
            &claims(&[
                ("sub", "u2"),
                ("username", "u2"),
                ("cognito:groups", "[patients staff]"),
            ]),
            None,
            "clinic/ingest",
        )
        .unwrap();
        assert_eq!(c.role, Role::Staff);
        let c = Caller::from_claims(
            &claims(&[
                ("sub", "u3"),
                ("username", "u3"),
                ("cognito:groups", "[\"doctors\"]"),
            ]),
            None,
            "clinic/ingest",
        )
        .unwrap();
        assert_eq!(c.role, Role::Doctor);
    }

    #[test]
    fn client_credentials_token_is_a_hospital() {
        let c = Caller::from_claims(
            &claims(&[
                ("sub", "client-9"),
                ("client_id", "client-9"),
                ("scope", "clinic/ingest"),
            ]),
            None,
            "clinic/ingest",
        )
        .unwrap();
        assert_eq!(c.role, Role::Hospital);
        assert_eq!(c.id, "client-9");
        assert_eq!(c.scopes, vec!["clinic/ingest".to_string()]);
    }

    #[test]
    fn a_user_token_with_the_ingest_scope_is_not_a_hospital() {
        let err = Caller::from_claims(
            &claims(&[("sub", "u"), ("username", "u"), ("scope", "clinic/ingest")]),
            None,
            "clinic/ingest",
        );
        assert_eq!(err, Err(AuthError::NoRole));
    }

    #[test]
    fn only_access_tokens_are_callers() {
        for token_use in ["id", "refresh", ""] {
            assert_eq!(
                Caller::from_claims(
                    &claims(&[
                        ("sub", "u1"),
                        ("cognito:username", "u1"),
                        ("cognito:groups", "[patients]"),
                        ("token_use", token_use),
                    ]),
                    None,
                    "clinic/ingest",
                ),
                Err(AuthError::NotAnAccessToken),
                "{token_use}"
            );
        }
        let access = Caller::from_claims(
            &claims(&[
                ("sub", "u1"),
                ("username", "u1"),
                ("cognito:groups", "[patients]"),
                ("token_use", "access"),
            ]),
            None,
            "clinic/ingest",
        );
        assert_eq!(access.map(|c| c.role), Ok(Role::Patient));
    }

    #[test]
    fn missing_subject_or_role_is_refused() {
        assert_eq!(
            Caller::from_claims(&claims(&[("cognito:groups", "[staff]")]), None, "s"),
            Err(AuthError::NoSubject)
        );
        assert_eq!(
            Caller::from_claims(&claims(&[("sub", "x"), ("username", "x")]), None, "s"),
            Err(AuthError::NoRole)
        );
    }

    #[test]
    fn role_and_ownership_rules() {
        let patient = Caller {
            id: "p1".into(),
            role: Role::Patient,
            scopes: vec![],
            username: None,
        };
        assert!(patient.require(&[Role::Patient]).is_ok());
        assert_eq!(patient.require(&[Role::Staff]).unwrap_err().status, 403);
        assert!(patient.require_owner("p1", &[Role::Staff], "Exam").is_ok());
        assert_eq!(
            patient
                .require_owner("p2", &[Role::Staff], "Exam")
                .unwrap_err()
                .status,
            404
        );
        let staff = Caller {
            role: Role::Staff,
            ..patient
        };
        assert!(staff.require_owner("p2", &[Role::Staff], "Exam").is_ok());
    }
}
