//! The `AWS::Serverless::HttpApi`: its JWT authorizers (issuer and audience resolved, the
//! signing keys taken from the emulator's JWKS of the pool the issuer names), its default
//! authorizer and its CORS settings. Nothing is created in the emulator for it.

use std::collections::BTreeMap;

use serde_json::Value;

use super::props::Node;
use crate::model::{ApiSpec, Cors, JwtAuthorizer};
use crate::template::{REGION, ResourceValues, TemplateError};

/// What functions' `HttpApi` events need to know about their API.
#[derive(Debug, Clone)]
pub(crate) struct HttpApiInfo {
    /// The API's `Ref` (its id).
    pub api_id: String,
    pub spec: ApiSpec,
    /// `Auth.DefaultAuthorizer`.
    pub default_authorizer: Option<String>,
    /// Each authorizer's `AuthorizationScopes` (the default for its routes).
    pub authorizer_scopes: BTreeMap<String, Vec<String>>,
}

/// The `Ref`/`Fn::GetAtt` values of an HTTP API: a stable id derived from its logical id.
pub(crate) fn values(logical_id: &str) -> ResourceValues {
    let id = api_id(logical_id);
    ResourceValues::new(&id).with("ApiId", &id).with(
        "ApiEndpoint",
        format!("https://{id}.execute-api.{REGION}.amazonaws.com"),
    )
}

fn api_id(logical_id: &str) -> String {
    logical_id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Reads the API's authorizers and CORS settings from its resolved properties.
pub(crate) fn read_api(
    logical_id: &str,
    props: &Node<'_>,
    emulator_url: &str,
) -> Result<HttpApiInfo, TemplateError> {
    let mut spec = ApiSpec::default();
    let mut authorizer_scopes = BTreeMap::new();
    let mut default_authorizer = None;
    if let Some(auth) = props.get("Auth") {
        if let Some(authorizers) = auth.get("Authorizers") {
            for (name, authorizer) in authorizers.entries()? {
                let Some(jwt) = authorizer.get("JwtConfiguration") else {
                    return Err(authorizer.invalid(format!(
                        "authorizer {name} is not a JWT authorizer; only JWT authorizers are emulated locally"
                    )));
                };
                let issuer = jwt.require("issuer")?.string()?;
                let audience = match jwt.get("audience") {
                    Some(a) if matches!(a.value(), Value::Array(_)) => a
                        .items()?
                        .iter()
                        .map(Node::string)
                        .collect::<Result<_, _>>()?,
                    Some(a) => vec![a.string()?],
                    None => Vec::new(),
                };
                let pool_id = issuer
                    .trim_end_matches('/')
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .to_string();
                if pool_id.is_empty() {
                    return Err(jwt
                        .require("issuer")?
                        .invalid("the issuer must end with the user pool id"));
                }
                spec.authorizers.push(JwtAuthorizer {
                    name: name.clone(),
                    issuer,
                    audience,
                    jwks_url: format!(
                        "{}/{pool_id}/.well-known/jwks.json",
                        emulator_url.trim_end_matches('/')
                    ),
                });
                authorizer_scopes.insert(name, authorizer.strings("AuthorizationScopes")?);
            }
        }
        if let Some(default) = auth.get("DefaultAuthorizer") {
            let name = default.string()?;
            if !spec.authorizers.iter().any(|a| a.name == name) {
                return Err(default.invalid(format!(
                    "{name} is not one of the API's Authorizers (only JWT authorizers are emulated locally)"
                )));
            }
            default_authorizer = Some(name);
        }
    }
    if let Some(cors) = props.get("CorsConfiguration") {
        spec.cors = cors_settings(&cors)?;
    }
    Ok(HttpApiInfo {
        api_id: api_id(logical_id),
        spec,
        default_authorizer,
        authorizer_scopes,
    })
}

/// `CorsConfiguration`: `true` (any origin, method and header) or the detailed object.
fn cors_settings(cors: &Node<'_>) -> Result<Option<Cors>, TemplateError> {
    if let Value::Bool(enabled) = cors.value() {
        let any = vec!["*".to_string()];
        return Ok(enabled.then(|| Cors {
            allow_origins: any.clone(),
            allow_methods: any.clone(),
            allow_headers: any,
            ..Cors::default()
        }));
    }
    Ok(Some(Cors {
        allow_origins: cors.strings("AllowOrigins")?,
        allow_methods: cors.strings("AllowMethods")?,
        allow_headers: cors.strings("AllowHeaders")?,
        expose_headers: cors.strings("ExposeHeaders")?,
        max_age: cors.opt_int("MaxAge")?,
        allow_credentials: cors.opt_bool("AllowCredentials")?.unwrap_or(false),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_ids_are_stable_and_lower_case() {
        assert_eq!(api_id("HttpApi"), "httpapi");
        assert_eq!(values("HttpApi").reference, "httpapi");
    }
}
