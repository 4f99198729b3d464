use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::net::TcpListener;

use super::target::{Served, serve};
use super::*;

/// The trivial target on a free port; its task ends with the test's runtime.
async fn start_target(close_every: u64) -> (String, Arc<Served>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = Arc::new(Served::default());
    tokio::spawn(serve(listener, close_every, Arc::clone(&served)));
    (format!("http://{addr}"), served)
}

fn spec(url: String, connections: usize, duration: Duration) -> LoadSpec {
    let mut spec = LoadSpec::new(url, connections, duration);
    spec.timeout = Duration::from_secs(5);
    spec
}

fn assert_consistent(result: &LoadResult) {
    assert_eq!(result.requests, result.status.values().sum::<u64>());
    let non_2xx: u64 = result
        .status
        .iter()
        .filter(|(status, _)| !status.starts_with('2'))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(result.errors, non_2xx + result.transport_errors.total());
    let l = &result.latency_ms;
    assert!(l.p50 <= l.p90 && l.p90 <= l.p99 && l.p99 <= l.p999 && l.p999 <= l.max);
    if result.requests > 0 {
        assert!(l.p50 > 0.0 && l.mean > 0.0 && l.mean <= l.max);
    }
    assert!(result.rps >= 0.0 && result.seconds >= 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_add_up_when_one_request_in_ten_closes_the_connection() {
    let (url, served) = start_target(10).await;
    let result = run_load(&spec(format!("{url}/ok"), 8, Duration::from_millis(800)))
        .await
        .unwrap();
    assert_consistent(&result);
    assert_eq!(result.connected, 8);
    assert!(result.requests > 100, "{result:?}");
    assert_eq!(result.status.keys().collect::<Vec<_>>(), ["200"]);
    let t = result.transport_errors;
    assert!(
        t.closed > 0 && t.connect == 0 && t.timeout == 0 && t.io == 0,
        "{t:?}"
    );
    assert_eq!(result.errors, t.closed);
    // Every head the server read was answered, dropped (a closed error) or still in flight.
    let seen = served.requests.load(Ordering::Relaxed);
    let in_flight = result.abandoned_in_flight;
    assert!(seen >= result.requests + t.closed && seen <= result.requests + t.closed + in_flight);
    assert!(t.closed <= seen / 10 && t.closed + in_flight >= seen / 10);
    assert!((result.seconds - 0.8).abs() < 0.05, "{}", result.seconds);
    assert!(result.rps > 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_2xx_statuses_are_errors() {
    let (url, _) = start_target(0).await;
    let mut spec = spec(format!("{url}/fail"), 4, Duration::from_secs(10));
    spec.max_requests = Some(300);
    let result = run_load(&spec).await.unwrap();
    assert_consistent(&result);
    assert_eq!(result.status.get("500"), Some(&300));
    assert_eq!(result.requests, 300);
    assert_eq!(result.errors, 300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_requests_stops_exactly() {
    let (url, served) = start_target(0).await;
    let mut spec = spec(format!("{url}/ok"), 16, Duration::from_secs(30));
    spec.max_requests = Some(1000);
    let result = run_load(&spec).await.unwrap();
    assert_consistent(&result);
    assert_eq!(result.requests, 1000);
    assert_eq!(result.status.get("200"), Some(&1000));
    assert_eq!(result.errors, 0);
    assert_eq!(served.requests.load(Ordering::Relaxed), 1000);
    assert!(result.seconds < 10.0);

    // Sent, whatever the outcome: dropped requests use up the budget too.
    let (url, served) = start_target(10).await;
    let mut spec = spec.clone();
    spec.url = format!("{url}/ok");
    spec.connections = 1;
    spec.max_requests = Some(200);
    let result = run_load(&spec).await.unwrap();
    assert_consistent(&result);
    assert_eq!(result.requests, 180);
    assert_eq!(result.transport_errors.closed, 20);
    assert_eq!(served.requests.load(Ordering::Relaxed), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_polite_close_is_a_reconnect_not_an_error() {
    let (url, _) = start_target(0).await;
    let mut spec = spec(format!("{url}/close"), 2, Duration::from_secs(10));
    spec.max_requests = Some(100);
    let result = run_load(&spec).await.unwrap();
    assert_consistent(&result);
    assert_eq!(result.requests, 100);
    assert_eq!(result.errors, 0);
    assert_eq!(result.reconnects, 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_is_counted() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let mut spec = spec(format!("http://{addr}/ok"), 2, Duration::from_millis(300));
    spec.timeout = Duration::from_millis(200);
    let result = run_load(&spec).await.unwrap();
    assert_consistent(&result);
    assert_eq!(result.connected, 0);
    assert_eq!(result.requests, 0);
    assert!(result.connect_retries > 0);
    assert!(result.transport_errors.connect > 0);
    assert_eq!(result.errors, result.transport_errors.connect);
    assert!(!result.warnings.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_answer_is_a_timeout() {
    // Accepts and reads, never answers.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let mut spec = spec(format!("http://{addr}/ok"), 1, Duration::from_millis(700));
    spec.timeout = Duration::from_millis(200);
    let result = run_load(&spec).await.unwrap();
    assert_consistent(&result);
    assert_eq!(result.requests, 0);
    assert!(result.transport_errors.timeout >= 2, "{result:?}");
}

#[tokio::test]
async fn invalid_specs_are_refused() {
    for url in ["https://127.0.0.1/", "127.0.0.1:80/ok", "http:///x"] {
        let outcome = run_load(&LoadSpec::new(url, 1, Duration::from_secs(1))).await;
        assert!(matches!(outcome, Err(BenchError::Usage(_))), "{url}");
    }
    let mut spec = LoadSpec::new("http://127.0.0.1:1/", 1, Duration::from_secs(1));
    spec.headers.push(("bad name".into(), "x".into()));
    assert!(matches!(run_load(&spec).await, Err(BenchError::Usage(_))));
}

#[test]
fn durations_and_headers_parse() {
    use super::cli::{parse_duration, parse_header};
    assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
    assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
    assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
    assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
    assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
    assert!(parse_duration("2h").is_err() && parse_duration("s").is_err());
    assert_eq!(
        parse_header("authorization: Bearer a:b"),
        Ok(("authorization".into(), "Bearer a:b".into()))
    );
    assert!(parse_header("no colon").is_err());
}
