//! Rate slots (`RATE#<recipientId>#<channel>#<hour>` / `RATE`): the messages counted in one
//! hour for one destination and channel, taken up to the limit and given back for a message
//! that was not sent after all.

use clinic_shared::aws::error_text;

use super::{DynamoNotificationStore, n, rate_pk};
use crate::domain::{Channel, RateWindow, StoreError};

const RATE_SK: &str = "RATE";

impl DynamoNotificationStore {
    pub(super) async fn take_rate_slot(
        &self,
        destination: &str,
        channel: Channel,
        window: RateWindow,
        limit: u32,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(
                rate_pk(destination, channel, window),
                RATE_SK,
            )))
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
        match result {
            Ok(_) => Ok(true),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(err) => Err(StoreError::Unavailable(error_text(&err))),
        }
    }

    pub(super) async fn return_rate_slot(
        &self,
        destination: &str,
        channel: Channel,
        window: RateWindow,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(
                rate_pk(destination, channel, window),
                RATE_SK,
            )))
            .update_expression("SET #count = #count - :one")
            .condition_expression("#count > :zero")
            .expression_attribute_names("#count", "count")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(err) => Err(StoreError::Unavailable(error_text(&err))),
        }
    }
}
