//! `AWS::Serverless::Function` → [`FunctionSpec`]: binary, resolved environment, timeout,
//! memory, reserved concurrency, and each event mapped to an [`EventSource`] (`HttpApi`, `SQS`,
//! `DynamoDB`, `Schedule`). Any other event type is an error naming the function, event and line.

use std::time::Duration;

use serde_json::Value;
use tracing::{info, warn};

use super::api::HttpApiInfo;
use super::errors::ProvisionError;
use super::props::{Node, Place};
use crate::model::{EventSource, FunctionSpec, HttpRoute, ScheduleSource, SqsSource, StreamSource};
use crate::template::{ACCOUNT_ID, REGION, ResourceValues, TemplateError};

/// Lambda's defaults when neither the function nor `Globals` set them.
const DEFAULT_TIMEOUT_SECONDS: u64 = 3;
const DEFAULT_MEMORY_MB: u32 = 128;
/// Event-source mapping defaults.
const DEFAULT_SQS_BATCH: u32 = 10;
const DEFAULT_STREAM_BATCH: u32 = 100;

/// The `Ref`/`Fn::GetAtt` values of a function named `name`.
pub(crate) fn values(name: &str) -> ResourceValues {
    ResourceValues::new(name).with(
        "Arn",
        format!("arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"),
    )
}

/// Builds the function's spec from its resolved properties and metadata.
pub(crate) async fn function_spec(
    sqs: &aws_sdk_sqs::Client,
    place: Place<'_>,
    props: &Node<'_>,
    metadata: &Value,
    apis: &[HttpApiInfo],
) -> Result<FunctionSpec, ProvisionError> {
    let binary = metadata
        .get("BuildProperties")
        .and_then(|b| b.get("Binary"))
        .and_then(Value::as_str)
        .filter(|b| !b.is_empty())
        .ok_or_else(|| TemplateError::InvalidProperty {
            location: place.location(),
            logical_id: place.logical_id().to_string(),
            property: "Metadata.BuildProperties.Binary".into(),
            message: "is required: it names the cargo binary the runner starts".into(),
        })?
        .to_string();
    let mut environment = std::collections::BTreeMap::new();
    if let Some(variables) = props.get("Environment").and_then(|e| e.get("Variables")) {
        for (name, value) in variables.entries()? {
            environment.insert(name, value.string()?);
        }
    }
    let timeout = props
        .opt_int::<u64>("Timeout")?
        .unwrap_or(DEFAULT_TIMEOUT_SECONDS);
    let mut events = Vec::new();
    if let Some(declared) = props.get("Events") {
        for (name, event) in declared.entries()? {
            if let Some(source) = event_source(sqs, place, &name, &event, apis).await? {
                events.push(source);
            }
        }
    }
    Ok(FunctionSpec {
        logical_id: place.logical_id().to_string(),
        binary,
        environment,
        timeout: Duration::from_secs(timeout),
        memory_mb: props.opt_int("MemorySize")?.unwrap_or(DEFAULT_MEMORY_MB),
        reserved_concurrency: props.opt_int("ReservedConcurrentExecutions")?,
        events,
    })
}

/// One event; `None` when it is disabled or cannot fire locally (a warning says why).
async fn event_source(
    sqs: &aws_sdk_sqs::Client,
    place: Place<'_>,
    name: &str,
    event: &Node<'_>,
    apis: &[HttpApiInfo],
) -> Result<Option<EventSource>, ProvisionError> {
    let kind = event.require("Type")?.string()?;
    let empty = Value::Object(serde_json::Map::new());
    let props = event
        .get("Properties")
        .unwrap_or_else(|| place.root(&empty));
    if props.opt_bool("Enabled")? == Some(false) {
        info!(
            function = place.logical_id(),
            event = name,
            "event disabled in the template"
        );
        return Ok(None);
    }
    Ok(Some(match kind.as_str() {
        "HttpApi" => EventSource::Http(http_route(&props, apis)?),
        "SQS" => EventSource::Sqs(sqs_source(sqs, place, &props).await?),
        "DynamoDB" => EventSource::DynamoStream(stream_source(sqs, place, name, &props).await?),
        "Schedule" | "ScheduleV2" => {
            let key = if kind == "Schedule" {
                "Schedule"
            } else {
                "ScheduleExpression"
            };
            if props
                .opt_string("State")?
                .is_some_and(|s| s.eq_ignore_ascii_case("DISABLED"))
            {
                info!(
                    function = place.logical_id(),
                    event = name,
                    "schedule disabled in the template"
                );
                return Ok(None);
            }
            let expression = props.require(key)?;
            match parse_rate(&expression.string()?) {
                Ok(Some(every)) => EventSource::Schedule(ScheduleSource { every }),
                Ok(None) => {
                    warn!(
                        function = place.logical_id(),
                        event = name,
                        expression = expression.string()?,
                        "cron schedules are not emulated locally; this event never fires"
                    );
                    return Ok(None);
                }
                Err(message) => return Err(expression.invalid(message).into()),
            }
        }
        other => {
            let location = place.template.location(&[
                "Resources",
                place.logical_id(),
                "Properties",
                "Events",
                name,
            ]);
            return Err(TemplateError::UnsupportedEvent {
                location: if location.line.is_some() {
                    location
                } else {
                    place.location()
                },
                function: place.logical_id().to_string(),
                event: name.to_string(),
                event_type: other.to_string(),
            }
            .into());
        }
    }))
}

