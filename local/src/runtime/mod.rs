//! Runs the real function binaries the way Lambda runs a custom runtime, without containers.
//!
//! Each function has a pool of instances (execution environments). An instance is one child
//! process of the function's binary with its own Lambda Runtime API endpoint on `127.0.0.1`
//! (`AWS_LAMBDA_RUNTIME_API`), so the runtime always knows which process took which invocation:
//! that is what lets it kill the right process on a timeout, name the invocation a crash ended,
//! read the process's peak memory and tell cold starts from warm ones.
//!
//! - Instances start lazily (a cold start) when an invocation finds none idle, up to
//!   [`RuntimeConfig::max_instances`] (lowered by the function's reserved concurrency) busy at
//!   once; further invocations wait in a bounded queue. Idle instances stay warm.
//! - The function's timeout is enforced: the process is killed and the next invocation starts a
//!   fresh one. A process that exits is replaced the same way.
//! - Each invocation prints `START`, `END` and a Lambda-style `REPORT` line, and its figures are
//!   broadcast as an [`InvocationReport`].
//! - [`Runtime::shutdown`] lets in-flight invocations finish, then stops every process.
//!
//! Module map: `api` (the Runtime API endpoint), `process` (spawning and supervising a process),
//! `env` (its environment), `instance` (one execution environment), `pool` (a function's
//! instances and the invocation flow), `report` (REPORT lines), `output` (log forwarding), `ids`.

mod api;
mod config;
mod env;
mod ids;
mod instance;
mod output;
mod pool;
mod process;
mod report;

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::{broadcast, watch};

use crate::model::{FunctionSpec, InvokeError, Invoker};

pub use config::{
    DEFAULT_MAX_INSTANCES, DEFAULT_MAX_QUEUED, RuntimeConfig, RuntimeError, WarmUpFailure,
};
pub use output::{LogLine, LogStream};
pub use pool::PoolStats;
pub use report::{InvocationReport, Outcome};

use instance::Plan;
use output::Output;
use pool::FunctionPool;

/// `error_type` of the [`InvokeError::Function`] a throttled invocation fails with (reserved
/// concurrency 0, or every instance busy and the queue full), as Lambda's `Invoke` names it.
pub const THROTTLED_ERROR_TYPE: &str = "TooManyRequestsException";

/// What the pools share.
struct Shared {
    config: RuntimeConfig,
    output: Arc<Output>,
    stopping: AtomicBool,
    /// Invocations begun and not yet ended.
    in_flight: watch::Sender<usize>,
}

impl Shared {
    fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Counts an invocation in, unless the runtime is stopping.
    fn begin_invocation(&self) -> Result<InvocationGuard<'_>, InvokeError> {
        self.in_flight.send_modify(|count| *count += 1);
        let guard = InvocationGuard(self);
        if self.is_stopping() {
            return Err(InvokeError::ShuttingDown);
        }
        Ok(guard)
    }
}

/// Counts an invocation out when dropped.
struct InvocationGuard<'a>(&'a Shared);

impl Drop for InvocationGuard<'_> {
    fn drop(&mut self) {
        self.0
            .in_flight
            .send_modify(|count| *count = count.saturating_sub(1));
    }
}

