//! Accounts as stored and returned: people (patients, doctors, staff) and hospitals.

use clinic_shared::envelope::{Preferences, Role};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Lifecycle of a person's account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AccountStatus {
    /// Signed up, e-mail not yet confirmed.
    PendingConfirmation,
    /// Created by staff; the first sign-in must set a new password.
    Invited,
    Active,
    /// Erased on the person's request (LGPD); only the id and dates remain.
    Deleted,
}

/// A person's profile. Personal fields are `None` once the account is erased.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    pub id: String,
    pub role: Role,
    pub status: AccountStatus,
    pub email: Option<String>,
    pub name: Option<String>,
    pub cpf: Option<String>,
    pub birth_date: Option<String>,
    pub phone: Option<String>,
    pub preferences: Preferences,
    pub crm: Option<String>,
    pub uf: Option<String>,
    pub specialty: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub deleted_at: Option<Timestamp>,
}

impl Profile {
    pub fn is_deleted(&self) -> bool {
        self.status == AccountStatus::Deleted
    }

    /// The profile with every personal field removed, as kept after an erasure.
    pub fn anonymised(&self, now: Timestamp) -> Profile {
        Profile {
            id: self.id.clone(),
            role: self.role,
            status: AccountStatus::Deleted,
            email: None,
            name: None,
            cpf: None,
            birth_date: None,
            phone: None,
            preferences: Preferences {
                email: false,
                sms: false,
                language: self.preferences.language,
            },
            crm: None,
            uf: None,
            specialty: None,
            created_at: self.created_at,
            updated_at: now,
            deleted_at: Some(now),
        }
    }
}

/// A hospital and the machine client it pushes exams with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hospital {
    pub id: String,
    pub name: String,
    pub cnes: String,
    pub client_id: String,
    pub created_at: Timestamp,
}

/// What anyone signed in may see of a doctor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DoctorSummary {
    pub id: String,
    pub name: String,
    pub crm: String,
    pub uf: String,
    pub specialty: String,
}

pub use clinic_shared::pagination::Page;

/// A value that must be unique across accounts; held by a claim item in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    Cpf(String),
    Email(String),
    Crm { uf: String, number: String },
    Cnes(String),
}

impl Claim {
    /// The request field a conflict on this claim is reported against.
    pub fn field(&self) -> &'static str {
        match self {
            Claim::Cpf(_) => "cpf",
            Claim::Email(_) => "email",
            Claim::Crm { .. } => "crm",
            Claim::Cnes(_) => "cnes",
        }
    }
}

/// Tokens issued on sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tokens {
    pub id_token: String,
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_in: i32,
    /// The groups (roles) the access token carries, as the identity provider issued it.
    pub groups: Vec<String>,
}

/// Tokens held back until a staff member or doctor has set an authenticator app up, and whose
/// sign-in they belong to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingMfaSetup {
    pub username: String,
    pub tokens: Tokens,
    pub expires_at: jiff::Timestamp,
}

/// Result of a password sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignIn {
    Tokens(Tokens),
    /// Accounts created by staff must choose a password first.
    NewPasswordRequired {
        session: String,
    },
    /// The account has an authenticator app: its current code is the second factor.
    MfaRequired {
        session: String,
    },
    /// Staff and doctors must set an authenticator app up (TOTP) before any token: add `secret`
    /// to the app, then answer with its current code.
    MfaSetup {
        session: String,
        secret: String,
    },
}

/// A hospital's client-credentials app client. The secret is shown once, never stored by us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineClient {
    pub client_id: String,
    pub client_secret: String,
}

/// Who holds a unique value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimHolder {
    /// An account being created right now (or an attempt that crashed, until it goes stale).
    Reserved,
    /// This account.
    Bound(String),
}

/// What a patient sign-up did. The caller gets the same answer for every one of them, so a
/// sign-up never tells whether an e-mail address is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignUpOutcome {
    /// A new unconfirmed account with this id; nothing is announced until it is confirmed.
    Created(String),
    /// The address has a sign-up waiting for confirmation (or one being made): nothing changed.
    AlreadyPending,
    /// The address belongs to a confirmed account: its owner is told by e-mail (at most once an
    /// hour), nothing else changed.
    OwnerNotified,
}

/// What the identity provider knows of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityUser {
    pub id: String,
    pub confirmed: bool,
}
