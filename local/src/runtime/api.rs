//! The Lambda Runtime API (version 2018-06-01) of one execution environment, served on its own
//! `127.0.0.1` port:
//!
//! - `GET /2018-06-01/runtime/invocation/next` — a long poll: answers when an event is delivered,
//!   with the event as body and the `Lambda-Runtime-*` headers `lambda_runtime` builds its
//!   `Context` from (request id and deadline are mandatory for it). The first call marks the end
//!   of initialisation.
//! - `POST /2018-06-01/runtime/invocation/{id}/response` and `.../{id}/error` — the answer to the
//!   event with that request id (`202`); an unknown id gets `400`, a response over Lambda's
//!   6 MB limit `413` (and the invocation fails with `Function.ResponseSizeTooLarge`).
//! - `POST /2018-06-01/runtime/init/error` — initialisation failed (`202`; `403` once
//!   initialised).
//!
//! Error bodies are `{errorMessage, errorType, stackTrace?}`; `Lambda-Runtime-Function-Error-Type`
//! names the type when the body does not.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// Lambda's limit on a synchronous invocation's response.
pub(crate) const MAX_RESPONSE_BYTES: usize = 6_291_556;
/// Bodies up to this size are read, so that an oversized response is answered properly.
const MAX_BODY_BYTES: usize = 4 * MAX_RESPONSE_BYTES;
/// Longest error message kept from a body that is not the JSON error document.
const MAX_RAW_MESSAGE: usize = 4096;

pub(crate) const REQUEST_ID: &str = "lambda-runtime-aws-request-id";
pub(crate) const DEADLINE_MS: &str = "lambda-runtime-deadline-ms";
pub(crate) const FUNCTION_ARN: &str = "lambda-runtime-invoked-function-arn";
pub(crate) const TRACE_ID: &str = "lambda-runtime-trace-id";
pub(crate) const ERROR_TYPE: &str = "lambda-runtime-function-error-type";

/// One invocation, handed to the instance by its next `/next`.
#[derive(Debug)]
pub(crate) struct Event {
    pub(crate) request_id: String,
    pub(crate) payload: Bytes,
    pub(crate) deadline_ms: u64,
    pub(crate) function_arn: String,
    pub(crate) trace_id: String,
    /// Where the answer goes.
    pub(crate) reply: oneshot::Sender<Reply>,
}

/// The instance's answer to an [`Event`].
#[derive(Debug)]
pub(crate) enum Reply {
    /// `/response` with this body.
    Response(Bytes),
    /// `/error`, or a response too large to accept.
    Error(FunctionFailure),
    /// The instance asked for the next event without answering this one.
    Abandoned,
}

/// An error a function reported (`/error`, `/init/error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FunctionFailure {
    pub(crate) error_type: String,
    pub(crate) error_message: String,
    pub(crate) stack_trace: Vec<String>,
}

/// The JSON error document of the Runtime API.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ErrorDocument {
    error_message: Option<String>,
    error_type: Option<String>,
    stack_trace: Option<serde_json::Value>,
}

impl FunctionFailure {
    /// Reads an error report: the JSON document when the body is one, else the raw body as the
    /// message; the type from the document, else the error-type header, else `Unhandled`.
    fn from_report(headers: &HeaderMap, body: &[u8]) -> Self {
        let document = serde_json::from_slice::<ErrorDocument>(body).ok();
        let header_type = headers
            .get(ERROR_TYPE)
            .and_then(|value| value.to_str().ok())
            .filter(|value| !value.is_empty())
            .map(str::to_owned);
        let (document_type, document_message, stack) = match document {
            Some(document) => (
                document.error_type,
                document.error_message,
                document.stack_trace,
            ),
            None => (None, None, None),
        };
        let error_type = document_type
            .filter(|value| !value.is_empty())
            .or(header_type)
            .unwrap_or_else(|| "Unhandled".to_owned());
        let error_message = document_message.unwrap_or_else(|| raw_message(body));
        let stack_trace = match stack {
            Some(serde_json::Value::Array(frames)) => frames
                .into_iter()
                .map(|frame| match frame {
                    serde_json::Value::String(text) => text,
                    other => other.to_string(),
                })
                .collect(),
            Some(serde_json::Value::String(text)) => vec![text],
            _ => Vec::new(),
        };
        Self {
            error_type,
            error_message,
            stack_trace,
        }
    }
}

