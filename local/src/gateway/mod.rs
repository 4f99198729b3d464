//! The HTTP API gateway of the local runner: routes requests to functions as API Gateway HTTP
//! APIs do (payload format 2.0), with the JWT authorizer, Lambda (`REQUEST`) authorizers, CORS,
//! the 10 MB payload limit, request ids, and the user pool's OAuth2 token endpoint (client
//! credentials) that the emulator lacks.
//!
//! [`Gateway`] is the whole of it; [`Gateway::router`] (or [`router`]) serves it as an axum
//! [`Router`] whose fallback takes every request, so extra paths can be added with `.route()` or
//! `.merge()`. To put something else (a static site) behind the API, use [`Gateway::route_request`]
//! to decide and [`Gateway::handle`] to answer. Serve with
//! `into_make_service_with_connect_info::<SocketAddr>()` so events carry the client's address.

pub mod authorizer;
pub mod cors;
pub mod event;
pub mod jwks;
pub mod lambda_authorizer;
pub mod oauth;
pub mod response;
pub mod routes;
pub mod signer;
pub mod throttle;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use http::header::{ALLOW, AUTHORIZATION, CONTENT_LENGTH, WWW_AUTHENTICATE};
use http::request::Parts;
use http::{HeaderName, HeaderValue, Method, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::model::{
    ApiSpec, HttpRoute, Invoker, JwtAuthorizer, LAMBDA_AUTHORIZER_PAYLOAD_VERSION, LambdaAuthorizer,
};
pub use authorizer::{AuthError, Authorized, JwtVerifier};
pub use cors::CorsPolicy;
pub use jwks::{JwksCache, JwksError};
pub use lambda_authorizer::{DecisionCache, LambdaRefusal};
pub use oauth::{OAuthError, TOKEN_PATH, TokenEndpoint};
pub use routes::{RouteError, RouteMatch, RouteTable};
pub use signer::{IssuedToken, LOCAL_KEY_ID, LOCAL_TOKEN_SECRET_ENV, LocalSigner, SignerError};

/// API Gateway's request payload limit for HTTP APIs (10 MB).
pub const MAX_REQUEST_BODY: usize = 10 * 1024 * 1024;

/// Header carrying the request id on every answer, as API Gateway names it.
pub const APIGW_REQUEST_ID: HeaderName = HeaderName::from_static("apigw-requestid");

/// The request id header the API contract promises on every response.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Sizes and intervals the gateway works within.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest request body passed to a function; larger ones get 413.
    pub max_request_body: usize,
    /// Largest token request body.
    pub max_token_request_body: usize,
    /// Least time between two fetches of a key set for an unknown `kid`.
    pub jwks_refetch_interval: Duration,
    /// Timeout of one key set fetch.
    pub jwks_fetch_timeout: Duration,
    /// Most Lambda authorizer results cached at once.
    pub lambda_authorizer_cache_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_body: MAX_REQUEST_BODY,
            max_token_request_body: 64 * 1024,
            jwks_refetch_interval: Duration::from_secs(10),
            jwks_fetch_timeout: Duration::from_secs(5),
            lambda_authorizer_cache_entries: lambda_authorizer::DEFAULT_CACHE_ENTRIES,
        }
    }
}

/// Everything the gateway serves.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Each HTTP route with the logical id of the function serving it.
    pub routes: Vec<(String, HttpRoute)>,
    /// Authorizers and CORS of the API.
    pub api: ApiSpec,
    /// The runner's token key, trusted by the authorizer and used by the token endpoint.
    pub signer: Arc<LocalSigner>,
    /// The user pool's token endpoint, when the template has a user pool.
    pub token_endpoint: Option<TokenEndpoint>,
    /// Payload limit and key-set fetching.
    pub limits: Limits,
    /// `requestContext.apiId`.
    pub api_id: String,
    /// Region in the default domain name.
    pub region: String,
}

impl GatewayConfig {
    /// A configuration with default limits, api id `local` and region `us-east-1`, without
    /// token endpoint.
    pub fn new(
        routes: Vec<(String, HttpRoute)>,
        api: ApiSpec,
        signer: Arc<LocalSigner>,
    ) -> GatewayConfig {
        GatewayConfig {
            routes,
            api,
            signer,
            token_endpoint: None,
            limits: Limits::default(),
            api_id: "local".to_string(),
            region: "us-east-1".to_string(),
        }
    }

    /// Adds the user pool's token endpoint.
    #[must_use]
    pub fn with_token_endpoint(mut self, endpoint: TokenEndpoint) -> GatewayConfig {
        self.token_endpoint = Some(endpoint);
        self
    }
}

