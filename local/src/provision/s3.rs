//! S3 buckets: versioning, lifecycle rules, notifications to SQS (and SNS), public access
//! block, default encryption, CORS and tags. Notifications are compared before they are written
//! because every write makes S3 send an `s3:TestEvent` to each queue.

use aws_sdk_s3::Client;
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, BucketVersioningStatus,
    CorsConfiguration, CorsRule, Event, ExpirationStatus, FilterRule, FilterRuleName,
    LifecycleExpiration, LifecycleRule, LifecycleRuleFilter, NoncurrentVersionExpiration,
    NoncurrentVersionTransition, NotificationConfiguration, NotificationConfigurationFilter,
    PublicAccessBlockConfiguration, QueueConfiguration, S3KeyFilter, ServerSideEncryption,
    ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    Tag, Tagging, TopicConfiguration, Transition, TransitionStorageClass, VersioningConfiguration,
};
use tracing::info;

use super::errors::ProvisionError;
use super::props::{Node, Place};
use crate::template::{REGION, ResourceValues, TemplateError};

/// Creates bucket `name` unless it exists, applies its configuration, and returns its
/// `Ref`/`Fn::GetAtt` values.
pub(crate) async fn ensure_bucket(
    client: &Client,
    place: Place<'_>,
    props: &Node<'_>,
    name: &str,
) -> Result<ResourceValues, ProvisionError> {
    match client.head_bucket().bucket(name).send().await {
        Ok(_) => info!(resource = place.logical_id(), bucket = name, "bucket found"),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => {
            client
                .create_bucket()
                .bucket(name)
                .send()
                .await
                .map_err(place.aws("CreateBucket"))?;
            info!(
                resource = place.logical_id(),
                bucket = name,
                "bucket created"
            );
        }
        Err(e) => return Err(place.aws("HeadBucket")(e)),
    }
    ensure_versioning(client, place, props, name).await?;
    ensure_lifecycle(client, place, props, name).await?;
    ensure_notifications(client, place, props, name).await?;
    if let Some(block) = props.get("PublicAccessBlockConfiguration") {
        client
            .put_public_access_block()
            .bucket(name)
            .public_access_block_configuration(
                PublicAccessBlockConfiguration::builder()
                    .set_block_public_acls(block.opt_bool("BlockPublicAcls")?)
                    .set_ignore_public_acls(block.opt_bool("IgnorePublicAcls")?)
                    .set_block_public_policy(block.opt_bool("BlockPublicPolicy")?)
                    .set_restrict_public_buckets(block.opt_bool("RestrictPublicBuckets")?)
                    .build(),
            )
            .send()
            .await
            .map_err(place.aws("PutPublicAccessBlock"))?;
    }
    if let Some(encryption) = props.get("BucketEncryption") {
        client
            .put_bucket_encryption()
            .bucket(name)
            .server_side_encryption_configuration(encryption_configuration(place, &encryption)?)
            .send()
            .await
            .map_err(place.aws("PutBucketEncryption"))?;
    }
    if let Some(cors) = props.get("CorsConfiguration") {
        client
            .put_bucket_cors()
            .bucket(name)
            .cors_configuration(cors_configuration(place, &cors)?)
            .send()
            .await
            .map_err(place.aws("PutBucketCors"))?;
    }
    let tags = props.tags("Tags")?;
    if !tags.is_empty() {
        let tags = tags
            .into_iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(place.request("Tags"))?;
        client
            .put_bucket_tagging()
            .bucket(name)
            .tagging(
                Tagging::builder()
                    .set_tag_set(Some(tags))
                    .build()
                    .map_err(place.request("Tags"))?,
            )
            .send()
            .await
            .map_err(place.aws("PutBucketTagging"))?;
    }
    Ok(ResourceValues::new(name)
        .with("Arn", format!("arn:aws:s3:::{name}"))
        .with("DomainName", format!("{name}.s3.amazonaws.com"))
        .with(
            "RegionalDomainName",
            format!("{name}.s3.{REGION}.amazonaws.com"),
        ))
}

