//! What the runner knows of the stack once `template.yaml` has been read and provisioned: the
//! functions to run (with their resolved environment), how requests and events reach them, and
//! the HTTP API's authorizers (JWT and Lambda) and CORS settings. Every other module works from these types.

use std::collections::BTreeMap;
use std::time::Duration;

/// One function of the template, ready to run.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionSpec {
    /// Logical id in the template, e.g. `AccountsApiFunction`.
    pub logical_id: String,
    /// Cargo binary (`Metadata.BuildProperties.Binary`), e.g. `accounts-api`.
    pub binary: String,
    /// Environment variables with every intrinsic resolved to local names (globals merged in).
    pub environment: BTreeMap<String, String>,
    pub timeout: Duration,
    pub memory_mb: u32,
    /// `ReservedConcurrentExecutions`, when the template sets it.
    pub reserved_concurrency: Option<u32>,
    pub events: Vec<EventSource>,
}

/// How invocations reach a function.
#[derive(Debug, Clone, PartialEq)]
pub enum EventSource {
    Http(HttpRoute),
    Sqs(SqsSource),
    DynamoStream(StreamSource),
    Schedule(ScheduleSource),
}

/// An HTTP API route (`Type: HttpApi`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRoute {
    /// Upper-case method, or `ANY`.
    pub method: String,
    /// Path template as API Gateway writes it: `/v1/exams/{id}`, `/files/{proxy+}`.
    pub path: String,
    /// `None` for `Auth.Authorizer: NONE`, else the authorizer's name (the API default when the
    /// route names none): one of [`ApiSpec::authorizers`] or [`ApiSpec::lambda_authorizers`].
    pub authorizer: Option<String>,
    /// Scopes the route requires (`Auth.AuthorizationScopes`), empty when none. Only JWT
    /// authorizers check scopes; routes guarded by a Lambda authorizer have none.
    pub scopes: Vec<String>,
    /// `RouteSettings` of the route's event, else the API's `DefaultRouteSettings`.
    pub throttle: Option<RouteThrottle>,
}

/// A route's throttle: `ThrottlingRateLimit` requests a second, bursts of
/// `ThrottlingBurstLimit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteThrottle {
    pub rate_per_second: u32,
    pub burst: u32,
}

/// An SQS event source mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct SqsSource {
    pub queue_url: String,
    pub queue_arn: String,
    pub batch_size: u32,
    pub batching_window: Duration,
    pub report_batch_item_failures: bool,
    /// `ScalingConfig.MaximumConcurrency`, when set.
    pub maximum_concurrency: Option<u32>,
}

/// A DynamoDB stream event source mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamSource {
    pub table_name: String,
    pub stream_arn: String,
    pub batch_size: u32,
    /// `TRIM_HORIZON` or `LATEST`.
    pub starting_position: String,
    pub maximum_retry_attempts: Option<i64>,
    pub bisect_on_error: bool,
    pub report_batch_item_failures: bool,
    /// Event patterns of `FilterCriteria.Filters[].Pattern`, parsed from their JSON strings.
    pub filters: Vec<serde_json::Value>,
    /// Queue URL of `DestinationConfig.OnFailure`, when set.
    pub on_failure_queue_url: Option<String>,
}

/// A `Schedule` event (`rate(...)`; `cron(...)` is not emulated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleSource {
    pub every: Duration,
}

/// A JWT authorizer of the HTTP API, with its intrinsics resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtAuthorizer {
    pub name: String,
    /// Expected `iss` (the AWS-style Cognito URL, also locally).
    pub issuer: String,
    /// Accepted `aud` (id tokens) / `client_id` (access tokens) values.
    pub audience: Vec<String>,
    /// Where the signing keys are served (the emulator's JWKS of the user pool).
    pub jwks_url: String,
}

/// The payload format version of a Lambda authorizer that the gateway emulates.
pub const LAMBDA_AUTHORIZER_PAYLOAD_VERSION: &str = "2.0";

