//! In-memory fakes of the accounts ports. Each enforces the conditions its adapter does (Cognito's
//! answers in `outbound/cognito.rs`, the DynamoDB conditions in `outbound/dynamodb*`), so a use
//! case that breaks a rule here would break it in production too. A failure can be injected
//! once per operation to stand for a dependency that is down.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

use clinic_shared::clock::{Clock, ManualClock};
use clinic_shared::envelope::{Envelope, EventType, Role};
use jiff::{SignedDuration, Timestamp};

use crate::domain::error::{IdentityError, StoreError};
use crate::domain::values::{Email, Password, fold};
use crate::domain::{
    AccountEvents, AccountStatus, Claim, ClaimHolder, ClaimStore, DoctorSummary, Hospital,
    HospitalStore, IdentityProvider, IdentityUser, MachineClient, MfaSetupStore, Page,
    PendingMfaSetup, Profile, ProfileStore, SignIn, Tokens,
};

/// The confirmation code every sign-up is sent.
pub const CODE: &str = "123456";
/// The code every authenticator app shows.
pub const TOTP: &str = "246810";

/// Failures to answer instead of doing the next call of an operation, by its name.
struct Faults<E>(HashMap<&'static str, VecDeque<E>>);

impl<E> Default for Faults<E> {
    fn default() -> Self {
        Self(HashMap::new())
    }
}

impl<E> Faults<E> {
    fn check(&mut self, op: &'static str) -> Result<(), E> {
        match self.0.get_mut(op).and_then(VecDeque::pop_front) {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }
}

// --- the identity provider ---------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub email: String,
    pub password: String,
    pub confirmed: bool,
    /// Created by staff: the first sign-in must choose a password.
    pub must_change_password: bool,
    /// Created by staff without a password: Cognito e-mailed one.
    pub invited_by_cognito: bool,
    pub groups: Vec<String>,
    pub totp_enabled: bool,
    totp_pending: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Challenge {
    NewPassword,
    Mfa,
}

pub struct IdentityState {
    pub users: BTreeMap<String, User>,
    /// The user pool's groups; adding to a missing one fails as Cognito's unmapped error does.
    pub groups: Vec<String>,
    pub clients: BTreeMap<String, String>,
    sessions: HashMap<String, (String, Challenge)>,
    access: HashMap<String, String>,
    refresh: HashMap<String, String>,
    next: u64,
    faults: Faults<IdentityError>,
}

impl IdentityState {
    fn next(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}-{}", self.next)
    }

    /// Cognito takes a user's id or (as an alias) e-mail wherever it takes a username.
    fn key_of(&self, username: &str) -> Option<String> {
        let name = username.trim().to_lowercase();
        self.users
            .values()
            .find(|u| u.id == username || u.email == name)
            .map(|u| u.id.clone())
    }

    fn issue(&mut self, id: &str, with_refresh: bool) -> Tokens {
        let access = self.next("access");
        self.access.insert(access.clone(), id.to_string());
        let refresh_token = with_refresh.then(|| {
            let token = self.next("refresh");
            self.refresh.insert(token.clone(), id.to_string());
            token
        });
        Tokens {
            id_token: self.next("id"),
            access_token: access,
            refresh_token,
            expires_in: 3600,
            groups: self.users[id].groups.clone(),
        }
    }

    fn challenge(&mut self, id: &str, kind: Challenge) -> String {
        let session = self.next("session");
        self.sessions
            .insert(session.clone(), (id.to_string(), kind));
        session
    }

    /// The user a challenge session was issued to, when `username` names that user.
    fn session_user(&self, username: &str, session: &str, kind: Challenge) -> Option<String> {
        let (id, issued) = self.sessions.get(session)?;
        (*issued == kind && self.key_of(username).as_ref() == Some(id)).then(|| id.clone())
    }

    fn forget_tokens(&mut self, id: &str) {
        self.access.retain(|_, user| user != id);
        self.refresh.retain(|_, user| user != id);
    }
}

pub struct Identity(Mutex<IdentityState>);

impl Default for Identity {
    fn default() -> Self {
        Self(Mutex::new(IdentityState {
            users: BTreeMap::new(),
            groups: ["patients", "doctors", "staff", "hospitals"]
                .map(String::from)
                .to_vec(),
            clients: BTreeMap::new(),
            sessions: HashMap::new(),
            access: HashMap::new(),
            refresh: HashMap::new(),
            next: 0,
            faults: Faults::default(),
        }))
    }
}

impl Identity {
    pub fn state(&self) -> MutexGuard<'_, IdentityState> {
        self.0.lock().unwrap()
    }

    pub fn fail_next(&self, op: &'static str, err: IdentityError) {
        self.state().faults.0.entry(op).or_default().push_back(err);
    }

    pub fn user(&self, email: &str) -> Option<User> {
        let state = self.state();
        let id = state.key_of(email)?;
        state.users.get(&id).cloned()
    }

    /// A confirmed person provisioned outside the API (as staff members are).
    pub fn provision(&self, email: &str, password: &str, group: &str) -> String {
        let mut state = self.state();
        let id = state.next("user");
        state.users.insert(
            id.clone(),
            User {
                id: id.clone(),
                email: email.to_string(),
                password: password.to_string(),
                confirmed: true,
                must_change_password: false,
                invited_by_cognito: false,
                groups: vec![group.to_string()],
                totp_enabled: false,
                totp_pending: false,
            },
        );
        id
    }
}

