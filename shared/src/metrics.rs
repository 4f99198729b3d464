//! Metrics in CloudWatch's embedded metric format (EMF): one JSON line on stdout per set, which
//! CloudWatch Logs turns into metrics without any API call from the function. Values are counts
//! and durations of what the code did — never anything about a person.

use serde_json::{Map, Value, json};

/// Namespace of every Clinic metric.
pub const NAMESPACE: &str = "Clinic";

/// CloudWatch units used here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

/// Metrics sharing one set of dimensions.
#[derive(Debug, Clone, Default)]
pub struct MetricSet {
    dimensions: Vec<(String, String)>,
    values: Vec<(String, f64, Unit)>,
}

impl MetricSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a dimension (e.g. `consumer`).
    #[must_use]
    pub fn dimension(mut self, name: &str, value: &str) -> Self {
        self.dimensions.push((name.to_string(), value.to_string()));
        self
    }

    /// Adds a value.
    #[must_use]
    pub fn value(mut self, name: &str, value: f64, unit: Unit) -> Self {
        self.values.push((name.to_string(), value, unit));
        self
    }

    /// The EMF document for this set at `timestamp_ms`.
    pub fn to_json(&self, timestamp_ms: i64) -> Value {
        let mut document = Map::new();
        document.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [self.dimensions.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>()],
                    "Metrics": self.values.iter().map(|(name, _, unit)| json!({"Name": name, "Unit": unit.as_str()})).collect::<Vec<_>>(),
                }]
            }),
        );
        for (name, value) in &self.dimensions {
            document.insert(name.clone(), Value::String(value.clone()));
        }
        for (name, value, _) in &self.values {
            document.insert(name.clone(), json!(value));
        }
        Value::Object(document)
    }

    /// Writes the set as one line on stdout.
    pub fn emit(&self) {
        println!("{}", self.to_json(jiff::Timestamp::now().as_millisecond()));
    }
}

/// Counts one business event of `service` (`ExamsBooked`, `DownloadsGranted`, …), optionally
/// split by one more dimension (`channel`, `outcome`). The dashboard in template.yaml reads these
/// names and dimensions.
pub fn count(service: &str, name: &str, split: Option<(&str, &str)>) {
    let mut set = MetricSet::new().dimension("service", service);
    if let Some((dimension, value)) = split {
        set = set.dimension(dimension, value);
    }
    set.value(name, 1.0, Unit::Count).emit();
}

/// Counts a Lambda cold start of this process's function (nothing outside Lambda).
pub fn cold_start() {
    if let Some(function) = crate::config::optional("AWS_LAMBDA_FUNCTION_NAME") {
        MetricSet::new()
            .dimension("function", &function)
            .value("ColdStarts", 1.0, Unit::Count)
            .emit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_follow_the_embedded_metric_format() {
        let set = MetricSet::new()
            .dimension("consumer", "notifications")
            .value("RecordsProcessed", 9.0, Unit::Count)
            .value("RecordsFailed", 1.0, Unit::Count);
        let doc = set.to_json(1_700_000_000_000);
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(doc["_aws"]["Timestamp"], 1_700_000_000_000_i64);
        assert_eq!(directive["Namespace"], "Clinic");
        assert_eq!(directive["Dimensions"], json!([["consumer"]]));
        assert_eq!(
            directive["Metrics"][1],
            json!({"Name": "RecordsFailed", "Unit": "Count"})
        );
        assert_eq!(doc["consumer"], "notifications");
        assert_eq!(doc["RecordsProcessed"], 9.0);
    }
}
