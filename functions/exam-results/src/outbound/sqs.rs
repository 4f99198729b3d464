//! [`IngestQueue`] on SQS: one message per accepted batch item (`SendMessageBatch`, ten at a
//! time, several calls in flight). A standard queue: ordering per exam comes from the version
//! compare when an item is applied, not from the queue.

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use futures::stream::{self, StreamExt};

use crate::domain::ingest::{IngestCommand, IngestMessage};
use crate::domain::{IngestQueue, QueueError};

/// Entries per `SendMessageBatch` call (the SQS maximum).
const CHUNK: usize = 10;
/// Calls in flight at once.
const IN_FLIGHT: usize = 10;

/// The ingest queue.
#[derive(Clone)]
pub struct SqsIngestQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsIngestQueue {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }

    /// Sends one chunk; returns the batch indices SQS did not take.
    async fn send_chunk(&self, chunk: Vec<IngestCommand>) -> Vec<u32> {
        let mut entries = Vec::with_capacity(chunk.len());
        for cmd in &chunk {
            let body = match serde_json::to_string(&IngestMessage::from_command(cmd)) {
                Ok(body) => body,
                Err(_) => return chunk.iter().map(|c| c.index).collect(),
            };
            match SendMessageBatchRequestEntry::builder()
                .id(cmd.index.to_string())
                .message_body(body)
                .build()
            {
                Ok(entry) => entries.push(entry),
                Err(_) => return chunk.iter().map(|c| c.index).collect(),
            }
        }
        match self
            .client
            .send_message_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
        {
            Ok(out) => out
                .failed()
                .iter()
                .filter_map(|f| f.id().parse::<u32>().ok())
                .collect(),
            Err(err) => {
                tracing::warn!(error = %clinic_shared::aws::error_text(&err), "ingest chunk not queued");
                chunk.iter().map(|c| c.index).collect()
            }
        }
    }
}

impl IngestQueue for SqsIngestQueue {
    async fn enqueue(&self, commands: &[IngestCommand]) -> Result<Vec<u32>, QueueError> {
        let chunks: Vec<Vec<IngestCommand>> = commands.chunks(CHUNK).map(<[_]>::to_vec).collect();
        let mut failed: Vec<u32> = stream::iter(chunks)
            .map(|chunk| self.send_chunk(chunk))
            .buffer_unordered(IN_FLIGHT)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .flatten()
            .collect();
        failed.sort_unstable();
        Ok(failed)
    }
}
