//! Cold starts of every function binary, and of the Python and Node peers of `exam-results-api`,
//! through the same Runtime API harness: fresh processes, one after another, the runtimes taking
//! turns so that noise on the machine falls on all of them alike. Then one warm process per
//! runtime answers a run of sequential invocations.
//!
//! Each process gets the environment Lambda gives a function (the template's variables resolved
//! against the emulator the runner provisions), with the emulator as its endpoint.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::BenchError;
use crate::runtime_api::{RuntimeApi, Session};
use crate::stats::Summary;

#[derive(clap::Args)]
pub struct Args {
    /// The deployable function binaries (release profile).
    #[arg(long)]
    pub bin_dir: PathBuf,
    #[arg(long)]
    pub emulator_url: String,
    #[arg(long, default_value = "template.yaml")]
    pub template: PathBuf,
    /// Sample events, one folder per service.
    #[arg(long, default_value = "events")]
    pub events_dir: PathBuf,
    /// Fresh processes per function.
    #[arg(long, default_value_t = 20)]
    pub runs: usize,
    /// Sequential invocations of one warm process per runtime.
    #[arg(long, default_value_t = 2_000)]
    pub warm: usize,
    /// The Python peer's interpreter (a venv with awslambdaric and boto3).
    #[arg(long)]
    pub python: Option<PathBuf>,
    /// The Node binary and the peer's node_modules folder.
    #[arg(long, default_value = "node")]
    pub node: PathBuf,
    #[arg(long)]
    pub node_modules: Option<PathBuf>,
    #[arg(long, default_value = "benches/peers")]
    pub peers_dir: PathBuf,
    /// Where the functions' output goes (one file per function).
    #[arg(long, default_value = "bench-results/logs")]
    pub logs: PathBuf,
    /// Measure only these binaries (all when none given).
    #[arg(long)]
    pub only: Vec<String>,
    /// Extra `NAME=value` variables for every process (to see what a setting costs).
    #[arg(long = "env", value_parser = parse_pair)]
    pub extra_env: Vec<(String, String)>,
    #[arg(long)]
    pub out: PathBuf,
}

fn parse_pair(raw: &str) -> Result<(String, String), String> {
    raw.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("expected NAME=value, got {raw}"))
}

/// Which sample event each binary is started with: an API function gets a read route, the
/// others an event of the kind they consume.
const EVENTS: [(&str, &str); 15] = [
    ("accounts-api", "accounts/me-get.json"),
    ("accounts-authorizer", "accounts/authorizer-request.json"),
    ("accounts-outbox", "accounts/outbox-stream.json"),
    ("exam-results-api", "exam-results/exam-get.json"),
    (
        "exam-results-events",
        "exam-results/events-hospital-registered.json",
    ),
    ("exam-results-ingest", "exam-results/ingest-item.json"),
    ("exam-results-outbox", "exam-results/outbox-stream.json"),
    ("file-management-api", "file-management/files-get.json"),
    (
        "file-management-outbox",
        "file-management/outbox-stream.json",
    ),
    (
        "file-management-projection",
        "file-management/projection-sqs.json",
    ),
    (
        "file-management-report-dlq",
        "file-management/report-dlq-sqs.json",
    ),
    (
        "file-management-report-worker",
        "file-management/report-job-sqs.json",
    ),
    (
        "file-management-uploads",
        "file-management/uploads-s3-sqs.json",
    ),
    (
        "notifications-api",
        "notifications/me-notifications-get.json",
    ),
    (
        "notifications-sender",
        "notifications/sqs-account-created.json",
    ),
];

/// The exam `exam-get.json` asks for, which the peers read with the same GetItem.
const EXAM_KEY: &str = r#"{"pk":{"S":"EXAM#01JP6A1B2C3D4E5F6G7H8J9K0M"},"sk":{"S":"EXAM"}}"#;

