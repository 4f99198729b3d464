//! The time the services act on. Use cases read it from an injected [`Clock`], never from the
//! system directly, so a test can stand at a chosen moment (just before a slot starts, at the end
//! of a rate window) instead of racing the real one.

use std::sync::Arc;

use jiff::Timestamp;

/// Where the current time comes from.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;

    /// The current time in milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64 {
        u64::try_from(self.now().as_millisecond()).unwrap_or(0)
    }
}

/// A clock held by several components.
pub type SharedClock = Arc<dyn Clock>;

/// The system's clock, what every function runs on.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// The system clock, shared.
#[must_use]
pub fn system() -> SharedClock {
    Arc::new(SystemClock)
}

/// A clock that stands still until a test sets or advances it. Clones share the time.
#[cfg(any(test, feature = "testing"))]
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<std::sync::Mutex<Timestamp>>);

#[cfg(any(test, feature = "testing"))]
impl ManualClock {
    /// A clock standing at `at`.
    #[must_use]
    pub fn at(at: Timestamp) -> Self {
        Self(Arc::new(std::sync::Mutex::new(at)))
    }

    /// A clock standing at the system's current time (whole milliseconds).
    #[must_use]
    pub fn starting_now() -> Self {
        let now = Timestamp::now();
        Self::at(Timestamp::from_millisecond(now.as_millisecond()).unwrap_or(now))
    }

    pub fn set(&self, at: Timestamp) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = at;
    }

    pub fn advance(&self, by: jiff::SignedDuration) {
        let mut now = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *now = now.checked_add(by).unwrap_or(*now);
    }
}

#[cfg(any(test, feature = "testing"))]
impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told_and_its_clones_follow() {
        let start = Timestamp::from_second(1_800_000_000).expect("time");
        let clock = ManualClock::at(start);
        let seen_by_a_component = clock.clone();
        assert_eq!(seen_by_a_component.now(), start);
        clock.advance(jiff::SignedDuration::from_secs(90));
        assert_eq!(seen_by_a_component.now_ms(), 1_800_000_090_000);
        clock.set(start);
        assert_eq!(seen_by_a_component.now(), start);
    }

    #[test]
    fn the_system_clock_is_the_current_time() {
        let before = Timestamp::now();
        let read = SystemClock.now();
        assert!(read >= before && read <= Timestamp::now());
    }
}
