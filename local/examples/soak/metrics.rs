//! What the soak measures of each operation (latencies, statuses) and the violations it saw.

use std::collections::BTreeMap;

#[derive(Default)]
pub(crate) struct OpStat {
    pub(crate) latencies_ms: Vec<f64>,
    pub(crate) unexpected: u64,
    pub(crate) statuses: BTreeMap<u16, u64>,
}

#[derive(Default)]
pub(crate) struct Stats {
    pub(crate) ops: BTreeMap<&'static str, OpStat>,
    /// Unexpected answers and failed checks (first ones kept in full).
    pub(crate) violations: Vec<String>,
    pub(crate) violation_count: u64,
}

impl Stats {
    pub(crate) fn violation(&mut self, what: String) {
        self.violation_count += 1;
        if self.violations.len() < 30 {
            self.violations.push(what);
        }
    }
}

pub(crate) fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * (sorted.len() as f64)).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub(crate) fn truncate(s: &str, n: usize) -> String {
    if s.len() <= n {
        return s.to_string();
    }
    let mut end = n;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}
