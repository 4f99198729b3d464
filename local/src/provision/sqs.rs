//! SQS queues: attributes (visibility, retention, delay, FIFO, encryption) and the redrive
//! policy, which the template may write as an object and SQS wants as a JSON string. An
//! existing queue (found with GetQueueUrl) gets the attributes that differ set again.

use std::collections::HashMap;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::Value;
use tracing::info;

use super::errors::ProvisionError;
use super::props::{Node, Place};
use crate::template::{ResourceValues, TemplateError};

/// Properties that map one-to-one onto queue attributes; the last field says whether the value
/// is a JSON document.
const ATTRIBUTES: &[(&str, QueueAttributeName, bool)] = &[
    (
        "ContentBasedDeduplication",
        QueueAttributeName::ContentBasedDeduplication,
        false,
    ),
    (
        "DeduplicationScope",
        QueueAttributeName::DeduplicationScope,
        false,
    ),
    ("DelaySeconds", QueueAttributeName::DelaySeconds, false),
    ("FifoQueue", QueueAttributeName::FifoQueue, false),
    (
        "FifoThroughputLimit",
        QueueAttributeName::FifoThroughputLimit,
        false,
    ),
    (
        "KmsDataKeyReusePeriodSeconds",
        QueueAttributeName::KmsDataKeyReusePeriodSeconds,
        false,
    ),
    ("KmsMasterKeyId", QueueAttributeName::KmsMasterKeyId, false),
    (
        "MaximumMessageSize",
        QueueAttributeName::MaximumMessageSize,
        false,
    ),
    (
        "MessageRetentionPeriod",
        QueueAttributeName::MessageRetentionPeriod,
        false,
    ),
    (
        "ReceiveMessageWaitTimeSeconds",
        QueueAttributeName::ReceiveMessageWaitTimeSeconds,
        false,
    ),
    (
        "RedriveAllowPolicy",
        QueueAttributeName::RedriveAllowPolicy,
        true,
    ),
    ("RedrivePolicy", QueueAttributeName::RedrivePolicy, true),
    (
        "SqsManagedSseEnabled",
        QueueAttributeName::SqsManagedSseEnabled,
        false,
    ),
    (
        "VisibilityTimeout",
        QueueAttributeName::VisibilityTimeout,
        false,
    ),
];

/// Creates queue `name` unless it exists, and returns its `Ref`/`Fn::GetAtt` values.
pub(crate) async fn ensure_queue(
    client: &Client,
    place: Place<'_>,
    props: &Node<'_>,
    name: &str,
) -> Result<ResourceValues, ProvisionError> {
    let wanted = attributes(props)?;
    let url = match queue_url(client, name)
        .await
        .map_err(place.aws("GetQueueUrl"))?
    {
        Some(url) => {
            info!(resource = place.logical_id(), queue = name, "queue found");
            update(client, place, &url, &wanted).await?;
            url
        }
        None => {
            let mut request = client
                .create_queue()
                .queue_name(name)
                .set_attributes(Some(wanted.iter().cloned().collect()));
            for (key, value) in props.tags("Tags")? {
                request = request.tags(key, value);
            }
            let out = request.send().await.map_err(place.aws("CreateQueue"))?;
            info!(resource = place.logical_id(), queue = name, "queue created");
            out.queue_url.ok_or_else(|| ProvisionError::Request {
                location: place.location(),
                logical_id: place.logical_id().to_string(),
                message: "CreateQueue returned no queue URL".into(),
            })?
        }
    };
    let arn = queue_arn(client, &url)
        .await
        .map_err(place.aws("GetQueueAttributes"))?
        .ok_or_else(|| ProvisionError::Request {
            location: place.location(),
            logical_id: place.logical_id().to_string(),
            message: format!("queue {url} has no QueueArn attribute"),
        })?;
    Ok(ResourceValues::new(&url)
        .with("Arn", arn)
        .with("QueueName", name)
        .with("QueueUrl", url))
}

