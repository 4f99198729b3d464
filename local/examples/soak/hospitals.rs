//! Hospitals: registered by staff, then pushing exams in batches with client-credentials tokens.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::ctx::{Ctx, PushRequest};
use crate::system::wait_until;

/// A hospital: pushes what patients' visits ask for in batches, then waits until applied.
pub(crate) async fn hospital_loop(
    ctx: Arc<Ctx>,
    index: usize,
    mut rx: mpsc::UnboundedReceiver<PushRequest>,
) {
    let (_, client_id, client_secret) = ctx.hospitals[index].clone();
    let mut token = String::new();
    loop {
        let Some(first) = rx.recv().await else { return };
        let mut batch = vec![first];
        tokio::time::sleep(Duration::from_millis(500)).await;
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
            if batch.len() >= 25 {
                break;
            }
        }
        let items: Vec<Value> = batch
            .iter()
            .map(|p| {
                let mut item = json!({"externalId": p.external_id, "version": 1, "patientCpf": p.cpf,
                    "examType": "hemograma", "status": "COMPLETED", "scheduledAt": "2030-01-10T09:00:00Z"});
                if let Some(email) = &p.email {
                    item["patientEmail"] = json!(email);
                }
                item
            })
            .collect();
        let mut accepted = None;
        for _ in 0..3 {
            if token.is_empty() {
                token = hospital_token(&ctx, &client_id, &client_secret)
                    .await
                    .unwrap_or_default();
            }
            match ctx
                .post(
                    "batch_push",
                    "/v1/integrations/exams:batch",
                    Some(&token),
                    json!({"items": items}),
                    &[202, 401, 403],
                )
                .await
            {
                Some((202, body)) => {
                    accepted = body["batchId"].as_str().map(str::to_string);
                    break;
                }
                // The runner restarted: its token signing key is new.
                Some((401 | 403, _)) => token.clear(),
                _ => break,
            }
        }
        let Some(batch_id) = accepted else {
            batch.into_iter().for_each(|p| {
                let _ = p.reply.send(None);
            });
            continue;
        };
        let started = Instant::now();
        let mut applied = None;
        while started.elapsed() < Duration::from_secs(90) {
            if let Some((200, state)) = ctx
                .get(
                    "batch_status",
                    &format!("/v1/integrations/batches/{batch_id}"),
                    &token,
                    &[200, 401, 403],
                )
                .await
            {
                let items = state["items"].as_array().cloned().unwrap_or_default();
                if items.len() == batch.len()
                    && items.iter().all(|i| {
                        i["state"] != "PENDING"
                            && i["state"] != "ACCEPTED"
                            && i["state"] != "QUEUED"
                    })
                {
                    applied = Some(items);
                    break;
                }
            } else {
                token = hospital_token(&ctx, &client_id, &client_secret)
                    .await
                    .unwrap_or_default();
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        ctx.measure_since("batch_applied", started);
        let items = applied.unwrap_or_default();
        if items.is_empty() {
            ctx.violation(format!("batch {batch_id} not applied within 90 s"));
        }
        for p in batch {
            let item = items
                .iter()
                .find(|i| i["externalId"] == p.external_id.as_str())
                .cloned();
            if let Some(i) = &item
                && i["state"] != "APPLIED"
            {
                ctx.violation(format!("batch item {} ended {}", p.external_id, i["state"]));
            }
            let _ = p.reply.send(item);
        }
    }
}

pub(crate) async fn hospital_token(
    ctx: &Ctx,
    client_id: &str,
    client_secret: &str,
) -> Option<String> {
    let started = Instant::now();
    let response = ctx
        .http
        .post(format!("{}/oauth2/token", ctx.base))
        .basic_auth(client_id, Some(client_secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "clinic/ingest"),
        ])
        .send()
        .await
        .ok()?;
    let token: Value = response.json().await.ok()?;
    ctx.measure_since("hospital_token", started);
    token["access_token"].as_str().map(str::to_string)
}

pub(crate) async fn register_hospitals(
    ctx_http: &reqwest::Client,
    base: &str,
    staff: &str,
    run: &str,
    count: usize,
) -> Result<Vec<(String, String, String)>, String> {
    let mut out = Vec::new();
    for i in 0..count {
        let name = format!("Hospital Soak {run} {i}");
        let cnes = format!(
            "{:07}",
            (run.bytes().fold(0u64, |a, b| a * 31 + u64::from(b)) * 10 + i as u64) % 10_000_000
        );
        let response = ctx_http
            .post(format!("{base}/v1/hospitals"))
            .bearer_auth(staff)
            .json(&json!({"name": name, "cnes": cnes}))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status != 201 {
            return Err(format!("registering {name} answered {status}: {body}"));
        }
        out.push((
            body["id"].as_str().unwrap_or_default().to_string(),
            body["clientId"].as_str().unwrap_or_default().to_string(),
            body["clientSecret"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        ));
    }
    // Slots can be published once the exam catalogue knows the hospitals.
    wait_until(Duration::from_secs(60), || async {
        let Ok(response) = ctx_http
            .get(format!("{base}/v1/hospitals?limit=100"))
            .bearer_auth(staff)
            .send()
            .await
        else {
            return false;
        };
        let list: Value = response.json().await.unwrap_or(Value::Null);
        let known: HashSet<&str> = list["items"]
            .as_array()
            .map(|items| items.iter().filter_map(|h| h["id"].as_str()).collect())
            .unwrap_or_default();
        out.iter().all(|(id, _, _)| known.contains(id.as_str()))
    })
    .await
    .map_err(|()| "the hospitals did not reach the exam catalogue within 60 s".to_string())?;
    Ok(out)
}
