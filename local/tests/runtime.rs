//! The function runtime against a real Lambda function process: `examples/fixture_function.rs`,
//! which `cargo test` builds into `<target>/debug/examples/fixture_function`.
//!
//! The machine may be small and busy: every wait is bounded generously, and the assertions are
//! about outcomes, counts and orderings, never about how long something took.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clinic_local::model::{FunctionSpec, InvokeError, Invoker};
use clinic_local::runtime::{
    InvocationReport, LogLine, LogStream, Outcome, Runtime, RuntimeConfig, RuntimeError,
    THROTTLED_ERROR_TYPE,
};
use serde_json::{Value, json};
use tokio::sync::broadcast;

/// Bound of any single step.
const STEP: Duration = Duration::from_secs(120);

fn examples_dir() -> PathBuf {
    // The test binary is <target>/<profile>/deps/runtime-<hash>.
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("profile directory")
        .join("examples");
    assert!(
        dir.join("fixture_function").is_file(),
        "fixture_function is not built in {}: run `cargo test -p clinic-local` (which builds \
         the examples) or `cargo build -p clinic-local --examples`",
        dir.display()
    );
    dir
}

fn spec(name: &str, timeout: Duration) -> FunctionSpec {
    FunctionSpec {
        logical_id: name.to_owned(),
        binary: "fixture_function".to_owned(),
        environment: BTreeMap::from([("TABLE_NAME".to_owned(), "accounts".to_owned())]),
        timeout,
        memory_mb: 128,
        reserved_concurrency: None,
        events: Vec::new(),
    }
}

/// A fixture function whose initialisation fails `how` (`FIXTURE_INIT_FAIL`: `1` reports an init
/// error, `exit` exits).
fn failing_at_init(name: &str, how: &str) -> FunctionSpec {
    let mut failing = spec(name, Duration::from_secs(30));
    failing
        .environment
        .insert("FIXTURE_INIT_FAIL".to_owned(), how.to_owned());
    failing
}

fn config(max_instances: u32) -> RuntimeConfig {
    let mut config = RuntimeConfig::new(examples_dir());
    config.max_instances = max_instances;
    config
        .extra_env
        .insert("FIXTURE_EXTRA".to_owned(), "from-runner".to_owned());
    config.print_output = false;
    config.init_timeout = Duration::from_secs(60);
    config.drain_timeout = Duration::from_secs(60);
    config
}

fn runtime(functions: impl IntoIterator<Item = FunctionSpec>, max_instances: u32) -> Runtime {
    Runtime::new(functions, config(max_instances)).expect("runtime")
}

async fn within<T>(step: impl Future<Output = T>) -> T {
    tokio::time::timeout(STEP, step)
        .await
        .expect("step finished in time")
}

fn now_ms() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after the epoch");
    u64::try_from(since.as_millis()).expect("fits")
}

/// Every report published so far (each is published before its invocation returns).
fn all_reports(receiver: &mut broadcast::Receiver<InvocationReport>) -> Vec<InvocationReport> {
    std::iter::from_fn(|| receiver.try_recv().ok()).collect()
}

fn the_report(receiver: &mut broadcast::Receiver<InvocationReport>) -> InvocationReport {
    let mut all = all_reports(receiver);
    assert_eq!(all.len(), 1, "{all:?}");
    all.remove(0)
}

/// Waits for a line from a function process.
async fn wait_for_line(
    logs: &mut broadcast::Receiver<LogLine>,
    wanted: impl Fn(&LogLine) -> bool,
) -> LogLine {
    within(async {
        loop {
            match logs.recv().await {
                Ok(line) if wanted(&line) => return line,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => panic!("log channel closed"),
            }
        }
    })
    .await
}

