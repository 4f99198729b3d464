//! [`IdentityProvider`] on Amazon Cognito user pools.

use aws_sdk_cognitoidentityprovider::Client;
use aws_sdk_cognitoidentityprovider::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cognitoidentityprovider::types::{
    AttributeType, AuthFlowType, ChallengeNameType, MessageActionType, OAuthFlowType,
    UserStatusType,
};

use crate::domain::error::IdentityError;
use crate::domain::values::{Email, Password};
use crate::domain::{IdentityProvider, IdentityUser, MachineClient, SignIn, Tokens};

/// Cognito user pool with the web app client users sign in through.
#[derive(Clone)]
pub struct CognitoIdentity {
    client: Client,
    user_pool_id: String,
    web_client_id: String,
    ingest_scope: String,
}

impl CognitoIdentity {
    pub fn new(
        client: Client,
        user_pool_id: String,
        web_client_id: String,
        ingest_scope: String,
    ) -> Self {
        Self {
            client,
            user_pool_id,
            web_client_id,
            ingest_scope,
        }
    }
}

/// Maps any Cognito error to the domain by its error code; SDK text is kept for logs only.
fn map_err<E, R>(err: SdkError<E, R>) -> IdentityError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let message = err.message().unwrap_or("").to_string();
    match err.code() {
        Some("UsernameExistsException" | "AliasExistsException") => IdentityError::UsernameExists,
        Some("InvalidPasswordException") => IdentityError::InvalidPassword(
            "The password does not meet the policy (8+ characters, upper and lower case, a digit)."
                .into(),
        ),
        Some("InvalidParameterException") => IdentityError::InvalidParameter(message),
        Some("NotAuthorizedException") => IdentityError::NotAuthorized,
        Some("UserNotConfirmedException") => IdentityError::UserNotConfirmed,
        Some("UserNotFoundException") => IdentityError::UserNotFound,
        Some("CodeMismatchException") => IdentityError::CodeMismatch,
        Some("ExpiredCodeException") => IdentityError::ExpiredCode,
        Some(
            "TooManyRequestsException"
            | "LimitExceededException"
            | "TooManyFailedAttemptsException",
        ) => IdentityError::TooManyRequests,
        _ => IdentityError::Unavailable(clinic_shared::aws::error_text(&err)),
    }
}

fn tokens(
    result: Option<&aws_sdk_cognitoidentityprovider::types::AuthenticationResultType>,
) -> Result<Tokens, IdentityError> {
    let result =
        result.ok_or_else(|| IdentityError::Unavailable("no authentication result".into()))?;
    Ok(Tokens {
        id_token: result.id_token().unwrap_or_default().to_string(),
        access_token: result.access_token().unwrap_or_default().to_string(),
        refresh_token: result.refresh_token().map(str::to_string),
        expires_in: result.expires_in(),
    })
}

fn attribute(name: &str, value: &str) -> Result<AttributeType, IdentityError> {
    AttributeType::builder()
        .name(name)
        .value(value)
        .build()
        .map_err(|e| IdentityError::Unavailable(e.to_string()))
}

impl IdentityProvider for CognitoIdentity {
    async fn sign_up(&self, email: &Email, password: &Password) -> Result<String, IdentityError> {
        let out = self
            .client
            .sign_up()
            .client_id(&self.web_client_id)
            .username(email.as_str())
            .password(password.expose())
            .user_attributes(attribute("email", email.as_str())?)
            .send()
            .await
            .map_err(map_err)?;
        Ok(out.user_sub().to_string())
    }

    async fn create_user(
        &self,
        email: &Email,
        temporary_password: Option<&Password>,
    ) -> Result<String, IdentityError> {
        let mut request = self
            .client
            .admin_create_user()
            .user_pool_id(&self.user_pool_id)
            .username(email.as_str())
            .user_attributes(attribute("email", email.as_str())?)
            .user_attributes(attribute("email_verified", "true")?);
        if let Some(password) = temporary_password {
            // Staff chose the password and hand it over themselves; Cognito stays quiet.
            request = request
                .temporary_password(password.expose())
                .message_action(MessageActionType::Suppress);
        }
        let out = request.send().await.map_err(map_err)?;
        let user = out.user().ok_or_else(|| {
            IdentityError::Unavailable("no user in AdminCreateUser answer".into())
        })?;
        user.attributes()
            .iter()
            .find(|a| a.name() == "sub")
            .and_then(|a| a.value())
            .or(user.username())
            .map(str::to_string)
            .ok_or_else(|| IdentityError::Unavailable("created user has no id".into()))
    }

