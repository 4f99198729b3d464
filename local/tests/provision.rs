//! Provisioning against the emulator (moto at `CLINIC_EMULATOR_URL`): the real `template.yaml`,
//! a messaging fixture and a Lambda authorizer fixture, each under its own stack name so tests
//! never share resources; checked both through the returned `LocalStack` and by asking the
//! emulator directly.

use std::path::PathBuf;
use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use clinic_local::model::{EventSource, LambdaAuthorizer, LocalStack, ScheduleSource};
use clinic_local::provision::{ProvisionSettings, provision};
use clinic_local::template::Template;
use clinic_shared::testing::{emulator_config, emulator_url, unique};
use serde_json::{Value, json};

fn load(relative: &str) -> Template {
    let path = PathBuf::from(
        std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string()),
    )
    .join(relative);
    Template::load(&path).expect("template parses")
}

fn settings(stack_name: &str) -> ProvisionSettings {
    ProvisionSettings {
        stack_name: stack_name.to_string(),
        emulator_url: emulator_url(),
        ..ProvisionSettings::default()
    }
}

/// What provisioning `template` under a fresh stack name fails with (`refusal`: why it must).
async fn provisioning_error(
    template: &Template,
    config: &aws_config::SdkConfig,
    refusal: &str,
) -> String {
    provision(template, config, &settings(&unique("t")))
        .await
        .expect_err(refusal)
        .to_string()
}

async fn pool_ids_named(
    cognito: &aws_sdk_cognitoidentityprovider::Client,
    name: &str,
) -> Vec<String> {
    let mut ids = Vec::new();
    let mut token = None;
    loop {
        let out = cognito
            .list_user_pools()
            .max_results(60)
            .set_next_token(token)
            .send()
            .await
            .expect("list pools");
        ids.extend(
            out.user_pools()
                .iter()
                .filter(|p| p.name() == Some(name))
                .filter_map(|p| p.id().map(str::to_string)),
        );
        token = out.next_token;
        if token.is_none() {
            return ids;
        }
    }
}

