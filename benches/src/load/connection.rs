//! One connection of the closed loop: its own TCP connection and HTTP/1.1 keep-alive, one GET at a
//! time, a new connection whenever the server closes it or it fails.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use http::header::CONNECTION;
use http::{HeaderMap, Request, Uri};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{Instant, sleep, sleep_until, timeout};

use super::histogram::Latencies;

type Sender = SendRequest<Empty<Bytes>>;

/// What every connection sends, and where.
pub struct Target {
    pub addr: SocketAddr,
    /// Origin form (`/path?query`), as HTTP/1.1 puts it on the request line.
    pub path: Uri,
    /// Host and the caller's headers.
    pub headers: HeaderMap,
    pub timeout: Duration,
}

impl Target {
    fn request(&self) -> Request<Empty<Bytes>> {
        let mut request = Request::new(Empty::new());
        *request.uri_mut() = self.path.clone();
        *request.headers_mut() = self.headers.clone();
        request
    }
}

/// State the connections share: two counters, touched once per connection and once per request.
pub struct Shared {
    pub established: AtomicUsize,
    pub issued: AtomicU64,
    pub max_requests: Option<u64>,
}

/// Transport failures by kind. `closed`: the server closed or reset the connection before the
/// response was complete; `io`: any other failure of the exchange.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct ErrorCounts {
    pub connect: u64,
    pub timeout: u64,
    pub closed: u64,
    pub io: u64,
}

impl ErrorCounts {
    #[must_use]
    pub fn total(&self) -> u64 {
        self.connect + self.timeout + self.closed + self.io
    }

    fn add(&mut self, other: &Self) {
        self.connect += other.connect;
        self.timeout += other.timeout;
        self.closed += other.closed;
        self.io += other.io;
    }
}

/// One connection's figures (or, merged, all of them).
#[derive(Default)]
pub struct ConnStats {
    pub latencies: Latencies,
    pub statuses: BTreeMap<u16, u64>,
    pub errors: ErrorCounts,
    /// New connections after the server closed one politely (`connection: close`).
    pub reconnects: u64,
    /// Failed connects before the window opened (the ramp), not counted as errors.
    pub connect_retries: u64,
    /// Requests still in flight when the window closed: neither answered nor failed.
    pub abandoned: u64,
    /// When this connection stopped (the window's end at the latest).
    pub finished: Option<Instant>,
}

impl ConnStats {
    pub fn merge(&mut self, other: &Self) {
        self.latencies.merge(&other.latencies);
        for (status, n) in &other.statuses {
            *self.statuses.entry(*status).or_default() += n;
        }
        self.errors.add(&other.errors);
        self.reconnects += other.reconnects;
        self.connect_retries += other.connect_retries;
        self.abandoned += other.abandoned;
        self.finished = self.finished.max(other.finished);
    }
}

/// Delays between failed connects: 10 ms doubling to 1 s, so a refusing server is not hammered.
struct Backoff(Duration);

impl Backoff {
    const FIRST: Duration = Duration::from_millis(10);
    const LAST: Duration = Duration::from_secs(1);

    fn next(&mut self) -> Duration {
        let delay = self.0;
        self.0 = (self.0 * 2).min(Self::LAST);
        delay
    }
}

/// Opens the connection after `delay` (the ramp), waits for the window (its end is announced once
/// every connection is open), then requests until the window ends or the shared request budget is
/// spent.
pub async fn run(
    target: Arc<Target>,
    shared: Arc<Shared>,
    mut window: watch::Receiver<Option<Instant>>,
    delay: Duration,
) -> ConnStats {
    let mut stats = ConnStats::default();
    sleep(delay).await;
    let mut backoff = Backoff(Backoff::FIRST);
    let mut sender = None;
    // Connects that fail before the window opens are the ramp's business, retried until it does.
    while window.borrow().is_none() {
        if let Some(opened) = connect(&target, target.timeout).await {
            shared.established.fetch_add(1, Ordering::Relaxed);
            sender = Some(opened);
            break;
        }
        stats.connect_retries += 1;
        tokio::select! {
            () = sleep(backoff.next()) => {}
            changed = window.changed() => if changed.is_err() {
                // The run was dropped before the window opened.
                return stats;
            }
        }
    }
    let end = match window.wait_for(Option::is_some).await {
        Ok(announced) => *announced,
        Err(_) => None,
    };
    let Some(end) = end else {
        return stats;
    };
    let mut backoff = Backoff(Backoff::FIRST);
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        let mut open = match sender.take() {
            Some(open) if !open.is_closed() => open,
            _ => match connect(&target, target.timeout.min(end - now)).await {
                Some(open) => {
                    backoff = Backoff(Backoff::FIRST);
                    open
                }
                None => {
                    stats.errors.connect += 1;
                    sleep_until(end.min(Instant::now() + backoff.next())).await;
                    continue;
                }
            },
        };
        if let Some(max) = shared.max_requests
            && shared.issued.fetch_add(1, Ordering::Relaxed) >= max
        {
            break;
        }
        let started = Instant::now();
        let outcome = tokio::select! {
            biased;
            outcome = timeout(target.timeout, exchange(&mut open, target.request())) => outcome,
            () = sleep_until(end) => {
                stats.abandoned += 1;
                break;
            }
        };
        // An answer the timer had no turn to cut off (a busy runtime) is still outside the window.
        let answered = Instant::now();
        if answered > end {
            stats.abandoned += 1;
            break;
        }
        match outcome {
            Ok(Ok(answer)) => {
                stats.latencies.record(answered - started);
                *stats.statuses.entry(answer.status).or_default() += 1;
                if answer.close {
                    stats.reconnects += 1;
                } else {
                    sender = Some(open);
                }
            }
            Ok(Err(err)) => match classify(&err) {
                Failure::Closed => stats.errors.closed += 1,
                Failure::Io => stats.errors.io += 1,
            },
            Err(_elapsed) => stats.errors.timeout += 1,
        }
    }
    stats.finished = Some(Instant::now().min(end));
    stats
}

/// A TCP connection with the HTTP/1.1 handshake done, or none (refused, timed out, failed).
async fn connect(target: &Target, limit: Duration) -> Option<Sender> {
    let stream = timeout(limit, TcpStream::connect(target.addr))
        .await
        .ok()?
        .ok()?;
    // Requests are single small writes waiting for an answer: Nagle would only delay them.
    stream.set_nodelay(true).ok()?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await.ok()?;
    tokio::spawn(async move {
        // Its failures reach the sender's next request, which counts them.
        let _ = connection.await;
    });
    Some(sender)
}

struct Answer {
    status: u16,
    /// The server said it closes the connection after this response.
    close: bool,
}

/// One request and its whole body.
async fn exchange(
    sender: &mut Sender,
    request: Request<Empty<Bytes>>,
) -> Result<Answer, hyper::Error> {
    sender.ready().await?;
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    let close = response
        .headers()
        .get(CONNECTION)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
    let mut body = response.into_body();
    while let Some(frame) = body.frame().await {
        frame?;
    }
    Ok(Answer { status, close })
}

enum Failure {
    Closed,
    Io,
}

fn classify(err: &hyper::Error) -> Failure {
    if err.is_closed() || err.is_incomplete_message() || err.is_canceled() {
        return Failure::Closed;
    }
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::{
                BrokenPipe, ConnectionAborted, ConnectionReset, UnexpectedEof,
            };
            if matches!(
                io.kind(),
                BrokenPipe | ConnectionAborted | ConnectionReset | UnexpectedEof
            ) {
                return Failure::Closed;
            }
        }
        source = cause.source();
    }
    Failure::Io
}