impl IdentityProvider for &Identity {
    async fn sign_up(&self, email: &Email, password: &Password) -> Result<String, IdentityError> {
        let mut s = self.state();
        s.faults.check("sign_up")?;
        if s.key_of(email.as_str()).is_some() {
            return Err(IdentityError::UsernameExists);
        }
        let id = s.next("user");
        s.users.insert(
            id.clone(),
            User {
                id: id.clone(),
                email: email.as_str().to_string(),
                password: password.expose().to_string(),
                confirmed: false,
                must_change_password: false,
                invited_by_cognito: false,
                groups: Vec::new(),
                totp_enabled: false,
                totp_pending: false,
            },
        );
        Ok(id)
    }

    async fn create_user(
        &self,
        email: &Email,
        temporary_password: Option<&Password>,
    ) -> Result<String, IdentityError> {
        let mut s = self.state();
        s.faults.check("create_user")?;
        if s.key_of(email.as_str()).is_some() {
            return Err(IdentityError::UsernameExists);
        }
        let id = s.next("user");
        let password =
            temporary_password.map_or_else(|| s.next("Generated0"), |p| p.expose().into());
        s.users.insert(
            id.clone(),
            User {
                id: id.clone(),
                email: email.as_str().to_string(),
                password,
                confirmed: true,
                must_change_password: true,
                invited_by_cognito: temporary_password.is_none(),
                groups: Vec::new(),
                totp_enabled: false,
                totp_pending: false,
            },
        );
        Ok(id)
    }

    async fn find_user(&self, username: &str) -> Result<Option<IdentityUser>, IdentityError> {
        let mut s = self.state();
        s.faults.check("find_user")?;
        Ok(s.key_of(username).map(|id| IdentityUser {
            confirmed: s.users[&id].confirmed,
            id,
        }))
    }

    async fn sign_out_everywhere(&self, username: &str) -> Result<(), IdentityError> {
        let mut s = self.state();
        s.faults.check("sign_out_everywhere")?;
        let id = s.key_of(username).ok_or(IdentityError::UserNotFound)?;
        s.forget_tokens(&id);
        Ok(())
    }

    async fn add_to_group(&self, username: &str, group: &str) -> Result<(), IdentityError> {
        let mut s = self.state();
        s.faults.check("add_to_group")?;
        let id = s.key_of(username).ok_or(IdentityError::UserNotFound)?;
        if !s.groups.iter().any(|g| g == group) {
            // ResourceNotFoundException is not mapped: the adapter reports it as Unavailable.
            return Err(IdentityError::Unavailable("group not found".into()));
        }
        if let Some(user) = s.users.get_mut(&id) {
            user.groups.push(group.to_string());
        }
        Ok(())
    }

    async fn delete_user(&self, username: &str) -> Result<(), IdentityError> {
        let mut s = self.state();
        s.faults.check("delete_user")?;
        if let Some(id) = s.key_of(username) {
            s.users.remove(&id);
            s.forget_tokens(&id);
            s.sessions.retain(|_, (user, _)| *user != id);
        }
        Ok(())
    }

    async fn confirm_sign_up(&self, email: &Email, code: &str) -> Result<(), IdentityError> {
        let mut s = self.state();
        s.faults.check("confirm_sign_up")?;
        let id = s
            .key_of(email.as_str())
            .ok_or(IdentityError::UserNotFound)?;
        let user = s.users.get_mut(&id).ok_or(IdentityError::UserNotFound)?;
        if user.confirmed {
            return Err(IdentityError::NotAuthorized);
        }
        if code != CODE {
            return Err(IdentityError::CodeMismatch);
        }
        user.confirmed = true;
        Ok(())
    }

