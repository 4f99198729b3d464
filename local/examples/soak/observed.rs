//! What the runner's output says, parsed as it comes: publications, deliveries, errors.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::metrics::truncate;

/// What the runner's output says, parsed as it comes.
#[derive(Default)]
pub(crate) struct Observed {
    /// Event id → when an outbox function published it (ms since the epoch), first time.
    pub(crate) published: HashMap<String, (String, u64)>,
    /// Consumer function → event ids it processed (or recognised as duplicates).
    pub(crate) delivered: BTreeMap<String, HashMap<String, u64>>,
    /// Consumer function → event ids it parked (sent to its DLQ).
    pub(crate) parked: BTreeMap<String, HashSet<String>>,
    /// Events the sweep published, per outbox function.
    pub(crate) swept: BTreeMap<String, u64>,
    /// ERROR-level lines per function.
    pub(crate) errors: BTreeMap<String, u64>,
    pub(crate) error_samples: Vec<String>,
    pub(crate) stream_rewinds: u64,
    pub(crate) staff_secret: Option<String>,
    /// Times the runner said it provisioned a restarted emulator again.
    pub(crate) reprovisioned: u64,
    pub(crate) lines: u64,
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Observed {
    pub(crate) fn line(&mut self, line: &str) {
        self.lines += 1;
        if let Some(secret) = clinic_local::app::staff_secret_in(line) {
            self.staff_secret = Some(secret);
        }
        if line.starts_with("Clinic is running again") {
            self.reprovisioned += 1;
        }
        if line.contains("the stream went back under the poller") {
            self.stream_rewinds += 1;
        }
        let Some(rest) = line.strip_prefix('[') else {
            return;
        };
        let Some((function, json)) = rest.split_once("] ") else {
            return;
        };
        if !json.starts_with('{') {
            return;
        }
        let Ok(v) = serde_json::from_str::<Value>(json) else {
            return;
        };
        let at = v["timestamp"]
            .as_str()
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
            .map_or_else(now_ms, |t| t.as_millisecond() as u64);
        let message = v["message"].as_str().unwrap_or_default();
        let function = function.to_string();
        if v["level"] == "ERROR" {
            *self.errors.entry(function.clone()).or_default() += 1;
            if self.error_samples.len() < 10 {
                self.error_samples
                    .push(format!("[{function}] {}", truncate(json, 300)));
            }
        }
        match message {
            "outbox event published" => {
                if let Some(id) = v["event_id"].as_str() {
                    self.published
                        .entry(id.to_string())
                        .or_insert((function, at));
                }
            }
            "outbox sweep done" => {
                let n = v["published"].as_u64().unwrap_or(0);
                *self.swept.entry(function).or_default() += n;
            }
            "sqs record done" | "sqs record parked" => {
                let Some(id) = v["span"]["event_id"].as_str() else {
                    return;
                };
                if message == "sqs record done" {
                    self.delivered
                        .entry(function)
                        .or_default()
                        .entry(id.to_string())
                        .or_insert(at);
                } else {
                    self.parked
                        .entry(function)
                        .or_default()
                        .insert(id.to_string());
                }
            }
            _ => {}
        }
    }
}
