//! Validated values of the accounts domain ("parse, don't validate"): once a value of these types
//! exists it is well formed, so nothing downstream re-checks raw strings.

use std::fmt;

use jiff::civil::Date;

use clinic_shared::values::invalid;
pub use clinic_shared::values::{Cpf, Email, InvalidValue};

/// A phone number in E.164 form (`+5511987654321`), as SMS delivery needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone(String);

impl Phone {
    /// # Errors
    /// When not `+` followed by 8 to 15 digits, the first not zero.
    pub fn parse(raw: &str) -> Result<Phone, InvalidValue> {
        let value = raw.trim();
        let digits = value.strip_prefix('+').unwrap_or("");
        if digits.len() < 8
            || digits.len() > 15
            || !digits.chars().all(|c| c.is_ascii_digit())
            || digits.starts_with('0')
        {
            return Err(invalid(
                "Phone must be in E.164 format, e.g. +5511987654321.",
            ));
        }
        Ok(Phone(value.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A person's or organisation's display name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(String);

impl Name {
    /// # Errors
    /// When shorter than 2 or longer than 120 characters, or holding control characters.
    pub fn parse(raw: &str) -> Result<Name, InvalidValue> {
        let value = raw.split_whitespace().collect::<Vec<_>>().join(" ");
        let count = value.chars().count();
        if !(2..=120).contains(&count) {
            return Err(invalid("Name must have between 2 and 120 characters."));
        }
        if value.chars().any(char::is_control) {
            return Err(invalid("Name must not contain control characters."));
        }
        Ok(Name(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A birth date: a real calendar date, not in the future, not before 1900.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BirthDate(Date);

impl BirthDate {
    /// # Errors
    /// When not `YYYY-MM-DD`, in the future, or before 1900-01-01.
    pub fn parse(raw: &str, today: Date) -> Result<BirthDate, InvalidValue> {
        let date: Date = raw
            .trim()
            .parse()
            .map_err(|_| invalid("Birth date must be a date in the form YYYY-MM-DD."))?;
        if date > today {
            return Err(invalid("Birth date cannot be in the future."));
        }
        if date.year() < 1900 {
            return Err(invalid("Birth date must be after 1900-01-01."));
        }
        Ok(BirthDate(date))
    }

    pub fn date(&self) -> Date {
        self.0
    }
}

/// A password that meets the user pool's policy (checked here too, so every broken rule is listed
/// with the other fields instead of one Cognito error at a time).
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// # Errors
    /// When shorter than 8 characters (or longer than 256) or missing a lower-case letter, an
    /// upper-case letter or a digit.
    pub fn parse(raw: &str) -> Result<Password, InvalidValue> {
        let long_enough = (8..=256).contains(&raw.chars().count());
        let lower = raw.chars().any(char::is_lowercase);
        let upper = raw.chars().any(char::is_uppercase);
        let digit = raw.chars().any(|c| c.is_ascii_digit());
        if !(long_enough && lower && upper && digit) {
            return Err(invalid(
                "Password must have at least 8 characters, with upper-case and lower-case letters and a digit.",
            ));
        }
        Ok(Password(raw.to_string()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// Brazilian federative units, where a doctor's CRM is registered.
const UFS: [&str; 27] = [
    "AC", "AL", "AP", "AM", "BA", "CE", "DF", "ES", "GO", "MA", "MT", "MS", "MG", "PA", "PB", "PR",
    "PE", "PI", "RJ", "RN", "RS", "RO", "RR", "SC", "SP", "SE", "TO",
];

/// A doctor's registration: CRM number and the UF of the regional council.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crm {
    number: String,
    uf: String,
}

impl Crm {
    /// # Errors
    /// Each part separately: `crm` not 4–10 digits, `uf` not a Brazilian state code.
    pub fn parse(number: &str, uf: &str) -> Result<Crm, Vec<(&'static str, InvalidValue)>> {
        let number = number.trim();
        let uf = uf.trim().to_uppercase();
        let mut errors = Vec::new();
        if !(4..=10).contains(&number.len()) || !number.chars().all(|c| c.is_ascii_digit()) {
            errors.push(("crm", invalid("CRM must have 4 to 10 digits.")));
        }
        if !UFS.contains(&uf.as_str()) {
            errors.push(("uf", invalid("UF must be a Brazilian state code, e.g. SP.")));
        }
        if errors.is_empty() {
            Ok(Crm {
                number: number.trim_start_matches('0').to_string(),
                uf,
            })
        } else {
            Err(errors)
        }
    }

    pub fn number(&self) -> &str {
        &self.number
    }

    pub fn uf(&self) -> &str {
        &self.uf
    }
}

/// A medical specialty as shown in the doctors' list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Specialty(String);

impl Specialty {
    /// # Errors
    /// When shorter than 2 or longer than 80 characters.
    pub fn parse(raw: &str) -> Result<Specialty, InvalidValue> {
        let value = raw.split_whitespace().collect::<Vec<_>>().join(" ");
        if !(2..=80).contains(&value.chars().count()) || value.chars().any(char::is_control) {
            return Err(invalid("Specialty must have between 2 and 80 characters."));
        }
        Ok(Specialty(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Case- and accent-insensitive key used to list doctors by specialty.
    pub fn key(&self) -> String {
        fold(&self.0)
    }
}

/// Lower-cases and strips Portuguese diacritics, so "Cardiologia" and "cardiológia" list together.
pub fn fold(raw: &str) -> String {
    raw.trim()
        .to_lowercase()
        .chars()
        .map(|c| match c {
            'á' | 'à' | 'â' | 'ã' | 'ä' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'í' | 'ì' | 'î' | 'ï' => 'i',
            'ó' | 'ò' | 'ô' | 'õ' | 'ö' => 'o',
            'ú' | 'ù' | 'û' | 'ü' => 'u',
            'ç' => 'c',
            other => other,
        })
        .collect()
}

/// A health establishment's national registry number (CNES): seven digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cnes(String);

impl Cnes {
    /// # Errors
    /// When not exactly seven digits.
    pub fn parse(raw: &str) -> Result<Cnes, InvalidValue> {
        let value = raw.trim();
        if value.len() != 7 || !value.chars().all(|c| c.is_ascii_digit()) {
            return Err(invalid("CNES must have exactly 7 digits."));
        }
        Ok(Cnes(value.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_must_be_e164() {
        assert!(Phone::parse("+5511987654321").is_ok());
        for bad in [
            "5511987654321",
            "+0511987654321",
            "+55 11 98765-4321",
            "+1234567",
            "+1234567890123456",
            "",
        ] {
            assert!(Phone::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn birth_date_rules() {
        let today: Date = "2026-11-25".parse().unwrap();
        assert!(BirthDate::parse("1990-04-12", today).is_ok());
        assert!(BirthDate::parse("2026-11-25", today).is_ok());
        assert!(BirthDate::parse("2026-11-26", today).is_err());
        assert!(BirthDate::parse("1899-12-31", today).is_err());
        assert!(BirthDate::parse("1990-02-30", today).is_err());
        assert!(BirthDate::parse("12/04/1990", today).is_err());
    }

    #[test]
    fn password_policy() {
        assert!(Password::parse("Passw0rdOk").is_ok());
        for bad in ["short1A", "alllowercase1", "ALLUPPERCASE1", "NoDigitsHere"] {
            assert!(Password::parse(bad).is_err(), "{bad} accepted");
        }
        assert_eq!(
            format!("{:?}", Password::parse("Passw0rdOk").unwrap()),
            "Password(***)"
        );
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(Name::parse("  Ana   Souza ").unwrap().as_str(), "Ana Souza");
        assert!(Name::parse("A").is_err());
        assert!(Name::parse(&"x".repeat(121)).is_err());
    }

    #[test]
    fn crm_and_uf_are_checked_separately() {
        let crm = Crm::parse("0123456", "sp").unwrap();
        assert_eq!((crm.number(), crm.uf()), ("123456", "SP"));
        let errors = Crm::parse("12a", "XX").unwrap_err();
        assert_eq!(
            errors.iter().map(|(f, _)| *f).collect::<Vec<_>>(),
            vec!["crm", "uf"]
        );
    }

    #[test]
    fn cnes_and_specialty() {
        assert!(Cnes::parse("2077485").is_ok());
        assert!(Cnes::parse("207748").is_err());
        assert_eq!(
            Specialty::parse("Cardiológia").unwrap().key(),
            "cardiologia"
        );
        assert!(Specialty::parse("x").is_err());
    }
}
