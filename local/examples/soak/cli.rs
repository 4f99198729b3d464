//! The command line.

use std::path::PathBuf;

use clap::Parser;

#[derive(Parser, Debug)]
#[command(about = "Drives a mixed workload through the local system and checks invariants")]
pub(crate) struct Args {
    /// How long the workload runs.
    #[arg(long, default_value_t = 10.0)]
    pub(crate) minutes: f64,
    /// Simulated patients at once.
    #[arg(long, default_value_t = 50)]
    pub(crate) users: usize,
    /// Hospitals registered and pushing batches.
    #[arg(long, default_value_t = 3)]
    pub(crate) hospitals: usize,
    /// Doctors completing exams.
    #[arg(long, default_value_t = 3)]
    pub(crate) doctors: usize,
    /// Attach to a running system (its gateway URL) instead of starting one.
    #[arg(long)]
    pub(crate) url: Option<String>,
    /// The emulator of the attached system.
    #[arg(long, default_value = "http://127.0.0.1:4566")]
    pub(crate) emulator_url: String,
    /// The staff authenticator secret the attached runner printed.
    #[arg(long, env = "CLINIC_STAFF_SECRET")]
    pub(crate) staff_secret: Option<String>,
    /// Restart the runner half-way through (own system only).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub(crate) restart_runner: bool,
    /// At the end, restart the emulator under the runner and check that events written after it
    /// provisioned again are relayed in time too (own system only).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub(crate) restart_emulator: bool,
    /// Where the runner's output is kept (own system only).
    #[arg(long)]
    pub(crate) log: Option<PathBuf>,
    /// Repository root (template, emulator launcher, .venv).
    #[arg(long, default_value = ".")]
    pub(crate) root: PathBuf,
    /// Directory of the function binaries and the runner.
    #[arg(long)]
    pub(crate) bin_dir: Option<PathBuf>,
    /// Fail when the relay's p99 is above the limit. Latency depends on the machine and on what
    /// else runs there: a shared CI machine reports it (`false`) and checks only what must hold
    /// whatever the speed — nothing lost, stuck or over capacity.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub(crate) latency_gate: bool,
}
