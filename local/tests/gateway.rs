//! The local HTTP API gateway: routing, the payload-format-2.0 event, response mapping, limits,
//! CORS and Lambda authorizers against a recording fake invoker; the JWT authorizer and the
//! OAuth2 token endpoint against the real emulator's Cognito (user pool tokens and
//! client-credentials clients).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lambda_events::apigw::{
    ApiGatewayV2CustomAuthorizerSimpleResponse, ApiGatewayV2CustomAuthorizerV2Request,
};
use aws_sdk_cognitoidentityprovider::types::{
    AuthFlowType, ExplicitAuthFlowsType, OAuthFlowType, ResourceServerScopeType,
};
use axum::Router;
use axum::body::Body;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use clinic_local::gateway::{
    Gateway, GatewayConfig, GatewayError, LocalSigner, MAX_REQUEST_BODY, TokenEndpoint, router,
};
use clinic_local::model::{
    ApiSpec, Cors, HttpRoute, IdentitySpec, InvokeError, Invoker, JwtAuthorizer, LambdaAuthorizer,
};
use clinic_shared::auth::Caller;
use clinic_shared::envelope::Role;
use clinic_shared::testing::{emulator_config, emulator_url, unique};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use lambda_http::request::RequestContext;
use serde_json::{Value, json};
use tower::ServiceExt;

// ------------------------------------------------------------------------------------------------
// Fixtures
// ------------------------------------------------------------------------------------------------

type Reply = Box<dyn Fn(&str, &Value) -> Result<Value, InvokeError> + Send + Sync>;

/// Records every invocation and answers with `reply`.
struct FakeInvoker {
    calls: Mutex<Vec<(String, Value)>>,
    reply: Reply,
}

impl FakeInvoker {
    fn replying(
        reply: impl Fn(&str, &Value) -> Result<Value, InvokeError> + Send + Sync + 'static,
    ) -> Arc<Self> {
        Arc::new(FakeInvoker {
            calls: Mutex::new(Vec::new()),
            reply: Box::new(reply),
        })
    }

    fn ok() -> Arc<Self> {
        Self::replying(|_, _| {
            Ok(json!({
                "statusCode": 200,
                "headers": {"content-type": "application/json"},
                "body": "{\"ok\":true}"
            }))
        })
    }

    fn calls(&self) -> Vec<(String, Value)> {
        self.calls.lock().expect("calls").clone()
    }

    fn last_event(&self) -> Value {
        self.calls().last().expect("an invocation").1.clone()
    }
}

impl Invoker for FakeInvoker {
    fn invoke(
        &self,
        function: &str,
        payload: Value,
    ) -> impl std::future::Future<Output = Result<Value, InvokeError>> + Send {
        let result = (self.reply)(function, &payload);
        self.calls
            .lock()
            .expect("calls")
            .push((function.to_string(), payload));
        std::future::ready(result)
    }
}

const PORTAL: &str = "http://localhost:3000";
const AUTHORIZER: &str = "CognitoJwt";

fn route(method: &str, path: &str, authorizer: Option<&str>, scopes: &[&str]) -> HttpRoute {
    HttpRoute {
        method: method.to_string(),
        path: path.to_string(),
        authorizer: authorizer.map(str::to_string),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        throttle: None,
    }
}

fn routes() -> Vec<(String, HttpRoute)> {
    vec![
        (
            "ExamsFunction".into(),
            route("GET", "/v1/exams/{id}", None, &[]),
        ),
        (
            "FilesFunction".into(),
            route("ANY", "/files/{proxy+}", None, &[]),
        ),
        ("EchoFunction".into(), route("POST", "/v1/echo", None, &[])),
        (
            "MeFunction".into(),
            route("GET", "/v1/me", Some(AUTHORIZER), &[]),
        ),
    ]
}

fn cors() -> Cors {
    Cors {
        allow_origins: vec![PORTAL.into()],
        allow_methods: vec![
            "GET".into(),
            "POST".into(),
            "DELETE".into(),
            "OPTIONS".into(),
        ],
        allow_headers: vec!["authorization".into(), "content-type".into()],
        expose_headers: vec!["x-request-id".into()],
        max_age: Some(600),
        allow_credentials: false,
    }
}

/// An authorizer whose keys are never fetched (only locally signed tokens reach it).
fn offline_authorizer() -> JwtAuthorizer {
    JwtAuthorizer {
        name: AUTHORIZER.into(),
        issuer: "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_local".into(),
        audience: vec!["web-client".into()],
        jwks_url: "http://127.0.0.1:9/none/.well-known/jwks.json".into(),
    }
}

