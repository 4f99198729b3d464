//! DynamoDB tables: keys, attribute definitions, GSIs, LSIs, billing mode, streams, SSE and
//! tags on creation; TTL and point-in-time recovery brought in line on every run. An existing
//! table (found by name) is reused as it is, except that a missing stream is enabled.

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    LocalSecondaryIndex, PointInTimeRecoverySpecification, Projection, ProjectionType,
    ProvisionedThroughput, ScalarAttributeType, SseSpecification, StreamSpecification,
    StreamViewType, TableDescription, TableStatus, Tag, TimeToLiveSpecification, TimeToLiveStatus,
};
use tracing::{info, warn};

use super::errors::ProvisionError;
use super::props::{Node, Place};
use crate::template::{ResourceValues, TemplateError};

/// Creates table `name` unless it exists, and returns its `Ref`/`Fn::GetAtt` values.
pub(crate) async fn ensure_table(
    client: &Client,
    place: Place<'_>,
    props: &Node<'_>,
    name: &str,
) -> Result<ResourceValues, ProvisionError> {
    let wanted_stream = stream_view_type(props)?;
    let table = match describe(client, place, name).await? {
        Some(table) => {
            info!(resource = place.logical_id(), table = name, "table found");
            if let Some(view) = &wanted_stream
                && !table
                    .stream_specification()
                    .is_some_and(|s| s.stream_enabled())
            {
                client
                    .update_table()
                    .table_name(name)
                    .stream_specification(stream_spec(view.clone(), place)?)
                    .send()
                    .await
                    .map_err(place.aws("UpdateTable"))?;
                info!(
                    resource = place.logical_id(),
                    table = name,
                    "table stream enabled"
                );
            }
            table
        }
        None => {
            create(client, place, props, name, wanted_stream).await?;
            info!(resource = place.logical_id(), table = name, "table created");
            wait_active(client, place, name).await?
        }
    };
    ensure_ttl(client, place, props, name).await?;
    ensure_pitr(client, place, props, name).await?;
    let table = describe(client, place, name).await?.unwrap_or(table);
    let mut values = ResourceValues::new(name);
    if let Some(arn) = table.table_arn() {
        values = values.with("Arn", arn);
    }
    if let Some(stream) = table.latest_stream_arn()
        && table
            .stream_specification()
            .is_some_and(|s| s.stream_enabled())
    {
        values = values.with("StreamArn", stream);
    }
    Ok(values)
}

async fn describe(
    client: &Client,
    place: Place<'_>,
    name: &str,
) -> Result<Option<TableDescription>, ProvisionError> {
    match client.describe_table().table_name(name).send().await {
        Ok(out) => Ok(out.table),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(place.aws("DescribeTable")(e)),
    }
}

