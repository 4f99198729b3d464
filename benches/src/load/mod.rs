//! A closed-loop HTTP/1.1 load generator, as `wrk -cN -dT` measures: N connections, each its own
//! task and keep-alive TCP connection sending GETs back to back. Connections open over a one-second
//! ramp (so the server's listen backlog does not overflow); the window opens once all are up.

mod cli;
mod connection;
pub mod histogram;
pub mod target;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use http::header::{HOST, HeaderName, HeaderValue, USER_AGENT};
use http::{HeaderMap, Uri};
use serde::Serialize;
use tokio::sync::watch;
use tokio::time::{Instant, sleep};

use crate::BenchError;
pub use cli::{Args, TargetArgs, run, serve_target};
pub use connection::ErrorCounts;
use connection::{ConnStats, Shared, Target};
pub use histogram::LatencySummary;

/// Connections open evenly over this long.
const RAMP: Duration = Duration::from_secs(1);
/// Longest wait beyond the ramp for the last connections (capped by the request timeout).
const RAMP_GRACE: Duration = Duration::from_secs(10);
/// Descriptors the process needs besides its connections (stdio, runtime, output file).
const NOFILE_OVERHEAD: u64 = 64;

/// What to load and how hard.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    /// `http://host:port/path?query`.
    pub url: String,
    pub connections: usize,
    pub duration: Duration,
    pub headers: Vec<(String, String)>,
    /// Per request, and per connect.
    pub timeout: Duration,
    /// Stop after this many requests in all (sent, whatever their outcome).
    pub max_requests: Option<u64>,
}

impl LoadSpec {
    #[must_use]
    pub fn new(url: impl Into<String>, connections: usize, duration: Duration) -> Self {
        Self {
            url: url.into(),
            connections,
            duration,
            headers: Vec::new(),
            timeout: Duration::from_secs(30),
            max_requests: None,
        }
    }
}

/// The figures of one run.
#[derive(Debug, Clone, Serialize)]
pub struct LoadResult {
    pub url: String,
    pub connections: usize,
    /// Connections open when the window started.
    pub connected: usize,
    /// The window: the duration, or less when `max_requests` ended it.
    pub seconds: f64,
    /// Responses received (whatever their status).
    pub requests: u64,
    pub rps: f64,
    /// Non-2xx responses plus transport errors.
    pub errors: u64,
    /// Responses by status code.
    pub status: BTreeMap<String, u64>,
    pub transport_errors: ErrorCounts,
    /// New connections after a `connection: close` response (not errors).
    pub reconnects: u64,
    /// Failed connects during the ramp, retried (not errors).
    pub connect_retries: u64,
    /// Requests in flight when the window closed, counted nowhere else.
    pub abandoned_in_flight: u64,
    /// Of the responses (any status).
    pub latency_ms: LatencySummary,
    pub ramp_seconds: f64,
    /// The open-files soft limit after raising it to the hard limit (`null`: unlimited).
    pub nofile_limit: Option<u64>,
    pub warnings: Vec<String>,
}

/// Runs the load described by `spec` on the current tokio runtime.
///
/// # Errors
/// An invalid URL or header, or a host that does not resolve.
pub async fn run_load(spec: &LoadSpec) -> Result<LoadResult, BenchError> {
    if spec.connections == 0 {
        return Err(BenchError::Usage("connections must be at least 1".into()));
    }
    let mut warnings = Vec::new();
    let nofile_limit = raise_nofile_limit();
    let needed = spec.connections as u64 + NOFILE_OVERHEAD;
    if let Some(limit) = nofile_limit.filter(|limit| *limit < needed) {
        warnings.push(format!(
            "open-files limit {limit} is below connections + {NOFILE_OVERHEAD} ({needed}): connects may fail"
        ));
    }
    let target = Arc::new(target(spec).await?);
    let shared = Arc::new(Shared {
        established: AtomicUsize::new(0),
        issued: AtomicU64::new(0),
        max_requests: spec.max_requests,
    });
    let (announce, window) = watch::channel(None);
    let step = RAMP / u32::try_from(spec.connections).unwrap_or(u32::MAX);
    let ramp_started = Instant::now();
    let tasks: Vec<_> = (0..spec.connections)
        .map(|i| {
            tokio::spawn(connection::run(
                Arc::clone(&target),
                Arc::clone(&shared),
                window.clone(),
                step * u32::try_from(i).unwrap_or(u32::MAX),
            ))
        })
        .collect();
    drop(window);

    let ramp_deadline = ramp_started + RAMP + RAMP_GRACE.min(spec.timeout);
    while shared.established.load(Ordering::Relaxed) < spec.connections
        && Instant::now() < ramp_deadline
    {
        sleep(Duration::from_millis(5)).await;
    }
    let ramp_seconds = round_to(ramp_started.elapsed().as_secs_f64(), 1_000.0);
    let connected = shared.established.load(Ordering::Relaxed);
    if connected < spec.connections {
        warnings.push(format!(
            "only {connected} of {} connections open after {ramp_seconds:.1} s of ramp",
            spec.connections
        ));
    }
    let start = Instant::now();
    announce.send_replace(Some(start + spec.duration));

    let mut total = ConnStats::default();
    for task in tasks {
        let stats = task.await.map_err(BenchError::other)?;
        total.merge(&stats);
    }
    Ok(summarise(
        spec,
        &total,
        start,
        connected,
        ramp_seconds,
        nofile_limit,
        warnings,
    ))
}

