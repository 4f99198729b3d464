//! The system under test when the soak starts its own: the emulator and the runner as child
//! processes on free ports, the runner's output kept in a file and parsed.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::cli::Args;
use crate::observed::Observed;

pub(crate) struct OwnSystem {
    pub(crate) emulator: tokio::process::Child,
    pub(crate) runner: Option<tokio::process::Child>,
    pub(crate) runner_args: Vec<String>,
    pub(crate) runner_bin: PathBuf,
    pub(crate) log_file: PathBuf,
    pub(crate) observed: Arc<Mutex<Observed>>,
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl OwnSystem {
    pub(crate) async fn start(
        args: &Args,
        emulator_port: u16,
        port: u16,
    ) -> Result<OwnSystem, String> {
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

    pub(crate) async fn spawn_runner(&mut self) -> Result<(), String> {
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

    pub(crate) async fn stop_runner(&mut self) {
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
    pub(crate) async fn restart_emulator(&mut self, root: &Path) -> Result<(), String> {
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
    pub(crate) fn emulator_cpu_seconds(&self) -> Option<f64> {
        let pid = self.emulator.id()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the command name (which ends with the last ')'): utime and stime are the
        // 12th and 13th, in clock ticks (100 a second on Linux).
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let ticks: f64 =
            fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
        Some(ticks / 100.0)
    }

    pub(crate) fn emulator_rss_mb(&self) -> Option<f64> {
        let pid = self.emulator.id()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
    }
}

pub(crate) async fn wait_until<F, Fut>(limit: Duration, mut check: F) -> Result<(), ()>
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
