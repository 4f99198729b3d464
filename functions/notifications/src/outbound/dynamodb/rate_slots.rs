//! Rate slots (`RATE#<recipientId>#<channel>#<hour>` / `RATE`): the messages counted in one
//! hour for one destination and channel, taken up to the limit and given back for a message
//! that was not sent after all.

use crate::domain::RateLimitStore;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use clinic_shared::dynamo::{self, key, n};

use super::{DynamoNotificationStore, rate_pk, unavailable};
use crate::domain::{Channel, RateWindow, StoreError};

const RATE_SK: &str = "RATE";

impl DynamoNotificationStore {
    /// An update of the counter of `destination` and `channel` in `window`.
    fn update_rate_slot(
        &self,
        destination: &str,
        channel: Channel,
        window: RateWindow,
    ) -> UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(rate_pk(destination, channel, window), RATE_SK)))
    }
}

impl RateLimitStore for DynamoNotificationStore {
    async fn take_slot(
        &self,
        destination: &str,
        channel: Channel,
        window: RateWindow,
        limit: u32,
    ) -> Result<bool, StoreError> {
        let result = self
            .update_rate_slot(destination, channel, window)
            .update_expression(
                "SET #count = if_not_exists(#count, :zero) + :one, #expiresAt = :expiresAt",
            )
            .condition_expression("attribute_not_exists(#count) OR #count < :limit")
            .expression_attribute_names("#count", "count")
            .expression_attribute_names("#expiresAt", "expiresAt")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n(i64::from(limit)))
            // Kept one hour past the window so an operator can still see it.
            .expression_attribute_values(":expiresAt", n(window.end_s() + 3600))
            .send()
            .await;
        dynamo::applied(result).map_err(|e| unavailable(&e))
    }

    async fn return_slot(
        &self,
        destination: &str,
        channel: Channel,
        window: RateWindow,
    ) -> Result<(), StoreError> {
        let result = self
            .update_rate_slot(destination, channel, window)
            .update_expression("SET #count = #count - :one")
            .condition_expression("#count > :zero")
            .expression_attribute_names("#count", "count")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .send()
            .await;
        // Already at zero: there is nothing to give back.
        dynamo::applied(result)
            .map(|_| ())
            .map_err(|e| unavailable(&e))
    }
}
