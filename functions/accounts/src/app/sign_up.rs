//! Signing a patient up and confirming the address: reservations of the unique values first,
//! then the identity, then the profile with its events; a failed step undoes the earlier ones.

use super::*;

impl<I: IdentityProvider, S: AccountStore> Accounts<I, S> {
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
        let now = self.clock.now();
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
        let now = self.clock.now();
        let profile = self.store.get_profile(&holder).await?;
        // What is left to remove: an expired sign-up's profile, or none when the claim outlived
        // its profile (a crash, or housekeeping removed an expired sign-up).
        let expired = match &profile {
            Some(p)
                if p.status == AccountStatus::PendingConfirmation && !sign_up_expired(p, now) =>
            {
                return Ok(Some(SignUpOutcome::AlreadyPending));
            }
            Some(p) if p.status == AccountStatus::PendingConfirmation => Some(p),
            Some(p) if p.is_deleted() => return Ok(Some(SignUpOutcome::AlreadyPending)),
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
                return Ok(Some(SignUpOutcome::OwnerNotified));
            }
            None => None,
        };
        // Remove the expired sign-up (its profile, the claim it held and its identity) so this
        // sign-up can use the address.
        match self
            .store
            .take_over(claim, &holder, expired, reservation)
            .await
        {
            Ok(()) => {}
            // Someone else took it over or it was confirmed meanwhile.
            Err(StoreError::Conflict(_)) => return Ok(Some(SignUpOutcome::AlreadyPending)),
            Err(other) => return Err(other.into()),
        }
        self.identity
            .delete_user(&holder)
            .await
            .map_err(identity_unavailable)?;
        tracing::info!(account_id = %holder, "expired sign-up removed; its address is free again");
        Ok(None)
    }

    /// Creates the identity for a sign-up. A user left by an attempt that crashed before its
    /// profile was committed (same e-mail, no profile), or by an erasure that stopped before its
    /// identity step (an erased profile), is removed and the sign-up retried once; the e-mail
    /// claim this attempt holds proves no live account owns that e-mail.
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
        // An erased profile does not own the address: its identity is what an erasure that
        // stopped before the identity step left behind (the erased person may never retry).
        let live = self
            .store
            .get_profile(&user.id)
            .await?
            .is_some_and(|profile| profile.status != AccountStatus::Deleted);
        if live {
            return Err(AccountsError::AlreadyUsed { field: "email" });
        }
        tracing::warn!(account_id = %user.id, "removing identity left by an unfinished sign-up or erasure");
        self.identity
            .delete_user(&user.id)
            .await
            .map_err(identity_unavailable)
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
            && sign_up_expired(p, self.clock.now())
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
        profile.updated_at = self.clock.now();
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
}
