//! Reads: one item by its key, or every item a query finds.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::get_item::GetItemError;
use aws_sdk_dynamodb::operation::query::QueryError;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;

use super::Item;

/// The item under `key` in `table`, read consistently (a write just made is seen).
///
/// # Errors
/// The SDK's error when the read fails.
pub async fn get_item(
    client: &Client,
    table: &str,
    key: Item,
) -> Result<Option<Item>, SdkError<GetItemError>> {
    client
        .get_item()
        .table_name(table)
        .set_key(Some(key))
        .consistent_read(true)
        .send()
        .await
        .map(|out| out.item)
}

/// Every item `query` finds, following `LastEvaluatedKey` through all its pages.
///
/// # Errors
/// The SDK's error of the first page that fails.
pub async fn query_all(query: QueryFluentBuilder) -> Result<Vec<Item>, SdkError<QueryError>> {
    query.into_paginator().items().send().collect().await
}
