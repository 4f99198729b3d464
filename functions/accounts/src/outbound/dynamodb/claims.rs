//! Unique values: one claim per e-mail, CPF, CRM or CNES (`CLAIM#<KIND>#<value>` / `CLAIM`),
//! `RESERVED` by a sign-up under way (a stale reservation is taken over), then `BOUND` to its
//! account; a value bound to an expired, never confirmed sign-up is reserved anew in the
//! transaction that deletes that sign-up's profile.

use crate::domain::ClaimStore;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};
use clinic_shared::dynamo::{self, Conditional, TransactFailure, s, text};
use jiff::Timestamp;

use super::{BOUND, DynamoAccountStore, RESERVED, account_pk, claim_pk, reserved_by, unavailable};
use crate::domain::error::StoreError;
use crate::domain::{Claim, ClaimHolder, Profile};

/// A reservation older than this belongs to an attempt that crashed and may be taken over.
const STALE_RESERVATION_MS: i64 = 15 * 60 * 1000;

impl ClaimStore for DynamoAccountStore {
    async fn reserve(&self, claims: &[Claim], reservation: &str) -> Result<(), StoreError> {
        let now_ms = Timestamp::now().as_millisecond();
        let mut items = Vec::with_capacity(claims.len());
        for claim in claims {
            let put = Put::builder()
                .table_name(&self.table)
                .item("pk", s(claim_pk(claim)))
                .item("sk", s("CLAIM"))
                .item("state", s(RESERVED))
                .item("reservation", s(reservation))
                .item("reservedAt", AttributeValue::N(now_ms.to_string()))
                .condition_expression(
                    "attribute_not_exists(pk) OR (#state = :reserved AND reservedAt < :stale)",
                )
                .expression_attribute_names("#state", "state")
                .expression_attribute_values(":reserved", s(RESERVED))
                .expression_attribute_values(
                    ":stale",
                    AttributeValue::N((now_ms - STALE_RESERVATION_MS).to_string()),
                )
                .build()
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            items.push(TransactWriteItem::builder().put(put).build());
        }
        match self.transact(items).await {
            Ok(()) => Ok(()),
            Err(err) => match err {
                TransactFailure::Conditions(failed) => {
                    let field = failed
                        .first()
                        .and_then(|i| claims.get(*i))
                        .or_else(|| claims.first())
                        .map_or("email", Claim::field);
                    Err(StoreError::Taken(field))
                }
                TransactFailure::Unavailable(text) => Err(StoreError::Unavailable(text)),
            },
        }
    }

    async fn release(&self, claims: &[Claim], reservation: &str) -> Result<(), StoreError> {
        for claim in claims {
            let result = self
                .client
                .delete_item()
                .table_name(&self.table)
                .key("pk", s(claim_pk(claim)))
                .key("sk", s("CLAIM"))
                .on(reserved_by(reservation))
                .send()
                .await;
            // Not this reservation's any more (bound, or taken over): it stays.
            dynamo::applied(result).map_err(|e| unavailable(&e))?;
        }
        Ok(())
    }

    async fn claim_holder(&self, claim: &Claim) -> Result<Option<ClaimHolder>, StoreError> {
        let Some(item) = self.get(&claim_pk(claim)).await? else {
            return Ok(None);
        };
        let state = text(&item, "state");
        let account = text(&item, "accountId");
        Ok(match (state.as_deref(), account) {
            (Some(BOUND), Some(account)) => Some(ClaimHolder::Bound(account)),
            _ => Some(ClaimHolder::Reserved),
        })
    }

    async fn take_over(
        &self,
        claim: &Claim,
        holder: &str,
        expired: Option<&Profile>,
        reservation: &str,
    ) -> Result<(), StoreError> {
        let now_ms = Timestamp::now().as_millisecond();
        let reclaim = Update::builder()
            .table_name(&self.table)
            .key("pk", s(claim_pk(claim)))
            .key("sk", s("CLAIM"))
            .update_expression(
                "SET #state = :reserved, reservation = :r, reservedAt = :at REMOVE accountId",
            )
            .condition_expression("#state = :bound AND accountId = :holder")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":reserved", s(RESERVED))
            .expression_attribute_values(":bound", s(BOUND))
            .expression_attribute_values(":holder", s(holder))
            .expression_attribute_values(":r", s(reservation))
            .expression_attribute_values(":at", AttributeValue::N(now_ms.to_string()));
        let mut items = vec![
            TransactWriteItem::builder()
                .update(Self::build(reclaim.build())?)
                .build(),
        ];
        let profile_key = [("pk", s(account_pk(holder))), ("sk", s("PROFILE"))];
        let profile_op = match expired {
            // Only while it still waits for confirmation, and is the one that was read.
            Some(profile) => Delete::builder()
                .table_name(&self.table)
                .set_key(Some(profile_key.map(|(k, v)| (k.to_string(), v)).into()))
                .condition_expression("#status = :pending AND createdAt = :created")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":pending", s("PENDING_CONFIRMATION"))
                .expression_attribute_values(":created", s(profile.created_at.to_string())),
            // The claim outlived its profile: make sure none came back meanwhile.
            None => Delete::builder()
                .table_name(&self.table)
                .set_key(Some(profile_key.map(|(k, v)| (k.to_string(), v)).into()))
                .condition_expression("attribute_not_exists(pk)"),
        };
        items.push(
            TransactWriteItem::builder()
                .delete(Self::build(profile_op.build())?)
                .build(),
        );
        self.transact_or_conflict(items, "the sign-up changed meanwhile")
            .await
    }

    async fn account_for_email(
        &self,
        email: &crate::domain::values::Email,
    ) -> Result<Option<String>, StoreError> {
        let item = self
            .get(&claim_pk(&Claim::Email(email.as_str().to_string())))
            .await?;
        Ok(item.and_then(|item| {
            let bound = text(&item, "state").is_some_and(|v| v == BOUND);
            text(&item, "accountId").filter(|_| bound)
        }))
    }
}
