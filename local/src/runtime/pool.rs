//! One function's instances and what an invocation does from the caller's side: wait for
//! capacity (at most `limit` instances busy; where Lambda would scale out, invocations wait for
//! one, a bounded number of them for a bounded time), take a warm
//! instance or start one (a cold start), run, print and publish the report, then keep the
//! instance warm or replace it (after a timeout or a crash).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::body::Bytes;
use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};

use crate::model::InvokeError;

use super::instance::{Instance, Plan, Run, RunOutcome};
use super::process::Process;
use super::report::{self, InitStatus, InvocationReport, Outcome};
use super::{Shared, THROTTLED_ERROR_TYPE, ids};

/// Counts of one function's instances at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolStats {
    /// Most instances that may run at once (`max_instances`, lowered by reserved concurrency).
    pub limit: u32,
    /// Processes running now (idle, busy or initialising).
    pub live: usize,
    /// Warm instances waiting for an invocation.
    pub idle: usize,
    /// Invocations waiting for a free instance.
    pub queued: usize,
    /// Instances started so far (cold starts and warm-ups, failed ones included).
    pub started: u64,
}

/// The instances of one function.
pub(crate) struct FunctionPool {
    plan: Plan,
    timeout: Duration,
    memory_mb: u32,
    limit: u32,
    shared: Arc<Shared>,
    /// One permit per instance that may be busy (or starting) at once.
    permits: Arc<Semaphore>,
    queued: AtomicUsize,
    next_id: AtomicU64,
    started: AtomicU64,
    state: Mutex<PoolState>,
}

#[derive(Default)]
struct PoolState {
    /// Warm instances, the most recently used last.
    idle: Vec<Instance>,
    /// Every process not yet retired, by instance id (to stop them at shutdown).
    live: BTreeMap<u64, Process>,
}

impl FunctionPool {
    pub(crate) fn new(
        plan: Plan,
        timeout: Duration,
        memory_mb: u32,
        limit: u32,
        shared: Arc<Shared>,
    ) -> Self {
        Self {
            plan,
            timeout,
            memory_mb,
            limit,
            shared,
            permits: Arc::new(Semaphore::new(usize::try_from(limit).unwrap_or(usize::MAX))),
            queued: AtomicUsize::new(0),
            next_id: AtomicU64::new(1),
            started: AtomicU64::new(0),
            state: Mutex::new(PoolState::default()),
        }
    }