#[tokio::test]
async fn provisions_the_real_template_and_is_idempotent() {
    let config = emulator_config().await;
    let template = load("../template.yaml");
    let stack_name = unique("t");
    let settings = settings(&stack_name);
    let stack = provision(&template, &config, &settings)
        .await
        .expect("first provisioning");

    // The table, with its indexes, stream and TTL.
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let table_name = format!("{stack_name}-AccountsTable");
    let table = dynamodb
        .describe_table()
        .table_name(&table_name)
        .send()
        .await
        .expect("table exists")
        .table
        .expect("table description");
    let mut indexes: Vec<&str> = table
        .global_secondary_indexes()
        .iter()
        .filter_map(|i| i.index_name())
        .collect();
    indexes.sort_unstable();
    assert_eq!(indexes, ["gsi1", "outbox"]);
    let stream_arn = table.latest_stream_arn().expect("stream").to_string();
    let ttl = dynamodb
        .describe_time_to_live()
        .table_name(&table_name)
        .send()
        .await
        .expect("ttl");
    assert_eq!(
        ttl.time_to_live_description()
            .and_then(|d| d.attribute_name()),
        Some("expiresAt")
    );

    // The topic.
    let sns = aws_sdk_sns::Client::new(&config);
    let topic_arn = format!("arn:aws:sns:us-east-1:123456789012:{stack_name}-accounts-events");
    sns.get_topic_attributes()
        .topic_arn(&topic_arn)
        .send()
        .await
        .expect("topic exists");

    // The pool, its groups, web client and resource server.
    let cognito = aws_sdk_cognitoidentityprovider::Client::new(&config);
    let pools = pool_ids_named(&cognito, &format!("{stack_name}-users")).await;
    assert_eq!(pools.len(), 1, "one pool: {pools:?}");
    let pool_id = pools[0].clone();
    let groups = cognito
        .list_groups()
        .user_pool_id(&pool_id)
        .send()
        .await
        .expect("groups");
    let mut group_names: Vec<&str> = groups
        .groups()
        .iter()
        .filter_map(|g| g.group_name())
        .collect();
    group_names.sort_unstable();
    assert_eq!(group_names, ["doctors", "patients", "staff"]);
    let clients = cognito
        .list_user_pool_clients()
        .user_pool_id(&pool_id)
        .max_results(60)
        .send()
        .await
        .expect("clients");
    assert_eq!(clients.user_pool_clients().len(), 1);
    let web_client = &clients.user_pool_clients()[0];
    assert_eq!(
        web_client.client_name(),
        Some(format!("{stack_name}-web").as_str())
    );
    let web_client_id = web_client.client_id().expect("client id").to_string();
    let server = cognito
        .describe_resource_server()
        .user_pool_id(&pool_id)
        .identifier("clinic")
        .send()
        .await
        .expect("resource server")
        .resource_server
        .expect("resource server");
    assert_eq!(server.scopes()[0].scope_name(), "ingest");

    // What the runner gets.
    let declared = template
        .resources()
        .iter()
        .filter(|r| r.type_name == "AWS::Serverless::Function")
        .count();
    assert_eq!(
        stack.functions.len(),
        declared,
        "one FunctionSpec per function of the template"
    );
    let function = |id: &str| {
        stack
            .functions
            .iter()
            .find(|f| f.logical_id == id)
            .unwrap_or_else(|| panic!("{id} in the stack"))
    };
    let api_fn = function("AccountsApiFunction");
    assert_eq!(api_fn.binary, "accounts-api");
    assert_eq!(api_fn.environment["TABLE_NAME"], table_name);
    assert_eq!(api_fn.environment["USER_POOL_ID"], pool_id);
    assert_eq!(api_fn.environment["USER_POOL_CLIENT_ID"], web_client_id);
    assert_eq!(api_fn.environment["RUST_LOG"], "info");
    assert_eq!(api_fn.timeout, Duration::from_secs(5));
    assert_eq!(api_fn.memory_mb, 256);
    let outbox = function("AccountsOutboxFunction");
    assert_eq!(outbox.binary, "accounts-outbox");
    assert_eq!(outbox.environment["EVENTS_TOPIC_ARN"], topic_arn);
    assert_eq!(outbox.timeout, Duration::from_secs(30));

    let routes: Vec<_> = stack
        .routes()
        .into_iter()
        .filter(|(f, _)| f.logical_id == "AccountsApiFunction")
        .collect();
    assert_eq!(routes.len(), 12);
    assert_eq!(
        routes
            .iter()
            .filter(|(_, r)| r.authorizer.is_none())
            .count(),
        6
    );
    let me = routes
        .iter()
        .find(|(_, r)| r.method == "PATCH" && r.path == "/v1/me")
        .expect("PATCH /v1/me");
    assert_eq!(me.1.authorizer.as_deref(), Some("CognitoJwt"));

    let stream = outbox
        .events
        .iter()
        .find_map(|e| match e {
            EventSource::DynamoStream(s) => Some(s),
            _ => None,
        })
        .expect("stream source");
    assert_eq!(stream.stream_arn, stream_arn);
    assert_eq!(stream.table_name, table_name);
    assert_eq!(stream.batch_size, 25);
    assert_eq!(stream.starting_position, "TRIM_HORIZON");
    assert_eq!(stream.maximum_retry_attempts, Some(5));
    assert!(stream.bisect_on_error && stream.report_batch_item_failures);
    assert_eq!(
        stream.filters,
        vec![
            json!({"eventName": ["INSERT", "MODIFY"], "dynamodb": {"NewImage": {"outboxPending": {"S": [{"exists": true}]}}}})
        ]
    );
    let failure_queue = stream
        .on_failure_queue_url
        .as_deref()
        .expect("on-failure queue");
    assert!(
        failure_queue.ends_with(&format!("/{stack_name}-AccountsOutboxFailureQueue")),
        "{failure_queue}"
    );
    assert!(
        outbox
            .events
            .contains(&EventSource::Schedule(ScheduleSource {
                every: Duration::from_secs(300)
            }))
    );

    let authorizer = &stack.api.authorizers[0];
    assert_eq!(authorizer.name, "CognitoJwt");
    assert_eq!(
        authorizer.issuer,
        format!("https://cognito-idp.us-east-1.amazonaws.com/{pool_id}")
    );
    assert_eq!(authorizer.audience, vec![web_client_id.clone()]);
    assert_eq!(
        authorizer.jwks_url,
        format!("{}/{pool_id}/.well-known/jwks.json", emulator_url())
    );
    let cors = stack.api.cors.as_ref().expect("cors");
    assert_eq!(cors.allow_origins, ["http://localhost:3000"]);
    assert_eq!(cors.max_age, Some(600));
    let identity = stack.identity.as_ref().expect("identity");
    assert_eq!(identity.user_pool_id, pool_id);
    assert_eq!(identity.web_client_ids, vec![web_client_id]);
    assert_eq!(identity.resource_scopes, ["clinic/ingest"]);

    // A second run finds everything and describes the same stack.
    let again = provision(&template, &config, &settings)
        .await
        .expect("second provisioning");
    assert_eq!(again, stack);
    assert_eq!(
        pool_ids_named(&cognito, &format!("{stack_name}-users"))
            .await
            .len(),
        1
    );
    let groups = cognito
        .list_groups()
        .user_pool_id(&pool_id)
        .send()
        .await
        .expect("groups");
    assert_eq!(groups.groups().len(), 3);
    let clients = cognito
        .list_user_pool_clients()
        .user_pool_id(&pool_id)
        .max_results(60)
        .send()
        .await
        .expect("clients");
    assert_eq!(clients.user_pool_clients().len(), 1);
}

