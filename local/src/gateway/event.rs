//! The Lambda event an HTTP API sends with payload format 2.0: `rawPath` and path parameters
//! URL-decoded, header names in lower case with repeated headers joined by commas, cookies moved
//! out of the headers into `cookies`, repeated query keys joined by commas, the body base64-encoded
//! unless its content type is text, and the request context with what the authorizer passes on
//! (`authorizer.jwt` claims, or a Lambda authorizer's `authorizer.lambda` context). Also the
//! event a Lambda authorizer receives with payload format 2.0 ([`build_authorizer`]).

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use http::header::{CONTENT_TYPE, COOKIE, HOST, USER_AGENT};
use http::{HeaderMap, Method, Version};
use percent_encoding::percent_decode_str;
use serde::Serialize;
use serde_json::{Map, Value};

use super::authorizer::Authorized;

/// Account id API Gateway events carry (the documentation's example account).
pub const ACCOUNT_ID: &str = "123456789012";

/// The stage of the API (`$default`, auto-deployed).
pub const STAGE: &str = "$default";

/// The trace header API Gateway adds to requests.
const TRACE_ID: &str = "x-amzn-trace-id";

/// The parts of an HTTP request the event is built from.
#[derive(Debug, Clone)]
pub struct RequestParts<'a> {
    /// The request's method.
    pub method: &'a Method,
    /// HTTP version (`requestContext.http.protocol`).
    pub version: Version,
    /// The path as sent (percent-encoded).
    pub raw_path: &'a str,
    /// The query string as sent, without `?`.
    pub raw_query: &'a str,
    /// The request's headers as received.
    pub headers: &'a HeaderMap,
    /// Client address (`sourceIp`).
    pub source_ip: String,
}

/// Where and when the request arrived, and how the gateway routed it.
#[derive(Debug, Clone)]
pub struct RequestMeta<'a> {
    /// `requestContext.apiId`.
    pub api_id: &'a str,
    /// Region of the default domain name (used when the request has no `Host`).
    pub region: &'a str,
    /// `requestContext.requestId`, also sent back in `apigw-requestid`.
    pub request_id: &'a str,
    /// The matched route's key, e.g. `GET /v1/exams/{id}`.
    pub route_key: &'a str,
    /// Decoded path variables of the matched route.
    pub path_parameters: &'a BTreeMap<String, String>,
    /// What the JWT authorizer passes on; `None` for routes without one.
    pub authorized: Option<&'a Authorized>,
    /// The `context` a Lambda authorizer returned; `None` for routes without one.
    pub lambda_context: Option<&'a Map<String, Value>>,
    /// When the request arrived (`time`, `timeEpoch`).
    pub received_at: jiff::Timestamp,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct HttpApiEvent<'a> {
    version: &'static str,
    #[serde(flatten)]
    request: RequestFields<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<String>,
    is_base64_encoded: bool,
}

/// What the route's event and a Lambda authorizer's event both say about the request.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RequestFields<'a> {
    route_key: &'a str,
    raw_path: String,
    raw_query_string: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    cookies: Option<Vec<String>>,
    headers: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    query_string_parameters: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    path_parameters: Option<&'a BTreeMap<String, String>>,
    request_context: RequestContext<'a>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RequestContext<'a> {
    account_id: &'static str,
    api_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    authorizer: Option<AuthorizerContext<'a>>,
    domain_name: String,
    domain_prefix: String,
    http: HttpDescription,
    request_id: &'a str,
    route_key: &'a str,
    stage: &'static str,
    time: String,
    time_epoch: i64,
}

#[derive(Debug, Serialize)]
struct AuthorizerContext<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    jwt: Option<JwtContext<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lambda: Option<&'a Map<String, Value>>,
}

/// The event of a Lambda authorizer, payload format 2.0.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct AuthorizerEvent<'a> {
    version: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    route_arn: String,
    identity_source: &'a [String],
    #[serde(flatten)]
    request: RequestFields<'a>,
    /// The `$default` stage has no stage variables locally.
    #[serde(skip_serializing_if = "Option::is_none")]
    stage_variables: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Serialize)]
struct JwtContext<'a> {
    claims: &'a BTreeMap<String, String>,
    scopes: Option<&'a Vec<String>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct HttpDescription {
    method: String,
    path: String,
    protocol: &'static str,
    source_ip: String,
    user_agent: String,
}

