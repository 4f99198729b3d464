//! Through the local gateway, on the release functions the runner started: a 500-item hospital
//! batch (time to 202 and until every item is applied), the warm path (sequential
//! `GET /v1/exams/{id}`, end to end and the handler's own time from its `request finished`
//! lines) and 1,000 concurrent connections on `GET /v1/slots` and `GET /v1/exams`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};

use crate::BenchError;
use crate::load::{LoadResult, LoadSpec, run_load};
use crate::stats::Summary;

#[derive(clap::Args)]
pub struct Args {
    /// The runner's gateway.
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    pub base: String,
    #[arg(long)]
    pub staff_email: String,
    #[arg(long)]
    pub staff_password: String,
    /// The runner's output (the staff authenticator secret, the functions' log lines).
    #[arg(long)]
    pub runner_log: PathBuf,
    #[arg(long, default_value_t = 500)]
    pub batch_items: usize,
    #[arg(long, default_value_t = 2_000)]
    pub warm_requests: u64,
    #[arg(long, default_value_t = 1_000)]
    pub connections: usize,
    /// Seconds of each concurrent run.
    #[arg(long, default_value_t = 30)]
    pub seconds: u64,
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Serialize)]
pub struct Ingest {
    pub items: usize,
    pub accepted_ms: f64,
    pub applied_ms: f64,
    pub states: std::collections::BTreeMap<String, usize>,
}

#[derive(Debug, Serialize)]
pub struct WarmPath {
    pub end_to_end: LoadResult,
    /// From the function's own log lines for these requests.
    pub handler_lines: usize,
    pub handler_ms: Summary,
    pub handler_outside_aws_ms: Summary,
    pub aws_ms: Summary,
}

/// One concurrent run, named by its route.
#[derive(Debug, Serialize)]
pub struct Concurrent {
    pub label: String,
    #[serde(flatten)]
    pub result: LoadResult,
}

#[derive(Debug, Serialize)]
pub struct Figures {
    pub ingest: Ingest,
    pub warm: WarmPath,
    pub concurrent: Vec<Concurrent>,
    /// A `REPORT` line of `exam-results-api`'s first invocation (with its init), as printed.
    pub report_line: Option<String>,
}

/// Runs every API measurement and writes the figures.
///
/// # Errors
/// A setup step (sign-in, registration, batch) failed.
pub fn run(args: &Args) -> Result<(), BenchError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let figures = runtime.block_on(measure(args))?;
    crate::write_json(&args.out, &figures)
}

