//! A small Lambda function for the runtime's tests, built on `lambda_runtime` like the real ones.
//!
//! It acts on `{"action": ...}` payloads:
//! - `echo` (also the default) — answers with the payload, the invocation context, its pid and
//!   its whole environment;
//! - `sleep` with `ms` — waits, then answers (prints `sleeping <ms>` first);
//! - `fail` — returns an error (`FixtureError: fixture failed on purpose`), reported to `/error`;
//! - `exit` — ends the process in the middle of the invocation (exit status 3);
//! - `alloc` with `mb` — touches that many MiB of memory before answering;
//! - `log` — writes one stdout line in several pieces with pauses between, and a stderr line.
//!
//! An SQS batch (`{"Records": [...]}` from `aws:sqs`) is answered with a partial batch response:
//! every record whose body contains `fail` is listed in `batchItemFailures`; each record prints
//! `sqs <outcome> <messageId> <body>` so tests can count deliveries.
//!
//! With `FIXTURE_INIT_FAIL=1` it reports an init error to `/init/error` and exits before asking
//! for an event; with `FIXTURE_INIT_FAIL=exit` it just fails `main`, as most functions do.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::{Value, json};

/// The fixture's handler error.
#[derive(Debug)]
struct FixtureError(String);

impl From<FixtureError> for Diagnostic {
    fn from(error: FixtureError) -> Self {
        Diagnostic {
            error_type: "FixtureError".to_owned(),
            error_message: error.0,
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    match std::env::var("FIXTURE_INIT_FAIL").as_deref() {
        Ok("1") => {
            report_init_error().await?;
            eprintln!("fixture: init failed and was reported");
            std::process::exit(1);
        }
        Ok("exit") => return Err("fixture init failed: FIXTURE_INIT_FAIL=exit".into()),
        _ => {}
    }
    println!("fixture ready (pid {})", std::process::id());
    lambda_runtime::run(service_fn(handle)).await
}

/// Posts an init error the way a runtime reports one.
async fn report_init_error() -> Result<(), lambda_runtime::Error> {
    let api = std::env::var("AWS_LAMBDA_RUNTIME_API")?;
    let response = reqwest::Client::new()
        .post(format!("http://{api}/2018-06-01/runtime/init/error"))
        .header("Lambda-Runtime-Function-Error-Type", "FixtureInitError")
        .json(&json!({
            "errorMessage": "fixture init failed: FIXTURE_INIT_FAIL=1",
            "errorType": "FixtureInitError",
            "stackTrace": ["main", "report_init_error"],
        }))
        .send()
        .await?;
    eprintln!("fixture: init/error answered {}", response.status());
    Ok(())
}

async fn handle(event: LambdaEvent<Value>) -> Result<Value, FixtureError> {
    let (payload, context) = event.into_parts();
    let pid = std::process::id();
    if let Some(records) = payload.get("Records").and_then(Value::as_array)
        && records
            .iter()
            .all(|r| r.get("eventSource").and_then(Value::as_str) == Some("aws:sqs"))
    {
        return Ok(sqs_batch(records));
    }
    match payload
        .get("action")
        .and_then(Value::as_str)
        .unwrap_or("echo")
    {
        "echo" => {
            let env: BTreeMap<String, String> = std::env::vars().collect();
            Ok(json!({
                "payload": payload,
                "pid": pid,
                "request_id": context.request_id,
                "deadline_ms": context.deadline,
                "function_arn": context.invoked_function_arn,
                "trace_id": context.xray_trace_id,
                "function_name": context.env_config.function_name,
                "memory": context.env_config.memory,
                "version": context.env_config.version,
                "log_group": context.env_config.log_group,
                "log_stream": context.env_config.log_stream,
                "env": env,
            }))
        }
        "sleep" => {
            let ms = payload.get("ms").and_then(Value::as_u64).unwrap_or(100);
            println!("sleeping {ms}");
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok(json!({ "slept_ms": ms, "pid": pid }))
        }
        "fail" => Err(FixtureError("fixture failed on purpose".to_owned())),
        "exit" => {
            eprintln!("fixture: exiting in the middle of {}", context.request_id);
            std::process::exit(3);
        }
        "alloc" => {
            let mb = payload.get("mb").and_then(Value::as_u64).unwrap_or(1);
            let bytes = usize::try_from(mb)
                .map_err(|_| FixtureError(format!("{mb} MiB is too much")))?
                << 20;
            // Non-zero bytes, so every page is really touched and resident.
            let block = vec![0xa5_u8; bytes];
            std::hint::black_box(&block);
            Ok(json!({ "allocated_mb": mb, "pid": pid }))
        }
        "log" => {
            let mut out = std::io::stdout();
            for piece in ["{\"message\":", "\"written in", " pieces\"}\n"] {
                out.write_all(piece.as_bytes())
                    .map_err(|error| FixtureError(error.to_string()))?;
                out.flush()
                    .map_err(|error| FixtureError(error.to_string()))?;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            eprintln!("fixture: a line on stderr");
            Ok(json!({ "logged": true, "pid": pid }))
        }
        other => Err(FixtureError(format!("unknown action {other}"))),
    }
}

/// Fails the records whose body mentions `fail`, processes the rest.
fn sqs_batch(records: &[Value]) -> Value {
    let mut failures = Vec::new();
    for record in records {
        let id = record
            .get("messageId")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let body = record
            .get("body")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if body.contains("fail") {
            println!("sqs failed {id} {body}");
            failures.push(json!({ "itemIdentifier": id }));
        } else {
            println!("sqs processed {id} {body}");
        }
    }
    json!({ "batchItemFailures": failures })
}
