//! Soak test of the whole local system: several simulated people at once through the HTTP gateway
//! for a while, then invariants and one table. Run it with `scripts/soak` (see the README).
//!
//! Patients sign up (some twice, some with bad input), confirm, sign in, claim or are linked to
//! exams hospitals push in batches, race for slots, cancel, have exams completed by doctors who
//! upload result PDFs, download them, and some erase their account; staff publish slots and order
//! reports. Unless `--url` is given, the soak starts its own emulator (through the project's
//! launcher) and runner on free ports, and restarts the runner half-way.
//!
//! At the end it waits for the system to settle and checks: no unexpected answer; every outbox
//! event was relayed through its table's stream (not by the sweep) and delivered to each consumer
//! whose subscription wants it; no message stuck outside a DLQ; the DLQs; e-mails and SMS sent as
//! expected; no slot over capacity. Exit status 1 on any violation.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, oneshot};

const STAFF_EMAIL: &str = "staff@clinic.local";
const STAFF_PASSWORD: &str = "Clinic0Staff";
const PASSWORD: &str = "Passw0rdOk";
/// Places per slot: few, so that bookings race.
const CAPACITY: u32 = 3;
/// Relay latency (outbox write to publication) that must hold at p99.
const RELAY_P99_LIMIT_MS: f64 = 2000.0;

#[derive(Parser, Debug)]
#[command(about = "Drives a mixed workload through the local system and checks invariants")]
struct Args {
    /// How long the workload runs.
    #[arg(long, default_value_t = 10.0)]
    minutes: f64,
    /// Simulated patients at once.
    #[arg(long, default_value_t = 50)]
    users: usize,
    /// Hospitals registered and pushing batches.
    #[arg(long, default_value_t = 3)]
    hospitals: usize,
    /// Doctors completing exams.
    #[arg(long, default_value_t = 3)]
    doctors: usize,
    /// Attach to a running system (its gateway URL) instead of starting one.
    #[arg(long)]
    url: Option<String>,
    /// The emulator of the attached system.
    #[arg(long, default_value = "http://127.0.0.1:4566")]
    emulator_url: String,
    /// The staff authenticator secret the attached runner printed.
    #[arg(long, env = "CLINIC_STAFF_SECRET")]
    staff_secret: Option<String>,
    /// Restart the runner half-way through (own system only).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    restart_runner: bool,
    /// At the end, restart the emulator under the runner and check that events written after it
    /// provisioned again are relayed in time too (own system only).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    restart_emulator: bool,
    /// Where the runner's output is kept (own system only).
    #[arg(long)]
    log: Option<PathBuf>,
    /// Repository root (template, emulator launcher, .venv).
    #[arg(long, default_value = ".")]
    root: PathBuf,
    /// Directory of the function binaries and the runner.
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Fail when the relay's p99 is above the limit. Latency depends on the machine and on what
    /// else runs there: a shared CI machine reports it (`false`) and checks only what must hold
    /// whatever the speed — nothing lost, stuck or over capacity.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    latency_gate: bool,
}

// ------------------------------------------------------------------------------------------------
// Measurements

#[derive(Default)]
struct OpStat {
    latencies_ms: Vec<f64>,
    unexpected: u64,
    statuses: BTreeMap<u16, u64>,
}

#[derive(Default)]
struct Stats {
    ops: BTreeMap<&'static str, OpStat>,
    /// Unexpected answers and failed checks (first ones kept in full).
    violations: Vec<String>,
    violation_count: u64,
}

impl Stats {
    fn violation(&mut self, what: String) {
        self.violation_count += 1;
        if self.violations.len() < 30 {
            self.violations.push(what);
        }
    }
}

fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * (sorted.len() as f64)).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// What the runner's output says, parsed as it comes.
#[derive(Default)]
struct Observed {
    /// Event id → when an outbox function published it (ms since the epoch), first time.
    published: HashMap<String, (String, u64)>,
    /// Consumer function → event ids it processed (or recognised as duplicates).
    delivered: BTreeMap<String, HashMap<String, u64>>,
    /// Consumer function → event ids it parked (sent to its DLQ).
    parked: BTreeMap<String, HashSet<String>>,
    /// Events the sweep published, per outbox function.
    swept: BTreeMap<String, u64>,
    /// ERROR-level lines per function.
    errors: BTreeMap<String, u64>,
    error_samples: Vec<String>,
    stream_rewinds: u64,
    staff_secret: Option<String>,
    /// Times the runner said it provisioned a restarted emulator again.
    reprovisioned: u64,
    lines: u64,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Observed {
    fn line(&mut self, line: &str) {
        self.lines += 1;
        if let Some(rest) = line.trim().strip_prefix("staff authenticator secret:") {
            self.staff_secret = rest.split_whitespace().next().map(str::to_string);
        }
        if line.starts_with("Clinic is running again") {
            self.reprovisioned += 1;
        }
        if line.contains("the stream went back under the poller") {
            self.stream_rewinds += 1;
        }
        let Some(rest) = line.strip_prefix('[') else {
            return;
        };
        let Some((function, json)) = rest.split_once("] ") else {
            return;
        };
        if !json.starts_with('{') {
            return;
        }
        let Ok(v) = serde_json::from_str::<Value>(json) else {
            return;
        };
        let at = v["timestamp"]
            .as_str()
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
            .map_or_else(now_ms, |t| t.as_millisecond() as u64);
        let message = v["message"].as_str().unwrap_or_default();
        let function = function.to_string();
        if v["level"] == "ERROR" {
            *self.errors.entry(function.clone()).or_default() += 1;
            if self.error_samples.len() < 10 {
                self.error_samples
                    .push(format!("[{function}] {}", truncate(json, 300)));
            }
        }
        match message {
            "outbox event published" => {
                if let Some(id) = v["event_id"].as_str() {
                    self.published
                        .entry(id.to_string())
                        .or_insert((function, at));
                }
            }
            "outbox sweep done" => {
                let n = v["published"].as_u64().unwrap_or(0);
                *self.swept.entry(function).or_default() += n;
            }
            "sqs record done" | "sqs record parked" => {
                let Some(id) = v["span"]["event_id"].as_str() else {
                    return;
                };
                if message == "sqs record done" {
                    self.delivered
                        .entry(function)
                        .or_default()
                        .entry(id.to_string())
                        .or_insert(at);
                } else {
                    self.parked
                        .entry(function)
                        .or_default()
                        .insert(id.to_string());
                }
            }
            _ => {}
        }
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.len() <= n {
        return s.to_string();
    }
    let mut end = n;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

// ------------------------------------------------------------------------------------------------
// The system under test

struct OwnSystem {
    emulator: tokio::process::Child,
    runner: Option<tokio::process::Child>,
    runner_args: Vec<String>,
    runner_bin: PathBuf,
    log_file: PathBuf,
    observed: Arc<Mutex<Observed>>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl OwnSystem {
    async fn start(args: &Args, emulator_port: u16, port: u16) -> Result<OwnSystem, String> {
        let root = args.root.canonicalize().map_err(|e| e.to_string())?;
        let python = root.join(".venv/bin/python");
        std::fs::create_dir_all(root.join(".local-state")).map_err(|e| e.to_string())?;
        let emulator_log = std::fs::File::create(
            root.join(format!(".local-state/soak-emulator-{emulator_port}.log")),
        )
        .map_err(|e| e.to_string())?;
        let emulator = tokio::process::Command::new(&python)
            .arg(root.join("scripts/emulator.py"))
            .args(["-H", "127.0.0.1", "-p", &emulator_port.to_string()])
            .env("CLINIC_EMULATOR_STATS_EVERY_SECONDS", "30")
            .stdout(Stdio::null())
            .stderr(emulator_log)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", python.display()))?;
        let emulator_url = format!("http://127.0.0.1:{emulator_port}");
        wait_until(Duration::from_secs(30), || async {
            reqwest::get(format!("{emulator_url}/moto-api/"))
                .await
                .is_ok()
        })
        .await
        .map_err(|()| "the emulator did not start".to_string())?;
        let bin_dir = args.bin_dir.clone().unwrap_or_else(|| {
            std::env::current_exe()
                .ok()
                .and_then(|e| e.parent().and_then(Path::parent).map(Path::to_path_buf))
                .unwrap_or_default()
        });
        let state_dir = std::env::temp_dir().join(format!("clinic-soak-{port}"));
        let _ = std::fs::remove_dir_all(&state_dir);
        let log_file = args.log.clone().unwrap_or_else(|| {
            root.join(".local-state")
                .join(format!("soak-runner-{port}.log"))
        });
        if let Some(dir) = log_file.parent() {
            std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        }
        let mut system = OwnSystem {
            emulator,
            runner: None,
            runner_args: vec![
                "--template".into(),
                root.join("template.yaml").display().to_string(),
                "--emulator-url".into(),
                emulator_url,
                "--port".into(),
                port.to_string(),
                "--bin-dir".into(),
                bin_dir.display().to_string(),
                "--state-dir".into(),
                state_dir.display().to_string(),
                "--portal-dir".into(),
                state_dir.join("no-portal").display().to_string(),
            ],
            runner_bin: bin_dir.join("clinic-local"),
            log_file,
            observed: Arc::new(Mutex::new(Observed::default())),
        };
        system.spawn_runner().await?;
        Ok(system)
    }

    async fn spawn_runner(&mut self) -> Result<(), String> {
        let mut child = tokio::process::Command::new(&self.runner_bin)
            .args(&self.runner_args)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env_remove("AWS_ENDPOINT_URL")
            .env_remove("CLINIC_STATE_DIR")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.runner_bin.display()))?;
        let file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_file)
            .await
            .map_err(|e| e.to_string())?;
        let file = Arc::new(tokio::sync::Mutex::new(file));
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
        ]
        .into_iter()
        .flatten()
        {
            let observed = self.observed.clone();
            let file = file.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stream).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Ok(mut o) = observed.lock() {
                        o.line(&line);
                    }
                    let mut f = file.lock().await;
                    let _ = f.write_all(line.as_bytes()).await;
                    let _ = f.write_all(b"\n").await;
                }
            });
        }
        self.runner = Some(child);
        Ok(())
    }

    async fn stop_runner(&mut self) {
        if let Some(mut runner) = self.runner.take() {
            if let Some(pid) = runner.id() {
                // SAFETY: signalling a child process this program started.
                unsafe {
                    libc::kill(pid as i32, libc::SIGTERM);
                }
            }
            if tokio::time::timeout(Duration::from_secs(30), runner.wait())
                .await
                .is_err()
            {
                let _ = runner.kill().await;
            }
        }
    }

    /// Stops the emulator and starts a fresh one on the same port under the running runner.
    async fn restart_emulator(&mut self, root: &Path) -> Result<(), String> {
        let _ = self.emulator.kill().await;
        let _ = self.emulator.wait().await;
        let port = self.runner_args[3]
            .rsplit(':')
            .next()
            .unwrap_or_default()
            .to_string();
        self.emulator = tokio::process::Command::new(root.join(".venv/bin/python"))
            .arg(root.join("scripts/emulator.py"))
            .args(["-H", "127.0.0.1", "-p", &port])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start the emulator again: {e}"))?;
        Ok(())
    }

    /// CPU time the emulator used so far, in seconds.
    fn emulator_cpu_seconds(&self) -> Option<f64> {
        let pid = self.emulator.id()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the command name (which ends with the last ')'): utime and stime are the
        // 12th and 13th, in clock ticks (100 a second on Linux).
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let ticks: f64 =
            fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
        Some(ticks / 100.0)
    }

    fn emulator_rss_mb(&self) -> Option<f64> {
        let pid = self.emulator.id()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
    }
}