    async fn sign_in(&self, username: &str, password: &str) -> Result<SignIn, IdentityError> {
        let mut s = self.state();
        s.faults.check("sign_in")?;
        let id = s.key_of(username).ok_or(IdentityError::UserNotFound)?;
        let user = s.users[&id].clone();
        // The password first: only whoever knows it learns that the user is unconfirmed.
        if user.password != password {
            return Err(IdentityError::NotAuthorized);
        }
        if !user.confirmed {
            return Err(IdentityError::UserNotConfirmed);
        }
        if user.must_change_password {
            let session = s.challenge(&id, Challenge::NewPassword);
            return Ok(SignIn::NewPasswordRequired { session });
        }
        if user.totp_enabled {
            let session = s.challenge(&id, Challenge::Mfa);
            return Ok(SignIn::MfaRequired { session });
        }
        Ok(SignIn::Tokens(s.issue(&id, true)))
    }

    async fn complete_new_password(
        &self,
        username: &str,
        session: &str,
        new_password: &Password,
    ) -> Result<Tokens, IdentityError> {
        let mut s = self.state();
        s.faults.check("complete_new_password")?;
        let id = s
            .session_user(username, session, Challenge::NewPassword)
            .ok_or(IdentityError::NotAuthorized)?;
        s.sessions.remove(session);
        if let Some(user) = s.users.get_mut(&id) {
            user.password = new_password.expose().to_string();
            user.must_change_password = false;
        }
        Ok(s.issue(&id, true))
    }

    async fn answer_mfa(
        &self,
        username: &str,
        session: &str,
        code: &str,
    ) -> Result<Tokens, IdentityError> {
        let mut s = self.state();
        s.faults.check("answer_mfa")?;
        let id = s
            .session_user(username, session, Challenge::Mfa)
            .ok_or(IdentityError::NotAuthorized)?;
        if code != TOTP {
            return Err(IdentityError::CodeMismatch);
        }
        s.sessions.remove(session);
        Ok(s.issue(&id, true))
    }

    async fn start_totp(&self, access_token: &str) -> Result<String, IdentityError> {
        let mut s = self.state();
        s.faults.check("start_totp")?;
        let id = s
            .access
            .get(access_token)
            .cloned()
            .ok_or(IdentityError::NotAuthorized)?;
        let secret = s.next("SECRET");
        if let Some(user) = s.users.get_mut(&id) {
            user.totp_pending = true;
        }
        Ok(secret)
    }

    async fn finish_totp(&self, access_token: &str, code: &str) -> Result<(), IdentityError> {
        let mut s = self.state();
        s.faults.check("finish_totp")?;
        let id = s
            .access
            .get(access_token)
            .cloned()
            .ok_or(IdentityError::NotAuthorized)?;
        let user = s.users.get_mut(&id).ok_or(IdentityError::NotAuthorized)?;
        // Without an associated token Cognito answers EnableSoftwareTokenMFAException.
        if !user.totp_pending || code != TOTP {
            return Err(IdentityError::CodeMismatch);
        }
        user.totp_pending = false;
        user.totp_enabled = true;
        Ok(())
    }

    async fn refresh(&self, refresh_token: &str) -> Result<Tokens, IdentityError> {
        let mut s = self.state();
        s.faults.check("refresh")?;
        let id = s
            .refresh
            .get(refresh_token)
            .cloned()
            .ok_or(IdentityError::NotAuthorized)?;
        Ok(s.issue(&id, false))
    }

    async fn create_machine_client(&self, _name: &str) -> Result<MachineClient, IdentityError> {
        let mut s = self.state();
        s.faults.check("create_machine_client")?;
        let client_id = s.next("client");
        let client_secret = s.next("secret");
        s.clients.insert(client_id.clone(), client_secret.clone());
        Ok(MachineClient {
            client_id,
            client_secret,
        })
    }

    async fn delete_machine_client(&self, client_id: &str) -> Result<(), IdentityError> {
        let mut s = self.state();
        s.faults.check("delete_machine_client")?;
        s.clients
            .remove(client_id)
            .map(|_| ())
            .ok_or_else(|| IdentityError::Unavailable("client not found".into()))
    }
}

// --- the store ---------------------------------------------------------------------------------

