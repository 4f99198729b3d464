//! The DynamoDB adapter of the store port: one item per record in the service's table, every state
//! change a conditional write.
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};

use crate::dynamo::{self, Condition, Conditional, Item, n, s};

use super::record::{
    Attempt, ClaimOutcome, IdempotencyRecord, IdempotencyStore, RECORD_SK, RecordId, RecordStatus,
    StoreError, StoredResponse,
};

const ATTR_PK: &str = "pk";
const ATTR_STATUS: &str = "status";
const ATTR_FINGERPRINT: &str = "fingerprint";
const ATTR_CREATED_AT: &str = "createdAt";
const ATTR_EXPIRES_AT: &str = "expiresAt";
const ATTR_IN_PROGRESS_UNTIL: &str = "inProgressUntil";
const ATTR_ATTEMPT_ID: &str = "attemptId";
const ATTR_RESPONSE_STATUS: &str = "responseStatus";
const ATTR_RESPONSE_CONTENT_TYPE: &str = "responseContentType";
const ATTR_RESPONSE_LOCATION: &str = "responseLocation";
const ATTR_RESPONSE_BODY: &str = "responseBody";

/// Written only when no live record holds the key.
const BEGIN_CONDITION: &str = "attribute_not_exists(#pk) OR (#status = :inProgress AND #inProgressUntil < :nowMs) OR #expiresAt < :nowS";

/// How many times `claim` retries when the record that blocked it vanished before it was read.
const BEGIN_ATTEMPTS: usize = 3;

/// [`IdempotencyStore`] on the service's DynamoDB table (string keys `pk` and `sk`).
#[derive(Debug, Clone)]
pub struct DynamoIdempotencyStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoIdempotencyStore {
    /// The store in `table`.
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Reads a record with a consistent read.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when DynamoDB fails, [`StoreError::Corrupt`] when the item is
    /// not a record.
    pub async fn get(&self, id: &RecordId) -> Result<Option<IdempotencyRecord>, StoreError> {
        dynamo::get_item(&self.client, &self.table, Self::key(id))
            .await
            .map_err(|e| unavailable(&e))?
            .as_ref()
            .map(record_from_item)
            .transpose()
    }

    fn key(id: &RecordId) -> Item {
        dynamo::key(id.pk(), RECORD_SK)
    }

    fn item(id: &RecordId, record: &IdempotencyRecord) -> Item {
        let mut item = Self::key(id);
        item.extend([
            (ATTR_STATUS.to_string(), s(record.status.as_str())),
            (ATTR_FINGERPRINT.to_string(), s(&record.fingerprint)),
            (ATTR_CREATED_AT.to_string(), n(record.created_at)),
            (ATTR_EXPIRES_AT.to_string(), n(record.expires_at)),
            (
                ATTR_IN_PROGRESS_UNTIL.to_string(),
                n(record.in_progress_until),
            ),
            (ATTR_ATTEMPT_ID.to_string(), s(&record.attempt_id)),
        ]);
        if let Some(response) = &record.response {
            item.insert(ATTR_RESPONSE_STATUS.to_string(), n(response.status));
            if let Some(content_type) = &response.content_type {
                item.insert(ATTR_RESPONSE_CONTENT_TYPE.to_string(), s(content_type));
            }
            if let Some(location) = &response.location {
                item.insert(ATTR_RESPONSE_LOCATION.to_string(), s(location));
            }
            if !response.body.is_empty() {
                item.insert(
                    ATTR_RESPONSE_BODY.to_string(),
                    AttributeValue::B(Blob::new(response.body.clone())),
                );
            }
        }
        item
    }
}

fn unavailable<E>(err: &SdkError<E>) -> StoreError
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
{
    StoreError::Unavailable(crate::aws::error_text(err))
}

/// Completing or releasing requires still owning the in-flight marker.
fn owned_by(attempt: &Attempt) -> Condition {
    Condition::new("#status = :inProgress AND #attemptId = :attemptId")
        .name("#status", ATTR_STATUS)
        .name("#attemptId", ATTR_ATTEMPT_ID)
        .value(":inProgress", s(RecordStatus::InProgress.as_str()))
        .value(":attemptId", s(&attempt.attempt_id))
}

/// `Ok` when a write on [`owned_by`] happened, [`StoreError::NotOwner`] when the
/// in-flight marker was no longer the attempt's.
fn owned<O, E>(result: Result<O, SdkError<E>>) -> Result<(), StoreError>
where
    E: dynamo::ConditionalWrite
        + aws_smithy_types::error::metadata::ProvideErrorMetadata
        + std::error::Error
        + 'static,
{
    if dynamo::applied(result).map_err(|e| unavailable(&e))? {
        Ok(())
    } else {
        Err(StoreError::NotOwner)
    }
}

