//! The DynamoDB stream poller against the emulator (moto at `CLINIC_EMULATOR_URL`): every record
//! is delivered once and promptly, whatever the emulator does to the stream's history — a failed
//! transaction restores the table (stream included) from a snapshot, a table created again
//! restarts its sequence numbers — and a poller started again resumes from its checkpoint.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, Put,
    ScalarAttributeType, StreamSpecification, StreamViewType, TransactWriteItem,
};
use clinic_local::events::Nudge;
use clinic_local::events::streams::StreamPoller;
use clinic_local::model::{InvokeError, Invoker, StreamSource};
use clinic_shared::testing::{emulator_config, unique};
use serde_json::{Value, json};
use tokio::sync::watch;

/// Records every batch it is invoked with and succeeds.
#[derive(Default)]
struct Recorder {
    records: Mutex<Vec<(Instant, Value)>>,
}

impl Invoker for Recorder {
    fn invoke(
        &self,
        _function: &str,
        payload: Value,
    ) -> impl std::future::Future<Output = Result<Value, InvokeError>> + Send {
        let now = Instant::now();
        if let Ok(mut records) = self.records.lock() {
            for record in payload["Records"].as_array().into_iter().flatten() {
                records.push((now, record.clone()));
            }
        }
        std::future::ready(Ok(json!({})))
    }
}

impl Recorder {
    fn records(&self) -> Vec<(Instant, Value)> {
        self.records.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Event id → how many times it was delivered.
    fn deliveries(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for (_, record) in self.records() {
            let id = record["eventID"].as_str().unwrap_or_default().to_string();
            *counts.entry(id).or_insert(0) += 1;
        }
        counts
    }

    fn assert_delivered_once(&self) {
        let twice: Vec<_> = self
            .deliveries()
            .into_iter()
            .filter(|(_, n)| *n > 1)
            .collect();
        assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    }

    /// When the INSERT of `key` was delivered, if it was.
    fn inserted(&self, key: &str) -> Option<Instant> {
        self.records().into_iter().find_map(|(at, r)| {
            (r["eventName"] == "INSERT" && r["dynamodb"]["Keys"]["pk"]["S"] == key).then_some(at)
        })
    }
}

struct Table {
    dynamodb: aws_sdk_dynamodb::Client,
    streams: aws_sdk_dynamodbstreams::Client,
    name: String,
    stream_arn: String,
}

impl Table {
    async fn create(sdk: &aws_config::SdkConfig, name: &str) -> Table {
        let dynamodb = aws_sdk_dynamodb::Client::new(sdk);
        let out = dynamodb
            .create_table()
            .table_name(name)
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("pk")
                    .key_type(KeyType::Hash)
                    .build()
                    .expect("key"),
            )
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("pk")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .expect("attribute"),
            )
            .billing_mode(BillingMode::PayPerRequest)
            .stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::NewAndOldImages)
                    .build()
                    .expect("stream"),
            )
            .send()
            .await
            .expect("create table");
        let stream_arn = out
            .table_description()
            .and_then(|t| t.latest_stream_arn())
            .expect("stream arn")
            .to_string();
        Table {
            dynamodb,
            streams: aws_sdk_dynamodbstreams::Client::new(sdk),
            name: name.to_string(),
            stream_arn,
        }
    }

    fn item(key: &str, padding: usize) -> Put {
        Put::builder()
            .table_name("placeholder")
            .item("pk", AttributeValue::S(key.to_string()))
            .item("padding", AttributeValue::S("x".repeat(padding.max(1))))
            .build()
            .expect("put")
    }

    async fn put(&self, key: &str) {
        self.put_padded(key, 1).await;
    }

    async fn put_padded(&self, key: &str, padding: usize) {
        self.dynamodb
            .put_item()
            .table_name(&self.name)
            .set_item(Some(Self::item(key, padding).item))
            .send()
            .await
            .expect("put item");
    }

    /// A transaction that writes `ghost` and then fails on `existing`'s condition: the emulator
    /// applies the first write, then restores the table from its snapshot.
    async fn failed_transaction(&self, ghost: &str, existing: &str) {
        let put = |key: &str, condition: Option<&str>| {
            let mut put = Self::item(key, 1);
            put.table_name = self.name.clone();
            put.condition_expression = condition.map(str::to_string);
            TransactWriteItem::builder().put(put).build()
        };
        let result = self
            .dynamodb
            .transact_write_items()
            .transact_items(put(ghost, None))
            .transact_items(put(existing, Some("attribute_not_exists(pk)")))
            .send()
            .await;
        assert!(result.is_err(), "the transaction was meant to fail");
    }

    /// Event ids of every record the stream holds now.
    async fn stream_ids(&self) -> BTreeSet<String> {
        let shard = self
            .streams
            .describe_stream()
            .stream_arn(&self.stream_arn)
            .send()
            .await
            .expect("describe stream")
            .stream_description()
            .and_then(|d| d.shards().first().and_then(|s| s.shard_id()))
            .expect("a shard")
            .to_string();
        let mut iterator = self
            .streams
            .get_shard_iterator()
            .stream_arn(&self.stream_arn)
            .shard_id(&shard)
            .shard_iterator_type(aws_sdk_dynamodbstreams::types::ShardIteratorType::TrimHorizon)
            .send()
            .await
            .expect("iterator")
            .shard_iterator
            .expect("iterator id");
        let mut ids = BTreeSet::new();
        loop {
            let out = self
                .streams
                .get_records()
                .shard_iterator(&iterator)
                .send()
                .await
                .expect("records");
            if out.records().is_empty() {
                return ids;
            }
            ids.extend(
                out.records()
                    .iter()
                    .filter_map(|r| r.event_id().map(str::to_string)),
            );
            match out.next_shard_iterator {
                Some(next) => iterator = next,
                None => return ids,
            }
        }
    }

    fn source(&self) -> StreamSource {
        StreamSource {
            table_name: self.name.clone(),
            stream_arn: self.stream_arn.clone(),
            batch_size: 10,
            starting_position: "TRIM_HORIZON".to_string(),
            maximum_retry_attempts: Some(2),
            bisect_on_error: false,
            report_batch_item_failures: true,
            filters: Vec::new(),
            on_failure_queue_url: None,
        }
    }
}

