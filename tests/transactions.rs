//! The one way every service runs a DynamoDB transaction (`clinic_shared::dynamo::transact`),
//! against the project's emulator with conflicts injected the way DynamoDB reports them (the
//! transaction cancelled with a `TransactionConflict` reason per item): a few conflicts are
//! retried until the transaction passes, conflicts that do not end are given up after the
//! runner's attempts, and a failed condition is reported at once, with the items it failed on.

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use clinic_journeys::local_system::OwnEmulator;
use clinic_shared::dynamo::{TRANSACTION_ATTEMPTS, TransactFailure, transact};
use clinic_shared::testing::{create_table, emulator_config_at, unique};
use serde_json::json;

const FAULT: &str = "dynamodb:TransactWriteItems";

fn put_new(table: &str, pk: &str) -> TransactWriteItem {
    let put = Put::builder()
        .table_name(table)
        .item("pk", AttributeValue::S(pk.to_string()))
        .item("sk", AttributeValue::S("ITEM".into()))
        .condition_expression("attribute_not_exists(pk)")
        .build()
        .expect("put");
    TransactWriteItem::builder().put(put).build()
}

async fn exists(client: &aws_sdk_dynamodb::Client, table: &str, pk: &str) -> bool {
    client
        .get_item()
        .table_name(table)
        .key("pk", AttributeValue::S(pk.to_string()))
        .key("sk", AttributeValue::S("ITEM".into()))
        .consistent_read(true)
        .send()
        .await
        .expect("GetItem")
        .item
        .is_some()
}

#[tokio::test]
async fn conflicts_are_retried_until_the_transaction_passes_then_given_up_and_conditions_reported()
{
    let emulator = OwnEmulator::start().await;
    let client = aws_sdk_dynamodb::Client::new(&emulator_config_at(&emulator.url).await);
    let table = unique("transactions");
    create_table(&client, &table, "ExamResultsTable").await;
    let injected = || emulator.injected().get(FAULT).copied().unwrap_or(0);

    // Three conflicts, then the items are free: the fourth attempt passes.
    emulator.set_faults(&json!({ FAULT: { "times": 3 } }));
    let passed = transact(&client, vec![put_new(&table, "A"), put_new(&table, "B")]).await;
    assert_eq!(passed, Ok(()));
    assert_eq!(injected(), 3, "each conflict was one attempt");
    assert!(exists(&client, &table, "A").await && exists(&client, &table, "B").await);

    // Conflicts that do not end: given up after every attempt, nothing written.
    emulator.set_faults(&json!({ FAULT: { "times": 1000 } }));
    match transact(&client, vec![put_new(&table, "C")]).await {
        Err(TransactFailure::Unavailable(text)) => {
            assert!(text.contains("TransactionCanceledException"), "{text}");
        }
        other => panic!("expected the conflicts to be given up, got {other:?}"),
    }
    assert_eq!(injected(), 3 + TRANSACTION_ATTEMPTS as usize);
    assert!(!exists(&client, &table, "C").await);

    // A failed condition is not a conflict: reported at once with its item, not retried.
    emulator.set_faults(&json!({}));
    let taken = transact(&client, vec![put_new(&table, "D"), put_new(&table, "A")]).await;
    assert_eq!(taken, Err(TransactFailure::Conditions(vec![1])));
    assert_eq!(injected(), 3 + TRANSACTION_ATTEMPTS as usize);
    assert!(!exists(&client, &table, "D").await, "all or nothing");
}
