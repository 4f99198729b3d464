use http::HeaderValue;

use super::*;

#[test]
fn text_content_types() {
    assert!(is_text(Some("application/json; charset=utf-8")));
    assert!(is_text(Some("text/csv")));
    assert!(!is_text(Some("application/x-www-form-urlencoded")));
    assert!(!is_text(Some("application/pdf")));
    assert!(!is_text(None));
}

#[test]
fn repeated_query_keys_are_joined() {
    let q = query_parameters("a=1&a=2&b=x%20y&c").expect("params");
    assert_eq!(q["a"], "1,2");
    assert_eq!(q["b"], "x y");
    assert_eq!(q["c"], "");
    assert!(query_parameters("").is_none());
}

#[test]
fn cookies_are_split_out_of_every_cookie_header() {
    let mut h = HeaderMap::new();
    h.append(COOKIE, HeaderValue::from_static("a=1; b=2"));
    h.append(COOKIE, HeaderValue::from_static("c=3"));
    assert_eq!(
        cookies(&h),
        Some(vec!["a=1".into(), "b=2".into(), "c=3".into()])
    );
}

#[test]
fn the_event_has_the_documented_shape() {
    let mut h = HeaderMap::new();
    h.insert(HOST, HeaderValue::from_static("localhost:3000"));
    h.append("x-tag", HeaderValue::from_static("a"));
    h.append("x-tag", HeaderValue::from_static("b"));
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    let params = BTreeMap::from([("id".to_string(), "a b".to_string())]);
    let parts = RequestParts {
        method: &Method::POST,
        version: Version::HTTP_11,
        raw_path: "/v1/exams/a%20b",
        raw_query: "x=1",
        headers: &h,
        source_ip: "127.0.0.1".into(),
    };
    let meta = RequestMeta {
        api_id: "local",
        region: "us-east-1",
        request_id: "abc=",
        route_key: "POST /v1/exams/{id}",
        path_parameters: &params,
        authorized: None,
        lambda_context: None,
        received_at: "2026-11-25T10:00:00Z".parse().expect("time"),
    };
    let e = build(&parts, &meta, b"\x00\x01");
    assert_eq!(e["version"], "2.0");
    assert_eq!(e["rawPath"], "/v1/exams/a b");
    assert_eq!(e["headers"]["x-tag"], "a,b");
    assert_eq!(e["headers"]["x-forwarded-port"], "3000");
    assert_eq!(e["pathParameters"]["id"], "a b");
    assert_eq!(e["isBase64Encoded"], true);
    assert_eq!(e["body"], "AAE=");
    assert_eq!(e["requestContext"]["time"], "25/Nov/2026:10:00:00 +0000");
    assert_eq!(e["requestContext"]["timeEpoch"], 1_795_600_800_000_i64);
    assert_eq!(e["requestContext"]["domainName"], "localhost");
    assert_eq!(e["requestContext"]["stage"], "$default");
    assert!(e["requestContext"].get("authorizer").is_none());
    assert!(e.get("cookies").is_none());
}

#[test]
fn the_authorizer_event_has_the_documented_shape() {
    let mut h = HeaderMap::new();
    h.insert(HOST, HeaderValue::from_static("localhost:3000"));
    h.insert("authorization", HeaderValue::from_static("Bearer t"));
    h.insert(COOKIE, HeaderValue::from_static("a=1"));
    ensure_trace_id(&mut h);
    let trace = h.get(TRACE_ID).cloned().expect("a trace id");
    ensure_trace_id(&mut h);
    assert_eq!(
        h.get(TRACE_ID),
        Some(&trace),
        "an existing trace id is kept"
    );
    let params = BTreeMap::from([("id".to_string(), "x".to_string())]);
    let parts = RequestParts {
        method: &Method::GET,
        version: Version::HTTP_11,
        raw_path: "/v1/exams/x",
        raw_query: "a=1&a=2",
        headers: &h,
        source_ip: "127.0.0.1".into(),
    };
    let context = serde_json::json!({"hospitalId": "h-1", "n": 2})
        .as_object()
        .cloned()
        .expect("map");
    let meta = RequestMeta {
        api_id: "local",
        region: "us-east-1",
        request_id: "abc=",
        route_key: "GET /v1/exams/{id}",
        path_parameters: &params,
        authorized: None,
        lambda_context: Some(&context),
        received_at: "2026-11-25T10:00:00Z".parse().expect("time"),
    };
    let identity = vec!["Bearer t".to_string()];
    let a = build_authorizer(&parts, &meta, &identity);
    assert_eq!(a["version"], "2.0");
    assert_eq!(a["type"], "REQUEST");
    assert_eq!(
        a["routeArn"],
        "arn:aws:execute-api:us-east-1:123456789012:local/$default/GET/v1/exams/x"
    );
    assert_eq!(a["identitySource"], serde_json::json!(["Bearer t"]));
    assert_eq!(a["routeKey"], "GET /v1/exams/{id}");
    assert_eq!(a["rawQueryString"], "a=1&a=2");
    assert_eq!(a["queryStringParameters"]["a"], "1,2");
    assert_eq!(a["cookies"], serde_json::json!(["a=1"]));
    assert_eq!(a["pathParameters"]["id"], "x");
    assert_eq!(
        a["headers"]["x-amzn-trace-id"],
        trace.to_str().expect("ascii")
    );
    assert!(a["requestContext"].get("authorizer").is_none());
    assert!(a.get("body").is_none() && a.get("isBase64Encoded").is_none());
    assert!(a.get("stageVariables").is_none());

    let e = build(&parts, &meta, b"");
    assert_eq!(
        e["requestContext"]["authorizer"],
        serde_json::json!({"lambda": {"hospitalId": "h-1", "n": 2}})
    );
    assert_eq!(
        e["headers"]["x-amzn-trace-id"],
        a["headers"]["x-amzn-trace-id"]
    );
    assert_eq!(
        route_arn("eu-west-1", "api", &Method::POST, "/"),
        "arn:aws:execute-api:eu-west-1:123456789012:api/$default/POST/"
    );
}