    async fn find_user(&self, username: &str) -> Result<Option<IdentityUser>, IdentityError> {
        match self
            .client
            .admin_get_user()
            .user_pool_id(&self.user_pool_id)
            .username(username)
            .send()
            .await
        {
            Ok(out) => {
                let id = out
                    .user_attributes()
                    .iter()
                    .find(|a| a.name() == "sub")
                    .and_then(|a| a.value())
                    .unwrap_or(out.username())
                    .to_string();
                let confirmed = out.user_status() != Some(&UserStatusType::Unconfirmed);
                Ok(Some(IdentityUser { id, confirmed }))
            }
            Err(err) => match map_err(err) {
                IdentityError::UserNotFound => Ok(None),
                other => Err(other),
            },
        }
    }

    async fn sign_out_everywhere(&self, username: &str) -> Result<(), IdentityError> {
        self.client
            .admin_user_global_sign_out()
            .user_pool_id(&self.user_pool_id)
            .username(username)
            .send()
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn add_to_group(&self, username: &str, group: &str) -> Result<(), IdentityError> {
        self.client
            .admin_add_user_to_group()
            .user_pool_id(&self.user_pool_id)
            .username(username)
            .group_name(group)
            .send()
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn delete_user(&self, username: &str) -> Result<(), IdentityError> {
        match self
            .client
            .admin_delete_user()
            .user_pool_id(&self.user_pool_id)
            .username(username)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(err) => match map_err(err) {
                IdentityError::UserNotFound => Ok(()),
                other => Err(other),
            },
        }
    }

    async fn confirm_sign_up(&self, email: &Email, code: &str) -> Result<(), IdentityError> {
        self.client
            .confirm_sign_up()
            .client_id(&self.web_client_id)
            .username(email.as_str())
            .confirmation_code(code)
            .send()
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn sign_in(&self, username: &str, password: &str) -> Result<SignIn, IdentityError> {
        let out = self
            .client
            .initiate_auth()
            .client_id(&self.web_client_id)
            .auth_flow(AuthFlowType::UserPasswordAuth)
            .auth_parameters("USERNAME", username)
            .auth_parameters("PASSWORD", password)
            .send()
            .await
            .map_err(map_err)?;
        match out.challenge_name() {
            Some(ChallengeNameType::NewPasswordRequired) => Ok(SignIn::NewPasswordRequired {
                session: out.session().unwrap_or_default().to_string(),
            }),
            Some(other) => Err(IdentityError::Unavailable(format!(
                "unsupported challenge {}",
                other.as_str()
            ))),
            None => Ok(SignIn::Tokens(tokens(out.authentication_result())?)),
        }
    }

    async fn complete_new_password(
        &self,
        username: &str,
        session: &str,
        new_password: &Password,
    ) -> Result<Tokens, IdentityError> {
        let out = self
            .client
            .respond_to_auth_challenge()
            .client_id(&self.web_client_id)
            .challenge_name(ChallengeNameType::NewPasswordRequired)
            .session(session)
            .challenge_responses("USERNAME", username)
            .challenge_responses("NEW_PASSWORD", new_password.expose())
            .send()
            .await
            .map_err(|err| {
                // An unknown or expired session: Cognito says NotAuthorized, the emulator
                // ResourceNotFound; both mean "sign in again".
                if err.code() == Some("ResourceNotFoundException") {
                    IdentityError::NotAuthorized
                } else {
                    map_err(err)
                }
            })?;
        tokens(out.authentication_result())
    }

    async fn refresh(&self, refresh_token: &str) -> Result<Tokens, IdentityError> {
        let out = self
            .client
            .initiate_auth()
            .client_id(&self.web_client_id)
            .auth_flow(AuthFlowType::RefreshTokenAuth)
            .auth_parameters("REFRESH_TOKEN", refresh_token)
            .send()
            .await
            .map_err(map_err)?;
        tokens(out.authentication_result())
    }

    async fn create_machine_client(&self, name: &str) -> Result<MachineClient, IdentityError> {
        let out = self
            .client
            .create_user_pool_client()
            .user_pool_id(&self.user_pool_id)
            .client_name(name)
            .generate_secret(true)
            .allowed_o_auth_flows(OAuthFlowType::ClientCredentials)
            .allowed_o_auth_scopes(&self.ingest_scope)
            .allowed_o_auth_flows_user_pool_client(true)
            .send()
            .await
            .map_err(map_err)?;
        let client = out.user_pool_client().ok_or_else(|| {
            IdentityError::Unavailable("no client in CreateUserPoolClient answer".into())
        })?;
        match (client.client_id(), client.client_secret()) {
            (Some(id), Some(secret)) => Ok(MachineClient {
                client_id: id.to_string(),
                client_secret: secret.to_string(),
            }),
            _ => Err(IdentityError::Unavailable(
                "app client without id or secret".into(),
            )),
        }
    }

    async fn delete_machine_client(&self, client_id: &str) -> Result<(), IdentityError> {
        self.client
            .delete_user_pool_client()
            .user_pool_id(&self.user_pool_id)
            .client_id(client_id)
            .send()
            .await
            .map_err(map_err)?;
        Ok(())
    }
}
