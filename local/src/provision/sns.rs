//! SNS topics and subscriptions. A topic is found by its ARN (CreateTopic is idempotent by name
//! too); a subscription is found among the topic's subscriptions by protocol and endpoint, so a
//! second run never subscribes twice, and its attributes (raw delivery, filter policy and its
//! scope, redrive) are set again where they differ.

use std::collections::HashMap;

use aws_sdk_sns::Client;
use aws_sdk_sns::error::ProvideErrorMetadata;
use tracing::info;

use super::errors::ProvisionError;
use super::props::{Node, Place};
use crate::template::{ACCOUNT_ID, PARTITION, REGION, ResourceValues, TemplateError};

/// Topic properties that are topic attributes (`FifoTopic` only on creation).
const TOPIC_ATTRIBUTES: &[(&str, bool)] = &[
    ("DisplayName", false),
    ("KmsMasterKeyId", false),
    ("ContentBasedDeduplication", false),
    ("SignatureVersion", false),
    ("TracingConfig", false),
    ("DeliveryStatusLogging", true),
    ("ArchivePolicy", true),
    ("DataProtectionPolicy", true),
];

/// Subscription properties that are subscription attributes; the flag marks JSON documents.
const SUBSCRIPTION_ATTRIBUTES: &[(&str, bool)] = &[
    ("RawMessageDelivery", false),
    ("FilterPolicy", true),
    ("FilterPolicyScope", false),
    ("RedrivePolicy", true),
    ("DeliveryPolicy", true),
    ("SubscriptionRoleArn", false),
    ("ReplayPolicy", true),
];

/// Creates topic `name` unless it exists (and its inline `Subscription` list), and returns its
/// `Ref`/`Fn::GetAtt` values.
pub(crate) async fn ensure_topic(
    client: &Client,
    place: Place<'_>,
    props: &Node<'_>,
    name: &str,
) -> Result<ResourceValues, ProvisionError> {
    let wanted = attributes(props, TOPIC_ATTRIBUTES)?;
    let arn = format!("arn:{PARTITION}:sns:{REGION}:{ACCOUNT_ID}:{name}");
    let arn = match client.get_topic_attributes().topic_arn(&arn).send().await {
        Ok(out) => {
            info!(resource = place.logical_id(), topic = name, "topic found");
            let current = out.attributes.unwrap_or_default();
            for (attribute, value) in &wanted {
                if !super::sqs::same_value(current.get(attribute), value) {
                    client
                        .set_topic_attributes()
                        .topic_arn(&arn)
                        .attribute_name(attribute)
                        .attribute_value(value)
                        .send()
                        .await
                        .map_err(place.aws("SetTopicAttributes"))?;
                    info!(
                        resource = place.logical_id(),
                        attribute, "topic attribute updated"
                    );
                }
            }
            arn
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_not_found_exception() || s.code() == Some("NotFound")) =>
        {
            let mut attributes: HashMap<String, String> = wanted.into_iter().collect();
            if props.flag(super::names::FIFO_TOPIC)? {
                attributes.insert(super::names::FIFO_TOPIC.into(), "true".into());
            }
            let mut request = client
                .create_topic()
                .name(name)
                .set_attributes((!attributes.is_empty()).then_some(attributes));
            for (key, value) in props.tags("Tags")? {
                request = request.tags(
                    aws_sdk_sns::types::Tag::builder()
                        .key(key)
                        .value(value)
                        .build()
                        .map_err(place.request("Tags"))?,
                );
            }
            let out = request.send().await.map_err(place.aws("CreateTopic"))?;
            info!(resource = place.logical_id(), topic = name, "topic created");
            out.topic_arn.unwrap_or(arn)
        }
        Err(e) => return Err(place.aws("GetTopicAttributes")(e)),
    };
    for subscription in props.list("Subscription")? {
        let protocol = subscription.require("Protocol")?.string()?;
        let endpoint = subscription.require("Endpoint")?.string()?;
        check_protocol(&subscription, &protocol)?;
        subscribe(client, place, &arn, &protocol, &endpoint, &[]).await?;
    }
    Ok(ResourceValues::new(&arn)
        .with("TopicArn", &arn)
        .with("TopicName", name))
}

