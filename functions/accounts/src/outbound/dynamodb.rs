//! [`AccountStore`] on the service's DynamoDB table (single-table design).
//!
//! Items: `ACCOUNT#<id>/PROFILE` (people), `HOSPITAL#<id>/PROFILE`, `CLAIM#<KIND>#<value>/CLAIM`
//! (unique values: e-mail, CRM, CNES) and `OUTBOX#<eventId>/OUTBOX` (events; kept a week after
//! publishing). Doctors are listed through `gsi1` (`DOCTOR` / `<specialty>#<name>#<id>`), the
//! events about one person through `gsi1` too (`OUTBOXOF#<subject>` / `<time>#<eventId>`), so an
//! erasure can purge them. A profile waiting for confirmation carries `expiresAt` (the table's
//! TTL attribute) a week after sign-up: housekeeping only, the use cases compare `createdAt`.
//! `MFASETUP#<digest of the session>/MFASETUP` holds the tokens of a staff or doctor sign-in for
//! the few minutes it takes to set an authenticator app up.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};
use clinic_shared::dynamo::{self, TransactFailure};
use clinic_shared::envelope::EventType;
use clinic_shared::envelope::{Envelope, Role};
use clinic_shared::outbox::outbox_put_with;
use clinic_shared::pagination::{decode_cursor, encode_cursor};
use jiff::Timestamp;

use crate::domain::error::StoreError;
use crate::domain::values::fold;
use crate::domain::{
    AccountStatus, AccountStore, Claim, ClaimHolder, DoctorSummary, Hospital, Page,
    PendingMfaSetup, Profile, Tokens,
};

/// A reservation older than this belongs to an attempt that crashed and may be taken over.
const STALE_RESERVATION_MS: i64 = 15 * 60 * 1000;
/// When housekeeping may delete a sign-up that was never confirmed (after it expired).
const UNCONFIRMED_HOUSEKEEPING_SECONDS: i64 = 7 * 24 * 3600;
const RESERVED: &str = "RESERVED";
const BOUND: &str = "BOUND";
const DOCTOR_INDEX_PK: &str = "DOCTOR";

/// The accounts table.
#[derive(Clone)]
pub struct DynamoAccountStore {
    client: Client,
    table: String,
}

impl DynamoAccountStore {
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }

    fn profile_item(
        &self,
        profile: &Profile,
    ) -> Result<HashMap<String, AttributeValue>, StoreError> {
        let mut item: HashMap<String, AttributeValue> =
            serde_dynamo::to_item(profile).map_err(|e| StoreError::Unavailable(e.to_string()))?;
        item.retain(|_, v| !matches!(v, AttributeValue::Null(_)));
        item.insert("pk".into(), s(&account_pk(&profile.id)));
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
                s(&format!(
                    "{}#{}#{}",
                    fold(specialty),
                    fold(name),
                    profile.id
                )),
            );
        }
        Ok(item)
    }

    fn put(
        &self,
        item: HashMap<String, AttributeValue>,
        condition: &str,
    ) -> Result<Put, StoreError> {
        Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    fn outbox(&self, events: &[Envelope]) -> Result<Vec<TransactWriteItem>, StoreError> {
        events
            .iter()
            .map(|e| {
                let index = vec![
                    ("gsi1pk".to_string(), s(&events_of_pk(&e.subject))),
                    ("gsi1sk".to_string(), s(&format!("{}#{}", e.time, e.id))),
                ];
                outbox_put_with(&self.table, e, index)
                    .map_err(|err| StoreError::Unavailable(err.to_string()))
            })
            .collect()
    }

    fn build<T, E: std::fmt::Display>(result: Result<T, E>) -> Result<T, StoreError> {
        result.map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    fn bind_claims(
        &self,
        claims: &[Claim],
        reservation: &str,
        account_id: &str,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        claims
            .iter()
            .map(|claim| {
                let update = Update::builder()
                    .table_name(&self.table)
                    .key("pk", s(&claim_pk(claim)))
                    .key("sk", s("CLAIM"))
                    .update_expression("SET #state = :bound, accountId = :id REMOVE reservedAt")
                    .condition_expression("#state = :reserved AND reservation = :r")
                    .expression_attribute_names("#state", "state")
                    .expression_attribute_values(":bound", s(BOUND))
                    .expression_attribute_values(":reserved", s(RESERVED))
                    .expression_attribute_values(":id", s(account_id))
                    .expression_attribute_values(":r", s(reservation))
                    .build()
                    .map_err(|e| StoreError::Unavailable(e.to_string()))?;
                Ok(TransactWriteItem::builder().update(update).build())
            })
            .collect()
    }

    /// Runs a transaction the way every service does (conflicts with concurrent transactions
    /// retried).
    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), TransactFailure> {
        dynamo::transact(&self.client, items).await
    }

    async fn get(&self, pk: &str) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sort_key_of(pk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(clinic_shared::aws::error_text(&e)))?;
        Ok(out.item)
    }
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_string())
}