/// Builds the payload-format-2.0 event for a request and its body.
pub fn build(parts: &RequestParts<'_>, meta: &RequestMeta<'_>, body: &[u8]) -> serde_json::Value {
    let path = decoded_path(parts);
    let (body, is_base64_encoded) = encode_body(parts.headers, body);
    let authorizer = match (meta.authorized, meta.lambda_context) {
        (None, None) => None,
        (jwt, lambda) => Some(AuthorizerContext {
            jwt: jwt.map(|a| JwtContext {
                claims: &a.claims,
                scopes: a.scopes.as_ref(),
            }),
            lambda,
        }),
    };
    let event = HttpApiEvent {
        version: "2.0",
        request: request_fields(parts, meta, path, authorizer),
        body,
        is_base64_encoded,
    };
    // Only strings, maps and numbers: serialising cannot fail.
    serde_json::to_value(&event).unwrap_or(serde_json::Value::Null)
}

/// Builds the event a Lambda authorizer receives (payload format 2.0) for a request whose
/// identity sources have the values `identity_source`: the route event's fields without body,
/// plus `type`, `routeArn` and `identitySource`, and a request context without authorizer.
/// `meta.authorized` and `meta.lambda_context` are ignored.
pub fn build_authorizer(
    parts: &RequestParts<'_>,
    meta: &RequestMeta<'_>,
    identity_source: &[String],
) -> serde_json::Value {
    let path = decoded_path(parts);
    let event = AuthorizerEvent {
        version: "2.0",
        kind: "REQUEST",
        route_arn: route_arn(meta.region, meta.api_id, parts.method, &path),
        identity_source,
        request: request_fields(parts, meta, path, None),
        stage_variables: None,
    };
    serde_json::to_value(&event).unwrap_or(serde_json::Value::Null)
}

/// `arn:aws:execute-api:<region>:<account>:<apiId>/$default/<METHOD>/<path>` for a request.
pub fn route_arn(region: &str, api_id: &str, method: &Method, path: &str) -> String {
    format!(
        "arn:aws:execute-api:{region}:{ACCOUNT_ID}:{api_id}/{STAGE}/{}/{}",
        method.as_str(),
        path.strip_prefix('/').unwrap_or(path)
    )
}

fn decoded_path(parts: &RequestParts<'_>) -> String {
    percent_decode_str(parts.raw_path)
        .decode_utf8_lossy()
        .into_owned()
}

/// `path` is the decoded path.
fn request_fields<'a>(
    parts: &RequestParts<'a>,
    meta: &RequestMeta<'a>,
    path: String,
    authorizer: Option<AuthorizerContext<'a>>,
) -> RequestFields<'a> {
    RequestFields {
        route_key: meta.route_key,
        raw_path: path.clone(),
        raw_query_string: parts.raw_query,
        cookies: cookies(parts.headers),
        headers: headers(parts),
        query_string_parameters: query_parameters(parts.raw_query),
        path_parameters: (!meta.path_parameters.is_empty()).then_some(meta.path_parameters),
        request_context: request_context(parts, meta, path, authorizer),
    }
}

fn request_context<'a>(
    parts: &RequestParts<'_>,
    meta: &RequestMeta<'a>,
    path: String,
    authorizer: Option<AuthorizerContext<'a>>,
) -> RequestContext<'a> {
    let domain_name = domain_name(parts.headers, meta.api_id, meta.region);
    let domain_prefix = domain_name
        .split('.')
        .next()
        .unwrap_or_default()
        .to_string();
    RequestContext {
        account_id: ACCOUNT_ID,
        api_id: meta.api_id,
        authorizer,
        domain_name,
        domain_prefix,
        http: HttpDescription {
            method: parts.method.as_str().to_string(),
            path,
            protocol: protocol(parts.version),
            source_ip: parts.source_ip.clone(),
            user_agent: header_string(parts.headers, USER_AGENT.as_str()).unwrap_or_default(),
        },
        request_id: meta.request_id,
        route_key: meta.route_key,
        stage: STAGE,
        time: meta
            .received_at
            .strftime("%d/%b/%Y:%H:%M:%S +0000")
            .to_string(),
        time_epoch: meta.received_at.as_millisecond(),
    }
}

/// The values of a header as API Gateway passes them (repeated headers joined by commas), if
/// the request has it.
pub fn header_value(headers: &HeaderMap, name: &str) -> Option<String> {
    header_string(headers, name)
}

