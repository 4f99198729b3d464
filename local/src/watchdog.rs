//! Watches the emulator under a running local system. The emulator keeps everything in memory:
//! restarted (or reset with `scripts/emulator reset`) it has none of the tables, queues and user
//! pool the runner provisioned, and every function would fail from then on. The watchdog notices,
//! so the runner provisions again, and reports an emulator that stopped answering once — not at
//! every poll of every poller.

use std::time::Duration;

use tokio::sync::watch;

use crate::events::Outage;
use crate::model::{EventSource, LocalStack};

/// How often the emulator is checked.
pub const CHECK_EVERY: Duration = Duration::from_secs(2);

/// What the runner provisioned and expects to find: tables (with the stream the pollers read),
/// queues and the user pool.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fingerprint {
    /// Table name → stream ARN.
    pub tables: Vec<(String, String)>,
    pub queue_urls: Vec<String>,
    pub user_pool_id: Option<String>,
}

impl Fingerprint {
    /// What `stack` is made of, as far as the emulator can be asked cheaply.
    pub fn of(stack: &LocalStack) -> Fingerprint {
        let mut fingerprint = Fingerprint {
            user_pool_id: stack.identity.as_ref().map(|i| i.user_pool_id.clone()),
            ..Fingerprint::default()
        };
        for source in stack.functions.iter().flat_map(|f| &f.events) {
            match source {
                EventSource::DynamoStream(s) => {
                    let table = (s.table_name.clone(), s.stream_arn.clone());
                    if !fingerprint.tables.contains(&table) {
                        fingerprint.tables.push(table);
                    }
                }
                EventSource::Sqs(s) if !fingerprint.queue_urls.contains(&s.queue_url) => {
                    fingerprint.queue_urls.push(s.queue_url.clone());
                }
                _ => {}
            }
        }
        fingerprint
    }
}

/// What a check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// Everything is where it was.
    Intact,
    /// The emulator does not answer (stopped, restarting, overloaded).
    Unreachable(String),
    /// It answers without what was provisioned: it was restarted or reset.
    Lost(String),
}

/// Asks the emulator for each piece of `fingerprint`.
pub async fn check(sdk: &aws_config::SdkConfig, fingerprint: &Fingerprint) -> Check {
    let dynamodb = aws_sdk_dynamodb::Client::new(sdk);
    for (table, stream_arn) in &fingerprint.tables {
        match dynamodb.describe_table().table_name(table).send().await {
            Ok(out) => {
                let current = out.table().and_then(|t| t.latest_stream_arn());
                if current != Some(stream_arn.as_str()) {
                    return Check::Lost(format!("table {table} was created again"));
                }
            }
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                return Check::Lost(format!("table {table} is gone"));
            }
            Err(err) => return Check::Unreachable(clinic_shared::aws::error_text(&err)),
        }
    }
    let sqs = aws_sdk_sqs::Client::new(sdk);
    for queue_url in &fingerprint.queue_urls {
        match sqs
            .get_queue_attributes()
            .queue_url(queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
        {
            Ok(_) => {}
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_queue_does_not_exist()) =>
            {
                return Check::Lost(format!("queue {queue_url} is gone"));
            }
            Err(err) => return Check::Unreachable(clinic_shared::aws::error_text(&err)),
        }
    }
    if let Some(pool) = &fingerprint.user_pool_id {
        let cognito = aws_sdk_cognitoidentityprovider::Client::new(sdk);
        match cognito.describe_user_pool().user_pool_id(pool).send().await {
            Ok(_) => {}
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                return Check::Lost(format!("user pool {pool} is gone"));
            }
            Err(err) => return Check::Unreachable(clinic_shared::aws::error_text(&err)),
        }
    }
    Check::Intact
}

/// Checks the emulator every [`CHECK_EVERY`] until it lost what was provisioned (returns why) or
/// `stop` turns true (returns `None`). An emulator that stops answering is reported when it
/// stops and when it answers again.
pub async fn until_lost(
    sdk: &aws_config::SdkConfig,
    fingerprint: &Fingerprint,
    emulator_url: &str,
    mut stop: watch::Receiver<bool>,
) -> Option<String> {
    let mut outage = Outage::new();
    loop {
        if crate::events::stopped_within(&mut stop, CHECK_EVERY).await {
            return None;
        }
        match check(sdk, fingerprint).await {
            Check::Intact => {
                if let Some((lasted, _)) = outage.recovered() {
                    tracing::info!(emulator = %emulator_url, after = ?lasted, "the emulator answers again");
                }
            }
            Check::Unreachable(error) => {
                if outage.failed(false) {
                    tracing::warn!(emulator = %emulator_url, error = %error, "the emulator does not answer: requests and pollers fail until it is back (scripts/emulator start restarts it; the runner then provisions it again)");
                }
            }
            Check::Lost(reason) => return Some(reason),
        }
    }
}