fn sqs_sources(stack: &LocalStack) -> Vec<&clinic_local::model::SqsSource> {
    stack.functions[0]
        .events
        .iter()
        .filter_map(|e| match e {
            EventSource::Sqs(s) => Some(s),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn provisions_queues_subscriptions_and_buckets() {
    let config = emulator_config().await;
    let template = load("tests/fixtures/messaging.yaml");
    let stack_name = unique("t");
    let settings = settings(&stack_name);
    let stack = provision(&template, &config, &settings)
        .await
        .expect("first provisioning");
    let again = provision(&template, &config, &settings)
        .await
        .expect("second provisioning");
    assert_eq!(again, stack);

    // Queues: the redrive policy is the JSON string SQS wants; FIFO queues get `.fifo`.
    let sqs = aws_sdk_sqs::Client::new(&config);
    let url_of = |name: String| {
        let sqs = sqs.clone();
        async move {
            sqs.get_queue_url()
                .queue_name(name)
                .send()
                .await
                .expect("queue exists")
                .queue_url
                .expect("url")
        }
    };
    let jobs_url = url_of(format!("{stack_name}-JobsQueue")).await;
    let dlq_url = url_of(format!("{stack_name}-JobsDeadLetterQueue")).await;
    url_of(format!("{stack_name}-OrderedQueue.fifo")).await;
    let attributes = |url: String| {
        let sqs = sqs.clone();
        async move {
            sqs.get_queue_attributes()
                .queue_url(url)
                .attribute_names(QueueAttributeName::All)
                .send()
                .await
                .expect("attributes")
                .attributes
                .expect("attributes")
        }
    };
    let jobs = attributes(jobs_url.clone()).await;
    let dlq = attributes(dlq_url).await;
    let redrive: Value = serde_json::from_str(&jobs[&QueueAttributeName::RedrivePolicy])
        .expect("redrive policy is JSON");
    assert_eq!(
        redrive["deadLetterTargetArn"],
        json!(dlq[&QueueAttributeName::QueueArn])
    );
    assert_eq!(
        redrive["maxReceiveCount"].to_string().trim_matches('"'),
        "4"
    );
    assert_eq!(jobs[&QueueAttributeName::VisibilityTimeout], "60");
    assert_eq!(jobs[&QueueAttributeName::MessageRetentionPeriod], "345600");
    assert_eq!(dlq[&QueueAttributeName::MessageRetentionPeriod], "1209600");
    // The conditional queue is not created.
    assert!(
        sqs.get_queue_url()
            .queue_name(format!("{stack_name}-ProdOnlyQueue"))
            .send()
            .await
            .is_err()
    );

    // One subscription, raw, with its filter policy and scope — after two runs.
    let sns = aws_sdk_sns::Client::new(&config);
    let topic_arn = format!("arn:aws:sns:us-east-1:123456789012:{stack_name}-events");
    let subscriptions = sns
        .list_subscriptions_by_topic()
        .topic_arn(&topic_arn)
        .send()
        .await
        .expect("subscriptions");
    assert_eq!(subscriptions.subscriptions().len(), 1);
    let subscription = &subscriptions.subscriptions()[0];
    assert_eq!(
        subscription.endpoint(),
        Some(jobs[&QueueAttributeName::QueueArn].as_str())
    );
    let subscription_attributes = sns
        .get_subscription_attributes()
        .subscription_arn(subscription.subscription_arn().expect("arn"))
        .send()
        .await
        .expect("subscription attributes")
        .attributes
        .expect("attributes");
    assert_eq!(subscription_attributes["RawMessageDelivery"], "true");
    assert_eq!(subscription_attributes["FilterPolicyScope"], "MessageBody");
    let filter: Value =
        serde_json::from_str(&subscription_attributes["FilterPolicy"]).expect("filter is JSON");
    assert_eq!(filter, json!({"type": ["job.requested", "job.retried"]}));

    // The bucket: versioning, lifecycle, public access block, notifications to the queue.
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    let bucket = format!("{stack_name}-uploadsbucket");
    // (The SDK cannot parse the emulator's GetBucketVersioning answer: read it as text.)
    let versioning = reqwest::get(format!("{}/{bucket}?versioning", emulator_url()))
        .await
        .expect("versioning")
        .text()
        .await
        .expect("versioning body");
    assert!(
        versioning.contains("<Status>Enabled</Status>"),
        "{versioning}"
    );
    let lifecycle = s3
        .get_bucket_lifecycle_configuration()
        .bucket(&bucket)
        .send()
        .await
        .expect("lifecycle");
    let rules = lifecycle.rules();
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[0].expiration().and_then(|e| e.days()), Some(365));
    assert_eq!(rules[1].transitions()[0].days(), Some(90));
    assert_eq!(
        rules[1]
            .noncurrent_version_expiration()
            .and_then(|e| e.noncurrent_days()),
        Some(30)
    );
    let block = s3
        .get_public_access_block()
        .bucket(&bucket)
        .send()
        .await
        .expect("public access block")
        .public_access_block_configuration
        .expect("configuration");
    assert_eq!(block.block_public_acls(), Some(true));
    assert_eq!(block.restrict_public_buckets(), Some(true));
    let uploads_arn = attributes(url_of(format!("{stack_name}-UploadsQueue")).await).await
        [&QueueAttributeName::QueueArn]
        .clone();
    let notifications = s3
        .get_bucket_notification_configuration()
        .bucket(&bucket)
        .send()
        .await
        .expect("notifications");
    assert_eq!(notifications.queue_configurations().len(), 1);
    let notification = &notifications.queue_configurations()[0];
    assert_eq!(notification.queue_arn(), uploads_arn);
    assert_eq!(notification.events()[0].as_str(), "s3:ObjectCreated:*");
    let rule = &notification
        .filter()
        .and_then(|f| f.key())
        .expect("key filter")
        .filter_rules()[0];
    assert_eq!(rule.value(), Some("incoming/"));

    // The second run did not write the notifications again (each write sends a test event).
    let uploads_url = url_of(format!("{stack_name}-UploadsQueue")).await;
    let received = sqs
        .receive_message()
        .queue_url(&uploads_url)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .send()
        .await
        .expect("receive");
    let test_events = received
        .messages()
        .iter()
        .filter(|m| m.body().is_some_and(|b| b.contains("s3:TestEvent")))
        .count();
    assert_eq!(test_events, 1);

    // The function: globals, conditions, NoValue, and its event sources.
    assert_eq!(stack.functions.len(), 1);
    let worker = &stack.functions[0];
    assert_eq!(worker.binary, "worker");
    assert_eq!(worker.timeout, Duration::from_secs(10));
    assert_eq!(worker.memory_mb, 512);
    assert_eq!(worker.reserved_concurrency, Some(2));
    let env = &worker.environment;
    assert_eq!(env["JOBS_QUEUE_URL"], jobs_url);
    assert_eq!(env["BUCKET"], bucket);
    assert_eq!(env["MODE"], "relaxed");
    assert_eq!(env["STAGE"], "test");
    assert_eq!(env["TOPIC_NAME"], format!("{stack_name}-events"));
    assert!(!env.contains_key("PROD_ONLY"));
    let sources = sqs_sources(&stack);
    assert_eq!(sources.len(), 2);
    let jobs_source = sources
        .iter()
        .find(|s| s.queue_url == jobs_url)
        .expect("jobs source");
    assert_eq!(jobs_source.queue_arn, jobs[&QueueAttributeName::QueueArn]);
    assert_eq!(jobs_source.batch_size, 5);
    assert_eq!(jobs_source.batching_window, Duration::from_secs(2));
    assert!(jobs_source.report_batch_item_failures);
    assert_eq!(jobs_source.maximum_concurrency, Some(3));
    let uploads_source = sources
        .iter()
        .find(|s| s.queue_url == uploads_url)
        .expect("uploads source");
    assert_eq!(uploads_source.batch_size, 10);
    assert!(!uploads_source.report_batch_item_failures);
    // The cron schedule is skipped; the rate one is kept.
    let schedules: Vec<&EventSource> = worker
        .events
        .iter()
        .filter(|e| matches!(e, EventSource::Schedule(_)))
        .collect();
    assert_eq!(
        schedules,
        [&EventSource::Schedule(ScheduleSource {
            every: Duration::from_secs(3600)
        })]
    );
}

#[tokio::test]
async fn unsupported_event_names_function_event_and_line() {
    let text = "\
Resources:
  Worker:
    Type: AWS::Serverless::Function
    Metadata:
      BuildProperties:
        Binary: worker
    Properties:
      Events:
        Ping:
          Type: Schedule
          Properties:
            Schedule: rate(1 minute)
        Legacy:
          Type: Api
          Properties:
            Path: /legacy
            Method: get
";
    let template = Template::parse(text, "t.yaml").expect("parses");
    let config = emulator_config().await;
    let error = provisioning_error(&template, &config, "Api events are not emulated").await;
    assert_eq!(
        error,
        "t.yaml:13: function Worker: event Legacy has type Api, which the local runner cannot emulate"
    );
}

#[tokio::test]
async fn invalid_property_names_resource_property_and_line() {
    let text = "\
Resources:
  Jobs:
    Type: AWS::SQS::Queue
  Worker:
    Type: AWS::Serverless::Function
    Metadata:
      BuildProperties:
        Binary: worker
    Properties:
      Events:
        Jobs:
          Type: SQS
          Properties:
            Queue: !GetAtt Jobs.Arn
            BatchSize: 0
";
    let template = Template::parse(text, "t.yaml").expect("parses");
    let config = emulator_config().await;
    let message = provisioning_error(&template, &config, "batch size 0").await;
    assert!(
        message.starts_with("t.yaml:15: resource Worker: property Events.Jobs.Properties.BatchSize: must be at least 1"),
        "{message}"
    );
}

#[tokio::test]
async fn lambda_authorizers_name_their_function_and_guard_routes() {
    let config = emulator_config().await;
    let template = load("tests/fixtures/lambda-authorizer.yaml");
    let stack_name = unique("t");
    let stack = provision(&template, &config, &settings(&stack_name))
        .await
        .expect("provisioning");

    assert_eq!(
        stack.api.lambda_authorizers,
        vec![
            LambdaAuthorizer {
                name: "HospitalAuthorizer".into(),
                function: "HospitalAuthorizerFunction".into(),
                identity_headers: vec!["Authorization".into()],
                identity_query_strings: Vec::new(),
                ttl: Duration::from_secs(300),
                simple_responses: true,
                payload_version: "2.0".into(),
            },
            LambdaAuthorizer {
                name: "TenantAuthorizer".into(),
                function: "HospitalAuthorizerFunction".into(),
                identity_headers: vec!["X-Tenant".into()],
                identity_query_strings: vec!["key".into()],
                ttl: Duration::ZERO,
                simple_responses: true,
                payload_version: "2.0".into(),
            },
        ]
    );
    let jwt: Vec<&str> = stack
        .api
        .authorizers
        .iter()
        .map(|a| a.name.as_str())
        .collect();
    assert_eq!(jwt, ["CognitoJwt"]);

    // The authorizer function is a function of the stack like any other (without routes).
    let authorizer_fn = stack
        .functions
        .iter()
        .find(|f| f.logical_id == "HospitalAuthorizerFunction")
        .expect("the authorizer function");
    assert_eq!(authorizer_fn.binary, "hospital-authorizer");
    assert!(authorizer_fn.events.is_empty());

    let mut routes: Vec<(String, Option<String>)> = stack
        .routes()
        .iter()
        .map(|(_, r)| (format!("{} {}", r.method, r.path), r.authorizer.clone()))
        .collect();
    routes.sort();
    let named = |s: &str| Some(s.to_string());
    assert_eq!(
        routes,
        [
            ("GET /v1/health".to_string(), None),
            ("GET /v1/me".to_string(), named("CognitoJwt")),
            (
                "POST /v1/ingest/exams".to_string(),
                named("HospitalAuthorizer")
            ),
            (
                "POST /v1/ingest/status".to_string(),
                named("TenantAuthorizer")
            ),
        ]
    );
}

/// A template with one Lambda authorizer whose properties are `authorizer` (indented for it).
fn lambda_authorizer_template(authorizer: &str) -> Template {
    let text = format!(
        "\
Resources:
  AuthFunction:
    Type: AWS::Serverless::Function
    Metadata:
      BuildProperties:
        Binary: auth
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        Authorizers:
          Custom:
{authorizer}"
    );
    Template::parse(&text, "t.yaml").expect("parses")
}

#[tokio::test]
async fn unsupported_lambda_authorizers_name_the_property_and_line() {
    let config = emulator_config().await;
    let cases = [
        (
            "            FunctionArn: arn:aws:lambda:us-east-1:123456789012:function:elsewhere
            AuthorizerPayloadFormatVersion: \"2.0\"
            EnableSimpleResponses: true
",
            "t.yaml:13: resource Api: property Auth.Authorizers.Custom.FunctionArn: \
             arn:aws:lambda:us-east-1:123456789012:function:elsewhere is not the ARN of a \
             function of the template",
        ),
        (
            "            FunctionArn: !GetAtt AuthFunction.Arn
            AuthorizerPayloadFormatVersion: \"2.0\"
            EnableSimpleResponses: false
",
            "t.yaml:15: resource Api: property Auth.Authorizers.Custom.EnableSimpleResponses: \
             Lambda authorizer Custom: IAM policy responses are not emulated locally",
        ),
        (
            "            FunctionArn: !GetAtt AuthFunction.Arn
            AuthorizerPayloadFormatVersion: \"1.0\"
            EnableSimpleResponses: true
",
            "t.yaml:14: resource Api: property Auth.Authorizers.Custom.AuthorizerPayloadFormatVersion: \
             payload format 1.0 is not emulated locally",
        ),
        (
            "            FunctionArn: !GetAtt AuthFunction.Arn
            AuthorizerPayloadFormatVersion: \"2.0\"
            EnableSimpleResponses: true
            Identity:
              ReauthorizeEvery: 300
",
            "t.yaml:12: resource Api: property Auth.Authorizers.Custom: Lambda authorizer Custom \
             caches results (Identity.ReauthorizeEvery) but has no identity source",
        ),
        (
            "            FunctionArn: !GetAtt AuthFunction.Arn
            AuthorizerPayloadFormatVersion: \"2.0\"
            EnableSimpleResponses: true
            Identity:
              Headers: [Authorization]
              ReauthorizeEvery: 3601
",
            "t.yaml:18: resource Api: property Auth.Authorizers.Custom.Identity.ReauthorizeEvery: \
             3601 is above the maximum of 3600 seconds",
        ),
    ];
    for (authorizer, expected) in cases {
        let template = lambda_authorizer_template(authorizer);
        let message = provisioning_error(&template, &config, "refused").await;
        assert!(
            message.starts_with(expected),
            "{message}\nexpected: {expected}"
        );
    }
}