fn record_from_item(item: &Item) -> Result<IdempotencyRecord, StoreError> {
    let text = |name: &str| dynamo::text(item, name);
    let whole = |name: &str| dynamo::number::<u64>(item, name);
    let missing = |name: &str| StoreError::Corrupt(format!("attribute {name} missing or invalid"));
    let status = text(ATTR_STATUS)
        .as_deref()
        .and_then(RecordStatus::parse)
        .ok_or_else(|| missing(ATTR_STATUS))?;
    let response = match status {
        RecordStatus::InProgress => None,
        RecordStatus::Completed => Some(StoredResponse {
            status: whole(ATTR_RESPONSE_STATUS)
                .and_then(|s| u16::try_from(s).ok())
                .ok_or_else(|| missing(ATTR_RESPONSE_STATUS))?,
            content_type: text(ATTR_RESPONSE_CONTENT_TYPE),
            location: text(ATTR_RESPONSE_LOCATION),
            body: item
                .get(ATTR_RESPONSE_BODY)
                .and_then(|v| v.as_b().ok())
                .map(|b| b.as_ref().to_vec())
                .unwrap_or_default(),
        }),
    };
    Ok(IdempotencyRecord {
        status,
        fingerprint: text(ATTR_FINGERPRINT).ok_or_else(|| missing(ATTR_FINGERPRINT))?,
        created_at: whole(ATTR_CREATED_AT).ok_or_else(|| missing(ATTR_CREATED_AT))?,
        expires_at: whole(ATTR_EXPIRES_AT).ok_or_else(|| missing(ATTR_EXPIRES_AT))?,
        in_progress_until: whole(ATTR_IN_PROGRESS_UNTIL)
            .ok_or_else(|| missing(ATTR_IN_PROGRESS_UNTIL))?,
        attempt_id: text(ATTR_ATTEMPT_ID).unwrap_or_default(),
        response,
    })
}

impl IdempotencyStore for DynamoIdempotencyStore {
    async fn claim(&self, id: &RecordId, attempt: &Attempt) -> Result<ClaimOutcome, StoreError> {
        let item = Self::item(id, &attempt.in_progress_record());
        for _ in 0..BEGIN_ATTEMPTS {
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item.clone()))
                .condition_expression(BEGIN_CONDITION)
                .expression_attribute_names("#pk", ATTR_PK)
                .expression_attribute_names("#status", ATTR_STATUS)
                .expression_attribute_names("#inProgressUntil", ATTR_IN_PROGRESS_UNTIL)
                .expression_attribute_names("#expiresAt", ATTR_EXPIRES_AT)
                .expression_attribute_values(":inProgress", s(RecordStatus::InProgress.as_str()))
                .expression_attribute_values(":nowMs", n(attempt.now_ms))
                .expression_attribute_values(":nowS", n(attempt.now_ms / 1000))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .send()
                .await;
            let err = match result {
                Ok(_) => return Ok(ClaimOutcome::Started),
                Err(err) => err,
            };
            let Some(PutItemError::ConditionalCheckFailedException(failed)) =
                err.as_service_error()
            else {
                return Err(unavailable(&err));
            };
            let existing = match failed.item() {
                Some(item) => Some(record_from_item(item)?),
                None => self.get(id).await?,
            };
            match existing {
                Some(record) if !record.is_replaceable(attempt.now_ms) => {
                    return Ok(ClaimOutcome::Existing(record));
                }
                // Released or lapsed between the write and the read: try again.
                _ => continue,
            }
        }
        Err(StoreError::Unavailable(
            "the record kept changing while starting".to_string(),
        ))
    }

    async fn complete(
        &self,
        id: &RecordId,
        attempt: &Attempt,
        response: &StoredResponse,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(Self::item(id, &attempt.completed_record(response))))
            .on(owned_by(attempt))
            .send()
            .await;
        owned(result)
    }

    async fn release(&self, id: &RecordId, attempt: &Attempt) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(id)))
            .on(owned_by(attempt))
            .send()
            .await;
        owned(result)
    }
}

#[cfg(test)]
mod tests {
    use http::StatusCode;

    use super::*;
    use crate::idempotency::test_support::{START_MS, hv, record_id, request};
    use crate::idempotency::{Idempotency, IdempotencyConfig};

    #[test]
    fn the_dynamo_backed_run_future_is_send() {
        fn assert_send<T: Send>(_: &T) {}
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
            .build();
        let store =
            DynamoIdempotencyStore::new(aws_sdk_dynamodb::Client::from_conf(config), "table");
        let idem: Idempotency = Idempotency::new(store, IdempotencyConfig::default());
        let key = hv("k");
        let future = idem.run(request(Some(&key), b"{}"), || async { StatusCode::OK });
        assert_send(&future);
    }

    #[test]
    fn dynamo_items_round_trip() {
        let attempt = Attempt {
            attempt_id: "01ATTEMPT".into(),
            fingerprint: "ab".repeat(32),
            now_ms: START_MS,
            created_at: START_MS / 1000,
            expires_at: START_MS / 1000 + 86_400,
            in_progress_until: START_MS + 900,
        };
        let id = record_id("k-1");
        let in_progress = attempt.in_progress_record();
        let item = DynamoIdempotencyStore::item(&id, &in_progress);
        assert_eq!(
            item["pk"].as_s().unwrap(),
            "IDEMPOTENCY#caller-1#POST /v1/things#k-1"
        );
        assert_eq!(item["sk"].as_s().unwrap(), "IDEMPOTENCY");
        assert_eq!(
            item["expiresAt"].as_n().unwrap(),
            &(START_MS / 1000 + 86_400).to_string()
        );
        assert_eq!(record_from_item(&item).unwrap(), in_progress);
        for body in [Vec::new(), b"{\"id\":1}".to_vec()] {
            let completed = attempt.completed_record(&StoredResponse {
                status: 201,
                content_type: Some("application/json".into()),
                location: Some("/v1/things/1".into()),
                body,
            });
            let item = DynamoIdempotencyStore::item(&id, &completed);
            assert_eq!(record_from_item(&item).unwrap(), completed);
        }
        let mut broken = item;
        broken.remove("fingerprint");
        assert!(matches!(
            record_from_item(&broken),
            Err(StoreError::Corrupt(_))
        ));
    }
}
