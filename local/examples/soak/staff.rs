//! Staff: publishing slots now and then, ordering reports.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::CAPACITY;
use crate::ctx::{Body, Ctx, Rng, Slot};

/// Staff: publish new slots now and then (others fill up), order reports.
pub(crate) async fn staff_loop(ctx: Arc<Ctx>) {
    let mut rng = Rng(0xDEAD_BEEF_1234_5678);
    let mut made = 0u64;
    let mut last_report = Instant::now();
    while !ctx.over() {
        publish_slots(&ctx, &mut rng, &mut made, 4).await;
        if last_report.elapsed() > Duration::from_secs(30) {
            last_report = Instant::now();
            order_report(&ctx).await;
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
}

pub(crate) async fn publish_slots(ctx: &Ctx, rng: &mut Rng, made: &mut u64, count: u64) {
    let staff = ctx.staff().await;
    let (hospital_id, _, _) = &ctx.hospitals[rng.below(ctx.hospitals.len())];
    let day0: u64 = ctx
        .run
        .bytes()
        .fold(0, |a, b| (a * 31 + u64::from(b)) % 3000);
    let slots: Vec<Value> = (0..count)
        .map(|i| {
            let k = *made + i;
            let start = jiff::Timestamp::from_second(1_924_992_000 + (day0 as i64) * 86_400 + (k as i64) * 1800)
                .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
            let end = start + jiff::SignedDuration::from_mins(20);
            json!({"examType": "Ultrassom", "start": start.to_string(), "end": end.to_string(), "capacity": CAPACITY})
        })
        .collect();
    *made += count;
    if let Some((_, body)) = ctx
        .call(
            "publish_slots",
            reqwest::Method::PUT,
            &format!("/v1/hospitals/{hospital_id}/slots"),
            Some(&staff),
            &[],
            Body::Json(Value::Array(slots)),
            &[200, 201],
        )
        .await
    {
        let list = body
            .as_array()
            .cloned()
            .or_else(|| body["items"].as_array().cloned())
            .or_else(|| body["slots"].as_array().cloned())
            .unwrap_or_default();
        let mut slots = ctx.slots.lock().expect("slots");
        for s in list {
            if let Some(id) = s["id"].as_str() {
                slots.push(Slot { id: id.to_string() });
            }
        }
    }
}

pub(crate) async fn order_report(ctx: &Ctx) {
    let staff = ctx.staff().await;
    let key = format!(
        "soak-report-{}-{}",
        ctx.run,
        ctx.seq.fetch_add(1, Ordering::Relaxed)
    );
    let Some((status, body)) = ctx
        .call("report_order", reqwest::Method::POST, "/v1/reports", Some(&staff),
              &[("idempotency-key", key)], Body::Json(json!({"kind": "exams", "format": "xlsx", "filters": {"from": "2030-01-01", "to": "2030-12-31"}})), &[200, 201, 202])
        .await
    else {
        return;
    };
    let Some(id) = body["id"]
        .as_str()
        .or(body["reportId"].as_str())
        .map(str::to_string)
    else {
        ctx.violation(format!(
            "report order answered {status} without an id: {body}"
        ));
        return;
    };
    let started = Instant::now();
    let done = ctx
        .wait_measured(
            "report_ready_wait",
            started,
            Duration::from_secs(180),
            || async {
                ctx.get(
                    "report_status",
                    &format!("/v1/reports/{id}"),
                    &staff,
                    &[200],
                )
                .await
                .is_some_and(|(_, r)| {
                    let s = r["status"]
                        .as_str()
                        .unwrap_or_default()
                        .to_ascii_lowercase();
                    s == "done" || s == "failed"
                })
            },
        )
        .await;
    match done {
        Ok(()) => ctx.expected.lock().expect("expected").reports += 1,
        Err(()) => ctx.violation(format!("report {id} not done within 180 s")),
    }
}