async fn measure(args: &Args) -> Result<Figures, BenchError> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(BenchError::other)?;
    let secret = staff_secret(&args.runner_log).await?;
    let staff = clinic_local::seed::sign_in(
        &http,
        &args.base,
        &args.staff_email,
        &args.staff_password,
        Some(&secret),
    )
    .await
    .map_err(BenchError::Other)?
    .access_token;
    let (hospital_id, hospital) = register_hospital(&http, &args.base, &staff).await?;
    let ingest = ingest(&http, &args.base, &hospital, args.batch_items).await?;
    eprintln!(
        "ingest: {} items, 202 after {:.0} ms, all applied after {:.0} ms {:?}",
        ingest.items, ingest.accepted_ms, ingest.applied_ms, ingest.states
    );

    let exams = get_json(&http, &format!("{}/v1/exams?limit=5", args.base), &staff).await?;
    let exam_id = exams["items"][0]["id"]
        .as_str()
        .ok_or_else(|| BenchError::Other(format!("no exam to read: {exams}")))?
        .to_string();
    let bearer = vec![("authorization".to_string(), format!("Bearer {staff}"))];
    let path = format!("/v1/exams/{exam_id}");
    let end_to_end = run_load(&LoadSpec {
        url: format!("{}{path}", args.base),
        connections: 1,
        duration: Duration::from_secs(600),
        headers: bearer.clone(),
        timeout: Duration::from_secs(30),
        max_requests: Some(args.warm_requests),
    })
    .await?;
    // The function's lines reach the runner's output a moment after the answers.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let warm = warm_path(end_to_end, &args.runner_log, &path, args.warm_requests)?;
    eprintln!(
        "warm path: {} requests, end to end p50 {:.2} ms p99 {:.2} ms; handler outside AWS p50 {:.3} ms p99 {:.3} ms ({} lines)",
        warm.end_to_end.requests,
        warm.end_to_end.latency_ms.p50,
        warm.end_to_end.latency_ms.p99,
        warm.handler_outside_aws_ms.p50,
        warm.handler_outside_aws_ms.p99,
        warm.handler_lines
    );

    let mut concurrent = Vec::new();
    // The slots route answers one hospital's or one exam type's slots.
    let slots = format!("/v1/slots?hospitalId={hospital_id}");
    for route in [slots.as_str(), "/v1/exams"] {
        let result = run_load(&LoadSpec {
            url: format!("{}{route}", args.base),
            connections: args.connections,
            duration: Duration::from_secs(args.seconds),
            headers: bearer.clone(),
            timeout: Duration::from_secs(30),
            max_requests: None,
        })
        .await?;
        eprintln!(
            "concurrent: GET {route}: {} connections, {} requests, {:.0} req/s, p50 {:.0} ms p99 {:.0} ms, statuses {:?}, errors {}",
            result.connections,
            result.requests,
            result.rps,
            result.latency_ms.p50,
            result.latency_ms.p99,
            result.status,
            result.errors
        );
        concurrent.push(Concurrent {
            label: format!("GET {route}"),
            result,
        });
        // Let the queues drain before the next run.
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    Ok(Figures {
        ingest,
        warm,
        concurrent,
        report_line: median_cold_start_report_line(&args.runner_log),
    })
}

/// The staff authenticator secret from the runner's banner (the last one printed).
async fn staff_secret(log: &std::path::Path) -> Result<String, BenchError> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        match clinic_local::app::staff_secret_in(&text) {
            Some(secret) => return Ok(secret),
            None if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            None => {
                return Err(BenchError::Other(format!(
                    "no staff authenticator secret in {}",
                    log.display()
                )));
            }
        }
    }
}

async fn get_json(http: &reqwest::Client, url: &str, token: &str) -> Result<Value, BenchError> {
    let response = http
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .map_err(BenchError::other)?;
    response.json().await.map_err(BenchError::other)
}

