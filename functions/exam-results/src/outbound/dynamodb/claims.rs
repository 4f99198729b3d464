//! Access codes ([`ClaimStore`]): the claim record behind each code (`CLAIMCODE#<protocol>`,
//! its secret only as a digest) and the hourly counters of an account's failed claims
//! (`CLAIMS#<accountId>` / `FAILED#<hour>`).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use clinic_shared::dynamo::{self, n, number, s, text};
use clinic_shared::envelope::Envelope;
use jiff::Timestamp;

use super::{DynamoStore, build_error, unavailable};
use crate::domain::claim::{ExamClaim, MAX_FAILED_ATTEMPTS};
use crate::domain::{ClaimStore, ConflictOn, Exam, StoreError};

fn claim_pk(protocol: &str) -> String {
    format!("CLAIMCODE#{protocol}")
}

/// The stored claim record: the secret only as its digest. `expiresAt` (seconds) lets the
/// table's TTL clean up codes long after they stopped working; expiry itself is checked against
/// `expiresAtTime`. Batches write it too: applying a batch item issues the exam's code.
pub(super) fn claim_item(claim: &ExamClaim) -> HashMap<String, AttributeValue> {
    let mut item = HashMap::from([
        ("pk".to_string(), s(claim_pk(&claim.protocol))),
        ("sk".to_string(), s("CLAIM")),
        ("examId".to_string(), s(&claim.exam_id)),
        ("secretDigest".to_string(), s(&claim.secret_digest)),
        ("issuedAt".to_string(), s(claim.issued_at.to_string())),
        ("expiresAtTime".to_string(), s(claim.expires_at.to_string())),
        (
            "expiresAt".to_string(),
            n(claim.expires_at.as_second() + CLAIM_RECORD_GRACE_SECONDS),
        ),
        ("failedAttempts".to_string(), n(claim.failed_attempts)),
    ]);
    if let Some(owner) = &claim.claimed_by {
        item.insert("claimedBy".to_string(), s(owner));
    }
    item
}

/// Claim records outlive their codes by a year, so a late claim still finds (and refuses) them.
const CLAIM_RECORD_GRACE_SECONDS: i64 = 365 * 24 * 3600;

fn claim_from(item: &HashMap<String, AttributeValue>) -> Result<ExamClaim, StoreError> {
    let time = |name: &str| -> Result<Timestamp, StoreError> {
        text(item, name)
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| StoreError::Corrupt(format!("claim record without {name}")))
    };
    let protocol = text(item, "pk")
        .and_then(|pk| pk.strip_prefix("CLAIMCODE#").map(str::to_string))
        .ok_or_else(|| StoreError::Corrupt("claim record without protocol".into()))?;
    Ok(ExamClaim {
        protocol,
        exam_id: text(item, "examId")
            .ok_or_else(|| StoreError::Corrupt("claim record without exam".into()))?,
        secret_digest: text(item, "secretDigest")
            .ok_or_else(|| StoreError::Corrupt("claim record without digest".into()))?,
        issued_at: time("issuedAt")?,
        expires_at: time("expiresAtTime")?,
        failed_attempts: number(item, "failedAttempts").unwrap_or(u32::MAX),
        claimed_by: text(item, "claimedBy"),
    })
}

impl ClaimStore for DynamoStore {
    async fn get_claim(&self, protocol: &str) -> Result<Option<ExamClaim>, StoreError> {
        self.get(&claim_pk(protocol), "CLAIM")
            .await?
            .map(|item| claim_from(&item))
            .transpose()
    }

    async fn claim_failures(&self, account_id: &str, hour: &str) -> Result<u32, StoreError> {
        Ok(self
            .get(&format!("CLAIMS#{account_id}"), &format!("FAILED#{hour}"))
            .await?
            .and_then(|item| number(&item, "count"))
            .unwrap_or(0))
    }

    async fn record_failed_claim(
        &self,
        account_id: &str,
        hour: &str,
        protocol: Option<&str>,
    ) -> Result<(), StoreError> {
        // Kept two days: past its hour a counter only matters to whoever investigates abuse.
        let expires = Timestamp::now().as_second() + 2 * 24 * 3600;
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("CLAIMS#{account_id}")))
            .key("sk", s(format!("FAILED#{hour}")))
            .update_expression("ADD #count :one SET expiresAt = :exp")
            .expression_attribute_names("#count", "count")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":exp", n(expires))
            .send()
            .await
            .map_err(|e| unavailable(&e))?;
        if let Some(protocol) = protocol {
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", s(claim_pk(protocol)))
                .key("sk", s("CLAIM"))
                .update_expression("ADD failedAttempts :one")
                .condition_expression("attribute_exists(pk)")
                .expression_attribute_values(":one", n(1))
                .send()
                .await;
            // No record behind that protocol: nothing to count against.
            dynamo::applied(result).map_err(|e| unavailable(&e))?;
        }
        Ok(())
    }

    async fn claim_exam(
        &self,
        protocol: &str,
        account_id: &str,
        exam: &Exam,
        events: &[Envelope],
    ) -> Result<(), StoreError> {
        let use_code = Update::builder()
            .table_name(&self.table)
            .key("pk", s(claim_pk(protocol)))
            .key("sk", s("CLAIM"))
            .update_expression("SET claimedBy = :account, claimedAt = :at")
            .condition_expression(
                "attribute_exists(pk) AND attribute_not_exists(claimedBy) AND failedAttempts < :max",
            )
            .expression_attribute_values(":account", s(account_id))
            .expression_attribute_values(":at", s(Timestamp::now().to_string()))
            .expression_attribute_values(":max", n(MAX_FAILED_ATTEMPTS))
            .build()
            .map_err(build_error)?;
        let mut items = vec![
            self.exam_put(exam)?,
            TransactWriteItem::builder().update(use_code).build(),
        ];
        items.extend(self.outbox(events)?);
        self.transact_as(
            items,
            &[ConflictOn::Exam, ConflictOn::Claim],
            &[ConflictOn::Claim, ConflictOn::Exam],
        )
        .await
    }
}
