//! The Lambda side of a queue consumer: one invocation's batch, and the whole function.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};

use super::dedup::DedupStore;
use super::processor::{BatchProcessor, EventHandler};
use super::queue::QueueOps;

/// Processes `event` with `handler`: one Lambda invocation of a consumer.
pub async fn handle_batch<D, Q, H>(
    processor: &BatchProcessor<D, Q>,
    handler: &H,
    event: SqsEvent,
) -> SqsBatchResponse
where
    D: DedupStore,
    Q: QueueOps,
    H: EventHandler,
{
    processor.process(handler, event).await
}

/// The whole Lambda function of a queue consumer: every batch the runtime hands out is processed
/// by `handler` through `processor` (deduplication, retries, parking). Every consumer binary ends
/// with this call.
///
/// # Errors
/// The Lambda runtime failing.
pub async fn run<D, Q, H>(
    processor: BatchProcessor<D, Q>,
    handler: H,
) -> Result<(), lambda_runtime::Error>
where
    D: DedupStore,
    Q: QueueOps,
    H: EventHandler,
{
    let (processor, handler) = (&processor, &handler);
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<SqsEvent>| async move {
            Ok::<_, lambda_runtime::Error>(processor.process(handler, event.payload).await)
        },
    ))
    .await
}
