//! Time spent waiting on AWS, per request: every SDK client built here carries [`CallTimer`],
//! which adds the wall time of each call (retries included) to the request's [`AwsTime`] when
//! one is in scope. The HTTP edge scopes one around every request and logs both figures, so the
//! time a handler spends in its own code is the difference (README, "Performance").

use std::cell::Cell;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::interceptors::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_smithy_types::config_bag::{Storable, StoreReplace};

tokio::task_local! {
    static AWS_TIME: AwsTime;
}

/// What a request spent in AWS calls so far.
#[derive(Debug, Default)]
pub struct AwsTime {
    calls: Cell<u32>,
    micros: Cell<u64>,
}

impl AwsTime {
    fn add(&self, elapsed: Duration) {
        self.calls.set(self.calls.get().saturating_add(1));
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.micros.set(self.micros.get().saturating_add(micros));
    }
}

/// Runs `work` with a fresh account of AWS time; returns its output, the number of AWS calls
/// it made and the time they took.
pub async fn measured<F: Future>(work: F) -> (F::Output, u32, Duration) {
    AWS_TIME
        .scope(AwsTime::default(), async move {
            let output = work.await;
            let (calls, micros) = AWS_TIME
                .try_with(|t| (t.calls.get(), t.micros.get()))
                .unwrap_or_default();
            (output, calls, Duration::from_micros(micros))
        })
        .await
}

/// When the current call started (kept in the call's own configuration bag).
#[derive(Debug, Clone, Copy)]
struct CallStarted(Instant);

impl Storable for CallStarted {
    type Storer = StoreReplace<Self>;
}

/// The interceptor timing each SDK call.
#[derive(Debug, Clone, Copy)]
pub struct CallTimer;

impl Intercept for CallTimer {
    fn name(&self) -> &'static str {
        "CallTimer"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state()
            .store_put(CallStarted(Instant::now()));
        Ok(())
    }

    fn read_after_execution(
        &self,
        _context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(CallStarted(started)) = cfg.load::<CallStarted>().copied() {
            // Outside a measured request (a consumer, a test) there is nothing to add to.
            let _ = AWS_TIME.try_with(|t| t.add(started.elapsed()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn adds_up_calls_inside_the_scope_only() {
        let ((), calls, time) = measured(async {
            AWS_TIME.with(|t| t.add(Duration::from_millis(2)));
            AWS_TIME.with(|t| t.add(Duration::from_millis(3)));
        })
        .await;
        assert_eq!(calls, 2);
        assert_eq!(time, Duration::from_millis(5));
        assert!(AWS_TIME.try_with(|_| ()).is_err());
    }
}
