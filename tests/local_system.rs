//! Starts a private local system for a journey test: its own emulator and its own runner on free
//! ports, from a given template, and stops both when dropped. The runner's output (function logs
//! and REPORT lines) is captured, with the time each line arrived, for assertions — and printed
//! only when the test fails, so passing tests stay quiet.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::root;

/// The directory holding the workspace's binaries of the profile this test was built with.
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> → target/<profile>
    exe.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .expect("target dir of the test executable")
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Lines a process printed, each with the time it was read.
type Lines = Arc<Mutex<Vec<(Instant, String)>>>;

fn capture(child: &mut Child, sink: &Lines) {
    fn pump(source: impl std::io::Read + Send + 'static, sink: Lines) {
        std::thread::spawn(move || {
            for line in BufReader::new(source).lines().map_while(Result::ok) {
                if let Ok(mut lines) = sink.lock() {
                    lines.push((Instant::now(), line));
                }
            }
        });
    }
    if let Some(out) = child.stdout.take() {
        pump(out, sink.clone());
    }
    if let Some(err) = child.stderr.take() {
        pump(err, sink.clone());
    }
}

/// A running emulator + runner pair.
pub struct LocalSystem {
    pub base_url: String,
    pub emulator_url: String,
    runner: Child,
    emulator: Child,
    output: Lines,
    /// How the runner was started (to start it again).
    template: PathBuf,
    bin_dir: PathBuf,
    extra_args: Vec<String>,
    port: u16,
    emulator_port: u16,
    /// The runner's state directory (stream checkpoints), removed on drop.
    state_dir: PathBuf,
}

/// The emulator alone (for tests that only need the runner to fail before using it): moto's
/// server through the project's launcher, `scripts/emulator.py`, which corrects what moto does
/// differently from AWS (transactions, stream memory) as `scripts/emulator start` does.
pub fn spawn_emulator(port: u16) -> Child {
    let python = root().join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} missing: run scripts/bootstrap",
        python.display()
    );
    Command::new(python)
        .arg(root().join("scripts/emulator.py"))
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .env("CLINIC_EMULATOR_FAULTS", faults_file(port))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the emulator")
}

/// The file of faults the emulator on `port` injects (`CLINIC_EMULATOR_FAULTS`, see
/// `scripts/emulator.py`); absent unless a test writes it.
pub fn faults_file(port: u16) -> PathBuf {
    std::env::temp_dir().join(format!("clinic-emulator-faults-{port}.json"))
}

fn injected_file(port: u16) -> PathBuf {
    let mut name = faults_file(port).into_os_string();
    name.push(".injected");
    PathBuf::from(name)
}

