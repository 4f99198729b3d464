//! Validated values more than one service needs. The CPF identifies a person across the
//! clinic (accounts registers it, exam-results links hospital exams by it), so its rules live once.

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

#[cfg(test)]
mod tests {
    use super::*;

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