/// The figures of one runtime or function.
#[derive(Debug, Serialize)]
pub struct ColdStarts {
    pub name: String,
    pub runtime: &'static str,
    pub api: bool,
    pub runs: usize,
    pub init_ms: Summary,
    pub first_invoke_ms: Summary,
    pub peak_rss_mib: Summary,
    /// Of the resident memory after the first invocation: anonymous and file-backed.
    pub rss_anon_mib: Summary,
    pub rss_file_mib: Summary,
    /// What the first invocations answered (`response 200`, `response 404`, `error`), counted.
    pub outcomes: BTreeMap<String, usize>,
    pub failures: Vec<String>,
}

/// One warm process answering sequential invocations.
#[derive(Debug, Serialize)]
pub struct Warm {
    pub name: String,
    pub runtime: &'static str,
    pub invocations: usize,
    pub invoke_ms: Summary,
    pub peak_rss_mib: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct Figures {
    pub functions: Vec<ColdStarts>,
    pub peers: Vec<ColdStarts>,
    pub warm: Vec<Warm>,
}

/// How to start one runtime.
struct Launch {
    name: String,
    runtime: &'static str,
    program: PathBuf,
    args: Vec<String>,
    cwd: Option<PathBuf>,
    env: BTreeMap<String, String>,
    event: Vec<u8>,
    api: bool,
}

/// Measures every launch and writes the figures.
///
/// # Errors
/// The template, the provisioning or a sample event failed; a process that fails is recorded,
/// not fatal.
pub fn run(args: &Args) -> Result<(), BenchError> {
    let environments = provisioned_environments(args)?;
    let mut launches = Vec::new();
    for (binary, event) in EVENTS {
        if !args.only.is_empty() && !args.only.iter().any(|o| o == binary) {
            continue;
        }
        let Some(env) = environments.get(binary) else {
            return Err(BenchError::Other(format!(
                "{binary} is not in the template"
            )));
        };
        launches.push(Launch {
            name: binary.to_string(),
            runtime: "Rust",
            program: args.bin_dir.join(binary),
            args: Vec::new(),
            cwd: None,
            env: lambda_env(binary, env, &args.emulator_url)
                .into_iter()
                .chain(args.extra_env.iter().cloned())
                .collect(),
            event: std::fs::read(args.events_dir.join(event))?,
            api: binary.ends_with("-api"),
        });
    }
    let exam_api = launches
        .iter()
        .find(|l| l.name == "exam-results-api")
        .map(|l| (l.env.clone(), l.event.clone()))
        .ok_or_else(|| BenchError::Other("exam-results-api missing".into()))?;
    let peers = peer_launches(args, &exam_api.0, &exam_api.1);
    std::fs::create_dir_all(&args.logs)?;
    let api = RuntimeApi::bind()?;

    let mut sessions: BTreeMap<String, Vec<(Duration, Session)>> = BTreeMap::new();
    for round in 0..args.runs {
        for launch in launches.iter().chain(peers.iter()) {
            let outcome = start_and_measure(&api, launch, vec![launch.event.clone()], &args.logs);
            sessions
                .entry(launch.name.clone())
                .or_default()
                .push(outcome);
        }
        eprintln!("cold starts: round {}/{} done", round + 1, args.runs);
    }
    let mut summarize = |launch: &Launch| cold_figures(launch, sessions.remove(&launch.name));
    let functions: Vec<ColdStarts> = launches.iter().map(&mut summarize).collect();
    let peer_figures: Vec<ColdStarts> = peers.iter().map(&mut summarize).collect();

    let mut warm = Vec::new();
    let rust_exam = launches.iter().find(|l| l.name == "exam-results-api");
    for launch in rust_exam.into_iter().chain(peers.iter()) {
        let events = vec![launch.event.clone(); args.warm];
        let (_, session) = start_and_measure(&api, launch, events, &args.logs);
        let times: Vec<f64> = session
            .invocations
            .iter()
            .map(|i| ms(i.answered - i.handed_out))
            .collect();
        eprintln!(
            "warm: {} answered {} of {} invocations",
            launch.name,
            times.len(),
            args.warm
        );
        warm.push(Warm {
            name: launch.name.clone(),
            runtime: launch.runtime,
            invocations: times.len(),
            invoke_ms: Summary::of(&times),
            peak_rss_mib: session.peak_rss_kib.map(|k| k as f64 / 1024.0),
        });
    }
    let figures = Figures {
        functions,
        peers: peer_figures,
        warm,
    };
    for f in figures.functions.iter().chain(figures.peers.iter()) {
        eprintln!(
            "cold start: {:<30} init median {:>7.2} ms, first invoke median {:>7.2} ms, peak RSS median {:>6.1} MiB (anon {:.1}, file {:.1}), {:?}",
            f.name,
            f.init_ms.p50,
            f.first_invoke_ms.p50,
            f.peak_rss_mib.p50,
            f.rss_anon_mib.p50,
            f.rss_file_mib.p50,
            f.outcomes
        );
    }
    crate::write_json(&args.out, &figures)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn cold_figures(launch: &Launch, sessions: Option<Vec<(Duration, Session)>>) -> ColdStarts {
    let sessions = sessions.unwrap_or_default();
    let mut init = Vec::new();
    let mut first = Vec::new();
    let mut rss = Vec::new();
    let (mut anon, mut file) = (Vec::new(), Vec::new());
    let mut outcomes = BTreeMap::new();
    let mut failures = Vec::new();
    for (init_time, session) in &sessions {
        if let Some(error) = &session.init_error {
            failures.push(format!("init error: {error}"));
            continue;
        }
        let Some(invocation) = session.invocations.first() else {
            failures.push("no answer to the first event".to_string());
            continue;
        };
        init.push(ms(*init_time));
        first.push(ms(invocation.answered - invocation.handed_out));
        if let Some(kib) = session.peak_rss_kib {
            rss.push(kib as f64 / 1024.0);
        }
        if let Some((a, f)) = session.rss_parts_kib {
            anon.push(a as f64 / 1024.0);
            file.push(f as f64 / 1024.0);
        }
        *outcomes.entry(outcome_label(invocation)).or_insert(0) += 1;
    }
    failures.dedup();
    ColdStarts {
        name: launch.name.clone(),
        runtime: launch.runtime,
        api: launch.api,
        runs: sessions.len(),
        init_ms: Summary::of(&init),
        first_invoke_ms: Summary::of(&first),
        peak_rss_mib: Summary::of(&rss),
        rss_anon_mib: Summary::of(&anon),
        rss_file_mib: Summary::of(&file),
        outcomes,
        failures,
    }
}

/// `response 200` for an HTTP answer, `response` for other functions' answers, `error`.
fn outcome_label(invocation: &crate::runtime_api::Invocation) -> String {
    let status = serde_json::from_slice::<serde_json::Value>(&invocation.body)
        .ok()
        .and_then(|v| v.get("statusCode").and_then(serde_json::Value::as_u64));
    match status {
        Some(code) => format!("{} {code}", invocation.outcome),
        None => invocation.outcome.to_string(),
    }
}

/// Spawns one process, serves it `events`, then kills it. Returns the init time (spawn → first
/// request for work) and what it did.
fn start_and_measure(
    api: &RuntimeApi,
    launch: &Launch,
    events: Vec<Vec<u8>>,
    logs: &Path,
) -> (Duration, Session) {
    let count = events.len();
    api.load(events);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(logs.join(format!("{}.log", launch.name)));
    let mut command = Command::new(&launch.program);
    command
        .args(&launch.args)
        .env_clear()
        .envs(&launch.env)
        .env("AWS_LAMBDA_RUNTIME_API", api.address())
        .stdin(Stdio::null());
    if let Some(dir) = &launch.cwd {
        command.current_dir(dir);
    }
    match log.and_then(|f| Ok((f.try_clone()?, f))) {
        Ok((out, err)) => command.stdout(out).stderr(err),
        Err(_) => command.stdout(Stdio::null()).stderr(Stdio::null()),
    };
    let spawned = Instant::now();
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(err) => {
            let session = Session {
                init_error: Some(format!("cannot start {}: {err}", launch.program.display())),
                ..Session::default()
            };
            return (Duration::ZERO, session);
        }
    };
    api.serve_pid(child.id());
    let limit = Duration::from_secs(10)
        + Duration::from_millis(50) * u32::try_from(count).unwrap_or(u32::MAX);
    let session = api.wait(limit);
    let _ = child.kill();
    let _ = child.wait();
    let init = session
        .ready
        .map(|ready| ready - spawned)
        .unwrap_or_default();
    (init, session)
}

/// Each function's variables as the runner resolves them from the template, after provisioning
/// the emulator (idempotent: the runner provisions the same names).
fn provisioned_environments(
    args: &Args,
) -> Result<BTreeMap<String, BTreeMap<String, String>>, BenchError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let template =
            clinic_local::template::Template::load(&args.template).map_err(BenchError::other)?;
        let sdk = clinic_local::app::sdk_config(&args.emulator_url).await;
        let settings = clinic_local::provision::ProvisionSettings {
            emulator_url: args.emulator_url.clone(),
            ..Default::default()
        };
        let stack = clinic_local::provision::provision(&template, &sdk, &settings)
            .await
            .map_err(BenchError::other)?;
        Ok(stack
            .functions
            .into_iter()
            .map(|f| (f.binary, f.environment))
            .collect())
    })
}