async fn ensure_versioning(
    client: &Client,
    place: Place<'_>,
    props: &Node<'_>,
    name: &str,
) -> Result<(), ProvisionError> {
    let Some(status) = props
        .get("VersioningConfiguration")
        .map(|v| v.require("Status").and_then(|s| s.string()))
        .transpose()?
    else {
        return Ok(());
    };
    let wanted = BucketVersioningStatus::from(status.as_str());
    let current = match client.get_bucket_versioning().bucket(name).send().await {
        Ok(out) => out.status().cloned(),
        // The emulator answers with a `GetBucketVersioningResponse` root element, which the
        // SDK rejects; the status is read from the body instead.
        Err(SdkError::ServiceError(e)) if e.raw().status().is_success() => e
            .raw()
            .body()
            .bytes()
            .and_then(|body| xml_element(body, "Status"))
            .map(|s| BucketVersioningStatus::from(s.as_str())),
        Err(e) => return Err(place.aws("GetBucketVersioning")(e)),
    };
    if current.as_ref() == Some(&wanted) {
        return Ok(());
    }
    client
        .put_bucket_versioning()
        .bucket(name)
        .versioning_configuration(VersioningConfiguration::builder().status(wanted).build())
        .send()
        .await
        .map_err(place.aws("PutBucketVersioning"))?;
    info!(
        resource = place.logical_id(),
        bucket = name,
        status,
        "bucket versioning set"
    );
    Ok(())
}

async fn ensure_lifecycle(
    client: &Client,
    place: Place<'_>,
    props: &Node<'_>,
    name: &str,
) -> Result<(), ProvisionError> {
    let Some(configuration) = props.get("LifecycleConfiguration") else {
        return Ok(());
    };
    let rules = configuration
        .require("Rules")?
        .items()?
        .iter()
        .map(|rule| lifecycle_rule(place, rule))
        .collect::<Result<Vec<_>, _>>()?;
    client
        .put_bucket_lifecycle_configuration()
        .bucket(name)
        .lifecycle_configuration(
            BucketLifecycleConfiguration::builder()
                .set_rules(Some(rules))
                .build()
                .map_err(place.request("LifecycleConfiguration"))?,
        )
        .send()
        .await
        .map_err(place.aws("PutBucketLifecycleConfiguration"))?;
    Ok(())
}

/// One CloudFormation lifecycle rule (`ExpirationInDays`, `Transitions`, `Prefix`, ...) in the
/// S3 API's shape.
fn lifecycle_rule(place: Place<'_>, rule: &Node<'_>) -> Result<LifecycleRule, ProvisionError> {
    let status = match rule.require("Status")?.string()?.as_str() {
        "Enabled" => ExpirationStatus::Enabled,
        "Disabled" => ExpirationStatus::Disabled,
        other => {
            return Err(rule
                .require("Status")?
                .invalid(format!("expected Enabled or Disabled, found {other}"))
                .into());
        }
    };
    let prefix = rule.opt_string("Prefix")?;
    let mut filter = LifecycleRuleFilter::builder().prefix(prefix.unwrap_or_default());
    if let Some(size) = rule.opt_int::<i64>("ObjectSizeGreaterThan")? {
        filter = filter.object_size_greater_than(size);
    }
    if let Some(size) = rule.opt_int::<i64>("ObjectSizeLessThan")? {
        filter = filter.object_size_less_than(size);
    }
    let mut builder = LifecycleRule::builder()
        .set_id(rule.opt_string("Id")?)
        .status(status)
        .filter(filter.build());
    let days = rule.opt_int::<i32>("ExpirationInDays")?;
    let delete_marker = rule.opt_bool("ExpiredObjectDeleteMarker")?;
    if days.is_some() || delete_marker.is_some() {
        builder = builder.expiration(
            LifecycleExpiration::builder()
                .set_days(days)
                .set_expired_object_delete_marker(delete_marker)
                .build(),
        );
    }
    let mut transitions = rule.list("Transitions")?;
    transitions.extend(rule.get("Transition"));
    for transition in transitions {
        builder = builder.transitions(
            Transition::builder()
                .set_days(transition.opt_int::<i32>("TransitionInDays")?)
                .storage_class(TransitionStorageClass::from(
                    transition.require("StorageClass")?.string()?.as_str(),
                ))
                .build(),
        );
    }
    let noncurrent_days = match rule.get("NoncurrentVersionExpiration") {
        Some(expiration) => expiration.opt_int::<i32>("NoncurrentDays")?,
        None => rule.opt_int::<i32>("NoncurrentVersionExpirationInDays")?,
    };
    if let Some(days) = noncurrent_days {
        builder = builder.noncurrent_version_expiration(
            NoncurrentVersionExpiration::builder()
                .noncurrent_days(days)
                .build(),
        );
    }
    let mut noncurrent = rule.list("NoncurrentVersionTransitions")?;
    noncurrent.extend(rule.get("NoncurrentVersionTransition"));
    for transition in noncurrent {
        builder = builder.noncurrent_version_transitions(
            NoncurrentVersionTransition::builder()
                .set_noncurrent_days(transition.opt_int::<i32>("TransitionInDays")?)
                .storage_class(TransitionStorageClass::from(
                    transition.require("StorageClass")?.string()?.as_str(),
                ))
                .build(),
        );
    }
    if let Some(abort) = rule.get("AbortIncompleteMultipartUpload") {
        builder = builder.abort_incomplete_multipart_upload(
            AbortIncompleteMultipartUpload::builder()
                .set_days_after_initiation(abort.opt_int::<i32>("DaysAfterInitiation")?)
                .build(),
        );
    }
    builder
        .build()
        .map_err(place.request("LifecycleConfiguration"))
}

