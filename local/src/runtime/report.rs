//! What one invocation cost, kept as numbers and printed the way Lambda logs it: `START`, `END`
//! and `REPORT` lines, plus `INIT_REPORT` for an initialisation that no invocation paid for.

use std::fmt;
use std::time::Duration;

/// How an invocation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The function answered through `/response`.
    Success,
    /// The function reported an error through `/error`.
    FunctionError {
        /// The reported `errorType`.
        error_type: String,
    },
    /// No answer before the deadline; the process was killed.
    Timeout,
    /// The process exited (or lost its invocation) before answering.
    Crashed,
}

/// The figures of one invocation, as in Lambda's `REPORT` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvocationReport {
    /// Logical id of the function.
    pub function: String,
    /// The invocation's request id.
    pub request_id: String,
    /// Process id of the instance that ran it.
    pub pid: u32,
    /// From handing the event to the function to its answer (the timeout when it timed out).
    pub duration: Duration,
    /// What Lambda would bill: `duration`, plus `init_duration` on a cold start, rounded up to
    /// the millisecond.
    pub billed: Duration,
    /// The function's `MemorySize`.
    pub memory_size_mb: u32,
    /// The process's peak resident memory (`VmHWM`) in MiB; 0 where the platform does not tell.
    pub max_memory_mb: u64,
    /// Spawn to first `/next` of the instance, when this invocation waited for it (a cold start).
    pub init_duration: Option<Duration>,
    /// How it ended.
    pub outcome: Outcome,
}

impl InvocationReport {
    /// True when this invocation started its instance.
    pub fn is_cold_start(&self) -> bool {
        self.init_duration.is_some()
    }
}

/// Lambda's billed duration: the duration (plus the init duration of a cold start, which custom
/// runtimes are billed for) rounded up to the next millisecond.
pub(crate) fn billed(duration: Duration, init: Option<Duration>) -> Duration {
    let total = duration.saturating_add(init.unwrap_or_default());
    let nanos = total.as_nanos();
    let millis = nanos.div_ceil(1_000_000);
    Duration::from_millis(u64::try_from(millis).unwrap_or(u64::MAX))
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

impl fmt::Display for InvocationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "REPORT RequestId: {}\tDuration: {:.2} ms\tBilled Duration: {} ms\t\
             Memory Size: {} MB\tMax Memory Used: {} MB",
            self.request_id,
            millis(self.duration),
            self.billed.as_millis(),
            self.memory_size_mb,
            self.max_memory_mb,
        )?;
        if let Some(init) = self.init_duration {
            write!(f, "\tInit Duration: {:.2} ms", millis(init))?;
        }
        match &self.outcome {
            Outcome::Timeout => write!(f, "\tStatus: timeout"),
            Outcome::Crashed => write!(f, "\tStatus: error\tError Type: Runtime.ExitError"),
            Outcome::Success | Outcome::FunctionError { .. } => Ok(()),
        }
    }
}

/// `START RequestId: <id> Version: $LATEST`.
pub(crate) fn start_line(request_id: &str) -> String {
    format!("START RequestId: {request_id} Version: $LATEST")
}

/// `END RequestId: <id>`.
pub(crate) fn end_line(request_id: &str) -> String {
    format!("END RequestId: {request_id}")
}

/// How an initialisation ended, for [`init_report_line`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum InitStatus {
    /// The instance asked for its first event.
    Ready,
    /// It failed, with this error type.
    Error(String),
    /// It did not finish in time.
    Timeout,
}

/// `INIT_REPORT Init Duration: 45.67 ms` (with the phase and status when it failed), for an
/// initialisation that is not part of an invocation's `REPORT`.
pub(crate) fn init_report_line(duration: Duration, status: &InitStatus) -> String {
    let head = format!("INIT_REPORT Init Duration: {:.2} ms", millis(duration));
    match status {
        InitStatus::Ready => head,
        InitStatus::Error(error_type) => {
            format!("{head}\tPhase: init\tStatus: error\tError Type: {error_type}")
        }
        InitStatus::Timeout => format!("{head}\tPhase: init\tStatus: timeout"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(init: Option<Duration>, outcome: Outcome) -> InvocationReport {
        let duration = Duration::from_micros(12_340);
        InvocationReport {
            function: "AccountsApiFunction".into(),
            request_id: "8476a536-e9f4-11e8-9739-2dfe598c3fcd".into(),
            pid: 42,
            duration,
            billed: billed(duration, init),
            memory_size_mb: 256,
            max_memory_mb: 18,
            init_duration: init,
            outcome,
        }
    }

    #[test]
    fn billing_rounds_up_to_the_millisecond() {
        assert_eq!(
            billed(Duration::from_micros(12_340), None),
            Duration::from_millis(13)
        );
        assert_eq!(
            billed(Duration::from_millis(5), None),
            Duration::from_millis(5)
        );
        assert_eq!(billed(Duration::ZERO, None), Duration::ZERO);
        assert_eq!(
            billed(
                Duration::from_micros(12_340),
                Some(Duration::from_micros(45_670))
            ),
            Duration::from_millis(59)
        );
    }

    #[test]
    fn warm_report_line_matches_lambda() {
        assert_eq!(
            report(None, Outcome::Success).to_string(),
            "REPORT RequestId: 8476a536-e9f4-11e8-9739-2dfe598c3fcd\tDuration: 12.34 ms\t\
             Billed Duration: 13 ms\tMemory Size: 256 MB\tMax Memory Used: 18 MB"
        );
    }

    #[test]
    fn cold_report_line_has_the_init_duration() {
        let cold = report(Some(Duration::from_micros(45_670)), Outcome::Success);
        assert!(cold.is_cold_start());
        assert!(
            cold.to_string()
                .ends_with("Max Memory Used: 18 MB\tInit Duration: 45.67 ms")
        );
    }

    #[test]
    fn failed_invocations_carry_a_status() {
        assert!(
            report(None, Outcome::Timeout)
                .to_string()
                .ends_with("\tStatus: timeout")
        );
        assert!(
            report(None, Outcome::Crashed)
                .to_string()
                .ends_with("\tStatus: error\tError Type: Runtime.ExitError")
        );
        let handled = report(
            None,
            Outcome::FunctionError {
                error_type: "E".into(),
            },
        );
        assert!(handled.to_string().ends_with("Max Memory Used: 18 MB"));
    }

    #[test]
    fn start_end_and_init_lines() {
        assert_eq!(start_line("id"), "START RequestId: id Version: $LATEST");
        assert_eq!(end_line("id"), "END RequestId: id");
        let init = Duration::from_micros(45_670);
        assert_eq!(
            init_report_line(init, &InitStatus::Ready),
            "INIT_REPORT Init Duration: 45.67 ms"
        );
        assert_eq!(
            init_report_line(init, &InitStatus::Error("Runtime.ExitError".into())),
            "INIT_REPORT Init Duration: 45.67 ms\tPhase: init\tStatus: error\t\
             Error Type: Runtime.ExitError"
        );
        assert!(init_report_line(init, &InitStatus::Timeout).ends_with("Status: timeout"));
    }
}