/// The function runtime: every function of the stack, invoked by logical id. Cheap to clone
/// (clones share the processes).
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    pools: BTreeMap<String, Arc<FunctionPool>>,
    shared: Arc<Shared>,
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("functions", &self.inner.pools.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Runtime {
    /// Sets up `functions` (nothing runs until an invocation or [`Runtime::start`]).
    ///
    /// # Errors
    /// [`RuntimeError::MissingBinary`] when a binary is not in `config.bin_dir`,
    /// [`RuntimeError::InvalidBinary`], [`RuntimeError::DuplicateFunction`],
    /// [`RuntimeError::NoInstances`].
    pub fn new(
        functions: impl IntoIterator<Item = FunctionSpec>,
        config: RuntimeConfig,
    ) -> Result<Self, RuntimeError> {
        if config.max_instances == 0 {
            return Err(RuntimeError::NoInstances);
        }
        let shared = Arc::new(Shared {
            output: Arc::new(Output::new(config.print_output)),
            stopping: AtomicBool::new(false),
            in_flight: watch::channel(0).0,
            config,
        });
        let config = &shared.config;
        let mut pools = BTreeMap::new();
        for spec in functions {
            let program = binary_path(&spec, config)?;
            let env = env::for_function(&spec, &config.extra_env, &config.region, |key| {
                std::env::var(key).ok()
            });
            let limit = spec
                .reserved_concurrency
                .map_or(config.max_instances, |reserved| {
                    reserved.min(config.max_instances)
                });
            let plan = Plan {
                function: spec.logical_id.clone(),
                program,
                env,
                function_arn: ids::function_arn(
                    &config.region,
                    &config.account_id,
                    &spec.logical_id,
                ),
            };
            let pool = FunctionPool::new(
                plan,
                spec.timeout,
                spec.memory_mb,
                limit,
                Arc::clone(&shared),
            );
            if pools
                .insert(spec.logical_id.clone(), Arc::new(pool))
                .is_some()
            {
                return Err(RuntimeError::DuplicateFunction(spec.logical_id));
            }
        }
        Ok(Self {
            inner: Arc::new(Inner { pools, shared }),
        })
    }

    /// Logical ids of the functions, sorted.
    pub fn functions(&self) -> impl Iterator<Item = &str> {
        self.inner.pools.keys().map(String::as_str)
    }

    /// Instance counts of a function; `None` for an unknown one.
    pub fn stats(&self, function: &str) -> Option<PoolStats> {
        self.inner.pools.get(function).map(|pool| pool.stats())
    }

    /// The report of every invocation from now on.
    pub fn subscribe_reports(&self) -> broadcast::Receiver<InvocationReport> {
        self.inner.shared.output.subscribe_reports()
    }

    /// Every line the function processes write from now on.
    pub fn subscribe_logs(&self) -> broadcast::Receiver<LogLine> {
        self.inner.shared.output.subscribe_logs()
    }

    /// Makes sure `function` has an initialised instance waiting warm: starts one unless one is
    /// idle, and waits until it asked for its first event. A function with a reserved concurrency
    /// of 0 is left alone.
    ///
    /// # Errors
    /// [`InvokeError::NoSuchFunction`]; [`InvokeError::Crashed`] when the instance reports an
    /// init error, exits or does not get ready within the init timeout (it is not reused);
    /// [`InvokeError::ShuttingDown`].
    pub async fn warm_up(&self, function: &str) -> Result<(), InvokeError> {
        let pool = self.pool(function)?;
        pool.warm_up().await
    }

    /// Warms up every function at once (see [`Runtime::warm_up`]).
    ///
    /// # Errors
    /// [`RuntimeError::WarmUp`] naming each function that did not start; the others are running.
    pub async fn start(&self) -> Result<(), RuntimeError> {
        let results = futures::future::join_all(
            self.inner
                .pools
                .iter()
                .map(|(function, pool)| async move { (function, pool.warm_up().await) }),
        )
        .await;
        let failures: Vec<WarmUpFailure> = results
            .into_iter()
            .filter_map(|(function, result)| {
                result.err().map(|error| WarmUpFailure {
                    function: function.clone(),
                    error,
                })
            })
            .collect();
        if failures.is_empty() {
            Ok(())
        } else {
            Err(RuntimeError::WarmUp(failures))
        }
    }

    /// Stops the runtime: new invocations (and those waiting for an instance) fail with
    /// [`InvokeError::ShuttingDown`]; in-flight ones get up to `drain_timeout` to finish; then
    /// every process gets SIGTERM, and SIGKILL after `kill_grace`. Calling it again is harmless.
    pub async fn shutdown(&self) {
        let shared = &self.inner.shared;
        let first = !shared.stopping.swap(true, Ordering::SeqCst);
        for pool in self.inner.pools.values() {
            pool.close();
        }
        let mut in_flight = shared.in_flight.subscribe();
        let drained = tokio::time::timeout(shared.config.drain_timeout, async {
            // The sender lives in `shared`, so this only ends at zero.
            let _ = in_flight.wait_for(|count| *count == 0).await;
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                remaining = *shared.in_flight.borrow(),
                "in-flight invocations did not finish in time; stopping their functions"
            );
        }
        let grace = shared.config.kill_grace;
        futures::future::join_all(self.inner.pools.values().map(|pool| pool.stop(grace))).await;
        if first {
            tracing::info!("function runtime stopped");
        }
    }

    fn pool(&self, function: &str) -> Result<&Arc<FunctionPool>, InvokeError> {
        self.inner
            .pools
            .get(function)
            .ok_or_else(|| InvokeError::NoSuchFunction(function.to_owned()))
    }
}

impl Invoker for Runtime {
    fn invoke(
        &self,
        function: &str,
        payload: serde_json::Value,
    ) -> impl Future<Output = Result<serde_json::Value, InvokeError>> + Send {
        let pool = self.pool(function).cloned();
        async move { pool?.invoke(payload).await }
    }
}

/// Where `spec`'s binary is, checked.
fn binary_path(
    spec: &FunctionSpec,
    config: &RuntimeConfig,
) -> Result<std::path::PathBuf, RuntimeError> {
    let plain = !spec.binary.is_empty()
        && std::path::Path::new(&spec.binary)
            .file_name()
            .is_some_and(|name| name == spec.binary.as_str());
    if !plain {
        return Err(RuntimeError::InvalidBinary {
            function: spec.logical_id.clone(),
            binary: spec.binary.clone(),
        });
    }
    let path = config.bin_dir.join(&spec.binary);
    if path.is_file() {
        Ok(path)
    } else {
        Err(RuntimeError::MissingBinary {
            function: spec.logical_id.clone(),
            binary: spec.binary.clone(),
            path,
        })
    }
}