/// A reservation older than this belongs to a crashed attempt (as in `dynamodb/claims.rs`).
const STALE_RESERVATION: SignedDuration = SignedDuration::from_mins(15);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimItem {
    Reserved { reservation: String, at: Timestamp },
    Bound(String),
}

#[derive(Default)]
pub struct StoreState {
    pub claims: BTreeMap<String, ClaimItem>,
    pub profiles: BTreeMap<String, Profile>,
    /// `repeatNoticeAt` of a profile item.
    pub repeat_notices: HashMap<String, Timestamp>,
    pub hospitals: BTreeMap<String, Hospital>,
    pub hospital_clients: HashMap<String, String>,
    pub mfa_setups: HashMap<String, PendingMfaSetup>,
    pub outbox: Vec<Envelope>,
    faults: Faults<StoreError>,
}

pub fn claim_key(claim: &Claim) -> String {
    match claim {
        Claim::Cpf(cpf) => format!("CPF#{cpf}"),
        Claim::Email(email) => format!("EMAIL#{email}"),
        Claim::Crm { uf, number } => format!("CRM#{uf}#{number}"),
        Claim::Cnes(cnes) => format!("CNES#{cnes}"),
    }
}

impl StoreState {
    fn reserved_by(&self, claim: &Claim, reservation: &str) -> bool {
        matches!(self.claims.get(&claim_key(claim)),
            Some(ClaimItem::Reserved { reservation: r, .. }) if r == reservation)
    }

    fn bind(&mut self, claims: &[Claim], account: &str) {
        for claim in claims {
            self.claims
                .insert(claim_key(claim), ClaimItem::Bound(account.to_string()));
        }
    }

    /// A profile item replaced by a Put loses the attributes the profile does not carry.
    fn put_profile(&mut self, profile: &Profile) {
        self.repeat_notices.remove(&profile.id);
        self.profiles.insert(profile.id.clone(), profile.clone());
    }

    fn live(&self, id: &str) -> bool {
        self.profiles.get(id).is_some_and(|p| !p.is_deleted())
    }
}

pub struct Store {
    state: Mutex<StoreState>,
    /// Stands for the adapter's `Timestamp::now()` (reservation ages).
    clock: ManualClock,
}

impl Store {
    pub fn new(clock: ManualClock) -> Self {
        Self {
            state: Mutex::new(StoreState::default()),
            clock,
        }
    }

    pub fn state(&self) -> MutexGuard<'_, StoreState> {
        self.state.lock().unwrap()
    }

    pub fn fail_next(&self, op: &'static str, err: StoreError) {
        self.state().faults.0.entry(op).or_default().push_back(err);
    }

    /// The outbox, as (type, subject) in the order written.
    pub fn events(&self) -> Vec<(EventType, String)> {
        self.state()
            .outbox
            .iter()
            .map(|e| (e.event_type, e.subject.clone()))
            .collect()
    }

    pub fn claim(&self, claim: &Claim) -> Option<ClaimItem> {
        self.state().claims.get(&claim_key(claim)).cloned()
    }

    pub fn profile(&self, id: &str) -> Option<Profile> {
        self.state().profiles.get(id).cloned()
    }
}

impl ClaimStore for &Store {
    async fn reserve(&self, claims: &[Claim], reservation: &str) -> Result<(), StoreError> {
        let mut s = self.state();
        s.faults.check("reserve")?;
        let now = self.clock.now();
        // One transaction: every claim is free (or a stale reservation), or nothing is written.
        for claim in claims {
            match s.claims.get(&claim_key(claim)) {
                None => {}
                Some(ClaimItem::Reserved { at, .. }) if *at < now - STALE_RESERVATION => {}
                Some(_) => return Err(StoreError::Taken(claim.field())),
            }
        }
        for claim in claims {
            let item = ClaimItem::Reserved {
                reservation: reservation.to_string(),
                at: now,
            };
            s.claims.insert(claim_key(claim), item);
        }
        Ok(())
    }

    async fn release(&self, claims: &[Claim], reservation: &str) -> Result<(), StoreError> {
        let mut s = self.state();
        s.faults.check("release")?;
        for claim in claims {
            if s.reserved_by(claim, reservation) {
                s.claims.remove(&claim_key(claim));
            }
        }
        Ok(())
    }

    async fn claim_holder(&self, claim: &Claim) -> Result<Option<ClaimHolder>, StoreError> {
        let mut s = self.state();
        s.faults.check("claim_holder")?;
        Ok(s.claims.get(&claim_key(claim)).map(|item| match item {
            ClaimItem::Bound(account) => ClaimHolder::Bound(account.clone()),
            ClaimItem::Reserved { .. } => ClaimHolder::Reserved,
        }))
    }