async fn wait_until<F, Fut>(limit: Duration, mut check: F) -> Result<(), ()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !check().await {
        if Instant::now() > deadline {
            return Err(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------------
// The workload

/// A small deterministic generator (xorshift), one per task.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() % 10_000) as f64 / 10_000.0 < p
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// A valid CPF from 9 digits.
fn cpf(n: u64) -> String {
    let mut d: Vec<u32> = format!("{:09}", 100_000_000 + n % 800_000_000)
        .chars()
        .filter_map(|c| c.to_digit(10))
        .collect();
    for len in [9, 10] {
        let sum: u32 = d
            .iter()
            .enumerate()
            .map(|(i, x)| x * (len as u32 + 1 - i as u32))
            .sum();
        let r = (sum * 10) % 11;
        d.push(if r == 10 { 0 } else { r });
    }
    d.iter()
        .map(|x| char::from_digit(*x, 10).unwrap_or('0'))
        .collect()
}

#[derive(Clone)]
struct Slot {
    id: String,
}

struct PushRequest {
    cpf: String,
    email: Option<String>,
    external_id: String,
    reply: oneshot::Sender<Option<Value>>,
}

struct DoctorJob {
    exam_id: String,
    /// The patient's addresses: the doctor's steps are what call for their messages.
    email: String,
    phone: String,
    reply: oneshot::Sender<Option<String>>,
}

/// What the people were promised, to compare with what the system did.
#[derive(Default)]
struct Expected {
    /// Patient e-mail → (e-mails, SMS) expected.
    messages: HashMap<String, (u64, u64, String)>,
    erased: HashSet<String>,
    erased_phones: HashSet<String>,
    /// Slot id → places taken (201) minus places given back (cancelled, erased).
    places: HashMap<String, i64>,
    reports: u64,
    doctors: Vec<String>,
}

struct Ctx {
    http: reqwest::Client,
    base: String,
    run: String,
    deadline: Mutex<Instant>,
    stats: Mutex<Stats>,
    expected: Mutex<Expected>,
    staff: tokio::sync::RwLock<String>,
    slots: Mutex<Vec<Slot>>,
    seq: AtomicU64,
    hospitals: Vec<(String, String, String)>,
    push_tx: Vec<mpsc::UnboundedSender<PushRequest>>,
    doctor_tx: mpsc::UnboundedSender<DoctorJob>,
    restarting: AtomicBool,
}

enum Body {
    None,
    Json(Value),
}

impl Ctx {
    fn over(&self) -> bool {
        Instant::now() >= *self.deadline.lock().expect("deadline")
    }

    /// One API call: measured, its status checked against `expected`. Connection failures (the
    /// runner restarting) are retried for up to a minute and not counted.
    #[allow(clippy::too_many_arguments)] // the parts of one request, each passed as it is
    async fn call(
        &self,
        kind: &'static str,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, String)],
        body: Body,
        expected: &[u16],
    ) -> Option<(u16, Value)> {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        };
        let give_up = Instant::now() + Duration::from_secs(60);
        loop {
            let mut request = self
                .http
                .request(method.clone(), &url)
                .timeout(Duration::from_secs(60));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            for (name, value) in headers {
                request = request.header(*name, value);
            }
            if let Body::Json(v) = &body {
                request = request.json(v);
            }
            let started = Instant::now();
            match request.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let text = response.text().await.unwrap_or_default();
                    let ms = started.elapsed().as_secs_f64() * 1000.0;
                    let value = serde_json::from_str(&text).unwrap_or(Value::Null);
                    let mut stats = self.stats.lock().expect("stats");
                    let op = stats.ops.entry(kind).or_default();
                    op.latencies_ms.push(ms);
                    *op.statuses.entry(status).or_default() += 1;
                    if !expected.contains(&status) {
                        op.unexpected += 1;
                        stats.violation(format!(
                            "{kind}: {method} {path} answered {status}: {}",
                            truncate(&text, 240)
                        ));
                    }
                    return Some((status, value));
                }
                Err(err)
                    if (err.is_connect() || self.restarting.load(Ordering::Relaxed))
                        && Instant::now() < give_up =>
                {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(err) => {
                    let mut stats = self.stats.lock().expect("stats");
                    let op = stats.ops.entry(kind).or_default();
                    op.unexpected += 1;
                    stats.violation(format!("{kind}: {method} {path} failed: {err}"));
                    return None;
                }
            }
        }
    }

    async fn post(
        &self,
        kind: &'static str,
        path: &str,
        token: Option<&str>,
        body: Value,
        expected: &[u16],
    ) -> Option<(u16, Value)> {
        self.call(
            kind,
            reqwest::Method::POST,
            path,
            token,
            &[],
            Body::Json(body),
            expected,
        )
        .await
    }

    async fn get(
        &self,
        kind: &'static str,
        path: &str,
        token: &str,
        expected: &[u16],
    ) -> Option<(u16, Value)> {
        self.call(
            kind,
            reqwest::Method::GET,
            path,
            Some(token),
            &[],
            Body::None,
            expected,
        )
        .await
    }

    fn violation(&self, what: String) {
        self.stats.lock().expect("stats").violation(what);
    }

    fn measure(&self, kind: &'static str, ms: f64) {
        let mut stats = self.stats.lock().expect("stats");
        let op = stats.ops.entry(kind).or_default();
        op.latencies_ms.push(ms);
    }

    /// Records the time since `started` as a measurement of `kind`.
    fn measure_since(&self, kind: &'static str, started: Instant) {
        self.measure(kind, started.elapsed().as_secs_f64() * 1000.0);
    }

    /// Waits up to `limit` for `check` to hold, then records the time since `started` (which may
    /// be earlier than the wait: what the person waited for in all) as `kind`.
    async fn wait_measured<F, Fut>(
        &self,
        kind: &'static str,
        started: Instant,
        limit: Duration,
        check: F,
    ) -> Result<(), ()>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let held = wait_until(limit, check).await;
        self.measure_since(kind, started);
        held
    }

    /// Counts a place taken (`+1`, a booking) or given back (`-1`) at `slot`.
    fn count_place(&self, slot: &str, delta: i64) {
        *self
            .expected
            .lock()
            .expect("expected")
            .places
            .entry(slot.to_string())
            .or_default() += delta;
    }

    fn expect_messages(&self, email: &str, phone: &str, emails: u64, sms: u64) {
        let mut e = self.expected.lock().expect("expected");
        let entry = e
            .messages
            .entry(email.to_string())
            .or_insert((0, 0, phone.to_string()));
        entry.0 += emails;
        entry.1 += sms;
    }

    async fn staff(&self) -> String {
        self.staff.read().await.clone()
    }
}

