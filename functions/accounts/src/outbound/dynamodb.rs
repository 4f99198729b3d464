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
//!
//! One submodule per aggregate (`claims`, `profiles`, `mfa_setups`, `hospitals`, `events`) with
//! the methods on what it stores; the [`AccountStore`] impl here hands each port method to one of
//! them. The helpers several of them share (attribute values, keys, the claim binding, the
//! outbox, the get and transaction runners) live here.

mod claims;
mod events;
mod hospitals;
mod mfa_setups;
mod profiles;

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use clinic_shared::dynamo::{self, Condition, Conditional, TransactFailure, key, s};
use clinic_shared::envelope::Envelope;
use clinic_shared::outbox::outbox_put_with;

use crate::domain::Claim;
use crate::domain::error::StoreError;

const RESERVED: &str = "RESERVED";
const BOUND: &str = "BOUND";

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
                    ("gsi1pk".to_string(), s(events_of_pk(&e.subject))),
                    ("gsi1sk".to_string(), s(format!("{}#{}", e.time, e.id))),
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
                    .key("pk", s(claim_pk(claim)))
                    .key("sk", s("CLAIM"))
                    .update_expression("SET #state = :bound, accountId = :id REMOVE reservedAt")
                    .on(reserved_by(reservation))
                    .expression_attribute_values(":bound", s(BOUND))
                    .expression_attribute_values(":id", s(account_id))
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

    /// Runs a transaction whose failed condition means the records changed under the caller:
    /// `Conflict` saying `what`, any other failure `Unavailable`.
    async fn transact_or_conflict(
        &self,
        items: Vec<TransactWriteItem>,
        what: &str,
    ) -> Result<(), StoreError> {
        self.transact(items).await.map_err(|err| match err {
            TransactFailure::Conditions(_) => StoreError::Conflict(what.into()),
            TransactFailure::Unavailable(text) => StoreError::Unavailable(text),
        })
    }

    async fn get(&self, pk: &str) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
        dynamo::get_item(&self.client, &self.table, key(pk, sort_key_of(pk)))
            .await
            .map_err(|e| unavailable(&e))
    }
}

/// `value` as an item; a value that does not serialize is a bug, reported as the store failing.
fn to_item<T: serde::Serialize>(value: &T) -> Result<HashMap<String, AttributeValue>, StoreError> {
    dynamo::to_item(value).map_err(|e| StoreError::Unavailable(e.to_string()))
}

fn unavailable<E>(err: &SdkError<E>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    StoreError::Unavailable(clinic_shared::aws::error_text(err))
}

/// The claim is still reserved, by `reservation`.
fn reserved_by(reservation: &str) -> Condition {
    Condition::new("#state = :reserved AND reservation = :r")
        .name("#state", "state")
        .value(":reserved", s(RESERVED))
        .value(":r", s(reservation))
}

fn account_pk(id: &str) -> String {
    format!("ACCOUNT#{id}")
}

fn events_of_pk(subject: &str) -> String {
    format!("OUTBOXOF#{subject}")
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
