//! Settings of the function runtime, and what can go wrong setting it up or starting it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use crate::model::InvokeError;

/// Default most instances of one function at once.
pub const DEFAULT_MAX_INSTANCES: u32 = 4;
/// Default most invocations of one function waiting for an instance. Lambda would scale out
/// where the runner has a few processes, so invocations wait instead of failing; this bound only
/// keeps a runaway client from holding unbounded memory (each waiting invocation holds its
/// payload).
pub const DEFAULT_MAX_QUEUED: usize = 10_000;

/// How the runtime runs functions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// Directory of the function binaries, `$CARGO_TARGET_DIR/debug`.
    pub bin_dir: PathBuf,
    /// Extra environment of every function process (`AWS_ENDPOINT_URL`, dummy credentials,
    /// `AWS_EC2_METADATA_DISABLED`, ...). A function's own variables take precedence.
    pub extra_env: BTreeMap<String, String>,
    /// Most instances (processes) of one function at once; a function's reserved concurrency
    /// lowers it.
    pub max_instances: u32,
    /// Most invocations of one function waiting for a free instance; beyond that they are
    /// throttled.
    pub max_queued: usize,
    /// Longest an invocation waits for a free instance before it is answered as timed out (API
    /// Gateway's longest integration timeout, 30 s).
    pub max_wait: Duration,
    /// Longest an instance may take from spawn to its first `/next` (Lambda allows 10 s).
    pub init_timeout: Duration,
    /// Longest [`Runtime::shutdown`](super::Runtime::shutdown) waits for in-flight invocations.
    pub drain_timeout: Duration,
    /// Longest a process has between SIGTERM and SIGKILL at shutdown.
    pub kill_grace: Duration,
    /// Region in the functions' environment and ARNs.
    pub region: String,
    /// Account id in the functions' ARNs.
    pub account_id: String,
    /// Print function output and `START`/`END`/`REPORT` lines on the runner's stdout/stderr
    /// (they are broadcast to subscribers either way).
    pub print_output: bool,
}

impl RuntimeConfig {
    /// Defaults for binaries in `bin_dir`: 4 instances per function, 10,000 queued invocations
    /// waiting up to 30 s,
    /// 10 s init, 10 s drain, 2 s kill grace, `us-east-1`, account `123456789012`, output printed.
    pub fn new(bin_dir: impl Into<PathBuf>) -> Self {
        Self {
            bin_dir: bin_dir.into(),
            extra_env: BTreeMap::new(),
            max_instances: DEFAULT_MAX_INSTANCES,
            max_queued: DEFAULT_MAX_QUEUED,
            max_wait: Duration::from_secs(30),
            init_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(10),
            kill_grace: Duration::from_secs(2),
            region: "us-east-1".to_owned(),
            account_id: "123456789012".to_owned(),
            print_output: true,
        }
    }
}

/// A function that failed to start during [`Runtime::start`](super::Runtime::start).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarmUpFailure {
    /// Logical id of the function.
    pub function: String,
    /// Why.
    pub error: InvokeError,
}

/// Why the runtime could not be set up or started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuntimeError {
    /// A function's binary is not where the configuration says binaries are.
    #[error(
        "function {function}: binary `{binary}` not found at {}; build the functions first with \
         `cargo build --workspace --bins`",
        path.display()
    )]
    MissingBinary {
        /// Logical id of the function.
        function: String,
        /// Its binary's name.
        binary: String,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// A function's binary is not a plain file name.
    #[error("function {function}: binary `{binary}` must be a file name, not a path")]
    InvalidBinary {
        /// Logical id of the function.
        function: String,
        /// Its binary's name.
        binary: String,
    },
    /// Two functions have the same logical id.
    #[error("function {0} is defined twice")]
    DuplicateFunction(String),
    /// `max_instances` is 0.
    #[error("max_instances must be at least 1")]
    NoInstances,
    /// Some functions did not initialise.
    #[error("{}", describe_failures(.0))]
    WarmUp(Vec<WarmUpFailure>),
}

fn describe_failures(failures: &[WarmUpFailure]) -> String {
    let mut text = format!("{} function(s) failed to start:", failures.len());
    for failure in failures {
        let _ = write!(text, " [{}] {};", failure.function, failure.error);
    }
    text.pop();
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_binary_says_what_and_how_to_fix_it() {
        let error = RuntimeError::MissingBinary {
            function: "AccountsApiFunction".into(),
            binary: "accounts-api".into(),
            path: "/t/debug/accounts-api".into(),
        };
        let text = error.to_string();
        for part in [
            "AccountsApiFunction",
            "accounts-api",
            "/t/debug/accounts-api",
            "cargo build --workspace --bins",
        ] {
            assert!(text.contains(part), "{text}");
        }
    }

    #[test]
    fn warm_up_failures_list_every_function() {
        let error = RuntimeError::WarmUp(vec![
            WarmUpFailure {
                function: "A".into(),
                error: InvokeError::Crashed("boom".into()),
            },
            WarmUpFailure {
                function: "B".into(),
                error: InvokeError::ShuttingDown,
            },
        ]);
        assert_eq!(
            error.to_string(),
            "2 function(s) failed to start: [A] function crashed: boom; [B] runner is shutting down"
        );
    }
}
