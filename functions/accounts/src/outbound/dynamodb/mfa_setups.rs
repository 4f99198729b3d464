//! Authenticator set-ups (`MFASETUP#<digest of the session>` / `MFASETUP`): the tokens of a
//! staff or doctor sign-in, kept for the few minutes it takes to set an authenticator app up.

use aws_sdk_dynamodb::types::AttributeValue;

use super::{DynamoAccountStore, s};
use crate::domain::error::StoreError;
use crate::domain::{PendingMfaSetup, Tokens};

fn mfa_setup_pk(key: &str) -> String {
    format!("MFASETUP#{key}")
}

impl DynamoAccountStore {
    pub(super) async fn insert_mfa_setup(
        &self,
        key: &str,
        setup: &PendingMfaSetup,
    ) -> Result<(), StoreError> {
        let tokens = &setup.tokens;
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(&mfa_setup_pk(key)))
            .item("sk", s("MFASETUP"))
            .item("username", s(&setup.username))
            .item("idToken", s(&tokens.id_token))
            .item("accessToken", s(&tokens.access_token))
            .item(
                "expiresIn",
                AttributeValue::N(tokens.expires_in.to_string()),
            )
            .item(
                "groups",
                AttributeValue::L(tokens.groups.iter().map(|g| s(g)).collect()),
            )
            .item("expiresAtTime", s(&setup.expires_at.to_string()))
            // Housekeeping only: expiry is checked against `expiresAtTime`.
            .item(
                "expiresAt",
                AttributeValue::N((setup.expires_at.as_second() + 3600).to_string()),
            )
            .condition_expression("attribute_not_exists(pk)");
        if let Some(refresh) = &tokens.refresh_token {
            request = request.item("refreshToken", s(refresh));
        }
        request
            .send()
            .await
            .map(|_| ())
            .map_err(|e| StoreError::Unavailable(clinic_shared::aws::error_text(&e)))
    }

    pub(super) async fn read_mfa_setup(
        &self,
        key: &str,
    ) -> Result<Option<PendingMfaSetup>, StoreError> {
        let Some(item) = self.get(&mfa_setup_pk(key)).await? else {
            return Ok(None);
        };
        let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
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
                expires_in: item
                    .get("expiresIn")
                    .and_then(|v| v.as_n().ok())
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0),
                groups: item
                    .get("groups")
                    .and_then(|v| v.as_l().ok())
                    .map(|l| l.iter().filter_map(|g| g.as_s().ok().cloned()).collect())
                    .unwrap_or_default(),
            },
        }))
    }

    pub(super) async fn delete_mfa_setup(&self, key: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(&mfa_setup_pk(key)))
            .key("sk", s("MFASETUP"))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| StoreError::Unavailable(clinic_shared::aws::error_text(&e)))
    }
}
