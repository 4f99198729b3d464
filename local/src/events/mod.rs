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

/// A dependency that fails for a while is reported when it starts failing and when it works
/// again — not at every poll.
#[derive(Debug)]
pub(crate) struct Outage {
    since: Option<Instant>,
    failures: u64,
}

impl Outage {
    pub(crate) fn new() -> Self {
        Self {
            since: None,
            failures: 0,
        }
    }

    /// Counts a failure; true for the first of an outage (the one to log).
    pub(crate) fn failed(&mut self) -> bool {
        self.failures += 1;
        if self.since.is_none() {
            self.since = Some(Instant::now());
            return true;
        }
        false
    }

    /// Ends an outage: how long it lasted and how many polls failed, if there was one.
    pub(crate) fn recovered(&mut self) -> Option<(std::time::Duration, u64)> {
        let since = self.since.take()?;
        let failures = std::mem::take(&mut self.failures);
        Some((since.elapsed(), failures))
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