async fn wait_active(
    client: &Client,
    place: Place<'_>,
    name: &str,
) -> Result<TableDescription, ProvisionError> {
    for _ in 0..120 {
        if let Some(table) = describe(client, place, name).await?
            && table.table_status() != Some(&TableStatus::Creating)
        {
            return Ok(table);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Err(ProvisionError::Request {
        location: place.location(),
        logical_id: place.logical_id().to_string(),
        message: format!("table {name} did not become ACTIVE within 30 s"),
    })
}

async fn create(
    client: &Client,
    place: Place<'_>,
    props: &Node<'_>,
    name: &str,
    stream: Option<StreamViewType>,
) -> Result<(), ProvisionError> {
    let billing = match props.opt_string("BillingMode")?.as_deref() {
        None | Some("PROVISIONED") => BillingMode::Provisioned,
        Some("PAY_PER_REQUEST") => BillingMode::PayPerRequest,
        Some(other) => {
            return Err(props
                .require("BillingMode")?
                .invalid(format!("unknown billing mode {other}"))
                .into());
        }
    };
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(billing.clone());
    for definition in props.list("AttributeDefinitions")? {
        let kind = definition.require("AttributeType")?;
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(definition.require("AttributeName")?.string()?)
                .attribute_type(ScalarAttributeType::from(kind.string()?.as_str()))
                .build()
                .map_err(place.request("AttributeDefinitions"))?,
        );
    }
    request = request.set_key_schema(Some(key_schema(&props.require("KeySchema")?, place)?));
    if billing == BillingMode::Provisioned {
        request = request
            .provisioned_throughput(throughput(&props.require("ProvisionedThroughput")?, place)?);
    }
    for index in props.list("GlobalSecondaryIndexes")? {
        let mut gsi = GlobalSecondaryIndex::builder()
            .index_name(index.require("IndexName")?.string()?)
            .set_key_schema(Some(key_schema(&index.require("KeySchema")?, place)?))
            .projection(projection(&index.require("Projection")?)?);
        if billing == BillingMode::Provisioned {
            gsi = gsi.provisioned_throughput(throughput(
                &index.require("ProvisionedThroughput")?,
                place,
            )?);
        }
        request = request.global_secondary_indexes(
            gsi.build()
                .map_err(place.request("GlobalSecondaryIndexes"))?,
        );
    }
    for index in props.list("LocalSecondaryIndexes")? {
        request = request.local_secondary_indexes(
            LocalSecondaryIndex::builder()
                .index_name(index.require("IndexName")?.string()?)
                .set_key_schema(Some(key_schema(&index.require("KeySchema")?, place)?))
                .projection(projection(&index.require("Projection")?)?)
                .build()
                .map_err(place.request("LocalSecondaryIndexes"))?,
        );
    }
    if let Some(view) = stream {
        request = request.stream_specification(stream_spec(view, place)?);
    }
    if let Some(sse) = props.get("SSESpecification") {
        request = request.sse_specification(
            SseSpecification::builder()
                .set_enabled(sse.opt_bool("SSEEnabled")?)
                .set_kms_master_key_id(sse.opt_string("KMSMasterKeyId")?)
                .set_sse_type(sse.opt_string("SSEType")?.map(|t| t.as_str().into()))
                .build(),
        );
    }
    if let Some(protection) = props.opt_bool("DeletionProtectionEnabled")? {
        request = request.deletion_protection_enabled(protection);
    }
    for (key, value) in props.tags("Tags")? {
        request = request.tags(
            Tag::builder()
                .key(key)
                .value(value)
                .build()
                .map_err(place.request("Tags"))?,
        );
    }
    request.send().await.map_err(place.aws("CreateTable"))?;
    Ok(())
}

fn key_schema(node: &Node<'_>, place: Place<'_>) -> Result<Vec<KeySchemaElement>, ProvisionError> {
    node.items()?
        .iter()
        .map(|key| {
            let kind = match key.require("KeyType")?.string()?.as_str() {
                "HASH" => KeyType::Hash,
                "RANGE" => KeyType::Range,
                other => {
                    return Err(key
                        .require("KeyType")?
                        .invalid(format!("expected HASH or RANGE, found {other}"))
                        .into());
                }
            };
            KeySchemaElement::builder()
                .attribute_name(key.require("AttributeName")?.string()?)
                .key_type(kind)
                .build()
                .map_err(place.request("KeySchema"))
        })
        .collect()
}

fn projection(node: &Node<'_>) -> Result<Projection, TemplateError> {
    let kind = node
        .opt_string("ProjectionType")?
        .map(|t| ProjectionType::from(t.as_str()));
    let non_key = node.strings("NonKeyAttributes")?;
    Ok(Projection::builder()
        .set_projection_type(kind)
        .set_non_key_attributes((!non_key.is_empty()).then_some(non_key))
        .build())
}

fn throughput(node: &Node<'_>, place: Place<'_>) -> Result<ProvisionedThroughput, ProvisionError> {
    ProvisionedThroughput::builder()
        .read_capacity_units(node.require("ReadCapacityUnits")?.int()?)
        .write_capacity_units(node.require("WriteCapacityUnits")?.int()?)
        .build()
        .map_err(place.request("ProvisionedThroughput"))
}

/// The stream view type the template asks for, if any.
fn stream_view_type(props: &Node<'_>) -> Result<Option<StreamViewType>, TemplateError> {
    let Some(spec) = props.get("StreamSpecification") else {
        return Ok(None);
    };
    if spec.opt_bool("StreamEnabled")? == Some(false) {
        return Ok(None);
    }
    let view = spec.require("StreamViewType")?;
    let text = view.string()?;
    if !StreamViewType::values().contains(&text.as_str()) {
        return Err(view.invalid("expected KEYS_ONLY, NEW_IMAGE, OLD_IMAGE or NEW_AND_OLD_IMAGES"));
    }
    Ok(Some(StreamViewType::from(text.as_str())))
}

fn stream_spec(
    view: StreamViewType,
    place: Place<'_>,
) -> Result<StreamSpecification, ProvisionError> {
    StreamSpecification::builder()
        .stream_enabled(true)
        .stream_view_type(view)
        .build()
        .map_err(place.request("StreamSpecification"))
}

async fn ensure_ttl(
    client: &Client,
    place: Place<'_>,
    props: &Node<'_>,
    name: &str,
) -> Result<(), ProvisionError> {
    let Some(spec) = props.get("TimeToLiveSpecification") else {
        return Ok(());
    };
    let enabled = spec.flag("Enabled")?;
    let Some(attribute) = spec.opt_string("AttributeName")? else {
        if enabled {
            return Err(spec
                .invalid("AttributeName is required when Enabled")
                .into());
        }
        return Ok(());
    };
    let current = client
        .describe_time_to_live()
        .table_name(name)
        .send()
        .await
        .map_err(place.aws("DescribeTimeToLive"))?;
    let description = current.time_to_live_description();
    let is_enabled = description.is_some_and(|d| {
        matches!(
            d.time_to_live_status(),
            Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
        )
    });
    let same_attribute = description.and_then(|d| d.attribute_name()) == Some(attribute.as_str());
    if is_enabled == enabled && (same_attribute || !enabled) {
        return Ok(());
    }
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(&attribute)
                .enabled(enabled)
                .build()
                .map_err(place.request("TimeToLiveSpecification"))?,
        )
        .send()
        .await
        .map_err(place.aws("UpdateTimeToLive"))?;
    info!(
        resource = place.logical_id(),
        table = name,
        attribute,
        enabled,
        "table TTL set"
    );
    Ok(())
}

