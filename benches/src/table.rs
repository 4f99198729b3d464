//! Joins the measurements of one run into one table (Markdown, printed and kept beside the
//! JSON) with the ratios against the peers and each target of the README's "Performance"
//! section marked met or missed.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde_json::{Value, json};

use crate::BenchError;

#[derive(clap::Args)]
pub struct Args {
    /// Folder of the parts (`cold-start.json`, `api.json`, `reports.json`, `artifacts.json`).
    #[arg(long)]
    pub parts: PathBuf,
    /// The commit measured.
    #[arg(long)]
    pub commit: String,
    /// `latest.json`; `latest.md` is written beside it.
    #[arg(long)]
    pub out: PathBuf,
}

/// A target and whether the run met it.
struct Target {
    what: String,
    measured: String,
    met: bool,
}

/// Writes `latest.json` and `latest.md` and prints the table.
///
/// # Errors
/// The output cannot be written (missing parts are shown as missing).
pub fn run(args: &Args) -> Result<(), BenchError> {
    let part = |name: &str| {
        std::fs::read_to_string(args.parts.join(name))
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .unwrap_or(Value::Null)
    };
    let cold = part("cold-start.json");
    let api = part("api.json");
    let reports = part("reports.json");
    let artifacts = part("artifacts.json");
    let machine = machine();
    let mut md = String::new();
    let _ = writeln!(
        md,
        "Measured on commit `{}`, {} — {}; release binaries, peers in the same run.\n",
        args.commit,
        jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M UTC"),
        machine
    );
    let mut targets = Vec::new();
    cold_table(&mut md, &cold, &artifacts, &mut targets);
    warm_table(&mut md, &cold, &api, &mut targets);
    load_table(&mut md, &api, &mut targets);
    reports_table(&mut md, &reports, &mut targets);
    ingest_table(&mut md, &api);
    let _ = writeln!(md, "### Targets\n\n| target | measured | |\n|---|---|---|");
    for t in &targets {
        let mark = if t.met { "met" } else { "**missed**" };
        let _ = writeln!(md, "| {} | {} | {mark} |", t.what, t.measured);
    }
    if let Some(line) = api["report_line"].as_str() {
        let _ = writeln!(md, "\nA `REPORT` line of the run:\n\n```\n{line}\n```");
    }
    print!("{md}");
    let latest = json!({
        "commit": args.commit,
        "measured_at": jiff::Timestamp::now().to_string(),
        "machine": machine,
        "targets": targets.iter().map(|t| json!({"target": t.what, "measured": t.measured, "met": t.met})).collect::<Vec<_>>(),
        "cold_start": cold,
        "api": api,
        "reports": reports,
        "artifacts": artifacts,
    });
    crate::write_json(&args.out, &latest)?;
    std::fs::write(args.out.with_extension("md"), md)?;
    Ok(())
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cpu}, {cores} cores")
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

fn ratio(peer: f64, ours: f64) -> String {
    if ours > 0.0 && peer.is_finite() {
        format!("{:.1}×", peer / ours)
    } else {
        "–".into()
    }
}

