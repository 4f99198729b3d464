//! Profiles of people (`ACCOUNT#<id>` / `PROFILE`): written with their events, listed when
//! they are doctors on `gsi1` (`DOCTOR` / `<specialty>#<name>#<id>`), carrying `expiresAt` while
//! they wait for confirmation.

use crate::domain::ProfileStore;
use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};
use clinic_shared::dynamo::{self, s};
use clinic_shared::envelope::{Envelope, Role};
use clinic_shared::pagination::{decode_cursor, encode_cursor};
use jiff::Timestamp;

use super::{DynamoAccountStore, account_pk, claim_pk, to_item};
use crate::domain::error::StoreError;
use crate::domain::values::fold;
use crate::domain::{AccountStatus, Claim, DoctorSummary, Page, Profile};

/// When housekeeping may delete a sign-up that was never confirmed (after it expired).
const UNCONFIRMED_HOUSEKEEPING_SECONDS: i64 = 7 * 24 * 3600;
const DOCTOR_INDEX_PK: &str = "DOCTOR";
/// The condition of a profile put that must find the profile there and not erased.
const NOT_ERASED: &str = "attribute_exists(pk) AND #status <> :status";

impl DynamoAccountStore {
    fn profile_item(
        &self,
        profile: &Profile,
    ) -> Result<HashMap<String, AttributeValue>, StoreError> {
        let mut item = to_item(profile)?;
        item.insert("pk".into(), s(account_pk(&profile.id)));
        item.insert("sk".into(), s("PROFILE"));
        if profile.status == AccountStatus::PendingConfirmation {
            item.insert(
                "expiresAt".into(),
                AttributeValue::N(
                    (profile.created_at.as_second() + UNCONFIRMED_HOUSEKEEPING_SECONDS).to_string(),
                ),
            );
        }
        if profile.role == Role::Doctor
            && !profile.is_deleted()
            && let (Some(name), Some(specialty)) = (&profile.name, &profile.specialty)
        {
            item.insert("gsi1pk".into(), s(DOCTOR_INDEX_PK));
            item.insert(
                "gsi1sk".into(),
                s(format!("{}#{}#{}", fold(specialty), fold(name), profile.id)),
            );
        }
        Ok(item)
    }

    /// The put of `profile` in a transaction, if the stored `#status` passes `condition` with
    /// `:status` standing for `status`.
    fn profile_put(
        &self,
        profile: &Profile,
        condition: &str,
        status: &str,
    ) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(self.profile_item(profile)?))
            .condition_expression(condition)
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(status));
        Ok(TransactWriteItem::builder()
            .put(Self::build(put.build())?)
            .build())
    }
}

impl ProfileStore for DynamoAccountStore {
    async fn create_profile(
        &self,
        profile: &Profile,
        claims: &[Claim],
        reservation: &str,
        events: &[Envelope],
    ) -> Result<(), StoreError> {
        let mut items = vec![
            TransactWriteItem::builder()
                .put(self.put(self.profile_item(profile)?, "attribute_not_exists(pk)")?)
                .build(),
        ];
        items.extend(self.bind_claims(claims, reservation, &profile.id)?);
        items.extend(self.outbox(events)?);
        self.transact_or_conflict(items, "reservation lost or profile exists")
            .await
    }

    async fn activate(&self, profile: &Profile, events: &[Envelope]) -> Result<(), StoreError> {
        let mut items =
            vec![self.profile_put(profile, "#status = :status", "PENDING_CONFIRMATION")?];
        items.extend(self.outbox(events)?);
        self.transact_or_conflict(items, "no longer waiting for confirmation")
            .await
    }