/// A poller running in the background.
struct Poller {
    recorder: Arc<Recorder>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Poller {
    async fn start(
        sdk: &aws_config::SdkConfig,
        source: StreamSource,
        checkpoints: Option<std::path::PathBuf>,
    ) -> Poller {
        let recorder = Arc::new(Recorder::default());
        let (stop, stop_rx) = watch::channel(false);
        let poller = StreamPoller::new(
            aws_sdk_dynamodbstreams::Client::new(sdk),
            aws_sdk_sqs::Client::new(sdk),
            recorder.clone(),
            "Relay".to_string(),
            source,
        )
        .with_checkpoints(checkpoints);
        let nudge = Nudge::default();
        let task = tokio::spawn(poller.run(stop_rx, nudge.subscribe()));
        Poller {
            recorder,
            stop,
            task,
        }
    }

    async fn stop(self) -> Arc<Recorder> {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(10), self.task).await;
        self.recorder
    }

    /// Waits until the INSERT of `key` is delivered; how long after `since`.
    async fn delivered(&self, key: &str, since: Instant, within: Duration) -> Duration {
        loop {
            if let Some(at) = self.recorder.inserted(key) {
                return at.saturating_duration_since(since);
            }
            assert!(
                since.elapsed() < within,
                "{key} was not delivered within {within:?}; delivered: {:?}",
                self.recorder
                    .records()
                    .iter()
                    .map(|(_, r)| r["dynamodb"]["Keys"]["pk"]["S"].clone())
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

const PROMPT: Duration = Duration::from_secs(2);

/// The poller's log, captured per test (shown when it fails).
fn logs() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("clinic_local=debug")
        .try_init();
}

#[tokio::test]
async fn records_after_failed_transactions_are_delivered_promptly_and_once() {
    logs();
    let sdk = emulator_config().await;
    let table = Table::create(&sdk, &unique("relay-failed-txn")).await;
    let poller = Poller::start(&sdk, table.source(), None).await;

    let start = Instant::now();
    table.put("first").await;
    poller.delivered("first", start, PROMPT).await;

    let mut latencies = Vec::new();
    for round in 0..5 {
        table
            .failed_transaction(&format!("ghost-{round}"), "first")
            .await;
        let start = Instant::now();
        let key = format!("after-{round}");
        table.put(&key).await;
        latencies.push(poller.delivered(&key, start, PROMPT).await);
    }
    eprintln!("delivery after a failed transaction: {latencies:?}");
    let recorder = poller.stop().await;
    recorder.assert_delivered_once();
}

#[tokio::test]
async fn a_table_created_again_is_read_from_its_start() {
    logs();
    let sdk = emulator_config().await;
    let name = unique("relay-recreated");
    let table = Table::create(&sdk, &name).await;
    let poller = Poller::start(&sdk, table.source(), None).await;
    for key in ["a", "b", "c"] {
        table.put(key).await;
    }
    poller.delivered("c", Instant::now(), PROMPT).await;

    // Same name: the emulator serves the new table's stream (sequence numbers start over) under
    // the old stream ARN too.
    table
        .dynamodb
        .delete_table()
        .table_name(&name)
        .send()
        .await
        .expect("delete table");
    let again = Table::create(&sdk, &name).await;
    let start = Instant::now();
    again.put("x").await;
    poller.delivered("x", start, PROMPT).await;
    let recorder = poller.stop().await;
    recorder.assert_delivered_once();
    assert_eq!(recorder.records().len(), 4, "a, b, c and x once each");
}

#[tokio::test]
async fn concurrent_writes_during_failed_transactions_are_each_delivered_once() {
    logs();
    let sdk = emulator_config().await;
    let table = Arc::new(Table::create(&sdk, &unique("relay-concurrent")).await);
    // A larger table makes the emulator's snapshot slower, so writes land while it is taken.
    for i in 0..150 {
        table.put_padded(&format!("seed-{i}"), 2000).await;
    }
    let poller = Poller::start(&sdk, table.source(), None).await;
    poller
        .delivered("seed-149", Instant::now(), Duration::from_secs(20))
        .await;

    let until = Instant::now() + Duration::from_secs(4);
    let failing = {
        let table = table.clone();
        tokio::spawn(async move {
            let mut n = 0;
            while Instant::now() < until {
                table
                    .failed_transaction(&format!("ghost-{n}"), "seed-0")
                    .await;
                n += 1;
            }
        })
    };
    let writing = {
        let table = table.clone();
        tokio::spawn(async move {
            let mut n = 0;
            while Instant::now() < until {
                table.put(&format!("w-{n}")).await;
                n += 1;
            }
            n
        })
    };
    let _ = failing.await;
    let written = writing.await.unwrap_or_default();
    let settled = Instant::now();
    table.put("last").await;
    poller.delivered("last", settled, PROMPT).await;

    // Every record the stream holds in the end was delivered, each exactly once (records the
    // emulator took back may have been delivered before they vanished — once too).
    let held = table.stream_ids().await;
    let recorder = poller.stop().await;
    let delivered = recorder.deliveries();
    let missing: Vec<_> = held
        .iter()
        .filter(|id| !delivered.contains_key(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} records never delivered",
        missing.len(),
        held.len()
    );
    recorder.assert_delivered_once();
    eprintln!(
        "{written} concurrent writes; the stream holds {} records, {} were delivered",
        held.len(),
        delivered.len()
    );
}

#[tokio::test]
async fn a_poller_started_again_resumes_from_its_checkpoint() {
    logs();
    let sdk = emulator_config().await;
    let table = Table::create(&sdk, &unique("relay-checkpoint")).await;
    let dir = std::env::temp_dir().join(unique("clinic-checkpoints"));
    let first = Poller::start(&sdk, table.source(), Some(dir.clone())).await;
    table.put("before").await;
    first.delivered("before", Instant::now(), PROMPT).await;
    let first = first.stop().await;
    assert_eq!(first.records().len(), 1);

    table.put("while-stopped").await;
    let second = Poller::start(&sdk, table.source(), Some(dir.clone())).await;
    second
        .delivered("while-stopped", Instant::now(), PROMPT)
        .await;
    let start = Instant::now();
    table.put("after").await;
    second.delivered("after", start, PROMPT).await;
    let second = second.stop().await;
    let keys: Vec<Value> = second
        .records()
        .iter()
        .map(|(_, r)| r["dynamodb"]["Keys"]["pk"]["S"].clone())
        .collect();
    assert_eq!(keys, vec![json!("while-stopped"), json!("after")]);
    let _ = std::fs::remove_dir_all(dir);
}
