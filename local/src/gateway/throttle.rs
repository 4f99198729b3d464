//! Route throttles as API Gateway applies them (`ThrottlingRateLimit`, `ThrottlingBurstLimit`):
//! a token bucket per route holding at most `burst` requests, refilled at `rate` a second; a
//! request that finds it empty is answered `429` with how long until a token is back.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::model::RouteThrottle;

/// One route's bucket.
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    /// Tokens left and when they were counted.
    state: Mutex<(f64, Instant)>,
}

impl TokenBucket {
    /// A full bucket for `throttle`, counted from `now`.
    pub fn new(throttle: RouteThrottle, now: Instant) -> Self {
        let burst = f64::from(throttle.burst.max(1));
        Self {
            rate: f64::from(throttle.rate_per_second),
            burst,
            state: Mutex::new((burst, now)),
        }
    }

    /// Takes a token for a request arriving at `now`.
    ///
    /// # Errors
    /// How long until the next token, when none is left (never less than a second: what
    /// `Retry-After` can say).
    pub fn take(&self, now: Instant) -> Result<(), Duration> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let (tokens, counted) = *state;
        let elapsed = now.saturating_duration_since(counted).as_secs_f64();
        let tokens = (tokens + elapsed * self.rate).min(self.burst);
        if tokens >= 1.0 {
            *state = (tokens - 1.0, now);
            return Ok(());
        }
        *state = (tokens, now);
        let wait = if self.rate > 0.0 {
            (1.0 - tokens) / self.rate
        } else {
            f64::MAX
        };
        Err(Duration::from_secs_f64(wait.clamp(1.0, 3600.0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(rate: u32, burst: u32, now: Instant) -> TokenBucket {
        TokenBucket::new(
            RouteThrottle {
                rate_per_second: rate,
                burst,
            },
            now,
        )
    }

    #[test]
    fn a_burst_passes_then_the_rate_holds() {
        let start = Instant::now();
        let bucket = bucket(10, 20, start);
        for _ in 0..20 {
            assert_eq!(bucket.take(start), Ok(()));
        }
        assert_eq!(bucket.take(start), Err(Duration::from_secs(1)));
        // A tenth of a second brings one token back at 10 a second.
        let later = start + Duration::from_millis(100);
        assert_eq!(bucket.take(later), Ok(()));
        assert!(bucket.take(later).is_err());
    }

    #[test]
    fn an_idle_bucket_refills_no_further_than_its_burst() {
        let start = Instant::now();
        let bucket = bucket(100, 5, start);
        let later = start + Duration::from_secs(60);
        for _ in 0..5 {
            assert_eq!(bucket.take(later), Ok(()));
        }
        assert!(bucket.take(later).is_err());
    }

    #[test]
    fn a_slow_rate_asks_for_a_longer_wait() {
        let start = Instant::now();
        let bucket = bucket(0, 1, start);
        assert_eq!(bucket.take(start), Ok(()));
        assert_eq!(bucket.take(start), Err(Duration::from_secs(3600)));
    }
}
