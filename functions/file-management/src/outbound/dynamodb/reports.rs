//! Report jobs ([`Reports`]): one item per report (`REPORT#<reportId>`) with its status and
//! lease, every status change a conditional write, removed by TTL after its retention.

use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure};
use clinic_shared::dynamo::{self, Item, n, s};
use clinic_shared::envelope::Envelope;
use jiff::Timestamp;

use super::{DynamoStore, TTL_ATTRIBUTE, from_item, to_item, unavailable};
use crate::domain::{FailOutcome, Report, ReportClaim, ReportStatus, Reports, StoreError};

const REPORT_SK: &str = "REPORT";

fn report_of(item: Item) -> Result<Report, StoreError> {
    from_item(item)
}

fn report_pk(report_id: &str) -> String {
    format!("REPORT#{report_id}")
}

fn status_of(item: &Item) -> Option<&str> {
    item.get("status")
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

impl DynamoStore {
    fn update_report(&self, report_id: &str) -> UpdateItemFluentBuilder {
        self.update_item(report_pk(report_id), REPORT_SK)
    }

    async fn get_report(&self, report_id: &str) -> Result<Option<Item>, StoreError> {
        self.get(&report_pk(report_id), REPORT_SK).await
    }
}

impl Reports for DynamoStore {
    async fn create_report(&self, report: &Report) -> Result<(), StoreError> {
        let mut item = to_item(report)?;
        item.insert("pk".into(), s(report_pk(&report.report_id)));
        item.insert("sk".into(), s(REPORT_SK));
        // Clean-up only: the API stops serving the report at the same instant, TTL or not.
        item.insert(TTL_ATTRIBUTE.into(), n(report.retained_until().as_second()));
        self.put_new(item).await.map_err(|e| unavailable(&e))
    }

    async fn report(&self, report_id: &str) -> Result<Option<Report>, StoreError> {
        self.get_report(report_id).await?.map(report_of).transpose()
    }

    async fn claim_report(
        &self,
        report_id: &str,
        token: &str,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<ReportClaim, StoreError> {
        let result = self
            .update_report(report_id)
            .update_expression(
                "SET #status = :processing, leaseOwner = :token, leaseUntilMs = :until, \
                 updatedAt = :now, attempts = if_not_exists(attempts, :zero) + :one",
            )
            .condition_expression(
                "#status = :queued OR (#status = :processing AND leaseUntilMs < :nowMs)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":processing", s("processing"))
            .expression_attribute_values(":queued", s("queued"))
            .expression_attribute_values(":token", s(token))
            .expression_attribute_values(":until", n(lease_until.as_millisecond()))
            .expression_attribute_values(":nowMs", n(now.as_millisecond()))
            .expression_attribute_values(":now", s(now.to_string()))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => Ok(ReportClaim::Claimed(Box::new(report_of(
                out.attributes.unwrap_or_default(),
            )?))),
            Err(err) => {
                let Some(aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(failed)) =
                    err.as_service_error()
                else {
                    return Err(unavailable(&err));
                };
                let old = match failed.item() {
                    Some(item) => Some(item.clone()),
                    None => self.get_report(report_id).await?,
                };
                Ok(match old.as_ref().and_then(status_of) {
                    None => ReportClaim::Missing,
                    Some("done" | "error") => ReportClaim::Finished,
                    Some(_) => ReportClaim::Busy,
                })
            }
        }
    }

    async fn complete_report(
        &self,
        report_id: &str,
        token: &str,
        rows: u64,
        result_key: &str,
        event: &Envelope,
    ) -> Result<bool, StoreError> {
        let update = self
            .update(report_pk(report_id), REPORT_SK)
            .update_expression(
                "SET #status = :done, #rows = :rows, resultKey = :key, updatedAt = :now \
                 REMOVE leaseOwner, leaseUntilMs, lastError",
            )
            .condition_expression("#status = :processing AND leaseOwner = :token")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#rows", "rows")
            .expression_attribute_values(":done", s("done"))
            .expression_attribute_values(":processing", s("processing"))
            .expression_attribute_values(":token", s(token))
            .expression_attribute_values(":rows", n(i64::try_from(rows).unwrap_or(i64::MAX)))
            .expression_attribute_values(":key", s(result_key))
            .expression_attribute_values(":now", s(Timestamp::now().to_string()));
        self.update_with_event(update, event).await
    }

    async fn release_report(
        &self,
        report_id: &str,
        token: &str,
        error_code: &str,
    ) -> Result<(), StoreError> {
        let result = self
            .update_report(report_id)
            .update_expression(
                "SET #status = :queued, lastError = :code, updatedAt = :now REMOVE leaseOwner, leaseUntilMs",
            )
            .condition_expression("#status = :processing AND leaseOwner = :token")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":queued", s("queued"))
            .expression_attribute_values(":processing", s("processing"))
            .expression_attribute_values(":token", s(token))
            .expression_attribute_values(":code", s(error_code))
            .expression_attribute_values(":now", s(Timestamp::now().to_string()))
            .send()
            .await;
        // No longer this token's lease: nothing of it to give back.
        dynamo::applied(result)
            .map(|_| ())
            .map_err(|e| unavailable(&e))
    }

    async fn fail_report(
        &self,
        report_id: &str,
        reason: &str,
        now: Timestamp,
        event: &Envelope,
    ) -> Result<FailOutcome, StoreError> {
        let update = self
            .update(report_pk(report_id), REPORT_SK)
            .update_expression(
                "SET #status = :error, #error = :reason, updatedAt = :now REMOVE leaseOwner, leaseUntilMs",
            )
            .condition_expression(
                "#status = :queued OR (#status = :processing AND leaseUntilMs < :nowMs)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#error", "error")
            .expression_attribute_values(":error", s("error"))
            .expression_attribute_values(":queued", s("queued"))
            .expression_attribute_values(":processing", s("processing"))
            .expression_attribute_values(":reason", s(reason))
            .expression_attribute_values(":nowMs", n(now.as_millisecond()))
            .expression_attribute_values(":now", s(now.to_string()));
        if self.update_with_event(update, event).await? {
            return Ok(FailOutcome::Failed);
        }
        let current = self.get_report(report_id).await?;
        Ok(match current.as_ref().and_then(status_of) {
            None => FailOutcome::Missing,
            Some("done" | "error") => FailOutcome::Finished,
            Some(_) => FailOutcome::Busy,
        })
    }

    async fn set_report_status(
        &self,
        report_id: &str,
        status: ReportStatus,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut request = self
            .update_report(report_id)
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(status.as_str()))
            .expression_attribute_values(":now", s(Timestamp::now().to_string()));
        request = match error {
            Some(reason) => request
                .update_expression("SET #status = :status, #error = :reason, updatedAt = :now")
                .expression_attribute_names("#error", "error")
                .expression_attribute_values(":reason", s(reason)),
            None => request.update_expression("SET #status = :status, updatedAt = :now"),
        };
        request.send().await.map_err(|e| unavailable(&e))?;
        Ok(())
    }
}
