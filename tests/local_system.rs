//! Starts a private local system for a journey test: its own emulator and its own runner on free
//! ports, from a given template, and stops both when dropped. The runner's output (function logs
//! and REPORT lines) is captured for assertions.

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

fn capture(child: &mut Child, sink: &Arc<Mutex<String>>) {
    if let Some(out) = child.stdout.take() {
        let sink = sink.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Ok(mut s) = sink.lock() {
                    s.push_str(&line);
                    s.push('\n');
                }
            }
        });
    }
    if let Some(err) = child.stderr.take() {
        let sink = sink.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if let Ok(mut s) = sink.lock() {
                    s.push_str(&line);
                    s.push('\n');
                }
            }
        });
    }
}

/// A running emulator + runner pair.
pub struct LocalSystem {
    pub base_url: String,
    pub emulator_url: String,
    runner: Child,
    emulator: Child,
    output: Arc<Mutex<String>>,
}

/// The emulator alone (for tests that only need the runner to fail before using it).
pub fn spawn_emulator(port: u16) -> Child {
    let moto = root().join(".venv/bin/moto_server");
    assert!(
        moto.exists(),
        "{} missing: run scripts/bootstrap",
        moto.display()
    );
    Command::new(moto)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the emulator")
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
        let emulator = spawn_emulator(emulator_port);
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while http
            .get(format!("{emulator_url}/moto-api/data.json"))
            .send()
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "the emulator did not start");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let port = free_port();
        let mut command = runner_command(template, &emulator_url, port, bin_dir);
        command.args(extra_args);
        let mut runner = command.spawn().expect("start the runner");
        let output = Arc::new(Mutex::new(String::new()));
        capture(&mut runner, &output);
        let system = LocalSystem {
            base_url: format!("http://127.0.0.1:{port}"),
            emulator_url,
            runner,
            emulator,
            output,
        };
        system.wait_healthy(&http).await;
        system
    }

    async fn wait_healthy(&self, http: &reqwest::Client) {
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
            assert!(
                Instant::now() < deadline,
                "the local system did not become healthy; output:\n{}",
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Everything the runner printed so far.
    pub fn output(&self) -> String {
        self.output.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The seeded staff account's authenticator secret, as the runner's banner gives it.
    ///
    /// # Panics
    /// When the banner has no such line.
    pub fn staff_secret(&self) -> String {
        let output = self.output();
        output
            .lines()
            .find_map(|line| {
                line.split("staff authenticator secret: ")
                    .nth(1)
                    .and_then(|rest| rest.split_whitespace().next())
                    .map(str::to_string)
            })
            .unwrap_or_else(|| panic!("no staff authenticator secret in the output:\n{output}"))
    }
}

impl Drop for LocalSystem {
    fn drop(&mut self) {
        let _ = self.runner.kill();
        let _ = self.runner.wait();
        let _ = self.emulator.kill();
        let _ = self.emulator.wait();
    }
}
