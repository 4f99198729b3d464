//! Signing in: passwords, the second factor (set up or answered), first passwords and refresh.

use super::*;

impl<I: IdentityProvider, S: AccountStore> Accounts<I, S> {
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
            expires_at: self.clock.now() + jiff::SignedDuration::from_mins(MFA_SETUP_MINUTES),
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
        if setup.username != username.trim().to_lowercase() || setup.expires_at <= self.clock.now()
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
            profile.updated_at = self.clock.now();
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
}