fn raw_message(body: &[u8]) -> String {
    let mut text = String::from_utf8_lossy(body).into_owned();
    if text.len() > MAX_RAW_MESSAGE {
        let mut end = MAX_RAW_MESSAGE;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

/// Where an instance is in its initialisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum InitState {
    /// Spawned, not yet asking for events.
    Starting,
    /// Asked for its first event at this instant.
    Ready(Instant),
    /// Reported an initialisation error.
    Failed(FunctionFailure),
}

/// The running endpoint of one instance. Dropping it stops accepting connections and ends any
/// pending `/next`.
pub(crate) struct RuntimeApi {
    addr: SocketAddr,
    mailbox: mpsc::Sender<Event>,
    init: watch::Receiver<InitState>,
    server: JoinHandle<()>,
}

impl RuntimeApi {
    /// Serves a new endpoint on a free `127.0.0.1` port.
    pub(crate) async fn bind(function: &str) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let (state, mailbox, init) = ApiState::new(function);
        let app = router(state);
        let function = function.to_owned();
        let server = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::warn!(%function, %error, "runtime API endpoint stopped");
            }
        });
        Ok(Self {
            addr,
            mailbox,
            init,
            server,
        })
    }

    /// `host:port` of the endpoint, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Watches the instance's initialisation.
    pub(crate) fn init_state(&self) -> watch::Receiver<InitState> {
        self.init.clone()
    }

    /// Queues `event` for the instance's next `/next`; gives it back when one is already queued
    /// or the endpoint has stopped.
    pub(crate) fn deliver(&self, event: Event) -> Result<(), Event> {
        self.mailbox.try_send(event).map_err(|error| match error {
            mpsc::error::TrySendError::Full(event) | mpsc::error::TrySendError::Closed(event) => {
                event
            }
        })
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The invocation an instance is working on.
struct InFlight {
    request_id: String,
    reply: oneshot::Sender<Reply>,
}

struct ApiState {
    function: String,
    inbox: tokio::sync::Mutex<mpsc::Receiver<Event>>,
    current: Mutex<Option<InFlight>>,
    init: watch::Sender<InitState>,
}

impl ApiState {
    fn new(function: &str) -> (Arc<Self>, mpsc::Sender<Event>, watch::Receiver<InitState>) {
        let (mailbox, inbox) = mpsc::channel(1);
        let (init, init_state) = watch::channel(InitState::Starting);
        let state = Arc::new(Self {
            function: function.to_owned(),
            inbox: tokio::sync::Mutex::new(inbox),
            current: Mutex::new(None),
            init,
        });
        (state, mailbox, init_state)
    }

    /// Takes the in-flight invocation if it has this request id.
    fn take(&self, request_id: &str) -> Option<InFlight> {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if current
            .as_ref()
            .is_some_and(|in_flight| in_flight.request_id == request_id)
        {
            current.take()
        } else {
            None
        }
    }
}

fn router(state: Arc<ApiState>) -> Router {
    Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{request_id}/response",
            post(response),
        )
        .route(
            "/2018-06-01/runtime/invocation/{request_id}/error",
            post(invocation_error),
        )
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn next(State(state): State<Arc<ApiState>>) -> Response {
    state.init.send_if_modified(|init| {
        let starting = matches!(init, InitState::Starting);
        if starting {
            *init = InitState::Ready(Instant::now());
        }
        starting
    });
    let event = state.inbox.lock().await.recv().await;
    let Some(Event {
        request_id,
        payload,
        deadline_ms,
        function_arn,
        trace_id,
        reply,
    }) = event
    else {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Runtime.Stopped",
            "the execution environment is being stopped",
        );
    };
    let previous = state
        .current
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .replace(InFlight {
            request_id: request_id.clone(),
            reply,
        });
    if let Some(previous) = previous {
        tracing::warn!(
            function = %state.function,
            request_id = %previous.request_id,
            "the function asked for the next event without answering this one"
        );
        let _ = previous.reply.send(Reply::Abandoned);
    }
    let mut response = (StatusCode::OK, payload).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let deadline = deadline_ms.to_string();
    for (name, value) in [
        (REQUEST_ID, request_id.as_str()),
        (DEADLINE_MS, deadline.as_str()),
        (FUNCTION_ARN, function_arn.as_str()),
        (TRACE_ID, trace_id.as_str()),
    ] {
        match HeaderValue::from_str(value) {
            Ok(value) => {
                headers.insert(name, value);
            }
            Err(_) => {
                let function = &state.function;
                tracing::warn!(%function, header = name, %value, "not a valid header value");
            }
        }
    }
    response
}

