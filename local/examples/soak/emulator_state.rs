//! After the run, what the emulator holds: outbox items and when they were written, queues and
//! DLQs, the e-mails and SMS sent; and which consumer the template subscribes to which events.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use serde_json::Value;

use crate::metrics::truncate;

/// Consumer function (logical id) → event types its queues' subscriptions let through.
pub(crate) fn consumer_filters(
    template: &Path,
) -> Result<BTreeMap<String, BTreeSet<String>>, String> {
    let text = std::fs::read_to_string(template).map_err(|e| e.to_string())?;
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).map_err(|e| e.to_string())?;
    let resources = doc["Resources"].as_mapping().ok_or("no Resources")?;
    let get_att = |v: &serde_yaml::Value| -> Option<String> {
        match v {
            serde_yaml::Value::Tagged(t) if t.tag == "!GetAtt" || t.tag == "GetAtt" => {
                match &t.value {
                    serde_yaml::Value::String(s) => s.split('.').next().map(str::to_string),
                    serde_yaml::Value::Sequence(s) => s.first()?.as_str().map(str::to_string),
                    _ => None,
                }
            }
            serde_yaml::Value::Mapping(m) => m
                .get("Fn::GetAtt")
                .and_then(|v| v.as_sequence()?.first()?.as_str().map(str::to_string)),
            _ => None,
        }
    };
    let mut queue_types: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (_, resource) in resources {
        if resource["Type"].as_str() != Some("AWS::SNS::Subscription") {
            continue;
        }
        let props = &resource["Properties"];
        if props["Protocol"].as_str() != Some("sqs") {
            continue;
        }
        let Some(queue) = get_att(&props["Endpoint"]) else {
            continue;
        };
        let types = props["FilterPolicy"]["type"]
            .as_sequence()
            .map(|s| {
                s.iter()
                    .filter_map(|t| t.as_str().map(str::to_string))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        queue_types.entry(queue).or_default().extend(types);
    }
    let mut consumers = BTreeMap::new();
    for (name, resource) in resources {
        let Some(events) = resource["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for (_, event) in events {
            if event["Type"].as_str() != Some("SQS") {
                continue;
            }
            if let Some(queue) = get_att(&event["Properties"]["Queue"])
                && let Some(types) = queue_types.get(&queue)
                && let Some(name) = name.as_str()
            {
                consumers
                    .entry(name.to_string())
                    .or_insert_with(BTreeSet::new)
                    .extend(types.iter().cloned());
            }
        }
    }
    Ok(consumers)
}

/// The emulator's tables (one page: the stack has a handful).
pub(crate) async fn table_names(ddb: &aws_sdk_dynamodb::Client) -> Result<Vec<String>, String> {
    let tables = ddb
        .list_tables()
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    Ok(tables.table_names().to_vec())
}

/// Every outbox item the soak's events left in the service tables: id → (table, type, pending).
pub(crate) async fn outbox_items(
    ddb: &aws_sdk_dynamodb::Client,
    since: &str,
) -> Result<BTreeMap<String, (String, String, bool)>, String> {
    use aws_sdk_dynamodb::types::AttributeValue;
    let mut out = BTreeMap::new();
    for table in table_names(ddb).await? {
        let mut start = None;
        loop {
            let page = ddb
                .scan()
                .table_name(&table)
                .filter_expression("begins_with(pk, :p) AND createdAt >= :since")
                .expression_attribute_values(":p", AttributeValue::S("OUTBOX#".into()))
                .expression_attribute_values(":since", AttributeValue::S(since.into()))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| format!("{e:?}"))?;
            for item in page.items() {
                let Some(id) = item
                    .get("pk")
                    .and_then(|v| v.as_s().ok())
                    .and_then(|pk| pk.strip_prefix("OUTBOX#"))
                else {
                    continue;
                };
                let kind = item
                    .get("eventType")
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default();
                out.insert(
                    id.to_string(),
                    (table.clone(), kind, item.contains_key("outboxPending")),
                );
            }
            start = page.last_evaluated_key().cloned();
            if start.is_none() {
                break;
            }
        }
    }
    Ok(out)
}

