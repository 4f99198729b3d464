//! DynamoDB Streams event-source mapping: reads every shard of a table's stream, filters records
//! with the mapping's `FilterCriteria`, invokes the function in batches and retries like Lambda —
//! from the first failed record when the function reports `batchItemFailures`, the whole batch
//! otherwise — until `MaximumRetryAttempts`, then records the failure in the `OnFailure` queue
//! and moves on.
//!
//! Every read takes a fresh iterator at the last record consumed and checks it is still there:
//! see [`super::cursor`] for why (the emulator rewrites a stream's history after a failed
//! transaction) and how the poller finds its place again without delivering anything twice.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodbstreams::types::{AttributeValue, Record, ShardIteratorType};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio::sync::watch;

use super::cursor::{Diverged, Position, ShardCursor, Start, Step};
use super::{CallError, Outage, filter, stopped_within};
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

/// Records read per `GetRecords` (the API's maximum); they are delivered in batches of the
/// mapping's batch size.
const PAGE: i32 = 1000;

/// How often an idle stream is read when no invocation ended meanwhile. Invocations poke the
/// pollers, so this only bounds the delay for writes made outside the runner; it is not shorter
/// because the emulator keeps every iterator it hands out (a few KB each) until it stops.
const IDLE_POLL: Duration = Duration::from_secs(1);

/// Shortest time between two reads of an idle stream, however often invocations end.
const MIN_POLL_GAP: Duration = Duration::from_millis(50);

/// What a poller saves to resume after a restart of the runner.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Checkpoint {
    stream_arn: String,
    /// Shard id → the last positions consumed, oldest first.
    shards: BTreeMap<String, Vec<Position>>,
}

