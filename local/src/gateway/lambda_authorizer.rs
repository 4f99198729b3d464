//! The HTTP API's Lambda (`REQUEST`) authorizers, payload format 2.0 with simple responses, as
//! API Gateway runs them: a request lacking any identity source (or with an empty one) is
//! refused with 401 without invoking anything; otherwise the authorizer function receives the
//! authorizer event and answers `{"isAuthorized": bool, "context": {...}}` — `true` lets the
//! request through with `requestContext.authorizer.lambda` set to the context, `false` is a 403,
//! and an error, a timeout or any other answer is a 500. Results are cached per authorizer and
//! identity-source values for the authorizer's TTL (`Identity.ReauthorizeEvery`; zero disables
//! caching), in a cache of bounded size.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use http::HeaderMap;
use serde_json::{Map, Value};

use super::event;
use crate::model::{InvokeError, Invoker, LambdaAuthorizer};

/// Default most cached authorizer results (over all Lambda authorizers of the API).
pub const DEFAULT_CACHE_ENTRIES: usize = 1024;

/// What an authorizer function decided for one identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// `isAuthorized: true`, with the `context` to pass on (empty when it returned none).
    Allow(Map<String, Value>),
    /// `isAuthorized: false`.
    Deny,
}

/// Why a request did not pass a Lambda authorizer; [`LambdaRefusal::status`] gives API
/// Gateway's answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LambdaRefusal {
    /// An identity source is missing or empty: 401, the function is not invoked.
    #[error("an identity source of the authorizer is missing or empty")]
    MissingIdentity,
    /// The function answered `isAuthorized: false`: 403.
    #[error("the authorizer denied the request")]
    Denied,
    /// The function failed, timed out or answered something else than a simple response: 500.
    #[error("the authorizer failed: {0}")]
    Failed(String),
}

impl LambdaRefusal {
    /// 401, 403 or 500.
    pub fn status(&self) -> http::StatusCode {
        match self {
            LambdaRefusal::MissingIdentity => http::StatusCode::UNAUTHORIZED,
            LambdaRefusal::Denied => http::StatusCode::FORBIDDEN,
            LambdaRefusal::Failed(_) => http::StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `message` of API Gateway's JSON answer.
    pub fn message(&self) -> &'static str {
        match self {
            LambdaRefusal::MissingIdentity => "Unauthorized",
            LambdaRefusal::Denied => "Forbidden",
            LambdaRefusal::Failed(_) => "Internal Server Error",
        }
    }
}

/// Why an authorizer's answer is not a simple response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidResponse {
    #[error("the answer is not a JSON object")]
    NotAnObject,
    #[error("`isAuthorized` is missing or not a boolean")]
    IsAuthorized,
    #[error("`context` is not an object")]
    Context,
}

/// The identity-source values of a request, in the order API Gateway lists them (headers, then
/// query strings, each in template order); `None` when any is missing or empty. Repeated
/// headers and query keys are joined by commas, as in the events.
pub fn identity_source(
    authorizer: &LambdaAuthorizer,
    headers: &HeaderMap,
    raw_query: &str,
) -> Option<Vec<String>> {
    let headers = authorizer
        .identity_headers
        .iter()
        .map(|name| event::header_value(headers, &name.to_ascii_lowercase()));
    let queries = authorizer
        .identity_query_strings
        .iter()
        .map(|name| event::query_value(raw_query, name));
    headers
        .chain(queries)
        .map(|value| value.filter(|v| !v.trim().is_empty()))
        .collect()
}

/// Reads a simple response: `{"isAuthorized": bool, "context": {...}}` (`context` optional).
///
/// # Errors
/// [`InvalidResponse`] for anything else.
pub fn read_simple_response(result: &Value) -> Result<Decision, InvalidResponse> {
    let Value::Object(object) = result else {
        return Err(InvalidResponse::NotAnObject);
    };
    let allowed = object
        .get("isAuthorized")
        .and_then(Value::as_bool)
        .ok_or(InvalidResponse::IsAuthorized)?;
    let context = match object.get("context") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(context)) => context.clone(),
        Some(_) => return Err(InvalidResponse::Context),
    };
    Ok(if allowed {
        Decision::Allow(context)
    } else {
        Decision::Deny
    })
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct CacheKey {
    authorizer: String,
    identity: Vec<String>,
}

#[derive(Debug, Clone)]
struct CacheEntry {
    decision: Decision,
    expires: Instant,
}

/// Authorizer results by authorizer and identity-source values, each for its authorizer's TTL;
/// at most `capacity` entries (expired ones go first, then those closest to expiry).
#[derive(Debug)]
pub struct DecisionCache {
    capacity: usize,
    entries: Mutex<HashMap<CacheKey, CacheEntry>>,
}