    async fn take_over(
        &self,
        claim: &Claim,
        holder: &str,
        expired: Option<&Profile>,
        reservation: &str,
    ) -> Result<(), StoreError> {
        let mut s = self.state();
        s.faults.check("take_over")?;
        let bound = s.claims.get(&claim_key(claim)) == Some(&ClaimItem::Bound(holder.into()));
        let profile_as_read = match (expired, s.profiles.get(holder)) {
            (Some(read), Some(now)) => {
                now.status == AccountStatus::PendingConfirmation
                    && now.created_at == read.created_at
            }
            (Some(_), None) => false,
            (None, stored) => stored.is_none(),
        };
        if !(bound && profile_as_read) {
            return Err(StoreError::Conflict("the sign-up changed meanwhile".into()));
        }
        s.profiles.remove(holder);
        s.repeat_notices.remove(holder);
        let item = ClaimItem::Reserved {
            reservation: reservation.to_string(),
            at: self.clock.now(),
        };
        s.claims.insert(claim_key(claim), item);
        Ok(())
    }

    async fn account_for_email(&self, email: &Email) -> Result<Option<String>, StoreError> {
        let mut s = self.state();
        s.faults.check("account_for_email")?;
        let claim = Claim::Email(email.as_str().to_string());
        Ok(match s.claims.get(&claim_key(&claim)) {
            Some(ClaimItem::Bound(account)) => Some(account.clone()),
            _ => None,
        })
    }
}

impl ProfileStore for &Store {
    async fn create_profile(
        &self,
        profile: &Profile,
        claims: &[Claim],
        reservation: &str,
        events: &[Envelope],
    ) -> Result<(), StoreError> {
        let mut s = self.state();
        s.faults.check("create_profile")?;
        if s.profiles.contains_key(&profile.id)
            || !claims.iter().all(|c| s.reserved_by(c, reservation))
        {
            return Err(StoreError::Conflict(
                "reservation lost or profile exists".into(),
            ));
        }
        s.put_profile(profile);
        s.bind(claims, &profile.id);
        s.outbox.extend_from_slice(events);
        Ok(())
    }

    async fn get_profile(&self, id: &str) -> Result<Option<Profile>, StoreError> {
        let mut s = self.state();
        s.faults.check("get_profile")?;
        Ok(s.profiles.get(id).cloned())
    }

    async fn activate(&self, profile: &Profile, events: &[Envelope]) -> Result<(), StoreError> {
        let mut s = self.state();
        s.faults.check("activate")?;
        let pending = s
            .profiles
            .get(&profile.id)
            .is_some_and(|p| p.status == AccountStatus::PendingConfirmation);
        if !pending {
            return Err(StoreError::Conflict(
                "no longer waiting for confirmation".into(),
            ));
        }
        s.put_profile(profile);
        s.outbox.extend_from_slice(events);
        Ok(())
    }

    async fn note_repeated_sign_up(
        &self,
        account_id: &str,
        now: Timestamp,
        cutoff: Timestamp,
        events: &[Envelope],
    ) -> Result<bool, StoreError> {
        let mut s = self.state();
        s.faults.check("note_repeated_sign_up")?;
        let due = s
            .repeat_notices
            .get(account_id)
            .is_none_or(|at| *at < cutoff);
        if !s.live(account_id) || !due {
            return Ok(false);
        }
        s.repeat_notices.insert(account_id.to_string(), now);
        s.outbox.extend_from_slice(events);
        Ok(true)
    }

    async fn update_profile(
        &self,
        profile: &Profile,
        events: &[Envelope],
    ) -> Result<(), StoreError> {
        let mut s = self.state();
        s.faults.check("update_profile")?;
        if !s.live(&profile.id) {
            return Err(StoreError::Conflict("profile missing or erased".into()));
        }
        s.put_profile(profile);
        s.outbox.extend_from_slice(events);
        Ok(())
    }

