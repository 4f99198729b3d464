//! From a function's result to the HTTP response, as an HTTP API reads payload format 2.0: an
//! object with `statusCode` gives the status, `headers`, `multiValueHeaders`, `cookies` (each a
//! `set-cookie`) and `body` (base64-decoded when `isBase64Encoded`); any other JSON is sent as is
//! with status 200 and `content-type: application/json`. Also the gateway's own JSON answers
//! (`{"message": "..."}`) for errors it raises itself.

use axum::body::Body;
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use http::header::{CONTENT_TYPE, SET_COOKIE};
use http::{HeaderName, HeaderValue, StatusCode};
use serde_json::Value;

use crate::model::InvokeError;
use crate::runtime::THROTTLED_ERROR_TYPE;

/// How long a client whose function was throttled is told to wait (`Retry-After`).
const THROTTLED_FUNCTION_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Why a function's result cannot be turned into a response (API Gateway then answers 500).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MalformedResult {
    #[error("statusCode is not an HTTP status")]
    Status,
    #[error("header `{0}` is not a valid header")]
    Header(String),
    #[error("body is not a string")]
    Body,
    #[error("body is not valid base64")]
    Base64,
    #[error("cookie is not a valid header value")]
    Cookie,
}

/// A JSON answer of the gateway itself: `{"message": "<message>"}` with `status`.
pub fn gateway_message(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({ "message": message }).to_string();
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// 404 for a request no route matches.
pub fn not_found() -> Response {
    gateway_message(StatusCode::NOT_FOUND, "Not Found")
}

/// 413 for a body above the payload limit.
pub fn too_large() -> Response {
    gateway_message(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large")
}

/// 429 with `Retry-After`: the function is throttled (its reserved concurrency, or more
/// invocations waiting than the runner holds) or the route's throttle is exceeded. A client
/// retries later; API Gateway answers the same status for its route throttles.
pub fn too_many_requests(wait: std::time::Duration) -> Response {
    let mut response = gateway_message(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests");
    let seconds = wait.as_secs_f64().ceil().max(1.0);
    if let Ok(value) = HeaderValue::from_str(&format!("{seconds:.0}")) {
        response
            .headers_mut()
            .insert(http::header::RETRY_AFTER, value);
    }
    response
}

/// 500 for a failed or malformed invocation.
pub fn internal_error() -> Response {
    gateway_message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
}

/// The gateway's answer when an invocation produced no result.
pub fn invoke_error(error: &InvokeError) -> Response {
    match error {
        InvokeError::Timeout(_) => {
            gateway_message(StatusCode::GATEWAY_TIMEOUT, "Endpoint request timed out")
        }
        InvokeError::ShuttingDown => {
            gateway_message(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
        }
        InvokeError::Function { error_type, .. } if error_type == THROTTLED_ERROR_TYPE => {
            too_many_requests(THROTTLED_FUNCTION_WAIT)
        }
        InvokeError::Function { .. } | InvokeError::Crashed(_) | InvokeError::NoSuchFunction(_) => {
            internal_error()
        }
    }
}

/// Turns a function's result into the HTTP response.
///
/// # Errors
/// [`MalformedResult`] when the result claims the response format but breaks it.
pub fn from_result(result: Value) -> Result<Response, MalformedResult> {
    let Value::Object(mut object) = result else {
        return Ok(inferred(&result));
    };
    let Some(status) = object.remove("statusCode") else {
        return Ok(inferred(&Value::Object(object)));
    };
    let status = status
        .as_u64()
        .or_else(|| status.as_str().and_then(|s| s.parse().ok()))
        .and_then(|code| u16::try_from(code).ok())
        .filter(|code| (100..600).contains(code))
        .and_then(|code| StatusCode::from_u16(code).ok())
        .ok_or(MalformedResult::Status)?;
    let base64 = object
        .get("isBase64Encoded")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let body = match object.remove("body") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(text)) if base64 => BASE64
            .decode(text.as_bytes())
            .map_err(|_| MalformedResult::Base64)?,
        Some(Value::String(text)) => text.into_bytes(),
        Some(_) => return Err(MalformedResult::Body),
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    if let Some(Value::Object(single)) = object.get("headers") {
        for (name, value) in single {
            let Some(text) = scalar(value) else {
                continue;
            };
            headers.insert(header_name(name)?, header_value(name, &text)?);
        }
    }
    if let Some(Value::Object(multi)) = object.get("multiValueHeaders") {
        for (name, values) in multi {
            let name = header_name(name)?;
            if headers.contains_key(&name) {
                continue;
            }
            for value in values.as_array().into_iter().flatten() {
                if let Some(text) = scalar(value) {
                    headers.append(&name, header_value(name.as_str(), &text)?);
                }
            }
        }
    }
    if let Some(Value::Array(cookies)) = object.get("cookies") {
        for cookie in cookies.iter().filter_map(Value::as_str) {
            let value = HeaderValue::from_str(cookie).map_err(|_| MalformedResult::Cookie)?;
            headers.append(SET_COOKIE, value);
        }
    }
    Ok(response)
}

/// API Gateway's inference for results without `statusCode`: the JSON itself, 200.
fn inferred(result: &Value) -> Response {
    let mut response = Response::new(Body::from(result.to_string()));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn header_name(name: &str) -> Result<HeaderName, MalformedResult> {
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| MalformedResult::Header(name.to_string()))
}

fn header_value(name: &str, value: &str) -> Result<HeaderValue, MalformedResult> {
    HeaderValue::from_str(value).map_err(|_| MalformedResult::Header(name.to_string()))
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;
    use serde_json::json;

    use super::*;

    async fn body(response: Response) -> Vec<u8> {
        response
            .into_body()
            .collect()
            .await
            .map(|c| c.to_bytes().to_vec())
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn a_full_result_maps_every_field() {
        let r = from_result(json!({
            "statusCode": 201,
            "headers": {"content-type": "text/plain", "x-n": 5},
            "multiValueHeaders": {"x-m": ["a", "b"], "content-type": ["ignored"]},
            "cookies": ["a=1; Path=/", "b=2"],
            "body": "aGk=",
            "isBase64Encoded": true
        }))
        .expect("valid");
        assert_eq!(r.status(), StatusCode::CREATED);
        assert_eq!(r.headers()["content-type"], "text/plain");
        assert_eq!(r.headers()["x-n"], "5");
        let m: Vec<_> = r.headers().get_all("x-m").iter().collect();
        assert_eq!(m, ["a", "b"]);
        let c: Vec<_> = r.headers().get_all("set-cookie").iter().collect();
        assert_eq!(c, ["a=1; Path=/", "b=2"]);
        assert_eq!(body(r).await, b"hi");
    }

    #[tokio::test]
    async fn other_json_is_inferred_as_a_200_json_body() {
        let r = from_result(json!({"hello": "world"})).expect("valid");
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["content-type"], "application/json");
        assert_eq!(body(r).await, br#"{"hello":"world"}"#);
        let r = from_result(json!([1, 2])).expect("valid");
        assert_eq!(body(r).await, b"[1,2]");
    }

    #[test]
    fn malformed_results_are_refused() {
        assert_eq!(
            from_result(json!({"statusCode": 99})).err(),
            Some(MalformedResult::Status)
        );
        assert_eq!(
            from_result(json!({"statusCode": 200, "body": "%%", "isBase64Encoded": true})).err(),
            Some(MalformedResult::Base64)
        );
        assert_eq!(
            from_result(json!({"statusCode": 200, "body": {"a": 1}})).err(),
            Some(MalformedResult::Body)
        );
    }

    #[test]
    fn invoke_errors_map_to_gateway_answers() {
        let timeout = invoke_error(&InvokeError::Timeout(std::time::Duration::from_secs(5)));
        assert_eq!(timeout.status(), StatusCode::GATEWAY_TIMEOUT);
        let crash = invoke_error(&InvokeError::Crashed("exit 1".into()));
        assert_eq!(crash.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let throttled = invoke_error(&InvokeError::Function {
            error_type: THROTTLED_ERROR_TYPE.to_owned(),
            error_message: "Rate Exceeded".to_owned(),
        });
        assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            throttled.headers().get(http::header::RETRY_AFTER),
            Some(&HeaderValue::from_static("1"))
        );
        let failed = invoke_error(&InvokeError::Function {
            error_type: "Unhandled".to_owned(),
            error_message: "boom".to_owned(),
        });
        assert_eq!(failed.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
