//! Function processes: spawns a binary with exactly the environment it is given (nothing
//! inherited), forwards its output line by line, watches for its exit, reads its peak memory and
//! stops it — SIGTERM with a grace period, or SIGKILL.

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::AsyncRead;
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::output::{LogLine, LogStream, Output, forward_lines};

/// Lines of output kept to explain an unexpected exit.
const RECENT_LINES: usize = 5;
/// How long to wait, once a process has exited, for the last of its output.
const OUTPUT_DRAIN: Duration = Duration::from_millis(500);

/// How a process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Exit {
    /// `exit status: 1`, `signal: 9 (SIGKILL)`, ...
    pub(crate) status: String,
    /// Its last lines of output, oldest first.
    pub(crate) last_output: Vec<String>,
}

impl Exit {
    fn unknown() -> Self {
        Self {
            status: "ended (status unknown)".to_owned(),
            last_output: Vec::new(),
        }
    }

    /// The status, with the last lines of output when there are any.
    pub(crate) fn describe(&self) -> String {
        if self.last_output.is_empty() {
            self.status.clone()
        } else {
            format!(
                "{}; last output: {}",
                self.status,
                self.last_output.join(" | ")
            )
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Signal {
    Terminate,
    Kill,
}

type Recent = Arc<Mutex<VecDeque<String>>>;

/// A handle on a running (or ended) function process. Clones share the process; when the last
/// one is dropped the process is killed.
#[derive(Debug, Clone)]
pub(crate) struct Process {
    pid: u32,
    exit: watch::Receiver<Option<Exit>>,
    reaped: Arc<AtomicBool>,
    signals: mpsc::UnboundedSender<Signal>,
}

/// Starts `program` (with `args`) for `function` with exactly `env`, in its own process group (so
/// a Ctrl-C at the terminal reaches the runner, which stops functions in order), its output
/// forwarded to `output`.
pub(crate) fn spawn(
    function: &str,
    program: &Path,
    args: &[&str],
    env: &BTreeMap<String, String>,
    output: &Arc<Output>,
) -> std::io::Result<Process> {
    let mut command = Command::new(program);
    command
        .args(args)
        .env_clear()
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    #[cfg(unix)]
    command.process_group(0);
    let mut child = command.spawn()?;
    let pid = child.id().unwrap_or_default();
    let recent: Recent = Arc::new(Mutex::new(VecDeque::with_capacity(RECENT_LINES)));
    let function: Arc<str> = Arc::from(function);
    let mut readers = Vec::with_capacity(2);
    if let Some(stdout) = child.stdout.take() {
        readers.push(forward(
            stdout,
            LogStream::Stdout,
            &function,
            pid,
            output,
            &recent,
        ));
    }
    if let Some(stderr) = child.stderr.take() {
        readers.push(forward(
            stderr,
            LogStream::Stderr,
            &function,
            pid,
            output,
            &recent,
        ));
    }
    let (exit_tx, exit) = watch::channel(None);
    let (signals, signal_rx) = mpsc::unbounded_channel();
    let reaped = Arc::new(AtomicBool::new(false));
    tokio::spawn(supervise(
        child,
        signal_rx,
        exit_tx,
        Arc::clone(&reaped),
        readers,
        recent,
    ));
    Ok(Process {
        pid,
        exit,
        reaped,
        signals,
    })
}

fn forward(
    stream: impl AsyncRead + Unpin + Send + 'static,
    kind: LogStream,
    function: &Arc<str>,
    pid: u32,
    output: &Arc<Output>,
    recent: &Recent,
) -> JoinHandle<()> {
    let (function, output, recent) = (Arc::clone(function), Arc::clone(output), Arc::clone(recent));
    tokio::spawn(async move {
        forward_lines(stream, |line| {
            {
                let mut recent = recent.lock().unwrap_or_else(PoisonError::into_inner);
                if recent.len() == RECENT_LINES {
                    recent.pop_front();
                }
                recent.push_back(line.clone());
            }
            output.function_line(LogLine {
                function: function.to_string(),
                pid,
                stream: kind,
                line,
            });
        })
        .await;
    })
}

/// Owns the child: waits for it, passes signals on, and publishes how it ended once its output
/// has been read.
async fn supervise(
    mut child: Child,
    mut signals: mpsc::UnboundedReceiver<Signal>,
    exit: watch::Sender<Option<Exit>>,
    reaped: Arc<AtomicBool>,
    readers: Vec<JoinHandle<()>>,
    recent: Recent,
) {
    let mut handles_alive = true;
    let status = loop {
        tokio::select! {
            status = child.wait() => break status,
            signal = signals.recv(), if handles_alive => match signal {
                Some(Signal::Terminate) => {
                    if !terminate(&child) {
                        let _ = child.start_kill();
                    }
                }
                Some(Signal::Kill) => {
                    let _ = child.start_kill();
                }
                None => {
                    // Every handle is gone: nobody can use the process any more.
                    handles_alive = false;
                    let _ = child.start_kill();
                }
            },
        }
    };
    reaped.store(true, Ordering::SeqCst);
    let _ = tokio::time::timeout(OUTPUT_DRAIN, futures::future::join_all(readers)).await;
    let status = match status {
        Ok(status) => status.to_string(),
        Err(error) => format!("could not be waited for: {error}"),
    };
    let last_output = recent
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .cloned()
        .collect();
    exit.send_replace(Some(Exit {
        status,
        last_output,
    }));
}

/// Sends SIGTERM; false when it could not be sent.
#[cfg(unix)]
fn terminate(child: &Child) -> bool {
    let Some(pid) = child.id().and_then(|pid| libc::pid_t::try_from(pid).ok()) else {
        return false;
    };
    // SAFETY: kill(2) has no memory effects; `pid` is our child, not yet reaped (`id()` is
    // `Some`), so it cannot have been reused by another process.
    unsafe { libc::kill(pid, libc::SIGTERM) == 0 }
}

#[cfg(not(unix))]
fn terminate(_child: &Child) -> bool {
    false
}

impl Process {
    /// Its process id.
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// True once it has exited.
    pub(crate) fn has_exited(&self) -> bool {
        self.reaped.load(Ordering::SeqCst) || self.exit.borrow().is_some()
    }

    /// Waits for it to exit.
    pub(crate) async fn wait(&self) -> Exit {
        let mut exit = self.exit.clone();
        match exit.wait_for(Option::is_some).await {
            Ok(ended) => ended.clone().unwrap_or_else(Exit::unknown),
            Err(_) => Exit::unknown(),
        }
    }

    /// Kills it (SIGKILL) and waits for it to exit.
    pub(crate) async fn kill(&self) -> Exit {
        let _ = self.signals.send(Signal::Kill);
        self.wait().await
    }

    /// Asks it to stop (SIGTERM), kills it when it has not exited within `grace`, and waits.
    pub(crate) async fn stop(&self, grace: Duration) -> Exit {
        let _ = self.signals.send(Signal::Terminate);
        match tokio::time::timeout(grace, self.wait()).await {
            Ok(exit) => exit,
            Err(_) => self.kill().await,
        }
    }

    /// Its peak resident memory so far (`VmHWM`), in MiB rounded up; `None` once it has exited
    /// or where the platform does not tell.
    pub(crate) fn max_memory_mb(&self) -> Option<u64> {
        if self.reaped.load(Ordering::SeqCst) {
            return None;
        }
        let mb = peak_rss_kib(self.pid)?.div_ceil(1024);
        // Read before the process was reaped, so the pid was still its own.
        (!self.reaped.load(Ordering::SeqCst)).then_some(mb)
    }
}

#[cfg(target_os = "linux")]
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_vm_hwm_kib(&status)
}

#[cfg(not(target_os = "linux"))]
fn peak_rss_kib(_pid: u32) -> Option<u64> {
    None
}

/// The `VmHWM:` figure (kB) of a `/proc/<pid>/status` text.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn parse_vm_hwm_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_high_water_mark() {
        let status =
            "Name:\tbootstrap\nVmPeak:\t  20000 kB\nVmHWM:\t   18432 kB\nVmRSS:\t 1000 kB\n";
        assert_eq!(parse_vm_hwm_kib(status), Some(18_432));
        assert_eq!(parse_vm_hwm_kib("Name:\tzombie\n"), None);
    }