/// Starts an invocation of `function` that sleeps `ms` and waits until its process says it
/// sleeps: the task answers what the invocation does; the line is the process's.
async fn invoke_sleeping(
    runtime: &Runtime,
    logs: &mut broadcast::Receiver<LogLine>,
    function: &'static str,
    ms: u64,
) -> (tokio::task::JoinHandle<Result<Value, InvokeError>>, LogLine) {
    let task = tokio::spawn({
        let runtime = runtime.clone();
        async move {
            runtime
                .invoke(function, json!({ "action": "sleep", "ms": ms }))
                .await
        }
    });
    let sleeping = format!("sleeping {ms}");
    let line = wait_for_line(logs, |line| line.line == sleeping).await;
    (task, line)
}

fn pid_of(answer: &Value) -> u64 {
    answer["pid"].as_u64().expect("pid in the answer")
}

/// The message of the throttling error an invocation of `function` answers with (it must be one).
async fn throttled_message(runtime: &Runtime, function: &str) -> String {
    match within(runtime.invoke(function, json!({}))).await {
        Err(InvokeError::Function {
            error_type,
            error_message,
        }) => {
            assert_eq!(error_type, THROTTLED_ERROR_TYPE);
            error_message
        }
        other => panic!("expected throttling, got {other:?}"),
    }
}

/// Runs `count` invocations of `function` at once, each sleeping `ms`: the pids that answered.
async fn pids_of_concurrent_sleeps(
    runtime: &Runtime,
    function: &str,
    count: usize,
    ms: u64,
) -> BTreeSet<u64> {
    let invocations =
        (0..count).map(|_| runtime.invoke(function, json!({ "action": "sleep", "ms": ms })));
    let answers = within(futures::future::join_all(invocations)).await;
    answers
        .iter()
        .map(|answer| pid_of(answer.as_ref().expect("answer")))
        .collect()
}

