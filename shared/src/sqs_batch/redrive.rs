//! Moving messages from a dead-letter queue back to the queue they came from, once the cause of
//! their failure is fixed: receive → send to the source queue (same body and message
//! attributes) → delete from the DLQ. A message whose send fails stays in the DLQ. One mechanism
//! for every queue of the clinic (`clinic-redrive`, see docs/runbooks/dlq-has-messages.md).
//!
//! Messages the consumer parked carry `failureReason` and `sourceQueue`; they are kept, so the
//! batch processor knows a redriven event may be taken again even though it was recorded as
//! failed. The per-channel delivery records still stop a channel that finished from sending twice.

use std::collections::HashMap;

use crate::aws::error_text;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeName};

/// How a redrive went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RedriveReport {
    /// Messages now in the source queue and gone from the DLQ.
    pub moved: usize,
    /// Messages that could not be sent back (still in the DLQ).
    pub failed: usize,
}

/// Why a redrive stopped early.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("redrive stopped after {moved} message(s): {reason}", moved = report.moved)]
pub struct RedriveError {
    pub report: RedriveReport,
    pub reason: String,
}

/// The DLQ of `queue_url`, from the queue's redrive policy.
///
/// # Errors
/// A sentence saying why: the queue cannot be read, or it has no DLQ.
pub async fn dead_letter_queue_of(sqs: &Client, queue_url: &str) -> Result<String, String> {
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy)
        .send()
        .await
        .map_err(|e| format!("cannot read {queue_url}: {}", error_text(&e)))?;
    let policy = attributes
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy))
        .ok_or_else(|| format!("{queue_url} has no dead-letter queue"))?;
    let arn = serde_json::from_str::<serde_json::Value>(policy)
        .ok()
        .and_then(|p| p["deadLetterTargetArn"].as_str().map(str::to_string))
        .ok_or_else(|| format!("the redrive policy of {queue_url} names no queue"))?;
    // arn:aws:sqs:<region>:<account>:<name>
    let mut parts = arn.rsplitn(2, ':');
    let name = parts.next().unwrap_or_default();
    let account = parts
        .next()
        .and_then(|rest| rest.rsplit(':').next())
        .unwrap_or_default();
    sqs.get_queue_url()
        .queue_name(name)
        .queue_owner_aws_account_id(account)
        .send()
        .await
        .ok()
        .and_then(|out| out.queue_url)
        .ok_or_else(|| format!("the dead-letter queue {arn} cannot be found"))
}

/// Moves up to `max` messages (all, when `None`) from `from_url` to `to_url`.
///
/// # Errors
/// [`RedriveError`] when the DLQ cannot be read or a moved message cannot be deleted from it
/// (that message would be processed twice, which the consumer's deduplication absorbs).
pub async fn redrive(
    sqs: &Client,
    from_url: &str,
    to_url: &str,
    max: Option<usize>,
) -> Result<RedriveReport, RedriveError> {
    let mut report = RedriveReport::default();
    loop {
        let handled = report.moved + report.failed;
        let wanted = match max {
            Some(max) if handled >= max => return Ok(report),
            Some(max) => (max - handled).min(10),
            None => 10,
        };
        let received = sqs
            .receive_message()
            .queue_url(from_url)
            .max_number_of_messages(i32::try_from(wanted).unwrap_or(10))
            .wait_time_seconds(1)
            // Long enough to send and delete; a failed one reappears in the DLQ afterwards.
            .visibility_timeout(60)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .map_err(|e| RedriveError {
                report,
                reason: error_text(&e),
            })?;
        let messages = received.messages.unwrap_or_default();
        if messages.is_empty() {
            return Ok(report);
        }
        for message in messages {
            let (Some(body), Some(receipt)) = (message.body, message.receipt_handle) else {
                report.failed += 1;
                continue;
            };
            let attributes: HashMap<String, MessageAttributeValue> =
                message.message_attributes.unwrap_or_default();
            let sent = sqs
                .send_message()
                .queue_url(to_url)
                .message_body(body)
                .set_message_attributes((!attributes.is_empty()).then_some(attributes))
                .send()
                .await;
            if let Err(err) = sent {
                tracing::warn!(
                    message_id = message.message_id.as_deref().unwrap_or_default(),
                    error = %error_text(&err),
                    "could not send the message back; it stays in the DLQ"
                );
                report.failed += 1;
                continue;
            }
            sqs.delete_message()
                .queue_url(from_url)
                .receipt_handle(receipt)
                .send()
                .await
                .map_err(|e| RedriveError {
                    report,
                    reason: format!(
                        "message sent back but not deleted from the DLQ: {}",
                        error_text(&e)
                    ),
                })?;
            report.moved += 1;
        }
    }
}
