//! Identifiers the runtime hands to functions: request ids, X-Ray trace headers, function ARNs,
//! CloudWatch-style log names and the epoch-millisecond deadlines of the Runtime API.

use std::time::{SystemTime, UNIX_EPOCH};

use ulid::Ulid;

/// A fresh request id in the UUID text form Lambda uses
/// (`8476a536-e9f4-11e8-9739-2dfe598c3fcd`), made from a ULID so ids sort by creation time.
pub(crate) fn request_id() -> String {
    uuid_text(Ulid::new().0)
}

fn uuid_text(bits: u128) -> String {
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        (bits >> 96) & 0xffff_ffff,
        (bits >> 80) & 0xffff,
        (bits >> 64) & 0xffff,
        (bits >> 48) & 0xffff,
        bits & 0xffff_ffff_ffff
    )
}

/// An X-Ray trace header as Lambda passes it in `Lambda-Runtime-Trace-Id`:
/// `Root=1-<epoch seconds, 8 hex>-<24 hex>;Parent=<16 hex>;Sampled=1`.
pub(crate) fn trace_id() -> String {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let (first, second) = (Ulid::new().random(), Ulid::new().random());
    format!(
        "Root=1-{:08x}-{:020x}{:04x};Parent={:016x};Sampled=1",
        seconds & 0xffff_ffff,
        first,
        second & 0xffff,
        (second >> 16) & 0xffff_ffff_ffff_ffff
    )
}

/// The ARN a function is invoked as (`arn:aws:lambda:<region>:<account>:function:<name>`).
pub(crate) fn function_arn(region: &str, account_id: &str, function: &str) -> String {
    format!("arn:aws:lambda:{region}:{account_id}:function:{function}")
}

/// The log group Lambda writes a function's output to.
pub(crate) fn log_group_name(function: &str) -> String {
    format!("/aws/lambda/{function}")
}

/// A log stream name of the form Lambda gives each execution environment:
/// `2025/01/31/[$LATEST]<32 hex>`.
pub(crate) fn log_stream_name() -> String {
    let day = jiff::Timestamp::now().strftime("%Y/%m/%d");
    format!("{day}/[$LATEST]{:032x}", Ulid::new().0)
}

/// Milliseconds since the Unix epoch of `at` (0 before the epoch), as `Lambda-Runtime-Deadline-Ms`
/// carries it.
pub(crate) fn epoch_millis(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |since| {
        u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_hex(text: &str) -> bool {
        !text.is_empty() && text.chars().all(|c| c.is_ascii_hexdigit())
    }

    #[test]
    fn request_ids_look_like_uuids_and_differ() {
        let (a, b) = (request_id(), request_id());
        assert_ne!(a, b);
        let groups: Vec<&str> = a.split('-').collect();
        assert_eq!(
            groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(groups.iter().all(|g| is_hex(g)), "{a}");
    }

    #[test]
    fn uuid_text_keeps_every_bit() {
        let text = uuid_text(0x0123_4567_89ab_cdef_0011_2233_4455_6677);
        assert_eq!(text, "01234567-89ab-cdef-0011-223344556677");
    }

    #[test]
    fn trace_ids_have_the_xray_shape() {
        let trace = trace_id();
        let parts: Vec<&str> = trace.split(';').collect();
        assert_eq!(parts.len(), 3, "{trace}");
        let root = parts[0].strip_prefix("Root=1-").expect("root");
        let (time, random) = root.split_once('-').expect("two root parts");
        assert_eq!((time.len(), random.len()), (8, 24));
        assert!(is_hex(time) && is_hex(random), "{trace}");
        let parent = parts[1].strip_prefix("Parent=").expect("parent");
        assert!(parent.len() == 16 && is_hex(parent), "{trace}");
        assert_eq!(parts[2], "Sampled=1");
    }

    #[test]
    fn names_follow_lambda() {
        assert_eq!(
            function_arn("us-east-1", "123456789012", "AccountsApiFunction"),
            "arn:aws:lambda:us-east-1:123456789012:function:AccountsApiFunction"
        );
        assert_eq!(log_group_name("F"), "/aws/lambda/F");
        let stream = log_stream_name();
        let (day, id) = stream.split_once("/[$LATEST]").expect("stream shape");
        assert_eq!(day.len(), "2025/01/31".len());
        assert!(id.len() == 32 && is_hex(id), "{stream}");
    }

    #[test]
    fn epoch_millis_counts_from_the_epoch() {
        let at = UNIX_EPOCH + std::time::Duration::from_millis(1_542_409_706_888);
        assert_eq!(epoch_millis(at), 1_542_409_706_888);
        assert_eq!(epoch_millis(UNIX_EPOCH), 0);
    }
}
