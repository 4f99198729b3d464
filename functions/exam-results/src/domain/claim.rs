//! Access codes: the "protocolo + senha" a hospital prints on the patient's receipt. Holding the
//! code is the proof that lets a patient account claim an exam the hospital pushed — never a CPF
//! somebody typed.
//!
//! A code is 16 characters of Crockford's base32 (80 random bits), shown as `ABCD-EFGH-JKMN-PQRS`:
//! the first 8 characters are the protocol (the lookup key, not secret), the last 8 the secret.
//! Only a SHA-256 digest of the secret is kept with the exam's claim record, compared in constant
//! time. Codes are single-use, expire, and lock after a few wrong secrets.

use jiff::{SignedDuration, Timestamp};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::values::InvalidValue;

/// Crockford's base32 alphabet: no I, L, O or U, so a code read aloud or typed is unambiguous.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const PROTOCOL_LEN: usize = 8;
const CODE_LEN: usize = 16;

/// How long a code can be claimed after the exam was pushed.
pub const CODE_LIFETIME_DAYS: i64 = 90;
/// Wrong secrets after which a code is locked for good (the hospital issues a new receipt).
pub const MAX_FAILED_ATTEMPTS: u32 = 5;
/// Failed claims one account may make per hour.
pub const CLAIM_FAILURES_PER_HOUR: u32 = 10;

/// A well-formed access code (not yet checked against anything).
#[derive(Clone, PartialEq, Eq)]
pub struct AccessCode(String);

impl std::fmt::Debug for AccessCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AccessCode({}-********)", self.protocol())
    }
}

impl AccessCode {
    /// Reads a code as a person types it: case, dashes and spaces do not matter, and the letters
    /// Crockford reads as digits (`O` → 0, `I`/`L` → 1) are read so.
    ///
    /// # Errors
    /// When it is not 16 characters of the alphabet.
    pub fn parse(raw: &str) -> Result<AccessCode, InvalidValue> {
        let mut code = String::with_capacity(CODE_LEN);
        for c in raw.chars() {
            let c = match c.to_ascii_uppercase() {
                '-' | ' ' => continue,
                'O' => '0',
                'I' | 'L' => '1',
                other => other,
            };
            if !c.is_ascii() || !ALPHABET.contains(&(c as u8)) || code.len() == CODE_LEN {
                return Err(InvalidValue(
                    "accessCode must be the 16 letters and digits printed on the receipt.".into(),
                ));
            }
            code.push(c);
        }
        if code.len() != CODE_LEN {
            return Err(InvalidValue(
                "accessCode must be the 16 letters and digits printed on the receipt.".into(),
            ));
        }
        Ok(AccessCode(code))
    }

    /// A fresh code from the operating system's random source.
    ///
    /// # Errors
    /// When the random source fails.
    pub fn generate() -> Result<AccessCode, InvalidValue> {
        let mut bytes = [0u8; 10];
        getrandom::fill(&mut bytes)
            .map_err(|e| InvalidValue(format!("random source failed: {e}")))?;
        let bits = bytes
            .iter()
            .fold(0u128, |acc, b| (acc << 8) | u128::from(*b));
        let code = (0..CODE_LEN)
            .rev()
            .map(|i| ALPHABET[((bits >> (i * 5)) & 31) as usize] as char)
            .collect();
        Ok(AccessCode(code))
    }

    /// The lookup part.
    pub fn protocol(&self) -> &str {
        &self.0[..PROTOCOL_LEN]
    }

    /// SHA-256 (hex) of the secret part: what is stored.
    pub fn secret_digest(&self) -> String {
        hex::encode(Sha256::digest(self.0[PROTOCOL_LEN..].as_bytes()))
    }

    /// `ABCD-EFGH-JKMN-PQRS`, as printed on the receipt.
    pub fn display(&self) -> String {
        let groups: Vec<&str> = (0..CODE_LEN)
            .step_by(4)
            .map(|i| &self.0[i..i + 4])
            .collect();
        groups.join("-")
    }
}

/// The stored side of a code: which exam it opens and its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExamClaim {
    pub protocol: String,
    pub exam_id: String,
    pub secret_digest: String,
    pub issued_at: Timestamp,
    pub expires_at: Timestamp,
    pub failed_attempts: u32,
    /// The account that claimed it (codes are single-use).
    pub claimed_by: Option<String>,
}

