//! [`PdfInspector`] that parses each PDF in a child process: the upload processor's own binary,
//! started with [`CHILD_FLAG`], reads the document on stdin, runs
//! [`parse_pdf`](crate::domain::checks::parse_pdf) and prints its verdict.
//!
//! The child runs with hard limits (heap, address space, CPU seconds, no files written, no
//! processes started, no environment, so no AWS credentials) and a wall-clock deadline, and one
//! child runs at a time per instance. Whatever the parser does with a hostile document — use
//! more memory or time than allowed, panic (the release profile aborts on panic), overflow its
//! stack — ends that child only, and the document is rejected as `PDF_TOO_COMPLEX`; the other
//! records of the batch go on. Only a child that could not be started is a retryable failure.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;

use crate::domain::checks::parse_pdf;
use crate::domain::values::MAX_UPLOAD_BYTES;
use crate::domain::{FilesError, PdfInspector, RejectReason};

/// First argument that turns the upload processor's binary into a one-shot PDF checker.
pub const CHILD_FLAG: &str = "--check-pdf";
/// Exit code of a child that could not apply its limits (and so parsed nothing).
const EXIT_UNSANDBOXED: i32 = 3;
/// The verdict a child prints for a document that passed.
const VERDICT_OK: &str = "OK";

/// Bounds of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SandboxLimits {
    /// Heap and anonymous mappings (`RLIMIT_DATA`).
    pub data_bytes: u64,
    /// Whole address space (`RLIMIT_AS`), a backstop above the heap limit.
    pub address_space_bytes: u64,
    /// CPU time (`RLIMIT_CPU`); the kernel ends the child when it is used up.
    pub cpu_seconds: u64,
    /// Wall-clock time after which the parent kills the child.
    pub wall: Duration,
}

impl SandboxLimits {
    /// Limits for the upload processor (1024 MB function, one check at a time): a 20 MB upload
    /// within the parse bounds of `checks` needs well under 100 MB and a fraction of a second.
    pub const DEFAULT: SandboxLimits = SandboxLimits {
        data_bytes: 256 * 1024 * 1024,
        address_space_bytes: 1024 * 1024 * 1024,
        cpu_seconds: 5,
        wall: Duration::from_secs(5),
    };
}

/// Runs PDF checks in child processes of `program` (the upload processor's binary).
#[derive(Clone)]
pub struct SandboxedPdfInspector {
    program: PathBuf,
    limits: SandboxLimits,
    permits: Arc<Semaphore>,
}

impl SandboxedPdfInspector {
    /// One check at a time: concurrent records of a batch wait for their turn, so their memory
    /// never adds up.
    pub fn new(program: impl Into<PathBuf>, limits: SandboxLimits) -> Self {
        Self {
            program: program.into(),
            limits,
            permits: Arc::new(Semaphore::new(1)),
        }
    }
}

/// What a finished child said.
fn verdict(status: ExitStatus, output: &[u8]) -> Result<Result<(), RejectReason>, FilesError> {
    let said = std::str::from_utf8(output).unwrap_or_default().trim();
    if status.success() {
        if said == VERDICT_OK {
            return Ok(Ok(()));
        }
        if let Some(reason) = RejectReason::from_code(said) {
            return Ok(Err(reason));
        }
    }
    if status.code() == Some(EXIT_UNSANDBOXED) {
        return Err(FilesError::Unavailable(
            "the PDF check could not apply its limits".into(),
        ));
    }
    // Killed by a limit (SIGXCPU, SIGKILL, an abort on a failed allocation) or crashed.
    tracing::warn!(status = %status, "pdf check ended without a verdict");
    Ok(Err(RejectReason::PdfTooComplex))
}

/// Sends the document, reads the verdict, waits for the child.
async fn exchange(
    child: &mut tokio::process::Child,
    bytes: &[u8],
) -> std::io::Result<(ExitStatus, Vec<u8>)> {
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| std::io::Error::other("no stdin"))?;
    let mut stdout = child
        .stdout
        .take()
        .ok_or_else(|| std::io::Error::other("no stdout"))?;
    let write = async move {
        // A child that stopped early (a limit) closes its end: its exit status tells why.
        let _ = stdin.write_all(bytes).await;
        drop(stdin);
    };
    let mut output = Vec::new();
    let read = async { (&mut stdout).take(64).read_to_end(&mut output).await };
    let ((), read) = tokio::join!(write, read);
    read?;
    let status = child.wait().await?;
    Ok((status, output))
}