/// Subscribes the endpoint unless already subscribed, and returns the subscription's `Ref`.
pub(crate) async fn ensure_subscription(
    client: &Client,
    place: Place<'_>,
    props: &Node<'_>,
) -> Result<ResourceValues, ProvisionError> {
    let topic = props.require("TopicArn")?.string()?;
    let protocol = props.require("Protocol")?.string()?;
    let endpoint = props.require("Endpoint")?.string()?;
    check_protocol(&props.require("Protocol")?, &protocol)?;
    let wanted = attributes(props, SUBSCRIPTION_ATTRIBUTES)?;
    let arn = subscribe(client, place, &topic, &protocol, &endpoint, &wanted).await?;
    Ok(ResourceValues::new(arn))
}

fn check_protocol(node: &Node<'_>, protocol: &str) -> Result<(), TemplateError> {
    if protocol.eq_ignore_ascii_case("lambda") {
        return Err(node.invalid(
            "SNS → Lambda delivery is not emulated locally; subscribe a queue and give the function an SQS event",
        ));
    }
    Ok(())
}

async fn subscribe(
    client: &Client,
    place: Place<'_>,
    topic: &str,
    protocol: &str,
    endpoint: &str,
    wanted: &[(String, String)],
) -> Result<String, ProvisionError> {
    if let Some(existing) = find_subscription(client, place, topic, protocol, endpoint).await? {
        info!(
            resource = place.logical_id(),
            topic, endpoint, "subscription found"
        );
        let current = client
            .get_subscription_attributes()
            .subscription_arn(&existing)
            .send()
            .await
            .map_err(place.aws("GetSubscriptionAttributes"))?
            .attributes
            .unwrap_or_default();
        for (attribute, value) in wanted {
            if !super::sqs::same_value(current.get(attribute), value) {
                client
                    .set_subscription_attributes()
                    .subscription_arn(&existing)
                    .attribute_name(attribute)
                    .attribute_value(value)
                    .send()
                    .await
                    .map_err(place.aws("SetSubscriptionAttributes"))?;
                info!(
                    resource = place.logical_id(),
                    attribute, "subscription attribute updated"
                );
            }
        }
        return Ok(existing);
    }
    let out = client
        .subscribe()
        .topic_arn(topic)
        .protocol(protocol)
        .endpoint(endpoint)
        .return_subscription_arn(true)
        .set_attributes((!wanted.is_empty()).then(|| wanted.iter().cloned().collect()))
        .send()
        .await
        .map_err(place.aws("Subscribe"))?;
    info!(
        resource = place.logical_id(),
        topic, endpoint, "subscription created"
    );
    out.subscription_arn.ok_or_else(|| ProvisionError::Request {
        location: place.location(),
        logical_id: place.logical_id().to_string(),
        message: "Subscribe returned no subscription ARN".into(),
    })
}

async fn find_subscription(
    client: &Client,
    place: Place<'_>,
    topic: &str,
    protocol: &str,
    endpoint: &str,
) -> Result<Option<String>, ProvisionError> {
    let mut token = None;
    loop {
        let out = client
            .list_subscriptions_by_topic()
            .topic_arn(topic)
            .set_next_token(token)
            .send()
            .await
            .map_err(place.aws("ListSubscriptionsByTopic"))?;
        for subscription in out.subscriptions() {
            if subscription.protocol() == Some(protocol)
                && subscription.endpoint() == Some(endpoint)
                && let Some(arn) = subscription.subscription_arn()
                && arn.starts_with("arn:")
            {
                return Ok(Some(arn.to_string()));
            }
        }
        token = out.next_token;
        if token.is_none() {
            return Ok(None);
        }
    }
}

/// The attributes among `known` that the template sets, as SNS wants them (strings).
fn attributes(
    props: &Node<'_>,
    known: &[(&str, bool)],
) -> Result<Vec<(String, String)>, TemplateError> {
    let mut out = Vec::new();
    for (property, is_json) in known {
        let Some(node) = props.get(property) else {
            continue;
        };
        out.push((
            (*property).to_string(),
            super::sqs::attribute_text(&node, *is_json)?,
        ));
    }
    Ok(out)
}
