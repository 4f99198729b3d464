//! A small in-function cache for hot catalogue reads: a bounded LRU whose entries expire after a
//! few seconds. A warm Lambda instance answers repeated queries from memory; a stale answer is
//! at most `ttl` old, which bookings tolerate because the booking transaction re-checks the slot.

use std::hash::Hash;
use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use lru::LruCache;

/// Entries live `ttl`; at most `capacity` are kept (least recently used evicted first).
pub struct TtlCache<K: Hash + Eq, V> {
    entries: Mutex<LruCache<K, (Instant, V)>>,
    ttl: Duration,
}

impl<K: Hash + Eq, V: Clone> TtlCache<K, V> {
    /// A cache of at most `capacity` entries (at least 1) living `ttl` each. A zero `ttl`
    /// disables caching.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        let capacity = NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN);
        Self {
            entries: Mutex::new(LruCache::new(capacity)),
            ttl,
        }
    }

    /// The fresh value for `key`, if any.
    pub fn get(&self, key: &K) -> Option<V> {
        self.get_at(key, Instant::now())
    }

    fn get_at(&self, key: &K, now: Instant) -> Option<V> {
        let mut entries = self.entries.lock().ok()?;
        match entries.get(key) {
            Some((stored, value)) if now.duration_since(*stored) < self.ttl => Some(value.clone()),
            Some(_) => {
                entries.pop(key);
                None
            }
            None => None,
        }
    }

    /// Keeps `value` for `key`.
    pub fn put(&self, key: K, value: V) {
        self.put_at(key, value, Instant::now());
    }

    fn put_at(&self, key: K, value: V, now: Instant) {
        if self.ttl.is_zero() {
            return;
        }
        if let Ok(mut entries) = self.entries.lock() {
            entries.put(key, (now, value));
        }
    }

    /// Forgets everything (after this instance changed what it caches).
    pub fn clear(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
        }
    }

    /// How many entries are held (fresh or not yet evicted).
    pub fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_after_the_ttl() {
        let cache = TtlCache::new(10, Duration::from_secs(5));
        let start = Instant::now();
        cache.put_at("a", 1, start);
        assert_eq!(cache.get_at(&"a", start + Duration::from_secs(4)), Some(1));
        assert_eq!(cache.get_at(&"a", start + Duration::from_secs(5)), None);
        assert!(cache.is_empty(), "an expired entry is dropped when seen");
    }

    #[test]
    fn memory_is_bounded() {
        let cache = TtlCache::new(2, Duration::from_secs(60));
        cache.put("a", 1);
        cache.put("b", 2);
        assert_eq!(cache.get(&"a"), Some(1));
        cache.put("c", 3);
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get(&"b"), None, "least recently used goes first");
        assert_eq!(cache.get(&"a"), Some(1));
        cache.clear();
        assert!(cache.is_empty());
    }

    #[test]
    fn a_zero_ttl_disables_caching() {
        let cache = TtlCache::new(2, Duration::ZERO);
        cache.put("a", 1);
        assert_eq!(cache.get(&"a"), None);
    }
}
