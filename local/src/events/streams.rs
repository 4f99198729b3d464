//! DynamoDB Streams event-source mapping: reads every shard of a table's stream, filters records
//! with the mapping's `FilterCriteria`, invokes the function in batches and retries like Lambda —
//! from the first failed record when the function reports `batchItemFailures`, the whole batch
//! otherwise — until `MaximumRetryAttempts`, then records the failure in the `OnFailure` queue
//! and moves on.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodbstreams::types::{AttributeValue, Record, ShardIteratorType};
use base64::Engine;
use serde_json::{Map, Value, json};
use tokio::sync::watch;

use super::{filter, stopped_within};
use crate::model::{InvokeError, Invoker, StreamSource};

/// DynamoDB JSON (`{"S": "x"}`) of a stream attribute value.
pub fn attribute_json(value: &AttributeValue) -> Value {
    let b64 = |bytes: &[u8]| Value::String(base64::engine::general_purpose::STANDARD.encode(bytes));
    match value {
        AttributeValue::S(s) => json!({ "S": s }),
        AttributeValue::N(n) => json!({ "N": n }),
        AttributeValue::B(b) => json!({ "B": b64(b.as_ref()) }),
        AttributeValue::Ss(v) => json!({ "SS": v }),
        AttributeValue::Ns(v) => json!({ "NS": v }),
        AttributeValue::Bs(v) => {
            json!({ "BS": v.iter().map(|b| b64(b.as_ref())).collect::<Vec<_>>() })
        }
        AttributeValue::M(m) => json!({ "M": item_json(m) }),
        AttributeValue::L(l) => json!({ "L": l.iter().map(attribute_json).collect::<Vec<_>>() }),
        AttributeValue::Null(b) => json!({ "NULL": b }),
        AttributeValue::Bool(b) => json!({ "BOOL": b }),
        _ => Value::Null,
    }
}

fn item_json(item: &HashMap<String, AttributeValue>) -> Value {
    Value::Object(
        item.iter()
            .map(|(k, v)| (k.clone(), attribute_json(v)))
            .collect::<Map<_, _>>(),
    )
}

