//! What every simulated person shares: the HTTP client, the measurements, what was promised, the
//! published slots and the channels to hospitals and doctors; one measured API call.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::metrics::{Stats, truncate};
use crate::system::wait_until;

/// A small deterministic generator (xorshift), one per task.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        (self.next() % 10_000) as f64 / 10_000.0 < p
    }
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// A valid CPF from 9 digits.
pub(crate) fn cpf(n: u64) -> String {
    clinic_local::seed::synthetic_cpf(n)
}

#[derive(Clone)]
pub(crate) struct Slot {
    pub(crate) id: String,
}

pub(crate) struct PushRequest {
    pub(crate) cpf: String,
    pub(crate) email: Option<String>,
    pub(crate) external_id: String,
    pub(crate) reply: oneshot::Sender<Option<Value>>,
}

pub(crate) struct DoctorJob {
    pub(crate) exam_id: String,
    /// The patient's addresses: the doctor's steps are what call for their messages.
    pub(crate) email: String,
    pub(crate) phone: String,
    pub(crate) reply: oneshot::Sender<Option<String>>,
}

/// What the people were promised, to compare with what the system did.
#[derive(Default)]
pub(crate) struct Expected {
    /// Patient e-mail → (e-mails, SMS) expected.
    pub(crate) messages: HashMap<String, (u64, u64, String)>,
    pub(crate) erased: HashSet<String>,
    pub(crate) erased_phones: HashSet<String>,
    /// Slot id → places taken (201) minus places given back (cancelled, erased).
    pub(crate) places: HashMap<String, i64>,
    pub(crate) reports: u64,
    pub(crate) doctors: Vec<String>,
}

pub(crate) struct Ctx {
    pub(crate) http: reqwest::Client,
    pub(crate) base: String,
    pub(crate) run: String,
    pub(crate) deadline: Mutex<Instant>,
    pub(crate) stats: Mutex<Stats>,
    pub(crate) expected: Mutex<Expected>,
    pub(crate) staff: tokio::sync::RwLock<String>,
    pub(crate) slots: Mutex<Vec<Slot>>,
    pub(crate) seq: AtomicU64,
    pub(crate) hospitals: Vec<(String, String, String)>,
    pub(crate) push_tx: Vec<mpsc::UnboundedSender<PushRequest>>,
    pub(crate) doctor_tx: mpsc::UnboundedSender<DoctorJob>,
    pub(crate) restarting: AtomicBool,
}

pub(crate) enum Body {
    None,
    Json(Value),
}

impl Ctx {
    pub(crate) fn over(&self) -> bool {
        Instant::now() >= *self.deadline.lock().expect("deadline")
    }