impl ExamClaim {
    /// The record for a code issued now for an exam.
    pub fn issue(code: &AccessCode, exam_id: &str, now: Timestamp) -> ExamClaim {
        ExamClaim {
            protocol: code.protocol().to_string(),
            exam_id: exam_id.to_string(),
            secret_digest: code.secret_digest(),
            issued_at: now,
            expires_at: now + SignedDuration::from_hours(24 * CODE_LIFETIME_DAYS),
            failed_attempts: 0,
            claimed_by: None,
        }
    }

    /// Whether the code opens this claim for `account` at `now`. The secret is compared in
    /// constant time, and only after the cheap checks, which do not depend on the secret.
    pub fn check(&self, code: &AccessCode, account: &str, now: Timestamp) -> ClaimCheck {
        if self.failed_attempts >= MAX_FAILED_ATTEMPTS {
            return ClaimCheck::Locked;
        }
        let digest = code.secret_digest();
        let same: bool = digest
            .as_bytes()
            .ct_eq(self.secret_digest.as_bytes())
            .into();
        if !same {
            return ClaimCheck::WrongSecret;
        }
        match &self.claimed_by {
            Some(owner) if owner == account => ClaimCheck::AlreadyYours,
            Some(_) => ClaimCheck::Used,
            None if now >= self.expires_at => ClaimCheck::Expired,
            None => ClaimCheck::Valid,
        }
    }
}

/// What checking a code found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimCheck {
    Valid,
    /// This account claimed it before (a retried request): answer as the first time.
    AlreadyYours,
    WrongSecret,
    Locked,
    Expired,
    Used,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-03-01T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn codes_are_read_as_people_type_them() {
        let code = AccessCode::parse("abcd-efgh-jkmn-pqrs").unwrap();
        assert_eq!(code.display(), "ABCD-EFGH-JKMN-PQRS");
        assert_eq!(code.protocol(), "ABCDEFGH");
        assert_eq!(AccessCode::parse(" ABCDEFGH JKMNPQRS ").unwrap(), code);
        assert_eq!(
            AccessCode::parse("O1IL-0000-0000-0000").unwrap().display(),
            "0111-0000-0000-0000"
        );
        for bad in [
            "",
            "ABCD",
            "ABCD-EFGH-JKMN-PQRSX",
            "ABCD-EFGH-JKMN-PQRU",
            "ÁBCD-EFGH-JKMN-PQRS",
        ] {
            assert!(AccessCode::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn generated_codes_are_well_formed_and_differ() {
        let a = AccessCode::generate().unwrap();
        let b = AccessCode::generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(AccessCode::parse(&a.display()).unwrap(), a);
        assert!(!format!("{a:?}").contains(&a.display()[10..]));
    }

    #[test]
    fn a_claim_opens_once_for_its_code_until_it_expires_or_locks() {
        let code = AccessCode::parse("ABCD-EFGH-JKMN-PQRS").unwrap();
        let wrong = AccessCode::parse("ABCD-EFGH-JKMN-PQRT").unwrap();
        let mut claim = ExamClaim::issue(&code, "x1", now());
        assert!(!claim.secret_digest.contains("JKMN"));
        assert_eq!(claim.check(&code, "acc-1", now()), ClaimCheck::Valid);
        assert_eq!(claim.check(&wrong, "acc-1", now()), ClaimCheck::WrongSecret);
        let later = now() + SignedDuration::from_hours(24 * CODE_LIFETIME_DAYS);
        assert_eq!(claim.check(&code, "acc-1", later), ClaimCheck::Expired);
        claim.claimed_by = Some("acc-1".into());
        assert_eq!(claim.check(&code, "acc-1", now()), ClaimCheck::AlreadyYours);
        assert_eq!(claim.check(&code, "acc-2", now()), ClaimCheck::Used);
        assert_eq!(claim.check(&wrong, "acc-1", now()), ClaimCheck::WrongSecret);
        claim.failed_attempts = MAX_FAILED_ATTEMPTS;
        assert_eq!(claim.check(&code, "acc-1", now()), ClaimCheck::Locked);
    }
}
