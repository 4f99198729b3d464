//! Validated values more than one service needs: the CPF and the e-mail address (accounts
//! registers them, hospitals send them with their exams) and the key that links the two sides.

use std::fmt;

/// Why a raw input is not a valid value; the message is shown next to the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

/// An [`InvalidValue`] with this message.
pub fn invalid(message: &str) -> InvalidValue {
    InvalidValue(message.to_string())
}

/// A Brazilian taxpayer id (CPF): eleven digits with valid check digits, stored unformatted.
/// It identifies a person: `Debug` masks it and nothing logs it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Cpf(String);

impl Cpf {
    /// Accepts `52998224725` or `529.982.247-25`.
    ///
    /// # Errors
    /// When the digits are not eleven, are all equal, or the check digits do not match.
    pub fn parse(raw: &str) -> Result<Cpf, InvalidValue> {
        let trimmed = raw.trim();
        if !trimmed
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == '-')
        {
            return Err(invalid(
                "CPF must contain only digits (dots and dash allowed).",
            ));
        }
        let digits: Vec<u32> = trimmed.chars().filter_map(|c| c.to_digit(10)).collect();
        if digits.len() != 11 {
            return Err(invalid("CPF must have 11 digits."));
        }
        if digits.iter().all(|d| *d == digits[0]) {
            return Err(invalid("CPF check digits are invalid."));
        }
        let check = |len: usize| -> u32 {
            let sum: u32 = digits[..len]
                .iter()
                .zip((2..=len as u32 + 1).rev())
                .map(|(d, w)| d * w)
                .sum();
            let rest = (sum * 10) % 11;
            if rest == 10 { 0 } else { rest }
        };
        if check(9) != digits[9] || check(10) != digits[10] {
            return Err(invalid("CPF check digits are invalid."));
        }
        Ok(Cpf(digits
            .iter()
            .filter_map(|d| char::from_digit(*d, 10))
            .collect()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Cpf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cpf(*********{})", self.0.get(9..).unwrap_or("??"))
    }
}

/// A normalised (trimmed, lower-case) e-mail address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// # Errors
    /// When the address is not of the form `local@domain.tld` within RFC 5321 lengths.
    pub fn parse(raw: &str) -> Result<Email, InvalidValue> {
        let value = raw.trim().to_lowercase();
        let Some((local, domain)) = value.split_once('@') else {
            return Err(invalid("E-mail must look like name@example.com."));
        };
        let ok_chars = |s: &str| {
            s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c))
        };
        let domain_ok = domain.contains('.')
            && !domain.starts_with(['.', '-'])
            && !domain.ends_with(['.', '-'])
            && !domain.contains("..")
            && domain
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
        if value.len() > 254
            || local.is_empty()
            || local.len() > 64
            || local.starts_with('.')
            || local.ends_with('.')
            || local.contains("..")
            || !ok_chars(local)
            || !domain_ok
        {
            return Err(invalid("E-mail must look like name@example.com."));
        }
        Ok(Email(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The key that links a hospital's record of a patient to an account: the CPF together with an
/// e-mail address. Accounts announce it only for an e-mail the person *verified* (confirmed sign-up);
/// hospitals send the CPF and the e-mail they have on file. Both sides hash the same normalised
/// values, so only a person who controls the address the hospital knows can match — a typed CPF
/// alone never does. Domain-separated SHA-256, hex.
pub fn patient_match_key(cpf: &Cpf, email: &Email) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(b"clinic.patient-match.v1\n");
    hasher.update(cpf.as_str().as_bytes());
    hasher.update(b"\n");
    hasher.update(email.as_str().as_bytes());
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn match_keys_need_the_same_cpf_and_the_same_address() {
        let cpf = Cpf::parse("529.982.247-25").unwrap();
        let other_cpf = Cpf::parse("11144477735").unwrap();
        let email = Email::parse("Ana@Example.com").unwrap();
        let other_email = Email::parse("eve@example.com").unwrap();
        let key = patient_match_key(&cpf, &email);
        assert_eq!(key.len(), 64);
        assert_eq!(
            key,
            patient_match_key(
                &Cpf::parse("52998224725").unwrap(),
                &Email::parse(" ana@example.COM").unwrap()
            )
        );
        assert_ne!(key, patient_match_key(&cpf, &other_email));
        assert_ne!(key, patient_match_key(&other_cpf, &email));
    }

    #[test]
    fn email_normalises_and_rejects_garbage() {
        assert_eq!(
            Email::parse(" Ana.Souza@Example.COM ").unwrap().as_str(),
            "ana.souza@example.com"
        );
        for bad in [
            "",
            "ana",
            "ana@",
            "@x.com",
            "ana@x",
            "ana@@x.com",
            "a b@x.com",
            "ana@x..com",
            ".ana@x.com",
            "ana@-x.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn cpf_accepts_valid_numbers_with_or_without_punctuation() {
        assert_eq!(Cpf::parse("52998224725").unwrap().as_str(), "52998224725");
        assert_eq!(
            Cpf::parse("529.982.247-25").unwrap().as_str(),
            "52998224725"
        );
        assert_eq!(
            Cpf::parse(" 111.444.777-35 ").unwrap().as_str(),
            "11144477735"
        );
    }

    #[test]
    fn cpf_rejects_bad_check_digits_lengths_and_repeats() {
        for bad in [
            "52998224724",
            "52998224715",
            "5299822472",
            "529982247250",
            "11111111111",
            "abc",
            "",
            "529 982 247 25",
        ] {
            assert!(Cpf::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn cpf_debug_masks_digits() {
        assert_eq!(
            format!("{:?}", Cpf::parse("52998224725").unwrap()),
            "Cpf(*********25)"
        );
    }
}