/// A stream record as Lambda delivers it.
pub fn record_json(record: &Record, stream_arn: &str) -> Value {
    let mut dynamodb = Map::new();
    if let Some(stream) = record.dynamodb() {
        if let Some(time) = stream.approximate_creation_date_time() {
            dynamodb.insert("ApproximateCreationDateTime".into(), json!(time.secs()));
        }
        if let Some(keys) = stream.keys() {
            dynamodb.insert("Keys".into(), item_json(keys));
        }
        if let Some(image) = stream.new_image() {
            dynamodb.insert("NewImage".into(), item_json(image));
        }
        if let Some(image) = stream.old_image() {
            dynamodb.insert("OldImage".into(), item_json(image));
        }
        if let Some(sequence) = stream.sequence_number() {
            dynamodb.insert("SequenceNumber".into(), json!(sequence));
        }
        dynamodb.insert("SizeBytes".into(), json!(stream.size_bytes().unwrap_or(0)));
        if let Some(view) = stream.stream_view_type() {
            dynamodb.insert("StreamViewType".into(), json!(view.as_str()));
        }
    }
    json!({
        "eventID": record.event_id(),
        "eventName": record.event_name().map(|n| n.as_str()),
        "eventVersion": record.event_version().unwrap_or("1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": record.aws_region().unwrap_or("us-east-1"),
        "dynamodb": Value::Object(dynamodb),
        "eventSourceARN": stream_arn,
    })
}

/// What to do after an invocation of a batch.
#[derive(Debug, PartialEq, Eq)]
pub enum StreamOutcome {
    Done,
    /// Retry from the record with this index.
    RetryFrom(usize),
}

/// Reads the function's answer the way Lambda does for streams.
pub fn stream_outcome(
    result: &Result<Value, InvokeError>,
    records: &[Value],
    report_failures: bool,
) -> StreamOutcome {
    let Ok(response) = result else {
        return StreamOutcome::RetryFrom(0);
    };
    if !report_failures {
        return StreamOutcome::Done;
    }
    let Some(failures) = response.get("batchItemFailures").and_then(Value::as_array) else {
        return StreamOutcome::Done;
    };
    let sequence_of = |r: &Value| r["dynamodb"]["SequenceNumber"].as_str().map(str::to_string);
    let mut earliest: Option<usize> = None;
    for failure in failures {
        let Some(id) = failure.get("itemIdentifier").and_then(Value::as_str) else {
            return StreamOutcome::RetryFrom(0);
        };
        match records
            .iter()
            .position(|r| sequence_of(r).as_deref() == Some(id))
        {
            Some(i) => earliest = Some(earliest.map_or(i, |e: usize| e.min(i))),
            // An identifier not in the batch fails the whole batch, as on Lambda.
            None => return StreamOutcome::RetryFrom(0),
        }
    }
    earliest.map_or(StreamOutcome::Done, StreamOutcome::RetryFrom)
}

/// Reads one table's stream for one function.
pub struct StreamPoller<I> {
    streams: aws_sdk_dynamodbstreams::Client,
    sqs: aws_sdk_sqs::Client,
    invoker: Arc<I>,
    function: String,
    source: StreamSource,
}

impl<I: Invoker> StreamPoller<I> {
    pub fn new(
        streams: aws_sdk_dynamodbstreams::Client,
        sqs: aws_sdk_sqs::Client,
        invoker: Arc<I>,
        function: String,
        source: StreamSource,
    ) -> Self {
        Self {
            streams,
            sqs,
            invoker,
            function,
            source,
        }
    }

    /// Polls until stopped.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        // shard id → next iterator (None once the shard is closed and drained).
        let mut iterators: HashMap<String, Option<String>> = HashMap::new();
        while !*stop.borrow() {
            if let Err(err) = self.discover_shards(&mut iterators).await {
                tracing::warn!(function = %self.function, error = %err, "stream describe failed");
                if stopped_within(&mut stop, Duration::from_secs(2)).await {
                    break;
                }
                continue;
            }
            let mut delivered_any = false;
            let shard_ids: Vec<String> = iterators.keys().cloned().collect();
            for shard in shard_ids {
                let Some(Some(iterator)) = iterators.get(&shard).cloned() else {
                    continue;
                };
                match self
                    .streams
                    .get_records()
                    .shard_iterator(&iterator)
                    .limit(self.source.batch_size.clamp(1, 1000) as i32)
                    .send()
                    .await
                {
                    Ok(out) => {
                        iterators
                            .insert(shard.clone(), out.next_shard_iterator().map(str::to_string));
                        let records: Vec<Value> = out
                            .records()
                            .iter()
                            .map(|r| record_json(r, &self.source.stream_arn))
                            .filter(|r| filter::passes(&self.source.filters, r))
                            .collect();
                        if !records.is_empty() {
                            delivered_any = true;
                            self.deliver(&shard, records, &mut stop).await;
                        }
                    }
                    Err(err) => {
                        tracing::warn!(function = %self.function, shard = %shard, error = %clinic_shared::aws::error_text(&err), "get records failed; starting the shard over from its latest position");
                        iterators.remove(&shard);
                    }
                }
            }
            if !delivered_any && stopped_within(&mut stop, Duration::from_millis(500)).await {
                break;
            }
        }
    }

    async fn discover_shards(
        &self,
        iterators: &mut HashMap<String, Option<String>>,
    ) -> Result<(), String> {
        let out = self
            .streams
            .describe_stream()
            .stream_arn(&self.source.stream_arn)
            .send()
            .await
            .map_err(|e| clinic_shared::aws::error_text(&e))?;
        let shards = out
            .stream_description()
            .map(|d| d.shards().to_vec())
            .unwrap_or_default();
        for shard in shards {
            let Some(id) = shard.shard_id() else { continue };
            if iterators.contains_key(id) {
                continue;
            }
            // New shards of a known stream start at their beginning; the first ones where the
            // mapping says.
            let position = if iterators.is_empty() && self.source.starting_position == "LATEST" {
                ShardIteratorType::Latest
            } else {
                ShardIteratorType::TrimHorizon
            };
            let iterator = self
                .streams
                .get_shard_iterator()
                .stream_arn(&self.source.stream_arn)
                .shard_id(id)
                .shard_iterator_type(position)
                .send()
                .await
                .map_err(|e| clinic_shared::aws::error_text(&e))?;
            iterators.insert(
                id.to_string(),
                iterator.shard_iterator().map(str::to_string),
            );
        }
        Ok(())
    }

    async fn deliver(
        &self,
        shard: &str,
        mut records: Vec<Value>,
        stop: &mut watch::Receiver<bool>,
    ) {
        let mut attempts: i64 = 0;
        loop {
            let result = self
                .invoker
                .invoke(&self.function, json!({ "Records": records }))
                .await;
            match stream_outcome(&result, &records, self.source.report_batch_item_failures) {
                StreamOutcome::Done => return,
                StreamOutcome::RetryFrom(index) => {
                    records.drain(..index);
                    attempts += 1;
                    if let Err(err) = &result {
                        tracing::warn!(function = %self.function, attempt = attempts, error = %err, "stream batch failed");
                    }
                    let limit = self.source.maximum_retry_attempts.unwrap_or(-1);
                    if limit >= 0 && attempts > limit {
                        self.give_up(shard, &records, attempts).await;
                        return;
                    }
                    let backoff = Duration::from_millis(500 * (1 << attempts.min(6)) as u64);
                    if stopped_within(stop, backoff).await {
                        return;
                    }
                }
            }
        }
    }

    /// Records a batch that exhausted its retries in the `OnFailure` destination, like Lambda.
    async fn give_up(&self, shard: &str, records: &[Value], attempts: i64) {
        let sequence = |r: Option<&Value>| {
            r.and_then(|r| r["dynamodb"]["SequenceNumber"].as_str())
                .map(str::to_string)
        };
        tracing::error!(function = %self.function, records = records.len(), attempts, "stream batch dropped after its retries");
        let Some(queue_url) = &self.source.on_failure_queue_url else {
            return;
        };
        let record = json!({
            "requestContext": {
                "requestId": ulid::Ulid::new().to_string(),
                "functionArn": format!("arn:aws:lambda:us-east-1:123456789012:function:{}", self.function),
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": attempts,
            },
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST"},
            "version": "1.0",
            "timestamp": jiff::Timestamp::now().to_string(),
            "DDBStreamBatchInfo": {
                "shardId": shard,
                "startSequenceNumber": sequence(records.first()),
                "endSequenceNumber": sequence(records.last()),
                "approximateArrivalOfFirstRecord": records.first().map(|r| r["dynamodb"]["ApproximateCreationDateTime"].clone()),
                "approximateArrivalOfLastRecord": records.last().map(|r| r["dynamodb"]["ApproximateCreationDateTime"].clone()),
                "batchSize": records.len(),
                "streamArn": self.source.stream_arn,
            }
        });
        if let Err(err) = self
            .sqs
            .send_message()
            .queue_url(queue_url)
            .message_body(record.to_string())
            .send()
            .await
        {
            tracing::error!(queue = %queue_url, error = %clinic_shared::aws::error_text(&err), "could not record the failed stream batch");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records() -> Vec<Value> {
        (1..=3)
            .map(|i| json!({"dynamodb": {"SequenceNumber": format!("{i}00")}}))
            .collect()
    }

    #[test]
    fn retries_from_the_earliest_reported_failure() {
        let r = records();
        let answer = Ok(
            json!({"batchItemFailures": [{"itemIdentifier": "300"}, {"itemIdentifier": "200"}]}),
        );
        assert_eq!(
            stream_outcome(&answer, &r, true),
            StreamOutcome::RetryFrom(1)
        );
        assert_eq!(stream_outcome(&answer, &r, false), StreamOutcome::Done);
        assert_eq!(
            stream_outcome(&Ok(json!({})), &r, true),
            StreamOutcome::Done
        );
        let unknown = Ok(json!({"batchItemFailures": [{"itemIdentifier": "999"}]}));
        assert_eq!(
            stream_outcome(&unknown, &r, true),
            StreamOutcome::RetryFrom(0)
        );
        assert_eq!(
            stream_outcome(&Err(InvokeError::Crashed("x".into())), &r, true),
            StreamOutcome::RetryFrom(0)
        );
    }

    #[test]
    fn attribute_values_become_dynamodb_json() {
        let mut m = HashMap::new();
        m.insert("a".to_string(), AttributeValue::N("1".into()));
        let v = AttributeValue::L(vec![
            AttributeValue::S("x".into()),
            AttributeValue::M(m),
            AttributeValue::Bool(true),
        ]);
        assert_eq!(
            attribute_json(&v),
            json!({"L": [{"S": "x"}, {"M": {"a": {"N": "1"}}}, {"BOOL": true}]})
        );
    }
}
