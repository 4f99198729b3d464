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

mod cli;
mod ctx;
mod doctors;
mod emulator_state;
mod hospitals;
mod metrics;
mod observed;
mod patients;
mod report;
mod restart;
mod staff;
mod system;

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use tokio::sync::mpsc;

use crate::cli::Args;
use crate::ctx::{Ctx, Expected, Rng};
use crate::doctors::{doctor_loop, register_doctor};
use crate::emulator_state::{commit_times, outbox_items, queues, sent_messages};
use crate::hospitals::{hospital_loop, register_hospitals};
use crate::metrics::Stats;
use crate::observed::now_ms;
use crate::patients::patient_loop;
use crate::restart::after_emulator_restart;
use crate::staff::{publish_slots, staff_loop};
use crate::system::{OwnSystem, free_port, wait_until};

pub(crate) const STAFF_EMAIL: &str = "staff@clinic.local";
pub(crate) const STAFF_PASSWORD: &str = "Clinic0Staff";
pub(crate) const PASSWORD: &str = "Passw0rdOk";
/// Places per slot: few, so that bookings race.
pub(crate) const CAPACITY: u32 = 3;
/// Relay latency (outbox write to publication) that must hold at p99.
pub(crate) const RELAY_P99_LIMIT_MS: f64 = 2000.0;

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

pub(crate) async fn sdk_config(emulator: &str) -> aws_config::SdkConfig {
    // Region and dummy credentials from the environment (scripts/env.sh).
    clinic_shared::aws::with_https_client(aws_config::defaults(
        aws_config::BehaviorVersion::latest(),
    ))
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

    // The table. Its locks are let go before anything is awaited again.
    let (mut out, mut ok) = report::table(&report::Findings {
        run_id: &run_id,
        args: &args,
        ctx: &ctx,
        own: own.as_ref(),
        workload,
        outbox: &outbox,
        committed: &committed,
        runner_down,
        queue_states: &queue_states,
        emails: &emails,
        sms: &sms,
        subjects: &subjects,
        rss_start,
        rss_end,
        rss_peak,
        cpu_used,
    });

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