    fn state(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn function(&self) -> &str {
        &self.plan.function
    }

    /// Its instance counts now.
    pub(crate) fn stats(&self) -> PoolStats {
        let state = self.state();
        PoolStats {
            limit: self.limit,
            live: state
                .live
                .values()
                .filter(|process| !process.has_exited())
                .count(),
            idle: state.idle.len(),
            queued: self.queued.load(Ordering::SeqCst),
            started: self.started.load(Ordering::SeqCst),
        }
    }

    /// Runs one invocation.
    pub(crate) async fn invoke(&self, payload: Value) -> Result<Value, InvokeError> {
        if self.limit == 0 {
            return Err(self.throttled("its reserved concurrency is 0"));
        }
        let _in_flight = self.shared.begin_invocation()?;
        // Held until the instance is back in the pool (or retired), so that an invocation that
        // gets the permit next finds it.
        let _permit = self.acquire().await?;
        let (instance, cold) = match self.take_idle() {
            Some(instance) => (instance, false),
            None => (self.start_instance().await?, true),
        };
        let function = self.function();
        let request_id = ids::request_id();
        let start = report::start_line(&request_id);
        self.shared.output.runner_line(function, &start);
        let body = Bytes::from(payload.to_string());
        let run = instance
            .run(&request_id, body, self.timeout, &self.plan.function_arn)
            .await;
        self.publish(&request_id, &instance, &run, cold);
        match run.outcome {
            RunOutcome::Response(body) => {
                self.keep(instance);
                Ok(parse_response(function, &request_id, &body))
            }
            RunOutcome::FunctionError(failure) => {
                self.keep(instance);
                Err(InvokeError::Function {
                    error_type: failure.error_type,
                    error_message: failure.error_message,
                })
            }
            RunOutcome::Timeout => {
                let (pid, timeout) = (instance.pid(), self.timeout);
                tracing::warn!(%function, %request_id, pid, ?timeout, "timed out; replacing it");
                self.retire(instance).await;
                Err(InvokeError::Timeout(self.timeout))
            }
            RunOutcome::Crashed(reason) => {
                self.retire(instance).await;
                if self.shared.is_stopping() {
                    return Err(InvokeError::ShuttingDown);
                }
                let message = format!("{function} (request {request_id}): {reason}");
                tracing::warn!(%function, %request_id, %message, "instance crashed; replacing it");
                Err(InvokeError::Crashed(message))
            }
        }
    }

    /// Prints what Lambda logs after an invocation (timeout or error line, `END`, `REPORT`) and
    /// broadcasts its report.
    fn publish(&self, request_id: &str, instance: &Instance, run: &Run, cold: bool) {
        let function = self.function();
        let output = &self.shared.output;
        match &run.outcome {
            RunOutcome::Timeout => output.runner_line(
                function,
                &format!(
                    "{request_id} Task timed out after {:.2} seconds",
                    self.timeout.as_secs_f64()
                ),
            ),
            RunOutcome::FunctionError(failure) => {
                let document = serde_json::json!({
                    "errorType": failure.error_type,
                    "errorMessage": failure.error_message,
                    "stackTrace": failure.stack_trace,
                });
                output.runner_line(
                    function,
                    &format!("{request_id} ERROR Invoke Error {document}"),
                );
            }
            RunOutcome::Response(_) | RunOutcome::Crashed(_) => {}
        }
        output.runner_line(function, &report::end_line(request_id));
        let init_duration = cold.then(|| instance.init_duration());
        let outcome = match &run.outcome {
            RunOutcome::Response(_) => Outcome::Success,
            RunOutcome::FunctionError(failure) => Outcome::FunctionError {
                error_type: failure.error_type.clone(),
            },
            RunOutcome::Timeout => Outcome::Timeout,
            RunOutcome::Crashed(_) => Outcome::Crashed,
        };
        if run.max_memory_mb > u64::from(self.memory_mb) {
            tracing::warn!(
                %function,
                %request_id,
                max_memory_mb = run.max_memory_mb,
                memory_size_mb = self.memory_mb,
                "the function used more memory than its MemorySize; \
                 Lambda would end it with Runtime.OutOfMemory"
            );
        }
        output.report(InvocationReport {
            function: function.to_owned(),
            request_id: request_id.to_owned(),
            pid: instance.pid(),
            duration: run.duration,
            billed: report::billed(run.duration, init_duration),
            memory_size_mb: self.memory_mb,
            max_memory_mb: run.max_memory_mb,
            init_duration,
            outcome,
        });
    }

    /// Makes sure one instance has initialised and is waiting warm, starting one when none is.
    pub(crate) async fn warm_up(&self) -> Result<(), InvokeError> {
        if self.limit == 0 {
            tracing::info!(function = %self.function(), "reserved concurrency is 0: not started");
            return Ok(());
        }
        if self.shared.is_stopping() {
            return Err(InvokeError::ShuttingDown);
        }
        let _permit = self.acquire().await?;
        if let Some(instance) = self.take_idle() {
            self.keep(instance);
            return Ok(());
        }
        let instance = self.start_instance().await?;
        self.shared.output.runner_line(
            self.function(),
            &report::init_report_line(instance.init_duration(), &InitStatus::Ready),
        );
        self.keep(instance);
        Ok(())
    }

    /// Stops accepting invocations: those waiting for an instance fail with
    /// [`InvokeError::ShuttingDown`].
    pub(crate) fn close(&self) {
        self.permits.close();
    }

    /// Stops every process (SIGTERM, SIGKILL after `grace`) and drops the instances.
    pub(crate) async fn stop(&self, grace: Duration) {
        let processes: Vec<Process> = self.state().live.values().cloned().collect();
        let stopping = processes
            .iter()
            .filter(|process| !process.has_exited())
            .count();
        futures::future::join_all(processes.iter().map(|process| process.stop(grace))).await;
        let mut state = self.state();
        state.idle.clear();
        state.live.clear();
        if stopping > 0 {
            tracing::info!(function = %self.function(), instances = stopping, "stopped");
        }
    }

    /// A permit to use an instance: at once when one is free, else after waiting in the queue.
    async fn acquire(&self) -> Result<OwnedSemaphorePermit, InvokeError> {
        match Arc::clone(&self.permits).try_acquire_owned() {
            Ok(permit) => return Ok(permit),
            Err(TryAcquireError::Closed) => return Err(InvokeError::ShuttingDown),
            Err(TryAcquireError::NoPermits) => {}
        }
        let max_queued = self.shared.config.max_queued;
        let Some(_slot) = QueueSlot::take(&self.queued, max_queued) else {
            return Err(self.throttled(&format!(
                "all {} of its instances are busy and {max_queued} invocations are already waiting",
                self.limit
            )));
        };
        let wait = self.shared.config.max_wait;
        match tokio::time::timeout(wait, Arc::clone(&self.permits).acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_)) => Err(InvokeError::ShuttingDown),
            Err(_) => Err(InvokeError::Timeout(wait)),
        }
    }

    fn throttled(&self, reason: &str) -> InvokeError {
        InvokeError::Function {
            error_type: THROTTLED_ERROR_TYPE.to_owned(),
            error_message: format!("Rate Exceeded: {} is throttled ({reason})", self.function()),
        }
    }

    /// A warm instance, dropping any whose process has gone meanwhile.
    fn take_idle(&self) -> Option<Instance> {
        let mut state = self.state();
        while let Some(instance) = state.idle.pop() {
            if instance.is_alive() {
                return Some(instance);
            }
            let (function, pid) = (self.function(), instance.pid());
            tracing::info!(%function, pid, "an idle instance exited");
            state.live.remove(&instance.id());
        }
        None
    }

    /// Puts an instance back, warm.
    fn keep(&self, instance: Instance) {
        self.state().idle.push(instance);
    }

    /// Kills an instance that must not be reused and forgets it.
    async fn retire(&self, instance: Instance) {
        instance.process().kill().await;
        self.state().live.remove(&instance.id());
    }

    /// Starts a new instance (its permit already held).
    async fn start_instance(&self) -> Result<Instance, InvokeError> {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        self.started.fetch_add(1, Ordering::SeqCst);
        let started = Instance::start(&self.plan, id, &self.shared, |process| {
            self.state().live.insert(id, process.clone());
        })
        .await;
        match started {
            Ok(instance) => Ok(instance),
            Err(error) => {
                self.state().live.remove(&id);
                if self.shared.is_stopping() {
                    Err(InvokeError::ShuttingDown)
                } else {
                    Err(error)
                }
            }
        }
    }
}

