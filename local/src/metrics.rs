//! The functions' CloudWatch metrics, as the local system sees them: every embedded-metric-format
//! (EMF) line a function writes is added up by metric and dimensions, served at
//! `/_local/metrics` and summarised when the runner stops — the figures the deployed dashboard
//! shows, without CloudWatch.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::runtime::LogLine;

/// A metric with one set of dimension values.
type Key = (String, Vec<(String, String)>);

/// Sums and counts of every metric seen so far.
#[derive(Debug, Clone, Default)]
pub struct MetricsBoard {
    totals: Arc<Mutex<BTreeMap<Key, (f64, u64)>>>,
}

impl MetricsBoard {
    /// Adds up the EMF documents of the lines `logs` carries until it closes.
    pub fn follow(&self, mut logs: broadcast::Receiver<LogLine>) {
        let board = self.clone();
        tokio::spawn(async move {
            loop {
                match logs.recv().await {
                    Ok(line) => board.add_line(&line.line),
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
    }

    /// Adds one output line if it is an EMF document; anything else is ignored.
    pub fn add_line(&self, line: &str) {
        if !line.contains("\"_aws\"") {
            return;
        }
        let Ok(document) = serde_json::from_str::<Value>(line) else {
            return;
        };
        let Some(directives) = document["_aws"]["CloudWatchMetrics"].as_array() else {
            return;
        };
        let mut totals = self
            .totals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for directive in directives {
            let dimensions: Vec<(String, String)> = directive["Dimensions"]
                .as_array()
                .and_then(|sets| sets.first())
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(|name| {
                    let value = document[name].as_str().unwrap_or_default();
                    (name.to_string(), value.to_string())
                })
                .collect();
            for metric in directive["Metrics"].as_array().into_iter().flatten() {
                let Some(name) = metric["Name"].as_str() else {
                    continue;
                };
                let Some(value) = document[name].as_f64() else {
                    continue;
                };
                let entry = totals
                    .entry((name.to_string(), dimensions.clone()))
                    .or_insert((0.0, 0));
                entry.0 += value;
                entry.1 += 1;
            }
        }
    }

    /// Every metric with its dimensions, sum and number of values, sorted by name.
    pub fn to_json(&self) -> Value {
        let totals = self
            .totals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let metrics: Vec<Value> = totals
            .iter()
            .map(|((name, dimensions), (sum, count))| {
                let dimensions: serde_json::Map<String, Value> = dimensions
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect();
                json!({"name": name, "dimensions": dimensions, "sum": sum, "count": count})
            })
            .collect();
        json!({ "metrics": metrics })
    }

    /// One line per metric and dimension values: what the runner prints when it stops.
    pub fn summary(&self) -> String {
        let totals = self
            .totals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        totals
            .iter()
            .map(|((name, dimensions), (sum, count))| {
                let dims = dimensions
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ");
                if name.ends_with("Ms") || name == "Latency" {
                    format!(
                        "  {name:<24} {dims:<60} mean {:>9.1}",
                        sum / (*count).max(1) as f64
                    )
                } else {
                    format!("  {name:<24} {dims:<60} {sum:>9}")
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Whether a function's output line is an EMF document (printed lines skip them: the figures
/// are at `/_local/metrics` and in the summary).
pub fn is_emf(line: &str) -> bool {
    // Key order depends on how the writer's JSON map is built: look for the key, then parse.
    line.contains("\"_aws\"")
        && serde_json::from_str::<Value>(line)
            .is_ok_and(|document| document["_aws"]["CloudWatchMetrics"].is_array())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_lines_add_up_by_metric_and_dimensions() {
        let board = MetricsBoard::default();
        let line = |channel: &str| {
            clinic_shared::metrics::MetricSet::new()
                .dimension("service", "notifications")
                .dimension("channel", channel)
                .value(
                    "NotificationsSent",
                    1.0,
                    clinic_shared::metrics::Unit::Count,
                )
                .to_json(0)
                .to_string()
        };
        board.add_line(&line("EMAIL"));
        board.add_line(&line("EMAIL"));
        board.add_line(&line("SMS"));
        board.add_line("{\"level\":\"INFO\",\"message\":\"sent\"}");
        board.add_line("not json");
        let json = board.to_json();
        let metrics = json["metrics"].as_array().unwrap();
        assert_eq!(metrics.len(), 2, "{json}");
        assert_eq!(metrics[0]["dimensions"]["channel"], "EMAIL");
        assert_eq!(metrics[0]["sum"], 2.0);
        assert_eq!(metrics[1]["sum"], 1.0);
        assert!(board.summary().contains("channel=SMS"));
        assert!(is_emf(&line("EMAIL")));
        assert!(!is_emf("{\"level\":\"INFO\"}"));
    }
}