impl PdfInspector for SandboxedPdfInspector {
    async fn inspect_pdf(&self, bytes: &[u8]) -> Result<Result<(), RejectReason>, FilesError> {
        let _turn = self
            .permits
            .acquire()
            .await
            .map_err(|_| FilesError::Internal("pdf check semaphore closed".into()))?;
        let started = std::time::Instant::now();
        let mut child = tokio::process::Command::new(&self.program)
            .arg(CHILD_FLAG)
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| FilesError::Unavailable(format!("pdf check not started: {e}")))?;
        let outcome = tokio::time::timeout(self.limits.wall, exchange(&mut child, bytes)).await;
        let result = match outcome {
            Ok(Ok((status, output))) => verdict(status, &output),
            Ok(Err(err)) => {
                let _ = child.start_kill();
                let _ = child.wait().await;
                tracing::warn!(error = %err, "pdf check failed");
                Ok(Err(RejectReason::PdfTooComplex))
            }
            Err(_) => {
                let _ = child.start_kill();
                let _ = child.wait().await;
                tracing::warn!("pdf check ran out of time");
                Ok(Err(RejectReason::PdfTooComplex))
            }
        };
        tracing::info!(
            elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "pdf checked"
        );
        result
    }
}

/// Applies the limits to the current process (the child, before it reads anything).
fn apply_limits(limits: SandboxLimits) -> std::io::Result<()> {
    use rustix::process::{Resource, Rlimit, setrlimit};
    let limit = |value: u64| Rlimit {
        current: Some(value),
        maximum: Some(value),
    };
    setrlimit(Resource::Data, limit(limits.data_bytes))?;
    setrlimit(Resource::As, limit(limits.address_space_bytes))?;
    // SIGXCPU at the soft limit, SIGKILL a second later.
    setrlimit(
        Resource::Cpu,
        Rlimit {
            current: Some(limits.cpu_seconds),
            maximum: Some(limits.cpu_seconds + 1),
        },
    )?;
    setrlimit(Resource::Fsize, limit(0))?;
    setrlimit(Resource::Core, limit(0))?;
    setrlimit(Resource::Nproc, limit(0))?;
    Ok(())
}

/// The child's work: limits, document from stdin, verdict on stdout. Returns the exit code.
fn child(limits: SandboxLimits) -> i32 {
    if apply_limits(limits).is_err() {
        return EXIT_UNSANDBOXED;
    }
    let mut bytes = Vec::new();
    let cap = MAX_UPLOAD_BYTES + 1;
    if std::io::stdin()
        .lock()
        .take(cap)
        .read_to_end(&mut bytes)
        .is_err()
    {
        return 1;
    }
    let said = match u64::try_from(bytes.len()) {
        Ok(len) if len < cap => match parse_pdf(&bytes) {
            Ok(()) => VERDICT_OK,
            Err(reason) => reason.code(),
        },
        _ => RejectReason::TooLarge.code(),
    };
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{said}").and_then(|()| out.flush()).is_err() {
        return 1;
    }
    0
}

/// When this process was started as a PDF checker ([`CHILD_FLAG`]), runs the check and returns
/// the exit code to end with; `None` for a normal start. Call it first thing in `main`, before a
/// runtime or any client exists.
pub fn run_if_requested() -> Option<i32> {
    let flag = std::env::args_os().nth(1);
    (flag.as_deref() == Some(OsStr::new(CHILD_FLAG))).then(|| child(SandboxLimits::DEFAULT))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn verdicts_are_read_and_anything_else_rejects() {
        let ok = ExitStatus::from_raw(0);
        assert_eq!(verdict(ok, b"OK\n"), Ok(Ok(())));
        assert_eq!(
            verdict(ok, b"CORRUPT_PDF\n"),
            Ok(Err(RejectReason::CorruptPdf))
        );
        assert_eq!(verdict(ok, b""), Ok(Err(RejectReason::PdfTooComplex)));
        // Killed by SIGXCPU (24) or SIGKILL (9), or aborted (SIGABRT, 6).
        for signal in [24, 9, 6] {
            assert_eq!(
                verdict(ExitStatus::from_raw(signal), b""),
                Ok(Err(RejectReason::PdfTooComplex))
            );
        }
        assert!(matches!(
            verdict(ExitStatus::from_raw(EXIT_UNSANDBOXED << 8), b""),
            Err(FilesError::Unavailable(_))
        ));
    }
}
