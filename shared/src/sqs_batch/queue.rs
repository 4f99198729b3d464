//! The queue operations the batch processor needs ([`QueueOps`]: resolve a queue URL, delay a
//! redelivery, park a message in the DLQ), their SQS adapter, and the conversion of received SQS
//! messages into the Lambda event shape (for the local runner and tests).

use std::future::Future;
use std::time::Duration;

use aws_lambda_events::encodings::Base64Data;
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage, SqsMessageAttribute};
use aws_sdk_sqs::types::{Message, MessageAttributeValue};

use crate::aws::error_text;

/// Message attribute carrying why a message was parked.
pub const ATTR_FAILURE_REASON: &str = "failureReason";
/// Message attribute carrying the ARN of the queue a parked message came from.
pub const ATTR_SOURCE_QUEUE: &str = "sourceQueue";
/// Message attribute carrying the envelope id of a parked message, when known.
pub const ATTR_EVENT_ID: &str = "eventId";
/// Message attribute carrying the event type of a parked message, when known.
pub const ATTR_EVENT_TYPE: &str = "eventType";

/// A queue named by its ARN (`arn:<partition>:sqs:<region>:<account>:<name>`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QueueRef {
    /// Region of the queue.
    pub region: String,
    /// Owning account id.
    pub account_id: String,
    /// Queue name.
    pub name: String,
}

impl QueueRef {
    /// Reads an SQS queue ARN; `None` when it is not one.
    pub fn from_arn(arn: &str) -> Option<QueueRef> {
        let arn = crate::arn::Arn::parse(arn)?;
        let (region, account, name) = (arn.region, arn.account, arn.resource);
        if arn.service != "sqs" || region.is_empty() || account.is_empty() || name.is_empty() {
            return None;
        }
        Some(QueueRef {
            region: region.to_string(),
            account_id: account.to_string(),
            name: name.to_string(),
        })
    }
}

/// A message to park in the DLQ: the original body and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParkedMessage {
    /// The record body exactly as received.
    pub body: String,
    /// Why it can never be processed (sent as `failureReason`).
    pub failure_reason: String,
    /// ARN of the queue it came from (sent as `sourceQueue`).
    pub source_queue: Option<String>,
    /// Envelope id, when it could be read (sent as `eventId`).
    pub event_id: Option<String>,
    /// Event type, when it could be read (sent as `eventType`).
    pub event_type: Option<String>,
}

/// Errors of [`QueueOps`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("queue operation failed: {0}")]
pub struct QueueError(pub String);

/// The SQS calls a consumer makes besides receiving (which Lambda does for it).
pub trait QueueOps: Send + Sync {
    /// The URL of a queue known by its ARN parts.
    fn queue_url(
        &self,
        queue: &QueueRef,
    ) -> impl Future<Output = Result<String, QueueError>> + Send;

    /// Makes an in-flight message invisible for `timeout` from now.
    fn change_visibility(
        &self,
        queue_url: &str,
        receipt_handle: &str,
        timeout: Duration,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;

    /// Sends `message` to the dead-letter queue at `dlq_url`.
    fn park(
        &self,
        dlq_url: &str,
        message: &ParkedMessage,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;
}

/// [`QueueOps`] over the SQS API.
///
/// Needs `sqs:GetQueueUrl` and `sqs:ChangeMessageVisibility` on the source queue and
/// `sqs:SendMessage` on the DLQ.
#[derive(Debug, Clone)]
pub struct SqsQueueOps {
    client: aws_sdk_sqs::Client,
}

impl SqsQueueOps {
    /// Queue operations through `client`.
    pub fn new(client: aws_sdk_sqs::Client) -> Self {
        Self { client }
    }
}

fn string_attribute(value: &str) -> Result<MessageAttributeValue, QueueError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|e| QueueError(e.to_string()))
}

impl QueueOps for SqsQueueOps {
    async fn queue_url(&self, queue: &QueueRef) -> Result<String, QueueError> {
        let output = self
            .client
            .get_queue_url()
            .queue_name(&queue.name)
            .queue_owner_aws_account_id(&queue.account_id)
            .send()
            .await
            .map_err(|e| QueueError(error_text(&e)))?;
        output
            .queue_url
            .ok_or_else(|| QueueError(format!("no URL returned for queue {}", queue.name)))
    }

    async fn change_visibility(
        &self,
        queue_url: &str,
        receipt_handle: &str,
        timeout: Duration,
    ) -> Result<(), QueueError> {
        let seconds = i32::try_from(timeout.as_secs()).unwrap_or(i32::MAX);
        self.client
            .change_message_visibility()
            .queue_url(queue_url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(seconds)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| QueueError(error_text(&e)))
    }