fn cold_table(md: &mut String, cold: &Value, artifacts: &Value, targets: &mut Vec<Target>) {
    let functions = cold["functions"].as_array().cloned().unwrap_or_default();
    let peers = cold["peers"].as_array().cloned().unwrap_or_default();
    let Some(ours) = functions.iter().find(|f| f["name"] == "exam-results-api") else {
        let _ = writeln!(md, "(no cold-start figures)\n");
        return;
    };
    let _ = writeln!(
        md,
        "### Cold start: `GET /v1/exams/{{id}}` (one GetItem), {} fresh processes each\n\n\
         | runtime | init median | first invoke median | peak RSS median | init: Clinic faster by | first invoke: Clinic faster by |\n\
         |---|---|---|---|---|---|",
        ours["runs"]
    );
    let (init, first) = (
        f(&ours["init_ms"]["p50"]),
        f(&ours["first_invoke_ms"]["p50"]),
    );
    for row in std::iter::once(ours).chain(peers.iter()) {
        let name = if row["runtime"] == "Rust" {
            "Clinic `exam-results-api` (Rust, release)".to_string()
        } else {
            row["name"].as_str().unwrap_or("?").to_string()
        };
        let _ = writeln!(
            md,
            "| {name} | {:.2} ms | {:.2} ms | {:.1} MiB | {} | {} |",
            f(&row["init_ms"]["p50"]),
            f(&row["first_invoke_ms"]["p50"]),
            f(&row["peak_rss_mib"]["p50"]),
            ratio(f(&row["init_ms"]["p50"]), init),
            ratio(f(&row["first_invoke_ms"]["p50"]), first),
        );
    }
    for (runtime, at_least) in [("Python", 35.0), ("Node", 25.0)] {
        if let Some(peer) = peers.iter().find(|p| p["runtime"] == runtime) {
            let times = f(&peer["init_ms"]["p50"]) / init;
            targets.push(Target {
                what: format!("init ≥ {at_least}× faster than {runtime}"),
                measured: format!("{times:.1}×"),
                met: times >= at_least,
            });
            targets.push(Target {
                what: format!("first invocation faster than {runtime}"),
                measured: format!("{first:.2} vs {:.2} ms", f(&peer["first_invoke_ms"]["p50"])),
                met: first < f(&peer["first_invoke_ms"]["p50"]),
            });
        }
    }
    let _ = writeln!(
        md,
        "\n### Every function binary ({} fresh processes each; size stripped / zipped)\n\n\
         | binary | init median | init p90 | first invoke median | peak RSS median | binary | zipped | first answer |\n\
         |---|---|---|---|---|---|---|---|",
        ours["runs"]
    );
    let sizes = artifacts.as_array().cloned().unwrap_or_default();
    let mut worst_api_init: f64 = 0.0;
    let mut worst_rss: f64 = 0.0;
    let mut worst_zip: (f64, String) = (0.0, String::new());
    for row in &functions {
        let name = row["name"].as_str().unwrap_or("?");
        let size = sizes.iter().find(|a| a["binary"] == name);
        let mib = |v: Option<&Value>| v.map_or(f64::NAN, |v| f(v) / 1_048_576.0);
        let zipped = mib(size.map(|s| &s["zipped_bytes"]));
        let _ = writeln!(
            md,
            "| {name} | {:.2} ms | {:.2} ms | {:.2} ms | {:.1} MiB | {:.1} MiB | {:.1} MiB | {} |",
            f(&row["init_ms"]["p50"]),
            f(&row["init_ms"]["p90"]),
            f(&row["first_invoke_ms"]["p50"]),
            f(&row["peak_rss_mib"]["p50"]),
            mib(size.map(|s| &s["binary_bytes"])),
            zipped,
            row["outcomes"]
                .as_object()
                .map(|o| o
                    .iter()
                    .map(|(k, v)| format!("{k} ×{v}"))
                    .collect::<Vec<_>>()
                    .join(", "))
                .unwrap_or_default()
        );
        if row["api"] == true {
            worst_api_init = worst_api_init.max(f(&row["init_ms"]["p50"]));
        }
        worst_rss = worst_rss.max(f(&row["peak_rss_mib"]["p50"]));
        if name != "file-management-report-worker" && zipped > worst_zip.0 {
            worst_zip = (zipped, name.to_string());
        }
    }
    targets.push(Target {
        what: "init median ≤ 5 ms, every API function".into(),
        measured: format!("slowest {worst_api_init:.2} ms"),
        met: worst_api_init <= 5.0,
    });
    targets.push(Target {
        what: "peak RSS ≤ 8 MB (MiB here), every function".into(),
        measured: format!("largest {worst_rss:.1} MiB"),
        met: worst_rss <= 8.0,
    });
    targets.push(Target {
        what: "zipped ≤ 4 MB, every function but the report worker".into(),
        measured: format!("largest {:.2} MiB ({})", worst_zip.0, worst_zip.1),
        met: worst_zip.0 <= 4.0,
    });
    md.push('\n');
}

fn warm_table(md: &mut String, cold: &Value, api: &Value, targets: &mut Vec<Target>) {
    let _ = writeln!(
        md,
        "### Warm path: sequential `GET /v1/exams/{{id}}`\n\n| | requests | p50 | p99 |\n|---|---|---|---|"
    );
    for row in cold["warm"].as_array().into_iter().flatten() {
        let _ = writeln!(
            md,
            "| {} (invocation, through the harness) | {} | {:.2} ms | {:.2} ms |",
            row["name"].as_str().unwrap_or("?"),
            row["invocations"],
            f(&row["invoke_ms"]["p50"]),
            f(&row["invoke_ms"]["p99"]),
        );
    }
    let warm = &api["warm"];
    if warm.is_object() {
        let e2e = &warm["end_to_end"];
        let _ = writeln!(
            md,
            "| Clinic end to end (client → gateway → function → emulator) | {} | {:.2} ms | {:.2} ms |",
            e2e["requests"],
            f(&e2e["latency_ms"]["p50"]),
            f(&e2e["latency_ms"]["p99"])
        );
        for (label, key) in [
            ("Clinic handler (request span)", "handler_ms"),
            ("Clinic handler waiting on AWS", "aws_ms"),
            ("Clinic handler outside AWS calls", "handler_outside_aws_ms"),
        ] {
            let _ = writeln!(
                md,
                "| {label} | {} | {:.3} ms | {:.3} ms |",
                warm[key]["n"],
                f(&warm[key]["p50"]),
                f(&warm[key]["p99"])
            );
        }
        let p99 = f(&warm["handler_outside_aws_ms"]["p99"]);
        targets.push(Target {
            what: "warm path: handler outside AWS p99 < 1 ms".into(),
            measured: format!("{p99:.3} ms"),
            met: p99 < 1.0,
        });
    }
    md.push('\n');
}

