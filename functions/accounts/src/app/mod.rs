//! Use cases of the accounts service. Each one validates nothing raw (it receives parsed values),
//! talks to the ports only, and leaves no half-made account behind when a step fails: creating an
//! account reserves its unique values first, then creates the identity, then commits the profile
//! with its events; a failure undoes the earlier steps.

use clinic_shared::auth::Caller;
use clinic_shared::clock::{self, SharedClock};
use clinic_shared::envelope::{
    AccountCreated, AccountDeleted, AccountUpdated, DoctorRegistered, Envelope, EventData,
    EventType, HospitalRegistered, Language, PatientRegistered, Preferences, Role, SignUpRepeated,
};
use clinic_shared::values::patient_match_key;
use jiff::Timestamp;
use ulid::Ulid;

use crate::domain::error::{IdentityError, StoreError};
use crate::domain::values::{BirthDate, Cnes, Cpf, Crm, Email, Name, Password, Phone, Specialty};
use crate::domain::{
    AccountStatus, AccountStore, AccountsError, Claim, ClaimHolder, DoctorSummary, Hospital,
    IdentityProvider, MachineClient, Page, PendingMfaSetup, Profile, SignIn, SignUpOutcome, Tokens,
};

mod profile;
mod sessions;
mod sign_up;
mod staff;
#[cfg(test)]
mod tests;

pub use self::staff::{StaffOperation, authorize_staff};

/// Event source name of this service.
pub const SOURCE: &str = "clinic.accounts";

/// How long a sign-up may wait for its confirmation. Past it the sign-up can no longer be
/// confirmed and a new sign-up with the same address replaces it, so nobody can hold an address
/// they do not control. (Cognito's confirmation codes live as long.)
pub const PENDING_SIGN_UP_HOURS: i64 = 24;

/// At most one "someone tried to sign up with your address" e-mail per account in this time.
pub const REPEAT_NOTICE_HOURS: i64 = 1;

/// Roles (groups) that must answer an authenticator code (TOTP) before getting any token.
pub const MFA_GROUPS: [&str; 2] = ["staff", "doctors"];

/// How long a started authenticator setup waits for the app's first code.
const MFA_SETUP_MINUTES: i64 = 10;

/// A fresh, unguessable sign-in session handed to the person (256 random bits).
fn new_session() -> Result<String, AccountsError> {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| AccountsError::Internal(e.to_string()))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// What the store keeps of a session: its digest, so a leaked table item opens nothing.
fn session_key(session: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(session.as_bytes()))
}

/// Whether a sign-up waited longer than [`PENDING_SIGN_UP_HOURS`].
fn sign_up_expired(profile: &Profile, now: Timestamp) -> bool {
    now.duration_since(profile.created_at) > jiff::SignedDuration::from_hours(PENDING_SIGN_UP_HOURS)
}

/// Cognito groups per role.
pub fn group_of(role: Role) -> &'static str {
    match role {
        Role::Patient => "patients",
        Role::Doctor => "doctors",
        Role::Staff => "staff",
        Role::Hospital => "hospitals",
    }
}

/// A patient's sign-up, validated.
#[derive(Debug)]
pub struct NewPatient {
    pub email: Email,
    pub password: Password,
    pub name: Name,
    pub cpf: Cpf,
    pub birth_date: BirthDate,
    pub phone: Phone,
    pub preferences: Preferences,
}

/// A doctor registered by staff, validated.
#[derive(Debug)]
pub struct NewDoctor {
    pub email: Email,
    pub name: Name,
    pub crm: Crm,
    pub specialty: Specialty,
    pub temporary_password: Option<Password>,
}

/// A hospital registered by staff, validated.
#[derive(Debug)]
pub struct NewHospital {
    pub name: Name,
    pub cnes: Cnes,
}

/// Changes to one's own profile; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct ProfileChanges {
    pub name: Option<Name>,
    pub phone: Option<Phone>,
    pub email_notifications: Option<bool>,
    pub sms_notifications: Option<bool>,
    pub language: Option<Language>,
}

/// The accounts service over its two ports.
pub struct Accounts<I, S> {
    identity: I,
    store: S,
    clock: SharedClock,
}

clinic_shared::impl_with_clock!(Accounts<I, S>);

fn identity_unavailable(err: IdentityError) -> AccountsError {
    match err {
        IdentityError::TooManyRequests => AccountsError::Throttled,
        IdentityError::Unavailable(reason) => AccountsError::Unavailable(reason),
        other => AccountsError::Internal(other.to_string()),
    }
}

fn event<T: EventData>(subject: &str, data: T, trace: &str) -> Envelope {
    Envelope::new(SOURCE, subject, data, trace).into_raw()
}

impl<I: IdentityProvider, S: AccountStore> Accounts<I, S> {
    pub fn new(identity: I, store: S) -> Self {
        Self {
            identity,
            store,
            clock: clock::system(),
        }
    }

    /// Refuses an erased account on routes that change something, even while one of its
    /// access tokens has not expired yet. (Staff provisioned outside the API have no profile.)
    async fn ensure_not_erased(&self, caller: &Caller) -> Result<(), AccountsError> {
        match self.store.get_profile(&caller.id).await? {
            Some(profile) if profile.is_deleted() => Err(AccountsError::AccountErased),
            _ => Ok(()),
        }
    }

    /// Puts a newly created identity in its group and commits its profile; undoes the identity and
    /// the reservation when either fails.
    async fn finish_person(
        &self,
        profile: &Profile,
        claims: &[Claim],
        reservation: &str,
        events: &[Envelope],
    ) -> Result<(), AccountsError> {
        let result = async {
            self.identity
                .add_to_group(&profile.id, group_of(profile.role))
                .await
                .map_err(identity_unavailable)?;
            self.store
                .create_profile(profile, claims, reservation, events)
                .await
                .map_err(AccountsError::from)
        }
        .await;
        if let Err(err) = result {
            if let Err(undo) = self.identity.delete_user(&profile.id).await {
                tracing::error!(account_id = %profile.id, error = %undo, "could not undo identity of a failed account creation");
            }
            self.release_quietly(claims, reservation).await;
            return Err(err);
        }
        Ok(())
    }

    async fn release_quietly(&self, claims: &[Claim], reservation: &str) {
        // A reservation that cannot be released goes stale and is taken over by the next attempt.
        if let Err(err) = self.store.release(claims, reservation).await {
            tracing::warn!(error = %err, "could not release reservation; it will go stale");
        }
    }
}

fn account_created(profile: &Profile) -> AccountCreated {
    AccountCreated {
        account_id: profile.id.clone(),
        role: profile.role,
        email: profile.email.clone().unwrap_or_default(),
        phone: profile.phone.clone(),
        preferences: profile.preferences,
    }
}

fn map_creation_error(err: IdentityError) -> AccountsError {
    match err {
        IdentityError::UsernameExists => AccountsError::AlreadyUsed { field: "email" },
        IdentityError::InvalidPassword(reason) => AccountsError::field("password", reason),
        IdentityError::InvalidParameter(reason) => AccountsError::field("email", reason),
        other => identity_unavailable(other),
    }
}
