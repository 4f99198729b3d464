//! Validated values of the notifications domain: where a message goes (e-mail address, phone
//! number), through which channel, with which template, and how a delivery ended.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a raw value is not a valid domain value. Messages name no personal data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("not an e-mail address")]
    Email,
    #[error("not an international phone number (+ and 8 to 15 digits)")]
    Phone,
}

/// An e-mail address, as far as it can be told without asking the provider.
#[derive(Clone, PartialEq, Eq)]
pub struct EmailAddress(String);

impl EmailAddress {
    /// One `@` with a local part and a dotted domain, no spaces, at most 254 characters.
    ///
    /// # Errors
    /// [`ValueError::Email`].
    pub fn parse(raw: &str) -> Result<EmailAddress, ValueError> {
        let value = raw.trim();
        let (local, domain) = value.split_once('@').ok_or(ValueError::Email)?;
        let valid = !local.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains('@')
            && value.len() <= 254
            && !value.chars().any(|c| c.is_whitespace() || c.is_control());
        if valid {
            Ok(EmailAddress(value.to_string()))
        } else {
            Err(ValueError::Email)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Never prints the address (logs and panics must not carry it).
impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EmailAddress(***)")
    }
}

/// A phone number in international form: `+` and 8 to 15 digits. Whether the number exists or
/// can take SMS is for the provider to say (a refusal is a permanent failure).
#[derive(Clone, PartialEq, Eq)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// # Errors
    /// [`ValueError::Phone`].
    pub fn parse(raw: &str) -> Result<PhoneNumber, ValueError> {
        let value = raw.trim();
        let digits = value.strip_prefix('+').ok_or(ValueError::Phone)?;
        if (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
            Ok(PhoneNumber(value.to_string()))
        } else {
            Err(ValueError::Phone)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Never prints the number.
impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PhoneNumber(***)")
    }
}

/// How a message reaches a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Channel {
    Email,
    Sms,
}

impl Channel {
    pub const ALL: [Channel; 2] = [Channel::Email, Channel::Sms];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "EMAIL",
            Channel::Sms => "SMS",
        }
    }

    pub fn parse(raw: &str) -> Option<Channel> {
        Self::ALL.into_iter().find(|c| c.as_str() == raw)
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which message is sent (one template per kind of news, in every language).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TemplateId {
    /// `account.created`: welcome to a new patient or staff member.
    Welcome,
    /// `doctor.registered`: how a doctor signs in for the first time.
    DoctorFirstAccess,
    /// `exam.created` (scheduled): booking confirmation with hospital, date and time.
    BookingConfirmed,
    /// `exam.updated` to `CANCELLED`.
    BookingCancelled,
    /// `exam.completed`: the exam was performed; the result follows.
    ExamCompleted,
    /// `exam.result.ready`: a result is available in the portal (never the result itself).
    ResultReady,
    /// `report.completed`: the staff member's report can be downloaded.
    ReportReady,
    /// `account.signup_repeated`: someone tried to sign up with the address of an account that
    /// already exists (the sign-up itself answered as usual, so addresses cannot be probed).
    SignUpRepeated,
}

impl TemplateId {
    pub const ALL: [TemplateId; 8] = [
        TemplateId::Welcome,
        TemplateId::DoctorFirstAccess,
        TemplateId::BookingConfirmed,
        TemplateId::BookingCancelled,
        TemplateId::ExamCompleted,
        TemplateId::ResultReady,
        TemplateId::ReportReady,
        TemplateId::SignUpRepeated,
    ];

    /// The template's name, also its file name under `templates/<language>/`.
    pub fn as_str(self) -> &'static str {
        match self {
            TemplateId::Welcome => "welcome",
            TemplateId::DoctorFirstAccess => "doctor_first_access",
            TemplateId::BookingConfirmed => "booking_confirmed",
            TemplateId::BookingCancelled => "booking_cancelled",
            TemplateId::ExamCompleted => "exam_completed",
            TemplateId::ResultReady => "result_ready",
            TemplateId::ReportReady => "report_ready",
            TemplateId::SignUpRepeated => "sign_up_repeated",
        }
    }

    pub fn parse(raw: &str) -> Option<TemplateId> {
        Self::ALL.into_iter().find(|t| t.as_str() == raw)
    }

    /// Where in the portal the message points.
    pub fn portal_path(self) -> &'static str {
        match self {
            TemplateId::Welcome | TemplateId::DoctorFirstAccess => "/",
            TemplateId::BookingConfirmed
            | TemplateId::BookingCancelled
            | TemplateId::ExamCompleted
            | TemplateId::ResultReady => "/exams",
            TemplateId::ReportReady => "/reports",
            TemplateId::SignUpRepeated => "/signin",
        }
    }

    /// The channels the message may go on: a notice about an e-mail address goes to that
    /// address only.
    pub fn channels(self) -> &'static [Channel] {
        match self {
            TemplateId::SignUpRepeated => &[Channel::Email],
            _ => &Channel::ALL,
        }
    }
}

impl fmt::Display for TemplateId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How one (event, channel) delivery ended. Every one is final: a retried event skips it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeliveryStatus {
    /// The provider accepted the message.
    Sent,
    /// The provider refused it for good (invalid phone, unverified sender…); `reason` says why.
    Failed,
    /// Held back: the recipient already got the most messages allowed on this channel this hour.
    RateLimited,
    /// Not attempted (e.g. no contact data known for the recipient).
    Skipped,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Sent => "SENT",
            DeliveryStatus::Failed => "FAILED",
            DeliveryStatus::RateLimited => "RATE_LIMITED",
            DeliveryStatus::Skipped => "SKIPPED",
        }
    }

    pub fn parse(raw: &str) -> Option<DeliveryStatus> {
        [
            DeliveryStatus::Sent,
            DeliveryStatus::Failed,
            DeliveryStatus::RateLimited,
            DeliveryStatus::Skipped,
        ]
        .into_iter()
        .find(|s| s.as_str() == raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_addresses() {
        assert_eq!(
            EmailAddress::parse(" ana@example.com ").map(|e| e.as_str().to_string()),
            Ok("ana@example.com".to_string())
        );
        for bad in [
            "",
            "ana",
            "ana@",
            "@example.com",
            "ana@host",
            "a b@x.com",
            "a@b@c.com",
        ] {
            assert_eq!(EmailAddress::parse(bad), Err(ValueError::Email), "{bad}");
        }
        assert_eq!(
            format!("{:?}", EmailAddress::parse("ana@example.com")),
            "Ok(EmailAddress(***))"
        );
    }

    #[test]
    fn phone_numbers() {
        assert!(PhoneNumber::parse("+5511987654321").is_ok());
        for bad in [
            "5511987654321",
            "+55",
            "+55 11 98765",
            "+1234567890123456",
            "+55abc45678",
        ] {
            assert_eq!(PhoneNumber::parse(bad), Err(ValueError::Phone), "{bad}");
        }
        assert_eq!(
            format!("{:?}", PhoneNumber::parse("+5511987654321")),
            "Ok(PhoneNumber(***))"
        );
    }

    #[test]
    fn names_round_trip() {
        for t in TemplateId::ALL {
            assert_eq!(TemplateId::parse(t.as_str()), Some(t));
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
        for c in Channel::ALL {
            assert_eq!(Channel::parse(c.as_str()), Some(c));
            assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
        }
        for s in ["SENT", "FAILED", "RATE_LIMITED", "SKIPPED"] {
            let status = DeliveryStatus::parse(s).unwrap();
            assert_eq!(serde_json::to_value(status).unwrap(), s);
        }
    }
}