fn summarise(
    spec: &LoadSpec,
    total: &ConnStats,
    start: Instant,
    connected: usize,
    ramp_seconds: f64,
    nofile_limit: Option<u64>,
    warnings: Vec<String>,
) -> LoadResult {
    let seconds = total
        .finished
        .map_or(spec.duration, |finished| {
            finished.saturating_duration_since(start)
        })
        .as_secs_f64();
    let requests: u64 = total.statuses.values().sum();
    let non_2xx: u64 = total
        .statuses
        .iter()
        .filter(|(status, _)| !(200..300).contains(*status))
        .map(|(_, n)| n)
        .sum();
    LoadResult {
        url: spec.url.clone(),
        connections: spec.connections,
        connected,
        seconds: round_to(seconds, 1_000.0),
        requests,
        rps: if seconds > 0.0 {
            round_to(requests as f64 / seconds, 10.0)
        } else {
            0.0
        },
        errors: non_2xx + total.errors.total(),
        status: total
            .statuses
            .iter()
            .map(|(status, n)| (status.to_string(), *n))
            .collect(),
        transport_errors: total.errors,
        reconnects: total.reconnects,
        connect_retries: total.connect_retries,
        abandoned_in_flight: total.abandoned,
        latency_ms: total.latencies.summary(),
        ramp_seconds,
        nofile_limit,
        warnings,
    }
}

/// `value` rounded to `1 / per` (figures for a report, not for further arithmetic).
fn round_to(value: f64, per: f64) -> f64 {
    (value * per).round() / per
}

/// Address, request line and headers from the spec.
async fn target(spec: &LoadSpec) -> Result<Target, BenchError> {
    let bad = |why: &str| BenchError::Usage(format!("url {}: {why}", spec.url));
    let uri: Uri = spec.url.parse().map_err(|_| bad("not a URL"))?;
    if uri.scheme_str() != Some("http") {
        return Err(bad("only http:// is supported"));
    }
    let authority = uri.authority().ok_or_else(|| bad("no host"))?;
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = authority.port_u16().unwrap_or(80);
    let addr: SocketAddr = tokio::net::lookup_host((host, port))
        .await?
        .next()
        .ok_or_else(|| bad("host does not resolve"))?;
    let path: Uri = uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .parse()
        .map_err(|_| bad("invalid path"))?;

    let mut headers = HeaderMap::new();
    for (name, value) in &spec.headers {
        let name = HeaderName::try_from(name.as_str())
            .map_err(|_| BenchError::Usage(format!("invalid header name {name:?}")))?;
        let value = HeaderValue::try_from(value.as_str())
            .map_err(|_| BenchError::Usage(format!("invalid value for header {name}")))?;
        headers.append(name, value);
    }
    if !headers.contains_key(HOST) {
        let value = HeaderValue::try_from(authority.as_str()).map_err(|_| bad("invalid host"))?;
        headers.insert(HOST, value);
    }
    if !headers.contains_key(USER_AGENT) {
        headers.insert(USER_AGENT, HeaderValue::from_static("clinic-bench"));
    }
    Ok(Target {
        addr,
        path,
        headers,
        timeout: spec.timeout,
    })
}

/// Raises the open-files soft limit to the hard limit; returns the soft limit then in force
/// (`None`: unlimited). 1,000 connections and their overhead exceed a 1,024 default.
fn raise_nofile_limit() -> Option<u64> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        // A failure leaves the soft limit as it was, which the result reports.
        let _ = setrlimit(
            Resource::Nofile,
            Rlimit {
                current: limit.maximum,
                maximum: limit.maximum,
            },
        );
    }
    getrlimit(Resource::Nofile).current
}