/// Reads one table's stream for one function.
pub struct StreamPoller<I> {
    streams: aws_sdk_dynamodbstreams::Client,
    sqs: aws_sdk_sqs::Client,
    invoker: Arc<I>,
    function: String,
    source: StreamSource,
    checkpoint_file: Option<PathBuf>,
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
            checkpoint_file: None,
        }
    }

    /// Keeps the poller's place in `dir` (one file per function and table), so a restarted
    /// runner resumes where this one stopped instead of delivering the whole stream again.
    #[must_use]
    pub fn with_checkpoints(mut self, dir: Option<PathBuf>) -> Self {
        self.checkpoint_file = dir.map(|dir| {
            let name: String = format!("{}-{}", self.function, self.source.table_name)
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            dir.join(format!("{name}.json"))
        });
        self
    }

    /// Polls until stopped: reads every shard when an invocation ended (`nudge`) or every
    /// [`IDLE_POLL`], at once again while records keep coming.
    pub async fn run(self, mut stop: watch::Receiver<bool>, mut nudge: watch::Receiver<u64>) {
        let mut cursors = self.load_checkpoint().await;
        let mut outage = Outage::new();
        while !*stop.borrow() {
            nudge.borrow_and_update();
            let progressed = match self.poll(&mut cursors, &mut stop).await {
                Ok(consumed) => {
                    if let Some((lasted, failures)) = outage.recovered() {
                        tracing::info!(function = %self.function, table = %self.source.table_name, after = ?lasted, failed_polls = failures, "stream readable again");
                    }
                    consumed > 0
                }
                Err(err) => {
                    if outage.failed(err.watched) {
                        tracing::warn!(function = %self.function, table = %self.source.table_name, error = %err, "cannot read the stream; retrying quietly until it works again");
                    }
                    false
                }
            };
            if progressed {
                self.save_checkpoint(&cursors).await;
                continue;
            }
            if stopped_within(&mut stop, MIN_POLL_GAP).await {
                break;
            }
            tokio::select! {
                stopping = stopped_within(&mut stop, IDLE_POLL) => if stopping { break },
                Ok(()) = nudge.changed() => {}
            }
        }
        self.save_checkpoint(&cursors).await;
    }

    /// Reads every shard once; how many records were consumed.
    async fn poll(
        &self,
        cursors: &mut BTreeMap<String, ShardCursor>,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<usize, CallError> {
        let shards = self.shard_ids().await?;
        if cursors.is_empty() && self.source.starting_position == "LATEST" {
            // The mapping starts after what the stream holds now: mark it consumed.
            for shard in &shards {
                let mut cursor = ShardCursor::default();
                loop {
                    let page = self.read(shard, &cursor.start(), PAGE).await?;
                    let positions: Vec<Position> = page.iter().filter_map(Position::of).collect();
                    let Ok(plan) = cursor.plan(&positions) else {
                        cursor = ShardCursor::default();
                        continue;
                    };
                    if plan.is_empty() {
                        break;
                    }
                    for (i, _) in plan {
                        cursor.consume(positions[i].clone());
                    }
                }
                cursors.insert(shard.clone(), cursor);
            }
        }
        let mut consumed = 0;
        for shard in shards {
            let cursor = cursors.entry(shard.clone()).or_default();
            consumed += self.poll_shard(&shard, cursor, stop).await?;
        }
        Ok(consumed)
    }

    async fn shard_ids(&self) -> Result<Vec<String>, CallError> {
        let out = self
            .streams
            .describe_stream()
            .stream_arn(&self.source.stream_arn)
            .send()
            .await
            .map_err(|e| CallError::of(&e))?;
        Ok(shard_ids_of(&out))
    }

    /// Records of `shard` from `start` in Lambda's shape, with a fresh iterator: an iterator
    /// taken before a failed transaction keeps reading the emulator's discarded copy.
    async fn read(&self, shard: &str, start: &Start, limit: i32) -> Result<Vec<Value>, CallError> {
        let request = self
            .streams
            .get_shard_iterator()
            .stream_arn(&self.source.stream_arn)
            .shard_id(shard);
        let request = match start {
            Start::TrimHorizon => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
            Start::At(sequence) => request
                .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
                .sequence_number(sequence),
        };
        let iterator = request.send().await.map_err(|e| CallError::of(&e))?;
        let Some(iterator) = iterator.shard_iterator() else {
            return Ok(Vec::new());
        };
        let out = self
            .streams
            .get_records()
            .shard_iterator(iterator)
            .limit(limit)
            .send()
            .await
            .map_err(|e| CallError::of(&e))?;
        Ok(out
            .records()
            .iter()
            .map(|r| record_json(r, &self.source.stream_arn))
            .filter(|r| Position::of(r).is_some())
            .collect())
    }

    /// Reads one shard from where its cursor is and delivers what is new, in batches; how many
    /// records were consumed.
    async fn poll_shard(
        &self,
        shard: &str,
        cursor: &mut ShardCursor,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<usize, CallError> {
        let mut page = self.read(shard, &cursor.start(), PAGE).await?;
        let mut positions: Vec<Position> = page.iter().filter_map(Position::of).collect();
        let plan = match cursor.plan(&positions) {
            Ok(plan) => plan,
            Err(diverged) => {
                self.find_shared_point(shard, cursor, &diverged).await?;
                page = self.read(shard, &cursor.start(), PAGE).await?;
                positions = page.iter().filter_map(Position::of).collect();
                match cursor.plan(&positions) {
                    Ok(plan) => plan,
                    // It changed again meanwhile: the next poll looks again.
                    Err(_) => return Ok(0),
                }
            }
        };
        let batch_size = self.source.batch_size.clamp(1, 1000) as usize;
        let mut consumed = 0;
        let mut batch: Vec<Value> = Vec::new();
        let mut read: Vec<Position> = Vec::new();
        for (i, step) in plan {
            read.push(positions[i].clone());
            if step == Step::Deliver && filter::passes(&self.source.filters, &page[i]) {
                batch.push(page[i].clone());
            }
            if batch.len() >= batch_size {
                if !self.deliver(shard, std::mem::take(&mut batch), stop).await {
                    return Ok(consumed);
                }
                consumed += read.len();
                read.drain(..).for_each(|p| cursor.consume(p));
            }
        }
        if !batch.is_empty() && !self.deliver(shard, batch, stop).await {
            return Ok(consumed);
        }
        consumed += read.len();
        read.into_iter().for_each(|p| cursor.consume(p));
        Ok(consumed)
    }

    /// The shard no longer holds the last consumed record as it was: walks back through the
    /// cursor's trail to the newest record the shard still holds and rewinds the cursor there (to
    /// the shard's beginning when there is none). Says so once.
    async fn find_shared_point(
        &self,
        shard: &str,
        cursor: &mut ShardCursor,
        diverged: &Diverged,
    ) -> Result<(), CallError> {
        let mut shared = None;
        for index in cursor.probes() {
            let Some(position) = cursor.position(index).cloned() else {
                continue;
            };
            let page = self
                .read(shard, &Start::At(position.sequence.clone()), 1)
                .await?;
            if page.first().and_then(Position::of).as_ref() == Some(&position) {
                shared = Some((index, position));
                break;
            }
        }
        let found = diverged.found.as_ref().map_or_else(
            || "nothing".to_string(),
            |p| format!("event {}", p.event_id),
        );
        match shared {
            Some((index, position)) => {
                tracing::warn!(
                    function = %self.function,
                    table = %self.source.table_name,
                    shard = %shard,
                    "the stream went back under the poller (the emulator restored the table from a snapshot, as it does after a failed transaction): sequence {} now holds {found} instead of event {}; resuming after sequence {}, the newest record both histories share, and skipping every record already delivered",
                    diverged.expected.sequence,
                    diverged.expected.event_id,
                    position.sequence,
                );
                cursor.rewind(Some(index));
            }
            None => {
                tracing::warn!(
                    function = %self.function,
                    table = %self.source.table_name,
                    shard = %shard,
                    "the stream went back under the poller (the emulator restored or recreated the table): sequence {} now holds {found} instead of event {} and no record read before is left where it was; reading the shard again from its start, skipping every record already delivered",
                    diverged.expected.sequence,
                    diverged.expected.event_id,
                );
                cursor.rewind(None);
            }
        }
        Ok(())
    }

    async fn load_checkpoint(&self) -> BTreeMap<String, ShardCursor> {
        let Some(file) = &self.checkpoint_file else {
            return BTreeMap::new();
        };
        let Ok(bytes) = tokio::fs::read(file).await else {
            return BTreeMap::new();
        };
        match serde_json::from_slice::<Checkpoint>(&bytes) {
            // Another stream (the emulator restarted, the table was recreated): start afresh.
            Ok(checkpoint) if checkpoint.stream_arn != self.source.stream_arn => BTreeMap::new(),
            Ok(checkpoint) => {
                tracing::info!(function = %self.function, table = %self.source.table_name, "stream poller resumes from its checkpoint");
                checkpoint
                    .shards
                    .into_iter()
                    .map(|(shard, trail)| (shard, ShardCursor::resume(trail)))
                    .collect()
            }
            Err(err) => {
                tracing::warn!(file = %file.display(), error = %err, "unreadable stream checkpoint ignored");
                BTreeMap::new()
            }
        }
    }

    async fn save_checkpoint(&self, cursors: &BTreeMap<String, ShardCursor>) {
        let Some(file) = &self.checkpoint_file else {
            return;
        };
        let checkpoint = Checkpoint {
            stream_arn: self.source.stream_arn.clone(),
            shards: cursors
                .iter()
                .map(|(shard, cursor)| (shard.clone(), cursor.trail()))
                .collect(),
        };
        let Ok(bytes) = serde_json::to_vec(&checkpoint) else {
            return;
        };
        let partial = file.with_extension("json.partial");
        let written = async {
            if let Some(dir) = file.parent() {
                tokio::fs::create_dir_all(dir).await?;
            }
            tokio::fs::write(&partial, &bytes).await?;
            tokio::fs::rename(&partial, file).await
        };
        if let Err(err) = written.await {
            tracing::warn!(file = %file.display(), error = %err, "could not save the stream checkpoint");
        }
    }

    /// Invokes the function with `records` until it succeeds, retries run out or the runner
    /// stops; false when stopped before the batch was done.
    async fn deliver(
        &self,
        shard: &str,
        mut records: Vec<Value>,
        stop: &mut watch::Receiver<bool>,
    ) -> bool {
        let mut attempts: i64 = 0;
        loop {
            let result = self
                .invoker
                .invoke(&self.function, json!({ "Records": records }))
                .await;
            match stream_outcome(&result, &records, self.source.report_batch_item_failures) {
                StreamOutcome::Done => return true,
                StreamOutcome::RetryFrom(index) => {
                    records.drain(..index);
                    attempts += 1;
                    if let Err(err) = &result {
                        tracing::warn!(function = %self.function, attempt = attempts, error = %err, "stream batch failed");
                    }
                    let limit = self.source.maximum_retry_attempts.unwrap_or(-1);
                    if limit >= 0 && attempts > limit {
                        self.give_up(shard, &records, attempts).await;
                        return true;
                    }
                    let backoff = Duration::from_millis(500 * (1 << attempts.min(6)) as u64);
                    if stopped_within(stop, backoff).await {
                        return false;
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

/// The shard ids a `DescribeStream` answer lists (none when it describes no stream).
pub fn shard_ids_of(
    described: &aws_sdk_dynamodbstreams::operation::describe_stream::DescribeStreamOutput,
) -> Vec<String> {
    described
        .stream_description()
        .map(|d| {
            d.shards()
                .iter()
                .filter_map(|s| s.shard_id().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
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
