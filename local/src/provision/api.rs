//! The `AWS::Serverless::HttpApi`: its JWT authorizers (issuer and audience resolved, the
//! signing keys taken from the emulator's JWKS of the pool the issuer names), its Lambda
//! (`REQUEST`) authorizers (the function named by `FunctionArn`, identity sources, caching), its
//! default authorizer and its CORS settings. Nothing is created in the emulator for it.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use super::props::Node;
use crate::model::{
    ApiSpec, Cors, JwtAuthorizer, LAMBDA_AUTHORIZER_PAYLOAD_VERSION, LambdaAuthorizer,
    RouteThrottle,
};
use crate::template::{REGION, ResourceValues, TemplateError};

/// Longest `Identity.ReauthorizeEvery` API Gateway accepts (one hour).
const MAX_REAUTHORIZE_SECONDS: u64 = 3600;

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
    /// `DefaultRouteSettings`' throttle: every route's unless its event sets its own.
    pub default_throttle: Option<RouteThrottle>,
}

/// The throttle of a `DefaultRouteSettings` or `RouteSettings` node, when it sets one.
pub(crate) fn route_throttle(settings: &Node<'_>) -> Result<Option<RouteThrottle>, TemplateError> {
    let rate = settings.opt_int::<u32>("ThrottlingRateLimit")?;
    let burst = settings.opt_int::<u32>("ThrottlingBurstLimit")?;
    Ok(match (rate, burst) {
        (None, None) => None,
        (rate, burst) => Some(RouteThrottle {
            // API Gateway's account defaults stand in for the one not given.
            rate_per_second: rate.unwrap_or(10_000),
            burst: burst.unwrap_or(5_000),
        }),
    })
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

/// Reads the API's authorizers and CORS settings from its resolved properties. `functions` maps
/// the physical name of every function provisioned so far to its logical id (a Lambda
/// authorizer's `FunctionArn` is resolved through it).
pub(crate) fn read_api(
    logical_id: &str,
    props: &Node<'_>,
    emulator_url: &str,
    functions: &BTreeMap<String, String>,
) -> Result<HttpApiInfo, TemplateError> {
    let mut spec = ApiSpec::default();
    let mut authorizer_scopes = BTreeMap::new();
    let mut default_authorizer = None;
    if let Some(auth) = props.get("Auth") {
        if let Some(authorizers) = auth.get("Authorizers") {
            for (name, authorizer) in authorizers.entries()? {
                let Some(jwt) = authorizer.get("JwtConfiguration") else {
                    if authorizer.get("FunctionArn").is_none() {
                        return Err(authorizer.invalid(format!(
                            "authorizer {name} is neither a JWT authorizer (JwtConfiguration) nor a \
                             Lambda authorizer (FunctionArn)"
                        )));
                    }
                    spec.lambda_authorizers
                        .push(lambda_authorizer(&name, &authorizer, functions)?);
                    continue;
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
            if !spec.authorizers.iter().any(|a| a.name == name)
                && !spec.lambda_authorizers.iter().any(|a| a.name == name)
            {
                return Err(default.invalid(format!("{name} is not one of the API's Authorizers")));
            }
            default_authorizer = Some(name);
        }
    }
    if let Some(cors) = props.get("CorsConfiguration") {
        spec.cors = cors_settings(&cors)?;
    }
    let default_throttle = match props.get("DefaultRouteSettings") {
        Some(settings) => route_throttle(&settings)?,
        None => None,
    };
    Ok(HttpApiInfo {
        default_throttle,
        api_id: api_id(logical_id),
        spec,
        default_authorizer,
        authorizer_scopes,
    })
}

/// A Lambda authorizer: `FunctionArn` (back to the function's logical id),
/// `AuthorizerPayloadFormatVersion`, `EnableSimpleResponses` and `Identity`. Only what API
/// Gateway does with payload format 2.0 and simple responses is emulated; other settings are
/// refused here rather than behaving differently from production.
fn lambda_authorizer(
    name: &str,
    authorizer: &Node<'_>,
    functions: &BTreeMap<String, String>,
) -> Result<LambdaAuthorizer, TemplateError> {
    for jwt_only in ["AuthorizationScopes", "IdentitySource"] {
        if let Some(node) = authorizer.get(jwt_only) {
            return Err(node.invalid(format!(
                "is defined only for JWT (OAuth2) authorizers; Lambda authorizer {name} takes \
                 its identity sources from Identity"
            )));
        }
    }
    let arn_node = authorizer.require("FunctionArn")?;
    let arn = arn_node.string()?;
    let function = function_name_of_arn(&arn)
        .and_then(|function_name| functions.get(function_name))
        .cloned()
        .ok_or_else(|| {
            arn_node.invalid(format!(
                "{arn} is not the ARN of a function of the template (use !GetAtt <Function>.Arn)"
            ))
        })?;
    if let Some(kind) = authorizer.get("FunctionPayloadType") {
        let kind_name = kind.string()?;
        if kind_name != "REQUEST" {
            return Err(kind.invalid(format!(
                "{kind_name} authorizers do not exist for HTTP APIs; Lambda authorizers are REQUEST"
            )));
        }
    }
    let version_node = authorizer.require("AuthorizerPayloadFormatVersion")?;
    let payload_version = version_node.string()?;
    if payload_version != LAMBDA_AUTHORIZER_PAYLOAD_VERSION {
        return Err(version_node.invalid(format!(
            "payload format {payload_version} is not emulated locally; use \
             {LAMBDA_AUTHORIZER_PAYLOAD_VERSION} with EnableSimpleResponses: true"
        )));
    }
    let simple_responses = authorizer.flag("EnableSimpleResponses")?;
    if !simple_responses {
        let node = authorizer
            .get("EnableSimpleResponses")
            .unwrap_or_else(|| authorizer.clone());
        return Err(node.invalid(format!(
            "Lambda authorizer {name}: IAM policy responses are not emulated locally; set \
             EnableSimpleResponses: true"
        )));
    }
    // Accepted for fidelity with the template; the runner has no invoke permissions to grant.
    authorizer.opt_bool("EnableFunctionDefaultPermissions")?;
    let mut identity_headers = Vec::new();
    let mut identity_query_strings = Vec::new();
    let mut ttl = Duration::ZERO;
    if let Some(identity) = authorizer.get("Identity") {
        identity_headers = identity.strings("Headers")?;
        identity_query_strings = identity.strings("QueryStrings")?;
        for unsupported in ["StageVariables", "Context"] {
            if let Some(node) = identity.get(unsupported)
                && !node.items()?.is_empty()
            {
                return Err(node.invalid(format!(
                    "{unsupported} identity sources are not emulated locally (Headers and \
                     QueryStrings are)"
                )));
            }
        }
        if let Some(every) = identity.get("ReauthorizeEvery") {
            let seconds = every.int_as::<u64>()?;
            if seconds > MAX_REAUTHORIZE_SECONDS {
                return Err(every.invalid(format!(
                    "{seconds} is above the maximum of {MAX_REAUTHORIZE_SECONDS} seconds"
                )));
            }
            ttl = Duration::from_secs(seconds);
        }
    }
    let lambda = LambdaAuthorizer {
        name: name.to_string(),
        function,
        identity_headers,
        identity_query_strings,
        ttl,
        simple_responses,
        payload_version,
    };
    if !lambda.ttl.is_zero() && !lambda.has_identity_source() {
        return Err(authorizer.invalid(format!(
            "Lambda authorizer {name} caches results (Identity.ReauthorizeEvery) but has no \
             identity source to cache them by; API Gateway requires one"
        )));
    }
    Ok(lambda)
}

/// The function name in `arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]`.
fn function_name_of_arn(arn: &str) -> Option<&str> {
    let arn = clinic_shared::arn::Arn::parse(arn).filter(|arn| arn.service == "lambda")?;
    let mut resource = arn.resource.split(':');
    let (Some("function"), Some(name)) = (resource.next(), resource.next()) else {
        return None;
    };
    (!name.is_empty()).then_some(name)
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
        allow_credentials: cors.flag("AllowCredentials")?,
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

    #[test]
    fn function_names_come_out_of_lambda_arns() {
        assert_eq!(
            function_name_of_arn("arn:aws:lambda:us-east-1:123456789012:function:s-Authorizer"),
            Some("s-Authorizer")
        );
        assert_eq!(
            function_name_of_arn("arn:aws:lambda:us-east-1:123456789012:function:s-Auth:live"),
            Some("s-Auth")
        );
        assert_eq!(function_name_of_arn("s-Authorizer"), None);
        assert_eq!(
            function_name_of_arn("arn:aws:sqs:us-east-1:123456789012:function:q"),
            None
        );
        assert_eq!(
            function_name_of_arn("arn:aws:lambda:us-east-1:123456789012:function:"),
            None
        );
    }
}
