//! 100,000-row exams reports: Clinic's XLSX (constant-memory) and PDF writers beside the Python
//! peers writing the same columns from the same synthetic rows — XlsxWriter (`constant_memory`),
//! openpyxl (`write_only`) and reportlab. One fresh process per measurement; each reports the wall
//! time of rendering (rows generated, written, file closed; interpreter start left out) and its
//! own peak resident memory (VmHWM / `ru_maxrss`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use clinic_file_management::domain::values::{ReportFilters, ReportFormat};
use clinic_file_management::report::{self, ReportMeta};
use serde::{Deserialize, Serialize};

use crate::BenchError;
use crate::proc::peak_rss_kib;

#[derive(clap::Args)]
pub struct Args {
    /// Rows in each report.
    #[arg(long, default_value_t = 100_000)]
    pub rows: u64,
    /// Rows for reportlab, which does not finish 100,000 rows in minutes (its time is also shown
    /// scaled to `rows`, as a lower bound).
    #[arg(long, default_value_t = 10_000)]
    pub reportlab_rows: u64,
    /// The peers' Python interpreter (a venv with XlsxWriter, openpyxl, reportlab); none: Clinic only.
    #[arg(long)]
    pub python: Option<PathBuf>,
    /// Folder of the Python peers' scripts.
    #[arg(long, default_value = "benches/peers/python")]
    pub peers_dir: PathBuf,
    /// Where the JSON figures go.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(clap::Args)]
pub struct ChildArgs {
    #[arg(long)]
    pub mode: String,
    #[arg(long)]
    pub rows: u64,
    #[arg(long)]
    pub file: PathBuf,
}

/// One rendering, as every process prints it (one JSON line).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Rendering {
    pub rows: u64,
    pub seconds: f64,
    pub peak_rss_kib: u64,
    pub bytes: u64,
}

#[derive(Debug, Serialize)]
pub struct Measured {
    pub name: String,
    pub format: &'static str,
    #[serde(flatten)]
    pub rendering: Option<Rendering>,
    pub error: Option<String>,
}

/// Renders in this process (`report-child`) and prints the figures.
///
/// # Errors
/// An unknown mode or a failed rendering.
pub fn child(args: &ChildArgs) -> Result<(), BenchError> {
    let dir = args
        .file
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(std::env::temp_dir);
    let format = match args.mode.as_str() {
        "pdf" => ReportFormat::Pdf,
        "xlsx" => ReportFormat::Xlsx,
        other => return Err(BenchError::Usage(format!("unknown report mode {other}"))),
    };
    let from = "2025-01-01T00:00:00Z".parse().map_err(BenchError::other)?;
    let to = "2025-02-01T00:00:00Z".parse().map_err(BenchError::other)?;
    let meta = ReportMeta {
        report_id: "bench".to_string(),
        filters: ReportFilters::new(from, to, None, None).map_err(BenchError::other)?,
        generated_at: jiff::Timestamp::now(),
    };
    let started = Instant::now();
    let mut sink = report::writer(format, &args.file, &dir, meta).map_err(BenchError::other)?;
    for row in report::synthetic_rows(args.rows) {
        sink.push(&row).map_err(BenchError::other)?;
    }
    let written = sink.finish().map_err(BenchError::other)?;
    let seconds = started.elapsed().as_secs_f64();
    let rendering = Rendering {
        rows: written,
        seconds,
        peak_rss_kib: peak_rss_kib(std::process::id()).unwrap_or(0),
        bytes: std::fs::metadata(&args.file).map(|m| m.len()).unwrap_or(0),
    };
    println!(
        "{}",
        serde_json::to_string(&rendering).map_err(BenchError::other)?
    );
    Ok(())
}

/// Runs every measurement and writes them to `args.out`.
///
/// # Errors
/// The work directory or the output could not be written.
pub fn run(args: &Args) -> Result<(), BenchError> {
    let work = std::env::temp_dir().join(format!("clinic-bench-reports-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let exe = std::env::current_exe()?;
    let mut measured = Vec::new();
    for (name, mode, ext) in [
        ("Clinic XLSX", "xlsx", "xlsx"),
        ("Clinic PDF", "pdf", "pdf"),
    ] {
        let file = work.join(format!("clinic.{ext}"));
        let mut command = Command::new(&exe);
        command.args(["report-child", "--mode", mode, "--rows"]);
        command.arg(args.rows.to_string()).arg("--file").arg(&file);
        measured.push(measure(name, ext, command));
    }
    if let Some(python) = &args.python {
        for (name, script, ext, rows) in [
            (
                "XlsxWriter constant_memory",
                "report_xlsxwriter.py",
                "xlsx",
                args.rows,
            ),
            (
                "openpyxl write_only",
                "report_openpyxl.py",
                "xlsx",
                args.rows,
            ),
            (
                "reportlab",
                "report_reportlab.py",
                "pdf",
                args.reportlab_rows,
            ),
        ] {
            let file = work.join(format!("{script}.{ext}"));
            let mut command = Command::new(python);
            command
                .arg(args.peers_dir.join(script))
                .arg("--rows")
                .arg(rows.to_string())
                .arg("--out")
                .arg(&file);
            measured.push(measure(name, ext, command));
        }
    }
    let _ = std::fs::remove_dir_all(&work);
    for m in &measured {
        match (&m.rendering, &m.error) {
            (Some(r), _) => eprintln!(
                "reports: {:<28} {:>7} rows {:>7.2} s {:>8.1} MiB peak {:>7.2} MiB file",
                m.name,
                r.rows,
                r.seconds,
                r.peak_rss_kib as f64 / 1024.0,
                r.bytes as f64 / 1_048_576.0
            ),
            (None, Some(e)) => eprintln!("reports: {:<28} failed: {e}", m.name),
            (None, None) => {}
        }
    }
    crate::write_json(&args.out, &measured)
}

fn measure(name: &str, format: &'static str, mut command: Command) -> Measured {
    let outcome = command.output().map_err(|e| e.to_string()).and_then(|out| {
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines()
            .rev()
            .find_map(|line| serde_json::from_str::<Rendering>(line).ok())
            .ok_or_else(|| {
                format!(
                    "exit {:?}: {}",
                    out.status.code(),
                    String::from_utf8_lossy(&out.stderr)
                        .lines()
                        .last()
                        .unwrap_or("")
                )
            })
    });
    match outcome {
        Ok(rendering) => Measured {
            name: name.to_string(),
            format,
            rendering: Some(rendering),
            error: None,
        },
        Err(error) => Measured {
            name: name.to_string(),
            format,
            rendering: None,
            error: Some(error),
        },
    }
}
