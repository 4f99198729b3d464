//! Signing keys of token issuers (JWKS), fetched over HTTP and cached by key id. An unknown
//! `kid` (keys rotate) triggers a refetch, at most once per refetch interval, so a flood of forged
//! tokens cannot turn into a flood of fetches. Used by the clinic's authorizer function and by the
//! local runner's gateway.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::JwkSet;

/// Why no key could be found for a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwksError {
    #[error("the key set at {url} could not be fetched: {reason}")]
    Fetch { url: String, reason: String },
    #[error("no key `{0}` in the key set")]
    UnknownKid(String),
}

#[derive(Default)]
struct KeySet {
    keys: HashMap<String, Arc<DecodingKey>>,
    fetched_at: Option<Instant>,
}

/// Cached key sets, one per JWKS URL.
pub struct JwksCache {
    http: reqwest::Client,
    refetch_interval: Duration,
    sets: Mutex<HashMap<String, KeySet>>,
}

impl std::fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksCache")
            .field("refetch_interval", &self.refetch_interval)
            .finish_non_exhaustive()
    }
}

impl JwksCache {
    /// A cache that fetches with `http` and refetches a set for an unknown `kid` at most once per
    /// `refetch_interval`.
    pub fn new(http: reqwest::Client, refetch_interval: Duration) -> JwksCache {
        JwksCache {
            http,
            refetch_interval,
            sets: Mutex::new(HashMap::new()),
        }
    }

    /// The key `kid` of the set at `url`.
    ///
    /// # Errors
    /// [`JwksError`] when the set cannot be fetched or has no such key.
    pub async fn key(&self, url: &str, kid: &str) -> Result<Arc<DecodingKey>, JwksError> {
        let may_fetch = {
            let sets = self.lock();
            let set = sets.get(url);
            if let Some(key) = set.and_then(|s| s.keys.get(kid)) {
                return Ok(Arc::clone(key));
            }
            set.and_then(|s| s.fetched_at)
                .is_none_or(|at| at.elapsed() >= self.refetch_interval)
        };
        if !may_fetch {
            return Err(JwksError::UnknownKid(kid.to_string()));
        }
        let keys = self.fetch(url).await?;
        let found = keys.get(kid).cloned();
        self.lock().insert(
            url.to_string(),
            KeySet {
                keys,
                fetched_at: Some(Instant::now()),
            },
        );
        found.ok_or_else(|| JwksError::UnknownKid(kid.to_string()))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, KeySet>> {
        // The map is only ever replaced whole, so a poisoned lock still holds consistent data.
        self.sets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn fetch(&self, url: &str) -> Result<HashMap<String, Arc<DecodingKey>>, JwksError> {
        let failed = |reason: String| JwksError::Fetch {
            url: url.to_string(),
            reason,
        };
        tracing::debug!(url, "fetching signing keys");
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| failed(e.to_string()))?;
        if !response.status().is_success() {
            return Err(failed(format!("status {}", response.status())));
        }
        let set: JwkSet = response.json().await.map_err(|e| failed(e.to_string()))?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let Some(kid) = jwk.common.key_id.clone() else {
                continue;
            };
            match DecodingKey::from_jwk(jwk) {
                Ok(key) => {
                    keys.insert(kid, Arc::new(key));
                }
                Err(e) => tracing::warn!(url, kid, error = %e, "unusable key in key set"),
            }
        }
        Ok(keys)
    }
}