fn fake_gateway(invoker: &Arc<FakeInvoker>) -> Router {
    let api = ApiSpec {
        authorizers: vec![offline_authorizer()],
        lambda_authorizers: Vec::new(),
        cors: Some(cors()),
    };
    let signer = Arc::new(LocalSigner::generate().expect("signer"));
    router(
        GatewayConfig::new(routes(), api, signer),
        Arc::clone(invoker),
    )
    .expect("gateway")
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

async fn send(app: &Router, request: Request<Body>) -> Answer {
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
        .to_vec();
    Answer {
        status,
        headers,
        body,
    }
}

fn get(uri: &str) -> http::request::Builder {
    Request::builder()
        .method(Method::GET)
        .uri(uri)
        .header("host", "localhost:4000")
}

fn empty(builder: http::request::Builder) -> Request<Body> {
    builder.body(Body::empty()).expect("request")
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

// ------------------------------------------------------------------------------------------------
// Routing and the event
// ------------------------------------------------------------------------------------------------

#[tokio::test]
async fn path_parameters_query_strings_headers_and_cookies_reach_the_event() {
    let invoker = FakeInvoker::ok();
    let app = fake_gateway(&invoker);
    let answer = send(
        &app,
        empty(
            get("/v1/exams/ex%2042?x=1&x=2&y=a%20b")
                .header("x-multi", "a")
                .header("x-multi", "b")
                .header("cookie", "session=s1; theme=dark")
                .header("user-agent", "gateway-test"),
        ),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json(), json!({"ok": true}));

    let calls = invoker.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].0, "ExamsFunction");
    let e = &calls[0].1;
    assert_eq!(e["version"], "2.0");
    assert_eq!(e["routeKey"], "GET /v1/exams/{id}");
    assert_eq!(e["rawPath"], "/v1/exams/ex 42");
    assert_eq!(e["rawQueryString"], "x=1&x=2&y=a%20b");
    assert_eq!(e["pathParameters"], json!({"id": "ex 42"}));
    assert_eq!(e["queryStringParameters"], json!({"x": "1,2", "y": "a b"}));
    assert_eq!(e["headers"]["x-multi"], "a,b");
    assert_eq!(e["headers"]["host"], "localhost:4000");
    assert!(
        e["headers"].get("cookie").is_none(),
        "cookies leave the headers"
    );
    assert_eq!(e["cookies"], json!(["session=s1", "theme=dark"]));
    assert_eq!(e["isBase64Encoded"], false);
    assert!(e.get("body").is_none());

    let ctx = &e["requestContext"];
    assert_eq!(ctx["accountId"], "123456789012");
    assert_eq!(ctx["stage"], "$default");
    assert_eq!(ctx["routeKey"], "GET /v1/exams/{id}");
    assert_eq!(ctx["http"]["method"], "GET");
    assert_eq!(ctx["http"]["path"], "/v1/exams/ex 42");
    assert_eq!(ctx["http"]["protocol"], "HTTP/1.1");
    assert_eq!(ctx["http"]["userAgent"], "gateway-test");
    assert_eq!(ctx["domainName"], "localhost");
    assert!(
        ctx["timeEpoch"]
            .as_i64()
            .is_some_and(|ms| ms > 1_700_000_000_000)
    );
    assert!(ctx.get("authorizer").is_none());

    // The same id in the event and both response headers.
    let id = ctx["requestId"].as_str().expect("request id");
    assert_eq!(answer.header("apigw-requestid"), Some(id));
    assert_eq!(answer.header("x-request-id"), Some(id));

    // The event is what lambda_http hands the functions' routers.
    let request = lambda_http::request::from_str(&e.to_string()).expect("a lambda_http request");
    assert_eq!(request.method(), Method::GET);
    assert_eq!(request.uri().path(), "/v1/exams/ex%2042");
    assert_eq!(request.uri().query(), Some("x=1&x=2&y=a%20b"));
    assert_eq!(request.headers()["cookie"], "session=s1; theme=dark");
    assert!(matches!(
        request.extensions().get::<RequestContext>(),
        Some(RequestContext::ApiGatewayV2(_))
    ));
}

/// The caller a function reads from the event, through lambda_http and the shared extractor.
fn caller_of(event: &Value, ingest_scope: &str) -> Caller {
    let request =
        lambda_http::request::from_str(&event.to_string()).expect("a lambda_http request");
    let context = request
        .extensions()
        .get::<RequestContext>()
        .expect("request context");
    Caller::from_request_context(context, ingest_scope).expect("a caller")
}

#[tokio::test]
async fn greedy_routes_take_any_method_and_the_rest_of_the_path() {
    let invoker = FakeInvoker::ok();
    let app = fake_gateway(&invoker);
    let answer = send(
        &app,
        empty(
            Request::builder()
                .method(Method::DELETE)
                .uri("/files/a/b/report.pdf"),
        ),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    let e = invoker.last_event();
    assert_eq!(e["routeKey"], "ANY /files/{proxy+}");
    assert_eq!(e["pathParameters"]["proxy"], "a/b/report.pdf");
    assert_eq!(e["requestContext"]["http"]["method"], "DELETE");
}

#[tokio::test]
async fn unmatched_requests_get_api_gateways_not_found() {
    let invoker = FakeInvoker::ok();
    let app = fake_gateway(&invoker);
    for request in [
        empty(get("/nowhere")),
        empty(Request::builder().method(Method::POST).uri("/v1/exams/1")),
        empty(get("/files/")),
    ] {
        let answer = send(&app, request).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND);
        assert_eq!(answer.json(), json!({"message": "Not Found"}));
        assert_eq!(answer.header("content-type"), Some("application/json"));
        assert!(answer.header("apigw-requestid").is_some());
    }
    assert!(invoker.calls().is_empty());
}

