//! The event bus of a local system seen from outside: the topics, queues and dead-letter queues
//! the runner provisioned in the emulator, taps on the event topics, publishing as a producer.

// Included by several journey tests, each using a part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_sns::types::MessageAttributeValue as SnsAttribute;
use serde_json::Value;

/// A message taken off a queue: its `type`, body and every message attribute (`name=value`).
pub struct Tapped {
    pub kind: String,
    pub body: String,
    pub attributes: String,
}

/// An SDK configuration for the emulator at `emulator`.
pub async fn aws(emulator: &str) -> aws_config::SdkConfig {
    clinic_shared::aws::with_https_client(aws_config::defaults(
        aws_config::BehaviorVersion::latest(),
    ))
    .endpoint_url(emulator)
    .region(aws_config::Region::new("us-east-1"))
    .credentials_provider(aws_sdk_sqs::config::Credentials::new(
        "testing", "testing", None, None, "tests",
    ))
    .load()
    .await
}

/// Clients of the emulator's SNS and SQS.
pub struct Bus {
    pub sns: aws_sdk_sns::Client,
    pub sqs: aws_sdk_sqs::Client,
}

impl Bus {
    pub async fn topics(&self) -> BTreeMap<String, String> {
        let listed = self.sns.list_topics().send().await.expect("topics");
        listed
            .topics()
            .iter()
            .filter_map(|t| t.topic_arn())
            .filter(|arn| arn.ends_with("-events"))
            .map(|arn| {
                (
                    arn.rsplit(':').next().unwrap_or_default().to_string(),
                    arn.to_string(),
                )
            })
            .collect()
    }

    pub async fn queues(&self) -> Vec<String> {
        self.sqs
            .list_queues()
            .send()
            .await
            .expect("queues")
            .queue_urls()
            .to_vec()
    }

    pub async fn queue(&self, name: &str) -> String {
        self.queues()
            .await
            .into_iter()
            .find(|url| url.ends_with(&format!("/{name}")))
            .unwrap_or_else(|| panic!("no queue {name}"))
    }

    pub async fn depth(&self, url: &str) -> i64 {
        let attrs = self
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
            .send()
            .await
            .expect("queue attributes");
        let get = |name: aws_sdk_sqs::types::QueueAttributeName| {
            attrs
                .attributes()
                .and_then(|a| a.get(&name))
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(0)
        };
        get(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            + get(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            + get(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesDelayed)
    }

    /// Waits until every queue but the taps is empty, twice in a row a second apart.
    pub async fn settle(&self) {
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut quiet = 0;
        while quiet < 2 {
            let mut busy = 0;
            for url in self.queues().await {
                if !url.contains("/tap-") && !url.contains("DeadLetter") && !url.contains("Failure")
                {
                    busy += self.depth(&url).await;
                }
            }
            quiet = if busy == 0 { quiet + 1 } else { 0 };
            assert!(Instant::now() < deadline, "the queues never emptied");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Messages waiting in the dead-letter queues, by queue.
    pub async fn dead_letters(&self) -> BTreeMap<String, i64> {
        let mut found = BTreeMap::new();
        for url in self.queues().await {
            if url.contains("DeadLetter") {
                found.insert(
                    url.rsplit('/').next().unwrap_or_default().to_string(),
                    self.depth(&url).await,
                );
            }
        }
        found
    }

    /// Everything a queue holds, in arrival order (taken off the queue).
    pub async fn drain(&self, url: &str) -> Vec<Tapped> {
        let mut events = Vec::new();
        let mut empty = 0;
        while empty < 3 {
            let received = self
                .sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .message_attribute_names("All")
                .wait_time_seconds(1)
                .send()
                .await
                .expect("receive");
            let messages = received.messages();
            if messages.is_empty() {
                empty += 1;
                continue;
            }
            empty = 0;
            for message in messages {
                let body = message.body().unwrap_or_default().to_string();
                let kind = message
                    .message_attributes()
                    .and_then(|a| a.get("type"))
                    .and_then(|v| v.string_value())
                    .map(str::to_string)
                    .or_else(|| {
                        serde_json::from_str::<Value>(&body)
                            .ok()
                            .and_then(|v| v["type"].as_str().map(str::to_string))
                    })
                    .unwrap_or_default();
                let attributes = message
                    .message_attributes()
                    .map(|a| {
                        let mut pairs: Vec<String> = a
                            .iter()
                            .map(|(k, v)| format!("{k}={}", v.string_value().unwrap_or_default()))
                            .collect();
                        pairs.sort();
                        pairs.join(" ")
                    })
                    .unwrap_or_default();
                events.push(Tapped {
                    kind,
                    body,
                    attributes,
                });
                if let Some(receipt) = message.receipt_handle() {
                    let _ = self
                        .sqs
                        .delete_message()
                        .queue_url(url)
                        .receipt_handle(receipt)
                        .send()
                        .await;
                }
            }
        }
        events
    }

    pub async fn publish(&self, topic: &str, kind: &str, body: &str) {
        self.sns
            .publish()
            .topic_arn(topic)
            .message(body)
            .message_attributes(
                "type",
                SnsAttribute::builder()
                    .data_type("String")
                    .string_value(kind)
                    .build()
                    .expect("attribute"),
            )
            .send()
            .await
            .expect("publish");
    }

    /// A queue subscribed (raw delivery) to every event topic, before anything is published:
    /// topic ARN → tap queue URL.
    pub async fn tap_topics(&self) -> BTreeMap<String, String> {
        let topics = self.topics().await;
        assert_eq!(topics.len(), 3, "{topics:?}");
        let mut taps = BTreeMap::new();
        for (name, arn) in &topics {
            let url = self
                .sqs
                .create_queue()
                .queue_name(format!("tap-{name}"))
                .send()
                .await
                .expect("tap queue")
                .queue_url()
                .unwrap_or_default()
                .to_string();
            let queue_arn = format!("arn:aws:sqs:us-east-1:123456789012:tap-{name}");
            self.sns
                .subscribe()
                .topic_arn(arn)
                .protocol("sqs")
                .endpoint(queue_arn)
                .attributes("RawMessageDelivery", "true")
                .send()
                .await
                .expect("tap subscription");
            taps.insert(arn.clone(), url);
        }
        taps
    }
}

impl Bus {
    pub async fn new(emulator: &str) -> Bus {
        let config = aws(emulator).await;
        Bus {
            sns: aws_sdk_sns::Client::new(&config),
            sqs: aws_sdk_sqs::Client::new(&config),
        }
    }
}