impl DecisionCache {
    /// An empty cache of at most `capacity` results (0 disables caching).
    pub fn new(capacity: usize) -> DecisionCache {
        DecisionCache {
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The cached decision of `authorizer` for `identity`, if still valid at `now`.
    pub fn get(&self, authorizer: &str, identity: &[String], now: Instant) -> Option<Decision> {
        let key = CacheKey {
            authorizer: authorizer.to_string(),
            identity: identity.to_vec(),
        };
        let mut entries = self.lock();
        match entries.get(&key) {
            Some(entry) if entry.expires > now => Some(entry.decision.clone()),
            Some(_) => {
                entries.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Remembers a decision for `ttl` from `now` (nothing when `ttl` is zero).
    pub fn insert(
        &self,
        authorizer: &str,
        identity: &[String],
        decision: Decision,
        ttl: Duration,
        now: Instant,
    ) {
        if ttl.is_zero() || self.capacity == 0 {
            return;
        }
        let Some(expires) = now.checked_add(ttl) else {
            return;
        };
        let key = CacheKey {
            authorizer: authorizer.to_string(),
            identity: identity.to_vec(),
        };
        let mut entries = self.lock();
        if !entries.contains_key(&key) && entries.len() >= self.capacity {
            entries.retain(|_, entry| entry.expires > now);
            while entries.len() >= self.capacity {
                let Some(soonest) = entries
                    .iter()
                    .min_by_key(|(_, entry)| entry.expires)
                    .map(|(key, _)| key.clone())
                else {
                    break;
                };
                entries.remove(&soonest);
            }
        }
        entries.insert(key, CacheEntry { decision, expires });
    }

    /// How many results are held (expired ones included until they are evicted).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no result is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<CacheKey, CacheEntry>> {
        // A panic while holding the lock cannot leave the map inconsistent: keep using it.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Runs `authorizer` for a request whose identity-source values are `identity`: from the cache
/// when a result for them is still valid, otherwise by invoking the function with the event
/// `event` builds (called only then).
///
/// # Errors
/// [`LambdaRefusal::Denied`] or [`LambdaRefusal::Failed`].
pub async fn authorize<I: Invoker>(
    invoker: &I,
    cache: &DecisionCache,
    authorizer: &LambdaAuthorizer,
    identity: &[String],
    event: impl FnOnce() -> Value,
) -> Result<Map<String, Value>, LambdaRefusal> {
    // Without identity sources there is nothing to key the cache by: always invoke.
    let cacheable = !authorizer.ttl.is_zero() && authorizer.has_identity_source();
    let cached = if cacheable {
        cache.get(&authorizer.name, identity, Instant::now())
    } else {
        None
    };
    let decision = match cached {
        Some(decision) => decision,
        None => {
            let result = invoker
                .invoke(&authorizer.function, event())
                .await
                .map_err(|error| LambdaRefusal::Failed(describe(&error)))?;
            let decision = read_simple_response(&result)
                .map_err(|error| LambdaRefusal::Failed(error.to_string()))?;
            if cacheable {
                cache.insert(
                    &authorizer.name,
                    identity,
                    decision.clone(),
                    authorizer.ttl,
                    Instant::now(),
                );
            }
            decision
        }
    };
    match decision {
        Decision::Allow(context) => Ok(context),
        Decision::Deny => Err(LambdaRefusal::Denied),
    }
}

/// An invocation error without the function's own message (it may quote the token).
fn describe(error: &InvokeError) -> String {
    match error {
        InvokeError::Function { error_type, .. } => format!("function error {error_type}"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;
    use serde_json::json;

    use super::*;

    fn authorizer(headers: &[&str], queries: &[&str], ttl: u64) -> LambdaAuthorizer {
        LambdaAuthorizer {
            name: "HospitalAuthorizer".into(),
            function: "AuthorizerFunction".into(),
            identity_headers: headers.iter().map(|h| h.to_string()).collect(),
            identity_query_strings: queries.iter().map(|q| q.to_string()).collect(),
            ttl: Duration::from_secs(ttl),
            simple_responses: true,
            payload_version: "2.0".into(),
        }
    }

    fn ids(values: &[&str]) -> Vec<String> {
        values.iter().map(|v| v.to_string()).collect()
    }

    #[test]
    fn identity_sources_are_headers_then_query_strings_and_all_required() {
        let a = authorizer(&["Authorization", "X-Tenant"], &["key"], 300);
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_static("Bearer t"));
        h.append("x-tenant", HeaderValue::from_static("a"));
        h.append("x-tenant", HeaderValue::from_static("b"));
        assert_eq!(
            identity_source(&a, &h, "key=1&key=2&other=x"),
            Some(ids(&["Bearer t", "a,b", "1,2"]))
        );
        assert_eq!(identity_source(&a, &h, "other=x"), None);
        assert_eq!(identity_source(&a, &h, "key="), None);
        h.insert("authorization", HeaderValue::from_static(""));
        assert_eq!(identity_source(&a, &h, "key=1"), None);
        h.remove("authorization");
        assert_eq!(identity_source(&a, &h, "key=1"), None);
        let none = authorizer(&[], &[], 0);
        assert_eq!(
            identity_source(&none, &HeaderMap::new(), ""),
            Some(Vec::new())
        );
    }

    #[test]
    fn simple_responses_are_read_strictly() {
        assert_eq!(
            read_simple_response(&json!({"isAuthorized": true, "context": {"a": 1, "b": [true]}})),
            Ok(Decision::Allow(
                json!({"a": 1, "b": [true]})
                    .as_object()
                    .cloned()
                    .expect("map")
            ))
        );
        assert_eq!(
            read_simple_response(&json!({"isAuthorized": true})),
            Ok(Decision::Allow(Map::new()))
        );
        assert_eq!(
            read_simple_response(&json!({"isAuthorized": false, "context": {"a": 1}})),
            Ok(Decision::Deny)
        );
        assert_eq!(
            read_simple_response(&json!({"isAuthorized": "true"})),
            Err(InvalidResponse::IsAuthorized)
        );
        assert_eq!(
            read_simple_response(&json!({"principalId": "x", "policyDocument": {}})),
            Err(InvalidResponse::IsAuthorized)
        );
        assert_eq!(
            read_simple_response(&json!({"isAuthorized": true, "context": "x"})),
            Err(InvalidResponse::Context)
        );
        assert_eq!(
            read_simple_response(&json!("allow")),
            Err(InvalidResponse::NotAnObject)
        );
    }

    #[test]
    fn cached_decisions_expire_after_their_ttl() {
        let cache = DecisionCache::new(8);
        let t0 = Instant::now();
        let ttl = Duration::from_secs(300);
        let id = ids(&["Bearer a"]);
        cache.insert("A", &id, Decision::Deny, ttl, t0);
        assert_eq!(cache.get("A", &id, t0), Some(Decision::Deny));
        assert_eq!(cache.get("B", &id, t0), None, "keyed by authorizer too");
        assert_eq!(cache.get("A", &ids(&["Bearer b"]), t0), None);
        assert_eq!(
            cache.get("A", &id, t0 + Duration::from_secs(299)),
            Some(Decision::Deny)
        );
        assert_eq!(cache.get("A", &id, t0 + ttl), None);
        assert!(cache.is_empty(), "an expired entry is dropped when seen");
        cache.insert("A", &id, Decision::Deny, Duration::ZERO, t0);
        assert!(cache.is_empty(), "a zero TTL caches nothing");
    }

    #[test]
    fn the_cache_is_bounded() {
        let cache = DecisionCache::new(3);
        let t0 = Instant::now();
        let secs = Duration::from_secs;
        cache.insert("A", &ids(&["1"]), Decision::Deny, secs(10), t0);
        cache.insert("A", &ids(&["2"]), Decision::Deny, secs(100), t0);
        cache.insert("A", &ids(&["3"]), Decision::Deny, secs(50), t0);
        // Full: the entry closest to expiry makes room.
        cache.insert("A", &ids(&["4"]), Decision::Deny, secs(100), t0);
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.get("A", &ids(&["1"]), t0), None);
        assert!(cache.get("A", &ids(&["3"]), t0).is_some());
        // Expired entries go first, however many there are.
        let later = t0 + secs(60);
        cache.insert("A", &ids(&["5"]), Decision::Deny, secs(100), later);
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.get("A", &ids(&["3"]), later), None);
        assert!(cache.get("A", &ids(&["2"]), later).is_some());
        assert!(cache.get("A", &ids(&["4"]), later).is_some());
        assert!(cache.get("A", &ids(&["5"]), later).is_some());
        // Replacing an existing key needs no room.
        cache.insert("A", &ids(&["5"]), Decision::Deny, secs(100), later);
        assert_eq!(cache.len(), 3);
        let none = DecisionCache::new(0);
        none.insert("A", &ids(&["1"]), Decision::Deny, secs(10), t0);
        assert!(none.is_empty());
    }

    #[test]
    fn refusals_map_to_api_gateway_answers() {
        assert_eq!(LambdaRefusal::MissingIdentity.status(), 401);
        assert_eq!(LambdaRefusal::MissingIdentity.message(), "Unauthorized");
        assert_eq!(LambdaRefusal::Denied.status(), 403);
        assert_eq!(LambdaRefusal::Denied.message(), "Forbidden");
        let failed = LambdaRefusal::Failed("x".into());
        assert_eq!(failed.status(), 500);
        assert_eq!(failed.message(), "Internal Server Error");
        let described = describe(&InvokeError::Function {
            error_type: "Invalid".into(),
            error_message: "token abc.def.ghi".into(),
        });
        assert!(!described.contains("abc"), "{described}");
    }
}