/// When each outbox item was written (ms since the epoch): its stream record's creation time, as
/// the emulator stamped it at the write.
pub(crate) async fn commit_times(
    sdk: &aws_config::SdkConfig,
) -> Result<HashMap<String, u64>, String> {
    use aws_sdk_dynamodbstreams::types::{AttributeValue, ShardIteratorType};
    let ddb = aws_sdk_dynamodb::Client::new(sdk);
    let streams = aws_sdk_dynamodbstreams::Client::new(sdk);
    let mut out = HashMap::new();
    for table in table_names(&ddb).await? {
        let described = ddb
            .describe_table()
            .table_name(&table)
            .send()
            .await
            .map_err(|e| format!("{e:?}"))?;
        let Some(arn) = described.table().and_then(|t| t.latest_stream_arn()) else {
            continue;
        };
        let stream = streams
            .describe_stream()
            .stream_arn(arn)
            .send()
            .await
            .map_err(|e| format!("{e:?}"))?;
        for shard in clinic_local::events::streams::shard_ids_of(&stream) {
            let mut iterator = streams
                .get_shard_iterator()
                .stream_arn(arn)
                .shard_id(&shard)
                .shard_iterator_type(ShardIteratorType::TrimHorizon)
                .send()
                .await
                .map_err(|e| format!("{e:?}"))?
                .shard_iterator
                .unwrap_or_default();
            loop {
                let page = streams
                    .get_records()
                    .shard_iterator(&iterator)
                    .limit(1000)
                    .send()
                    .await
                    .map_err(|e| format!("{e:?}"))?;
                if page.records().is_empty() {
                    break;
                }
                for record in page.records() {
                    let Some(change) = record.dynamodb() else {
                        continue;
                    };
                    let Some(AttributeValue::S(pk)) = change.new_image().and_then(|i| i.get("pk"))
                    else {
                        continue;
                    };
                    let (Some(id), Some(at)) = (
                        pk.strip_prefix("OUTBOX#"),
                        change.approximate_creation_date_time(),
                    ) else {
                        continue;
                    };
                    out.entry(id.to_string())
                        .or_insert((at.as_secs_f64() * 1000.0) as u64);
                }
                match page.next_shard_iterator() {
                    Some(next) => iterator = next.to_string(),
                    None => break,
                }
            }
        }
    }
    Ok(out)
}

pub(crate) struct QueueState {
    pub(crate) name: String,
    pub(crate) dlq: bool,
    pub(crate) messages: i64,
    pub(crate) reasons: BTreeMap<String, u64>,
}

pub(crate) async fn queues(sqs: &aws_sdk_sqs::Client) -> Result<Vec<QueueState>, String> {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let urls = sqs
        .list_queues()
        .max_results(1000)
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    let mut out = Vec::new();
    for url in urls.queue_urls() {
        let name = url.rsplit('/').next().unwrap_or(url).to_string();
        let attrs = sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(A::ApproximateNumberOfMessages)
            .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(A::ApproximateNumberOfMessagesDelayed)
            .send()
            .await
            .map_err(|e| format!("{e:?}"))?;
        let count = |a: A| {
            attrs
                .attributes()
                .and_then(|m| m.get(&a))
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(0)
        };
        let messages = count(A::ApproximateNumberOfMessages)
            + count(A::ApproximateNumberOfMessagesNotVisible)
            + count(A::ApproximateNumberOfMessagesDelayed);
        let lower = name.to_ascii_lowercase();
        let dlq = lower.contains("dlq")
            || lower.contains("deadletter")
            || lower.contains("dead-letter")
            || lower.contains("failure");
        let mut reasons = BTreeMap::new();
        if dlq && messages > 0 {
            // A look at what is there (made visible again at once).
            if let Ok(received) = sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .visibility_timeout(0)
                .message_attribute_names("All")
                .send()
                .await
            {
                for m in received.messages() {
                    let reason = m
                        .message_attributes()
                        .and_then(|a| {
                            a.get("reason")
                                .or_else(|| a.get("Reason"))
                                .or_else(|| a.get("parkReason"))
                        })
                        .and_then(|v| v.string_value().map(str::to_string))
                        .or_else(|| {
                            let body: Value =
                                serde_json::from_str(m.body().unwrap_or_default()).ok()?;
                            body["requestContext"]["condition"]
                                .as_str()
                                .or(body["reason"].as_str())
                                .or(body["type"].as_str())
                                .map(str::to_string)
                        })
                        .unwrap_or_else(|| truncate(m.body().unwrap_or_default(), 80));
                    *reasons.entry(reason).or_default() += 1;
                }
            }
        }
        out.push(QueueState {
            name,
            dlq,
            messages,
            reasons,
        });
    }
    Ok(out)
}

/// E-mails and SMS the emulator sent, per destination.
pub(crate) async fn sent_messages(
    http: &reqwest::Client,
    emulator: &str,
) -> (
    HashMap<String, u64>,
    HashMap<String, u64>,
    BTreeMap<String, u64>,
) {
    let data: Value = match http
        .get(format!("{emulator}/moto-api/data.json"))
        .send()
        .await
    {
        Ok(r) => r.json().await.unwrap_or(Value::Null),
        Err(_) => Value::Null,
    };
    let mut emails: HashMap<String, u64> = HashMap::new();
    let mut subjects: BTreeMap<String, u64> = BTreeMap::new();
    for m in data["ses"]["Message"].as_array().into_iter().flatten() {
        for to in m["destinations"]["ToAddresses"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if let Some(to) = to.as_str() {
                *emails.entry(to.to_string()).or_default() += 1;
            }
        }
        if let Some(subject) = m["subject"].as_str() {
            // Per template: dates and times in a subject are not what tells them apart.
            let template: String = subject
                .chars()
                .map(|c| if c.is_ascii_digit() { '#' } else { c })
                .collect();
            *subjects.entry(template).or_default() += 1;
        }
    }
    let mut sms: HashMap<String, u64> = HashMap::new();
    for m in data["sns"]["SMS"].as_array().into_iter().flatten() {
        if let Some(phone) = m["phone_number"].as_str() {
            *sms.entry(phone.to_string()).or_default() += 1;
        }
    }
    (emails, sms, subjects)
}
