//! Authenticator set-ups (`MFASETUP#<digest of the session>` / `MFASETUP`): the tokens of a
//! staff or doctor sign-in, kept for the few minutes it takes to set an authenticator app up.

use crate::domain::MfaSetupStore;
use aws_sdk_dynamodb::types::AttributeValue;
use clinic_shared::dynamo::{self, key, n, s};

use super::{DynamoAccountStore, unavailable};
use crate::domain::error::StoreError;
use crate::domain::{PendingMfaSetup, Tokens};

fn mfa_setup_pk(key: &str) -> String {
    format!("MFASETUP#{key}")
}

impl MfaSetupStore for DynamoAccountStore {
    async fn save_mfa_setup(&self, key: &str, setup: &PendingMfaSetup) -> Result<(), StoreError> {
        let tokens = &setup.tokens;
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(mfa_setup_pk(key)))
            .item("sk", s("MFASETUP"))
            .item("username", s(&setup.username))
            .item("idToken", s(&tokens.id_token))
            .item("accessToken", s(&tokens.access_token))
            .item("expiresIn", n(tokens.expires_in))
            .item(
                "groups",
                AttributeValue::L(tokens.groups.iter().map(s).collect()),
            )
            .item("expiresAtTime", s(setup.expires_at.to_string()))
            // Housekeeping only: expiry is checked against `expiresAtTime`.
            .item("expiresAt", n(setup.expires_at.as_second() + 3600))
            .condition_expression("attribute_not_exists(pk)");
        if let Some(refresh) = &tokens.refresh_token {
            request = request.item("refreshToken", s(refresh));
        }
        request
            .send()
            .await
            .map(|_| ())
            .map_err(|e| unavailable(&e))
    }

    async fn mfa_setup(&self, key: &str) -> Result<Option<PendingMfaSetup>, StoreError> {
        let Some(item) = self.get(&mfa_setup_pk(key)).await? else {
            return Ok(None);
        };
        let text = |name: &str| dynamo::text(&item, name);
        let corrupt = || StoreError::Unavailable("unreadable authenticator setup".into());
        Ok(Some(PendingMfaSetup {
            username: text("username").ok_or_else(corrupt)?,
            expires_at: text("expiresAtTime")
                .and_then(|t| t.parse().ok())
                .ok_or_else(corrupt)?,
            tokens: Tokens {
                id_token: text("idToken").ok_or_else(corrupt)?,
                access_token: text("accessToken").ok_or_else(corrupt)?,
                refresh_token: text("refreshToken"),
                expires_in: dynamo::number(&item, "expiresIn").unwrap_or(0),
                groups: item
                    .get("groups")
                    .and_then(|v| v.as_l().ok())
                    .map(|l| l.iter().filter_map(|g| g.as_s().ok().cloned()).collect())
                    .unwrap_or_default(),
            },
        }))
    }

    async fn drop_mfa_setup(&self, session: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(mfa_setup_pk(session), "MFASETUP")))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| unavailable(&e))
    }
}