/// Why the gateway cannot serve the API as configured.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error(transparent)]
    Route(#[from] RouteError),
    #[error("route `{route}` names authorizer `{authorizer}`, which the API does not declare")]
    UnknownAuthorizer { route: String, authorizer: String },
    #[error("authorizer `{0}` is declared twice")]
    DuplicateAuthorizer(String),
    #[error("Lambda authorizer `{authorizer}`: {reason}")]
    UnsupportedAuthorizer { authorizer: String, reason: String },
    #[error("HTTP client for the key sets: {0}")]
    HttpClient(String),
}

struct Inner<I> {
    routes: RouteTable,
    authorizers: HashMap<String, JwtAuthorizer>,
    lambda_authorizers: HashMap<String, LambdaAuthorizer>,
    lambda_cache: DecisionCache,
    cors: Option<CorsPolicy>,
    verifier: JwtVerifier,
    signer: Arc<LocalSigner>,
    token_endpoint: Option<TokenEndpoint>,
    limits: Limits,
    api_id: String,
    region: String,
    invoker: Arc<I>,
}

/// The HTTP API gateway; cheap to clone.
pub struct Gateway<I> {
    inner: Arc<Inner<I>>,
}

impl<I> Clone for Gateway<I> {
    fn clone(&self) -> Self {
        Gateway {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<I> std::fmt::Debug for Gateway<I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field(
                "routes",
                &self.inner.routes.route_keys().collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// Builds the gateway and serves it as a router (see [`Gateway::router`]).
///
/// # Errors
/// [`GatewayError`] when a route is malformed or names an undeclared authorizer.
pub fn router<I: Invoker>(config: GatewayConfig, invoker: Arc<I>) -> Result<Router, GatewayError> {
    Ok(Gateway::new(config, invoker)?.router())
}

/// How a request body could not be read.
enum BodyError {
    TooLarge,
    Read,
}

impl<I: Invoker> Gateway<I> {
    /// Checks the routes against the API and prepares the authorizers.
    ///
    /// # Errors
    /// [`GatewayError`] when a route is malformed, declared twice or names an undeclared
    /// authorizer, or a Lambda authorizer is not one the gateway emulates (payload format 2.0
    /// with simple responses).
    pub fn new(config: GatewayConfig, invoker: Arc<I>) -> Result<Gateway<I>, GatewayError> {
        let routes = RouteTable::new(&config.routes)?;
        let authorizers: HashMap<String, JwtAuthorizer> = config
            .api
            .authorizers
            .iter()
            .map(|a| (a.name.clone(), a.clone()))
            .collect();
        let mut lambda_authorizers: HashMap<String, LambdaAuthorizer> = HashMap::new();
        for lambda in &config.api.lambda_authorizers {
            if lambda.payload_version != LAMBDA_AUTHORIZER_PAYLOAD_VERSION
                || !lambda.simple_responses
            {
                return Err(GatewayError::UnsupportedAuthorizer {
                    authorizer: lambda.name.clone(),
                    reason: format!(
                        "only payload format {LAMBDA_AUTHORIZER_PAYLOAD_VERSION} with simple \
                         responses is emulated"
                    ),
                });
            }
            if authorizers.contains_key(&lambda.name)
                || lambda_authorizers
                    .insert(lambda.name.clone(), lambda.clone())
                    .is_some()
            {
                return Err(GatewayError::DuplicateAuthorizer(lambda.name.clone()));
            }
        }
        for (_, route) in &config.routes {
            if let Some(name) = &route.authorizer
                && !authorizers.contains_key(name)
                && !lambda_authorizers.contains_key(name)
            {
                return Err(GatewayError::UnknownAuthorizer {
                    route: format!("{} {}", route.method, route.path),
                    authorizer: name.clone(),
                });
            }
        }
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(config.limits.jwks_fetch_timeout)
            .build()
            .map_err(|e| GatewayError::HttpClient(e.to_string()))?;
        let jwks = JwksCache::new(http, config.limits.jwks_refetch_interval);
        Ok(Gateway {
            inner: Arc::new(Inner {
                routes,
                authorizers,
                lambda_authorizers,
                lambda_cache: DecisionCache::new(config.limits.lambda_authorizer_cache_entries),
                cors: config.api.cors.map(CorsPolicy::new),
                verifier: JwtVerifier::new(Arc::clone(&config.signer), jwks),
                signer: config.signer,
                token_endpoint: config.token_endpoint,
                limits: config.limits,
                api_id: config.api_id,
                region: config.region,
                invoker,
            }),
        })
    }

    /// The route that would serve `method` on `path` (as sent, percent-encoded), if any.
    pub fn route_request(&self, method: &Method, path: &str) -> Option<RouteMatch<'_>> {
        self.inner.routes.find(method.as_str(), path)
    }

    /// Whether the gateway has something for the request: a route, or the token endpoint.
    pub fn serves(&self, method: &Method, path: &str) -> bool {
        (self.inner.token_endpoint.is_some() && path == TOKEN_PATH)
            || self.route_request(method, path).is_some()
    }

    /// A router whose fallback hands every request to [`Gateway::handle`].
    pub fn router(&self) -> Router {
        let gateway = self.clone();
        Router::new().fallback(move |request: Request| {
            let gateway = gateway.clone();
            async move { gateway.handle(request).await }
        })
    }

    /// Answers one request as the API (404 `{"message":"Not Found"}` when no route matches).
    pub async fn handle(&self, request: Request) -> Response {
        let started = Instant::now();
        let received_at = jiff::Timestamp::now();
        let request_id = new_request_id();
        let (parts, body) = request.into_parts();

        if self.inner.token_endpoint.is_some() && parts.uri.path() == TOKEN_PATH {
            let response = self.token(&parts, body).await;
            tracing::info!(
                request_id,
                method = %parts.method,
                path = TOKEN_PATH,
                status = response.status().as_u16(),
                latency_ms = started.elapsed().as_millis() as u64,
                "token request"
            );
            return response;
        }

        let (mut response, route_key) = match &self.inner.cors {
            Some(cors) if CorsPolicy::is_preflight(&parts.method, &parts.headers) => {
                (cors.preflight(&parts.headers), None)
            }
            Some(cors) => {
                let (mut response, route_key) =
                    self.dispatch(&parts, body, &request_id, received_at).await;
                cors.apply(&parts.headers, response.headers_mut());
                (response, route_key)
            }
            None => self.dispatch(&parts, body, &request_id, received_at).await,
        };
        if let Ok(id) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert(APIGW_REQUEST_ID, id.clone());
            if !response.headers().contains_key(X_REQUEST_ID) {
                response.headers_mut().insert(X_REQUEST_ID, id);
            }
        }
        tracing::info!(
            request_id,
            method = %parts.method,
            route_key = route_key.as_deref().unwrap_or("-"),
            status = response.status().as_u16(),
            latency_ms = started.elapsed().as_millis() as u64,
            "request"
        );
        response
    }

    /// Routes, reads the body, authorizes and invokes; returns the response and the route key.
    async fn dispatch(
        &self,
        parts: &Parts,
        body: Body,
        request_id: &str,
        received_at: jiff::Timestamp,
    ) -> (Response, Option<String>) {
        let inner = &self.inner;
        let Some(matched) = inner.routes.find(parts.method.as_str(), parts.uri.path()) else {
            return (response::not_found(), None);
        };
        let route_key = Some(matched.route_key.to_string());
        if let Some(Err(wait)) = matched
            .throttle
            .map(|bucket| bucket.take(std::time::Instant::now()))
        {
            return (response::too_many_requests(wait), route_key);
        }
        let body = match read_body(parts, body, inner.limits.max_request_body).await {
            Ok(body) => body,
            Err(BodyError::TooLarge) => return (response::too_large(), route_key),
            Err(BodyError::Read) => {
                let answer = response::gateway_message(StatusCode::BAD_REQUEST, "Bad Request");
                return (answer, route_key);
            }
        };
        let source_ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or_else(|| "127.0.0.1".to_string(), |c| c.0.ip().to_string());
        // One trace id for the authorizer's event and the route's.
        let mut headers = parts.headers.clone();
        event::ensure_trace_id(&mut headers);
        let request = event::RequestParts {
            method: &parts.method,
            version: parts.version,
            raw_path: parts.uri.path(),
            raw_query: parts.uri.query().unwrap_or_default(),
            headers: &headers,
            source_ip,
        };
        let unauthorized = event::RequestMeta {
            api_id: &inner.api_id,
            region: &inner.region,
            request_id,
            route_key: matched.route_key,
            path_parameters: &matched.path_parameters,
            authorized: None,
            lambda_context: None,
            received_at,
        };
        let mut authorized = None;
        let mut lambda_context = None;
        if let Some(name) = &matched.route.authorizer {
            if let Some(authorizer) = inner.authorizers.get(name) {
                let header = parts
                    .headers
                    .get(AUTHORIZATION)
                    .and_then(|v| v.to_str().ok());
                match inner
                    .verifier
                    .authorize(authorizer, &matched.route.scopes, header)
                    .await
                {
                    Ok(verified) => authorized = Some(verified),
                    Err(error) => {
                        tracing::info!(request_id, reason = %error, "request not authorized");
                        return (refusal(&error), route_key);
                    }
                }
            } else if let Some(authorizer) = inner.lambda_authorizers.get(name) {
                match self
                    .authorize_lambda(authorizer, &request, &unauthorized)
                    .await
                {
                    Ok(context) => lambda_context = Some(context),
                    Err(refused) => {
                        let answer = response::gateway_message(refused.status(), refused.message());
                        return (answer, route_key);
                    }
                }
            } else {
                return (response::internal_error(), route_key);
            }
        }
        let meta = event::RequestMeta {
            authorized: authorized.as_ref(),
            lambda_context: lambda_context.as_ref(),
            ..unauthorized
        };
        let payload = event::build(&request, &meta, &body);
        let answer = match inner.invoker.invoke(matched.function, payload).await {
            Ok(result) => response::from_result(result).unwrap_or_else(|error| {
                tracing::warn!(request_id, function = matched.function, %error, "malformed function result");
                response::internal_error()
            }),
            Err(error) => {
                tracing::warn!(request_id, function = matched.function, %error, "invocation failed");
                response::invoke_error(&error)
            }
        };
        (answer, route_key)
    }

    /// Runs a Lambda authorizer for the request (see [`lambda_authorizer`]); its context on
    /// success.
    async fn authorize_lambda(
        &self,
        authorizer: &LambdaAuthorizer,
        request: &event::RequestParts<'_>,
        meta: &event::RequestMeta<'_>,
    ) -> Result<serde_json::Map<String, serde_json::Value>, LambdaRefusal> {
        let inner = &self.inner;
        let request_id = meta.request_id;
        let Some(identity) =
            lambda_authorizer::identity_source(authorizer, request.headers, request.raw_query)
        else {
            tracing::info!(
                request_id,
                authorizer = authorizer.name,
                "request not authorized: an identity source is missing"
            );
            return Err(LambdaRefusal::MissingIdentity);
        };
        let outcome = lambda_authorizer::authorize(
            inner.invoker.as_ref(),
            &inner.lambda_cache,
            authorizer,
            &identity,
            || event::build_authorizer(request, meta, &identity),
        )
        .await;
        match &outcome {
            Ok(_) => {}
            Err(LambdaRefusal::Failed(reason)) => tracing::warn!(
                request_id,
                authorizer = authorizer.name,
                function = authorizer.function,
                reason,
                "Lambda authorizer failed"
            ),
            Err(refused) => tracing::info!(
                request_id,
                authorizer = authorizer.name,
                reason = %refused,
                "request not authorized"
            ),
        }
        outcome
    }

    async fn token(&self, parts: &Parts, body: Body) -> Response {
        let Some(endpoint) = &self.inner.token_endpoint else {
            return response::not_found();
        };
        if parts.method != Method::POST {
            let mut answer =
                response::gateway_message(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
            answer
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static("POST"));
            return answer;
        }
        match read_body(parts, body, self.inner.limits.max_token_request_body).await {
            Ok(body) => {
                endpoint
                    .handle(&self.inner.signer, &parts.headers, &body)
                    .await
            }
            Err(BodyError::TooLarge) => response::too_large(),
            Err(BodyError::Read) => {
                response::gateway_message(StatusCode::BAD_REQUEST, "Bad Request")
            }
        }
    }
}

/// The 401/403 answer for a refused token.
fn refusal(error: &AuthError) -> Response {
    let status = error.status();
    let message = if status == StatusCode::FORBIDDEN {
        "Forbidden"
    } else {
        "Unauthorized"
    };
    let mut answer = response::gateway_message(status, message);
    if let Ok(challenge) = HeaderValue::from_str(&error.www_authenticate()) {
        answer.headers_mut().insert(WWW_AUTHENTICATE, challenge);
    }
    answer
}

/// Reads the body, refusing more than `limit` bytes (by `Content-Length` first).
async fn read_body(parts: &Parts, body: Body, limit: usize) -> Result<Vec<u8>, BodyError> {
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(BodyError::TooLarge);
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes().to_vec()),
        Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => {
            Err(BodyError::TooLarge)
        }
        Err(_) => Err(BodyError::Read),
    }
}

/// An id shaped like API Gateway's (`Mc7UVioPPHcEKPA=`: 11 bytes in base64).
fn new_request_id() -> String {
    let bytes = ulid::Ulid::new().to_bytes();
    BASE64.encode(&bytes[5..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_look_like_api_gateways() {
        let id = new_request_id();
        assert_eq!(id.len(), 16);
        assert!(id.ends_with('='));
        assert_ne!(id, new_request_id());
    }
}