#[tokio::test]
async fn text_bodies_arrive_as_text_and_others_base64_encoded() {
    let invoker = FakeInvoker::ok();
    let app = fake_gateway(&invoker);
    let post = |content_type: &str, body: &'static [u8]| {
        Request::builder()
            .method(Method::POST)
            .uri("/v1/echo")
            .header("content-type", content_type)
            .body(Body::from(body))
            .expect("request")
    };
    send(&app, post("application/json", br#"{"a":1}"#)).await;
    let e = invoker.last_event();
    assert_eq!(e["body"], r#"{"a":1}"#);
    assert_eq!(e["isBase64Encoded"], false);

    send(&app, post("application/pdf", b"%PDF\x00\xff")).await;
    let e = invoker.last_event();
    assert_eq!(e["isBase64Encoded"], true);
    let decoded = BASE64
        .decode(e["body"].as_str().expect("body"))
        .expect("base64");
    assert_eq!(decoded, b"%PDF\x00\xff");
}

// ------------------------------------------------------------------------------------------------
// Limits and failures
// ------------------------------------------------------------------------------------------------

#[tokio::test]
async fn bodies_above_ten_megabytes_are_refused_without_invoking() {
    let invoker = FakeInvoker::ok();
    let app = fake_gateway(&invoker);
    // Streamed without Content-Length.
    let big = vec![b'a'; MAX_REQUEST_BODY + 1];
    let request = Request::builder()
        .method(Method::POST)
        .uri("/v1/echo")
        .header("content-type", "text/plain")
        .body(Body::from(big))
        .expect("request");
    let answer = send(&app, request).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        answer.json(),
        json!({"message": "Request Entity Too Large"})
    );

    // Declared by Content-Length.
    let request = Request::builder()
        .method(Method::POST)
        .uri("/v1/echo")
        .header("content-length", (MAX_REQUEST_BODY + 1).to_string())
        .body(Body::from("x"))
        .expect("request");
    assert_eq!(
        send(&app, request).await.status,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    assert!(invoker.calls().is_empty());

    // Exactly the limit passes.
    let request = Request::builder()
        .method(Method::POST)
        .uri("/v1/echo")
        .header("content-type", "text/plain")
        .body(Body::from(vec![b'a'; MAX_REQUEST_BODY]))
        .expect("request");
    assert_eq!(send(&app, request).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_function_timeout_is_a_504_and_a_failure_a_500() {
    let timeout = FakeInvoker::replying(|_, _| Err(InvokeError::Timeout(Duration::from_secs(5))));
    let answer = send(&fake_gateway(&timeout), empty(get("/v1/exams/1"))).await;
    assert_eq!(answer.status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(
        answer.json(),
        json!({"message": "Endpoint request timed out"})
    );
    assert!(answer.header("x-request-id").is_some());

    let failing = FakeInvoker::replying(|_, _| {
        Err(InvokeError::Function {
            error_type: "Runtime.Panic".into(),
            error_message: "boom".into(),
        })
    });
    let answer = send(&fake_gateway(&failing), empty(get("/v1/exams/1"))).await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(answer.json(), json!({"message": "Internal Server Error"}));

    let crashed = FakeInvoker::replying(|_, _| Err(InvokeError::Crashed("exit 101".into())));
    let answer = send(&fake_gateway(&crashed), empty(get("/v1/exams/1"))).await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);

    let malformed = FakeInvoker::replying(|_, _| Ok(json!({"statusCode": "abc"})));
    let answer = send(&fake_gateway(&malformed), empty(get("/v1/exams/1"))).await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
}

// ------------------------------------------------------------------------------------------------
// Response mapping
// ------------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_plain_json_result_becomes_a_200_json_response() {
    let invoker = FakeInvoker::replying(|_, _| Ok(json!({"exams": [1, 2], "nextCursor": null})));
    let answer = send(&fake_gateway(&invoker), empty(get("/v1/exams/1"))).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert_eq!(answer.json(), json!({"exams": [1, 2], "nextCursor": null}));
}

#[tokio::test]
async fn status_headers_cookies_and_binary_bodies_are_mapped() {
    let invoker = FakeInvoker::replying(|_, _| {
        Ok(json!({
            "statusCode": 201,
            "headers": {"content-type": "application/pdf", "x-request-id": "fn-chosen-id"},
            "multiValueHeaders": {"x-trace": ["a", "b"]},
            "cookies": ["a=1; Path=/; HttpOnly", "b=2"],
            "body": BASE64.encode(b"%PDF-1.7\x00"),
            "isBase64Encoded": true
        }))
    });
    let answer = send(&fake_gateway(&invoker), empty(get("/v1/exams/1"))).await;
    assert_eq!(answer.status, StatusCode::CREATED);
    assert_eq!(answer.body, b"%PDF-1.7\x00");
    assert_eq!(answer.header("content-type"), Some("application/pdf"));
    assert_eq!(
        answer.header("x-request-id"),
        Some("fn-chosen-id"),
        "the function's id is kept"
    );
    assert_ne!(answer.header("apigw-requestid"), Some("fn-chosen-id"));
    let cookies: Vec<_> = answer.headers.get_all("set-cookie").iter().collect();
    assert_eq!(cookies, ["a=1; Path=/; HttpOnly", "b=2"]);
    let traces: Vec<_> = answer.headers.get_all("x-trace").iter().collect();
    assert_eq!(traces, ["a", "b"]);
}

// ------------------------------------------------------------------------------------------------
// CORS
// ------------------------------------------------------------------------------------------------

#[tokio::test]
async fn preflight_is_answered_by_the_gateway_without_function_or_token() {
    let invoker = FakeInvoker::ok();
    let app = fake_gateway(&invoker);
    let preflight = Request::builder()
        .method(Method::OPTIONS)
        .uri("/v1/me")
        .header("origin", PORTAL)
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization")
        .body(Body::empty())
        .expect("request");
    let answer = send(&app, preflight).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
    assert_eq!(answer.header("access-control-allow-origin"), Some(PORTAL));
    assert_eq!(
        answer.header("access-control-allow-methods"),
        Some("GET,POST,DELETE,OPTIONS")
    );
    assert_eq!(
        answer.header("access-control-allow-headers"),
        Some("authorization,content-type")
    );
    assert_eq!(answer.header("access-control-max-age"), Some("600"));
    assert!(invoker.calls().is_empty());

    let foreign = Request::builder()
        .method(Method::OPTIONS)
        .uri("/v1/me")
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "GET")
        .body(Body::empty())
        .expect("request");
    let answer = send(&app, foreign).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
    assert!(answer.header("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn responses_to_allowed_origins_carry_cors_headers() {
    let invoker = FakeInvoker::replying(|_, _| {
        Ok(json!({
            "statusCode": 200,
            "headers": {"access-control-allow-origin": "*"},
            "body": "{}"
        }))
    });
    let app = fake_gateway(&invoker);
    let answer = send(&app, empty(get("/v1/exams/1").header("origin", PORTAL))).await;
    assert_eq!(answer.header("access-control-allow-origin"), Some(PORTAL));
    assert_eq!(
        answer.header("access-control-expose-headers"),
        Some("x-request-id")
    );

    let answer = send(
        &app,
        empty(get("/v1/exams/1").header("origin", "https://evil.example")),
    )
    .await;
    assert!(
        answer.header("access-control-allow-origin").is_none(),
        "the function's own CORS headers are dropped"
    );

    // Gateway errors carry them too, so the portal can read a 401.
    let answer = send(&app, empty(get("/v1/me").header("origin", PORTAL))).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.header("access-control-allow-origin"), Some(PORTAL));
}

// ------------------------------------------------------------------------------------------------
// Composition
// ------------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_router_composes_with_extra_routes_and_a_fallback() {
    let invoker = FakeInvoker::ok();
    let api = ApiSpec {
        authorizers: vec![offline_authorizer()],
        lambda_authorizers: Vec::new(),
        cors: None,
    };
    let signer = Arc::new(LocalSigner::generate().expect("signer"));
    let gateway = Gateway::new(
        GatewayConfig::new(routes(), api, signer),
        Arc::clone(&invoker),
    )
    .expect("gateway");
    let app = gateway
        .router()
        .route("/_local/health", axum::routing::get(|| async { "ok" }));
    assert_eq!(send(&app, empty(get("/_local/health"))).await.body, b"ok");
    assert_eq!(
        send(&app, empty(get("/v1/exams/1"))).await.status,
        StatusCode::OK
    );

    // A site behind the API: only GETs no route takes go to it.
    let api = gateway.clone();
    let site = Router::new().fallback(move |request: axum::extract::Request| {
        let api = api.clone();
        async move {
            if request.method() == Method::GET
                && api
                    .route_request(request.method(), request.uri().path())
                    .is_none()
            {
                axum::response::IntoResponse::into_response("portal")
            } else {
                api.handle(request).await
            }
        }
    });
    assert_eq!(send(&site, empty(get("/index.html"))).await.body, b"portal");
    assert_eq!(
        send(&site, empty(get("/v1/exams/1"))).await.json(),
        json!({"ok": true})
    );
    let post = empty(Request::builder().method(Method::POST).uri("/index.html"));
    assert_eq!(send(&site, post).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn routes_naming_an_undeclared_authorizer_are_refused() {
    let signer = Arc::new(LocalSigner::generate().expect("signer"));
    let routes = vec![("F".to_string(), route("GET", "/x", Some("Nope"), &[]))];
    let built = Gateway::new(
        GatewayConfig::new(routes, ApiSpec::default(), signer),
        FakeInvoker::ok(),
    );
    assert!(built.is_err());
}

// ------------------------------------------------------------------------------------------------
// Lambda (REQUEST) authorizer, payload format 2.0 with simple responses
// ------------------------------------------------------------------------------------------------

const LAMBDA_AUTHORIZER: &str = "HospitalAuthorizer";
const AUTHORIZER_FUNCTION: &str = "HospitalAuthorizerFunction";

fn lambda_authorizer(ttl: u64) -> LambdaAuthorizer {
    LambdaAuthorizer {
        name: LAMBDA_AUTHORIZER.into(),
        function: AUTHORIZER_FUNCTION.into(),
        identity_headers: vec!["Authorization".into()],
        identity_query_strings: Vec::new(),
        ttl: Duration::from_secs(ttl),
        simple_responses: true,
        payload_version: "2.0".into(),
    }
}

/// The authorizer function's answer for a token, as a Rust authorizer would serialise it.
fn authorizer_answer(token: &str) -> Result<Value, InvokeError> {
    let simple = |allowed: bool, context: Value| {
        let mut answer = ApiGatewayV2CustomAuthorizerSimpleResponse::<Value>::default();
        answer.is_authorized = allowed;
        answer.context = context;
        Ok(serde_json::to_value(answer).expect("serialises"))
    };
    match token {
        "Bearer good" => simple(
            true,
            json!({"hospitalId": "h-1", "scopes": ["clinic/ingest"], "batchLimit": 500, "m2m": true}),
        ),
        "Bearer plain" => simple(true, Value::Null),
        "Bearer bad" => simple(false, json!({"reason": "unknown client"})),
        "Bearer crash" => Err(InvokeError::Crashed("exit 101".into())),
        "Bearer error" => Err(InvokeError::Function {
            error_type: "Unauthorized".into(),
            error_message: "Unauthorized".into(),
        }),
        "Bearer slow" => Err(InvokeError::Timeout(Duration::from_secs(5))),
        "Bearer policy" => Ok(json!({"principalId": "h-1", "policyDocument": {}})),
        _ => Ok(json!("nonsense")),
    }
}

/// Answers as the authorizer function for it, and as a 200 JSON route for any other function.
fn lambda_invoker() -> Arc<FakeInvoker> {
    FakeInvoker::replying(|function, event| {
        if function == AUTHORIZER_FUNCTION {
            let token = event["headers"]["authorization"]
                .as_str()
                .unwrap_or_default();
            authorizer_answer(token)
        } else {
            Ok(json!({"statusCode": 200, "body": "{\"ok\":true}"}))
        }
    })
}

fn lambda_gateway(invoker: &Arc<FakeInvoker>, ttl: u64) -> Router {
    let routes = vec![
        (
            "IngestFunction".to_string(),
            route("POST", "/v1/ingest/{batch}", Some(LAMBDA_AUTHORIZER), &[]),
        ),
        (
            "StatusFunction".to_string(),
            route("GET", "/v1/ingest/status", Some(LAMBDA_AUTHORIZER), &[]),
        ),
        (
            "OpenFunction".to_string(),
            route("GET", "/v1/open", None, &[]),
        ),
    ];
    let api = ApiSpec {
        authorizers: vec![offline_authorizer()],
        lambda_authorizers: vec![lambda_authorizer(ttl)],
        cors: Some(cors()),
    };
    let signer = Arc::new(LocalSigner::generate().expect("signer"));
    router(GatewayConfig::new(routes, api, signer), Arc::clone(invoker)).expect("gateway")
}

fn ingest(token: Option<&str>) -> Request<Body> {
    let mut builder = Request::builder()
        .method(Method::POST)
        .uri("/v1/ingest/b%201?dry=1&dry=2")
        .header("host", "localhost:4000")
        .header("content-type", "application/json")
        .header("cookie", "a=1; b=2");
    if let Some(token) = token {
        builder = builder.header("authorization", token);
    }
    builder
        .body(Body::from(r#"{"exams":[]}"#))
        .expect("request")
}

fn functions_called(invoker: &FakeInvoker) -> Vec<String> {
    invoker.calls().into_iter().map(|(f, _)| f).collect()
}

#[tokio::test]
async fn an_allowing_lambda_authorizer_passes_its_context_to_the_route() {
    let invoker = lambda_invoker();
    let app = lambda_gateway(&invoker, 0);
    let answer = send(&app, ingest(Some("Bearer good"))).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.json());
    assert_eq!(answer.json(), json!({"ok": true}));
    assert_eq!(
        functions_called(&invoker),
        [AUTHORIZER_FUNCTION, "IngestFunction"]
    );
    let calls = invoker.calls();
    let (auth, route) = (&calls[0].1, &calls[1].1);

    // The authorizer's event: payload format 2.0, REQUEST, without body or authorizer.
    assert_eq!(auth["version"], "2.0");
    assert_eq!(auth["type"], "REQUEST");
    assert_eq!(
        auth["routeArn"],
        "arn:aws:execute-api:us-east-1:123456789012:local/$default/POST/v1/ingest/b 1"
    );
    assert_eq!(auth["identitySource"], json!(["Bearer good"]));
    assert_eq!(auth["routeKey"], "POST /v1/ingest/{batch}");
    assert_eq!(auth["rawPath"], "/v1/ingest/b 1");
    assert_eq!(auth["rawQueryString"], "dry=1&dry=2");
    assert_eq!(auth["queryStringParameters"], json!({"dry": "1,2"}));
    assert_eq!(auth["pathParameters"], json!({"batch": "b 1"}));
    assert_eq!(auth["cookies"], json!(["a=1", "b=2"]));
    assert_eq!(auth["headers"]["authorization"], "Bearer good");
    assert_eq!(auth["headers"]["content-type"], "application/json");
    assert!(auth.get("body").is_none());
    assert!(auth.get("isBase64Encoded").is_none());
    let auth_ctx = &auth["requestContext"];
    assert!(auth_ctx.get("authorizer").is_none());
    assert_eq!(auth_ctx["routeKey"], "POST /v1/ingest/{batch}");
    assert_eq!(auth_ctx["http"]["method"], "POST");
    assert_eq!(auth_ctx["stage"], "$default");
    // The same request: one request id and one trace id in both events.
    assert_eq!(auth_ctx["requestId"], route["requestContext"]["requestId"]);
    assert_eq!(auth_ctx["timeEpoch"], route["requestContext"]["timeEpoch"]);
    assert_eq!(
        auth["headers"]["x-amzn-trace-id"],
        route["headers"]["x-amzn-trace-id"]
    );
    // It is what a Rust authorizer function deserialises.
    let parsed: ApiGatewayV2CustomAuthorizerV2Request =
        serde_json::from_value(auth.clone()).expect("an authorizer request");
    assert_eq!(parsed.type_.as_deref(), Some("REQUEST"));
    assert_eq!(
        parsed.identity_source,
        Some(vec!["Bearer good".to_string()])
    );
    assert_eq!(parsed.path_parameters["batch"], "b 1");

    // The route's event: the context as the authorizer returned it, nothing else.
    assert_eq!(
        route["requestContext"]["authorizer"],
        json!({"lambda": {"hospitalId": "h-1", "scopes": ["clinic/ingest"], "batchLimit": 500, "m2m": true}})
    );
    assert_eq!(route["body"], r#"{"exams":[]}"#);
    let request =
        lambda_http::request::from_str(&route.to_string()).expect("a lambda_http request");
    let Some(RequestContext::ApiGatewayV2(context)) = request.extensions().get::<RequestContext>()
    else {
        panic!("an HTTP API request context");
    };
    let authorizer = context.authorizer.as_ref().expect("authorizer");
    assert_eq!(authorizer.fields["hospitalId"], "h-1");
    assert!(authorizer.jwt.is_none());

    // No context: an empty one.
    let answer = send(&app, ingest(Some("Bearer plain"))).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        invoker.last_event()["requestContext"]["authorizer"],
        json!({"lambda": {}})
    );
}

#[tokio::test]
async fn a_denying_lambda_authorizer_is_a_403_and_the_route_is_not_invoked() {
    let invoker = lambda_invoker();
    let app = lambda_gateway(&invoker, 0);
    let answer = send(&app, ingest(Some("Bearer bad"))).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(answer.json(), json!({"message": "Forbidden"}));
    assert!(answer.header("apigw-requestid").is_some());
    assert_eq!(functions_called(&invoker), [AUTHORIZER_FUNCTION]);
}

#[tokio::test]
async fn a_missing_identity_source_is_a_401_without_invoking_anything() {
    let invoker = lambda_invoker();
    let app = lambda_gateway(&invoker, 300);
    let answer = send(&app, ingest(None)).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.json(), json!({"message": "Unauthorized"}));
    let answer = send(&app, ingest(Some(""))).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(invoker.calls().is_empty());

    // Routes without an authorizer are not affected; CORS still applies to refusals.
    assert_eq!(
        send(&app, empty(get("/v1/open"))).await.status,
        StatusCode::OK
    );
    let refused = send(
        &app,
        empty(get("/v1/ingest/status").header("origin", PORTAL)),
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(refused.header("access-control-allow-origin"), Some(PORTAL));
    assert_eq!(functions_called(&invoker), ["OpenFunction"]);
}

#[tokio::test]
async fn a_failing_lambda_authorizer_is_a_500() {
    let invoker = lambda_invoker();
    let app = lambda_gateway(&invoker, 300);
    for token in [
        "Bearer crash",
        "Bearer error",
        "Bearer slow",
        "Bearer policy",
        "Bearer nonsense",
    ] {
        let answer = send(&app, ingest(Some(token))).await;
        assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR, "{token}");
        assert_eq!(answer.json(), json!({"message": "Internal Server Error"}));
    }
    // Failures are not cached: a retry asks the authorizer again.
    let answer = send(&app, ingest(Some("Bearer crash"))).await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(functions_called(&invoker), [AUTHORIZER_FUNCTION; 6]);
}

#[tokio::test]
async fn lambda_authorizer_results_are_cached_per_identity_for_the_ttl() {
    let invoker = lambda_invoker();
    let app = lambda_gateway(&invoker, 300);
    for _ in 0..3 {
        let answer = send(&app, ingest(Some("Bearer good"))).await;
        assert_eq!(answer.status, StatusCode::OK);
    }
    // The cache is the authorizer's, not the route's.
    let status = empty(get("/v1/ingest/status").header("authorization", "Bearer good"));
    assert_eq!(send(&app, status).await.status, StatusCode::OK);
    assert_eq!(
        functions_called(&invoker),
        [
            AUTHORIZER_FUNCTION,
            "IngestFunction",
            "IngestFunction",
            "IngestFunction",
            "StatusFunction"
        ]
    );
    // Cached calls still carry the context.
    assert_eq!(
        invoker.last_event()["requestContext"]["authorizer"]["lambda"]["hospitalId"],
        "h-1"
    );

    // Other identity values are authorized on their own; denials are cached too.
    for _ in 0..2 {
        let answer = send(&app, ingest(Some("Bearer bad"))).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN);
    }
    let authorizer_calls = functions_called(&invoker)
        .iter()
        .filter(|f| *f == AUTHORIZER_FUNCTION)
        .count();
    assert_eq!(authorizer_calls, 2);

    // Without a TTL, every request is authorized anew.
    let uncached = lambda_invoker();
    let app = lambda_gateway(&uncached, 0);
    for _ in 0..2 {
        assert_eq!(
            send(&app, ingest(Some("Bearer good"))).await.status,
            StatusCode::OK
        );
    }
    assert_eq!(
        functions_called(&uncached),
        [
            AUTHORIZER_FUNCTION,
            "IngestFunction",
            AUTHORIZER_FUNCTION,
            "IngestFunction"
        ]
    );
}

#[tokio::test]
async fn lambda_authorizers_other_than_simple_2_0_ones_are_refused() {
    let signer = Arc::new(LocalSigner::generate().expect("signer"));
    let routes = vec![(
        "F".to_string(),
        route("GET", "/x", Some(LAMBDA_AUTHORIZER), &[]),
    )];
    let mut policy = lambda_authorizer(0);
    policy.simple_responses = false;
    let mut v1 = lambda_authorizer(0);
    v1.payload_version = "1.0".into();
    for unsupported in [policy, v1] {
        let api = ApiSpec {
            lambda_authorizers: vec![unsupported],
            ..ApiSpec::default()
        };
        let built = Gateway::new(
            GatewayConfig::new(routes.clone(), api, Arc::clone(&signer)),
            FakeInvoker::ok(),
        );
        assert!(matches!(
            built,
            Err(GatewayError::UnsupportedAuthorizer { .. })
        ));
    }
    let mut clash = lambda_authorizer(0);
    clash.name = AUTHORIZER.into();
    let api = ApiSpec {
        authorizers: vec![offline_authorizer()],
        lambda_authorizers: vec![clash],
        cors: None,
    };
    let built = Gateway::new(GatewayConfig::new(routes, api, signer), FakeInvoker::ok());
    assert!(matches!(built, Err(GatewayError::DuplicateAuthorizer(_))));
}

// ------------------------------------------------------------------------------------------------
// JWT authorizer with locally signed tokens
// ------------------------------------------------------------------------------------------------

#[tokio::test]
async fn locally_signed_tokens_are_checked_for_lifetime_issuer_and_audience() {
    let invoker = FakeInvoker::ok();
    let signer = Arc::new(LocalSigner::generate().expect("signer"));
    let authorizer = offline_authorizer();
    let api = ApiSpec {
        authorizers: vec![authorizer.clone()],
        lambda_authorizers: Vec::new(),
        cors: None,
    };
    let app = router(
        GatewayConfig::new(routes(), api, Arc::clone(&signer)),
        Arc::clone(&invoker),
    )
    .expect("gateway");
    let token = |claims: Value| signer.sign(&claims).expect("token");
    let call =
        |token: String| empty(get("/v1/me").header("authorization", format!("Bearer {token}")));

    let valid = token(json!({
        "iss": authorizer.issuer, "client_id": "web-client", "token_use": "access",
        "exp": now() + 60, "iat": now(), "scope": "a b", "cognito:groups": ["staff"]
    }));
    assert_eq!(send(&app, call(valid)).await.status, StatusCode::OK);
    let jwt = &invoker.last_event()["requestContext"]["authorizer"]["jwt"];
    assert_eq!(jwt["claims"]["cognito:groups"], "[staff]");
    assert_eq!(jwt["scopes"], json!(["a", "b"]));

    let cases = [
        (
            json!({"iss": authorizer.issuer, "client_id": "web-client", "exp": now() - 1}),
            "expired",
        ),
        (
            json!({"iss": authorizer.issuer, "client_id": "web-client", "exp": now() + 60, "nbf": now() + 30}),
            "not valid yet",
        ),
        (
            json!({"iss": "https://elsewhere", "client_id": "web-client", "exp": now() + 60}),
            "issuer",
        ),
        (
            json!({"iss": authorizer.issuer, "client_id": "other", "exp": now() + 60}),
            "audience",
        ),
        (
            json!({"iss": authorizer.issuer, "client_id": "web-client"}),
            "malformed",
        ),
    ];
    for (claims, reason) in cases {
        let answer = send(&app, call(token(claims))).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{reason}");
        assert_eq!(answer.json(), json!({"message": "Unauthorized"}));
        let challenge = answer.header("www-authenticate").unwrap_or_default();
        assert!(
            challenge.contains("invalid_token") && challenge.contains(reason),
            "{challenge}"
        );
    }

    // Another run's key is not trusted.
    let stranger = LocalSigner::generate().expect("signer");
    let forged = stranger
        .sign(&json!({"iss": authorizer.issuer, "client_id": "web-client", "exp": now() + 60}))
        .expect("token");
    assert_eq!(
        send(&app, call(forged)).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(invoker.calls().len(), 1);
}

// ------------------------------------------------------------------------------------------------
// Against the emulator's Cognito
// ------------------------------------------------------------------------------------------------

type Cognito = aws_sdk_cognitoidentityprovider::Client;

/// A fresh user pool: (client, pool id, issuer, JWKS URL).
async fn user_pool() -> (Cognito, String, String, String) {
    let cognito = Cognito::new(&emulator_config().await);
    let pool = cognito
        .create_user_pool()
        .pool_name(unique("gateway"))
        .send()
        .await
        .expect("create a user pool in the emulator (is it running? scripts/emulator start)")
        .user_pool
        .and_then(|p| p.id)
        .expect("pool id");
    let issuer = format!("https://cognito-idp.us-east-1.amazonaws.com/{pool}");
    let jwks = format!("{}/{pool}/.well-known/jwks.json", emulator_url());
    (cognito, pool, issuer, jwks)
}

async fn web_client(cognito: &Cognito, pool: &str) -> String {
    cognito
        .create_user_pool_client()
        .user_pool_id(pool)
        .client_name("web")
        .explicit_auth_flows(ExplicitAuthFlowsType::AllowUserPasswordAuth)
        .explicit_auth_flows(ExplicitAuthFlowsType::AllowRefreshTokenAuth)
        .send()
        .await
        .expect("web client")
        .user_pool_client
        .and_then(|c| c.client_id)
        .expect("client id")
}

fn cognito_gateway(
    invoker: &Arc<FakeInvoker>,
    authorizer: JwtAuthorizer,
    extra: Vec<(String, HttpRoute)>,
    signer: &Arc<LocalSigner>,
    token_endpoint: Option<TokenEndpoint>,
) -> Router {
    let mut all = routes();
    all.push((
        "SignUpFunction".into(),
        route("POST", "/v1/accounts/patients", None, &[]),
    ));
    all.extend(extra);
    let api = ApiSpec {
        authorizers: vec![authorizer],
        lambda_authorizers: Vec::new(),
        cors: Some(cors()),
    };
    let mut config = GatewayConfig::new(all, api, Arc::clone(signer));
    if let Some(endpoint) = token_endpoint {
        config = config.with_token_endpoint(endpoint);
    }
    router(config, Arc::clone(invoker)).expect("gateway")
}

#[tokio::test]
async fn user_pool_tokens_pass_the_authorizer_with_string_claims() {
    let (cognito, pool, issuer, jwks_url) = user_pool().await;
    let client_id = web_client(&cognito, &pool).await;
    cognito
        .create_group()
        .user_pool_id(&pool)
        .group_name("patients")
        .send()
        .await
        .expect("group");
    let email = format!("{}@example.com", unique("patient"));
    let password = "Passw0rd-local";
    cognito
        .sign_up()
        .client_id(&client_id)
        .username(&email)
        .password(password)
        .send()
        .await
        .expect("sign up");
    cognito
        .confirm_sign_up()
        .client_id(&client_id)
        .username(&email)
        .confirmation_code("123456")
        .send()
        .await
        .expect("confirm");
    cognito
        .admin_add_user_to_group()
        .user_pool_id(&pool)
        .username(&email)
        .group_name("patients")
        .send()
        .await
        .expect("add to group");
    let tokens = cognito
        .initiate_auth()
        .client_id(&client_id)
        .auth_flow(AuthFlowType::UserPasswordAuth)
        .auth_parameters("USERNAME", &email)
        .auth_parameters("PASSWORD", password)
        .send()
        .await
        .expect("sign in")
        .authentication_result
        .expect("tokens");
    let access = tokens.access_token.expect("access token");
    let id_token = tokens.id_token.expect("id token");

    let authorizer = JwtAuthorizer {
        name: AUTHORIZER.into(),
        issuer: issuer.clone(),
        audience: vec![client_id.clone()],
        jwks_url: jwks_url.clone(),
    };
    let signer = Arc::new(LocalSigner::generate().expect("signer"));
    let invoker = FakeInvoker::ok();
    let app = cognito_gateway(&invoker, authorizer.clone(), Vec::new(), &signer, None);
    let me = |authorization: Option<String>| {
        let mut builder = get("/v1/me");
        if let Some(value) = authorization {
            builder = builder.header("authorization", value);
        }
        empty(builder)
    };

    // The access token: claims as strings, groups flattened, scopes from `scope`.
    let answer = send(&app, me(Some(format!("Bearer {access}")))).await;
    assert_eq!(answer.status, StatusCode::OK);
    let event = invoker.last_event();
    assert_eq!(event["routeKey"], "GET /v1/me");
    let jwt = &event["requestContext"]["authorizer"]["jwt"];
    let claims = jwt["claims"].as_object().expect("claims");
    assert!(
        claims.values().all(Value::is_string),
        "every claim is a string: {claims:?}"
    );
    assert_eq!(claims["cognito:groups"], "[patients]");
    assert_eq!(claims["client_id"], client_id.as_str());
    assert_eq!(claims["token_use"], "access");
    assert_eq!(claims["iss"], issuer.as_str());
    assert!(
        claims["exp"]
            .as_str()
            .is_some_and(|e| e.parse::<i64>().is_ok())
    );
    assert_eq!(jwt["scopes"], json!(["aws.cognito.signin.user.admin"]));
    let caller = caller_of(&event, "clinic/ingest");
    assert_eq!(caller.role, Role::Patient);
    assert_eq!(
        Some(&caller.id),
        claims["sub"].as_str().map(str::to_string).as_ref()
    );

    // Without the `Bearer` prefix, as API Gateway also accepts.
    assert_eq!(
        send(&app, me(Some(access.clone()))).await.status,
        StatusCode::OK
    );

    // The id token: `aud` is the client; no scope claim, so `scopes` is null.
    let answer = send(&app, me(Some(format!("Bearer {id_token}")))).await;
    assert_eq!(answer.status, StatusCode::OK);
    let jwt = &invoker.last_event()["requestContext"]["authorizer"]["jwt"];
    assert_eq!(jwt["claims"]["aud"], client_id.as_str());
    assert_eq!(jwt["claims"]["token_use"], "id");
    assert!(jwt["scopes"].is_null());
    let calls_so_far = invoker.calls().len();

    // No token, garbage, a tampered signature, an expired token.
    let expired = signer
        .sign(&json!({
            "iss": issuer, "client_id": client_id, "token_use": "access",
            "exp": now() - 60, "iat": now() - 3660
        }))
        .expect("token");
    let mut tampered = access.clone();
    let last = tampered
        .pop()
        .map_or('A', |c| if c == 'A' { 'B' } else { 'A' });
    tampered.push(last);
    let refused = [
        None,
        Some("Bearer ".to_string()),
        Some("Bearer not-a-jwt".to_string()),
        Some("Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln".to_string()),
        Some(format!("Bearer {tampered}")),
        Some(format!("Bearer {expired}")),
    ];
    for authorization in refused {
        let answer = send(&app, me(authorization.clone())).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{authorization:?}");
        assert_eq!(answer.json(), json!({"message": "Unauthorized"}));
        assert!(
            answer
                .header("www-authenticate")
                .is_some_and(|c| c.starts_with("Bearer"))
        );
    }

    // The same real token against an authorizer expecting another issuer or audience.
    for wrong in [
        JwtAuthorizer {
            issuer: format!("{issuer}-other"),
            ..authorizer.clone()
        },
        JwtAuthorizer {
            audience: vec!["someone-else".into()],
            ..authorizer.clone()
        },
    ] {
        let app = cognito_gateway(&invoker, wrong, Vec::new(), &signer, None);
        let answer = send(&app, me(Some(format!("Bearer {access}")))).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        invoker.calls().len(),
        calls_so_far,
        "refused requests invoke nothing"
    );

    // A public route needs no token.
    let sign_up = Request::builder()
        .method(Method::POST)
        .uri("/v1/accounts/patients")
        .header("content-type", "application/json")
        .body(Body::from("{}"))
        .expect("request");
    assert_eq!(send(&app, sign_up).await.status, StatusCode::OK);
    let event = invoker.last_event();
    assert!(event["requestContext"].get("authorizer").is_none());
}

#[tokio::test]
async fn client_credentials_tokens_from_the_token_endpoint_pass_the_authorizer() {
    let (cognito, pool, issuer, jwks_url) = user_pool().await;
    let web = web_client(&cognito, &pool).await;
    let server = unique("clinic");
    cognito
        .create_resource_server()
        .user_pool_id(&pool)
        .identifier(&server)
        .name("Clinic API")
        .scopes(
            ResourceServerScopeType::builder()
                .scope_name("ingest")
                .scope_description("Push exams")
                .build()
                .expect("scope"),
        )
        .send()
        .await
        .expect("resource server");
    let scope = format!("{server}/ingest");
    let hospital = cognito
        .create_user_pool_client()
        .user_pool_id(&pool)
        .client_name("hospital")
        .generate_secret(true)
        .allowed_o_auth_flows(OAuthFlowType::ClientCredentials)
        .allowed_o_auth_scopes(&scope)
        .allowed_o_auth_flows_user_pool_client(true)
        .send()
        .await
        .expect("hospital client")
        .user_pool_client
        .expect("client");
    let hospital_id = hospital.client_id.expect("client id");
    let secret = hospital.client_secret.expect("client secret");
    let no_flow = cognito
        .create_user_pool_client()
        .user_pool_id(&pool)
        .client_name("no-flow")
        .generate_secret(true)
        .send()
        .await
        .expect("client without flows")
        .user_pool_client
        .expect("client");

    let identity = IdentitySpec {
        user_pool_id: pool.clone(),
        web_client_ids: vec![web.clone()],
        issuer: issuer.clone(),
        resource_scopes: vec![scope.clone()],
    };
    let endpoint = TokenEndpoint::new(identity, cognito.clone());
    let authorizer = JwtAuthorizer {
        name: AUTHORIZER.into(),
        issuer: issuer.clone(),
        audience: vec![web.clone(), hospital_id.clone()],
        jwks_url,
    };
    let signer = Arc::new(LocalSigner::generate().expect("signer"));
    let invoker = FakeInvoker::ok();
    let extra = vec![
        (
            "IngestFunction".to_string(),
            route("POST", "/v1/ingest", Some(AUTHORIZER), &[scope.as_str()]),
        ),
        (
            "AdminFunction".to_string(),
            route("POST", "/v1/admin", Some(AUTHORIZER), &["clinic/admin"]),
        ),
    ];
    let app = cognito_gateway(
        &invoker,
        authorizer.clone(),
        extra.clone(),
        &signer,
        Some(endpoint.clone()),
    );

    let token_request = |basic: Option<(&str, &str)>, form: &str| {
        let mut builder = Request::builder()
            .method(Method::POST)
            .uri("/oauth2/token")
            .header("content-type", "application/x-www-form-urlencoded");
        if let Some((id, secret)) = basic {
            builder = builder.header(
                "authorization",
                format!("Basic {}", BASE64.encode(format!("{id}:{secret}"))),
            );
        }
        builder.body(Body::from(form.to_string())).expect("request")
    };

    // HTTP Basic, default scopes.
    let answer = send(
        &app,
        token_request(
            Some((&hospital_id, &secret)),
            "grant_type=client_credentials",
        ),
    )
    .await;
    assert_eq!(
        answer.status,
        StatusCode::OK,
        "{:?}",
        String::from_utf8_lossy(&answer.body)
    );
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    let granted = answer.json();
    assert_eq!(granted["token_type"], "Bearer");
    assert_eq!(granted["expires_in"], 3600);
    let access = granted["access_token"].as_str().expect("token").to_string();

    let ingest = |token: &str, path: &str| {
        Request::builder()
            .method(Method::POST)
            .uri(path)
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .body(Body::from("[]"))
            .expect("request")
    };
    let answer = send(&app, ingest(&access, "/v1/ingest")).await;
    assert_eq!(answer.status, StatusCode::OK);
    let jwt = &invoker.last_event()["requestContext"]["authorizer"]["jwt"];
    assert_eq!(jwt["claims"]["client_id"], hospital_id.as_str());
    assert_eq!(jwt["claims"]["sub"], hospital_id.as_str());
    assert_eq!(jwt["claims"]["token_use"], "access");
    assert_eq!(jwt["claims"]["scope"], scope.as_str());
    assert_eq!(jwt["claims"]["version"], "2");
    assert_eq!(jwt["claims"]["iss"], issuer.as_str());
    assert_eq!(jwt["scopes"], json!([scope]));
    let caller = caller_of(&invoker.last_event(), &scope);
    assert_eq!(caller.role, Role::Hospital);
    assert_eq!(caller.id, hospital_id);

    // A route requiring a scope the token lacks: 403.
    let answer = send(&app, ingest(&access, "/v1/admin")).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(answer.json(), json!({"message": "Forbidden"}));
    assert!(
        answer
            .header("www-authenticate")
            .is_some_and(|c| c.contains("insufficient_scope"))
    );

    // An authorizer whose audience does not list the hospital client: 401.
    let web_only = JwtAuthorizer {
        audience: vec![web.clone()],
        ..authorizer
    };
    let strict = cognito_gateway(&invoker, web_only, extra, &signer, Some(endpoint));
    assert_eq!(
        send(&strict, ingest(&access, "/v1/ingest")).await.status,
        StatusCode::UNAUTHORIZED
    );

    // Credentials in the form, with an explicit scope.
    let form = format!(
        "grant_type=client_credentials&client_id={hospital_id}&client_secret={secret}&scope={}",
        scope.replace('/', "%2F")
    );
    assert_eq!(
        send(&app, token_request(None, &form)).await.status,
        StatusCode::OK
    );

    // Refusals, shaped like Cognito's.
    let refusals = [
        (
            token_request(
                Some((&hospital_id, "wrong-secret")),
                "grant_type=client_credentials",
            ),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            token_request(
                Some(("no-such-client", &secret)),
                "grant_type=client_credentials",
            ),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            token_request(Some((&web, "")), "grant_type=client_credentials"),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            token_request(Some((&hospital_id, &secret)), "grant_type=password"),
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        ),
        (
            token_request(
                Some((&hospital_id, &secret)),
                "grant_type=client_credentials&scope=clinic%2Fadmin",
            ),
            StatusCode::BAD_REQUEST,
            "invalid_scope",
        ),
        (
            token_request(Some((&hospital_id, &secret)), "scope=x"),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
    ];
    for (request, status, error) in refusals {
        let answer = send(&app, request).await;
        assert_eq!(
            (answer.status, answer.json()["error"].clone()),
            (status, json!(error))
        );
    }
    let no_flow_id = no_flow.client_id.expect("id");
    let no_flow_secret = no_flow.client_secret.expect("secret");
    let answer = send(
        &app,
        token_request(
            Some((&no_flow_id, &no_flow_secret)),
            "grant_type=client_credentials",
        ),
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.json()["error"], "unauthorized_client");

    let json_body = Request::builder()
        .method(Method::POST)
        .uri("/oauth2/token")
        .header("content-type", "application/json")
        .body(Body::from("{}"))
        .expect("request");
    assert_eq!(
        send(&app, json_body).await.json()["error"],
        "invalid_request"
    );
}