/// The runner command with the local AWS settings.
pub fn runner_command(template: &Path, emulator_url: &str, port: u16, bin_dir: &Path) -> Command {
    let mut command = Command::new(bin_dir_of_runner().join("clinic-local"));
    command
        .args(["--template", &template.display().to_string()])
        .args(["--emulator-url", emulator_url])
        .args(["--port", &port.to_string()])
        .args(["--bin-dir", &bin_dir.display().to_string()])
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("CLINIC_STATE_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

fn bin_dir_of_runner() -> PathBuf {
    let dir = bin_dir();
    assert!(
        dir.join("clinic-local").exists(),
        "{} missing: build the workspace binaries first (cargo build --workspace --bins)",
        dir.join("clinic-local").display()
    );
    dir
}

impl LocalSystem {
    /// Starts a fresh emulator and a runner for `template`, running function binaries from
    /// `bin_dir`, and waits until the runner reports healthy.
    ///
    /// # Panics
    /// When the system does not become healthy within two minutes (the output is printed).
    pub async fn start(template: &Path, bin_dir: &Path, extra_args: &[&str]) -> LocalSystem {
        let emulator_port = free_port();
        let emulator_url = format!("http://127.0.0.1:{emulator_port}");
        // Left by an earlier system on the same port.
        let _ = std::fs::remove_file(faults_file(emulator_port));
        let _ = std::fs::remove_file(injected_file(emulator_port));
        let emulator = spawn_emulator(emulator_port);
        wait_for_emulator(&emulator_url).await;
        let port = free_port();
        let state_dir =
            std::env::temp_dir().join(format!("clinic-local-state-{}-{port}", std::process::id()));
        let output: Lines = Arc::new(Mutex::new(Vec::new()));
        let mut system = LocalSystem {
            base_url: format!("http://127.0.0.1:{port}"),
            emulator_url,
            runner: Command::new("true").spawn().expect("a placeholder process"),
            emulator,
            output,
            template: template.to_path_buf(),
            bin_dir: bin_dir.to_path_buf(),
            extra_args: extra_args.iter().map(|a| (*a).to_string()).collect(),
            port,
            emulator_port,
            state_dir,
        };
        system.runner = system.spawn_runner();
        system.wait_healthy().await;
        system
    }

    fn spawn_runner(&self) -> Child {
        let mut command =
            runner_command(&self.template, &self.emulator_url, self.port, &self.bin_dir);
        command
            .args(["--state-dir", &self.state_dir.display().to_string()])
            .args(&self.extra_args);
        let mut runner = command.spawn().expect("start the runner");
        capture(&mut runner, &self.output);
        runner
    }

    /// Stops the runner (SIGTERM: a graceful stop, as Ctrl-C) and starts it again on the same
    /// emulator, port and state directory; waits until it is healthy.
    pub async fn restart_runner(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.runner.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.runner.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = self.runner.kill();
        let _ = self.runner.wait();
        self.runner = self.spawn_runner();
        self.wait_healthy().await;
    }

    /// Kills the emulator and starts an empty one on the same port, under the running runner.
    pub async fn restart_emulator(&mut self) {
        let _ = self.emulator.kill();
        let _ = self.emulator.wait();
        self.emulator = spawn_emulator(self.emulator_port);
        wait_for_emulator(&self.emulator_url).await;
    }

    /// Makes the emulator refuse each listed request (`sesv2:SendEmail`, `sns:Publish`,
    /// `sns:Publish:sms`) with the provider's throttling error for `duration` from now; replaces
    /// the faults set before.
    pub fn inject_faults(&self, requests: &[&str], duration: Duration) {
        let until = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| (d + duration).as_secs_f64())
            .unwrap_or_default();
        let faults: serde_json::Map<String, serde_json::Value> = requests
            .iter()
            .map(|r| ((*r).to_string(), serde_json::json!(until)))
            .collect();
        std::fs::write(
            faults_file(self.emulator_port),
            serde_json::Value::Object(faults).to_string(),
        )
        .expect("write the fault file");
    }

    /// Requests the emulator refused because of [`LocalSystem::inject_faults`], by request.
    pub fn faults_injected(&self) -> std::collections::BTreeMap<String, usize> {
        injected_counts(self.emulator_port)
    }

    /// Waits until the runner reports healthy.
    ///
    /// # Panics
    /// After two minutes (the output is printed).
    pub async fn wait_healthy(&self) {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(response) = http
                .get(format!("{}/_local/health", self.base_url))
                .send()
                .await
                && response.status().is_success()
            {
                return;
            }
            // The runner's output is printed when the system is dropped.
            assert!(
                Instant::now() < deadline,
                "the local system did not become healthy"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Everything the runner printed so far.
    pub fn output(&self) -> String {
        self.output
            .lock()
            .map(|lines| {
                lines.iter().fold(String::new(), |mut out, (_, line)| {
                    out.push_str(line);
                    out.push('\n');
                    out
                })
            })
            .unwrap_or_default()
    }

    /// The lines the runner printed, each with the time it was read.
    pub fn lines(&self) -> Vec<(Instant, String)> {
        self.output.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// The seeded staff account's authenticator secret, as the runner's banner gives it. The
    /// runner answers its health check just before it prints the banner, so the banner may
    /// still be on its way: it is waited for (the output is read by a thread of its own).
    ///
    /// # Panics
    /// When no banner with such a line arrives within 10 seconds.
    pub fn staff_secret(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let output = self.output();
            match clinic_local::app::staff_secret_in(&output) {
                Some(secret) => return secret,
                None if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                None => panic!("no staff authenticator secret in the output:\n{output}"),
            }
        }
    }
}

/// Waits until an emulator answers at `url`.
/// The requests the emulator on `port` failed on purpose so far, by request.
fn injected_counts(port: u16) -> std::collections::BTreeMap<String, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for line in std::fs::read_to_string(injected_file(port))
        .unwrap_or_default()
        .lines()
    {
        *counts.entry(line.to_string()).or_default() += 1;
    }
    counts
}

/// An emulator of a test's own (the project's launcher on a free port) and its fault file.
pub struct OwnEmulator {
    pub url: String,
    port: u16,
    process: Child,
}

impl OwnEmulator {
    /// Starts one and waits until it answers.
    ///
    /// # Panics
    /// When it does not start within 30 s.
    pub async fn start() -> OwnEmulator {
        let port = free_port();
        let _ = std::fs::remove_file(faults_file(port));
        let _ = std::fs::remove_file(injected_file(port));
        let process = spawn_emulator(port);
        let url = format!("http://127.0.0.1:{port}");
        wait_for_emulator(&url).await;
        OwnEmulator { url, port, process }
    }

    /// Replaces the faults it injects (the format `scripts/emulator.py` documents in `faults`).
    ///
    /// # Panics
    /// When the file cannot be written.
    pub fn set_faults(&self, faults: &serde_json::Value) {
        std::fs::write(faults_file(self.port), faults.to_string()).expect("write the fault file");
    }

    /// The requests it failed on purpose so far, by request.
    pub fn injected(&self) -> std::collections::BTreeMap<String, usize> {
        injected_counts(self.port)
    }
}

impl Drop for OwnEmulator {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
        let _ = std::fs::remove_file(faults_file(self.port));
        let _ = std::fs::remove_file(injected_file(self.port));
    }
}

async fn wait_for_emulator(url: &str) {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while http.get(format!("{url}/moto-api/")).send().await.is_err() {
        assert!(Instant::now() < deadline, "the emulator did not start");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

impl Drop for LocalSystem {
    fn drop(&mut self) {
        let _ = self.runner.kill();
        let _ = self.runner.wait();
        let _ = self.emulator.kill();
        let _ = self.emulator.wait();
        let _ = std::fs::remove_dir_all(&self.state_dir);
        let _ = std::fs::remove_file(faults_file(self.emulator_port));
        let _ = std::fs::remove_file(injected_file(self.emulator_port));
        // Passing tests stay quiet; a failing one shows what the runner and its functions said
        // (the test harness captures this and prints it with the failure).
        if std::thread::panicking() {
            eprintln!(
                "---- output of the local runner ({}) ----\n{}---- end of the runner's output ----",
                self.base_url,
                self.output()
            );
        }
    }
}