async fn response(
    State(state): State<Arc<ApiState>>,
    Path(request_id): Path<String>,
    body: Bytes,
) -> Response {
    let Some(in_flight) = state.take(&request_id) else {
        return unknown_request(&request_id);
    };
    if body.len() > MAX_RESPONSE_BYTES {
        let message = format!(
            "Response payload size ({} bytes) exceeded maximum allowed payload size \
             ({MAX_RESPONSE_BYTES} bytes).",
            body.len()
        );
        let _ = in_flight.reply.send(Reply::Error(FunctionFailure {
            error_type: "Function.ResponseSizeTooLarge".to_owned(),
            error_message: message.clone(),
            stack_trace: Vec::new(),
        }));
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLarge",
            &message,
        );
    }
    // The invoker may have given up (shutdown); the answer is accepted all the same.
    let _ = in_flight.reply.send(Reply::Response(body));
    accepted()
}

async fn invocation_error(
    State(state): State<Arc<ApiState>>,
    Path(request_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(in_flight) = state.take(&request_id) else {
        return unknown_request(&request_id);
    };
    let _ = in_flight
        .reply
        .send(Reply::Error(FunctionFailure::from_report(&headers, &body)));
    accepted()
}

async fn init_error(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let failure = FunctionFailure::from_report(&headers, &body);
    let recorded = state.init.send_if_modified(|init| {
        let starting = matches!(init, InitState::Starting);
        if starting {
            *init = InitState::Failed(failure);
        }
        starting
    });
    if recorded {
        accepted()
    } else {
        error(
            StatusCode::FORBIDDEN,
            "InvalidStateTransition",
            "init/error is accepted only before the first /next",
        )
    }
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "NotFound", "not a Runtime API path")
}

fn accepted() -> Response {
    (StatusCode::ACCEPTED, axum::Json(json!({ "status": "OK" }))).into_response()
}

fn unknown_request(request_id: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "InvalidRequestID",
        &format!("no invocation {request_id} is waiting for an answer here"),
    )
}

