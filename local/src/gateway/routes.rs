//! Route selection as API Gateway HTTP APIs do it: a route is a method (or `ANY`) and a path
//! template with literal segments, `{param}` variables and a trailing greedy `{proxy+}`; among the
//! routes that match a request the most specific path wins (literal over variable over greedy,
//! segment by segment from the left), then an exact method over `ANY`; `$default` catches the rest.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use percent_encoding::percent_decode_str;

use super::throttle::TokenBucket;
use crate::model::HttpRoute;

/// The route key API Gateway gives the catch-all route.
pub const DEFAULT_ROUTE_KEY: &str = "$default";

/// Why a route of the template cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("route `{0}`: a path must start with `/`")]
    NotAbsolute(String),
    #[error("route `{0}`: a greedy variable `{{name+}}` must be the last segment")]
    GreedyNotLast(String),
    #[error("route `{0}`: malformed path variable `{1}`")]
    BadVariable(String, String),
    #[error("route `{0}`: path variable `{1}` appears twice")]
    DuplicateVariable(String, String),
    #[error("route `{0}` is declared twice")]
    Duplicate(String),
    #[error("route `{0}`: `{1}` is not an HTTP method")]
    BadMethod(String, String),
}

/// One segment of a path template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Variable(String),
    Greedy(String),
}

impl Segment {
    /// How specific the segment is: literal > variable > greedy.
    fn rank(&self) -> u8 {
        match self {
            Segment::Literal(_) => 2,
            Segment::Variable(_) => 1,
            Segment::Greedy(_) => 0,
        }
    }
}

/// A parsed route of the API and the function that serves it.
#[derive(Debug, Clone)]
struct Entry {
    function: String,
    route: HttpRoute,
    route_key: String,
    /// `None` for `$default`.
    segments: Option<Vec<Segment>>,
    /// Shared by the table's clones: a route has one bucket however the table is held.
    throttle: Option<Arc<TokenBucket>>,
}

/// A request matched to a route.
#[derive(Debug, Clone)]
pub struct RouteMatch<'a> {
    /// Logical id of the function serving the route.
    pub function: &'a str,
    /// The route as the template declares it.
    pub route: &'a HttpRoute,
    /// `"GET /v1/exams/{id}"`, or `$default`.
    pub route_key: &'a str,
    /// Decoded values of the path variables (`proxy` for `{proxy+}`).
    pub path_parameters: BTreeMap<String, String>,
    /// The route's throttle, when it has one.
    pub throttle: Option<&'a TokenBucket>,
}

/// The routes of the HTTP API, ready for matching.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    entries: Vec<Entry>,
}

impl RouteTable {
    /// Parses every route; rejects malformed templates and duplicate route keys, as API Gateway
    /// does when the API is created.
    ///
    /// # Errors
    /// [`RouteError`] for the first route that cannot be served.
    pub fn new(routes: &[(String, HttpRoute)]) -> Result<RouteTable, RouteError> {
        let mut entries: Vec<Entry> = Vec::with_capacity(routes.len());
        for (function, route) in routes {
            let method = route.method.to_ascii_uppercase();
            let (route_key, segments) = if route.path == DEFAULT_ROUTE_KEY {
                (DEFAULT_ROUTE_KEY.to_string(), None)
            } else {
                if method != "ANY" && http::Method::from_bytes(method.as_bytes()).is_err() {
                    return Err(RouteError::BadMethod(route.path.clone(), method));
                }
                (
                    format!("{method} {}", route.path),
                    Some(parse_template(&route.path)?),
                )
            };
            if entries.iter().any(|e| e.route_key == route_key) {
                return Err(RouteError::Duplicate(route_key));
            }
            let mut route = route.clone();
            route.method = method;
            let throttle = route
                .throttle
                .map(|throttle| Arc::new(TokenBucket::new(throttle, Instant::now())));
            entries.push(Entry {
                function: function.clone(),
                route,
                route_key,
                segments,
                throttle,
            });
        }
        Ok(RouteTable { entries })
    }

