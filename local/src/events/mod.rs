//! Event-source mappings: what Lambda's pollers do for SQS queues, DynamoDB streams and
//! schedules, done here against the emulator and the runner's functions.

pub mod filter;
pub mod schedule;
pub mod sqs;
pub mod streams;

use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::model::{EventSource, Invoker, LocalStack};

/// Starts one poller task per event source of every function; they stop when `stop` turns true.
pub fn start<I: Invoker>(
    stack: &LocalStack,
    invoker: Arc<I>,
    sdk: &aws_config::SdkConfig,
    stop: watch::Receiver<bool>,
) -> JoinSet<()> {
    let mut tasks = JoinSet::new();
    let sqs_client = aws_sdk_sqs::Client::new(sdk);
    let streams_client = aws_sdk_dynamodbstreams::Client::new(sdk);
    for function in &stack.functions {
        for source in &function.events {
            let name = function.logical_id.clone();
            let invoker = invoker.clone();
            let stop = stop.clone();
            match source {
                EventSource::Sqs(source) => {
                    let pollers = source.maximum_concurrency.unwrap_or(2).clamp(1, 5);
                    for _ in 0..pollers {
                        let poller = sqs::SqsPoller::new(
                            sqs_client.clone(),
                            invoker.clone(),
                            name.clone(),
                            source.clone(),
                        );
                        tasks.spawn(poller.run(stop.clone()));
                    }
                }
                EventSource::DynamoStream(source) => {
                    let poller = streams::StreamPoller::new(
                        streams_client.clone(),
                        sqs_client.clone(),
                        invoker,
                        name,
                        source.clone(),
                    );
                    tasks.spawn(poller.run(stop));
                }
                EventSource::Schedule(source) => {
                    tasks.spawn(schedule::run(invoker, name, source.clone(), stop));
                }
                EventSource::Http(_) => {}
            }
        }
    }
    tasks
}

/// Waits until `stop` turns true or `duration` passes; true when stopping.
pub(crate) async fn stopped_within(
    stop: &mut watch::Receiver<bool>,
    duration: std::time::Duration,
) -> bool {
    if *stop.borrow() {
        return true;
    }
    tokio::select! {
        changed = stop.changed() => changed.is_err() || *stop.borrow(),
        () = tokio::time::sleep(duration) => false,
    }
}
