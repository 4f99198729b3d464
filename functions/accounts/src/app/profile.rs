//! A person's own profile: reading it, changing it, and erasing the account (LGPD).

use super::*;

impl<I: IdentityProvider, S: AccountStore> Accounts<I, S> {
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
        updated.updated_at = self.clock.now();
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
                    &profile.anonymised(self.clock.now()),
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
}
