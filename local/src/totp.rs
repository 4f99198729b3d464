//! Time-based one-time passwords (RFC 6238: HMAC-SHA1, 30-second steps, 6 digits), as an
//! authenticator app computes them from a base32 secret. The runner enrolls the seeded staff
//! account's authenticator with it, and the journeys answer second-factor challenges with it.

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

/// A base32 secret that is not RFC 4648 base32.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a base32 secret")]
pub struct BadSecret;

/// The code of `secret` (base32, as authenticator apps take it) at `unix_seconds`.
///
/// # Errors
/// [`BadSecret`] when the secret is not base32.
pub fn code_at(secret: &str, unix_seconds: i64) -> Result<String, BadSecret> {
    let key = base32_decode(secret)?;
    let step = u64::try_from(unix_seconds.div_euclid(30)).map_err(|_| BadSecret)?;
    let mut mac = Hmac::<Sha1>::new_from_slice(&key).map_err(|_| BadSecret)?;
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[digest.len() - 1] & 0x0f);
    let word = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    Ok(format!("{:06}", word % 1_000_000))
}

/// The current code of `secret`.
///
/// # Errors
/// [`BadSecret`] when the secret is not base32.
pub fn code_now(secret: &str) -> Result<String, BadSecret> {
    code_at(secret, jiff::Timestamp::now().as_second())
}

fn base32_decode(secret: &str) -> Result<Vec<u8>, BadSecret> {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bits: u64 = 0;
    let mut count = 0;
    let mut out = Vec::new();
    for c in secret.chars().filter(|c| !c.is_whitespace() && *c != '=') {
        let value = ALPHABET
            .iter()
            .position(|a| char::from(*a) == c.to_ascii_uppercase())
            .ok_or(BadSecret)?;
        bits = (bits << 5) | value as u64;
        count += 5;
        if count >= 8 {
            count -= 8;
            out.push(((bits >> count) & 0xff) as u8);
        }
    }
    if out.is_empty() {
        return Err(BadSecret);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_the_rfc_6238_test_vectors() {
        // The RFC's SHA-1 secret "12345678901234567890", base32-encoded; its 8-digit values
        // end in these 6 digits.
        let secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
        assert_eq!(code_at(secret, 59).unwrap(), "287082");
        assert_eq!(code_at(secret, 1_111_111_109).unwrap(), "081804");
        assert_eq!(code_at(secret, 2_000_000_000).unwrap(), "279037");
        assert!(code_at("not base32!", 0).is_err());
    }
}
