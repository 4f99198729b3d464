//! One execution environment: a function process with its own Runtime API endpoint, from its
//! start (spawn to first `/next`, the init phase) through the invocations it runs one at a time.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use axum::body::Bytes;
use tokio::sync::oneshot;

use crate::model::InvokeError;

use super::Shared;
use super::api::{Event, FunctionFailure, InitState, Reply, RuntimeApi};
use super::process::{self, Exit, Process};
use super::report::{InitStatus, init_report_line};
use super::{env, ids};

/// Why an invocation failed when the instance asked for another without answering it.
const ABANDONED: &str = "it asked for the next event without answering this one";

/// How long to wait for the exit of a process whose endpoint lost an invocation.
const EXIT_AFTER_LOSS: Duration = Duration::from_secs(1);

/// What every instance of one function is started from.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// Logical id of the function.
    pub(crate) function: String,
    /// The binary.
    pub(crate) program: PathBuf,
    /// The environment shared by its instances.
    pub(crate) env: BTreeMap<String, String>,
    /// The ARN it is invoked as.
    pub(crate) function_arn: String,
}

/// A started instance, ready for invocations.
pub(crate) struct Instance {
    id: u64,
    // Declared before the process: dropping the endpoint first ends a pending `/next`.
    api: RuntimeApi,
    process: Process,
    init_duration: Duration,
}

/// How one invocation on an instance ended.
#[derive(Debug)]
pub(crate) enum RunOutcome {
    /// `/response` with this body.
    Response(Bytes),
    /// `/error`.
    FunctionError(FunctionFailure),
    /// No answer in time (the process still runs: the caller kills it).
    Timeout,
    /// The process exited or lost the invocation; why.
    Crashed(String),
}

/// One invocation on an instance.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) outcome: RunOutcome,
    pub(crate) duration: Duration,
    /// Peak memory after the invocation (before it, when the process is gone); 0 when unknown.
    pub(crate) max_memory_mb: u64,
}

/// Why an instance did not become ready.
enum InitFailure {
    Reported(FunctionFailure),
    Exited,
    TimedOut(Duration),
}

impl InitFailure {
    fn message(&self, function: &str, exit: &Exit) -> String {
        match self {
            Self::Reported(failure) => format!(
                "{function} failed to initialise: {}: {}",
                failure.error_type, failure.error_message
            ),
            Self::Exited => format!(
                "{function} exited during initialisation ({})",
                exit.describe()
            ),
            Self::TimedOut(limit) => {
                format!(
                    "{function} did not finish initialising within {limit:?} (no call to /next)"
                )
            }
        }
    }

    fn status(&self) -> InitStatus {
        match self {
            Self::Reported(failure) => InitStatus::Error(failure.error_type.clone()),
            Self::Exited => InitStatus::Error("Runtime.ExitError".to_owned()),
            Self::TimedOut(_) => InitStatus::Timeout,
        }
    }
}

impl Instance {
    /// Starts instance `id` of `plan` and waits until it asks for its first event. `register`
    /// receives the process as soon as it runs, so that a shutdown can stop it during init.
    ///
    /// # Errors
    /// [`InvokeError::Crashed`] when it cannot be spawned, reports an init error, exits or does
    /// not get ready within the init timeout; the process is then stopped.
    pub(crate) async fn start(
        plan: &Plan,
        id: u64,
        shared: &Shared,
        register: impl FnOnce(&Process),
    ) -> Result<Self, InvokeError> {
        let function = plan.function.as_str();
        let api = RuntimeApi::bind(function).await.map_err(|error| {
            InvokeError::Crashed(format!(
                "{function}: cannot open a Runtime API endpoint: {error}"
            ))
        })?;
        let env = env::for_instance(&plan.env, api.addr(), ids::log_stream_name());
        let spawned_at = Instant::now();
        let spawned = process::spawn(function, &plan.program, &[], &env, &shared.output);
        let process = spawned.map_err(|error| {
            let program = plan.program.display();
            InvokeError::Crashed(format!(
                "{function}: cannot start {program}: {error} \
                 (build the functions with `cargo build --workspace --bins`)"
            ))
        })?;
        register(&process);
        let (pid, endpoint) = (process.pid(), api.addr());
        tracing::debug!(%function, instance = id, pid, %endpoint, "instance spawned");
        match wait_until_ready(&api, &process, shared.config.init_timeout).await {
            Ok(ready_at) => {
                let init_duration = ready_at.saturating_duration_since(spawned_at);
                let init = init_duration;
                tracing::info!(%function, instance = id, pid, ?init, "instance ready");
                Ok(Self {
                    id,
                    api,
                    process,
                    init_duration,
                })
            }
            Err(failure) => {
                let exit = process.kill().await;
                let message = failure.message(function, &exit);
                shared.output.runner_line(
                    function,
                    &init_report_line(spawned_at.elapsed(), &failure.status()),
                );
                tracing::warn!(%function, instance = id, pid, %message, "init failed");
                Err(InvokeError::Crashed(message))
            }
        }
    }

