//! Validated values ("parse, don't validate"): ids, upload declarations and report filters.

use clinic_shared::envelope::ExamStatus;
use jiff::{SignedDuration, Timestamp, ToSpan};
use serde::{Deserialize, Serialize};

/// Largest file accepted for upload (20 MiB).
pub const MAX_UPLOAD_BYTES: u64 = 20 * 1024 * 1024;
/// Lifetime of every presigned URL this service mints (upload and download).
pub const PRESIGN_SECONDS: u64 = 300;
/// Longest date range of one report.
pub const MAX_REPORT_DAYS: i64 = 366;
/// Days a report is served after it was requested; the results bucket's lifecycle rule on
/// `reports/` and the report record's TTL use the same number.
pub const REPORT_RETENTION_DAYS: i64 = 30;

/// Why a raw value was refused (the message is user-facing).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

fn invalid(message: impl Into<String>) -> Invalid {
    Invalid(message.into())
}

/// A ULID-shaped id minted by this service (files, reports).
fn parse_ulid(raw: &str) -> Option<String> {
    ulid::Ulid::from_string(raw.trim())
        .ok()
        .map(|u| u.to_string())
}

/// Id of a file.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FileId(String);

impl FileId {
    pub fn new() -> Self {
        FileId(ulid::Ulid::new().to_string())
    }

    /// `None` for anything this service cannot have minted (answered as not found).
    pub fn parse(raw: &str) -> Option<Self> {
        parse_ulid(raw).map(FileId)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for FileId {
    fn default() -> Self {
        Self::new()
    }
}

/// Id of a report.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ReportId(String);

impl ReportId {
    pub fn new() -> Self {
        ReportId(ulid::Ulid::new().to_string())
    }

    /// `None` for anything this service cannot have minted (answered as not found).
    pub fn parse(raw: &str) -> Option<Self> {
        parse_ulid(raw).map(ReportId)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for ReportId {
    fn default() -> Self {
        Self::new()
    }
}

/// Id of an exam (minted by exam-results; opaque here, but bounded so it can sit in keys).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExamId(String);

impl ExamId {
    /// `None` for a value no exam can have (answered as not found).
    pub fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        let ok = (1..=64).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| ExamId(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Media types accepted for upload, with the magic bytes the content must start with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ContentType {
    #[serde(rename = "application/pdf")]
    Pdf,
    #[serde(rename = "image/png")]
    Png,
    #[serde(rename = "image/jpeg")]
    Jpeg,
}

impl ContentType {
    pub const ALL: [ContentType; 3] = [ContentType::Pdf, ContentType::Png, ContentType::Jpeg];

    pub fn as_str(self) -> &'static str {
        match self {
            ContentType::Pdf => "application/pdf",
            ContentType::Png => "image/png",
            ContentType::Jpeg => "image/jpeg",
        }
    }

    /// Reads a media type (case-insensitive, parameters ignored).
    ///
    /// # Errors
    /// [`Invalid`] for anything but PDF, PNG or JPEG.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let essence = raw
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == essence)
            .ok_or_else(|| invalid("contentType must be application/pdf, image/png or image/jpeg."))
    }
}

/// The name a file is shown under (never part of a storage key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileName(String);

impl FileName {
    /// # Errors
    /// [`Invalid`] when empty, longer than 200 characters, or holding path separators or control
    /// characters.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let name = raw.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(invalid("fileName must have 1 to 200 characters."));
        }
        if name
            .chars()
            .any(|c| c.is_control() || c == '/' || c == '\\' || c == '"')
            || name == "."
            || name == ".."
        {
            return Err(invalid(
                "fileName must not contain path separators, quotes or control characters.",
            ));
        }
        Ok(FileName(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A declared upload size in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadSize(u64);

/// Why a declared size was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    #[error("size must be at least 1 byte.")]
    Empty,
    #[error("size must be at most {MAX_UPLOAD_BYTES} bytes.")]
    TooLarge,
}

impl UploadSize {
    /// # Errors
    /// [`SizeError`] outside 1..=[`MAX_UPLOAD_BYTES`].
    pub fn parse(bytes: u64) -> Result<Self, SizeError> {
        match bytes {
            0 => Err(SizeError::Empty),
            n if n > MAX_UPLOAD_BYTES => Err(SizeError::TooLarge),
            n => Ok(UploadSize(n)),
        }
    }

    pub fn bytes(self) -> u64 {
        self.0
    }
}

/// Output format of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReportFormat {
    Xlsx,
    Pdf,
}

impl ReportFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportFormat::Xlsx => "xlsx",
            ReportFormat::Pdf => "pdf",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "xlsx" => Some(ReportFormat::Xlsx),
            "pdf" => Some(ReportFormat::Pdf),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ReportFormat::Xlsx => {
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            }
            ReportFormat::Pdf => "application/pdf",
        }
    }
}