/// A hospital known to the exam catalogue: its id and a token of its client credentials.
async fn register_hospital(
    http: &reqwest::Client,
    base: &str,
    staff: &str,
) -> Result<(String, String), BenchError> {
    let run = ulid::Ulid::new().to_string();
    let cnes = format!("{:07}", ulid::Ulid::new().random() % 10_000_000);
    let response = http
        .post(format!("{base}/v1/hospitals"))
        .bearer_auth(staff)
        .json(&json!({"name": format!("Hospital Bench {run}"), "cnes": cnes}))
        .send()
        .await
        .map_err(BenchError::other)?;
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if status != 201 {
        return Err(BenchError::Other(format!(
            "registering the hospital answered {status}: {body}"
        )));
    }
    let id = body["id"].as_str().unwrap_or_default().to_string();
    let client_id = body["clientId"].as_str().unwrap_or_default().to_string();
    let client_secret = body["clientSecret"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let list = get_json(http, &format!("{base}/v1/hospitals?limit=100"), staff).await?;
        let known = list["items"]
            .as_array()
            .is_some_and(|items| items.iter().any(|h| h["id"] == id.as_str()));
        if known {
            break;
        }
        if Instant::now() > deadline {
            return Err(BenchError::Other(
                "the hospital did not reach the exam catalogue within 60 s".into(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let token: Value = http
        .post(format!("{base}/oauth2/token"))
        .basic_auth(&client_id, Some(&client_secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "clinic/ingest"),
        ])
        .send()
        .await
        .map_err(BenchError::other)?
        .json()
        .await
        .map_err(BenchError::other)?;
    token["access_token"]
        .as_str()
        .map(|token| (id, token.to_string()))
        .ok_or_else(|| BenchError::Other(format!("no hospital token: {token}")))
}

/// Pushes one batch and follows it until every item is applied (or refused).
async fn ingest(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    count: usize,
) -> Result<Ingest, BenchError> {
    let run = ulid::Ulid::new().to_string();
    let items: Vec<Value> = (0..count)
        .map(|i| {
            json!({
                "externalId": format!("BENCH-{run}-{i:04}"),
                "version": 1,
                "patientCpf": clinic_local::seed::synthetic_cpf(i as u64 + 1),
                "examType": "Hemograma",
                "status": "SCHEDULED",
                "scheduledAt": "2030-01-10T09:00:00Z",
            })
        })
        .collect();
    let started = Instant::now();
    let response = http
        .post(format!("{base}/v1/integrations/exams:batch"))
        .bearer_auth(token)
        .header("idempotency-key", ulid::Ulid::new().to_string())
        .json(&json!({"items": items}))
        .send()
        .await
        .map_err(BenchError::other)?;
    let accepted = started.elapsed();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let Some(batch_id) = body["batchId"].as_str().filter(|_| status == 202) else {
        return Err(BenchError::Other(format!(
            "the batch was answered {status}: {body}"
        )));
    };
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let batch = get_json(
            http,
            &format!("{base}/v1/integrations/batches/{batch_id}"),
            token,
        )
        .await?;
        if batch["status"] == "COMPLETED" {
            let applied = started.elapsed();
            let mut states = std::collections::BTreeMap::new();
            for item in batch["items"].as_array().into_iter().flatten() {
                let state = item["state"].as_str().unwrap_or("?").to_string();
                *states.entry(state).or_insert(0) += 1;
            }
            return Ok(Ingest {
                items: count,
                accepted_ms: ms(accepted),
                applied_ms: ms(applied),
                states,
            });
        }
        if Instant::now() > deadline {
            return Err(BenchError::Other(format!(
                "batch {batch_id} not applied within 300 s"
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The handler's figures for the last `count` requests to `path`, from the runner's output.
fn warm_path(
    end_to_end: LoadResult,
    log: &std::path::Path,
    path: &str,
    count: u64,
) -> Result<WarmPath, BenchError> {
    let text = std::fs::read_to_string(log)?;
    let mut total = Vec::new();
    let mut aws = Vec::new();
    for line in text.lines() {
        let Some(start) = line.find('{') else {
            continue;
        };
        let Ok(entry) = serde_json::from_str::<Value>(&line[start..]) else {
            continue;
        };
        if entry["message"] != "request finished" || entry["span"]["route"] != path {
            continue;
        }
        let (Some(duration), Some(in_aws)) =
            (entry["duration_us"].as_f64(), entry["aws_us"].as_f64())
        else {
            continue;
        };
        total.push(duration / 1000.0);
        aws.push(in_aws / 1000.0);
    }
    let keep = usize::try_from(count)
        .unwrap_or(usize::MAX)
        .min(total.len());
    let total = &total[total.len() - keep..];
    let aws = &aws[aws.len() - keep..];
    let outside: Vec<f64> = total
        .iter()
        .zip(aws)
        .map(|(t, a)| (t - a).max(0.0))
        .collect();
    Ok(WarmPath {
        end_to_end,
        handler_lines: keep,
        handler_ms: Summary::of(total),
        handler_outside_aws_ms: Summary::of(&outside),
        aws_ms: Summary::of(aws),
    })
}

/// The `REPORT` line of an `exam-results-api` cold start with the median init duration (the
/// runner starts every function's instances at once, so the first ones wait for the CPU).
fn median_cold_start_report_line(log: &std::path::Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    let mut lines: Vec<(f64, &str)> = text
        .lines()
        .filter(|l| l.contains("[ExamResultsApiFunction] REPORT"))
        .filter_map(|l| {
            let init = l.split("Init Duration: ").nth(1)?.split(' ').next()?;
            Some((init.parse().ok()?, l))
        })
        .collect();
    lines.sort_by(|a, b| a.0.total_cmp(&b.0));
    lines.get(lines.len() / 2).map(|(_, l)| (*l).to_string())
}
