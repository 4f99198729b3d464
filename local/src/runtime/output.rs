//! Where the output of function processes and the runner's per-invocation lines go: the runner's
//! own stdout/stderr, each line prefixed with the function's logical id and written whole (never
//! interleaved mid-line), and broadcast channels that tests and tools can subscribe to.

use std::io::Write;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::broadcast;

use super::report::InvocationReport;

/// A longer run of bytes without a newline is passed on as a line of its own.
const MAX_LINE_BYTES: usize = 256 * 1024;

/// Lines and reports a slow subscriber may fall behind by before it misses some.
const CHANNEL_CAPACITY: usize = 1024;

/// Which output of a function process a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStream {
    /// Its standard output.
    Stdout,
    /// Its standard error.
    Stderr,
}

/// One line a function process wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Logical id of the function.
    pub function: String,
    /// Process id of the instance that wrote it.
    pub pid: u32,
    /// Where it wrote it.
    pub stream: LogStream,
    /// The line, without its line ending (invalid UTF-8 replaced).
    pub line: String,
}

/// The runtime's output: printing (when enabled) and broadcasting.
pub(crate) struct Output {
    print: bool,
    logs: broadcast::Sender<LogLine>,
    reports: broadcast::Sender<InvocationReport>,
}

impl Output {
    /// Output that prints to the runner's stdout/stderr when `print` is set.
    pub(crate) fn new(print: bool) -> Self {
        Self {
            print,
            logs: broadcast::channel(CHANNEL_CAPACITY).0,
            reports: broadcast::channel(CHANNEL_CAPACITY).0,
        }
    }

    /// A line written by a function process: printed to the same stream, prefixed.
    pub(crate) fn function_line(&self, line: LogLine) {
        // Metric documents are added up (`/_local/metrics`), not printed: they would drown the
        // log lines people read.
        if self.print && !crate::metrics::is_emf(&line.line) {
            write_whole(line.stream, &prefixed(&line.function, &line.line));
        }
        // Nobody listening is fine.
        let _ = self.logs.send(line);
    }

    /// A line of the runner about a function (`START`, `END`, ...), printed to stdout.
    pub(crate) fn runner_line(&self, function: &str, text: &str) {
        if self.print {
            write_whole(LogStream::Stdout, &prefixed(function, text));
        }
    }

    /// Prints an invocation's `REPORT` line and broadcasts the report.
    pub(crate) fn report(&self, report: InvocationReport) {
        self.runner_line(&report.function, &report.to_string());
        let _ = self.reports.send(report);
    }

    pub(crate) fn subscribe_logs(&self) -> broadcast::Receiver<LogLine> {
        self.logs.subscribe()
    }

    pub(crate) fn subscribe_reports(&self) -> broadcast::Receiver<InvocationReport> {
        self.reports.subscribe()
    }
}

/// `[<function>] <text>` and a newline.
fn prefixed(function: &str, text: &str) -> String {
    format!("[{function}] {text}\n")
}

/// Writes one whole line with a single write under the stream's lock, so lines of concurrent
/// writers never mix.
fn write_whole(stream: LogStream, line: &str) {
    // A closed or full terminal must not stop the runner: output errors are dropped.
    match stream {
        LogStream::Stdout => {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(line.as_bytes()).and_then(|()| out.flush());
        }
        LogStream::Stderr => {
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(line.as_bytes()).and_then(|()| err.flush());
        }
    }
}

/// Reads `source` to its end and passes on each line (without `\n` or `\r\n`), however the
/// writer split it into writes. A last line without a newline is passed on too.
pub(crate) async fn forward_lines<R: AsyncRead + Unpin>(source: R, mut emit: impl FnMut(String)) {
    let mut reader = BufReader::new(source);
    let mut line = Vec::new();
    while let Ok(chunk) = reader.fill_buf().await {
        if chunk.is_empty() {
            break;
        }
        let (used, complete) = match chunk.iter().position(|byte| *byte == b'\n') {
            Some(end) => {
                line.extend_from_slice(&chunk[..end]);
                (end + 1, true)
            }
            None => {
                line.extend_from_slice(chunk);
                (chunk.len(), false)
            }
        };
        reader.consume(used);
        if complete || line.len() >= MAX_LINE_BYTES {
            emit(take_line(&mut line));
        }
    }
    if !line.is_empty() {
        emit(take_line(&mut line));
    }
}

fn take_line(line: &mut Vec<u8>) -> String {
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    let text = String::from_utf8_lossy(line).into_owned();
    line.clear();
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines_of(bytes: &[u8]) -> Vec<String> {
        let mut lines = Vec::new();
        forward_lines(bytes, |line| lines.push(line)).await;
        lines
    }

    #[tokio::test]
    async fn splits_on_newlines_and_keeps_a_last_partial_line() {
        assert_eq!(
            lines_of(b"one\r\ntwo\n\nthree").await,
            ["one", "two", "", "three"]
        );
        assert!(lines_of(b"").await.is_empty());
    }

    #[tokio::test]
    async fn joins_a_line_written_in_pieces() {
        let (mut writer, reader) = tokio::io::duplex(8);
        let forward = tokio::spawn(async move {
            let mut lines = Vec::new();
            forward_lines(reader, |line| lines.push(line)).await;
            lines
        });
        for piece in [
            "{\"level\":",
            "\"INFO\",\"msg\":",
            "\"hello\"}\n{\"next\":1}\n",
        ] {
            tokio::io::AsyncWriteExt::write_all(&mut writer, piece.as_bytes())
                .await
                .expect("write");
            tokio::task::yield_now().await;
        }
        drop(writer);
        let lines = forward.await.expect("forwarder");
        assert_eq!(
            lines,
            ["{\"level\":\"INFO\",\"msg\":\"hello\"}", "{\"next\":1}"]
        );
    }

    #[tokio::test]
    async fn cuts_endless_lines() {
        let long = vec![b'x'; MAX_LINE_BYTES * 2 + 10];
        let lines = lines_of(&long).await;
        assert_eq!(lines.len(), 3);
        assert!(lines.iter().all(|line| line.len() <= MAX_LINE_BYTES));
        assert_eq!(lines.iter().map(String::len).sum::<usize>(), long.len());
    }

    #[tokio::test]
    async fn replaces_invalid_utf8() {
        assert_eq!(lines_of(b"caf\xe9\n").await, ["caf\u{fffd}"]);
    }

    #[test]
    fn prefixes_with_the_function() {
        assert_eq!(
            prefixed("AccountsApiFunction", "{\"a\":1}"),
            "[AccountsApiFunction] {\"a\":1}\n"
        );
    }

    #[test]
    fn broadcasts_lines_and_reports() {
        let output = Output::new(false);
        let mut logs = output.subscribe_logs();
        let line = LogLine {
            function: "F".into(),
            pid: 1,
            stream: LogStream::Stderr,
            line: "x".into(),
        };
        output.function_line(line.clone());
        assert_eq!(logs.try_recv().expect("line"), line);
    }
}