/// A notification target reduced to what decides equality: (target ARN, events, filter rules).
type NotificationKey = (String, Vec<String>, Vec<(String, String)>);

async fn ensure_notifications(
    client: &Client,
    place: Place<'_>,
    props: &Node<'_>,
    name: &str,
) -> Result<(), ProvisionError> {
    let Some(configuration) = props.get("NotificationConfiguration") else {
        return Ok(());
    };
    if let Some(lambda) = configuration.get("LambdaConfigurations") {
        return Err(lambda
            .invalid("S3 → Lambda notifications are not emulated locally; notify a queue and give the function an SQS event")
            .into());
    }
    let mut queues = Vec::new();
    let mut wanted: Vec<NotificationKey> = Vec::new();
    for entry in configuration.list("QueueConfigurations")? {
        let arn = entry.require("Queue")?.string()?;
        let event = entry.require("Event")?.string()?;
        let rules = filter_rules(&entry)?;
        wanted.push((arn.clone(), vec![event.clone()], rules.clone()));
        queues.push(
            QueueConfiguration::builder()
                .queue_arn(arn)
                .events(Event::from(event.as_str()))
                .set_filter(notification_filter(&rules))
                .build()
                .map_err(place.request("NotificationConfiguration.QueueConfigurations"))?,
        );
    }
    let mut topics = Vec::new();
    for entry in configuration.list("TopicConfigurations")? {
        let arn = entry.require("Topic")?.string()?;
        let event = entry.require("Event")?.string()?;
        let rules = filter_rules(&entry)?;
        wanted.push((arn.clone(), vec![event.clone()], rules.clone()));
        topics.push(
            TopicConfiguration::builder()
                .topic_arn(arn)
                .events(Event::from(event.as_str()))
                .set_filter(notification_filter(&rules))
                .build()
                .map_err(place.request("NotificationConfiguration.TopicConfigurations"))?,
        );
    }
    let mut existing: Vec<NotificationKey> = Vec::new();
    let mut has_lambda = false;
    match client
        .get_bucket_notification_configuration()
        .bucket(name)
        .send()
        .await
    {
        Ok(current) => {
            for queue in current.queue_configurations() {
                existing.push(key(queue.queue_arn(), queue.events(), queue.filter()));
            }
            for topic in current.topic_configurations() {
                existing.push(key(topic.topic_arn(), topic.events(), topic.filter()));
            }
            has_lambda = !current.lambda_function_configurations().is_empty();
        }
        // The emulator writes an empty configuration with a `GetBucketNotificationResponse`
        // root element, which the SDK rejects: nothing is configured yet.
        Err(SdkError::ServiceError(e)) if e.raw().status().is_success() => {}
        Err(e) => return Err(place.aws("GetBucketNotificationConfiguration")(e)),
    }
    wanted.sort();
    existing.sort();
    if wanted == existing && !has_lambda {
        return Ok(());
    }
    client
        .put_bucket_notification_configuration()
        .bucket(name)
        .notification_configuration(
            NotificationConfiguration::builder()
                .set_queue_configurations(Some(queues))
                .set_topic_configurations(Some(topics))
                .build(),
        )
        .send()
        .await
        .map_err(place.aws("PutBucketNotificationConfiguration"))?;
    info!(
        resource = place.logical_id(),
        bucket = name,
        "bucket notifications set"
    );
    Ok(())
}

