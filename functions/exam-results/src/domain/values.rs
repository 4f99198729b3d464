//! Validated values of the exam results domain ("parse, don't validate"): once one of these
//! exists it is well formed, so nothing downstream re-checks raw strings.

use std::fmt;

use jiff::{SignedDuration, Timestamp};

use clinic_shared::values::invalid;
pub use clinic_shared::values::{Cpf, Email, InvalidValue};

/// An exam type of the catalogue, e.g. `blood-count` or `chest-x-ray`: a lower-case slug of 2 to
/// 40 characters (letters, digits, single dashes).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExamType(String);

impl ExamType {
    /// Trims and lower-cases, then checks the slug form.
    ///
    /// # Errors
    /// When the result is not a slug of 2 to 40 characters.
    pub fn parse(raw: &str) -> Result<ExamType, InvalidValue> {
        let value = raw.trim().to_ascii_lowercase();
        let ok = (2..=40).contains(&value.len())
            && value
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !value.starts_with('-')
            && !value.ends_with('-')
            && !value.contains("--");
        if ok {
            Ok(ExamType(value))
        } else {
            Err(invalid(
                "examType must be 2 to 40 letters, digits and single dashes, e.g. blood-count.",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A patient match key from an event: 64 lower-case hex digits (a SHA-256).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchKey(String);

impl MatchKey {
    /// # Errors
    /// When it is not 64 lower-case hex digits.
    pub fn parse(raw: &str) -> Result<MatchKey, InvalidValue> {
        if raw.len() == 64
            && raw
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
        {
            Ok(MatchKey(raw.to_string()))
        } else {
            Err(invalid("matchKey must be 64 lower-case hex digits."))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An opaque id taken from a path, a query or an event (exam, slot, hospital, batch, doctor,
/// account): 1 to 100 characters among letters, digits, `-` and `_`. Anything else cannot be an
/// id this service issued, and must never reach a key expression (`#` separates key parts).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(String);

impl Id {
    /// # Errors
    /// When empty, longer than 100 characters or holding other characters.
    pub fn parse(raw: &str) -> Result<Id, InvalidValue> {
        let value = raw.trim();
        if (1..=100).contains(&value.len())
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            Ok(Id(value.to_string()))
        } else {
            Err(invalid(
                "must be 1 to 100 letters, digits, dashes or underscores.",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A hospital's own id for an exam: 1 to 64 visible characters among letters, digits and
/// `. _ : / -`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExternalId(String);

impl ExternalId {
    /// # Errors
    /// When empty, longer than 64 characters or holding other characters.
    pub fn parse(raw: &str) -> Result<ExternalId, InvalidValue> {
        let value = raw.trim();
        if (1..=64).contains(&value.len())
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._:/-".contains(c))
        {
            Ok(ExternalId(value.to_string()))
        } else {
            Err(invalid(
                "externalId must be 1 to 64 letters, digits or . _ : / -.",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A doctor's registration as a hospital sends it, e.g. `123456/SP`: 1 to 20 characters among
/// letters, digits, `/` and `-`. Kept as given; assignment to a doctor account is a separate step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoctorCrm(String);

impl DoctorCrm {
    /// # Errors
    /// When empty, too long or holding other characters.
    pub fn parse(raw: &str) -> Result<DoctorCrm, InvalidValue> {
        let value = raw.trim().to_ascii_uppercase();
        if (1..=20).contains(&value.len())
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '/' || c == '-')
        {
            Ok(DoctorCrm(value))
        } else {
            Err(invalid(
                "doctorCrm must be 1 to 20 letters, digits, / or -, e.g. 123456/SP.",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The version a hospital gives each state of an exam it pushes; a higher one wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(u64);

impl Version {
    /// The largest version accepted: every version fits a DynamoDB number and a JSON number
    /// exactly.
    pub const MAX: u64 = (1 << 53) - 1;

    /// # Errors
    /// When below 1 or above [`Version::MAX`].
    pub fn new(raw: u64) -> Result<Version, InvalidValue> {
        if (1..=Self::MAX).contains(&raw) {
            Ok(Version(raw))
        } else {
            Err(invalid("version must be a whole number from 1."))
        }
    }

    pub fn get(self) -> u64 {
        self.0
    }
}

/// Places in a slot: 0 (closed) to 1000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Capacity(u32);

impl Capacity {
    pub const MAX: u32 = 1000;

    /// # Errors
    /// When above [`Capacity::MAX`].
    pub fn new(raw: u64) -> Result<Capacity, InvalidValue> {
        u32::try_from(raw)
            .ok()
            .filter(|c| *c <= Self::MAX)
            .map(Capacity)
            .ok_or_else(|| invalid("capacity must be a whole number from 0 to 1000."))
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

/// A point in time as this service stores it: whole seconds, UTC. Stored as fixed-width RFC 3339
/// (`2025-03-12T19:00:00Z`), so that text order is time order in sort keys.
pub fn whole_seconds(ts: Timestamp) -> Timestamp {
    Timestamp::from_second(ts.as_second()).unwrap_or(ts)
}

/// The sort-key text of a timestamp (fixed width, seconds, `Z`).
pub fn time_key(ts: Timestamp) -> String {
    whole_seconds(ts).strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Parses an RFC 3339 timestamp with an offset (`Z` or `±hh:mm`), kept to whole seconds.
///
/// # Errors
/// When the text is not such a timestamp.
pub fn parse_time(raw: &str, field: &str) -> Result<Timestamp, InvalidValue> {
    raw.trim()
        .parse::<Timestamp>()
        .map(whole_seconds)
        .map_err(|_| {
            InvalidValue(format!(
                "{field} must be an RFC 3339 timestamp, e.g. 2025-03-12T19:00:00Z."
            ))
        })
}

/// When a slot runs: start before end, at most 24 hours long, starting in the future.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: Timestamp,
    pub end: Timestamp,
}

impl Window {
    /// Longest slot.
    pub const MAX_LENGTH: SignedDuration = SignedDuration::from_hours(24);

    /// # Errors
    /// `(field, message)` for the first rule broken.
    pub fn new(
        start: Timestamp,
        end: Timestamp,
        now: Timestamp,
    ) -> Result<Window, (&'static str, InvalidValue)> {
        if start <= now {
            return Err(("start", invalid("start must be in the future.")));
        }
        if end <= start {
            return Err(("end", invalid("end must be after start.")));
        }
        if end.duration_since(start) > Self::MAX_LENGTH {
            return Err(("end", invalid("a slot lasts at most 24 hours.")));
        }
        Ok(Window { start, end })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpf_check_digits() {
        assert_eq!(
            Cpf::parse("529.982.247-25").unwrap().as_str(),
            "52998224725"
        );
        for bad in ["52998224724", "11111111111", "123", "5299822472a", ""] {
            assert!(Cpf::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            format!("{:?}", Cpf::parse("52998224725").unwrap()),
            "Cpf(*********25)"
        );
    }

    #[test]
    fn exam_types_are_slugs() {
        assert_eq!(
            ExamType::parse(" Blood-Count ").unwrap().as_str(),
            "blood-count"
        );
        for bad in ["a", "-x", "x-", "a--b", "raio x", "ç-x", &"a".repeat(41)] {
            assert!(ExamType::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ids_refuse_key_separators() {
        assert!(Id::parse("01JP5VVYSG7WD2PF2DBSQQ10CJ").is_ok());
        for bad in ["", "a#b", "a/b", "a b", &"x".repeat(101)] {
            assert!(Id::parse(bad).is_err(), "{bad}");
        }
        assert!(ExternalId::parse("LAB-2025/0001:a").is_ok());
        assert!(ExternalId::parse("a#b").is_err());
        assert_eq!(DoctorCrm::parse("123456/sp").unwrap().as_str(), "123456/SP");
    }

    #[test]
    fn versions_and_capacities() {
        assert!(Version::new(0).is_err());
        assert!(Version::new(1).is_ok());
        assert!(Version::new(Version::MAX + 1).is_err());
        assert_eq!(Capacity::new(0).unwrap().get(), 0);
        assert!(Capacity::new(1001).is_err());
        assert!(Capacity::new(u64::MAX).is_err());
    }

    #[test]
    fn time_keys_are_fixed_width_and_ordered() {
        let a = parse_time("2025-03-12T19:00:00.250Z", "x").unwrap();
        let b = parse_time("2025-03-12T16:00:01-03:00", "x").unwrap();
        assert_eq!(time_key(a), "2025-03-12T19:00:00Z");
        assert_eq!(time_key(b), "2025-03-12T19:00:01Z");
        assert!(time_key(a) < time_key(b));
        assert_eq!(a.to_string(), "2025-03-12T19:00:00Z");
        assert!(parse_time("12/03/2025", "scheduledAt").is_err());
    }

    #[test]
    fn windows() {
        let now = parse_time("2025-03-12T00:00:00Z", "x").unwrap();
        let at = |s: &str| parse_time(s, "x").unwrap();
        assert!(Window::new(at("2025-03-13T08:00:00Z"), at("2025-03-13T08:30:00Z"), now).is_ok());
        assert_eq!(
            Window::new(at("2025-03-11T08:00:00Z"), at("2025-03-11T09:00:00Z"), now)
                .unwrap_err()
                .0,
            "start"
        );
        assert_eq!(
            Window::new(at("2025-03-13T08:00:00Z"), at("2025-03-13T08:00:00Z"), now)
                .unwrap_err()
                .0,
            "end"
        );
        assert_eq!(
            Window::new(at("2025-03-13T08:00:00Z"), at("2025-03-14T09:00:00Z"), now)
                .unwrap_err()
                .0,
            "end"
        );
    }
}
