//! `Schedule` events: invokes the function every `rate(...)` with an EventBridge scheduled event.

use std::sync::Arc;

use tokio::sync::watch;

use super::stopped_within;
use crate::model::{Invoker, ScheduleSource};

/// The scheduled event EventBridge would send.
pub fn scheduled_event(function: &str) -> serde_json::Value {
    serde_json::json!({
        "version": "0",
        "id": ulid::Ulid::new().to_string(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": jiff::Timestamp::now().to_string(),
        "region": "us-east-1",
        "resources": [format!("arn:aws:events:us-east-1:123456789012:rule/{function}-schedule")],
        "detail": {}
    })
}

/// Invokes `function` every `source.every` until stopped (the first run after one period).
pub async fn run<I: Invoker>(
    invoker: Arc<I>,
    function: String,
    source: ScheduleSource,
    mut stop: watch::Receiver<bool>,
) {
    while !stopped_within(&mut stop, source.every).await {
        if let Err(err) = invoker.invoke(&function, scheduled_event(&function)).await {
            tracing::warn!(function = %function, error = %err, "scheduled invocation failed");
        }
    }
}
