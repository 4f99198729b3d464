//! The emulator restarted under the running runner: events written once it provisioned again must
//! be relayed as fast as before.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::ctx::{Ctx, cpf};
use crate::emulator_state::{commit_times, outbox_items};
use crate::hospitals::register_hospitals;
use crate::metrics::percentile;
use crate::system::{OwnSystem, wait_until};
use crate::{PASSWORD, RELAY_P99_LIMIT_MS, STAFF_EMAIL, STAFF_PASSWORD, sdk_config};

/// The emulator restarts under the running runner: once it has provisioned everything again,
/// events written then must be relayed through their streams as fast as before.
pub(crate) async fn after_emulator_restart(
    ctx: &Ctx,
    system: &mut OwnSystem,
    root: &Path,
    latency_gate: bool,
) -> (String, bool) {
    let before = system.observed.lock().map(|o| o.reprovisioned).unwrap_or(0);
    let restarted = jiff::Timestamp::now();
    if let Err(err) = system.restart_emulator(root).await {
        return (format!("emulator restart: {err}\n"), false);
    }
    let observed = system.observed.clone();
    let back = wait_until(Duration::from_secs(180), || async {
        observed
            .lock()
            .map(|o| o.reprovisioned > before)
            .unwrap_or(false)
    })
    .await;
    if back.is_err() {
        return (
            "emulator restart: the runner did not provision it again within 180 s\n".into(),
            false,
        );
    }
    let secret = observed.lock().ok().and_then(|o| o.staff_secret.clone());
    let staff = match clinic_local::seed::sign_in(
        &ctx.http,
        &ctx.base,
        STAFF_EMAIL,
        STAFF_PASSWORD,
        secret.as_deref(),
    )
    .await
    {
        Ok(s) => s.access_token,
        Err(err) => {
            return (
                format!("emulator restart: staff sign-in failed afterwards: {err}\n"),
                false,
            );
        }
    };
    let run = format!("{}r", ctx.run);
    if let Err(err) = register_hospitals(&ctx.http, &ctx.base, &staff, &run, 2).await {
        return (format!("emulator restart: {err}\n"), false);
    }
    for i in 0..5 {
        let email = format!("after{i}.{run}@soak.example");
        let body = json!({"email": email, "password": PASSWORD, "name": "Paciente Soak", "cpf": cpf(777_000 + i),
                          "birthDate": "1990-04-12", "phone": format!("+5511977{:06}", 1000 + i),
                          "preferences": {"email": true, "sms": true, "language": "pt-BR"}});
        ctx.post("sign_up", "/v1/accounts/patients", None, body, &[202])
            .await;
        ctx.post(
            "confirm",
            "/v1/accounts/confirm",
            None,
            json!({"email": email, "code": "123456", "password": PASSWORD}),
            &[204],
        )
        .await;
    }
    let sdk = sdk_config(&system.runner_args[3]).await;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let since = restarted.to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    let (items, published) = loop {
        let items = outbox_items(&ddb, &since).await.unwrap_or_default();
        let all = {
            let o = observed.lock().expect("observed");
            !items.is_empty() && items.keys().all(|id| o.published.contains_key(id))
        };
        if all || Instant::now() > deadline {
            break (items, all);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let committed = commit_times(&sdk).await.unwrap_or_default();
    let o = observed.lock().expect("observed");
    let relay: Vec<f64> = items
        .keys()
        .filter_map(|id| {
            let written = match committed.get(id) {
                Some(at) => *at,
                None => ulid::Ulid::from_string(id).ok()?.timestamp_ms(),
            };
            o.published
                .get(id)
                .map(|(_, at)| at.saturating_sub(written) as f64)
        })
        .collect();
    let p99 = percentile(&relay, 99.0);
    let passed = published && (p99 <= RELAY_P99_LIMIT_MS || !latency_gate);
    (
        format!(
            "after the emulator restarted under the runner: {} events written, {} published, relay p50 {:.0} ms, p99 {p99:.0} ms\n",
            items.len(),
            relay.len(),
            percentile(&relay, 50.0)
        ),
        passed,
    )
}