    /// One API call: measured, its status checked against `expected`. Connection failures (the
    /// runner restarting) are retried for up to a minute and not counted.
    #[allow(clippy::too_many_arguments)] // the parts of one request, each passed as it is
    pub(crate) async fn call(
        &self,
        kind: &'static str,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, String)],
        body: Body,
        expected: &[u16],
    ) -> Option<(u16, Value)> {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        };
        let give_up = Instant::now() + Duration::from_secs(60);
        loop {
            let mut request = self
                .http
                .request(method.clone(), &url)
                .timeout(Duration::from_secs(60));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            for (name, value) in headers {
                request = request.header(*name, value);
            }
            if let Body::Json(v) = &body {
                request = request.json(v);
            }
            let started = Instant::now();
            match request.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let text = response.text().await.unwrap_or_default();
                    let ms = started.elapsed().as_secs_f64() * 1000.0;
                    let value = serde_json::from_str(&text).unwrap_or(Value::Null);
                    let mut stats = self.stats.lock().expect("stats");
                    let op = stats.ops.entry(kind).or_default();
                    op.latencies_ms.push(ms);
                    *op.statuses.entry(status).or_default() += 1;
                    if !expected.contains(&status) {
                        op.unexpected += 1;
                        stats.violation(format!(
                            "{kind}: {method} {path} answered {status}: {}",
                            truncate(&text, 240)
                        ));
                    }
                    return Some((status, value));
                }
                Err(err)
                    if (err.is_connect() || self.restarting.load(Ordering::Relaxed))
                        && Instant::now() < give_up =>
                {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(err) => {
                    let mut stats = self.stats.lock().expect("stats");
                    let op = stats.ops.entry(kind).or_default();
                    op.unexpected += 1;
                    stats.violation(format!("{kind}: {method} {path} failed: {err}"));
                    return None;
                }
            }
        }
    }

    pub(crate) async fn post(
        &self,
        kind: &'static str,
        path: &str,
        token: Option<&str>,
        body: Value,
        expected: &[u16],
    ) -> Option<(u16, Value)> {
        self.call(
            kind,
            reqwest::Method::POST,
            path,
            token,
            &[],
            Body::Json(body),
            expected,
        )
        .await
    }

    pub(crate) async fn get(
        &self,
        kind: &'static str,
        path: &str,
        token: &str,
        expected: &[u16],
    ) -> Option<(u16, Value)> {
        self.call(
            kind,
            reqwest::Method::GET,
            path,
            Some(token),
            &[],
            Body::None,
            expected,
        )
        .await
    }

    pub(crate) fn violation(&self, what: String) {
        self.stats.lock().expect("stats").violation(what);
    }

    pub(crate) fn measure(&self, kind: &'static str, ms: f64) {
        let mut stats = self.stats.lock().expect("stats");
        let op = stats.ops.entry(kind).or_default();
        op.latencies_ms.push(ms);
    }

    /// Records the time since `started` as a measurement of `kind`.
    pub(crate) fn measure_since(&self, kind: &'static str, started: Instant) {
        self.measure(kind, started.elapsed().as_secs_f64() * 1000.0);
    }

    /// Waits up to `limit` for `check` to hold, then records the time since `started` (which may
    /// be earlier than the wait: what the person waited for in all) as `kind`.
    pub(crate) async fn wait_measured<F, Fut>(
        &self,
        kind: &'static str,
        started: Instant,
        limit: Duration,
        check: F,
    ) -> Result<(), ()>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let held = wait_until(limit, check).await;
        self.measure_since(kind, started);
        held
    }

    /// Counts a place taken (`+1`, a booking) or given back (`-1`) at `slot`.
    pub(crate) fn count_place(&self, slot: &str, delta: i64) {
        *self
            .expected
            .lock()
            .expect("expected")
            .places
            .entry(slot.to_string())
            .or_default() += delta;
    }

    pub(crate) fn expect_messages(&self, email: &str, phone: &str, emails: u64, sms: u64) {
        let mut e = self.expected.lock().expect("expected");
        let entry = e
            .messages
            .entry(email.to_string())
            .or_insert((0, 0, phone.to_string()));
        entry.0 += emails;
        entry.1 += sms;
    }

    pub(crate) async fn staff(&self) -> String {
        self.staff.read().await.clone()
    }
}

pub(crate) async fn sign_in(
    ctx: &Ctx,
    kind: &'static str,
    username: &str,
    password: &str,
    secret: Option<&str>,
) -> Option<String> {
    let started = Instant::now();
    let mut result =
        clinic_local::seed::sign_in(&ctx.http, &ctx.base, username, password, secret).await;
    // As for every other call: while the runner restarts, connections are refused for a few
    // seconds; retry those for up to a minute.
    while result
        .as_ref()
        .is_err_and(|e| e.contains("error sending request"))
        && started.elapsed() < Duration::from_secs(60)
    {
        tokio::time::sleep(Duration::from_millis(500)).await;
        result =
            clinic_local::seed::sign_in(&ctx.http, &ctx.base, username, password, secret).await;
    }
    ctx.measure_since(kind, started);
    match result {
        Ok(signed) => Some(signed.access_token),
        Err(err) => {
            ctx.violation(format!("{kind}: {username} could not sign in: {err}"));
            None
        }
    }
}
