//! Service tables for integration tests, created as `template.yaml` declares them (keys,
//! attribute types, global secondary indexes, stream), so a test runs against the layout
//! production has and cannot drift from it when an index is added.

use std::path::PathBuf;

use aws_sdk_dynamodb::operation::create_table::builders::CreateTableFluentBuilder;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
};
use serde::Deserialize;

/// The part of an `AWS::DynamoDB::Table` resource's properties a test table needs.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TableProperties {
    key_schema: Vec<KeyElement>,
    attribute_definitions: Vec<AttributeType>,
    #[serde(default)]
    global_secondary_indexes: Vec<Index>,
    stream_specification: Option<Stream>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KeyElement {
    attribute_name: String,
    key_type: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AttributeType {
    attribute_name: String,
    attribute_type: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Index {
    index_name: String,
    key_schema: Vec<KeyElement>,
    projection: IndexProjection,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct IndexProjection {
    projection_type: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Stream {
    stream_view_type: String,
}

/// The properties of the table resource `logical_id` in the repository's `template.yaml`.
fn declared(logical_id: &str) -> TableProperties {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    let template: serde_yaml::Value =
        serde_yaml::from_str(&text).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    let resource = &template["Resources"][logical_id];
    assert_eq!(
        resource["Type"].as_str(),
        Some("AWS::DynamoDB::Table"),
        "{logical_id} is not a table in template.yaml"
    );
    serde_yaml::from_value(resource["Properties"].clone())
        .unwrap_or_else(|err| panic!("{logical_id} in template.yaml: {err}"))
}

fn key_schema(elements: &[KeyElement]) -> Vec<KeySchemaElement> {
    elements
        .iter()
        .map(|element| {
            KeySchemaElement::builder()
                .attribute_name(&element.attribute_name)
                .key_type(KeyType::from(element.key_type.as_str()))
                .build()
                .expect("key schema")
        })
        .collect()
}

/// A create-table request for the table `logical_id` declares, named `name`, billed on demand.
pub(super) fn declared_table_request(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
    logical_id: &str,
) -> CreateTableFluentBuilder {
    let table = declared(logical_id);
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_key_schema(Some(key_schema(&table.key_schema)));
    for attribute in &table.attribute_definitions {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(&attribute.attribute_name)
                .attribute_type(ScalarAttributeType::from(attribute.attribute_type.as_str()))
                .build()
                .expect("attribute"),
        );
    }
    for index in &table.global_secondary_indexes {
        request = request.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(&index.index_name)
                .set_key_schema(Some(key_schema(&index.key_schema)))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(
                            index.projection.projection_type.as_str(),
                        ))
                        .build(),
                )
                .build()
                .expect("index"),
        );
    }
    if let Some(stream) = &table.stream_specification {
        request = request.stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::from(stream.stream_view_type.as_str()))
                .build()
                .expect("stream"),
        );
    }
    request
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_service_table_is_read_from_the_template() {
        for logical_id in [
            "AccountsTable",
            "ExamResultsTable",
            "FilesTable",
            "NotificationsTable",
        ] {
            let table = declared(logical_id);
            let keys: Vec<&str> = table
                .key_schema
                .iter()
                .map(|k| k.attribute_name.as_str())
                .collect();
            assert_eq!(keys, ["pk", "sk"], "{logical_id}");
        }
        let exams = declared("ExamResultsTable");
        assert!(
            exams
                .global_secondary_indexes
                .iter()
                .any(|index| index.index_name == "outbox"),
            "{:?}",
            exams.global_secondary_indexes
        );
    }
}