/// True while a process with this pid exists (Linux only; elsewhere always false).
fn process_exists(pid: u32) -> bool {
    cfg!(target_os = "linux") && Path::new(&format!("/proc/{pid}")).exists()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_round_trip_with_lambda_context_and_environment() {
    let runtime = runtime([spec("EchoFunction", Duration::from_secs(30))], 2);
    let mut reports = runtime.subscribe_reports();
    let before = now_ms();
    let payload = json!({ "action": "echo", "n": 1, "text": "olá" });
    let answer = within(runtime.invoke("EchoFunction", payload.clone()))
        .await
        .expect("answer");
    let after = now_ms();
    assert_eq!(answer["payload"], payload);

    let request_id = answer["request_id"].as_str().expect("request id");
    let groups: Vec<usize> = request_id.split('-').map(str::len).collect();
    assert_eq!(groups, [8, 4, 4, 4, 12], "{request_id}");
    assert_eq!(
        answer["function_arn"],
        "arn:aws:lambda:us-east-1:123456789012:function:EchoFunction"
    );
    let trace = answer["trace_id"].as_str().expect("trace id");
    assert!(
        trace.starts_with("Root=1-") && trace.contains(";Parent=") && trace.ends_with(";Sampled=1"),
        "{trace}"
    );
    let deadline = answer["deadline_ms"].as_u64().expect("deadline");
    assert!(
        (before + 30_000..=after + 30_000).contains(&deadline),
        "{before} {deadline} {after}"
    );
    assert_eq!(answer["function_name"], "EchoFunction");
    assert_eq!(answer["memory"], 128);
    assert_eq!(answer["version"], "$LATEST");
    assert_eq!(answer["log_group"], "/aws/lambda/EchoFunction");
    assert!(
        answer["log_stream"]
            .as_str()
            .expect("stream")
            .contains("/[$LATEST]")
    );

    let env = answer["env"].as_object().expect("environment");
    for (key, value) in [
        ("AWS_LAMBDA_FUNCTION_NAME", "EchoFunction"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/EchoFunction"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("_HANDLER", "bootstrap"),
        ("TABLE_NAME", "accounts"),
        ("FIXTURE_EXTRA", "from-runner"),
    ] {
        assert_eq!(env.get(key).and_then(Value::as_str), Some(value), "{key}");
    }
    let api = env["AWS_LAMBDA_RUNTIME_API"].as_str().expect("runtime API");
    assert!(api.starts_with("127.0.0.1:"), "{api}");
    assert!(env.contains_key("AWS_LAMBDA_LOG_STREAM_NAME"));
    // Nothing else of the test process's environment leaks in.
    let inherited = ["PATH", "HOME", "RUST_LOG", "RUST_BACKTRACE"];
    let set_here = [
        "TABLE_NAME",
        "FIXTURE_EXTRA",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "_HANDLER",
        "TZ",
    ];
    for key in env.keys() {
        let expected = inherited.contains(&key.as_str())
            || set_here.contains(&key.as_str())
            || key.starts_with("AWS_LAMBDA_")
            // Set by `lambda_runtime` itself for each invocation.
            || key == "_X_AMZN_TRACE_ID";
        assert!(
            expected,
            "unexpected variable {key} in the function's environment"
        );
    }

    let cold = the_report(&mut reports);
    assert_eq!(cold.function, "EchoFunction");
    assert_eq!(cold.request_id, request_id);
    assert_eq!(u64::from(cold.pid), pid_of(&answer));
    assert_eq!(cold.outcome, Outcome::Success);
    assert!(
        cold.is_cold_start(),
        "the first invocation waited for the init: {cold:?}"
    );
    assert_eq!(cold.memory_size_mb, 128);
    if cfg!(target_os = "linux") {
        assert!(cold.max_memory_mb > 0, "{cold:?}");
    }
    assert!(
        cold.billed
            >= cold.duration + cold.init_duration.unwrap_or_default() - Duration::from_millis(1)
    );
    let line = cold.to_string();
    assert!(
        line.starts_with(&format!("REPORT RequestId: {request_id}\tDuration: ")),
        "{line}"
    );
    assert!(line.contains("\tInit Duration: "), "{line}");

    let again = within(runtime.invoke("EchoFunction", json!({ "action": "echo" })))
        .await
        .expect("answer");
    assert_eq!(
        pid_of(&again),
        pid_of(&answer),
        "the warm instance is reused"
    );
    assert_ne!(again["request_id"], answer["request_id"]);
    let warm = the_report(&mut reports);
    assert!(!warm.is_cold_start(), "{warm:?}");
    assert!(!warm.to_string().contains("Init Duration"));

    within(runtime.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_invocations_use_at_most_n_instances() {
    let runtime = runtime([spec("SleepFunction", Duration::from_secs(60))], 2);
    let mut reports = runtime.subscribe_reports();
    let pids = pids_of_concurrent_sleeps(&runtime, "SleepFunction", 6, 800).await;
    // How many instances the pool needed depends on how fast they started on this machine; never
    // more than the limit, and each started once.
    assert!(
        (1..=2).contains(&pids.len()),
        "two instances at most: {pids:?}"
    );

    let stats = runtime.stats("SleepFunction").expect("stats");
    let instances = pids.len();
    assert_eq!(
        (
            stats.limit,
            stats.started,
            stats.live,
            stats.idle,
            stats.queued
        ),
        (2, instances as u64, instances, instances, 0),
        "{stats:?}"
    );
    let all = all_reports(&mut reports);
    assert_eq!(all.len(), 6);
    assert_eq!(
        all.iter().filter(|report| report.is_cold_start()).count(),
        instances,
        "one cold start per instance"
    );
    let reported: BTreeSet<u64> = all.iter().map(|report| u64::from(report.pid)).collect();
    assert_eq!(reported, pids);

    within(runtime.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reserved_concurrency_lowers_the_limit_and_zero_throttles() {
    let mut one = spec("OneFunction", Duration::from_secs(60));
    one.reserved_concurrency = Some(1);
    let mut none = spec("ThrottledFunction", Duration::from_secs(60));
    none.reserved_concurrency = Some(0);
    let runtime = runtime([one, none], 4);

    let pids = pids_of_concurrent_sleeps(&runtime, "OneFunction", 3, 200).await;
    assert_eq!(pids.len(), 1, "{pids:?}");
    assert_eq!(runtime.stats("OneFunction").expect("stats").limit, 1);

    let error_message = throttled_message(&runtime, "ThrottledFunction").await;
    assert!(
        error_message.contains("ThrottledFunction")
            && error_message.contains("reserved concurrency is 0")
    );
    within(runtime.warm_up("ThrottledFunction"))
        .await
        .expect("nothing to start");
    assert_eq!(
        runtime.stats("ThrottledFunction").expect("stats").started,
        0
    );

    within(runtime.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invocations_wait_in_a_bounded_queue() {
    let mut config = config(1);
    config.max_queued = 1;
    config.drain_timeout = Duration::from_millis(200);
    let runtime =
        Runtime::new([spec("QueueFunction", Duration::from_secs(600))], config).expect("runtime");
    let mut logs = runtime.subscribe_logs();

    // Busy until the shutdown: the only instance never frees up on its own.
    let (busy, _) = invoke_sleeping(&runtime, &mut logs, "QueueFunction", 600_000).await;
    let waiting = tokio::spawn({
        let runtime = runtime.clone();
        async move { runtime.invoke("QueueFunction", json!({})).await }
    });
    within(async {
        while runtime.stats("QueueFunction").expect("stats").queued < 1 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;

    let error_message = throttled_message(&runtime, "QueueFunction").await;
    assert!(
        error_message.contains("1 invocations are already waiting"),
        "{error_message}"
    );
    let stats = runtime.stats("QueueFunction").expect("stats");
    assert_eq!((stats.live, stats.queued), (1, 1), "{stats:?}");

    within(runtime.shutdown()).await;
    assert_eq!(
        within(waiting).await.expect("task"),
        Err(InvokeError::ShuttingDown)
    );
    assert_eq!(
        within(busy).await.expect("task"),
        Err(InvokeError::ShuttingDown)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invocation_waits_for_an_instance_only_as_long_as_an_integration_would() {
    let mut config = config(1);
    config.max_wait = Duration::from_millis(300);
    config.drain_timeout = Duration::from_millis(200);
    let runtime =
        Runtime::new([spec("WaitFunction", Duration::from_secs(600))], config).expect("runtime");
    let mut logs = runtime.subscribe_logs();

    // Busy until the shutdown: the only instance never frees up on its own.
    let (busy, _) = invoke_sleeping(&runtime, &mut logs, "WaitFunction", 600_000).await;
    let waited = within(runtime.invoke("WaitFunction", json!({}))).await;
    assert_eq!(
        waited,
        Err(InvokeError::Timeout(Duration::from_millis(300)))
    );
    let stats = runtime.stats("WaitFunction").expect("stats");
    assert_eq!((stats.live, stats.queued), (1, 0), "{stats:?}");

    within(runtime.shutdown()).await;
    assert_eq!(
        within(busy).await.expect("task"),
        Err(InvokeError::ShuttingDown)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_up_waits_for_init_and_the_first_invocation_is_warm() {
    let runtime = runtime([spec("WarmFunction", Duration::from_secs(30))], 2);
    let mut reports = runtime.subscribe_reports();
    within(runtime.start()).await.expect("started");
    let stats = runtime.stats("WarmFunction").expect("stats");
    assert_eq!(
        (stats.started, stats.live, stats.idle),
        (1, 1, 1),
        "{stats:?}"
    );
    within(runtime.warm_up("WarmFunction"))
        .await
        .expect("already warm");
    assert_eq!(
        runtime.stats("WarmFunction").expect("stats").started,
        1,
        "an idle instance is enough"
    );

    within(runtime.invoke("WarmFunction", json!({})))
        .await
        .expect("answer");
    let report = the_report(&mut reports);
    assert!(
        !report.is_cold_start(),
        "the init was paid by the warm-up: {report:?}"
    );
    assert_eq!(runtime.stats("WarmFunction").expect("stats").started, 1);

    within(runtime.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_kills_the_instance_and_the_next_invocation_starts_a_new_one() {
    let runtime = runtime([spec("SlowFunction", Duration::from_secs(1))], 2);
    let mut reports = runtime.subscribe_reports();
    let mut logs = runtime.subscribe_logs();

    let result =
        within(runtime.invoke("SlowFunction", json!({ "action": "sleep", "ms": 600_000 }))).await;
    assert_eq!(result, Err(InvokeError::Timeout(Duration::from_secs(1))));
    let timed_out = the_report(&mut reports);
    assert_eq!(timed_out.outcome, Outcome::Timeout);
    assert_eq!(timed_out.duration, Duration::from_secs(1));
    assert!(timed_out.to_string().contains("Status: timeout"));
    let sleeper = wait_for_line(&mut logs, |line| line.line == "sleeping 600000").await;
    assert_eq!(sleeper.pid, timed_out.pid);
    assert!(
        !process_exists(timed_out.pid),
        "the timed-out process was killed"
    );

    let answer = within(runtime.invoke("SlowFunction", json!({})))
        .await
        .expect("a fresh instance answers");
    assert_ne!(pid_of(&answer), u64::from(timed_out.pid));
    assert!(the_report(&mut reports).is_cold_start());

    within(runtime.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_error_is_returned_and_the_instance_kept() {
    let runtime = runtime([spec("FailFunction", Duration::from_secs(30))], 2);
    let mut reports = runtime.subscribe_reports();
    let result = within(runtime.invoke("FailFunction", json!({ "action": "fail" }))).await;
    assert_eq!(
        result,
        Err(InvokeError::Function {
            error_type: "FixtureError".to_owned(),
            error_message: "fixture failed on purpose".to_owned(),
        })
    );
    let failed = the_report(&mut reports);
    assert_eq!(
        failed.outcome,
        Outcome::FunctionError {
            error_type: "FixtureError".to_owned()
        }
    );

    let answer = within(runtime.invoke("FailFunction", json!({})))
        .await
        .expect("answer");
    assert_eq!(
        pid_of(&answer),
        u64::from(failed.pid),
        "a handled error does not cost the instance"
    );

    within(runtime.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exit_mid_invocation_is_a_crash_and_the_instance_is_replaced() {
    let runtime = runtime([spec("ExitFunction", Duration::from_secs(30))], 2);
    let mut reports = runtime.subscribe_reports();
    match within(runtime.invoke("ExitFunction", json!({ "action": "exit" }))).await {
        Err(InvokeError::Crashed(message)) => {
            assert!(message.contains("ExitFunction"), "{message}");
            assert!(message.contains("exit status: 3"), "{message}");
            assert!(
                message.contains("fixture: exiting in the middle"),
                "{message}"
            );
        }
        other => panic!("expected a crash, got {other:?}"),
    }
    let crashed = the_report(&mut reports);
    assert_eq!(crashed.outcome, Outcome::Crashed);
    assert_eq!(runtime.stats("ExitFunction").expect("stats").live, 0);

    let answer = within(runtime.invoke("ExitFunction", json!({})))
        .await
        .expect("a new instance answers");
    assert_ne!(pid_of(&answer), u64::from(crashed.pid));
    assert_eq!(runtime.stats("ExitFunction").expect("stats").started, 2);

    within(runtime.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reported_init_error_fails_the_warm_up_with_its_message() {
    let failing = failing_at_init("InitFailFunction", "1");
    let runtime = runtime(
        [failing, spec("HealthyFunction", Duration::from_secs(30))],
        2,
    );

    match within(runtime.warm_up("InitFailFunction")).await {
        Err(InvokeError::Crashed(message)) => {
            assert!(
                message.contains("InitFailFunction failed to initialise"),
                "{message}"
            );
            assert!(
                message.contains("FixtureInitError: fixture init failed: FIXTURE_INIT_FAIL=1"),
                "{message}"
            );
        }
        other => panic!("expected an init failure, got {other:?}"),
    }
    assert_eq!(
        runtime.stats("InitFailFunction").expect("stats").live,
        0,
        "the instance is not kept"
    );

    match within(runtime.invoke("InitFailFunction", json!({}))).await {
        Err(InvokeError::Crashed(message)) => {
            assert!(message.contains("FIXTURE_INIT_FAIL=1"), "{message}")
        }
        other => panic!("expected an init failure, got {other:?}"),
    }

    match within(runtime.start()).await {
        Err(RuntimeError::WarmUp(failures)) => {
            let names: Vec<&str> = failures
                .iter()
                .map(|failure| failure.function.as_str())
                .collect();
            assert_eq!(names, ["InitFailFunction"], "the healthy function started");
        }
        other => panic!("expected a warm-up failure, got {other:?}"),
    }
    assert_eq!(runtime.stats("HealthyFunction").expect("stats").idle, 1);

    within(runtime.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exit_during_init_fails_with_the_last_output() {
    let failing = failing_at_init("InitExitFunction", "exit");
    let runtime = runtime([failing], 2);
    match within(runtime.warm_up("InitExitFunction")).await {
        Err(InvokeError::Crashed(message)) => {
            assert!(
                message.contains("InitExitFunction exited during initialisation"),
                "{message}"
            );
            assert!(message.contains("exit status: 1"), "{message}");
            assert!(
                message.contains("fixture init failed: FIXTURE_INIT_FAIL=exit"),
                "{message}"
            );
        }
        other => panic!("expected an init failure, got {other:?}"),
    }
    within(runtime.shutdown()).await;
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_memory_used_follows_the_process_peak() {
    let runtime = runtime([spec("AllocFunction", Duration::from_secs(60))], 1);
    let mut reports = runtime.subscribe_reports();
    within(runtime.invoke("AllocFunction", json!({})))
        .await
        .expect("answer");
    let small = the_report(&mut reports);
    assert!(small.max_memory_mb > 0, "{small:?}");

    within(runtime.invoke("AllocFunction", json!({ "action": "alloc", "mb": 50 })))
        .await
        .expect("answer");
    let big = the_report(&mut reports);
    assert_eq!(big.pid, small.pid);
    assert!(big.max_memory_mb >= 50, "{big:?}");
    assert!(
        big.to_string()
            .contains(&format!("Max Memory Used: {} MB", big.max_memory_mb))
    );

    within(runtime.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_lines_are_forwarded_whole_with_their_function() {
    let runtime = runtime([spec("LogFunction", Duration::from_secs(30))], 1);
    let mut logs = runtime.subscribe_logs();
    let answer = within(runtime.invoke("LogFunction", json!({ "action": "log" })))
        .await
        .expect("answer");
    let pid = u32::try_from(pid_of(&answer)).expect("pid");

    let stdout = wait_for_line(&mut logs, |line| {
        line.stream == LogStream::Stdout && line.line.contains("pieces")
    })
    .await;
    assert_eq!(
        stdout.line, r#"{"message":"written in pieces"}"#,
        "one line, however it was written"
    );
    assert_eq!((stdout.function.as_str(), stdout.pid), ("LogFunction", pid));
    let stderr = wait_for_line(&mut logs, |line| line.stream == LogStream::Stderr).await;
    assert_eq!(stderr.line, "fixture: a line on stderr");

    within(runtime.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_an_in_flight_invocation_finish_then_stops_everything() {
    let runtime = runtime([spec("DrainFunction", Duration::from_secs(60))], 2);
    let mut logs = runtime.subscribe_logs();
    within(runtime.warm_up("DrainFunction"))
        .await
        .expect("warm");
    let (in_flight, sleeping) = invoke_sleeping(&runtime, &mut logs, "DrainFunction", 1500).await;

    within(runtime.shutdown()).await;
    let answer = within(in_flight)
        .await
        .expect("task")
        .expect("the in-flight invocation finished");
    assert_eq!(answer["slept_ms"], 1500);
    assert_eq!(
        runtime.invoke("DrainFunction", json!({})).await,
        Err(InvokeError::ShuttingDown)
    );
    assert_eq!(
        runtime.warm_up("DrainFunction").await,
        Err(InvokeError::ShuttingDown)
    );
    let stats = runtime.stats("DrainFunction").expect("stats");
    assert_eq!((stats.live, stats.idle), (0, 0), "{stats:?}");
    assert!(!process_exists(sleeping.pid), "the process was stopped");
    within(runtime.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_does_not_wait_forever_for_an_invocation() {
    let mut config = config(1);
    config.drain_timeout = Duration::from_millis(300);
    let runtime =
        Runtime::new([spec("StuckFunction", Duration::from_secs(600))], config).expect("runtime");
    let mut logs = runtime.subscribe_logs();
    let (in_flight, _) = invoke_sleeping(&runtime, &mut logs, "StuckFunction", 600_000).await;
    within(runtime.shutdown()).await;
    assert_eq!(
        within(in_flight).await.expect("task"),
        Err(InvokeError::ShuttingDown)
    );
}

#[tokio::test]
async fn missing_and_unknown_functions_are_named() {
    let mut missing = spec("GhostFunction", Duration::from_secs(3));
    missing.binary = "no-such-binary".to_owned();
    match Runtime::new([missing], config(1)) {
        Err(error @ RuntimeError::MissingBinary { .. }) => {
            let text = error.to_string();
            let path = examples_dir().join("no-such-binary");
            for part in [
                "GhostFunction",
                "no-such-binary",
                &path.display().to_string(),
                "cargo build --workspace --bins",
            ] {
                assert!(text.contains(part), "{text}");
            }
        }
        other => panic!("expected a missing binary, got {other:?}"),
    }
    let mut path = spec("PathFunction", Duration::from_secs(3));
    path.binary = "../fixture_function".to_owned();
    assert!(matches!(
        Runtime::new([path], config(1)),
        Err(RuntimeError::InvalidBinary { .. })
    ));
    let twice = [
        spec("Twice", Duration::from_secs(3)),
        spec("Twice", Duration::from_secs(3)),
    ];
    assert_eq!(
        Runtime::new(twice, config(1)).err(),
        Some(RuntimeError::DuplicateFunction("Twice".to_owned()))
    );
    assert_eq!(
        Runtime::new([], config(0)).err(),
        Some(RuntimeError::NoInstances)
    );

    let runtime = runtime([spec("RealFunction", Duration::from_secs(3))], 1);
    assert_eq!(runtime.functions().collect::<Vec<_>>(), ["RealFunction"]);
    assert_eq!(
        runtime.invoke("Nope", json!({})).await,
        Err(InvokeError::NoSuchFunction("Nope".to_owned()))
    );
    assert_eq!(
        runtime.warm_up("Nope").await,
        Err(InvokeError::NoSuchFunction("Nope".to_owned()))
    );
    assert!(runtime.stats("Nope").is_none());
}

#[test]
fn runtime_futures_can_be_spawned() {
    fn spawnable<T: Send + 'static>(_: &T) {}
    fn check(runtime: Runtime) {
        let owned = runtime.clone();
        spawnable(&async move { owned.shutdown().await });
        let owned = runtime.clone();
        spawnable(&async move { owned.start().await });
        let owned = runtime.clone();
        spawnable(&async move { owned.warm_up("F").await });
        spawnable(&async move { runtime.invoke("F", json!({})).await });
    }
    let _ = check;
}