    async fn erase_profile(
        &self,
        anonymised: &Profile,
        claims: &[Claim],
        events: &[Envelope],
    ) -> Result<(), StoreError> {
        let mut s = self.state();
        s.faults.check("erase_profile")?;
        let own = |item: Option<&ClaimItem>| match item {
            None => true,
            Some(ClaimItem::Bound(account)) => *account == anonymised.id,
            Some(ClaimItem::Reserved { .. }) => false,
        };
        if !s.live(&anonymised.id) || !claims.iter().all(|c| own(s.claims.get(&claim_key(c)))) {
            return Err(StoreError::Conflict(
                "profile missing or already erased".into(),
            ));
        }
        s.put_profile(anonymised);
        for claim in claims {
            s.claims.remove(&claim_key(claim));
        }
        s.outbox.extend_from_slice(events);
        Ok(())
    }

    async fn list_doctors(
        &self,
        specialty_key: Option<&str>,
        limit: u16,
        cursor: Option<&str>,
    ) -> Result<Page<DoctorSummary>, StoreError> {
        let mut s = self.state();
        s.faults.check("list_doctors")?;
        let after = match cursor {
            None => None,
            Some(c) => Some(c.strip_prefix("after:").ok_or(StoreError::InvalidCursor)?),
        };
        // The doctors' index: live doctors by `<specialty>#<name>#<id>`, folded.
        let mut index: Vec<(String, DoctorSummary)> = s
            .profiles
            .values()
            .filter(|p| p.role == Role::Doctor && !p.is_deleted())
            .filter_map(|p| {
                let summary = DoctorSummary {
                    id: p.id.clone(),
                    name: p.name.clone()?,
                    crm: p.crm.clone()?,
                    uf: p.uf.clone()?,
                    specialty: p.specialty.clone()?,
                };
                let key = format!(
                    "{}#{}#{}",
                    fold(&summary.specialty),
                    fold(&summary.name),
                    p.id
                );
                Some((key, summary))
            })
            .filter(|(key, _)| specialty_key.is_none_or(|k| key.starts_with(&format!("{k}#"))))
            .filter(|(key, _)| after.is_none_or(|a| key.as_str() > a))
            .collect();
        index.sort_by(|a, b| a.0.cmp(&b.0));
        index.truncate(usize::from(limit));
        // Like a query stopped by its limit, a full page has a cursor even when nothing follows.
        let next_cursor = (index.len() == usize::from(limit))
            .then(|| index.last().map(|(key, _)| format!("after:{key}")))
            .flatten();
        Ok(Page {
            items: index.into_iter().map(|(_, d)| d).collect(),
            next_cursor,
        })
    }
}

impl MfaSetupStore for &Store {
    async fn save_mfa_setup(&self, key: &str, setup: &PendingMfaSetup) -> Result<(), StoreError> {
        let mut s = self.state();
        s.faults.check("save_mfa_setup")?;
        if s.mfa_setups.contains_key(key) {
            // A failed condition outside a transaction: the adapter reports it as Unavailable.
            return Err(StoreError::Unavailable("conditional check failed".into()));
        }
        s.mfa_setups.insert(key.to_string(), setup.clone());
        Ok(())
    }

    async fn mfa_setup(&self, key: &str) -> Result<Option<PendingMfaSetup>, StoreError> {
        let mut s = self.state();
        s.faults.check("mfa_setup")?;
        Ok(s.mfa_setups.get(key).cloned())
    }

    async fn drop_mfa_setup(&self, key: &str) -> Result<(), StoreError> {
        let mut s = self.state();
        s.faults.check("drop_mfa_setup")?;
        s.mfa_setups.remove(key);
        Ok(())
    }
}

impl AccountEvents for &Store {
    async fn purge_events(&self, subject: &str, keep: &[EventType]) -> Result<(), StoreError> {
        let mut s = self.state();
        s.faults.check("purge_events")?;
        s.outbox
            .retain(|e| e.subject != subject || keep.contains(&e.event_type));
        Ok(())
    }
}

impl HospitalStore for &Store {
    async fn create_hospital(
        &self,
        hospital: &Hospital,
        claims: &[Claim],
        reservation: &str,
        events: &[Envelope],
    ) -> Result<(), StoreError> {
        let mut s = self.state();
        s.faults.check("create_hospital")?;
        if s.hospitals.contains_key(&hospital.id)
            || s.hospital_clients.contains_key(&hospital.client_id)
            || !claims.iter().all(|c| s.reserved_by(c, reservation))
        {
            return Err(StoreError::Conflict("reservation lost".into()));
        }
        s.hospitals.insert(hospital.id.clone(), hospital.clone());
        s.hospital_clients
            .insert(hospital.client_id.clone(), hospital.id.clone());
        s.bind(claims, &hospital.id);
        s.outbox.extend_from_slice(events);
        Ok(())
    }
}