    /// Every route key, in declaration order.
    pub fn route_keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.route_key.as_str())
    }

    /// The route serving `method` on `raw_path` (the path as sent, still percent-encoded).
    pub fn find(&self, method: &str, raw_path: &str) -> Option<RouteMatch<'_>> {
        let request: Vec<&str> = split_path(raw_path);
        let mut best: Option<Candidate<'_>> = None;
        let mut fallback: Option<&Entry> = None;
        for entry in &self.entries {
            let Some(segments) = &entry.segments else {
                fallback = Some(entry);
                continue;
            };
            let exact_method = entry.route.method == method;
            if !exact_method && entry.route.method != "ANY" {
                continue;
            }
            let Some(params) = match_segments(segments, &request) else {
                continue;
            };
            let candidate = Candidate {
                ranks: segments.iter().map(Segment::rank).collect(),
                exact_method,
                entry,
                params,
            };
            if best.as_ref().is_none_or(|b| candidate.beats(b)) {
                best = Some(candidate);
            }
        }
        if let Some(best) = best {
            return Some(RouteMatch {
                function: &best.entry.function,
                route: &best.entry.route,
                route_key: &best.entry.route_key,
                path_parameters: best.params,
                throttle: best.entry.throttle.as_deref(),
            });
        }
        fallback.map(|entry| RouteMatch {
            function: &entry.function,
            route: &entry.route,
            route_key: &entry.route_key,
            path_parameters: BTreeMap::new(),
            throttle: entry.throttle.as_deref(),
        })
    }
}

/// A route that matches the request, with what makes it more or less specific.
struct Candidate<'a> {
    ranks: Vec<u8>,
    exact_method: bool,
    entry: &'a Entry,
    params: BTreeMap<String, String>,
}

impl Candidate<'_> {
    /// More specific path first (segment by segment from the left), then exact method over `ANY`.
    fn beats(&self, other: &Candidate<'_>) -> bool {
        (self.ranks.as_slice(), self.exact_method) > (other.ranks.as_slice(), other.exact_method)
    }
}

/// Splits a path into its segments; the root path has none.
fn split_path(path: &str) -> Vec<&str> {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    if trimmed.is_empty() {
        Vec::new()
    } else {
        trimmed.split('/').collect()
    }
}

fn decode(segment: &str) -> String {
    percent_decode_str(segment).decode_utf8_lossy().into_owned()
}

fn parse_template(path: &str) -> Result<Vec<Segment>, RouteError> {
    if !path.starts_with('/') {
        return Err(RouteError::NotAbsolute(path.to_string()));
    }
    let parts = split_path(path);
    let mut segments = Vec::with_capacity(parts.len());
    let mut names: Vec<&str> = Vec::new();
    for (index, part) in parts.iter().enumerate() {
        let segment = match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            Some(inner) => {
                let (name, greedy) = match inner.strip_suffix('+') {
                    Some(name) => (name, true),
                    None => (inner, false),
                };
                let valid = !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.');
                if !valid {
                    return Err(RouteError::BadVariable(
                        path.to_string(),
                        (*part).to_string(),
                    ));
                }
                if names.contains(&name) {
                    return Err(RouteError::DuplicateVariable(
                        path.to_string(),
                        name.to_string(),
                    ));
                }
                names.push(name);
                if greedy {
                    if index + 1 != parts.len() {
                        return Err(RouteError::GreedyNotLast(path.to_string()));
                    }
                    Segment::Greedy(name.to_string())
                } else {
                    Segment::Variable(name.to_string())
                }
            }
            None if part.contains(['{', '}']) => {
                return Err(RouteError::BadVariable(
                    path.to_string(),
                    (*part).to_string(),
                ));
            }
            None => Segment::Literal((*part).to_string()),
        };
        segments.push(segment);
    }
    Ok(segments)
}