    /// Its number within the function.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// Its process id.
    pub(crate) fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Spawn to first `/next`.
    pub(crate) fn init_duration(&self) -> Duration {
        self.init_duration
    }

    /// True while its process runs.
    pub(crate) fn is_alive(&self) -> bool {
        !self.process.has_exited()
    }

    /// Its process.
    pub(crate) fn process(&self) -> &Process {
        &self.process
    }

    /// Runs one invocation: hands the event to the instance with a deadline of now + `timeout`
    /// (the `Lambda-Runtime-Deadline-Ms` it sees) and waits for its answer, its exit or the
    /// deadline, whichever comes first.
    pub(crate) async fn run(
        &self,
        request_id: &str,
        payload: Bytes,
        timeout: Duration,
        function_arn: &str,
    ) -> Run {
        let (reply, answer) = oneshot::channel();
        let event = Event {
            request_id: request_id.to_owned(),
            payload,
            deadline_ms: ids::epoch_millis(SystemTime::now() + timeout),
            function_arn: function_arn.to_owned(),
            trace_id: ids::trace_id(),
            reply,
        };
        let memory_before = self.process.max_memory_mb();
        let started = Instant::now();
        let outcome = if self.api.deliver(event).is_err() {
            RunOutcome::Crashed("its Runtime API endpoint did not take the event".to_owned())
        } else {
            tokio::select! {
                biased;
                answer = answer => match answer {
                    Ok(Reply::Response(body)) => RunOutcome::Response(body),
                    Ok(Reply::Error(failure)) => RunOutcome::FunctionError(failure),
                    Ok(Reply::Abandoned) => RunOutcome::Crashed(ABANDONED.to_owned()),
                    Err(_) => self.lost().await,
                },
                exit = self.process.wait() => exited(&exit),
                () = tokio::time::sleep(timeout) => RunOutcome::Timeout,
            }
        };
        let duration = match outcome {
            RunOutcome::Timeout => timeout,
            _ => started.elapsed(),
        };
        let max_memory_mb = self.process.max_memory_mb().or(memory_before).unwrap_or(0);
        Run {
            outcome,
            duration,
            max_memory_mb,
        }
    }

    /// The endpoint dropped the invocation: the connection of its `/next` went away, which means
    /// the process is ending.
    async fn lost(&self) -> RunOutcome {
        match tokio::time::timeout(EXIT_AFTER_LOSS, self.process.wait()).await {
            Ok(exit) => exited(&exit),
            Err(_) => RunOutcome::Crashed(
                "the invocation was lost by its Runtime API endpoint".to_owned(),
            ),
        }
    }
}

fn exited(exit: &Exit) -> RunOutcome {
    RunOutcome::Crashed(format!(
        "the process exited during the invocation ({})",
        exit.describe()
    ))
}

/// Waits for the first `/next` (its instant), an init error, the process's exit or the timeout.
async fn wait_until_ready(
    api: &RuntimeApi,
    process: &Process,
    limit: Duration,
) -> Result<Instant, InitFailure> {
    let mut init = api.init_state();
    let settled = tokio::select! {
        biased;
        state = init.wait_for(|state| !matches!(state, InitState::Starting)) => {
            state.ok().map(|state| (*state).clone())
        }
        _ = process.wait() => None,
        () = tokio::time::sleep(limit) => return Err(InitFailure::TimedOut(limit)),
    };
    match settled {
        Some(InitState::Ready(at)) => Ok(at),
        Some(InitState::Failed(failure)) => Err(InitFailure::Reported(failure)),
        // It exited: an init error it reported before exiting says more than its exit.
        Some(InitState::Starting) | None => match &*api.init_state().borrow() {
            InitState::Failed(failure) => Err(InitFailure::Reported(failure.clone())),
            InitState::Starting | InitState::Ready(_) => Err(InitFailure::Exited),
        },
    }
}