async fn sign_in(
    ctx: &Ctx,
    kind: &'static str,
    username: &str,
    password: &str,
    secret: Option<&str>,
) -> Option<String> {
    let started = Instant::now();
    let mut result =
        clinic_local::seed::sign_in(&ctx.http, &ctx.base, username, password, secret).await;
    // As for every other call: while the runner restarts, connections are refused for a few
    // seconds; retry those for up to a minute.
    while result
        .as_ref()
        .is_err_and(|e| e.contains("error sending request"))
        && started.elapsed() < Duration::from_secs(60)
    {
        tokio::time::sleep(Duration::from_millis(500)).await;
        result =
            clinic_local::seed::sign_in(&ctx.http, &ctx.base, username, password, secret).await;
    }
    ctx.measure_since(kind, started);
    match result {
        Ok(signed) => Some(signed.access_token),
        Err(err) => {
            ctx.violation(format!("{kind}: {username} could not sign in: {err}"));
            None
        }
    }
}

/// One simulated person after another, until the time is up.
async fn patient_loop(ctx: Arc<Ctx>, user: usize) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((user as u64 + 1) * 0x1000_0000_01B3));
    while !ctx.over() {
        patient_journey(&ctx, &mut rng).await;
    }
}

async fn patient_journey(ctx: &Ctx, rng: &mut Rng) {
    let n = ctx.seq.fetch_add(1, Ordering::Relaxed);
    let run = &ctx.run;
    let email = format!("p{n}.{run}@soak.example");
    let digits: u64 = run
        .bytes()
        .fold(n, |a, b| a.wrapping_mul(31).wrapping_add(u64::from(b)));
    let cpf = cpf(digits);
    let phone = format!("+55119{:08}", (digits % 90_000_000) + 10_000_000 + n % 7);
    let signup = |email: &str, cpf: &str| {
        json!({"email": email, "password": PASSWORD, "name": "Paciente Soak", "cpf": cpf,
               "birthDate": "1990-04-12", "phone": phone,
               "preferences": {"email": true, "sms": true, "language": "pt-BR"}})
    };
    if rng.chance(0.1) {
        ctx.post(
            "sign_up_invalid",
            "/v1/accounts/patients",
            None,
            signup(&email, "12345678900"),
            &[400],
        )
        .await;
    }
    let Some(_) = ctx
        .post(
            "sign_up",
            "/v1/accounts/patients",
            None,
            signup(&email, &cpf),
            &[202],
        )
        .await
    else {
        return;
    };
    let Some((204, _)) = ctx
        .post(
            "confirm",
            "/v1/accounts/confirm",
            None,
            json!({"email": email, "code": "123456", "password": PASSWORD}),
            &[204],
        )
        .await
    else {
        return;
    };
    // Welcome: e-mail and SMS.
    ctx.expect_messages(&email, &phone, 1, 1);
    let Some(token) = sign_in(ctx, "sign_in", &email, PASSWORD, None).await else {
        return;
    };
    if rng.chance(0.15) {
        // Someone signs up again with a confirmed address: 202 as always, a notice by e-mail.
        ctx.post(
            "sign_up_duplicate",
            "/v1/accounts/patients",
            None,
            signup(&email, &cpf),
            &[202],
        )
        .await;
        ctx.expect_messages(&email, &phone, 1, 0);
    }

    // A hospital pushes an exam for this person: with the e-mail they proved (linked at once) or
    // without (linked by the receipt's access code).
    if rng.chance(0.4) && !ctx.push_tx.is_empty() {
        let with_email = rng.chance(0.5);
        let external_id = format!("SOAK-{run}-{n}");
        let (reply, answer) = oneshot::channel();
        let hospital = rng.below(ctx.push_tx.len());
        let _ = ctx.push_tx[hospital].send(PushRequest {
            cpf: cpf.clone(),
            email: with_email.then(|| email.clone()),
            external_id: external_id.clone(),
            reply,
        });
        if let Ok(Ok(Some(item))) = tokio::time::timeout(Duration::from_secs(120), answer).await {
            if !with_email {
                match item["accessCode"].as_str() {
                    Some(code) => {
                        ctx.post(
                            "claim",
                            "/v1/exams:claim",
                            Some(&token),
                            json!({"accessCode": code}),
                            &[200],
                        )
                        .await;
                    }
                    None => ctx.violation(format!(
                        "batch item {external_id} has no access code: {item}"
                    )),
                }
            }
            let started = Instant::now();
            let linked = ctx
                .wait_measured(
                    "pushed_exam_visible",
                    started,
                    Duration::from_secs(30),
                    || async {
                        ctx.get("list_exams", "/v1/exams", &token, &[200])
                            .await
                            .is_some_and(|(_, list)| {
                                list["items"].as_array().is_some_and(|items| {
                                    items
                                        .iter()
                                        .any(|e| e["externalId"] == external_id.as_str())
                                })
                            })
                    },
                )
                .await;
            if linked.is_err() {
                ctx.violation(format!(
                    "pushed exam {external_id} not linked to its patient within 30 s"
                ));
            }
        }
    }

    // Book one of the newest slots; others race for the same places.
    let mut booked = None;
    for attempt in 0..4 {
        let slot = {
            let slots = ctx.slots.lock().expect("slots");
            if slots.is_empty() {
                None
            } else {
                let recent = slots.len().min(8);
                Some(slots[slots.len() - recent + rng.below(recent)].clone())
            }
        };
        let Some(slot) = slot else { break };
        let key = format!("soak-{run}-{n}-{attempt}");
        let Some((status, body)) = ctx
            .call(
                "book",
                reqwest::Method::POST,
                "/v1/appointments",
                Some(&token),
                &[("idempotency-key", key)],
                Body::Json(json!({"slotId": slot.id})),
                &[201, 409],
            )
            .await
        else {
            return;
        };
        if status == 201 {
            ctx.count_place(&slot.id, 1);
            booked = body["examId"].as_str().map(|id| (id.to_string(), slot.id));
            break;
        }
    }
    let Some((exam_id, slot_id)) = booked else {
        finish(ctx, rng, &token, &email, &phone, None).await;
        return;
    };
    // Booking confirmation: e-mail and SMS.
    ctx.expect_messages(&email, &phone, 1, 1);
    ctx.get("my_exam", &format!("/v1/exams/{exam_id}"), &token, &[200])
        .await;

    if rng.chance(0.35) {
        if let Some((status, _)) = ctx
            .call(
                "cancel",
                reqwest::Method::DELETE,
                &format!("/v1/appointments/{exam_id}"),
                Some(&token),
                &[],
                Body::None,
                &[200, 204],
            )
            .await
            && status < 300
        {
            ctx.count_place(&slot_id, -1);
            ctx.expect_messages(&email, &phone, 1, 1);
        }
    } else if rng.chance(0.7) {
        // A doctor performs the exam and uploads the result; the patient downloads it.
        let (reply, answer) = oneshot::channel();
        let _ = ctx.doctor_tx.send(DoctorJob {
            exam_id: exam_id.clone(),
            email: email.clone(),
            phone: phone.clone(),
            reply,
        });
        let started = Instant::now();
        if let Ok(Ok(Some(file_id))) = tokio::time::timeout(Duration::from_secs(180), answer).await
        {
            let ready = ctx
                .wait_measured(
                    "result_ready_wait",
                    started,
                    Duration::from_secs(60),
                    || async {
                        ctx.get("my_exam", &format!("/v1/exams/{exam_id}"), &token, &[200])
                            .await
                            .is_some_and(|(_, exam)| exam["status"] == "RESULT_READY")
                    },
                )
                .await;
            if ready.is_err() {
                ctx.violation(format!(
                    "exam {exam_id}: no RESULT_READY within 60 s of the upload"
                ));
            } else if let Some((200, link)) = ctx
                .get(
                    "download_link",
                    &format!("/v1/files/{file_id}/download"),
                    &token,
                    &[200],
                )
                .await
                && let Some(url) = link["url"].as_str()
            {
                ctx.call(
                    "download",
                    reqwest::Method::GET,
                    url,
                    None,
                    &[],
                    Body::None,
                    &[200],
                )
                .await;
            }
        }
    }
    finish(ctx, rng, &token, &email, &phone, Some((&exam_id, &slot_id))).await;
}

/// The end of a person's visit: a look at their notifications, and for some, erasure. Erasure
/// cancels the person's upcoming appointment and frees its place: `booking` (exam, slot) is
/// looked at first, and a place still `SCHEDULED` is counted as given back.
async fn finish(
    ctx: &Ctx,
    rng: &mut Rng,
    token: &str,
    email: &str,
    phone: &str,
    booking: Option<(&str, &str)>,
) {
    if rng.chance(0.3) {
        ctx.get("my_notifications", "/v1/me/notifications", token, &[200])
            .await;
    }
    if !rng.chance(0.2) {
        return;
    }
    let mut frees = None;
    if let Some((exam, slot)) = booking
        && let Some((200, view)) = ctx
            .get("my_exam", &format!("/v1/exams/{exam}"), token, &[200])
            .await
        && view["status"] == "SCHEDULED"
    {
        // A doctor may still collect it before the erasure lands: then the place stays taken
        // and this count is one low — never one high.
        frees = Some(slot.to_string());
    }
    if let Some((status, _)) = ctx
        .call(
            "erase",
            reqwest::Method::DELETE,
            "/v1/me",
            Some(token),
            &[],
            Body::None,
            &[200, 202, 204],
        )
        .await
        && status < 300
    {
        let mut e = ctx.expected.lock().expect("expected");
        e.erased.insert(email.to_string());
        e.erased_phones.insert(phone.to_string());
        if let Some(slot) = frees {
            *e.places.entry(slot).or_default() -= 1;
        }
    }
}

