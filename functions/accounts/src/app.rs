//! Use cases of the accounts service. Each one validates nothing raw (it receives parsed values),
//! talks to the ports only, and leaves no half-made account behind when a step fails: creating an
//! account reserves its unique values first, then creates the identity, then commits the profile
//! with its events; a failure undoes the earlier steps.

use clinic_shared::auth::Caller;
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
}

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
        Self { identity, store }
    }

    /// Signs a patient up: an unconfirmed Cognito user in the `patients` group plus a profile
    /// waiting for confirmation, or nothing at all. Nothing is announced (no event, no message to
    /// the person) before the e-mail is confirmed; the CPF is a profile field, not a key, so
    /// typing someone else's CPF neither links nor blocks anything.
    ///
    /// An address already in use gives the caller the same answer: a sign-up still waiting is
    /// left alone (or replaced once it is older than [`PENDING_SIGN_UP_HOURS`], so a squatter
    /// cannot hold an address), a confirmed account's owner is told by e-mail instead.
    ///
    /// # Errors
    /// `Validation` when the identity provider rejects the password; `Unavailable`/`Internal`.
    #[tracing::instrument(skip_all)]
    pub async fn sign_up_patient(
        &self,
        patient: NewPatient,
        trace: &str,
    ) -> Result<SignUpOutcome, AccountsError> {
        let claims = vec![Claim::Email(patient.email.as_str().to_string())];
        let reservation = Ulid::new().to_string();
        match self.store.reserve(&claims, &reservation).await {
            Ok(()) => {}
            Err(StoreError::Taken(_)) => {
                // `None`: an expired sign-up was taken over, and this one goes ahead.
                if let Some(outcome) = self.address_in_use(&claims[0], &reservation, trace).await? {
                    return Ok(outcome);
                }
            }
            Err(other) => return Err(other.into()),
        }
        let id = match self
            .sign_up_identity(&patient.email, &patient.password)
            .await
        {
            Ok(id) => id,
            Err(err) => {
                self.release_quietly(&claims, &reservation).await;
                return match err {
                    AccountsError::AlreadyUsed { .. } => Ok(SignUpOutcome::AlreadyPending),
                    other => Err(other),
                };
            }
        };
        let now = Timestamp::now();
        let profile = Profile {
            id: id.clone(),
            role: Role::Patient,
            status: AccountStatus::PendingConfirmation,
            email: Some(patient.email.as_str().to_string()),
            name: Some(patient.name.as_str().to_string()),
            cpf: Some(patient.cpf.as_str().to_string()),
            birth_date: Some(patient.birth_date.date().to_string()),
            phone: Some(patient.phone.as_str().to_string()),
            preferences: patient.preferences,
            crm: None,
            uf: None,
            specialty: None,
            created_at: now,
            updated_at: now,
            deleted_at: None,
        };
        self.finish_person(&profile, &claims, &reservation, &[])
            .await?;
        tracing::info!(account_id = %id, "patient signed up; waiting for confirmation");
        Ok(SignUpOutcome::Created(id))
    }

    /// A sign-up for an address another account holds. `None` when that account was an expired,
    /// never confirmed sign-up, now removed: the claim is then reserved under `reservation`.
    async fn address_in_use(
        &self,
        claim: &Claim,
        reservation: &str,
        trace: &str,
    ) -> Result<Option<SignUpOutcome>, AccountsError> {
        let Some(ClaimHolder::Bound(holder)) = self.store.claim_holder(claim).await? else {
            // Being created right now (or a crashed attempt, until its reservation goes stale).
            return Ok(Some(SignUpOutcome::AlreadyPending));
        };
        let now = Timestamp::now();
        let profile = self.store.get_profile(&holder).await?;
        match &profile {
            Some(p)
                if p.status == AccountStatus::PendingConfirmation && !sign_up_expired(p, now) =>
            {
                Ok(Some(SignUpOutcome::AlreadyPending))
            }
            Some(p) if p.status == AccountStatus::PendingConfirmation => {
                self.take_over(claim, &holder, profile.as_ref(), reservation)
                    .await
            }
            Some(p) if p.is_deleted() => Ok(Some(SignUpOutcome::AlreadyPending)),
            Some(_) => {
                let events = [event(
                    &holder,
                    SignUpRepeated {
                        account_id: holder.clone(),
                    },
                    trace,
                )];
                let cutoff = now - jiff::SignedDuration::from_hours(REPEAT_NOTICE_HOURS);
                let told = self
                    .store
                    .note_repeated_sign_up(&holder, now, cutoff, &events)
                    .await?;
                tracing::info!(account_id = %holder, told, "sign-up for the address of a confirmed account");
                Ok(Some(SignUpOutcome::OwnerNotified))
            }
            // The claim outlived its profile (a crash, or housekeeping removed an expired sign-up).
            None => self.take_over(claim, &holder, None, reservation).await,
        }
    }

    /// Removes an expired sign-up (its profile, the claim it held and its identity) so a new
    /// sign-up can use the address.
    async fn take_over(
        &self,
        claim: &Claim,
        holder: &str,
        expired: Option<&Profile>,
        reservation: &str,
    ) -> Result<Option<SignUpOutcome>, AccountsError> {
        match self
            .store
            .take_over(claim, holder, expired, reservation)
            .await
        {
            Ok(()) => {}
            // Someone else took it over or it was confirmed meanwhile.
            Err(StoreError::Conflict(_)) => return Ok(Some(SignUpOutcome::AlreadyPending)),
            Err(other) => return Err(other.into()),
        }
        self.identity
            .delete_user(holder)
            .await
            .map_err(identity_unavailable)?;
        tracing::info!(account_id = %holder, "expired sign-up removed; its address is free again");
        Ok(None)
    }

    /// Creates the identity for a sign-up. A user left by an attempt that crashed before its
    /// profile was committed (same e-mail, no profile) is removed and the sign-up retried once;
    /// the e-mail claim this attempt holds proves no committed account owns that e-mail.
    async fn sign_up_identity(
        &self,
        email: &Email,
        password: &Password,
    ) -> Result<String, AccountsError> {
        match self.identity.sign_up(email, password).await {
            Ok(id) => Ok(id),
            Err(IdentityError::UsernameExists) => {
                self.remove_orphan_identity(email).await?;
                self.identity
                    .sign_up(email, password)
                    .await
                    .map_err(map_creation_error)
            }
            Err(other) => Err(map_creation_error(other)),
        }
    }

    async fn remove_orphan_identity(&self, email: &Email) -> Result<(), AccountsError> {
        let user = self
            .identity
            .find_user(email.as_str())
            .await
            .map_err(identity_unavailable)?
            .ok_or(AccountsError::AlreadyUsed { field: "email" })?;
        if self.store.get_profile(&user.id).await?.is_some() {
            return Err(AccountsError::AlreadyUsed { field: "email" });
        }
        tracing::warn!(account_id = %user.id, "removing identity left by an unfinished sign-up");
        self.identity
            .delete_user(&user.id)
            .await
            .map_err(identity_unavailable)
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

    /// Confirms a sign-up with the code e-mailed to the address *and* the password chosen at
    /// sign-up: the code proves the address, the password proves that whoever confirms is whoever
    /// signed up (so the owner of an address cannot be tricked into confirming a squatter's
    /// sign-up with a code that reached their inbox). Only now is the account announced
    /// (`account.created`, and `patient.registered` with the key that links the hospitals'
    /// records for this CPF and this verified address). Confirming twice succeeds.
    ///
    /// # Errors
    /// `InvalidCode` (also for a wrong password or an unknown address: nothing can be probed),
    /// `ExpiredCode` (the code, or a sign-up older than [`PENDING_SIGN_UP_HOURS`]), `Throttled`,
    /// `Unavailable`.
    #[tracing::instrument(skip_all)]
    pub async fn confirm(
        &self,
        email: &Email,
        code: &str,
        password: &str,
        trace: &str,
    ) -> Result<(), AccountsError> {
        let already_confirmed = match self.identity.sign_in(email.as_str(), password).await {
            // The password is right and the user waits for confirmation.
            Err(IdentityError::UserNotConfirmed) => false,
            Ok(_) => true,
            Err(IdentityError::NotAuthorized | IdentityError::UserNotFound) => {
                return Err(AccountsError::InvalidCode);
            }
            Err(other) => return Err(identity_unavailable(other)),
        };
        let profile = match self.store.account_for_email(email).await? {
            Some(id) => self.store.get_profile(&id).await?,
            None => None,
        };
        if let Some(p) = &profile
            && p.status == AccountStatus::PendingConfirmation
            && sign_up_expired(p, Timestamp::now())
        {
            return Err(AccountsError::ExpiredCode);
        }
        if !already_confirmed {
            match self.identity.confirm_sign_up(email, code).await {
                Ok(()) => {}
                // Cognito answers NotAuthorized for an already confirmed user.
                Err(IdentityError::NotAuthorized) => {}
                Err(IdentityError::CodeMismatch | IdentityError::UserNotFound) => {
                    return Err(AccountsError::InvalidCode);
                }
                Err(IdentityError::ExpiredCode) => return Err(AccountsError::ExpiredCode),
                Err(other) => return Err(identity_unavailable(other)),
            }
        }
        let Some(mut profile) = profile.filter(|p| p.status == AccountStatus::PendingConfirmation)
        else {
            return Ok(());
        };
        profile.status = AccountStatus::Active;
        profile.updated_at = Timestamp::now();
        let mut events = vec![event(&profile.id, account_created(&profile), trace)];
        if profile.role == Role::Patient
            && let Some(cpf) = profile.cpf.as_deref().and_then(|c| Cpf::parse(c).ok())
        {
            events.push(event(
                &profile.id,
                PatientRegistered {
                    account_id: profile.id.clone(),
                    match_key: patient_match_key(&cpf, email),
                },
                trace,
            ));
        }
        match self.store.activate(&profile, &events).await {
            // A concurrent confirmation activated it first.
            Ok(()) | Err(StoreError::Conflict(_)) => {}
            Err(other) => return Err(other.into()),
        }
        tracing::info!(account_id = %profile.id, "sign-up confirmed");
        Ok(())
    }

    /// Password sign-in. Staff and doctors get no token before their second factor: those with
    /// an authenticator app answer its code (`MfaRequired`); those without set one up first
    /// (`MfaSetup`, the tokens held back meanwhile).
    ///
    /// # Errors
    /// `InvalidCredentials` (also for unknown users), `NotConfirmed`, `Throttled`, `Unavailable`.
    #[tracing::instrument(skip_all)]
    pub async fn sign_in(&self, username: &str, password: &str) -> Result<SignIn, AccountsError> {
        let outcome = self
            .identity
            .sign_in(username, password)
            .await
            .map_err(|err| match err {
                IdentityError::NotAuthorized | IdentityError::UserNotFound => {
                    AccountsError::InvalidCredentials
                }
                IdentityError::UserNotConfirmed => AccountsError::NotConfirmed,
                other => identity_unavailable(other),
            })?;
        self.second_factor(username, outcome).await
    }

    /// Holds back the tokens of a staff member or doctor without an authenticator app and starts
    /// setting one up; anything else passes.
    async fn second_factor(
        &self,
        username: &str,
        outcome: SignIn,
    ) -> Result<SignIn, AccountsError> {
        let SignIn::Tokens(tokens) = outcome else {
            return Ok(outcome);
        };
        if !tokens
            .groups
            .iter()
            .any(|g| MFA_GROUPS.contains(&g.as_str()))
        {
            return Ok(SignIn::Tokens(tokens));
        }
        let secret = self
            .identity
            .start_totp(&tokens.access_token)
            .await
            .map_err(identity_unavailable)?;
        let session = new_session()?;
        let setup = PendingMfaSetup {
            username: username.trim().to_lowercase(),
            tokens,
            expires_at: Timestamp::now() + jiff::SignedDuration::from_mins(MFA_SETUP_MINUTES),
        };
        self.store
            .save_mfa_setup(&session_key(&session), &setup)
            .await?;
        tracing::info!("second factor required: authenticator setup started");
        Ok(SignIn::MfaSetup { session, secret })
    }

    /// Answers the second-factor step of a sign-in with the authenticator's current code: either
    /// the challenge of an account that has an app, or the first code of an app being set up.
    ///
    /// # Errors
    /// `InvalidSession` (unknown, expired or someone else's), `InvalidMfaCode`, `Unavailable`.
    #[tracing::instrument(skip_all)]
    pub async fn answer_mfa(
        &self,
        username: &str,
        session: &str,
        code: &str,
    ) -> Result<Tokens, AccountsError> {
        let key = session_key(session);
        let code_error = |err| match err {
            IdentityError::CodeMismatch | IdentityError::ExpiredCode => {
                AccountsError::InvalidMfaCode
            }
            IdentityError::NotAuthorized | IdentityError::UserNotFound => {
                AccountsError::InvalidSession
            }
            other => identity_unavailable(other),
        };
        let Some(setup) = self.store.mfa_setup(&key).await? else {
            return self
                .identity
                .answer_mfa(username, session, code)
                .await
                .map_err(code_error);
        };
        if setup.username != username.trim().to_lowercase() || setup.expires_at <= Timestamp::now()
        {
            return Err(AccountsError::InvalidSession);
        }
        self.identity
            .finish_totp(&setup.tokens.access_token, code)
            .await
            .map_err(code_error)?;
        self.store.drop_mfa_setup(&key).await?;
        tracing::info!("authenticator set up");
        Ok(setup.tokens)
    }

    /// Sets the first password of an account created by staff, finishing its sign-in (with the
    /// second factor its role requires).
    ///
    /// # Errors
    /// `InvalidSession`, `Validation` (password rejected), `Unavailable`.
    #[tracing::instrument(skip_all)]
    pub async fn complete_new_password(
        &self,
        username: &str,
        session: &str,
        new_password: &Password,
    ) -> Result<SignIn, AccountsError> {
        let tokens = self
            .identity
            .complete_new_password(username, session, new_password)
            .await
            .map_err(|err| match err {
                IdentityError::NotAuthorized
                | IdentityError::UserNotFound
                | IdentityError::CodeMismatch => AccountsError::InvalidSession,
                IdentityError::InvalidPassword(reason) => {
                    AccountsError::field("newPassword", reason)
                }
                other => identity_unavailable(other),
            })?;
        if let Some(user) = self
            .identity
            .find_user(username)
            .await
            .map_err(identity_unavailable)?
            && let Some(mut profile) = self.store.get_profile(&user.id).await?
            && profile.status == AccountStatus::Invited
        {
            profile.status = AccountStatus::Active;
            profile.updated_at = Timestamp::now();
            self.store.update_profile(&profile, &[]).await?;
        }
        self.second_factor(username, SignIn::Tokens(tokens)).await
    }

    /// New id and access tokens from a refresh token.
    ///
    /// # Errors
    /// `InvalidRefreshToken`, `Unavailable`.
    #[tracing::instrument(skip_all)]
    pub async fn refresh(&self, refresh_token: &str) -> Result<Tokens, AccountsError> {
        self.identity
            .refresh(refresh_token)
            .await
            .map_err(|err| match err {
                IdentityError::NotAuthorized | IdentityError::UserNotFound => {
                    AccountsError::InvalidRefreshToken
                }
                other => identity_unavailable(other),
            })
    }

    /// The caller's own profile.
    ///
    /// # Errors
    /// `Forbidden` for machine clients; `NotFound` when there is no live profile.
    #[tracing::instrument(skip_all, fields(account_id = %caller.id))]
    pub async fn me(&self, caller: &Caller) -> Result<Profile, AccountsError> {
        if caller.role == Role::Hospital {
            return Err(AccountsError::Forbidden("machine clients have no profile"));
        }
        match self.store.get_profile(&caller.id).await? {
            Some(profile) if !profile.is_deleted() => Ok(profile),
            _ => Err(AccountsError::NotFound("Account")),
        }
    }

    /// Updates the caller's name, phone or preferences and announces the new contact data.
    ///
    /// # Errors
    /// As [`Self::me`]; `Unavailable`.
    #[tracing::instrument(skip_all, fields(account_id = %caller.id))]
    pub async fn update_me(
        &self,
        caller: &Caller,
        changes: ProfileChanges,
        trace: &str,
    ) -> Result<Profile, AccountsError> {
        let current = self.me(caller).await?;
        let mut updated = current.clone();
        if let Some(name) = changes.name {
            updated.name = Some(name.as_str().to_string());
        }
        if let Some(phone) = changes.phone {
            updated.phone = Some(phone.as_str().to_string());
        }
        if let Some(email) = changes.email_notifications {
            updated.preferences.email = email;
        }
        if let Some(sms) = changes.sms_notifications {
            updated.preferences.sms = sms;
        }
        if let Some(language) = changes.language {
            updated.preferences.language = language;
        }
        if updated == current {
            return Ok(current);
        }
        updated.updated_at = Timestamp::now();
        let events = vec![event(
            &updated.id,
            AccountUpdated {
                account_id: updated.id.clone(),
                role: updated.role,
                email: updated.email.clone().unwrap_or_default(),
                phone: updated.phone.clone(),
                preferences: updated.preferences,
            },
            trace,
        )];
        self.store
            .update_profile(&updated, &events)
            .await
            .map_err(|err| match err {
                StoreError::Conflict(_) => AccountsError::NotFound("Account"),
                other => other.into(),
            })?;
        Ok(updated)
    }

    /// Erases the caller's account (LGPD): profile anonymised, unique values freed,
    /// `account.deleted` announced (ids only), the events this service kept about the person
    /// purged, every session of the person revoked, then the identity deleted. Repeating it after
    /// a failure of a later step finishes the job.
    ///
    /// # Errors
    /// `Forbidden` for machine clients; `NotFound` when there is no account; `Unavailable`.
    #[tracing::instrument(skip_all, fields(account_id = %caller.id))]
    pub async fn delete_me(&self, caller: &Caller, trace: &str) -> Result<(), AccountsError> {
        if caller.role == Role::Hospital {
            return Err(AccountsError::Forbidden("machine clients have no profile"));
        }
        let profile = self
            .store
            .get_profile(&caller.id)
            .await?
            .ok_or(AccountsError::NotFound("Account"))?;
        let deleted = event(
            &profile.id,
            AccountDeleted {
                account_id: profile.id.clone(),
                role: profile.role,
            },
            trace,
        );
        if !profile.is_deleted() {
            let mut claims = Vec::new();
            if let Some(email) = &profile.email {
                claims.push(Claim::Email(email.clone()));
            }
            if let (Some(uf), Some(number)) = (&profile.uf, &profile.crm) {
                claims.push(Claim::Crm {
                    uf: uf.clone(),
                    number: number.clone(),
                });
            }
            match self
                .store
                .erase_profile(
                    &profile.anonymised(Timestamp::now()),
                    &claims,
                    std::slice::from_ref(&deleted),
                )
                .await
            {
                Ok(()) | Err(StoreError::Conflict(_)) => {}
                Err(other) => return Err(other.into()),
            }
        }
        // Earlier events carried contact data; only `account.deleted` (ids only) stays.
        self.store
            .purge_events(&profile.id, &[EventType::AccountDeleted])
            .await?;
        // Access tokens already issued stay valid until they expire (they are verified offline):
        // every write route refuses an erased account, and refresh tokens die here.
        match self.identity.sign_out_everywhere(&caller.id).await {
            Ok(()) | Err(IdentityError::UserNotFound) => {}
            Err(other) => return Err(identity_unavailable(other)),
        }
        self.identity
            .delete_user(&caller.id)
            .await
            .map_err(identity_unavailable)?;
        tracing::info!("account erased");
        Ok(())
    }

    /// Refuses an erased account on routes that change something, even while one of its
    /// access tokens has not expired yet. (Staff provisioned outside the API have no profile.)
    async fn ensure_not_erased(&self, caller: &Caller) -> Result<(), AccountsError> {
        match self.store.get_profile(&caller.id).await? {
            Some(profile) if profile.is_deleted() => Err(AccountsError::AccountErased),
            _ => Ok(()),
        }
    }

    /// Staff register a doctor: a Cognito user in `doctors` (invited: first sign-in sets the
    /// password) and a profile.
    ///
    /// # Errors
    /// `Forbidden` unless staff; `AlreadyUsed` for the e-mail or CRM; `Unavailable`.
    #[tracing::instrument(skip_all, fields(caller = %caller.id))]
    pub async fn register_doctor(
        &self,
        caller: &Caller,
        doctor: NewDoctor,
        trace: &str,
    ) -> Result<Profile, AccountsError> {
        if caller.role != Role::Staff {
            return Err(AccountsError::Forbidden("only staff register doctors"));
        }
        self.ensure_not_erased(caller).await?;
        let claims = vec![
            Claim::Email(doctor.email.as_str().to_string()),
            Claim::Crm {
                uf: doctor.crm.uf().to_string(),
                number: doctor.crm.number().to_string(),
            },
        ];
        let reservation = Ulid::new().to_string();
        self.store.reserve(&claims, &reservation).await?;
        let id = match self
            .identity
            .create_user(&doctor.email, doctor.temporary_password.as_ref())
            .await
        {
            Ok(id) => id,
            Err(err) => {
                self.release_quietly(&claims, &reservation).await;
                return Err(match err {
                    IdentityError::InvalidPassword(reason) => {
                        AccountsError::field("temporaryPassword", reason)
                    }
                    other => map_creation_error(other),
                });
            }
        };
        let now = Timestamp::now();
        let profile = Profile {
            id: id.clone(),
            role: Role::Doctor,
            status: AccountStatus::Invited,
            email: Some(doctor.email.as_str().to_string()),
            name: Some(doctor.name.as_str().to_string()),
            cpf: None,
            birth_date: None,
            phone: None,
            preferences: Preferences {
                sms: false,
                ..Preferences::default()
            },
            crm: Some(doctor.crm.number().to_string()),
            uf: Some(doctor.crm.uf().to_string()),
            specialty: Some(doctor.specialty.as_str().to_string()),
            created_at: now,
            updated_at: now,
            deleted_at: None,
        };
        let events = vec![
            event(&id, account_created(&profile), trace),
            event(
                &id,
                DoctorRegistered {
                    account_id: id.clone(),
                    crm: doctor.crm.number().to_string(),
                    uf: doctor.crm.uf().to_string(),
                    specialty: doctor.specialty.as_str().to_string(),
                    email: doctor.email.as_str().to_string(),
                    invitation_sent_by_cognito: doctor.temporary_password.is_none(),
                },
                trace,
            ),
        ];
        self.finish_person(&profile, &claims, &reservation, &events)
            .await?;
        tracing::info!(account_id = %id, "doctor registered");
        Ok(profile)
    }

    /// Doctors, optionally of one specialty, for anyone signed in.
    ///
    /// # Errors
    /// `InvalidCursor`, `Unavailable`.
    pub async fn list_doctors(
        &self,
        specialty: Option<&str>,
        limit: u16,
        cursor: Option<&str>,
    ) -> Result<Page<DoctorSummary>, AccountsError> {
        let key = specialty
            .map(crate::domain::values::fold)
            .filter(|k| !k.is_empty());
        Ok(self
            .store
            .list_doctors(key.as_deref(), limit, cursor)
            .await?)
    }

    /// Staff register a hospital with its own client-credentials app client. The secret is in the
    /// answer only.
    ///
    /// # Errors
    /// `Forbidden` unless staff; `AlreadyUsed` for the CNES; `Unavailable`.
    #[tracing::instrument(skip_all, fields(caller = %caller.id))]
    pub async fn register_hospital(
        &self,
        caller: &Caller,
        hospital: NewHospital,
        trace: &str,
    ) -> Result<(Hospital, MachineClient), AccountsError> {
        if caller.role != Role::Staff {
            return Err(AccountsError::Forbidden("only staff register hospitals"));
        }
        self.ensure_not_erased(caller).await?;
        let claims = vec![Claim::Cnes(hospital.cnes.as_str().to_string())];
        let reservation = Ulid::new().to_string();
        self.store.reserve(&claims, &reservation).await?;
        let id = Ulid::new().to_string();
        let client = match self
            .identity
            .create_machine_client(&format!("hospital-{id}"))
            .await
        {
            Ok(client) => client,
            Err(err) => {
                self.release_quietly(&claims, &reservation).await;
                return Err(identity_unavailable(err));
            }
        };
        let record = Hospital {
            id: id.clone(),
            name: hospital.name.as_str().to_string(),
            cnes: hospital.cnes.as_str().to_string(),
            client_id: client.client_id.clone(),
            created_at: Timestamp::now(),
        };
        let events = vec![event(
            &id,
            HospitalRegistered {
                hospital_id: id.clone(),
                name: record.name.clone(),
                cnes: record.cnes.clone(),
                client_id: record.client_id.clone(),
            },
            trace,
        )];
        if let Err(err) = self
            .store
            .create_hospital(&record, &claims, &reservation, &events)
            .await
        {
            if let Err(undo) = self.identity.delete_machine_client(&client.client_id).await {
                tracing::error!(hospital_id = %id, error = %undo, "could not undo app client of a failed hospital registration");
            }
            self.release_quietly(&claims, &reservation).await;
            return Err(err.into());
        }
        tracing::info!(hospital_id = %id, "hospital registered");
        Ok((record, client))
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
