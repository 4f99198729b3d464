//! The fingerprint of a request: what tells a retry from a reuse of its key.

use sha2::{Digest, Sha256};

/// SHA-256 (lower-case hex) of a request, used to tell a retry from a reuse of the key.
///
/// A JSON body is hashed in canonical form (object members sorted by name, no insignificant
/// whitespace), so a client re-serialising the same document is still a retry; any other body is
/// hashed as is. `path`, the concrete request path when given, is hashed too, so that one key sent
/// to `/v1/exams/A/files` and then to `/v1/exams/B/files` (one route template) is a reuse.
pub fn fingerprint(path: Option<&str>, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    if let Some(path) = path {
        hasher.update(path.as_bytes());
        hasher.update(b"\n");
    }
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(value) => {
            let mut canonical = Vec::with_capacity(body.len());
            write_canonical_json(&value, &mut canonical);
            hasher.update(&canonical);
        }
        Err(_) => hasher.update(body),
    }
    hex::encode(hasher.finalize())
}

fn write_canonical_json(value: &serde_json::Value, out: &mut Vec<u8>) {
    match value {
        serde_json::Value::Object(map) => {
            let mut members: Vec<_> = map.iter().collect();
            members.sort_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (name, member)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend(serde_json::to_vec(name).unwrap_or_default());
                out.push(b':');
                write_canonical_json(member, out);
            }
            out.push(b'}');
        }
        serde_json::Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical_json(item, out);
            }
            out.push(b']');
        }
        scalar => out.extend(serde_json::to_vec(scalar).unwrap_or_default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_canonical_for_json_and_raw_otherwise() {
        let a = fingerprint(None, br#"{"x":{"b":1,"a":[true,null,"s"]},"y":1.5}"#);
        let b = fingerprint(
            None,
            b"{ \"y\": 1.5,\n \"x\": { \"a\": [true, null, \"s\"], \"b\": 1 } }",
        );
        assert_eq!(a, b);
        assert_eq!(a.len(), 64);
        assert_ne!(
            a,
            fingerprint(None, br#"{"x":{"b":2,"a":[true,null,"s"]},"y":1.5}"#)
        );
        assert_ne!(fingerprint(None, b"a b"), fingerprint(None, b"a  b"));
        assert_ne!(
            fingerprint(Some("/p/1"), b"{}"),
            fingerprint(Some("/p/2"), b"{}")
        );
        assert_eq!(
            fingerprint(None, b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
