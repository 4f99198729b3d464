//! Test support against the local AWS emulator (feature `testing`, dev-only): SDK configuration
//! pointing at it, unique resource names so tests run in parallel in any order, and the table,
//! topic and queue set-ups the services' integration tests share.

use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};

use crate::envelope::Envelope;

mod tables;

/// The emulator's URL (`CLINIC_EMULATOR_URL`, default `http://127.0.0.1:4566`).
pub fn emulator_url() -> String {
    std::env::var("CLINIC_EMULATOR_URL").unwrap_or_else(|_| "http://127.0.0.1:4566".to_string())
}

/// SDK configuration for the emulator: fixed region, dummy static credentials, explicit endpoint,
/// so nothing is looked up from the environment or the instance-metadata address.
pub async fn emulator_config() -> SdkConfig {
    emulator_config_at(&emulator_url()).await
}

/// [`emulator_config`] for an emulator at `url` (a test's own).
pub async fn emulator_config_at(url: &str) -> SdkConfig {
    crate::aws::with_https_client(aws_config::defaults(BehaviorVersion::latest()))
        .region(Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "testing", "testing", None, None, "static",
        ))
        .endpoint_url(url)
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(2))
        .load()
        .await
}

/// A name no other test uses: `<prefix>-<ulid>` in lower case.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", ulid::Ulid::new().to_string().to_lowercase())
}

/// Creates the service table `logical_id` of `template.yaml` (keys, attribute types, indexes,
/// stream) under the name `name`.
///
/// # Panics
/// When the template does not declare that table or the emulator refuses (a test set-up
/// failure).
pub async fn create_table(client: &aws_sdk_dynamodb::Client, name: &str, logical_id: &str) {
    tables::declared_table_request(client, name, logical_id)
        .send()
        .await
        .expect("create table in the emulator");
}

/// A queue subscribed (raw delivery) to a topic, to read what a service published.
pub struct TopicProbe {
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
}

impl TopicProbe {
    /// Creates the queue and subscribes it to `topic_arn`.
    ///
    /// # Panics
    /// When the emulator refuses (a test set-up failure).
    pub async fn subscribe(config: &SdkConfig, topic_arn: &str) -> TopicProbe {
        let sqs = aws_sdk_sqs::Client::new(config);
        let sns = aws_sdk_sns::Client::new(config);
        let queue_url = sqs
            .create_queue()
            .queue_name(unique("probe"))
            .send()
            .await
            .expect("create probe queue")
            .queue_url
            .expect("queue url");
        let arn = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("queue attributes")
            .attributes
            .and_then(|a| {
                a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                    .cloned()
            })
            .expect("queue arn");
        sns.subscribe()
            .topic_arn(topic_arn)
            .protocol("sqs")
            .endpoint(arn)
            .attributes("RawMessageDelivery", "true")
            .send()
            .await
            .expect("subscribe probe");
        TopicProbe { sqs, queue_url }
    }

    /// Receives envelopes until `count` arrived or `timeout` passed; returns what arrived.
    ///
    /// # Panics
    /// When the probe's queue cannot be read, or a message on it is not an envelope: "nothing
    /// arrived" must mean that, never a failure in the probe itself.
    pub async fn receive(&self, count: usize, timeout: Duration) -> Vec<Envelope> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut received = Vec::new();
        while received.len() < count && tokio::time::Instant::now() < deadline {
            let out = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .unwrap_or_else(|e| {
                    panic!(
                        "the topic probe cannot read its queue: {}",
                        crate::aws::error_text(&e)
                    )
                });
            for message in out.messages() {
                let body = message.body().unwrap_or_default();
                let envelope = Envelope::parse(body)
                    .unwrap_or_else(|e| panic!("the topic carried a non-envelope ({e}): {body}"));
                received.push(envelope);
                if let Some(handle) = message.receipt_handle() {
                    self.sqs
                        .delete_message()
                        .queue_url(&self.queue_url)
                        .receipt_handle(handle)
                        .send()
                        .await
                        .unwrap_or_else(|e| {
                            panic!(
                                "the topic probe cannot delete a message: {}",
                                crate::aws::error_text(&e)
                            )
                        });
                }
            }
        }
        received
    }
}

/// A function's HTTP answer, read back in a test.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    /// The JSON body (`Null` when empty; a JSON string when the body is not JSON).
    pub body: serde_json::Value,
}

/// Runs an API Gateway v2 event through a function's router, as `lambda_http` does under Lambda.
///
/// # Panics
/// When the event is not an API Gateway v2 event (a test bug).
pub async fn call(router: &axum::Router, event: serde_json::Value) -> Reply {
    use tower::ServiceExt;
    let request =
        lambda_http::request::from_str(&event.to_string()).expect("event parses as API Gateway v2");
    let response = router
        .clone()
        .oneshot(request)
        .await
        .expect("router answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 8 << 20)
        .await
        .expect("body");
    let body = if bytes.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    Reply {
        status,
        headers,
        body,
    }
}

/// A valid CPF no other test uses: random base digits, computed check digits.
pub fn random_cpf() -> String {
    let seed = ulid::Ulid::new().random();
    let mut digits: Vec<u32> = (0..9).map(|i| ((seed >> (i * 7)) % 10) as u32).collect();
    if digits.iter().all(|d| *d == digits[0]) {
        digits[0] = (digits[0] + 1) % 10;
    }
    for len in [9usize, 10] {
        let sum: u32 = digits
            .iter()
            .zip((2..=len as u32 + 1).rev())
            .map(|(d, w)| d * w)
            .sum();
        let rest = (sum * 10) % 11;
        digits.push(if rest == 10 { 0 } else { rest });
    }
    digits
        .iter()
        .filter_map(|d| char::from_digit(*d, 10))
        .collect()
}

/// The `field` of every entry of a validation problem's `errors`.
pub fn field_names(body: &serde_json::Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e["field"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}
