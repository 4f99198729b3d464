//! `clinic-bench load` and `clinic-bench load-target`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::{LoadResult, LoadSpec, run_load, target};
use crate::BenchError;

/// Without `--duration`: the window, or the cap on a `--max-requests` run.
const DEFAULT_DURATION: Duration = Duration::from_secs(30);
const MAX_REQUESTS_CAP: Duration = Duration::from_secs(600);

#[derive(clap::Args)]
pub struct Args {
    /// Target, plain HTTP/1.1: http://host:port/path?query.
    #[arg(long)]
    pub url: String,
    /// Concurrent connections, each sending one request at a time.
    #[arg(long, default_value_t = 1000)]
    pub connections: usize,
    /// Measurement window, after the ramp: seconds, or `500ms`, `30s`, `2m` [default: 30s, or a
    /// 600 s cap with --max-requests].
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// A header for every request, `name: value` (repeatable).
    #[arg(long = "header", value_parser = parse_header)]
    pub headers: Vec<(String, String)>,
    /// Per request (and per connect).
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    pub timeout: Duration,
    /// Stop after this many requests in all.
    #[arg(long)]
    pub max_requests: Option<u64>,
    /// Name of the run in the JSON.
    #[arg(long)]
    pub label: Option<String>,
    /// Where the JSON figures go.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(clap::Args)]
pub struct TargetArgs {
    #[arg(long, default_value = "127.0.0.1:18080")]
    pub listen: SocketAddr,
    /// Drop every Nth request unanswered, with its connection (0: never).
    #[arg(long, default_value_t = 0)]
    pub close_every: u64,
    /// Runtime worker threads.
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
}

#[derive(Serialize)]
struct Labelled<'a> {
    label: Option<&'a str>,
    #[serde(flatten)]
    result: &'a LoadResult,
}

/// Runs the load and writes its figures to `args.out`.
///
/// # Errors
/// Invalid arguments, an unresolvable host, or the output could not be written.
pub fn run(args: &Args) -> Result<(), BenchError> {
    let duration = args.duration.unwrap_or(if args.max_requests.is_some() {
        MAX_REQUESTS_CAP
    } else {
        DEFAULT_DURATION
    });
    let mut spec = LoadSpec::new(args.url.clone(), args.connections, duration);
    spec.headers.clone_from(&args.headers);
    spec.timeout = args.timeout;
    spec.max_requests = args.max_requests;
    let result = runtime(2)?.block_on(run_load(&spec))?;
    let label = args.label.as_deref();
    let t = &result.transport_errors;
    let l = &result.latency_ms;
    eprintln!(
        "load: {} {} conns {:.1} s: {} requests {:.0} req/s, {} errors (status {:?}, connect {} timeout {} closed {} io {}), p50 {:.2} p99 {:.2} max {:.2} ms, ramp {:.2} s",
        label.unwrap_or(&result.url),
        result.connections,
        result.seconds,
        result.requests,
        result.rps,
        result.errors,
        result.status,
        t.connect,
        t.timeout,
        t.closed,
        t.io,
        l.p50,
        l.p99,
        l.max,
        result.ramp_seconds
    );
    for warning in &result.warnings {
        eprintln!("load: warning: {warning}");
    }
    crate::write_json(
        &args.out,
        &Labelled {
            label,
            result: &result,
        },
    )
}

/// Serves the trivial target until killed.
///
/// # Errors
/// The address could not be bound.
pub fn serve_target(args: &TargetArgs) -> Result<(), BenchError> {
    runtime(args.workers)?.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen).await?;
        eprintln!("load-target: listening on {}", listener.local_addr()?);
        target::serve(listener, args.close_every, Arc::default()).await;
        Ok(())
    })
}

fn runtime(workers: usize) -> Result<tokio::runtime::Runtime, BenchError> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers.max(1))
        .enable_all()
        .build()?)
}

/// `30`, `30s`, `1.5s`, `500ms`, `2m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (30, 30s, 500ms, 2m)"))?;
    let seconds = match unit.trim() {
        "" | "s" => number,
        "ms" => number / 1_000.0,
        "m" => number * 60.0,
        other => return Err(format!("unknown duration unit {other:?} (ms, s, m)")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| e.to_string())
}

/// `name: value`.
pub fn parse_header(text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| format!("{text:?} is not `name: value`"))?;
    Ok((name.trim().to_string(), value.trim().to_string()))
}