/// What Lambda sets for a function, its own variables, and the emulator as endpoint.
fn lambda_env(
    name: &str,
    own: &BTreeMap<String, String>,
    emulator_url: &str,
) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = own.clone();
    let lambda = [
        ("PATH", "/usr/local/bin:/usr/bin:/bin"),
        ("LANG", "en_US.UTF-8"),
        ("TZ", ":UTC"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_LAMBDA_FUNCTION_NAME", name),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand"),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench"),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "bench"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_SESSION_TOKEN", "testing"),
        ("AWS_ENDPOINT_URL", emulator_url),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ];
    env.extend(lambda.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    env
}

/// The Python and Node peers of `exam-results-api`: the same GetItem, the same event.
fn peer_launches(args: &Args, exam_env: &BTreeMap<String, String>, event: &[u8]) -> Vec<Launch> {
    let mut env = lambda_env("exam-peer", exam_env, &args.emulator_url);
    if let Some(table) = exam_env.get("TABLE_NAME") {
        env.insert("BENCH_TABLE".into(), table.clone());
    }
    env.insert("BENCH_KEY".into(), EXAM_KEY.into());
    let mut peers = Vec::new();
    if let Some(python) = &args.python {
        let mut env = env.clone();
        env.insert("_HANDLER".into(), "exam_handler.handler".into());
        env.insert("AWS_EXECUTION_ENV".into(), "AWS_Lambda_python3.11".into());
        peers.push(Launch {
            name: "Python 3.11 + boto3 + awslambdaric".into(),
            runtime: "Python",
            program: python.clone(),
            args: vec![
                "-m".into(),
                "awslambdaric".into(),
                "exam_handler.handler".into(),
            ],
            cwd: Some(args.peers_dir.join("python")),
            env,
            event: event.to_vec(),
            api: true,
        });
    }
    if let Some(modules) = &args.node_modules {
        let mut env = env.clone();
        env.insert("_HANDLER".into(), "exam_handler.handler".into());
        env.insert("AWS_EXECUTION_ENV".into(), "AWS_Lambda_nodejs20.x".into());
        env.insert("BENCH_NODE_MODULES".into(), modules.display().to_string());
        env.insert("NODE_PATH".into(), modules.display().to_string());
        peers.push(Launch {
            name: "Node 20 + AWS SDK v3".into(),
            runtime: "Node",
            program: args.node.clone(),
            args: vec!["runtime.mjs".into()],
            cwd: Some(args.peers_dir.join("node")),
            env,
            event: event.to_vec(),
            api: true,
        });
    }
    peers
}