fn error(status: StatusCode, error_type: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({ "errorMessage": message, "errorType": error_type })),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;

    async fn call(
        app: &Router,
        method: &str,
        uri: &str,
        body: &str,
    ) -> (StatusCode, HeaderMap, String) {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header(ERROR_TYPE, "HeaderType")
            .body(Body::from(body.to_owned()))
            .expect("request");
        let response = app.clone().oneshot(request).await.expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        (
            status,
            headers,
            String::from_utf8_lossy(&bytes).into_owned(),
        )
    }

    fn sample_event(request_id: &str) -> (Event, oneshot::Receiver<Reply>) {
        let (reply, answer) = oneshot::channel();
        let event = Event {
            request_id: request_id.to_owned(),
            payload: Bytes::from_static(br#"{"action":"echo"}"#),
            deadline_ms: 1_542_409_706_888,
            function_arn: "arn:aws:lambda:us-east-1:123456789012:function:F".to_owned(),
            trace_id: "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1"
                .to_owned(),
            reply,
        };
        (event, answer)
    }

    #[tokio::test]
    async fn next_hands_out_the_event_with_its_headers_and_marks_ready() {
        let (state, mailbox, init) = ApiState::new("F");
        let app = router(state);
        let (event, _answer) = sample_event("req-1");
        mailbox.try_send(event).expect("queued");
        let (status, headers, body) =
            call(&app, "GET", "/2018-06-01/runtime/invocation/next", "").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, r#"{"action":"echo"}"#);
        assert_eq!(headers[REQUEST_ID], "req-1");
        assert_eq!(headers[DEADLINE_MS], "1542409706888");
        assert_eq!(
            headers[FUNCTION_ARN],
            "arn:aws:lambda:us-east-1:123456789012:function:F"
        );
        assert!(
            headers[TRACE_ID]
                .to_str()
                .expect("ascii")
                .starts_with("Root=1-")
        );
        assert!(matches!(*init.borrow(), InitState::Ready(_)));
    }

    #[tokio::test]
    async fn answers_are_tied_to_the_request_id() {
        let (state, mailbox, _init) = ApiState::new("F");
        let app = router(state);
        let (event, answer) = sample_event("req-1");
        mailbox.try_send(event).expect("queued");
        call(&app, "GET", "/2018-06-01/runtime/invocation/next", "").await;

        let (status, _, body) = call(
            &app,
            "POST",
            "/2018-06-01/runtime/invocation/other/response",
            "{}",
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.contains("InvalidRequestID"), "{body}");

        let (status, _, body) = call(
            &app,
            "POST",
            "/2018-06-01/runtime/invocation/req-1/response",
            "[1]",
        )
        .await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::ACCEPTED, r#"{"status":"OK"}"#)
        );
        match answer.await.expect("answered") {
            Reply::Response(body) => assert_eq!(&body[..], b"[1]"),
            other => panic!("unexpected {other:?}"),
        }

        let (status, _, _) = call(
            &app,
            "POST",
            "/2018-06-01/runtime/invocation/req-1/response",
            "[2]",
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "answered once only");
    }

    #[tokio::test]
    async fn errors_carry_type_and_message() {
        let (state, mailbox, _init) = ApiState::new("F");
        let app = router(state);
        let (event, answer) = sample_event("req-1");
        mailbox.try_send(event).expect("queued");
        call(&app, "GET", "/2018-06-01/runtime/invocation/next", "").await;
        let body = r#"{"errorMessage":"boom","errorType":"MyError","stackTrace":["a","b"]}"#;
        let (status, _, _) = call(
            &app,
            "POST",
            "/2018-06-01/runtime/invocation/req-1/error",
            body,
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED);
        match answer.await.expect("answered") {
            Reply::Error(failure) => {
                assert_eq!(failure.error_type, "MyError");
                assert_eq!(failure.error_message, "boom");
                assert_eq!(failure.stack_trace, ["a", "b"]);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn error_reports_fall_back_to_the_header_and_the_raw_body() {
        let mut headers = HeaderMap::new();
        headers.insert(ERROR_TYPE, HeaderValue::from_static("Runtime.Unknown"));
        let failure = FunctionFailure::from_report(&headers, b"not json");
        assert_eq!(failure.error_type, "Runtime.Unknown");
        assert_eq!(failure.error_message, "not json");
        let failure = FunctionFailure::from_report(&HeaderMap::new(), br#"{"errorMessage":"m"}"#);
        assert_eq!(failure.error_type, "Unhandled");
        let long = "é".repeat(MAX_RAW_MESSAGE);
        assert!(
            FunctionFailure::from_report(&HeaderMap::new(), long.as_bytes())
                .error_message
                .len()
                <= MAX_RAW_MESSAGE + 3
        );
    }

    #[tokio::test]
    async fn init_errors_are_accepted_only_before_the_first_next() {
        let (state, mailbox, init) = ApiState::new("F");
        let app = router(state);
        let body = r#"{"errorMessage":"no table","errorType":"Runtime.InitError"}"#;
        let (status, _, _) = call(&app, "POST", "/2018-06-01/runtime/init/error", body).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        match &*init.borrow() {
            InitState::Failed(failure) => assert_eq!(failure.error_message, "no table"),
            other => panic!("unexpected {other:?}"),
        }

        let (state, mailbox2, _init) = ApiState::new("F");
        let app = router(state);
        let (event, _answer) = sample_event("req-1");
        mailbox2.try_send(event).expect("queued");
        call(&app, "GET", "/2018-06-01/runtime/invocation/next", "").await;
        let (status, _, _) = call(&app, "POST", "/2018-06-01/runtime/init/error", body).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        drop(mailbox);
    }

    #[tokio::test]
    async fn next_ends_when_the_environment_stops() {
        let (state, mailbox, _init) = ApiState::new("F");
        let app = router(state);
        drop(mailbox);
        let (status, _, _) = call(&app, "GET", "/2018-06-01/runtime/invocation/next", "").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[tokio::test]
    async fn unknown_paths_are_not_found() {
        let (state, _mailbox, _init) = ApiState::new("F");
        let (status, _, _) = call(&router(state), "GET", "/2018-06-01/runtime/other", "").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn oversized_responses_fail_the_invocation() {
        let (state, mailbox, _init) = ApiState::new("F");
        let app = router(state);
        let (event, answer) = sample_event("req-1");
        mailbox.try_send(event).expect("queued");
        call(&app, "GET", "/2018-06-01/runtime/invocation/next", "").await;
        let big = "x".repeat(MAX_RESPONSE_BYTES + 1);
        let (status, _, _) = call(
            &app,
            "POST",
            "/2018-06-01/runtime/invocation/req-1/response",
            &big,
        )
        .await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        match answer.await.expect("answered") {
            Reply::Error(failure) => {
                assert_eq!(failure.error_type, "Function.ResponseSizeTooLarge")
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
