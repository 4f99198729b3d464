//! `clinic-bench`: the measurements behind `scripts/bench`. Each subcommand measures one thing
//! and writes its figures as JSON; `table` joins them into the printed table and
//! `bench-results/latest.json`. The script builds the release binaries, installs the Python and
//! Node peers, starts the emulator and the runner, and calls these in order.

mod api;
mod artifacts;
mod cold_start;
mod load;
mod proc;
mod reports;
mod runtime_api;
mod stats;
mod table;

use std::path::Path;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Clinic's benchmarks (run them through scripts/bench)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Cold starts of every function binary and of the peers, then a warm run of each runtime.
    ColdStart(cold_start::Args),
    /// Through the local gateway: a hospital batch, the warm path, concurrent connections.
    Api(api::Args),
    /// Sizes of the deployable artifacts.
    Artifacts(artifacts::Args),
    /// Joins a run's parts into the table and `latest.json`.
    Table(table::Args),
    /// 100,000-row reports: XLSX and PDF beside the Python peers, one fresh process each.
    Reports(reports::Args),
    /// Closed-loop HTTP/1.1 load, as `wrk -cN -dT`: throughput, statuses, errors, latency.
    Load(load::Args),
    /// A trivial HTTP server to check the load generator's own ceiling against.
    #[command(hide = true)]
    LoadTarget(load::TargetArgs),
    /// One rendering in this process (what `reports` runs per measurement).
    #[command(hide = true)]
    ReportChild(reports::ChildArgs),
}

/// Why a measurement could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Other(String),
}

impl BenchError {
    fn other(err: impl std::fmt::Display) -> Self {
        BenchError::Other(err.to_string())
    }
}

/// Writes `value` as pretty JSON to `path` (its folder created).
fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<(), BenchError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let text = serde_json::to_string_pretty(value).map_err(BenchError::other)?;
    std::fs::write(path, text + "\n")?;
    Ok(())
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::ColdStart(args) => cold_start::run(&args),
        Command::Api(args) => api::run(&args),
        Command::Artifacts(args) => artifacts::run(&args),
        Command::Table(args) => table::run(&args),
        Command::Reports(args) => reports::run(&args),
        Command::ReportChild(args) => reports::child(&args),
        Command::Load(args) => load::run(&args),
        Command::LoadTarget(args) => load::serve_target(&args),
    };
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("clinic-bench: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