    async fn note_repeated_sign_up(
        &self,
        account_id: &str,
        now: Timestamp,
        cutoff: Timestamp,
        events: &[Envelope],
    ) -> Result<bool, StoreError> {
        let mark = Update::builder()
            .table_name(&self.table)
            .key("pk", s(account_pk(account_id)))
            .key("sk", s("PROFILE"))
            .update_expression("SET repeatNoticeAt = :now")
            .condition_expression(
                "attribute_exists(pk) AND #status <> :deleted AND \
                 (attribute_not_exists(repeatNoticeAt) OR repeatNoticeAt < :cutoff)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":deleted", s("DELETED"))
            .expression_attribute_values(":now", s(now.to_string()))
            .expression_attribute_values(":cutoff", s(cutoff.to_string()));
        let mut items = vec![
            TransactWriteItem::builder()
                .update(Self::build(mark.build())?)
                .build(),
        ];
        items.extend(self.outbox(events)?);
        dynamo::transact_applied(&self.client, items)
            .await
            .map_err(StoreError::Unavailable)
    }

    async fn get_profile(&self, id: &str) -> Result<Option<Profile>, StoreError> {
        match self.get(&account_pk(id)).await? {
            None => Ok(None),
            Some(item) => serde_dynamo::from_item(item)
                .map(Some)
                .map_err(|e| StoreError::Unavailable(format!("unreadable profile: {e}"))),
        }
    }

    async fn update_profile(
        &self,
        profile: &Profile,
        events: &[Envelope],
    ) -> Result<(), StoreError> {
        let mut items = vec![self.profile_put(profile, NOT_ERASED, "DELETED")?];
        items.extend(self.outbox(events)?);
        self.transact_or_conflict(items, "profile missing or erased")
            .await
    }

    async fn erase_profile(
        &self,
        anonymised: &Profile,
        claims: &[Claim],
        events: &[Envelope],
    ) -> Result<(), StoreError> {
        let mut items = vec![self.profile_put(anonymised, NOT_ERASED, "DELETED")?];
        for claim in claims {
            let delete = Delete::builder()
                .table_name(&self.table)
                .key("pk", s(claim_pk(claim)))
                .key("sk", s("CLAIM"))
                .condition_expression("attribute_not_exists(pk) OR accountId = :id")
                .expression_attribute_values(":id", s(&anonymised.id))
                .build()
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            items.push(TransactWriteItem::builder().delete(delete).build());
        }
        items.extend(self.outbox(events)?);
        self.transact_or_conflict(items, "profile missing or already erased")
            .await
    }

    async fn list_doctors(
        &self,
        specialty_key: Option<&str>,
        limit: u16,
        cursor: Option<&str>,
    ) -> Result<Page<DoctorSummary>, StoreError> {
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("gsi1")
            .limit(i32::from(limit))
            .expression_attribute_values(":pk", s(DOCTOR_INDEX_PK));
        query = match specialty_key {
            Some(key) => query
                .key_condition_expression("gsi1pk = :pk AND begins_with(gsi1sk, :prefix)")
                .expression_attribute_values(":prefix", s(format!("{key}#"))),
            None => query.key_condition_expression("gsi1pk = :pk"),
        };
        if let Some(cursor) = cursor {
            let start = decode_cursor(cursor, &["pk", "sk", "gsi1pk", "gsi1sk"])
                .map_err(|_| StoreError::InvalidCursor)?;
            query = query.set_exclusive_start_key(Some(start));
        }
        let out = query
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(clinic_shared::aws::error_text(&e)))?;
        let mut items = Vec::new();
        for item in out.items() {
            let profile: Profile = serde_dynamo::from_item(item.clone())
                .map_err(|e| StoreError::Unavailable(format!("unreadable profile: {e}")))?;
            if let (Some(name), Some(crm), Some(uf), Some(specialty)) =
                (profile.name, profile.crm, profile.uf, profile.specialty)
            {
                items.push(DoctorSummary {
                    id: profile.id,
                    name,
                    crm,
                    uf,
                    specialty,
                });
            }
        }
        Ok(Page {
            items,
            next_cursor: out.last_evaluated_key().and_then(encode_cursor),
        })
    }
}