/// A hospital: pushes what patients' visits ask for in batches, then waits until applied.
async fn hospital_loop(ctx: Arc<Ctx>, index: usize, mut rx: mpsc::UnboundedReceiver<PushRequest>) {
    let (_, client_id, client_secret) = ctx.hospitals[index].clone();
    let mut token = String::new();
    loop {
        let Some(first) = rx.recv().await else { return };
        let mut batch = vec![first];
        tokio::time::sleep(Duration::from_millis(500)).await;
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
            if batch.len() >= 25 {
                break;
            }
        }
        let items: Vec<Value> = batch
            .iter()
            .map(|p| {
                let mut item = json!({"externalId": p.external_id, "version": 1, "patientCpf": p.cpf,
                    "examType": "hemograma", "status": "COMPLETED", "scheduledAt": "2030-01-10T09:00:00Z"});
                if let Some(email) = &p.email {
                    item["patientEmail"] = json!(email);
                }
                item
            })
            .collect();
        let mut accepted = None;
        for _ in 0..3 {
            if token.is_empty() {
                token = hospital_token(&ctx, &client_id, &client_secret)
                    .await
                    .unwrap_or_default();
            }
            match ctx
                .post(
                    "batch_push",
                    "/v1/integrations/exams:batch",
                    Some(&token),
                    json!({"items": items}),
                    &[202, 401, 403],
                )
                .await
            {
                Some((202, body)) => {
                    accepted = body["batchId"].as_str().map(str::to_string);
                    break;
                }
                // The runner restarted: its token signing key is new.
                Some((401 | 403, _)) => token.clear(),
                _ => break,
            }
        }
        let Some(batch_id) = accepted else {
            batch.into_iter().for_each(|p| {
                let _ = p.reply.send(None);
            });
            continue;
        };
        let started = Instant::now();
        let mut applied = None;
        while started.elapsed() < Duration::from_secs(90) {
            if let Some((200, state)) = ctx
                .get(
                    "batch_status",
                    &format!("/v1/integrations/batches/{batch_id}"),
                    &token,
                    &[200, 401, 403],
                )
                .await
            {
                let items = state["items"].as_array().cloned().unwrap_or_default();
                if items.len() == batch.len()
                    && items.iter().all(|i| {
                        i["state"] != "PENDING"
                            && i["state"] != "ACCEPTED"
                            && i["state"] != "QUEUED"
                    })
                {
                    applied = Some(items);
                    break;
                }
            } else {
                token = hospital_token(&ctx, &client_id, &client_secret)
                    .await
                    .unwrap_or_default();
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        ctx.measure_since("batch_applied", started);
        let items = applied.unwrap_or_default();
        if items.is_empty() {
            ctx.violation(format!("batch {batch_id} not applied within 90 s"));
        }
        for p in batch {
            let item = items
                .iter()
                .find(|i| i["externalId"] == p.external_id.as_str())
                .cloned();
            if let Some(i) = &item
                && i["state"] != "APPLIED"
            {
                ctx.violation(format!("batch item {} ended {}", p.external_id, i["state"]));
            }
            let _ = p.reply.send(item);
        }
    }
}

async fn hospital_token(ctx: &Ctx, client_id: &str, client_secret: &str) -> Option<String> {
    let started = Instant::now();
    let response = ctx
        .http
        .post(format!("{}/oauth2/token", ctx.base))
        .basic_auth(client_id, Some(client_secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "clinic/ingest"),
        ])
        .send()
        .await
        .ok()?;
    let token: Value = response.json().await.ok()?;
    ctx.measure_since("hospital_token", started);
    token["access_token"].as_str().map(str::to_string)
}

/// A doctor: takes booked exams, has staff assign them, performs them and uploads the result.
async fn doctor_loop(
    ctx: Arc<Ctx>,
    doctor_id: String,
    token: String,
    jobs: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<DoctorJob>>>,
) {
    let pdf = clinic_file_management::domain::checks::sample_pdf("Laudo soak");
    loop {
        let job = { jobs.lock().await.recv().await };
        let Some(job) = job else { return };
        let staff = ctx.staff().await;
        let exam = &job.exam_id;
        // The patient may have cancelled the appointment (or erased the account) meanwhile:
        // then, and only then, the exam refuses the step.
        let ok = ctx
            .post(
                "assign",
                &format!("/v1/exams/{exam}/assign"),
                Some(&staff),
                json!({"doctorId": doctor_id}),
                &[200, 409],
            )
            .await
            .is_some_and(|(s, body)| {
                if s == 409 && body["currentStatus"] != "CANCELLED" {
                    ctx.violation(format!("assign {exam}: 409 on a live exam: {body}"));
                }
                s == 200
            });
        let mut ok = ok;
        for step in ["collect", "complete"] {
            if ok {
                ok = ctx
                    .post(
                        step,
                        &format!("/v1/exams/{exam}/{step}"),
                        Some(&token),
                        json!({}),
                        &[200],
                    )
                    .await
                    .is_some_and(|(s, _)| s == 200);
            }
        }
        let mut file_id = None;
        if ok {
            // Exam performed: e-mail and SMS (counted here, whether or not the patient is still
            // waiting for the result).
            ctx.expect_messages(&job.email, &job.phone, 1, 1);
            // The file service learns of the assignment through exam events.
            let started = Instant::now();
            let mut upload = None;
            while started.elapsed() < Duration::from_secs(30) {
                match ctx
                    .post("upload_link", &format!("/v1/exams/{exam}/files"), Some(&token),
                          json!({"fileName": "laudo.pdf", "contentType": "application/pdf", "size": pdf.len(), "kind": "result"}),
                          &[201, 403, 404, 409])
                    .await
                {
                    Some((201, body)) => {
                        upload = Some(body);
                        break;
                    }
                    Some(_) => tokio::time::sleep(Duration::from_millis(300)).await,
                    None => break,
                }
            }
            ctx.measure_since("upload_link_wait", started);
            match upload {
                None => ctx.violation(format!("exam {exam}: no upload link within 30 s")),
                Some(upload) => {
                    let mut put = ctx
                        .http
                        .put(upload["uploadUrl"].as_str().unwrap_or_default())
                        .body(pdf.clone());
                    if let Some(headers) = upload["uploadHeaders"].as_object() {
                        for (name, value) in headers
                            .iter()
                            .filter(|(n, _)| n.as_str() != "content-length")
                        {
                            put = put.header(name, value.as_str().unwrap_or_default());
                        }
                    }
                    let started = Instant::now();
                    let status = put.send().await.map(|r| r.status().as_u16()).unwrap_or(0);
                    ctx.measure_since("upload_put", started);
                    if status == 200 {
                        // Result ready: e-mail and SMS.
                        ctx.expect_messages(&job.email, &job.phone, 1, 1);
                        file_id = upload["fileId"].as_str().map(str::to_string);
                    } else {
                        ctx.violation(format!("exam {exam}: upload answered {status}"));
                    }
                }
            }
        }
        let _ = job.reply.send(file_id);
    }
}

