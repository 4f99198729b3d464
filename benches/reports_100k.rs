//! Renders a 100,000-row exams report in each format and prints wall time, peak resident memory
//! (VmHWM of a fresh process per measurement) and file size, with the XLSX library's default
//! in-memory mode measured in the same run as the peer of its constant-memory mode.
//!
//! `cargo bench -p clinic-file-management --bench reports_100k` (ROWS=… to change the count).
//! Rendering only: reading the rows from DynamoDB and the upload are left out.

use std::process::Command;
use std::time::Instant;

use clinic_file_management::domain::values::{ReportFilters, ReportFormat};
use clinic_file_management::report::{self, ReportMeta};

fn peak_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// One measurement in this process: prints `ms kib bytes`.
fn measure(mode: &str, rows: u64) {
    let dir = std::env::temp_dir().join(format!("clinic-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("work dir");
    let format = if mode == "pdf" {
        ReportFormat::Pdf
    } else {
        ReportFormat::Xlsx
    };
    let output = report::local_path(&dir, mode, format);
    let from = "2025-01-01T00:00:00Z".parse().expect("from");
    let to = "2025-02-01T00:00:00Z".parse().expect("to");
    let meta = ReportMeta {
        report_id: format!("bench-{mode}"),
        filters: ReportFilters::new(from, to, None, None).expect("filters"),
        generated_at: jiff::Timestamp::now(),
    };
    let started = Instant::now();
    let mut sink = if mode == "xlsx-in-memory" {
        report::in_memory_xlsx_writer(&output, &dir, meta)
    } else {
        report::writer(format, &output, &dir, meta)
    }
    .expect("writer");
    for row in report::synthetic_rows(rows) {
        sink.push(&row).expect("row");
    }
    let written = sink.finish().expect("finish");
    let elapsed = started.elapsed().as_millis();
    assert_eq!(written, rows);
    let bytes = std::fs::metadata(&output).map(|m| m.len()).unwrap_or(0);
    println!("{elapsed} {} {bytes}", peak_kib());
    let _ = std::fs::remove_dir_all(&dir);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rows: u64 = std::env::var("ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    if let Some(i) = args.iter().position(|a| a == "--child") {
        measure(args.get(i + 1).map(String::as_str).unwrap_or("pdf"), rows);
        return;
    }
    let exe = std::env::current_exe().expect("own path");
    println!("reports_100k: {rows} rows, one fresh process per measurement");
    println!(
        "{:<16} {:>10} {:>14} {:>12}",
        "mode", "time (s)", "peak RSS (MiB)", "file (MiB)"
    );
    let mut results = Vec::new();
    for mode in ["xlsx-constant", "xlsx-in-memory", "pdf"] {
        let out = Command::new(&exe)
            .args(["--child", mode])
            .env("ROWS", rows.to_string())
            .output()
            .expect("child runs");
        let text = String::from_utf8_lossy(&out.stdout);
        let figures: Vec<f64> = text
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        if figures.len() != 3 {
            println!("{mode}: failed: {}", String::from_utf8_lossy(&out.stderr));
            continue;
        }
        let (ms, kib, bytes) = (figures[0], figures[1], figures[2]);
        println!(
            "{mode:<16} {:>10.2} {:>14.1} {:>12.2}",
            ms / 1000.0,
            kib / 1024.0,
            bytes / 1_048_576.0
        );
        results.push((mode, ms, kib));
    }
    if let (Some(constant), Some(memory)) = (
        results.iter().find(|r| r.0 == "xlsx-constant"),
        results.iter().find(|r| r.0 == "xlsx-in-memory"),
    ) {
        println!(
            "xlsx constant-memory vs in-memory: peak RSS x{:.2}, time x{:.2}",
            constant.2 / memory.2,
            constant.1 / memory.1
        );
    }
}
