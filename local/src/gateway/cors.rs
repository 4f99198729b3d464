//! CORS as an HTTP API with a `CorsConfiguration` applies it: the gateway itself answers
//! preflight requests (no route, function or authorizer involved), adds the configured headers to
//! every other response whose `Origin` is allowed, and drops CORS headers the function returned.

use axum::body::Body;
use axum::response::Response;
use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, ORIGIN,
};
use http::{HeaderMap, HeaderValue, Method, StatusCode};

use crate::model::Cors;

/// The API's CORS configuration.
#[derive(Debug, Clone)]
pub struct CorsPolicy {
    cors: Cors,
}

impl CorsPolicy {
    /// Wraps the configuration read from the template.
    pub fn new(cors: Cors) -> CorsPolicy {
        CorsPolicy { cors }
    }

    /// Whether the request is a preflight: `OPTIONS` with `Origin` and
    /// `Access-Control-Request-Method`.
    pub fn is_preflight(method: &Method, headers: &HeaderMap) -> bool {
        method == Method::OPTIONS
            && headers.contains_key(ORIGIN)
            && headers.contains_key(ACCESS_CONTROL_REQUEST_METHOD)
    }

    /// The gateway's answer to a preflight: 204, with the CORS headers when the origin and method
    /// are allowed and none otherwise (the browser then refuses the real request).
    pub fn preflight(&self, headers: &HeaderMap) -> Response {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::NO_CONTENT;
        let Some(origin) = self.allowed_origin(headers) else {
            return response;
        };
        let requested_method = headers
            .get(ACCESS_CONTROL_REQUEST_METHOD)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !self.method_allowed(requested_method) {
            return response;
        }
        let out = response.headers_mut();
        out.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        if self.cors.allow_credentials {
            out.insert(
                ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        if let Some(methods) = self.allow_methods(requested_method) {
            out.insert(ACCESS_CONTROL_ALLOW_METHODS, methods);
        }
        if let Some(allowed) = self.allow_headers(headers) {
            out.insert(ACCESS_CONTROL_ALLOW_HEADERS, allowed);
        }
        if let Some(max_age) = self.cors.max_age {
            out.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from(max_age));
        }
        response
    }

    /// Replaces whatever CORS headers the function set with the configured ones, when the
    /// request's origin is allowed.
    pub fn apply(&self, request: &HeaderMap, response: &mut HeaderMap) {
        let names: Vec<_> = response
            .keys()
            .filter(|name| name.as_str().starts_with("access-control-"))
            .cloned()
            .collect();
        for name in names {
            response.remove(name);
        }
        let Some(origin) = self.allowed_origin(request) else {
            return;
        };
        response.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        if self.cors.allow_credentials {
            response.insert(
                ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        if !self.cors.expose_headers.is_empty()
            && let Ok(value) = HeaderValue::from_str(&self.cors.expose_headers.join(","))
        {
            response.insert(ACCESS_CONTROL_EXPOSE_HEADERS, value);
        }
    }

    /// The `Access-Control-Allow-Origin` value for the request's origin, when it is allowed.
    fn allowed_origin(&self, headers: &HeaderMap) -> Option<HeaderValue> {
        let origin = headers.get(ORIGIN)?.to_str().ok()?;
        let mut allowed = false;
        for pattern in &self.cors.allow_origins {
            if pattern == "*" {
                if !self.cors.allow_credentials {
                    return Some(HeaderValue::from_static("*"));
                }
                allowed = true;
            } else if origin_matches(pattern, origin) {
                allowed = true;
            }
        }
        if allowed {
            HeaderValue::from_str(origin).ok()
        } else {
            None
        }
    }

    fn method_allowed(&self, method: &str) -> bool {
        self.cors
            .allow_methods
            .iter()
            .any(|m| m == "*" || m.eq_ignore_ascii_case(method))
    }

    fn allow_methods(&self, requested: &str) -> Option<HeaderValue> {
        let list = if self.cors.allow_methods.iter().any(|m| m == "*") {
            requested.to_string()
        } else {
            self.cors.allow_methods.join(",")
        };
        HeaderValue::from_str(&list).ok()
    }

    fn allow_headers(&self, request: &HeaderMap) -> Option<HeaderValue> {
        if self.cors.allow_headers.iter().any(|h| h == "*") {
            return request.get(ACCESS_CONTROL_REQUEST_HEADERS).cloned();
        }
        if self.cors.allow_headers.is_empty() {
            return None;
        }
        HeaderValue::from_str(&self.cors.allow_headers.join(",")).ok()
    }
}

/// Origin patterns: exact (scheme, host and port, case-insensitive) or with one `*` wildcard,
/// e.g. `https://*.example.com`.
fn origin_matches(pattern: &str, origin: &str) -> bool {
    let pattern = pattern.trim_end_matches('/').to_ascii_lowercase();
    let origin = origin.to_ascii_lowercase();
    match pattern.split_once('*') {
        None => pattern == origin,
        Some((prefix, suffix)) => {
            origin.len() > prefix.len() + suffix.len()
                && origin.starts_with(prefix)
                && origin.ends_with(suffix)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> CorsPolicy {
        CorsPolicy::new(Cors {
            allow_origins: vec!["http://localhost:3000".into()],
            allow_methods: vec!["GET".into(), "POST".into()],
            allow_headers: vec!["authorization".into(), "content-type".into()],
            expose_headers: vec!["x-request-id".into()],
            max_age: Some(600),
            allow_credentials: false,
        })
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn preflight_from_an_allowed_origin_gets_the_configuration() {
        let r = policy().preflight(&headers(&[
            ("origin", "http://localhost:3000"),
            ("access-control-request-method", "POST"),
        ]));
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        let h = r.headers();
        assert_eq!(h["access-control-allow-origin"], "http://localhost:3000");
        assert_eq!(h["access-control-allow-methods"], "GET,POST");
        assert_eq!(
            h["access-control-allow-headers"],
            "authorization,content-type"
        );
        assert_eq!(h["access-control-max-age"], "600");
    }

    #[test]
    fn preflight_from_another_origin_or_method_gets_no_cors_headers() {
        for (origin, method) in [
            ("http://evil.example", "GET"),
            ("http://localhost:3000", "DELETE"),
        ] {
            let mut h = HeaderMap::new();
            h.insert("origin", HeaderValue::from_str(origin).expect("ascii"));
            h.insert(
                "access-control-request-method",
                HeaderValue::from_str(method).expect("ascii"),
            );
            let r = policy().preflight(&h);
            assert_eq!(r.status(), StatusCode::NO_CONTENT);
            assert!(r.headers().get("access-control-allow-origin").is_none());
        }
    }

    #[test]
    fn responses_get_configured_headers_and_lose_the_functions_own() {
        let mut response = headers(&[("access-control-allow-origin", "*")]);
        policy().apply(
            &headers(&[("origin", "http://localhost:3000")]),
            &mut response,
        );
        assert_eq!(
            response["access-control-allow-origin"],
            "http://localhost:3000"
        );
        assert_eq!(response["access-control-expose-headers"], "x-request-id");

        let mut response = headers(&[("access-control-allow-origin", "*")]);
        policy().apply(
            &headers(&[("origin", "http://evil.example")]),
            &mut response,
        );
        assert!(response.get("access-control-allow-origin").is_none());
    }

    #[test]
    fn wildcard_origins() {
        assert!(origin_matches(
            "https://*.example.com",
            "https://a.example.com"
        ));
        assert!(!origin_matches(
            "https://*.example.com",
            "https://example.com"
        ));
        assert!(origin_matches(
            "http://localhost:3000/",
            "http://LOCALHOST:3000"
        ));
    }
}