/// Staff: publish new slots now and then (others fill up), order reports.
async fn staff_loop(ctx: Arc<Ctx>) {
    let mut rng = Rng(0xDEAD_BEEF_1234_5678);
    let mut made = 0u64;
    let mut last_report = Instant::now();
    while !ctx.over() {
        publish_slots(&ctx, &mut rng, &mut made, 4).await;
        if last_report.elapsed() > Duration::from_secs(30) {
            last_report = Instant::now();
            order_report(&ctx).await;
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
}

async fn publish_slots(ctx: &Ctx, rng: &mut Rng, made: &mut u64, count: u64) {
    let staff = ctx.staff().await;
    let (hospital_id, _, _) = &ctx.hospitals[rng.below(ctx.hospitals.len())];
    let day0: u64 = ctx
        .run
        .bytes()
        .fold(0, |a, b| (a * 31 + u64::from(b)) % 3000);
    let slots: Vec<Value> = (0..count)
        .map(|i| {
            let k = *made + i;
            let start = jiff::Timestamp::from_second(1_924_992_000 + (day0 as i64) * 86_400 + (k as i64) * 1800)
                .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
            let end = start + jiff::SignedDuration::from_mins(20);
            json!({"examType": "Ultrassom", "start": start.to_string(), "end": end.to_string(), "capacity": CAPACITY})
        })
        .collect();
    *made += count;
    if let Some((_, body)) = ctx
        .call(
            "publish_slots",
            reqwest::Method::PUT,
            &format!("/v1/hospitals/{hospital_id}/slots"),
            Some(&staff),
            &[],
            Body::Json(Value::Array(slots)),
            &[200, 201],
        )
        .await
    {
        let list = body
            .as_array()
            .cloned()
            .or_else(|| body["items"].as_array().cloned())
            .or_else(|| body["slots"].as_array().cloned())
            .unwrap_or_default();
        let mut slots = ctx.slots.lock().expect("slots");
        for s in list {
            if let Some(id) = s["id"].as_str() {
                slots.push(Slot { id: id.to_string() });
            }
        }
    }
}

async fn order_report(ctx: &Ctx) {
    let staff = ctx.staff().await;
    let key = format!(
        "soak-report-{}-{}",
        ctx.run,
        ctx.seq.fetch_add(1, Ordering::Relaxed)
    );
    let Some((status, body)) = ctx
        .call("report_order", reqwest::Method::POST, "/v1/reports", Some(&staff),
              &[("idempotency-key", key)], Body::Json(json!({"kind": "exams", "format": "xlsx", "filters": {"from": "2030-01-01", "to": "2030-12-31"}})), &[200, 201, 202])
        .await
    else {
        return;
    };
    let Some(id) = body["id"]
        .as_str()
        .or(body["reportId"].as_str())
        .map(str::to_string)
    else {
        ctx.violation(format!(
            "report order answered {status} without an id: {body}"
        ));
        return;
    };
    let started = Instant::now();
    let done = ctx
        .wait_measured(
            "report_ready_wait",
            started,
            Duration::from_secs(180),
            || async {
                ctx.get(
                    "report_status",
                    &format!("/v1/reports/{id}"),
                    &staff,
                    &[200],
                )
                .await
                .is_some_and(|(_, r)| {
                    let s = r["status"]
                        .as_str()
                        .unwrap_or_default()
                        .to_ascii_lowercase();
                    s == "done" || s == "failed"
                })
            },
        )
        .await;
    match done {
        Ok(()) => ctx.expected.lock().expect("expected").reports += 1,
        Err(()) => ctx.violation(format!("report {id} not done within 180 s")),
    }
}

// ------------------------------------------------------------------------------------------------
// Set-up: hospitals, doctors, staff

async fn register_hospitals(
    ctx_http: &reqwest::Client,
    base: &str,
    staff: &str,
    run: &str,
    count: usize,
) -> Result<Vec<(String, String, String)>, String> {
    let mut out = Vec::new();
    for i in 0..count {
        let name = format!("Hospital Soak {run} {i}");
        let cnes = format!(
            "{:07}",
            (run.bytes().fold(0u64, |a, b| a * 31 + u64::from(b)) * 10 + i as u64) % 10_000_000
        );
        let response = ctx_http
            .post(format!("{base}/v1/hospitals"))
            .bearer_auth(staff)
            .json(&json!({"name": name, "cnes": cnes}))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status != 201 {
            return Err(format!("registering {name} answered {status}: {body}"));
        }
        out.push((
            body["id"].as_str().unwrap_or_default().to_string(),
            body["clientId"].as_str().unwrap_or_default().to_string(),
            body["clientSecret"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        ));
    }
    // Slots can be published once the exam catalogue knows the hospitals.
    wait_until(Duration::from_secs(60), || async {
        let Ok(response) = ctx_http
            .get(format!("{base}/v1/hospitals?limit=100"))
            .bearer_auth(staff)
            .send()
            .await
        else {
            return false;
        };
        let list: Value = response.json().await.unwrap_or(Value::Null);
        let known: HashSet<&str> = list["items"]
            .as_array()
            .map(|items| items.iter().filter_map(|h| h["id"].as_str()).collect())
            .unwrap_or_default();
        out.iter().all(|(id, _, _)| known.contains(id.as_str()))
    })
    .await
    .map_err(|()| "the hospitals did not reach the exam catalogue within 60 s".to_string())?;
    Ok(out)
}

/// Registers a doctor and goes through the first sign-in: new password, authenticator set-up.
async fn register_doctor(ctx: &Ctx, staff: &str, i: usize) -> Result<(String, String), String> {
    let email = format!("dr{i}.{}@soak.example", ctx.run);
    let (status, doctor) = ctx
        .post("register_doctor", "/v1/doctors", Some(staff),
              json!({"email": email, "name": format!("Dra. Soak {i}"), "crm": format!("{}", 100_000 + i), "uf": "SP",
                     "specialty": "Radiologia", "temporaryPassword": "Temp0rary1x"}), &[201])
        .await
        .ok_or("no answer")?;
    if status != 201 {
        return Err(format!(
            "registering doctor {i} answered {status}: {doctor}"
        ));
    }
    let id = doctor["id"].as_str().unwrap_or_default().to_string();
    let (_, challenge) = ctx
        .post(
            "sign_in",
            "/v1/auth/token",
            None,
            json!({"username": email, "password": "Temp0rary1x"}),
            &[200],
        )
        .await
        .ok_or("no answer")?;
    let (_, setup) = ctx
        .post("new_password", "/v1/auth/new-password", None,
              json!({"username": email, "session": challenge["session"], "newPassword": "Chosen0Password"}), &[200])
        .await
        .ok_or("no answer")?;
    let secret = setup["secretCode"]
        .as_str()
        .ok_or(format!("no authenticator set-up: {setup}"))?;
    let code = clinic_local::totp::code_now(secret).map_err(|e| e.to_string())?;
    let (_, tokens) = ctx
        .post(
            "mfa",
            "/v1/auth/mfa",
            None,
            json!({"username": email, "session": setup["session"], "code": code}),
            &[200],
        )
        .await
        .ok_or("no answer")?;
    let token = tokens["accessToken"]
        .as_str()
        .ok_or(format!("no token: {tokens}"))?;
    ctx.expected.lock().expect("expected").doctors.push(email);
    Ok((id, token.to_string()))
}

// ------------------------------------------------------------------------------------------------
// After the run: what the emulator holds

/// Consumer function (logical id) → event types its queues' subscriptions let through.
fn consumer_filters(template: &Path) -> Result<BTreeMap<String, BTreeSet<String>>, String> {
    let text = std::fs::read_to_string(template).map_err(|e| e.to_string())?;
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).map_err(|e| e.to_string())?;
    let resources = doc["Resources"].as_mapping().ok_or("no Resources")?;
    let get_att = |v: &serde_yaml::Value| -> Option<String> {
        match v {
            serde_yaml::Value::Tagged(t) if t.tag == "!GetAtt" || t.tag == "GetAtt" => {
                match &t.value {
                    serde_yaml::Value::String(s) => s.split('.').next().map(str::to_string),
                    serde_yaml::Value::Sequence(s) => s.first()?.as_str().map(str::to_string),
                    _ => None,
                }
            }
            serde_yaml::Value::Mapping(m) => m
                .get("Fn::GetAtt")
                .and_then(|v| v.as_sequence()?.first()?.as_str().map(str::to_string)),
            _ => None,
        }
    };
    let mut queue_types: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (_, resource) in resources {
        if resource["Type"].as_str() != Some("AWS::SNS::Subscription") {
            continue;
        }
        let props = &resource["Properties"];
        if props["Protocol"].as_str() != Some("sqs") {
            continue;
        }
        let Some(queue) = get_att(&props["Endpoint"]) else {
            continue;
        };
        let types = props["FilterPolicy"]["type"]
            .as_sequence()
            .map(|s| {
                s.iter()
                    .filter_map(|t| t.as_str().map(str::to_string))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        queue_types.entry(queue).or_default().extend(types);
    }
    let mut consumers = BTreeMap::new();
    for (name, resource) in resources {
        let Some(events) = resource["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for (_, event) in events {
            if event["Type"].as_str() != Some("SQS") {
                continue;
            }
            if let Some(queue) = get_att(&event["Properties"]["Queue"])
                && let Some(types) = queue_types.get(&queue)
                && let Some(name) = name.as_str()
            {
                consumers
                    .entry(name.to_string())
                    .or_insert_with(BTreeSet::new)
                    .extend(types.iter().cloned());
            }
        }
    }
    Ok(consumers)
}

/// The emulator's tables (one page: the stack has a handful).
async fn table_names(ddb: &aws_sdk_dynamodb::Client) -> Result<Vec<String>, String> {
    let tables = ddb
        .list_tables()
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    Ok(tables.table_names().to_vec())
}

/// Every outbox item the soak's events left in the service tables: id → (table, type, pending).
async fn outbox_items(
    ddb: &aws_sdk_dynamodb::Client,
    since: &str,
) -> Result<BTreeMap<String, (String, String, bool)>, String> {
    use aws_sdk_dynamodb::types::AttributeValue;
    let mut out = BTreeMap::new();
    for table in table_names(ddb).await? {
        let mut start = None;
        loop {
            let page = ddb
                .scan()
                .table_name(&table)
                .filter_expression("begins_with(pk, :p) AND createdAt >= :since")
                .expression_attribute_values(":p", AttributeValue::S("OUTBOX#".into()))
                .expression_attribute_values(":since", AttributeValue::S(since.into()))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| format!("{e:?}"))?;
            for item in page.items() {
                let Some(id) = item
                    .get("pk")
                    .and_then(|v| v.as_s().ok())
                    .and_then(|pk| pk.strip_prefix("OUTBOX#"))
                else {
                    continue;
                };
                let kind = item
                    .get("eventType")
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default();
                out.insert(
                    id.to_string(),
                    (table.clone(), kind, item.contains_key("outboxPending")),
                );
            }
            start = page.last_evaluated_key().cloned();
            if start.is_none() {
                break;
            }
        }
    }
    Ok(out)
}

/// When each outbox item was written (ms since the epoch): its stream record's creation time, as
/// the emulator stamped it at the write.
async fn commit_times(sdk: &aws_config::SdkConfig) -> Result<HashMap<String, u64>, String> {
    use aws_sdk_dynamodbstreams::types::{AttributeValue, ShardIteratorType};
    let ddb = aws_sdk_dynamodb::Client::new(sdk);
    let streams = aws_sdk_dynamodbstreams::Client::new(sdk);
    let mut out = HashMap::new();
    for table in table_names(&ddb).await? {
        let described = ddb
            .describe_table()
            .table_name(&table)
            .send()
            .await
            .map_err(|e| format!("{e:?}"))?;
        let Some(arn) = described.table().and_then(|t| t.latest_stream_arn()) else {
            continue;
        };
        let stream = streams
            .describe_stream()
            .stream_arn(arn)
            .send()
            .await
            .map_err(|e| format!("{e:?}"))?;
        for shard in clinic_local::events::streams::shard_ids_of(&stream) {
            let mut iterator = streams
                .get_shard_iterator()
                .stream_arn(arn)
                .shard_id(&shard)
                .shard_iterator_type(ShardIteratorType::TrimHorizon)
                .send()
                .await
                .map_err(|e| format!("{e:?}"))?
                .shard_iterator
                .unwrap_or_default();
            loop {
                let page = streams
                    .get_records()
                    .shard_iterator(&iterator)
                    .limit(1000)
                    .send()
                    .await
                    .map_err(|e| format!("{e:?}"))?;
                if page.records().is_empty() {
                    break;
                }
                for record in page.records() {
                    let Some(change) = record.dynamodb() else {
                        continue;
                    };
                    let Some(AttributeValue::S(pk)) = change.new_image().and_then(|i| i.get("pk"))
                    else {
                        continue;
                    };
                    let (Some(id), Some(at)) = (
                        pk.strip_prefix("OUTBOX#"),
                        change.approximate_creation_date_time(),
                    ) else {
                        continue;
                    };
                    out.entry(id.to_string())
                        .or_insert((at.as_secs_f64() * 1000.0) as u64);
                }
                match page.next_shard_iterator() {
                    Some(next) => iterator = next.to_string(),
                    None => break,
                }
            }
        }
    }
    Ok(out)
}

struct QueueState {
    name: String,
    dlq: bool,
    messages: i64,
    reasons: BTreeMap<String, u64>,
}

async fn queues(sqs: &aws_sdk_sqs::Client) -> Result<Vec<QueueState>, String> {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let urls = sqs
        .list_queues()
        .max_results(1000)
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    let mut out = Vec::new();
    for url in urls.queue_urls() {
        let name = url.rsplit('/').next().unwrap_or(url).to_string();
        let attrs = sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(A::ApproximateNumberOfMessages)
            .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(A::ApproximateNumberOfMessagesDelayed)
            .send()
            .await
            .map_err(|e| format!("{e:?}"))?;
        let count = |a: A| {
            attrs
                .attributes()
                .and_then(|m| m.get(&a))
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(0)
        };
        let messages = count(A::ApproximateNumberOfMessages)
            + count(A::ApproximateNumberOfMessagesNotVisible)
            + count(A::ApproximateNumberOfMessagesDelayed);
        let lower = name.to_ascii_lowercase();
        let dlq = lower.contains("dlq")
            || lower.contains("deadletter")
            || lower.contains("dead-letter")
            || lower.contains("failure");
        let mut reasons = BTreeMap::new();
        if dlq && messages > 0 {
            // A look at what is there (made visible again at once).
            if let Ok(received) = sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .visibility_timeout(0)
                .message_attribute_names("All")
                .send()
                .await
            {
                for m in received.messages() {
                    let reason = m
                        .message_attributes()
                        .and_then(|a| {
                            a.get("reason")
                                .or_else(|| a.get("Reason"))
                                .or_else(|| a.get("parkReason"))
                        })
                        .and_then(|v| v.string_value().map(str::to_string))
                        .or_else(|| {
                            let body: Value =
                                serde_json::from_str(m.body().unwrap_or_default()).ok()?;
                            body["requestContext"]["condition"]
                                .as_str()
                                .or(body["reason"].as_str())
                                .or(body["type"].as_str())
                                .map(str::to_string)
                        })
                        .unwrap_or_else(|| truncate(m.body().unwrap_or_default(), 80));
                    *reasons.entry(reason).or_default() += 1;
                }
            }
        }
        out.push(QueueState {
            name,
            dlq,
            messages,
            reasons,
        });
    }
    Ok(out)
}

/// E-mails and SMS the emulator sent, per destination.
async fn sent_messages(
    http: &reqwest::Client,
    emulator: &str,
) -> (
    HashMap<String, u64>,
    HashMap<String, u64>,
    BTreeMap<String, u64>,
) {
    let data: Value = match http
        .get(format!("{emulator}/moto-api/data.json"))
        .send()
        .await
    {
        Ok(r) => r.json().await.unwrap_or(Value::Null),
        Err(_) => Value::Null,
    };
    let mut emails: HashMap<String, u64> = HashMap::new();
    let mut subjects: BTreeMap<String, u64> = BTreeMap::new();
    for m in data["ses"]["Message"].as_array().into_iter().flatten() {
        for to in m["destinations"]["ToAddresses"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if let Some(to) = to.as_str() {
                *emails.entry(to.to_string()).or_default() += 1;
            }
        }
        if let Some(subject) = m["subject"].as_str() {
            // Per template: dates and times in a subject are not what tells them apart.
            let template: String = subject
                .chars()
                .map(|c| if c.is_ascii_digit() { '#' } else { c })
                .collect();
            *subjects.entry(template).or_default() += 1;
        }
    }
    let mut sms: HashMap<String, u64> = HashMap::new();
    for m in data["sns"]["SMS"].as_array().into_iter().flatten() {
        if let Some(phone) = m["phone_number"].as_str() {
            *sms.entry(phone.to_string()).or_default() += 1;
        }
    }
    (emails, sms, subjects)
}

/// The emulator restarts under the running runner: once it has provisioned everything again,
/// events written then must be relayed through their streams as fast as before.
async fn after_emulator_restart(
    ctx: &Ctx,
    system: &mut OwnSystem,
    root: &Path,
    latency_gate: bool,
) -> (String, bool) {
    let before = system.observed.lock().map(|o| o.reprovisioned).unwrap_or(0);
    let restarted = jiff::Timestamp::now();
    if let Err(err) = system.restart_emulator(root).await {
        return (format!("emulator restart: {err}\n"), false);
    }
    let observed = system.observed.clone();
    let back = wait_until(Duration::from_secs(180), || async {
        observed
            .lock()
            .map(|o| o.reprovisioned > before)
            .unwrap_or(false)
    })
    .await;
    if back.is_err() {
        return (
            "emulator restart: the runner did not provision it again within 180 s\n".into(),
            false,
        );
    }
    let secret = observed.lock().ok().and_then(|o| o.staff_secret.clone());
    let staff = match clinic_local::seed::sign_in(
        &ctx.http,
        &ctx.base,
        STAFF_EMAIL,
        STAFF_PASSWORD,
        secret.as_deref(),
    )
    .await
    {
        Ok(s) => s.access_token,
        Err(err) => {
            return (
                format!("emulator restart: staff sign-in failed afterwards: {err}\n"),
                false,
            );
        }
    };
    let run = format!("{}r", ctx.run);
    if let Err(err) = register_hospitals(&ctx.http, &ctx.base, &staff, &run, 2).await {
        return (format!("emulator restart: {err}\n"), false);
    }
    for i in 0..5 {
        let email = format!("after{i}.{run}@soak.example");
        let body = json!({"email": email, "password": PASSWORD, "name": "Paciente Soak", "cpf": cpf(777_000 + i),
                          "birthDate": "1990-04-12", "phone": format!("+5511977{:06}", 1000 + i),
                          "preferences": {"email": true, "sms": true, "language": "pt-BR"}});
        ctx.post("sign_up", "/v1/accounts/patients", None, body, &[202])
            .await;
        ctx.post(
            "confirm",
            "/v1/accounts/confirm",
            None,
            json!({"email": email, "code": "123456", "password": PASSWORD}),
            &[204],
        )
        .await;
    }
    let sdk = sdk_config(&system.runner_args[3]).await;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let since = restarted.to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    let (items, published) = loop {
        let items = outbox_items(&ddb, &since).await.unwrap_or_default();
        let all = {
            let o = observed.lock().expect("observed");
            !items.is_empty() && items.keys().all(|id| o.published.contains_key(id))
        };
        if all || Instant::now() > deadline {
            break (items, all);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let committed = commit_times(&sdk).await.unwrap_or_default();
    let o = observed.lock().expect("observed");
    let relay: Vec<f64> = items
        .keys()
        .filter_map(|id| {
            let written = match committed.get(id) {
                Some(at) => *at,
                None => ulid::Ulid::from_string(id).ok()?.timestamp_ms(),
            };
            o.published
                .get(id)
                .map(|(_, at)| at.saturating_sub(written) as f64)
        })
        .collect();
    let p99 = percentile(&relay, 99.0);
    let passed = published && (p99 <= RELAY_P99_LIMIT_MS || !latency_gate);
    (
        format!(
            "after the emulator restarted under the runner: {} events written, {} published, relay p50 {:.0} ms, p99 {p99:.0} ms\n",
            items.len(),
            relay.len(),
            percentile(&relay, 50.0)
        ),
        passed,
    )
}

// ------------------------------------------------------------------------------------------------

#[tokio::main]
async fn main() {
    let args = Args::parse();
    match run(args).await {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(err) => {
            eprintln!("soak: {err}");
            std::process::exit(2);
        }
    }
}

async fn sdk_config(emulator: &str) -> aws_config::SdkConfig {
    // Region and dummy credentials from the environment (scripts/env.sh).
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(emulator)
        .load()
        .await
}

#[allow(clippy::too_many_lines)]
async fn run(args: Args) -> Result<bool, String> {
    let started_at = jiff::Timestamp::now();
    let run_id: String = {
        let mut bytes = [0u8; 4];
        getrandom::fill(&mut bytes).map_err(|e| e.to_string())?;
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    };
    let wall = Instant::now();
    let (mut own, base, emulator_url) = match &args.url {
        Some(url) => (
            None,
            url.trim_end_matches('/').to_string(),
            args.emulator_url.clone(),
        ),
        None => {
            let emulator_port = free_port();
            let port = free_port();
            println!(
                "soak {run_id}: starting the emulator on {emulator_port} and the runner on {port}"
            );
            let system = OwnSystem::start(&args, emulator_port, port).await?;
            (
                Some(system),
                format!("http://127.0.0.1:{port}"),
                format!("http://127.0.0.1:{emulator_port}"),
            )
        }
    };
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .map_err(|e| e.to_string())?;
    wait_until(Duration::from_secs(180), || async {
        http.get(format!("{base}/_local/health"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    })
    .await
    .map_err(|()| format!("the system at {base} did not become healthy"))?;
    let secret = match &own {
        Some(system) => {
            wait_until(Duration::from_secs(60), || async {
                system
                    .observed
                    .lock()
                    .map(|o| o.staff_secret.is_some())
                    .unwrap_or(false)
            })
            .await
            .map_err(|()| "the runner printed no staff authenticator secret".to_string())?;
            system
                .observed
                .lock()
                .ok()
                .and_then(|o| o.staff_secret.clone())
        }
        None => args.staff_secret.clone(),
    };
    let startup = wall.elapsed();
    let rss_start = own.as_ref().and_then(OwnSystem::emulator_rss_mb);

    let staff =
        clinic_local::seed::sign_in(&http, &base, STAFF_EMAIL, STAFF_PASSWORD, secret.as_deref())
            .await
            .map_err(|e| format!("staff sign-in: {e}"))?
            .access_token;
    let hospitals = register_hospitals(&http, &base, &staff, &run_id, args.hospitals).await?;
    let (doctor_tx, doctor_rx) = mpsc::unbounded_channel();
    let mut push_tx = Vec::new();
    let mut push_rx = Vec::new();
    for _ in 0..hospitals.len() {
        let (tx, rx) = mpsc::unbounded_channel();
        push_tx.push(tx);
        push_rx.push(rx);
    }
    let duration = Duration::from_secs_f64(args.minutes * 60.0);
    let ctx = Arc::new(Ctx {
        http: http.clone(),
        base: base.clone(),
        run: run_id.clone(),
        deadline: Mutex::new(Instant::now() + duration),
        stats: Mutex::new(Stats::default()),
        expected: Mutex::new(Expected::default()),
        staff: tokio::sync::RwLock::new(staff.clone()),
        slots: Mutex::new(Vec::new()),
        seq: AtomicU64::new(0),
        hospitals,
        push_tx,
        doctor_tx,
        restarting: AtomicBool::new(false),
    });
    let mut rng = Rng(0x1234_5678_9ABC_DEF1);
    let mut made = 0;
    publish_slots(&ctx, &mut rng, &mut made, 8).await;
    let jobs = Arc::new(tokio::sync::Mutex::new(doctor_rx));
    for i in 0..args.doctors {
        let (id, token) = register_doctor(&ctx, &staff, i).await?;
        tokio::spawn(doctor_loop(ctx.clone(), id, token, jobs.clone()));
    }
    for (i, rx) in push_rx.into_iter().enumerate() {
        tokio::spawn(hospital_loop(ctx.clone(), i, rx));
    }
    println!(
        "soak {run_id}: {} users for {:.1} min against {base} (emulator {emulator_url}); system up in {:.1} s",
        args.users,
        args.minutes,
        startup.as_secs_f64()
    );
    let workload_started = Instant::now();
    let cpu_start = own.as_ref().and_then(OwnSystem::emulator_cpu_seconds);
    let mut tasks = Vec::new();
    for user in 0..args.users {
        tasks.push(tokio::spawn(patient_loop(ctx.clone(), user)));
    }
    tasks.push(tokio::spawn(staff_loop(ctx.clone())));

    // Half-way: the runner restarts (its stream pollers resume from their checkpoints).
    let mut rss_peak = rss_start.unwrap_or(0.0);
    let mut restarted = false;
    // When the runner was down (ms since the epoch): events written then wait for it.
    let mut runner_down: Option<(u64, u64)> = None;
    while !ctx.over() {
        tokio::time::sleep(Duration::from_secs(5)).await;
        if let Some(system) = &own {
            rss_peak = rss_peak.max(system.emulator_rss_mb().unwrap_or(0.0));
        }
        if args.restart_runner
            && !restarted
            && workload_started.elapsed() > duration / 2
            && let Some(system) = own.as_mut()
        {
            restarted = true;
            println!("soak {run_id}: restarting the runner");
            ctx.restarting.store(true, Ordering::Relaxed);
            let down = now_ms();
            system.stop_runner().await;
            system.spawn_runner().await?;
            let healthy = wait_until(Duration::from_secs(120), || async {
                http.get(format!("{base}/_local/health"))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
            })
            .await;
            ctx.restarting.store(false, Ordering::Relaxed);
            runner_down = Some((down, now_ms()));
            if healthy.is_err() {
                ctx.violation("the runner did not come back within 120 s".into());
            }
        }
        let done = ctx.seq.load(Ordering::Relaxed);
        println!(
            "soak {run_id}: {:>4.0} s, {done} visits started",
            workload_started.elapsed().as_secs_f64()
        );
    }
    // Visits under way finish (each step checks the time only between visits).
    for task in tasks {
        if tokio::time::timeout(Duration::from_secs(240), task)
            .await
            .is_err()
        {
            ctx.violation("a simulated person was still busy 240 s after the end".into());
        }
    }
    let workload = workload_started.elapsed();
    let cpu_used = own
        .as_ref()
        .and_then(OwnSystem::emulator_cpu_seconds)
        .zip(cpu_start)
        .map(|(end, start)| end - start);

    // Settle: every outbox item published, every queue empty (or 90 s).
    println!(
        "soak {run_id}: workload done after {:.0} s; waiting for the system to settle",
        workload.as_secs_f64()
    );
    let sdk = sdk_config(&emulator_url).await;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let since = started_at.to_string();
    let settle_started = Instant::now();
    let mut outbox;
    loop {
        outbox = outbox_items(&ddb, &since).await?;
        let states = queues(&sqs).await?;
        let pending = outbox.values().filter(|(_, _, p)| *p).count();
        let busy: i64 = states.iter().filter(|q| !q.dlq).map(|q| q.messages).sum();
        if settle_started.elapsed() > Duration::from_secs(90) {
            break;
        }
        if pending == 0 && busy == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    // Late notifications (retries back off for a few seconds).
    tokio::time::sleep(Duration::from_secs(5)).await;
    let queue_states = queues(&sqs).await?;
    let rss_end = own.as_ref().and_then(OwnSystem::emulator_rss_mb);
    rss_peak = rss_peak.max(rss_end.unwrap_or(0.0));
    let (emails, sms, subjects) = sent_messages(&http, &emulator_url).await;
    let committed = commit_times(&sdk).await?;
    let written_at = |id: &str| -> u64 {
        committed
            .get(id)
            .copied()
            .or_else(|| ulid::Ulid::from_string(id).ok().map(|u| u.timestamp_ms()))
            .unwrap_or(0)
    };

    // ---------------------------------------------------------------------------------------
    // The table
    let mut ok = true;
    let mut out = String::new();
    // The locks are let go before anything is awaited again.
    {
        let stats = ctx.stats.lock().expect("stats");
        let _ = writeln!(
            out,
            "\n== soak {run_id}: {} users, {:.1} min of workload, {} visits ==",
            args.users,
            workload.as_secs_f64() / 60.0,
            ctx.seq.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "{:<22} {:>7} {:>10} {:>9} {:>9}  statuses",
            "operation", "count", "unexpected", "p50 ms", "p99 ms"
        );
        let mut total_unexpected = 0;
        for (kind, op) in &stats.ops {
            total_unexpected += op.unexpected;
            let statuses: Vec<String> = op
                .statuses
                .iter()
                .map(|(s, n)| format!("{s}×{n}"))
                .collect();
            let _ = writeln!(
                out,
                "{kind:<22} {:>7} {:>10} {:>9.0} {:>9.0}  {}",
                op.latencies_ms.len(),
                op.unexpected,
                percentile(&op.latencies_ms, 50.0),
                percentile(&op.latencies_ms, 99.0),
                statuses.join(" ")
            );
        }
        if total_unexpected > 0 {
            ok = false;
        }

        // Events: published through the stream, in time; delivered to each consumer.
        let observed = own.as_ref().map(|s| s.observed.clone());
        let filters = consumer_filters(&args.root.join("template.yaml")).unwrap_or_default();
        let mut by_type: BTreeMap<&str, u64> = BTreeMap::new();
        for (_, kind, _) in outbox.values() {
            *by_type.entry(kind.as_str()).or_default() += 1;
        }
        let pending: Vec<&String> = outbox
            .iter()
            .filter(|(_, (_, _, p))| *p)
            .map(|(id, _)| id)
            .collect();
        let _ = writeln!(
            out,
            "\nevents written to outboxes: {} ({})",
            outbox.len(),
            by_type
                .iter()
                .map(|(t, n)| format!("{t} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let _ = writeln!(
            out,
            "still pending in an outbox after settling: {}",
            pending.len()
        );
        if !pending.is_empty() {
            ok = false;
        }
        if let Some(observed) = &observed {
            let o = observed.lock().expect("observed");
            let mut relay = Vec::new();
            let mut around_restart = Vec::new();
            let mut missing_publication = 0;
            let mut rows = String::from("event_id,table,type,written_ms,published_ms,relay_ms\n");
            // Events written while the runner was stopping or down (or up to 2 s before, still in
            // its pollers' hands) wait for it: counted apart.
            let during_restart =
                |at: u64| runner_down.is_some_and(|(down, up)| at + 2000 >= down && at <= up);
            for (id, (table, kind, _)) in &outbox {
                let written = written_at(id);
                match o.published.get(id) {
                    Some((_, at)) if written > 0 => {
                        let ms = at.saturating_sub(written) as f64;
                        let _ = writeln!(rows, "{id},{table},{kind},{written},{at},{ms}");
                        if during_restart(written) {
                            around_restart.push(ms);
                        } else {
                            relay.push(ms);
                        }
                    }
                    Some(_) => {}
                    None => missing_publication += 1,
                }
            }
            if let Some(system) = &own {
                let _ = std::fs::write(system.log_file.with_extension("relay.csv"), rows);
            }
            let swept: u64 = o.swept.values().sum();
            let p99 = percentile(&relay, 99.0);
            let _ = writeln!(
                out,
                "relay (outbox item written → published from its stream): {} events, p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms (limit p99 {RELAY_P99_LIMIT_MS:.0} ms); published by the sweep: {swept}; not seen published: {missing_publication}",
                relay.len(),
                percentile(&relay, 50.0),
                p99,
                percentile(&relay, 100.0)
            );
            if let Some((down, up)) = runner_down {
                let _ = writeln!(
                    out,
                    "  written while the runner restarted ({:.1} s down): {} events, relayed after {:.0} ms at most",
                    (up - down) as f64 / 1000.0,
                    around_restart.len(),
                    percentile(&around_restart, 100.0)
                );
            }
            if (args.latency_gate && p99 > RELAY_P99_LIMIT_MS)
                || swept > 0
                || missing_publication > 0
            {
                ok = false;
            }
            if !args.latency_gate && p99 > RELAY_P99_LIMIT_MS {
                let _ = writeln!(
                    out,
                    "  p99 above the limit: reported only (--latency-gate false)"
                );
            }
            let _ = writeln!(
                out,
                "{:<34} {:>9} {:>9} {:>7} {:>7} {:>9} {:>9}",
                "consumer", "expected", "delivered", "parked", "missing", "p50 ms", "p99 ms"
            );
            for (consumer, types) in &filters {
                let wanted: Vec<(&String, &String)> = outbox
                    .iter()
                    .filter(|(_, (_, t, _))| types.contains(t))
                    .map(|(id, (_, t, _))| (id, t))
                    .collect();
                let delivered = o.delivered.get(consumer);
                let parked = o.parked.get(consumer);
                let mut latencies = Vec::new();
                let mut missing = 0;
                let mut parked_n = 0;
                for (id, _) in &wanted {
                    let written = written_at(id);
                    if let Some(at) = delivered.and_then(|d| d.get(*id)) {
                        latencies.push(at.saturating_sub(written) as f64);
                    } else if parked.is_some_and(|p| p.contains(*id)) {
                        parked_n += 1;
                    } else {
                        missing += 1;
                    }
                }
                if missing > 0 {
                    ok = false;
                }
                let _ = writeln!(
                    out,
                    "{consumer:<34} {:>9} {:>9} {:>7} {:>7} {:>9.0} {:>9.0}",
                    wanted.len(),
                    latencies.len(),
                    parked_n,
                    missing,
                    percentile(&latencies, 50.0),
                    percentile(&latencies, 99.0)
                );
            }
            let _ = writeln!(
                out,
                "stream history rewinds seen by the runner: {}",
                o.stream_rewinds
            );
            let errors: u64 = o.errors.values().sum();
            let _ = writeln!(out, "function ERROR log lines: {errors} {:?}", o.errors);
            for sample in &o.error_samples {
                let _ = writeln!(out, "  {sample}");
            }
        } else {
            let _ = writeln!(
                out,
                "(attached: publication and delivery per consumer need the runner's output; not measured)"
            );
        }

        // Queues.
        let stuck: i64 = queue_states
            .iter()
            .filter(|q| !q.dlq)
            .map(|q| q.messages)
            .sum();
        let _ = writeln!(
            out,
            "\nmessages stuck (in a queue, not a DLQ, after settling): {stuck}"
        );
        for q in queue_states.iter().filter(|q| !q.dlq && q.messages > 0) {
            let _ = writeln!(out, "  {}: {}", q.name, q.messages);
        }
        if stuck > 0 {
            ok = false;
        }
        let dlq_total: i64 = queue_states
            .iter()
            .filter(|q| q.dlq)
            .map(|q| q.messages)
            .sum();
        let _ = writeln!(out, "DLQ entries: {dlq_total}");
        for q in queue_states.iter().filter(|q| q.dlq && q.messages > 0) {
            let _ = writeln!(out, "  {}: {} {:?}", q.name, q.messages, q.reasons);
        }
        if own.is_some() && dlq_total > 0 {
            ok = false;
        }

        // E-mails and SMS.
        let expected = ctx.expected.lock().expect("expected");
        let (mut want_mail, mut got_mail, mut want_sms, mut got_sms) = (0, 0, 0, 0);
        let mut mismatches = Vec::new();
        let mut erased_mail = 0;
        for (email, (e, s, phone)) in &expected.messages {
            let (ge, gs) = (
                emails.get(email).copied().unwrap_or(0),
                sms.get(phone).copied().unwrap_or(0),
            );
            if expected.erased.contains(email) {
                erased_mail += ge;
                continue;
            }
            want_mail += e;
            want_sms += s;
            got_mail += ge;
            got_sms += gs;
            if ge != *e || gs != *s {
                mismatches.push(format!("{email}: e-mail {ge}/{e}, SMS {gs}/{s}"));
            }
        }
        let doctors_mail: u64 = expected
            .doctors
            .iter()
            .map(|d| emails.get(d).copied().unwrap_or(0))
            .sum();
        let staff_mail = emails.get(STAFF_EMAIL).copied().unwrap_or(0);
        let _ = writeln!(
            out,
            "\ne-mails to patients: {got_mail} sent / {want_mail} expected; SMS: {got_sms} sent / {want_sms} expected ({} erased accounts not counted: {erased_mail} e-mails reached them)",
            expected.erased.len()
        );
        let _ = writeln!(
            out,
            "e-mails to doctors: {doctors_mail} sent / {} expected; reports done: {}, their e-mails to the seeded staff account: {staff_mail} (not checked: the runner creates that account without an account event, so notifications know no address for it)",
            expected.doctors.len(),
            expected.reports
        );
        let _ = writeln!(out, "e-mail subjects (digits as #): {subjects:?}");
        if !mismatches.is_empty() || doctors_mail != expected.doctors.len() as u64 {
            ok = false;
            for m in mismatches.iter().take(10) {
                let _ = writeln!(out, "  {m}");
            }
        }

        // Slots.
        let over: Vec<(&String, &i64)> = expected
            .places
            .iter()
            .filter(|(_, n)| **n > i64::from(CAPACITY))
            .collect();
        let _ = writeln!(
            out,
            "\nslots booked: {} (capacity {CAPACITY} each); over capacity: {}",
            expected.places.len(),
            over.len()
        );
        if !over.is_empty() {
            ok = false;
        }
        if let (Some(a), Some(b)) = (rss_start, rss_end) {
            let _ = writeln!(
                out,
                "emulator memory (RSS): {a:.0} MB at start, {b:.0} MB at the end, peak {rss_peak:.0} MB"
            );
        }
        if let Some(cpu) = cpu_used {
            let _ = writeln!(
                out,
                "emulator CPU during the workload: {:.0}% of one core on average",
                cpu * 100.0 / workload.as_secs_f64().max(1.0)
            );
        }
        if let Some(system) = &own {
            let _ = writeln!(out, "runner output: {}", system.log_file.display());
        }
    }

    if args.restart_emulator
        && let Some(system) = own.as_mut()
    {
        println!("soak {run_id}: restarting the emulator under the runner");
        let root = args
            .root
            .canonicalize()
            .unwrap_or_else(|_| args.root.clone());
        let (line, passed) = after_emulator_restart(&ctx, system, &root, args.latency_gate).await;
        out.push_str(&line);
        ok &= passed;
    }
    {
        let stats = ctx.stats.lock().expect("stats");
        if stats.violation_count > 0 {
            ok = false;
            let _ = writeln!(out, "\nviolations: {} (first ones)", stats.violation_count);
            for v in &stats.violations {
                let _ = writeln!(out, "  {v}");
            }
        }
    }
    let _ = writeln!(
        out,
        "\nsoak {}: {:.0} s in all",
        if ok { "PASSED" } else { "FAILED" },
        wall.elapsed().as_secs_f64()
    );
    println!("{out}");
    if let Some(system) = own.as_mut() {
        system.stop_runner().await;
        let _ = system.emulator.kill().await;
    }
    Ok(ok)
}