/// Matches the request's segments against a template; returns the decoded variables.
fn match_segments(template: &[Segment], request: &[&str]) -> Option<BTreeMap<String, String>> {
    let mut params = BTreeMap::new();
    for (index, segment) in template.iter().enumerate() {
        match segment {
            Segment::Literal(literal) => {
                let part = request.get(index)?;
                if decode(part) != *literal {
                    return None;
                }
            }
            Segment::Variable(name) => {
                let part = request.get(index)?;
                if part.is_empty() {
                    return None;
                }
                params.insert(name.clone(), decode(part));
            }
            Segment::Greedy(name) => {
                let rest = request.get(index..)?;
                if rest.is_empty() || rest.iter().all(|s| s.is_empty()) {
                    return None;
                }
                params.insert(name.clone(), decode(&rest.join("/")));
                return Some(params);
            }
        }
    }
    (template.len() == request.len()).then_some(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: &str, path: &str) -> (String, HttpRoute) {
        (
            format!("{method}{path}"),
            HttpRoute {
                method: method.to_string(),
                path: path.to_string(),
                authorizer: None,
                scopes: Vec::new(),
                throttle: None,
            },
        )
    }

    #[test]
    fn a_route_s_throttle_is_one_bucket_for_every_clone_of_the_table() {
        let (function, mut throttled) = route("POST", "/v1/auth/token");
        throttled.throttle = Some(crate::model::RouteThrottle {
            rate_per_second: 0,
            burst: 1,
        });
        let table =
            RouteTable::new(&[(function, throttled), route("GET", "/v1/exams")]).expect("routes");
        let copy = table.clone();
        let now = Instant::now();
        let bucket = |t: &RouteTable| {
            t.find("POST", "/v1/auth/token")
                .and_then(|m| m.throttle)
                .map(|b| b.take(now))
        };
        assert_eq!(bucket(&table), Some(Ok(())));
        assert!(
            matches!(bucket(&copy), Some(Err(_))),
            "the clone shares the bucket"
        );
        assert!(
            table
                .find("GET", "/v1/exams")
                .is_some_and(|m| m.throttle.is_none())
        );
    }

    fn table(routes: &[(&str, &str)]) -> RouteTable {
        let routes: Vec<_> = routes.iter().map(|(m, p)| route(m, p)).collect();
        RouteTable::new(&routes).expect("valid routes")
    }

    fn key(table: &RouteTable, method: &str, path: &str) -> Option<String> {
        table.find(method, path).map(|m| m.route_key.to_string())
    }

    #[test]
    fn the_most_specific_route_wins_as_in_the_api_gateway_guide() {
        let t = table(&[
            ("GET", "/pets/dog/1"),
            ("GET", "/pets/dog/{id}"),
            ("GET", "/pets/{proxy+}"),
            ("ANY", "/{proxy+}"),
        ]);
        assert_eq!(
            key(&t, "GET", "/pets/dog/1").as_deref(),
            Some("GET /pets/dog/1")
        );
        assert_eq!(
            key(&t, "GET", "/pets/dog/2").as_deref(),
            Some("GET /pets/dog/{id}")
        );
        assert_eq!(
            key(&t, "GET", "/pets/cat/1").as_deref(),
            Some("GET /pets/{proxy+}")
        );
        assert_eq!(
            key(&t, "POST", "/pets/dog/1").as_deref(),
            Some("ANY /{proxy+}")
        );
        assert_eq!(key(&t, "GET", "/"), None);
    }

    #[test]
    fn an_exact_method_beats_any_on_the_same_path() {
        let t = table(&[("ANY", "/v1/me"), ("GET", "/v1/me")]);
        assert_eq!(key(&t, "GET", "/v1/me").as_deref(), Some("GET /v1/me"));
        assert_eq!(key(&t, "DELETE", "/v1/me").as_deref(), Some("ANY /v1/me"));
    }

    #[test]
    fn variables_are_decoded_and_never_empty() {
        let t = table(&[("GET", "/v1/exams/{id}"), ("GET", "/files/{proxy+}")]);
        let m = t.find("GET", "/v1/exams/a%20b").expect("match");
        assert_eq!(m.path_parameters.get("id").map(String::as_str), Some("a b"));
        assert!(t.find("GET", "/v1/exams/").is_none());
        let m = t.find("GET", "/files/x/y%2Fz.pdf").expect("greedy");
        assert_eq!(
            m.path_parameters.get("proxy").map(String::as_str),
            Some("x/y/z.pdf")
        );
        assert!(t.find("GET", "/files/").is_none());
        assert!(t.find("GET", "/files").is_none());
    }

    #[test]
    fn default_route_catches_the_rest() {
        let t = table(&[("GET", "/a"), ("ANY", "$default")]);
        assert_eq!(key(&t, "GET", "/a").as_deref(), Some("GET /a"));
        assert_eq!(key(&t, "POST", "/zzz").as_deref(), Some("$default"));
    }

    #[test]
    fn malformed_templates_and_duplicates_are_rejected() {
        let bad = |m: &str, p: &str| RouteTable::new(&[route(m, p)]).is_err();
        assert!(bad("GET", "v1/x"));
        assert!(bad("GET", "/a/{proxy+}/b"));
        assert!(bad("GET", "/a/{}"));
        assert!(bad("GET", "/a/x{id}"));
        assert!(bad("GET", "/a/{id}/{id}"));
        assert!(bad("G ET", "/a"));
        assert!(RouteTable::new(&[route("GET", "/a"), route("get", "/a")]).is_err());
    }
}
