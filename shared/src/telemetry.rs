//! Structured logs: one JSON line per event, carrying the request id and trace id of the span it
//! happened in. Fields that could hold personal or health data are never recorded: handlers log
//! ids, codes and counts only.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

/// Installs the JSON subscriber once per process (later calls are ignored, which keeps tests
/// that build several handlers happy). Level from `RUST_LOG`, default `info`.
pub fn init() {
    let _ = tracing::subscriber::set_global_default(json_subscriber(std::io::stdout));
    // Every function calls this once at start: the place to count cold starts.
    crate::metrics::cold_start();
}

/// The subscriber [`init`] installs, writing to `writer` (tests capture logs with it).
pub fn json_subscriber<W>(writer: W) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'a> tracing_subscriber::fmt::MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        // The list of enclosing spans too: a line logged inside a use case's span still carries
        // the request id and trace id of the request span around it.
        .with_current_span(true)
        .with_span_list(true)
        .flatten_event(true)
        .with_target(false)
        .with_span_events(FmtSpan::NONE)
        .without_time()
        .with_writer(writer)
        .finish()
}

/// A W3C trace context: continued from the caller's `traceparent` or started here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    pub trace_id: String,
    pub parent_id: String,
    pub flags: String,
}

impl TraceContext {
    /// Parses a `traceparent` header (version 00); anything else starts a new trace.
    pub fn continue_or_start(header: Option<&str>) -> TraceContext {
        header.and_then(Self::parse).unwrap_or_else(Self::start)
    }

    fn parse(raw: &str) -> Option<TraceContext> {
        let parts: Vec<&str> = raw.trim().split('-').collect();
        let is_hex =
            |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
        match parts.as_slice() {
            [version, trace, parent, flags]
                if *version == "00"
                    && is_hex(trace, 32)
                    && is_hex(parent, 16)
                    && is_hex(flags, 2)
                    && trace.bytes().any(|b| b != b'0') =>
            {
                Some(TraceContext {
                    trace_id: trace.to_ascii_lowercase(),
                    parent_id: parent.to_ascii_lowercase(),
                    flags: flags.to_ascii_lowercase(),
                })
            }
            _ => None,
        }
    }

    /// A new trace with random ids.
    pub fn start() -> TraceContext {
        let trace = ulid::Ulid::new().random() | 1;
        let span = (ulid::Ulid::new().random() as u64) | 1;
        TraceContext {
            trace_id: format!("{trace:032x}"),
            parent_id: format!("{span:016x}"),
            flags: "01".to_string(),
        }
    }

    /// The `traceparent` value for messages and calls made on behalf of this request.
    pub fn traceparent(&self) -> String {
        format!("00-{}-{}-{}", self.trace_id, self.parent_id, self.flags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continues_a_valid_traceparent() {
        let header = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let ctx = TraceContext::continue_or_start(Some(header));
        assert_eq!(ctx.trace_id, "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(ctx.traceparent(), header);
    }

    #[test]
    fn starts_a_new_trace_on_garbage() {
        for bad in [
            "",
            "01-abc",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
        ] {
            let ctx = TraceContext::continue_or_start(Some(bad));
            assert_eq!(ctx.trace_id.len(), 32);
            assert_ne!(ctx.trace_id, "00000000000000000000000000000000");
        }
        assert_ne!(
            TraceContext::start().trace_id,
            TraceContext::start().trace_id
        );
    }
}