/// A place in a function's queue, given back on drop.
struct QueueSlot<'a>(&'a AtomicUsize);

impl<'a> QueueSlot<'a> {
    /// A place, unless `max` invocations are already waiting.
    fn take(queued: &'a AtomicUsize, max: usize) -> Option<Self> {
        queued
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |waiting| {
                (waiting < max).then_some(waiting + 1)
            })
            .ok()
            .map(|_| Self(queued))
    }
}

impl Drop for QueueSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The function's answer as JSON: `null` when empty, the text as a JSON string when it is not
/// JSON (logged).
fn parse_response(function: &str, request_id: &str, body: &[u8]) -> Value {
    if body.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(body).unwrap_or_else(|error| {
        tracing::warn!(%function, %request_id, %error, "response not JSON; passed on as a string");
        Value::String(String::from_utf8_lossy(body).into_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_is_bounded_and_slots_come_back() {
        let queued = AtomicUsize::new(0);
        let first = QueueSlot::take(&queued, 2).expect("first");
        let second = QueueSlot::take(&queued, 2).expect("second");
        assert!(QueueSlot::take(&queued, 2).is_none());
        drop(first);
        assert!(QueueSlot::take(&queued, 2).is_some());
        drop(second);
        assert_eq!(queued.load(Ordering::SeqCst), 0);
        assert!(QueueSlot::take(&queued, 0).is_none());
    }

    #[test]
    fn responses_are_json_when_they_can_be() {
        assert_eq!(
            parse_response("F", "r", br#"{"a":1}"#),
            serde_json::json!({"a": 1})
        );
        assert_eq!(parse_response("F", "r", b""), Value::Null);
        assert_eq!(
            parse_response("F", "r", b"plain"),
            Value::String("plain".into())
        );
    }
}