/// The URL of queue `name`, or `None` when it does not exist.
pub(crate) async fn queue_url(
    client: &Client,
    name: &str,
) -> Result<
    Option<String>,
    aws_sdk_sqs::error::SdkError<aws_sdk_sqs::operation::get_queue_url::GetQueueUrlError>,
> {
    match client.get_queue_url().queue_name(name).send().await {
        Ok(out) => Ok(out.queue_url),
        Err(e)
            if e.as_service_error().is_some_and(|s| {
                s.is_queue_does_not_exist()
                    || s.code().is_some_and(|c| c.contains("NonExistentQueue"))
            }) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

async fn queue_arn(
    client: &Client,
    url: &str,
) -> Result<
    Option<String>,
    aws_sdk_sqs::error::SdkError<
        aws_sdk_sqs::operation::get_queue_attributes::GetQueueAttributesError,
    >,
> {
    let out = client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await?;
    Ok(out
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn)))
}

/// The queue attributes the template sets, as SQS wants them (strings).
fn attributes(props: &Node<'_>) -> Result<Vec<(QueueAttributeName, String)>, TemplateError> {
    let mut out = Vec::new();
    for (property, attribute, is_json) in ATTRIBUTES {
        let Some(node) = props.get(property) else {
            continue;
        };
        out.push((attribute.clone(), attribute_text(&node, *is_json)?));
    }
    Ok(out)
}

/// An attribute's value as SQS and SNS take every one, a string: a JSON document (`is_json`:
/// policies) serialised, a boolean as `true`/`false`.
pub(crate) fn attribute_text(node: &Node<'_>, is_json: bool) -> Result<String, TemplateError> {
    if is_json {
        return node.json_string();
    }
    match node.value() {
        Value::Bool(b) => Ok(b.to_string()),
        _ => node.string(),
    }
}

/// Sets the attributes whose current value differs (FIFO-ness cannot change).
async fn update(
    client: &Client,
    place: Place<'_>,
    url: &str,
    wanted: &[(QueueAttributeName, String)],
) -> Result<(), ProvisionError> {
    let current = client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .map_err(place.aws("GetQueueAttributes"))?
        .attributes
        .unwrap_or_default();
    let changed: HashMap<QueueAttributeName, String> = wanted
        .iter()
        .filter(|(name, _)| *name != QueueAttributeName::FifoQueue)
        .filter(|(name, value)| !same_value(current.get(name), value))
        .cloned()
        .collect();
    if changed.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = changed.keys().map(QueueAttributeName::as_str).collect();
    info!(resource = place.logical_id(), attributes = ?names, "queue attributes updated");
    client
        .set_queue_attributes()
        .queue_url(url)
        .set_attributes(Some(changed))
        .send()
        .await
        .map_err(place.aws("SetQueueAttributes"))?;
    Ok(())
}

/// Equal as text, as JSON documents, or as booleans in either case.
pub(crate) fn same_value(current: Option<&String>, wanted: &str) -> bool {
    let Some(current) = current else {
        return false;
    };
    if current == wanted
        || current.eq_ignore_ascii_case(wanted) && (wanted == "true" || wanted == "false")
    {
        return true;
    }
    match (
        serde_json::from_str::<Value>(current),
        serde_json::from_str::<Value>(wanted),
    ) {
        (Ok(a), Ok(b)) => normalise(a) == normalise(b),
        _ => false,
    }
}

/// Numbers written as strings compare equal to numbers (`"4"` and `4` in a redrive policy).
fn normalise(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, normalise(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(normalise).collect()),
        Value::Number(n) => Value::String(n.to_string()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_json_attributes_semantically() {
        let current = r#"{"deadLetterTargetArn": "arn:x", "maxReceiveCount": 4}"#.to_string();
        assert!(same_value(
            Some(&current),
            r#"{"maxReceiveCount":"4","deadLetterTargetArn":"arn:x"}"#
        ));
        assert!(!same_value(
            Some(&current),
            r#"{"deadLetterTargetArn":"arn:x","maxReceiveCount":5}"#
        ));
        assert!(same_value(Some(&"True".to_string()), "true"));
        assert!(!same_value(None, "30"));
        assert!(same_value(Some(&"30".to_string()), "30"));
    }
}
