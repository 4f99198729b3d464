//! [`SmsSender`] on Amazon SNS: `Publish` straight to a phone number, as a transactional SMS
//! (higher delivery priority; the only type allowed for messages people depend on).
//!
//! Needs `sns:Publish` on `*`: a phone number is not a resource with an ARN.

use aws_sdk_sns::Client;
use aws_sdk_sns::error::SdkError;
use aws_sdk_sns::operation::publish::PublishError;
use aws_sdk_sns::types::MessageAttributeValue;

use super::ses::send_error;
use crate::domain::{PhoneNumber, SendError, SmsSender};

/// Message attribute choosing the SMS type.
pub const SMS_TYPE_ATTRIBUTE: &str = "AWS.SNS.SMS.SMSType";

/// Sends SMS through SNS.
#[derive(Debug, Clone)]
pub struct SnsSmsSender {
    client: Client,
}

impl SnsSmsSender {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

/// Which SNS refusals are worth retrying: an invalid number or parameter
/// (`InvalidParameter`, `InvalidParameterValue`, `ValidationException`) and a disabled or unknown
/// endpoint are permanent; throttling, internal errors, KMS and authorization problems (fixed by
/// an operator), 5xx and timeouts are transient.
pub fn classify(err: &SdkError<PublishError>) -> SendError {
    send_error(err, |e| {
        e.is_invalid_parameter_exception()
            || e.is_invalid_parameter_value_exception()
            || e.is_validation_exception()
            || e.is_endpoint_disabled_exception()
            || e.is_not_found_exception()
    })
}

impl SmsSender for SnsSmsSender {
    #[tracing::instrument(skip_all)]
    async fn send_sms(&self, to: &PhoneNumber, text: &str) -> Result<String, SendError> {
        let transactional = MessageAttributeValue::builder()
            .data_type("String")
            .string_value("Transactional")
            .build()
            .map_err(|e| SendError::Permanent(format!("InvalidAttribute: {e}")))?;
        let out = self
            .client
            .publish()
            .phone_number(to.as_str())
            .message(text)
            .message_attributes(SMS_TYPE_ATTRIBUTE, transactional)
            .send()
            .await
            .map_err(|e| classify(&e))?;
        Ok(out.message_id.unwrap_or_default())
    }
}
