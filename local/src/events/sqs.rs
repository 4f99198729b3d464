//! SQS event-source mapping: long-polls a queue, hands batches to the function and deletes what
//! it processed. With `ReportBatchItemFailures` only the messages the function lists as failed
//! stay on the queue; without it a failed invocation leaves the whole batch. Messages left on the
//! queue reappear after their visibility timeout, and the emulator's redrive policy moves them to
//! the DLQ after `maxReceiveCount` receives — exactly as on AWS.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName};
use clinic_shared::sqs_batch::sqs_event_from_messages;
use tokio::sync::watch;

use super::{CallError, Outage, stopped_within};
use crate::model::{Invoker, SqsSource};

/// What to delete after an invocation.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Delete every message of the batch.
    All,
    /// Delete all but these message ids.
    AllBut(HashSet<String>),
    /// Delete nothing (the invocation failed).
    Nothing,
}

/// Reads the function's answer the way Lambda does.
pub fn outcome(
    result: &Result<serde_json::Value, crate::model::InvokeError>,
    report_failures: bool,
) -> Outcome {
    let Ok(response) = result else {
        return Outcome::Nothing;
    };
    if !report_failures {
        return Outcome::All;
    }
    match response.get("batchItemFailures") {
        None | Some(serde_json::Value::Null) => Outcome::All,
        Some(serde_json::Value::Array(failures)) => {
            let mut ids = HashSet::new();
            for failure in failures {
                match failure
                    .get("itemIdentifier")
                    .and_then(serde_json::Value::as_str)
                {
                    Some(id) if !id.is_empty() => {
                        ids.insert(id.to_string());
                    }
                    // Lambda treats an unreadable failure entry as a failure of the whole batch.
                    _ => return Outcome::Nothing,
                }
            }
            if ids.is_empty() {
                Outcome::All
            } else {
                Outcome::AllBut(ids)
            }
        }
        Some(_) => Outcome::Nothing,
    }
}

/// One poller of one queue for one function.
pub struct SqsPoller<I> {
    sqs: aws_sdk_sqs::Client,
    invoker: Arc<I>,
    function: String,
    source: SqsSource,
}

impl<I: Invoker> SqsPoller<I> {
    pub fn new(
        sqs: aws_sdk_sqs::Client,
        invoker: Arc<I>,
        function: String,
        source: SqsSource,
    ) -> Self {
        Self {
            sqs,
            invoker,
            function,
            source,
        }
    }

    /// Polls until stopped.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut outage = Outage::new();
        while !*stop.borrow() {
            let batch = match self.receive_batch(&mut stop).await {
                Ok(batch) => {
                    if let Some((lasted, failures)) = outage.recovered() {
                        tracing::info!(function = %self.function, queue = %self.source.queue_url, after = ?lasted, failed_polls = failures, "queue readable again");
                    }
                    batch
                }
                Err(err) => {
                    if outage.failed(err.watched) {
                        tracing::warn!(function = %self.function, queue = %self.source.queue_url, error = %err, "receive failed; retrying quietly until it works again");
                    }
                    if stopped_within(&mut stop, Duration::from_secs(2)).await {
                        break;
                    }
                    continue;
                }
            };
            if batch.is_empty() {
                continue;
            }
            self.deliver(batch).await;
        }
    }

    /// Receives up to the batch size, waiting at most the batching window for more messages.
    async fn receive_batch(
        &self,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<Vec<Message>, CallError> {
        let wanted = self.source.batch_size.max(1) as usize;
        let window_ends = tokio::time::Instant::now() + self.source.batching_window;
        let mut batch: Vec<Message> = Vec::new();
        loop {
            let room = (wanted - batch.len()).min(10);
            // Short long-polls keep shutdown prompt.
            let wait = if batch.is_empty() { 2 } else { 0 };
            let out = self
                .sqs
                .receive_message()
                .queue_url(&self.source.queue_url)
                .max_number_of_messages(room as i32)
                .wait_time_seconds(wait)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .message_attribute_names("All")
                .send()
                .await
                .map_err(|e| CallError::of(&e))?;
            let received = out.messages.unwrap_or_default();
            let got_none = received.is_empty();
            batch.extend(received);
            if batch.len() >= wanted || *stop.borrow() {
                break;
            }
            if tokio::time::Instant::now() >= window_ends || (got_none && !batch.is_empty()) {
                break;
            }
            if batch.is_empty() && got_none {
                break;
            }
        }
        Ok(batch)
    }

    async fn deliver(&self, batch: Vec<Message>) {
        let event = sqs_event_from_messages(&batch, &self.source.queue_arn);
        let payload = match serde_json::to_value(&event) {
            Ok(payload) => payload,
            Err(err) => {
                tracing::error!(error = %err, "could not build the SQS event");
                return;
            }
        };
        let result = self.invoker.invoke(&self.function, payload).await;
        if let Err(err) = &result {
            tracing::warn!(function = %self.function, error = %err, messages = batch.len(), "SQS batch invocation failed");
        }
        let keep = match outcome(&result, self.source.report_batch_item_failures) {
            Outcome::Nothing => return,
            Outcome::All => HashSet::new(),
            Outcome::AllBut(ids) => ids,
        };
        let entries: Vec<DeleteMessageBatchRequestEntry> = batch
            .iter()
            .enumerate()
            .filter(|(_, m)| m.message_id().is_some_and(|id| !keep.contains(id)))
            .filter_map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(format!("m{i}"))
                    .set_receipt_handle(m.receipt_handle.clone())
                    .build()
                    .ok()
            })
            .collect();
        for chunk in entries.chunks(10) {
            if let Err(err) = self
                .sqs
                .delete_message_batch()
                .queue_url(&self.source.queue_url)
                .set_entries(Some(chunk.to_vec()))
                .send()
                .await
            {
                tracing::warn!(queue = %self.source.queue_url, error = %clinic_shared::aws::error_text(&err), "delete failed; messages will be redelivered");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::InvokeError;

    #[test]
    fn partial_failures_keep_only_listed_messages() {
        let ok = Ok(json!({"batchItemFailures": [{"itemIdentifier": "b"}]}));
        assert_eq!(
            outcome(&ok, true),
            Outcome::AllBut(["b".to_string()].into())
        );
        assert_eq!(
            outcome(&ok, false),
            Outcome::All,
            "without ReportBatchItemFailures the answer is ignored"
        );
        assert_eq!(
            outcome(&Ok(json!({"batchItemFailures": []})), true),
            Outcome::All
        );
        assert_eq!(outcome(&Ok(json!(null)), true), Outcome::All);
        assert_eq!(
            outcome(
                &Ok(json!({"batchItemFailures": [{"itemIdentifier": ""}]})),
                true
            ),
            Outcome::Nothing
        );
        assert_eq!(
            outcome(&Ok(json!({"batchItemFailures": "x"})), true),
            Outcome::Nothing
        );
        assert_eq!(
            outcome(&Err(InvokeError::Timeout(Duration::from_secs(1))), true),
            Outcome::Nothing
        );
    }
}