async fn ensure_pitr(
    client: &Client,
    place: Place<'_>,
    props: &Node<'_>,
    name: &str,
) -> Result<(), ProvisionError> {
    let Some(enabled) = props
        .get("PointInTimeRecoverySpecification")
        .map(|s| s.opt_bool("PointInTimeRecoveryEnabled"))
        .transpose()?
        .flatten()
    else {
        return Ok(());
    };
    let current = match client
        .describe_continuous_backups()
        .table_name(name)
        .send()
        .await
    {
        Ok(out) => out
            .continuous_backups_description()
            .and_then(|d| d.point_in_time_recovery_description())
            .and_then(|p| p.point_in_time_recovery_status())
            .map(|s| s.as_str() == "ENABLED"),
        Err(e) => {
            warn!(
                resource = place.logical_id(),
                error = %aws_sdk_dynamodb::error::DisplayErrorContext(&e),
                "point-in-time recovery not checked: the emulator refused DescribeContinuousBackups"
            );
            return Ok(());
        }
    };
    if current == Some(enabled) {
        return Ok(());
    }
    let spec = PointInTimeRecoverySpecification::builder()
        .point_in_time_recovery_enabled(enabled)
        .build()
        .map_err(place.request("PointInTimeRecoverySpecification"))?;
    match client
        .update_continuous_backups()
        .table_name(name)
        .point_in_time_recovery_specification(spec)
        .send()
        .await
    {
        Ok(_) => info!(
            resource = place.logical_id(),
            table = name,
            enabled,
            "table point-in-time recovery set"
        ),
        Err(e) => warn!(
            resource = place.logical_id(),
            error = %aws_sdk_dynamodb::error::DisplayErrorContext(&e),
            "point-in-time recovery not set: the emulator refused UpdateContinuousBackups"
        ),
    }
    Ok(())
}