/// A Lambda (`REQUEST`) authorizer of the HTTP API (`Auth.Authorizers.<name>.FunctionArn`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LambdaAuthorizer {
    pub name: String,
    /// Logical id of the authorizer function (resolved from `FunctionArn`).
    pub function: String,
    /// `Identity.Headers`: the headers whose values are the identity source
    /// (`$request.header.<name>`), in template order. A request missing any of them (or with an
    /// empty value) is refused with 401 without invoking the function.
    pub identity_headers: Vec<String>,
    /// `Identity.QueryStrings` (`$request.querystring.<name>`), checked like the headers and
    /// listed after them in `identitySource`.
    pub identity_query_strings: Vec<String>,
    /// `Identity.ReauthorizeEvery`: how long a result is cached per identity-source values;
    /// zero (also when the template does not set it) disables caching.
    pub ttl: Duration,
    /// `EnableSimpleResponses`: the function answers `{"isAuthorized": bool, "context": {..}}`.
    pub simple_responses: bool,
    /// `AuthorizerPayloadFormatVersion` (`"2.0"`; see [`LAMBDA_AUTHORIZER_PAYLOAD_VERSION`]).
    pub payload_version: String,
}

impl LambdaAuthorizer {
    /// Whether the authorizer declares any identity source.
    pub fn has_identity_source(&self) -> bool {
        !self.identity_headers.is_empty() || !self.identity_query_strings.is_empty()
    }
}

/// CORS settings of the HTTP API.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cors {
    pub allow_origins: Vec<String>,
    pub allow_methods: Vec<String>,
    pub allow_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub max_age: Option<u32>,
    pub allow_credentials: bool,
}

/// The HTTP API as the gateway serves it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApiSpec {
    /// The JWT authorizers.
    pub authorizers: Vec<JwtAuthorizer>,
    /// The Lambda (`REQUEST`) authorizers; their names differ from the JWT authorizers'.
    pub lambda_authorizers: Vec<LambdaAuthorizer>,
    pub cors: Option<Cors>,
}

/// The Cognito pieces the runner itself needs (token endpoint, staff seeding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentitySpec {
    pub user_pool_id: String,
    /// The user pool's web client id (people sign in through it).
    pub web_client_ids: Vec<String>,
    /// Issuer of the pool's tokens (`https://cognito-idp.<region>.amazonaws.com/<poolId>`).
    pub issuer: String,
    /// Resource-server scopes (`clinic/ingest`) a client-credentials client may be given.
    pub resource_scopes: Vec<String>,
}

/// Everything the runner runs, after provisioning.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalStack {
    pub functions: Vec<FunctionSpec>,
    pub api: ApiSpec,
    pub identity: Option<IdentitySpec>,
}

impl LocalStack {
    /// Every HTTP route with the function serving it.
    pub fn routes(&self) -> Vec<(&FunctionSpec, &HttpRoute)> {
        self.functions
            .iter()
            .flat_map(|f| {
                f.events.iter().filter_map(move |e| match e {
                    EventSource::Http(route) => Some((f, route)),
                    _ => None,
                })
            })
            .collect()
    }
}

/// Why an invocation produced no result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvokeError {
    /// The function reported an error through the Runtime API (`/error`).
    #[error("function error {error_type}: {error_message}")]
    Function {
        error_type: String,
        error_message: String,
    },
    /// It did not answer within its timeout (its process is then replaced).
    #[error("function timed out after {0:?}")]
    Timeout(Duration),
    /// Its process exited or failed to start or initialise.
    #[error("function crashed: {0}")]
    Crashed(String),
    #[error("no function named {0}")]
    NoSuchFunction(String),
    /// The runner is shutting down.
    #[error("runner is shutting down")]
    ShuttingDown,
}

/// Invokes functions by logical id (the Lambda `Invoke` of the runner).
pub trait Invoker: Send + Sync + 'static {
    /// Runs one invocation and waits for its result payload.
    ///
    /// # Errors
    /// [`InvokeError`].
    fn invoke(
        &self,
        function: &str,
        payload: serde_json::Value,
    ) -> impl std::future::Future<Output = Result<serde_json::Value, InvokeError>> + Send;
}