/// The value of a query parameter as API Gateway passes it (repeated keys joined by commas).
pub fn query_value(raw_query: &str, name: &str) -> Option<String> {
    query_parameters(raw_query).and_then(|mut q| q.remove(name))
}

/// Adds the `x-amzn-trace-id` header API Gateway adds when the request has none, so that every
/// event built from the headers (authorizer and route) carries the same one.
pub fn ensure_trace_id(headers: &mut HeaderMap) {
    if !headers.contains_key(TRACE_ID)
        && let Ok(value) = http::HeaderValue::from_str(&trace_id())
    {
        headers.insert(TRACE_ID, value);
    }
}

fn protocol(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

fn header_string(headers: &HeaderMap, name: &str) -> Option<String> {
    let values: Vec<String> = headers
        .get_all(name)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    (!values.is_empty()).then(|| values.join(","))
}

/// The API's domain: the `Host` the client used (without port), else the AWS-style name.
fn domain_name(headers: &HeaderMap, api_id: &str, region: &str) -> String {
    headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .map(|host| match host.rsplit_once(':') {
            Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name.to_string(),
            _ => host.to_string(),
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| format!("{api_id}.execute-api.{region}.amazonaws.com"))
}

/// Request headers as API Gateway forwards them, with its `x-forwarded-*` and trace headers.
fn headers(parts: &RequestParts<'_>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for name in parts.headers.keys() {
        if name == COOKIE {
            continue;
        }
        if let Some(value) = header_string(parts.headers, name.as_str()) {
            out.insert(name.as_str().to_string(), value);
        }
    }
    let forwarded_for = match out.get("x-forwarded-for") {
        Some(existing) => format!("{existing}, {}", parts.source_ip),
        None => parts.source_ip.clone(),
    };
    out.insert("x-forwarded-for".to_string(), forwarded_for);
    out.insert("x-forwarded-proto".to_string(), "http".to_string());
    let port = parts
        .headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.rsplit_once(':'))
        .map(|(_, p)| p.to_string())
        .filter(|p| p.chars().all(|c| c.is_ascii_digit()))
        .unwrap_or_else(|| "80".to_string());
    out.insert("x-forwarded-port".to_string(), port);
    out.entry(TRACE_ID.to_string()).or_insert_with(trace_id);
    out
}

/// An X-Ray style trace header: `Root=1-<epoch seconds hex>-<96 random bits hex>`.
fn trace_id() -> String {
    let now = jiff::Timestamp::now().as_second();
    let random = ulid::Ulid::new().random() & ((1u128 << 80) - 1);
    format!("Root=1-{now:08x}-{random:024x}")
}

/// Every cookie of every `Cookie` header, one entry each.
fn cookies(headers: &HeaderMap) -> Option<Vec<String>> {
    let cookies: Vec<String> = headers
        .get_all(COOKIE)
        .iter()
        .flat_map(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .split(';')
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty())
                .collect::<Vec<_>>()
        })
        .collect();
    (!cookies.is_empty()).then_some(cookies)
}

/// Decoded query parameters, repeated keys joined by commas.
fn query_parameters(raw: &str) -> Option<BTreeMap<String, String>> {
    if raw.is_empty() {
        return None;
    }
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (key, value) in form_urlencoded::parse(raw.as_bytes()) {
        out.entry(key.into_owned())
            .and_modify(|existing| {
                existing.push(',');
                existing.push_str(&value);
            })
            .or_insert_with(|| value.into_owned());
    }
    (!out.is_empty()).then_some(out)
}

/// Content types HTTP APIs pass as text; every other body (none included) arrives base64-encoded.
fn is_text(content_type: Option<&str>) -> bool {
    let Some(content_type) = content_type else {
        return false;
    };
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence.starts_with("text/")
        || matches!(
            essence.as_str(),
            "application/json" | "application/xml" | "application/javascript"
        )
}

fn encode_body(headers: &HeaderMap, body: &[u8]) -> (Option<String>, bool) {
    if body.is_empty() {
        return (None, false);
    }
    let content_type = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
    if is_text(content_type)
        && let Ok(text) = std::str::from_utf8(body)
    {
        return (Some(text.to_string()), false);
    }
    (Some(BASE64.encode(body)), true)
}

#[cfg(test)]
mod tests;
