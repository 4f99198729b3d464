//! Event-source mappings: what Lambda's pollers do for SQS queues, DynamoDB streams and
//! schedules, done here against the emulator and the runner's functions.

pub mod cursor;
pub mod filter;
pub mod schedule;
pub mod sqs;
pub mod streams;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::model::{EventSource, InvokeError, Invoker, LocalStack};

/// Tells the stream pollers that an invocation just ended — it may have written to a table — so
/// they read their streams now instead of at their next idle poll.
#[derive(Debug, Clone)]
pub struct Nudge(Arc<watch::Sender<u64>>);

impl Default for Nudge {
    fn default() -> Self {
        Self(Arc::new(watch::channel(0).0))
    }
}

impl Nudge {
    /// Wakes every subscriber (one wake-up is kept for a subscriber that is busy).
    pub fn poke(&self) {
        self.0.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A receiver whose `changed()` resolves after the next poke.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.0.subscribe()
    }
}

/// An invoker that pokes a [`Nudge`] after every invocation.
pub struct Nudging<I> {
    inner: Arc<I>,
    nudge: Nudge,
}

impl<I> Nudging<I> {
    pub fn new(inner: Arc<I>, nudge: Nudge) -> Self {
        Self { inner, nudge }
    }
}

impl<I: Invoker> Invoker for Nudging<I> {
    fn invoke(
        &self,
        function: &str,
        payload: serde_json::Value,
    ) -> impl Future<Output = Result<serde_json::Value, InvokeError>> + Send {
        let inner = self.inner.clone();
        let nudge = self.nudge.clone();
        let function = function.to_string();
        async move {
            let result = inner.invoke(&function, payload).await;
            nudge.poke();
            result
        }
    }
}

/// What the pollers share besides the stack.
#[derive(Debug, Clone, Default)]
pub struct PollerSettings {
    /// Poked after invocations: stream pollers read at once.
    pub nudge: Nudge,
    /// Where stream pollers keep their place across restarts of the runner (`None`: in memory).
    pub checkpoint_dir: Option<PathBuf>,
}

/// A failed call to the emulator by a poller.
#[derive(Debug, Clone)]
pub(crate) struct CallError {
    /// The emulator could not be reached, or no longer has the queue or table: the watchdog
    /// reports that (and provisions again), once for every poller.
    pub(crate) watched: bool,
    pub(crate) text: String,
}

impl CallError {
    pub(crate) fn of<E, R>(err: &aws_sdk_dynamodb::error::SdkError<E, R>) -> Self
    where
        E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
        let gone = err
            .as_service_error()
            .and_then(ProvideErrorMetadata::code)
            .is_some_and(|code| code.contains("NotFound") || code.contains("NonExistent"));
        CallError {
            watched: gone
                || matches!(
                    err,
                    SdkError::DispatchFailure(_) | SdkError::TimeoutError(_)
                ),
            text: clinic_shared::aws::error_text(err),
        }
    }
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// A dependency that fails for a while is reported when it starts failing and when it works
/// again — not at every poll; failures that someone else reports (`quiet`) not at all.
#[derive(Debug, Default)]
pub(crate) struct Outage {
    since: Option<Instant>,
    failures: u64,
    reported: bool,
}

impl Outage {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Counts a failure; true for the one to log: the first that is not `quiet` in an outage.
    pub(crate) fn failed(&mut self, quiet: bool) -> bool {
        self.failures += 1;
        self.since.get_or_insert_with(Instant::now);
        if quiet || self.reported {
            return false;
        }
        self.reported = true;
        true
    }

    /// Ends an outage: how long it lasted and how many polls failed, if it was reported.
    pub(crate) fn recovered(&mut self) -> Option<(std::time::Duration, u64)> {
        let since = self.since.take()?;
        let failures = std::mem::take(&mut self.failures);
        std::mem::take(&mut self.reported).then(|| (since.elapsed(), failures))
    }
}

/// Starts one poller task per event source of every function; they stop when `stop` turns true.
pub fn start<I: Invoker>(
    stack: &LocalStack,
    invoker: Arc<I>,
    sdk: &aws_config::SdkConfig,
    stop: watch::Receiver<bool>,
    settings: &PollerSettings,
) -> JoinSet<()> {
    let mut tasks = JoinSet::new();
    let sqs_client = aws_sdk_sqs::Client::new(sdk);
    let streams_client = aws_sdk_dynamodbstreams::Client::new(sdk);
    for function in &stack.functions {
        for source in &function.events {
            let name = function.logical_id.clone();
            let invoker = invoker.clone();
            let stop = stop.clone();
            match source {
                EventSource::Sqs(source) => {
                    let pollers = source.maximum_concurrency.unwrap_or(2).clamp(1, 5);
                    for _ in 0..pollers {
                        let poller = sqs::SqsPoller::new(
                            sqs_client.clone(),
                            invoker.clone(),
                            name.clone(),
                            source.clone(),
                        );
                        tasks.spawn(poller.run(stop.clone()));
                    }
                }
                EventSource::DynamoStream(source) => {
                    let poller = streams::StreamPoller::new(
                        streams_client.clone(),
                        sqs_client.clone(),
                        invoker,
                        name,
                        source.clone(),
                    )
                    .with_checkpoints(settings.checkpoint_dir.clone());
                    tasks.spawn(poller.run(stop, settings.nudge.subscribe()));
                }
                EventSource::Schedule(source) => {
                    tasks.spawn(schedule::run(invoker, name, source.clone(), stop));
                }
                EventSource::Http(_) => {}
            }
        }
    }
    tasks
}

/// Waits until `stop` turns true or `duration` passes; true when stopping.
pub(crate) async fn stopped_within(
    stop: &mut watch::Receiver<bool>,
    duration: std::time::Duration,
) -> bool {
    if *stop.borrow() {
        return true;
    }
    tokio::select! {
        changed = stop.changed() => changed.is_err() || *stop.borrow(),
        () = tokio::time::sleep(duration) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_is_reported_once_and_its_end_only_when_it_was_reported() {
        let mut outage = Outage::new();
        assert!(outage.failed(false));
        assert!(!outage.failed(false));
        assert!(!outage.failed(true));
        assert_eq!(outage.recovered().map(|(_, n)| n), Some(3));
        assert_eq!(outage.recovered(), None);
        // Failures someone else reports stay quiet, and so does their end.
        assert!(!outage.failed(true));
        assert_eq!(outage.recovered(), None);
        assert!(!outage.failed(true));
        assert!(
            outage.failed(false),
            "a failure of its own is still reported"
        );
    }
}