    #[test]
    fn describes_exits_with_their_last_output() {
        let exit = Exit {
            status: "exit status: 1".into(),
            last_output: vec!["a".into(), "Error: b".into()],
        };
        assert_eq!(exit.describe(), "exit status: 1; last output: a | Error: b");
        assert_eq!(Exit::unknown().describe(), "ended (status unknown)");
    }

    #[cfg(unix)]
    fn shell(script: &str) -> (Process, tokio::sync::broadcast::Receiver<LogLine>) {
        let output = Arc::new(Output::new(false));
        let logs = output.subscribe_logs();
        let env: BTreeMap<String, String> =
            [("PATH".to_owned(), "/usr/bin:/bin".to_owned())].into();
        let process = spawn(
            "Shell",
            Path::new("/bin/sh"),
            &["-c", script],
            &env,
            &output,
        )
        .expect("spawn /bin/sh");
        (process, logs)
    }

    /// Waits until the process has written `line`.
    #[cfg(unix)]
    async fn wait_for_line(logs: &mut tokio::sync::broadcast::Receiver<LogLine>, line: &str) {
        let seen = async {
            while let Ok(logged) = logs.recv().await {
                if logged.line == line {
                    return;
                }
            }
            panic!("output ended before {line:?}");
        };
        tokio::time::timeout(Duration::from_secs(30), seen)
            .await
            .expect("line written");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn reports_exit_status_and_last_output() {
        let (process, _logs) = shell("echo one; echo two >&2; exit 3");
        let exit = tokio::time::timeout(Duration::from_secs(30), process.wait())
            .await
            .expect("exits");
        assert_eq!(exit.status, "exit status: 3");
        let mut lines = exit.last_output.clone();
        lines.sort();
        assert_eq!(lines, ["one", "two"]);
        assert!(process.has_exited());
        assert_eq!(process.max_memory_mb(), None);
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn stop_ends_a_process_with_sigterm() {
        let (process, mut logs) = shell("echo ready; exec sleep 60");
        wait_for_line(&mut logs, "ready").await;
        let exit = tokio::time::timeout(
            Duration::from_secs(30),
            process.stop(Duration::from_secs(5)),
        )
        .await
        .expect("stops");
        assert!(exit.status.contains("SIGTERM"), "{}", exit.status);
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn stop_kills_a_process_that_ignores_sigterm() {
        let (process, mut logs) = shell("trap '' TERM; echo ready; exec sleep 60");
        wait_for_line(&mut logs, "ready").await;
        let exit = tokio::time::timeout(
            Duration::from_secs(30),
            process.stop(Duration::from_millis(300)),
        )
        .await
        .expect("killed");
        assert!(exit.status.contains("SIGKILL"), "{}", exit.status);
    }
}