fn http_route(props: &Node<'_>, apis: &[HttpApiInfo]) -> Result<HttpRoute, TemplateError> {
    let api = match props.opt_string("ApiId")? {
        Some(id) => Some(apis.iter().find(|a| a.api_id == id).ok_or_else(|| {
            props.get("ApiId").map_or_else(
                || props.invalid("unknown ApiId"),
                |n| {
                    n.invalid(format!(
                        "{id} is not an AWS::Serverless::HttpApi of the template"
                    ))
                },
            )
        })?),
        None => apis.first(),
    };
    let auth = props.get("Auth");
    let named = auth
        .as_ref()
        .map(|a| a.opt_string("Authorizer"))
        .transpose()?
        .flatten();
    let authorizer = match named {
        Some(name) if name == "NONE" => None,
        Some(name) => {
            let declared = api.is_some_and(|a| {
                a.spec.authorizers.iter().any(|z| z.name == name)
                    || a.spec.lambda_authorizers.iter().any(|z| z.name == name)
            });
            if !declared {
                let node = auth
                    .as_ref()
                    .and_then(|a| a.get("Authorizer"))
                    .unwrap_or_else(|| props.clone());
                return Err(node.invalid(format!("{name} is not an authorizer of the route's API")));
            }
            Some(name)
        }
        None => api.and_then(|a| a.default_authorizer.clone()),
    };
    let lambda_guarded = match (api, &authorizer) {
        (Some(api), Some(name)) => api.spec.lambda_authorizers.iter().any(|z| &z.name == name),
        _ => false,
    };
    let mut scopes = match auth.as_ref() {
        Some(a) => a.strings("AuthorizationScopes")?,
        None => Vec::new(),
    };
    if scopes.is_empty()
        && let (Some(api), Some(name)) = (api, &authorizer)
    {
        scopes = api.authorizer_scopes.get(name).cloned().unwrap_or_default();
    }
    if lambda_guarded && !scopes.is_empty() {
        // API Gateway checks authorization scopes with JWT authorizers only.
        warn!(
            path = props.opt_string("Path")?.unwrap_or_default(),
            authorizer = authorizer.as_deref().unwrap_or_default(),
            "AuthorizationScopes are ignored on routes guarded by a Lambda authorizer"
        );
    }
    if authorizer.is_none() || lambda_guarded {
        scopes.clear();
    }
    let throttle = match props.get("RouteSettings") {
        Some(settings) => super::api::route_throttle(&settings)?,
        None => None,
    }
    .or_else(|| api.and_then(|a| a.default_throttle));
    Ok(HttpRoute {
        method: props
            .opt_string("Method")?
            .map_or_else(|| "ANY".to_string(), |m| m.to_uppercase()),
        path: props
            .opt_string("Path")?
            .unwrap_or_else(|| "$default".to_string()),
        authorizer,
        scopes,
        throttle,
    })
}

async fn sqs_source(
    sqs: &aws_sdk_sqs::Client,
    place: Place<'_>,
    props: &Node<'_>,
) -> Result<SqsSource, ProvisionError> {
    let queue = props.require("Queue")?;
    let queue_arn = queue.string()?;
    let queue_url = queue_url_of_arn(sqs, place, &queue, &queue_arn).await?;
    Ok(SqsSource {
        queue_url,
        queue_arn,
        batch_size: batch_size(props, DEFAULT_SQS_BATCH)?,
        batching_window: Duration::from_secs(
            props
                .opt_int::<u64>("MaximumBatchingWindowInSeconds")?
                .unwrap_or(0),
        ),
        report_batch_item_failures: reports_item_failures(props)?,
        maximum_concurrency: props
            .get("ScalingConfig")
            .map(|s| s.opt_int::<u32>("MaximumConcurrency"))
            .transpose()?
            .flatten(),
    })
}