/// `Filter.S3Key.Rules` as (lower-case name, value) pairs.
fn filter_rules(entry: &Node<'_>) -> Result<Vec<(String, String)>, TemplateError> {
    let Some(filter) = entry.get("Filter") else {
        return Ok(Vec::new());
    };
    let mut rules = filter
        .require("S3Key")?
        .list("Rules")?
        .iter()
        .map(|r| {
            Ok((
                r.require("Name")?.string()?.to_lowercase(),
                r.require("Value")?.string()?,
            ))
        })
        .collect::<Result<Vec<_>, TemplateError>>()?;
    rules.sort();
    Ok(rules)
}

fn notification_filter(rules: &[(String, String)]) -> Option<NotificationConfigurationFilter> {
    if rules.is_empty() {
        return None;
    }
    let key = S3KeyFilter::builder()
        .set_filter_rules(Some(
            rules
                .iter()
                .map(|(name, value)| {
                    FilterRule::builder()
                        .name(FilterRuleName::from(name.as_str()))
                        .value(value)
                        .build()
                })
                .collect(),
        ))
        .build();
    Some(NotificationConfigurationFilter::builder().key(key).build())
}

fn key(
    arn: &str,
    events: &[Event],
    filter: Option<&NotificationConfigurationFilter>,
) -> NotificationKey {
    let mut events: Vec<String> = events.iter().map(|e| e.as_str().to_string()).collect();
    events.sort();
    let mut rules: Vec<(String, String)> = filter
        .and_then(|f| f.key())
        .map(|k| {
            k.filter_rules()
                .iter()
                .map(|r| {
                    (
                        r.name()
                            .map(|n| n.as_str().to_lowercase())
                            .unwrap_or_default(),
                        r.value().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    rules.sort();
    (arn.to_string(), events, rules)
}

fn encryption_configuration(
    place: Place<'_>,
    encryption: &Node<'_>,
) -> Result<ServerSideEncryptionConfiguration, ProvisionError> {
    let mut rules = Vec::new();
    for rule in encryption
        .require("ServerSideEncryptionConfiguration")?
        .items()?
    {
        let mut builder = ServerSideEncryptionRule::builder()
            .set_bucket_key_enabled(rule.opt_bool("BucketKeyEnabled")?);
        if let Some(default) = rule.get("ServerSideEncryptionByDefault") {
            builder = builder.apply_server_side_encryption_by_default(
                ServerSideEncryptionByDefault::builder()
                    .sse_algorithm(ServerSideEncryption::from(
                        default.require("SSEAlgorithm")?.string()?.as_str(),
                    ))
                    .set_kms_master_key_id(default.opt_string("KMSMasterKeyID")?)
                    .build()
                    .map_err(place.request("BucketEncryption"))?,
            );
        }
        rules.push(builder.build());
    }
    ServerSideEncryptionConfiguration::builder()
        .set_rules(Some(rules))
        .build()
        .map_err(place.request("BucketEncryption"))
}

fn cors_configuration(
    place: Place<'_>,
    cors: &Node<'_>,
) -> Result<CorsConfiguration, ProvisionError> {
    let mut rules = Vec::new();
    for rule in cors.require("CorsRules")?.items()? {
        rules.push(
            CorsRule::builder()
                .set_id(rule.opt_string("Id")?)
                .set_allowed_headers(Some(rule.strings("AllowedHeaders")?))
                .set_allowed_methods(Some(rule.strings("AllowedMethods")?))
                .set_allowed_origins(Some(rule.strings("AllowedOrigins")?))
                .set_expose_headers(Some(rule.strings("ExposedHeaders")?))
                .set_max_age_seconds(rule.opt_int::<i32>("MaxAge")?)
                .build()
                .map_err(place.request("CorsConfiguration"))?,
        );
    }
    CorsConfiguration::builder()
        .set_cors_rules(Some(rules))
        .build()
        .map_err(place.request("CorsConfiguration"))
}

/// The text of the first `<name>...</name>` in an XML body.
fn xml_element(body: &[u8], name: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find(&format!("<{name}>"))? + name.len() + 2;
    let end = text[start..].find(&format!("</{name}>"))? + start;
    Some(text[start..end].trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_element_of_an_xml_body() {
        let body = br#"<?xml version="1.0"?><GetBucketVersioningResponse><Status>Enabled</Status></GetBucketVersioningResponse>"#;
        assert_eq!(xml_element(body, "Status").as_deref(), Some("Enabled"));
        assert_eq!(
            xml_element(b"<GetBucketVersioningResponse/>", "Status"),
            None
        );
    }
}
