//! Ports: what the accounts use cases need from the identity provider and the store. Adapters in
//! `outbound` implement them with the AWS SDK; unit tests use in-memory fakes.

use std::future::Future;

use clinic_shared::envelope::Envelope;

use super::error::{IdentityError, StoreError};
use super::model::{
    Claim, ClaimHolder, DoctorSummary, Hospital, IdentityUser, MachineClient, Page,
    PendingMfaSetup, Profile, SignIn, Tokens,
};
use super::values::{Email, Password};

/// The user directory (Cognito in production).
pub trait IdentityProvider: Send + Sync {
    /// Self sign-up; returns the new user's id. The user must confirm before signing in.
    ///
    /// # Errors
    /// `UsernameExists`, `InvalidPassword`, `InvalidParameter`, `Unavailable`.
    fn sign_up(
        &self,
        email: &Email,
        password: &Password,
    ) -> impl Future<Output = Result<String, IdentityError>> + Send;

    /// Creates a user on someone else's behalf (staff registering a doctor); without a temporary
    /// password the provider generates one and e-mails it. Returns the user id.
    ///
    /// # Errors
    /// `UsernameExists`, `InvalidPassword`, `Unavailable`.
    fn create_user(
        &self,
        email: &Email,
        temporary_password: Option<&Password>,
    ) -> impl Future<Output = Result<String, IdentityError>> + Send;

    /// Looks a user up by username (e-mail) or id.
    ///
    /// # Errors
    /// `Unavailable`.
    fn find_user(
        &self,
        username: &str,
    ) -> impl Future<Output = Result<Option<IdentityUser>, IdentityError>> + Send;

    /// Revokes every refresh token of the user (sign-out on every device).
    ///
    /// # Errors
    /// `UserNotFound`, `Unavailable`.
    fn sign_out_everywhere(
        &self,
        username: &str,
    ) -> impl Future<Output = Result<(), IdentityError>> + Send;

    /// # Errors
    /// `UserNotFound`, `Unavailable`.
    fn add_to_group(
        &self,
        username: &str,
        group: &str,
    ) -> impl Future<Output = Result<(), IdentityError>> + Send;

    /// Deletes the user; deleting one that does not exist succeeds.
    ///
    /// # Errors
    /// `Unavailable`.
    fn delete_user(&self, username: &str)
    -> impl Future<Output = Result<(), IdentityError>> + Send;

    /// # Errors
    /// `CodeMismatch`, `ExpiredCode`, `UserNotFound`, `NotAuthorized` (already confirmed), `Unavailable`.
    fn confirm_sign_up(
        &self,
        email: &Email,
        code: &str,
    ) -> impl Future<Output = Result<(), IdentityError>> + Send;

    /// # Errors
    /// `NotAuthorized`, `UserNotFound`, `UserNotConfirmed`, `TooManyRequests`, `Unavailable`.
    fn sign_in(
        &self,
        username: &str,
        password: &str,
    ) -> impl Future<Output = Result<SignIn, IdentityError>> + Send;

    /// Answers the new-password challenge of a user created by staff.
    ///
    /// # Errors
    /// `NotAuthorized` (bad or expired session), `InvalidPassword`, `Unavailable`.
    fn complete_new_password(
        &self,
        username: &str,
        session: &str,
        new_password: &Password,
    ) -> impl Future<Output = Result<Tokens, IdentityError>> + Send;

    /// Answers the authenticator-code challenge of a sign-in.
    ///
    /// # Errors
    /// `NotAuthorized` (bad or expired session), `CodeMismatch`, `Unavailable`.
    fn answer_mfa(
        &self,
        username: &str,
        session: &str,
        code: &str,
    ) -> impl Future<Output = Result<Tokens, IdentityError>> + Send;

    /// Starts setting an authenticator app up for the user of `access_token`: the secret to add
    /// to the app.
    ///
    /// # Errors
    /// `NotAuthorized`, `Unavailable`.
    fn start_totp(
        &self,
        access_token: &str,
    ) -> impl Future<Output = Result<String, IdentityError>> + Send;

    /// Checks the app's first code and makes it the user's second factor from now on.
    ///
    /// # Errors
    /// `CodeMismatch`, `NotAuthorized`, `Unavailable`.
    fn finish_totp(
        &self,
        access_token: &str,
        code: &str,
    ) -> impl Future<Output = Result<(), IdentityError>> + Send;

    /// # Errors
    /// `NotAuthorized`, `Unavailable`.
    fn refresh(
        &self,
        refresh_token: &str,
    ) -> impl Future<Output = Result<Tokens, IdentityError>> + Send;