fn load_table(md: &mut String, api: &Value, targets: &mut Vec<Target>) {
    let runs = api["concurrent"].as_array().cloned().unwrap_or_default();
    if runs.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "### Concurrent connections through the local gateway\n\n\
         | route | connections | seconds | requests | req/s | statuses | transport errors | p50 | p99 | max |\n\
         |---|---|---|---|---|---|---|---|---|---|"
    );
    for run in &runs {
        let transport: u64 = run["transport_errors"]
            .as_object()
            .map(|o| o.values().filter_map(Value::as_u64).sum())
            .unwrap_or(0);
        // Non-2xx answers and transport errors together.
        let errors = run["errors"].as_u64().unwrap_or(u64::MAX);
        let _ = writeln!(
            md,
            "| {} | {} | {:.0} | {} | {:.0} | {} | {transport} | {:.0} ms | {:.0} ms | {:.0} ms |",
            run["label"].as_str().unwrap_or("?"),
            run["connections"],
            f(&run["seconds"]),
            run["requests"],
            f(&run["rps"]),
            run["status"],
            f(&run["latency_ms"]["p50"]),
            f(&run["latency_ms"]["p99"]),
            f(&run["latency_ms"]["max"]),
        );
        let p99 = f(&run["latency_ms"]["p99"]);
        targets.push(Target {
            what: format!(
                "{} at {} connections: 0 errors, p99 < 2 s",
                run["label"].as_str().unwrap_or("?"),
                run["connections"]
            ),
            measured: format!("{errors} errors, p99 {p99:.0} ms"),
            met: errors == 0 && p99 < 2000.0,
        });
    }
    md.push('\n');
}

fn reports_table(md: &mut String, reports: &Value, targets: &mut Vec<Target>) {
    let rows = reports.as_array().cloned().unwrap_or_default();
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "### Reports (same columns, same synthetic rows)\n\n\
         | writer | format | rows | time | peak RSS | file | Clinic faster by |\n|---|---|---|---|---|---|---|"
    );
    let clinic = |format: &str| {
        rows.iter()
            .find(|r| {
                r["name"].as_str().is_some_and(|n| n.starts_with("Clinic")) && r["format"] == format
            })
            .map(|r| f(&r["seconds"]) / f(&r["rows"]))
    };
    for row in &rows {
        let per_row = f(&row["seconds"]) / f(&row["rows"]);
        let faster = match (
            row["name"].as_str(),
            clinic(row["format"].as_str().unwrap_or("")),
        ) {
            (Some(n), Some(ours)) if !n.starts_with("Clinic") => ratio(per_row, ours),
            _ => "–".into(),
        };
        match row["error"].as_str() {
            Some(error) => {
                let _ = writeln!(
                    md,
                    "| {} | {} | | failed: {error} | | | |",
                    row["name"], row["format"]
                );
            }
            None => {
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {:.2} s | {:.1} MiB | {:.2} MiB | {faster} |",
                    row["name"].as_str().unwrap_or("?"),
                    row["format"].as_str().unwrap_or("?"),
                    row["rows"],
                    f(&row["seconds"]),
                    f(&row["peak_rss_kib"]) / 1024.0,
                    f(&row["bytes"]) / 1_048_576.0,
                );
            }
        }
    }
    let find = |name: &str| {
        rows.iter()
            .find(|r| r["name"].as_str().is_some_and(|n| n.starts_with(name)))
    };
    if let (Some(ours), Some(xw), Some(op)) =
        (find("Clinic XLSX"), find("XlsxWriter"), find("openpyxl"))
    {
        for (peer, name, at_least) in [(xw, "XlsxWriter", 10.0), (op, "openpyxl", 20.0)] {
            let times =
                f(&peer["seconds"]) / f(&peer["rows"]) * f(&ours["rows"]) / f(&ours["seconds"]);
            targets.push(Target {
                what: format!("XLSX ≥ {at_least}× faster than {name}"),
                measured: format!("{times:.1}×"),
                met: times >= at_least,
            });
        }
    }
    if let Some(pdf) = find("Clinic PDF") {
        let (s, mib) = (f(&pdf["seconds"]), f(&pdf["peak_rss_kib"]) / 1024.0);
        targets.push(Target {
            what: format!("PDF of {} rows ≤ 5 s and ≤ 64 MB peak", pdf["rows"]),
            measured: format!("{s:.2} s, {mib:.1} MiB"),
            met: s <= 5.0 && mib <= 64.0,
        });
    }
    md.push('\n');
}

fn ingest_table(md: &mut String, api: &Value) {
    let ingest = &api["ingest"];
    if !ingest.is_object() {
        return;
    }
    let _ = writeln!(
        md,
        "### Ingest: one hospital batch\n\n| items | answered 202 after | every item applied after | states |\n|---|---|---|---|\n| {} | {:.0} ms | {:.0} ms | {} |\n",
        ingest["items"],
        f(&ingest["accepted_ms"]),
        f(&ingest["applied_ms"]),
        ingest["states"]
    );
}