/// Which exams a report covers: scheduled in `[from, to)`, optionally of one hospital and status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportFilters {
    pub from: Timestamp,
    pub to: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hospital_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ExamStatus>,
}

/// Reads a report bound: an RFC 3339 instant, or a date (`to` dates are inclusive: the bound is
/// the start of the next day).
///
/// # Errors
/// [`Invalid`] when it is neither.
pub fn parse_bound(raw: &str, end: bool) -> Result<Timestamp, Invalid> {
    if let Ok(ts) = raw.parse::<Timestamp>() {
        return Ok(ts);
    }
    let date: jiff::civil::Date = raw
        .parse()
        .map_err(|_| invalid("must be an RFC 3339 timestamp or a YYYY-MM-DD date."))?;
    let date = if end {
        date.checked_add(1.day())
            .map_err(|_| invalid("date out of range."))?
    } else {
        date
    };
    date.to_zoned(jiff::tz::TimeZone::UTC)
        .map(|z| z.timestamp())
        .map_err(|_| invalid("date out of range."))
}

impl ReportFilters {
    /// # Errors
    /// [`Invalid`] when `from` is not before `to` or the range is longer than a year.
    pub fn new(
        from: Timestamp,
        to: Timestamp,
        hospital_id: Option<String>,
        status: Option<ExamStatus>,
    ) -> Result<Self, Invalid> {
        if from >= to {
            return Err(invalid("filters.from must be before filters.to."));
        }
        if to.duration_since(from) > SignedDuration::from_hours(24 * MAX_REPORT_DAYS) {
            return Err(invalid(format!(
                "a report covers at most {MAX_REPORT_DAYS} days."
            )));
        }
        Ok(Self {
            from,
            to,
            hospital_id,
            status,
        })
    }

    /// The months (`YYYY-MM`, UTC) the range touches, in order: the date index is bucketed by
    /// month.
    pub fn months(&self) -> Vec<String> {
        let tz = jiff::tz::TimeZone::UTC;
        let start = self.from.to_zoned(tz.clone()).date().first_of_month();
        let last = (self.to - SignedDuration::from_nanos(1))
            .to_zoned(tz)
            .date()
            .first_of_month();
        let mut months = Vec::new();
        let mut month = start;
        while month <= last {
            months.push(month_key(month));
            match month.checked_add(1.month()) {
                Ok(next) => month = next,
                Err(_) => break,
            }
        }
        months
    }
}

/// `YYYY-MM` of a date.
pub fn month_key(date: jiff::civil::Date) -> String {
    format!("{:04}-{:02}", date.year(), date.month())
}

/// `YYYY-MM` (UTC) of an instant.
pub fn month_of(ts: Timestamp) -> String {
    month_key(ts.to_zoned(jiff::tz::TimeZone::UTC).date())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_ulids_or_not_found() {
        let id = FileId::new();
        assert_eq!(FileId::parse(id.as_str()), Some(id));
        assert_eq!(FileId::parse("../etc/passwd"), None);
        assert!(ExamId::parse("exm_01J9-abc").is_some());
        assert!(ExamId::parse("a/b").is_none());
        assert!(ExamId::parse("").is_none());
    }

    #[test]
    fn declarations_are_checked() {
        assert_eq!(
            ContentType::parse("Application/PDF; q=1"),
            Ok(ContentType::Pdf)
        );
        assert!(ContentType::parse("text/html").is_err());
        assert!(FileName::parse("laudo.pdf").is_ok());
        assert!(FileName::parse("../laudo.pdf").is_err());
        assert!(FileName::parse("").is_err());
        assert_eq!(UploadSize::parse(0), Err(SizeError::Empty));
        assert_eq!(
            UploadSize::parse(MAX_UPLOAD_BYTES + 1),
            Err(SizeError::TooLarge)
        );
        assert!(UploadSize::parse(MAX_UPLOAD_BYTES).is_ok());
    }

    #[test]
    fn report_ranges() {
        let from = parse_bound("2025-01-15", false).unwrap();
        let to = parse_bound("2025-03-01", true).unwrap();
        assert_eq!(to.to_string(), "2025-03-02T00:00:00Z");
        let filters = ReportFilters::new(from, to, None, None).unwrap();
        assert_eq!(filters.months(), ["2025-01", "2025-02", "2025-03"]);
        assert!(ReportFilters::new(to, from, None, None).is_err());
        let far = parse_bound("2027-01-01", false).unwrap();
        assert!(ReportFilters::new(from, far, None, None).is_err());
        let exact = ReportFilters::new(
            from,
            parse_bound("2025-02-01T00:00:00Z", true).unwrap(),
            None,
            None,
        )
        .unwrap();
        assert_eq!(exact.months(), ["2025-01"]);
        assert!(parse_bound("yesterday", false).is_err());
    }
}