    async fn park(&self, dlq_url: &str, message: &ParkedMessage) -> Result<(), QueueError> {
        let mut request = self
            .client
            .send_message()
            .queue_url(dlq_url)
            .message_body(&message.body)
            .message_attributes(
                ATTR_FAILURE_REASON,
                string_attribute(&message.failure_reason)?,
            );
        let optional = [
            (ATTR_SOURCE_QUEUE, &message.source_queue),
            (ATTR_EVENT_ID, &message.event_id),
            (ATTR_EVENT_TYPE, &message.event_type),
        ];
        for (name, value) in optional {
            if let Some(value) = value.as_deref().filter(|v| !v.is_empty()) {
                request = request.message_attributes(name, string_attribute(value)?);
            }
        }
        request
            .send()
            .await
            .map(|_| ())
            .map_err(|e| QueueError(error_text(&e)))
    }
}

/// Builds the event Lambda would deliver for `messages` received from the queue `queue_arn`
/// (receive them with all system and message attributes so `ApproximateReceiveCount` is there).
pub fn sqs_event_from_messages(messages: &[Message], queue_arn: &str) -> SqsEvent {
    let region = QueueRef::from_arn(queue_arn).map(|q| q.region);
    let mut event = SqsEvent::default();
    event.records = messages
        .iter()
        .map(|message| {
            let mut record = SqsMessage::default();
            record.message_id = message.message_id.clone();
            record.receipt_handle = message.receipt_handle.clone();
            record.body = message.body.clone();
            record.md5_of_body = message.md5_of_body.clone();
            record.md5_of_message_attributes = message.md5_of_message_attributes.clone();
            record.attributes = message
                .attributes
                .iter()
                .flatten()
                .map(|(name, value)| (name.as_str().to_string(), value.clone()))
                .collect();
            record.message_attributes = message
                .message_attributes
                .iter()
                .flatten()
                .map(|(name, value)| (name.clone(), lambda_attribute(value)))
                .collect();
            record.event_source_arn = Some(queue_arn.to_string());
            record.event_source = Some("aws:sqs".to_string());
            record.aws_region = region.clone();
            record
        })
        .collect();
    event
}

fn lambda_attribute(value: &MessageAttributeValue) -> SqsMessageAttribute {
    let mut attribute = SqsMessageAttribute::default();
    attribute.data_type = Some(value.data_type.clone());
    attribute.string_value = value.string_value.clone();
    attribute.binary_value = value.binary_value.as_ref().map(|blob| {
        let mut data = Base64Data::default();
        data.extend_from_slice(blob.as_ref());
        data
    });
    attribute
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_queue_arns() {
        assert_eq!(
            QueueRef::from_arn("arn:aws:sqs:sa-east-1:123456789012:notifications-queue"),
            Some(QueueRef {
                region: "sa-east-1".into(),
                account_id: "123456789012".into(),
                name: "notifications-queue".into(),
            })
        );
        for bad in [
            "",
            "arn:aws:sns:us-east-1:123456789012:topic",
            "arn:aws:sqs:us-east-1:123456789012",
            "arn:aws:sqs:us-east-1::name",
            "https://sqs.us-east-1.amazonaws.com/123456789012/q",
        ] {
            assert_eq!(QueueRef::from_arn(bad), None, "{bad}");
        }
    }

    #[test]
    fn converts_received_messages_to_a_lambda_event() {
        let message = Message::builder()
            .message_id("m-1")
            .receipt_handle("rh-1")
            .body("{}")
            .attributes(
                aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount,
                "3",
            )
            .message_attributes(
                ATTR_FAILURE_REASON,
                string_attribute("bad").unwrap_or_else(|e| panic!("{e}")),
            )
            .build();
        let event = sqs_event_from_messages(&[message], "arn:aws:sqs:us-east-1:000000000000:q");
        let record = &event.records[0];
        assert_eq!(record.message_id.as_deref(), Some("m-1"));
        assert_eq!(record.receipt_handle.as_deref(), Some("rh-1"));
        assert_eq!(record.attributes["ApproximateReceiveCount"], "3");
        assert_eq!(
            record.message_attributes[ATTR_FAILURE_REASON]
                .string_value
                .as_deref(),
            Some("bad")
        );
        assert_eq!(record.aws_region.as_deref(), Some("us-east-1"));
        assert_eq!(
            record.event_source_arn.as_deref(),
            Some("arn:aws:sqs:us-east-1:000000000000:q")
        );
    }
}