    /// Creates a client-credentials app client for a hospital.
    ///
    /// # Errors
    /// `Unavailable`.
    fn create_machine_client(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<MachineClient, IdentityError>> + Send;

    /// # Errors
    /// `Unavailable`.
    fn delete_machine_client(
        &self,
        client_id: &str,
    ) -> impl Future<Output = Result<(), IdentityError>> + Send;
}

/// The accounts table. Every write that changes an account also appends its events to the outbox
/// in the same transaction, so an event is never lost and never sent for a write that failed.
/// One trait per aggregate, each implemented where its items are kept.
pub trait AccountStore:
    ClaimStore + ProfileStore + MfaSetupStore + AccountEvents + HospitalStore
{
}

impl<T: ClaimStore + ProfileStore + MfaSetupStore + AccountEvents + HospitalStore> AccountStore
    for T
{
}

/// Unique values (e-mail, CPF, CRM, CNES) held by claim items: reserved by a sign-up or registration,
/// released, taken over when stale.
pub trait ClaimStore: Send + Sync {
    /// Reserves unique values for an account being created (a stale reservation of a crashed
    /// attempt is taken over).
    ///
    /// # Errors
    /// `Taken(field)` when another account holds one of them.
    fn reserve(
        &self,
        claims: &[Claim],
        reservation: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Releases a reservation that will not be committed.
    ///
    /// # Errors
    /// `Unavailable`.
    fn release(
        &self,
        claims: &[Claim],
        reservation: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Who holds a unique value, if anyone.
    ///
    /// # Errors
    /// `Unavailable`.
    fn claim_holder(
        &self,
        claim: &Claim,
    ) -> impl Future<Output = Result<Option<ClaimHolder>, StoreError>> + Send;

    /// Frees a value bound to an expired, never confirmed sign-up and reserves it for a new one,
    /// atomically: the old profile (when there is one) is deleted only while it still waits for
    /// confirmation, and the claim is moved only while it is still bound to `holder`.
    ///
    /// # Errors
    /// `Conflict` when the old sign-up was confirmed or taken over meanwhile; `Unavailable`.
    fn take_over(
        &self,
        claim: &Claim,
        holder: &str,
        expired: Option<&Profile>,
        reservation: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The account holding this e-mail, if any.
    ///
    /// # Errors
    /// `Unavailable`.
    fn account_for_email(
        &self,
        email: &Email,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;
}

/// Profiles: created with their claims, activated, updated, erased, and the doctors listed.
pub trait ProfileStore: Send + Sync {
    /// Writes a new profile, binds its reserved claims and appends its events, atomically.
    ///
    /// # Errors
    /// `Conflict` when the reservation was lost; `Unavailable`.
    fn create_profile(
        &self,
        profile: &Profile,
        claims: &[Claim],
        reservation: &str,
        events: &[Envelope],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// # Errors
    /// `Unavailable`.
    fn get_profile(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<Profile>, StoreError>> + Send;

    /// Replaces a profile waiting for confirmation with its confirmed form and appends the events
    /// that announce it, atomically.
    ///
    /// # Errors
    /// `Conflict` when it no longer waits for confirmation; `Unavailable`.
    fn activate(
        &self,
        profile: &Profile,
        events: &[Envelope],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Appends the events telling a confirmed account's owner that someone tried to sign up with
    /// their address, unless that was already done after `cutoff`. `Ok(false)` when skipped.
    ///
    /// # Errors
    /// `Unavailable`.
    fn note_repeated_sign_up(
        &self,
        account_id: &str,
        now: jiff::Timestamp,
        cutoff: jiff::Timestamp,
        events: &[Envelope],
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Replaces a live profile (conditional on it not being erased) and appends events.
    ///
    /// # Errors
    /// `Conflict` when the profile is gone or erased; `Unavailable`.
    fn update_profile(
        &self,
        profile: &Profile,
        events: &[Envelope],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Replaces the profile with its anonymised form, drops its claims and appends events.
    ///
    /// # Errors
    /// `Conflict` when already erased; `Unavailable`.
    fn erase_profile(
        &self,
        anonymised: &Profile,
        claims: &[Claim],
        events: &[Envelope],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Doctors ordered by specialty and name, optionally of one specialty (folded key).
    ///
    /// # Errors
    /// `InvalidCursor`, `Unavailable`.
    fn list_doctors(
        &self,
        specialty_key: Option<&str>,
        limit: u16,
        cursor: Option<&str>,
    ) -> impl Future<Output = Result<Page<DoctorSummary>, StoreError>> + Send;
}

/// Authenticator setups in progress, keyed by a digest of the sign-in session.
pub trait MfaSetupStore: Send + Sync {
    /// Keeps the tokens of a sign-in until its authenticator app is set up, under `key` (a
    /// digest of the session handed to the person).
    ///
    /// # Errors
    /// `Unavailable`.
    fn save_mfa_setup(
        &self,
        key: &str,
        setup: &PendingMfaSetup,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The pending setup under `key`, if any (expired ones included: the caller compares).
    ///
    /// # Errors
    /// `Unavailable`.
    fn mfa_setup(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<PendingMfaSetup>, StoreError>> + Send;

    /// Forgets a pending setup (used or abandoned).
    ///
    /// # Errors
    /// `Unavailable`.
    fn drop_mfa_setup(&self, key: &str) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The events an account's outbox wrote, purged on erasure.
pub trait AccountEvents: Send + Sync {
    /// Deletes the outbox items of events about `subject`, except those of the `keep` types.
    ///
    /// # Errors
    /// `Unavailable`.
    fn purge_events(
        &self,
        subject: &str,
        keep: &[clinic_shared::envelope::EventType],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Hospitals registered by staff, with their claims.
pub trait HospitalStore: Send + Sync {
    /// Writes a new hospital, binds its reserved claim and appends its events, atomically.
    ///
    /// # Errors
    /// `Conflict` when the reservation was lost; `Unavailable`.
    fn create_hospital(
        &self,
        hospital: &Hospital,
        claims: &[Claim],
        reservation: &str,
        events: &[Envelope],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}