fn account_pk(id: &str) -> String {
    format!("ACCOUNT#{id}")
}

fn events_of_pk(subject: &str) -> String {
    format!("OUTBOXOF#{subject}")
}

fn hospital_client_pk(client_id: &str) -> String {
    format!("HOSPITALCLIENT#{client_id}")
}

fn mfa_setup_pk(key: &str) -> String {
    format!("MFASETUP#{key}")
}

fn sort_key_of(pk: &str) -> &'static str {
    if pk.starts_with("CLAIM#") {
        "CLAIM"
    } else if pk.starts_with("HOSPITALCLIENT#") {
        "CLIENT"
    } else if pk.starts_with("MFASETUP#") {
        "MFASETUP"
    } else {
        "PROFILE"
    }
}

fn claim_pk(claim: &Claim) -> String {
    match claim {
        Claim::Cpf(cpf) => format!("CLAIM#CPF#{cpf}"),
        Claim::Email(email) => format!("CLAIM#EMAIL#{email}"),
        Claim::Crm { uf, number } => format!("CLAIM#CRM#{uf}#{number}"),
        Claim::Cnes(cnes) => format!("CLAIM#CNES#{cnes}"),
    }
}

/// Indices of the transaction items whose condition failed, when the error says so.
impl AccountStore for DynamoAccountStore {
    async fn reserve(&self, claims: &[Claim], reservation: &str) -> Result<(), StoreError> {
        let now_ms = Timestamp::now().as_millisecond();
        let mut items = Vec::with_capacity(claims.len());
        for claim in claims {
            let put = Put::builder()
                .table_name(&self.table)
                .item("pk", s(&claim_pk(claim)))
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
                .key("pk", s(&claim_pk(claim)))
                .key("sk", s("CLAIM"))
                .condition_expression("#state = :reserved AND reservation = :r")
                .expression_attribute_names("#state", "state")
                .expression_attribute_values(":reserved", s(RESERVED))
                .expression_attribute_values(":r", s(reservation))
                .send()
                .await;
            if let Err(err) = result
                && !err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception())
            {
                return Err(StoreError::Unavailable(clinic_shared::aws::error_text(
                    &err,
                )));
            }
        }
        Ok(())
    }

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
        self.transact(items).await.map_err(|err| match err {
            TransactFailure::Conditions(_) => {
                StoreError::Conflict("reservation lost or profile exists".into())
            }
            TransactFailure::Unavailable(text) => StoreError::Unavailable(text),
        })
    }

    async fn save_mfa_setup(&self, key: &str, setup: &PendingMfaSetup) -> Result<(), StoreError> {
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

    async fn mfa_setup(&self, key: &str) -> Result<Option<PendingMfaSetup>, StoreError> {
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

    async fn drop_mfa_setup(&self, key: &str) -> Result<(), StoreError> {
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

    async fn claim_holder(&self, claim: &Claim) -> Result<Option<ClaimHolder>, StoreError> {
        let Some(item) = self.get(&claim_pk(claim)).await? else {
            return Ok(None);
        };
        let state = item.get("state").and_then(|v| v.as_s().ok());
        let account = item.get("accountId").and_then(|v| v.as_s().ok());
        Ok(match (state.map(String::as_str), account) {
            (Some(BOUND), Some(account)) => Some(ClaimHolder::Bound(account.clone())),
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
            .key("pk", s(&claim_pk(claim)))
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
        let profile_key = [("pk", s(&account_pk(holder))), ("sk", s("PROFILE"))];
        let profile_op = match expired {
            // Only while it still waits for confirmation, and is the one that was read.
            Some(profile) => Delete::builder()
                .table_name(&self.table)
                .set_key(Some(profile_key.map(|(k, v)| (k.to_string(), v)).into()))
                .condition_expression("#status = :pending AND createdAt = :created")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":pending", s("PENDING_CONFIRMATION"))
                .expression_attribute_values(":created", s(&profile.created_at.to_string())),
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
        self.transact(items).await.map_err(|err| match err {
            TransactFailure::Conditions(_) => {
                StoreError::Conflict("the sign-up changed meanwhile".into())
            }
            TransactFailure::Unavailable(text) => StoreError::Unavailable(text),
        })
    }

    async fn activate(&self, profile: &Profile, events: &[Envelope]) -> Result<(), StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(self.profile_item(profile)?))
            .condition_expression("#status = :pending")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":pending", s("PENDING_CONFIRMATION"));
        let mut items = vec![
            TransactWriteItem::builder()
                .put(Self::build(put.build())?)
                .build(),
        ];
        items.extend(self.outbox(events)?);
        self.transact(items).await.map_err(|err| match err {
            TransactFailure::Conditions(_) => {
                StoreError::Conflict("no longer waiting for confirmation".into())
            }
            TransactFailure::Unavailable(text) => StoreError::Unavailable(text),
        })
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
            .key("pk", s(&account_pk(account_id)))
            .key("sk", s("PROFILE"))
            .update_expression("SET repeatNoticeAt = :now")
            .condition_expression(
                "attribute_exists(pk) AND #status <> :deleted AND \
                 (attribute_not_exists(repeatNoticeAt) OR repeatNoticeAt < :cutoff)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":deleted", s("DELETED"))
            .expression_attribute_values(":now", s(&now.to_string()))
            .expression_attribute_values(":cutoff", s(&cutoff.to_string()));
        let mut items = vec![
            TransactWriteItem::builder()
                .update(Self::build(mark.build())?)
                .build(),
        ];
        items.extend(self.outbox(events)?);
        match self.transact(items).await {
            Ok(()) => Ok(true),
            Err(err) => match err {
                TransactFailure::Conditions(_) => Ok(false),
                TransactFailure::Unavailable(text) => Err(StoreError::Unavailable(text)),
            },
        }
    }

    async fn purge_events(&self, subject: &str, keep: &[EventType]) -> Result<(), StoreError> {
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name("gsi1")
                .key_condition_expression("gsi1pk = :pk")
                .expression_attribute_values(":pk", s(&events_of_pk(subject)))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| StoreError::Unavailable(clinic_shared::aws::error_text(&e)))?;
            for item in out.items() {
                let kept = item
                    .get("eventType")
                    .and_then(|v| v.as_s().ok())
                    .and_then(|t| EventType::parse(t))
                    .is_some_and(|t| keep.contains(&t));
                let (Some(pk), Some(sk)) = (item.get("pk"), item.get("sk")) else {
                    continue;
                };
                if kept {
                    continue;
                }
                self.client
                    .delete_item()
                    .table_name(&self.table)
                    .key("pk", pk.clone())
                    .key("sk", sk.clone())
                    .send()
                    .await
                    .map_err(|e| StoreError::Unavailable(clinic_shared::aws::error_text(&e)))?;
            }
            match out.last_evaluated_key() {
                Some(key) => start = Some(key.clone()),
                None => return Ok(()),
            }
        }
    }

    async fn get_profile(&self, id: &str) -> Result<Option<Profile>, StoreError> {
        match self.get(&account_pk(id)).await? {
            None => Ok(None),
            Some(item) => serde_dynamo::from_item(item)
                .map(Some)
                .map_err(|e| StoreError::Unavailable(format!("unreadable profile: {e}"))),
        }
    }

    async fn account_for_email(
        &self,
        email: &crate::domain::values::Email,
    ) -> Result<Option<String>, StoreError> {
        let item = self
            .get(&claim_pk(&Claim::Email(email.as_str().to_string())))
            .await?;
        Ok(item.and_then(|item| {
            let bound = item
                .get("state")
                .and_then(|v| v.as_s().ok())
                .is_some_and(|v| v == BOUND);
            item.get("accountId")
                .and_then(|v| v.as_s().ok())
                .filter(|_| bound)
                .cloned()
        }))
    }

    async fn update_profile(
        &self,
        profile: &Profile,
        events: &[Envelope],
    ) -> Result<(), StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(self.profile_item(profile)?))
            .condition_expression("attribute_exists(pk) AND #status <> :deleted")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":deleted", s("DELETED"))
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let mut items = vec![TransactWriteItem::builder().put(put).build()];
        items.extend(self.outbox(events)?);
        self.transact(items).await.map_err(|err| match err {
            TransactFailure::Conditions(_) => {
                StoreError::Conflict("profile missing or erased".into())
            }
            TransactFailure::Unavailable(text) => StoreError::Unavailable(text),
        })
    }

    async fn erase_profile(
        &self,
        anonymised: &Profile,
        claims: &[Claim],
        events: &[Envelope],
    ) -> Result<(), StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(self.profile_item(anonymised)?))
            .condition_expression("attribute_exists(pk) AND #status <> :deleted")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":deleted", s("DELETED"))
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let mut items = vec![TransactWriteItem::builder().put(put).build()];
        for claim in claims {
            let delete = Delete::builder()
                .table_name(&self.table)
                .key("pk", s(&claim_pk(claim)))
                .key("sk", s("CLAIM"))
                .condition_expression("attribute_not_exists(pk) OR accountId = :id")
                .expression_attribute_values(":id", s(&anonymised.id))
                .build()
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            items.push(TransactWriteItem::builder().delete(delete).build());
        }
        items.extend(self.outbox(events)?);
        self.transact(items).await.map_err(|err| match err {
            TransactFailure::Conditions(_) => {
                StoreError::Conflict("profile missing or already erased".into())
            }
            TransactFailure::Unavailable(text) => StoreError::Unavailable(text),
        })
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
                .expression_attribute_values(":prefix", s(&format!("{key}#"))),
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

    async fn create_hospital(
        &self,
        hospital: &Hospital,
        claims: &[Claim],
        reservation: &str,
        events: &[Envelope],
    ) -> Result<(), StoreError> {
        let mut item: HashMap<String, AttributeValue> =
            serde_dynamo::to_item(hospital).map_err(|e| StoreError::Unavailable(e.to_string()))?;
        item.insert("pk".into(), s(&format!("HOSPITAL#{}", hospital.id)));
        item.insert("sk".into(), s("PROFILE"));
        item.insert("gsi1pk".into(), s("HOSPITAL"));
        item.insert(
            "gsi1sk".into(),
            s(&format!("{}#{}", fold(&hospital.name), hospital.id)),
        );
        // The authorizer maps a machine client's token to its hospital through this item.
        let mut client = HashMap::new();
        client.insert(
            "pk".to_string(),
            s(&hospital_client_pk(&hospital.client_id)),
        );
        client.insert("sk".to_string(), s("CLIENT"));
        client.insert("hospitalId".to_string(), s(&hospital.id));
        let mut items = vec![
            TransactWriteItem::builder()
                .put(self.put(item, "attribute_not_exists(pk)")?)
                .build(),
            TransactWriteItem::builder()
                .put(self.put(client, "attribute_not_exists(pk)")?)
                .build(),
        ];
        items.extend(self.bind_claims(claims, reservation, &hospital.id)?);
        items.extend(self.outbox(events)?);
        self.transact(items).await.map_err(|err| match err {
            TransactFailure::Conditions(_) => StoreError::Conflict("reservation lost".into()),
            TransactFailure::Unavailable(text) => StoreError::Unavailable(text),
        })
    }
}

impl crate::inbound::authorizer::HospitalDirectory for DynamoAccountStore {
    async fn hospital_for_client(&self, client_id: &str) -> Result<Option<String>, StoreError> {
        let item = self.get(&hospital_client_pk(client_id)).await?;
        Ok(item.and_then(|i| i.get("hospitalId").and_then(|v| v.as_s().ok()).cloned()))
    }
}