async fn stream_source(
    sqs: &aws_sdk_sqs::Client,
    place: Place<'_>,
    event: &str,
    props: &Node<'_>,
) -> Result<StreamSource, ProvisionError> {
    let stream = props.require("Stream")?;
    let stream_arn = stream.string()?;
    let table_name = table_of_stream(&stream_arn)
        .ok_or_else(|| stream.invalid(format!("{stream_arn} is not a DynamoDB stream ARN")))?;
    let mut filters = Vec::new();
    if let Some(criteria) = props.get("FilterCriteria") {
        for filter in criteria.list("Filters")? {
            let pattern = filter.require("Pattern")?;
            let parsed = match pattern.value() {
                Value::String(text) => serde_json::from_str(text)
                    .map_err(|e| pattern.invalid(format!("is not valid JSON: {e}")))?,
                other => other.clone(),
            };
            filters.push(parsed);
        }
    }
    let mut on_failure_queue_url = None;
    if let Some(destination) = props
        .get("DestinationConfig")
        .and_then(|d| d.get("OnFailure"))
        .and_then(|o| o.get("Destination"))
    {
        let arn = destination.string()?;
        if arn.starts_with("arn:aws:sqs:") {
            on_failure_queue_url = Some(queue_url_of_arn(sqs, place, &destination, &arn).await?);
        } else {
            warn!(
                function = place.logical_id(),
                event,
                destination = arn,
                "only SQS on-failure destinations are emulated; this one is ignored"
            );
        }
    }
    Ok(StreamSource {
        table_name,
        stream_arn,
        batch_size: batch_size(props, DEFAULT_STREAM_BATCH)?,
        starting_position: props.require("StartingPosition")?.string()?,
        maximum_retry_attempts: props.opt_int("MaximumRetryAttempts")?,
        bisect_on_error: props.flag("BisectBatchOnFunctionError")?,
        report_batch_item_failures: reports_item_failures(props)?,
        filters,
        on_failure_queue_url,
    })
}

fn batch_size(props: &Node<'_>, default: u32) -> Result<u32, TemplateError> {
    match props.get("BatchSize") {
        None => Ok(default),
        Some(node) => {
            let size = node.int_as::<u32>()?;
            if size == 0 {
                return Err(node.invalid("must be at least 1"));
            }
            Ok(size)
        }
    }
}

fn reports_item_failures(props: &Node<'_>) -> Result<bool, TemplateError> {
    Ok(props
        .strings("FunctionResponseTypes")?
        .iter()
        .any(|t| t == "ReportBatchItemFailures"))
}

/// The URL of the queue an ARN names (`arn:aws:sqs:<region>:<account>:<name>`).
async fn queue_url_of_arn(
    sqs: &aws_sdk_sqs::Client,
    place: Place<'_>,
    node: &Node<'_>,
    arn: &str,
) -> Result<String, ProvisionError> {
    let name = arn
        .strip_prefix("arn:")
        .and_then(|rest| rest.rsplit(':').next())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| node.invalid(format!("{arn} is not an SQS queue ARN")))?;
    super::sqs::queue_url(sqs, name)
        .await
        .map_err(place.aws("GetQueueUrl"))?
        .ok_or_else(|| {
            node.invalid(format!("queue {name} does not exist in the emulator"))
                .into()
        })
}

/// The table name in `arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label>`.
fn table_of_stream(arn: &str) -> Option<String> {
    let after = arn.split_once(":table/")?.1;
    let name = after.split_once("/stream/")?.0;
    (!name.is_empty()).then(|| name.to_string())
}

/// `rate(N unit)` → its period; `cron(...)` → `None`.
fn parse_rate(expression: &str) -> Result<Option<Duration>, String> {
    let expression = expression.trim();
    if expression.starts_with("cron(") {
        return Ok(None);
    }
    let inner = expression
        .strip_prefix("rate(")
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| format!("expected rate(...) or cron(...), found {expression:?}"))?;
    let mut words = inner.split_whitespace();
    let (Some(count), Some(unit), None) = (words.next(), words.next(), words.next()) else {
        return Err(format!(
            "expected rate(<number> <unit>), found {expression:?}"
        ));
    };
    let count: u64 = count
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("{count:?} is not a positive whole number"))?;
    let seconds = match unit {
        "minute" | "minutes" => 60,
        "hour" | "hours" => 3600,
        "day" | "days" => 86_400,
        other => {
            return Err(format!(
                "unknown rate unit {other:?} (minutes, hours or days)"
            ));
        }
    };
    Ok(Some(Duration::from_secs(count * seconds)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rates() {
        assert_eq!(
            parse_rate("rate(5 minutes)"),
            Ok(Some(Duration::from_secs(300)))
        );
        assert_eq!(
            parse_rate("rate(1 minute)"),
            Ok(Some(Duration::from_secs(60)))
        );
        assert_eq!(
            parse_rate("rate(2 hours)"),
            Ok(Some(Duration::from_secs(7200)))
        );
        assert_eq!(
            parse_rate("rate(1 day)"),
            Ok(Some(Duration::from_secs(86_400)))
        );
        assert_eq!(parse_rate("cron(0 12 * * ? *)"), Ok(None));
        assert!(parse_rate("rate(0 minutes)").is_err());
        assert!(parse_rate("rate(5 fortnights)").is_err());
        assert!(parse_rate("every 5 minutes").is_err());
    }

    #[test]
    fn finds_the_table_of_a_stream() {
        assert_eq!(
            table_of_stream(
                "arn:aws:dynamodb:us-east-1:123456789012:table/t-accounts/stream/2026-01-01T00:00:00.000"
            ),
            Some("t-accounts".to_string())
        );
        assert_eq!(table_of_stream("arn:aws:sqs:us-east-1:1:q"), None);
    }
}
