//! Least privilege and the security controls of `template.yaml`, as rules over the parsed
//! template: no wildcard resource or action in a function's policy unless listed below with its
//! reason; no function reaching another service's table, topic, queue or bucket; every bucket
//! private, TLS-only and encrypted with KMS; every queue with a dead-letter queue; every function
//! with a log group that expires; and the controls the template promises — one publisher per
//! event topic, SMS-only publishing for notifications, the authorizer's key condition, the WAF
//! web ACLs, TOTP and threat protection on the user pool.
//!
//! Each rule is a function from the template to its violations. The `rules_catch_*` tests break a
//! copy of the template on purpose and check that the rule notices, so a rule cannot silently
//! stop checking.

use std::collections::{BTreeMap, BTreeSet};

use clinic_journeys::root;
use serde_yaml::Value;

/// Wildcard resources a function may hold, by function and statement `Sid`, with the reason.
const WILDCARD_ALLOWED: &[(&str, &str, &str)] = &[(
    "NotificationsSenderFunction",
    "SendSms",
    "sns:Publish to a phone number has no resource ARN to name; the function's \
     NoTopicsOrEndpoints statement denies every topic and endpoint ARN",
)];

/// Buckets encrypted otherwise than with KMS, with the reason.
const NON_KMS_BUCKETS: &[(&str, &str)] = &[(
    "PortalBucket",
    "the portal's static files (no personal data) are read by CloudFront's origin access \
     control, which cannot decrypt objects under the AWS-managed S3 key; SSE-S3 instead",
)];

/// Topics that carry no events between services, with the reason.
const NON_EVENT_TOPICS: &[(&str, &str)] = &[(
    "AlarmTopic",
    "CloudWatch alarms publish to it; no function does",
)];

/// The service each resource belongs to, by logical id prefix; `None` for resources shared by
/// the whole stack (the API, the portal, alarms).
fn owner(logical_id: &str) -> Option<&'static str> {
    const OWNERS: &[(&str, &str)] = &[
        ("Accounts", "accounts"),
        ("UserPool", "accounts"),
        ("IngestResourceServer", "accounts"),
        ("ExamResults", "exam-results"),
        ("ExamEvents", "exam-results"),
        ("Files", "file-management"),
        ("FileEvents", "file-management"),
        ("Uploads", "file-management"),
        ("Results", "file-management"),
        ("Reports", "file-management"),
        ("Notifications", "notifications"),
    ];
    OWNERS
        .iter()
        .find(|(prefix, _)| logical_id.starts_with(prefix))
        .map(|(_, service)| *service)
}

// --- reading the template ------------------------------------------------------------------------

fn template_text() -> String {
    std::fs::read_to_string(root().join("template.yaml")).expect("template.yaml is readable")
}

fn parse(text: &str) -> Value {
    serde_yaml::from_str(text).expect("template.yaml is YAML")
}

fn resources(template: &Value) -> Vec<(String, &Value)> {
    template
        .get("Resources")
        .and_then(Value::as_mapping)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.as_str().unwrap_or_default().to_string(), v))
                .collect()
        })
        .unwrap_or_default()
}

fn of_type<'a>(template: &'a Value, kind: &str) -> Vec<(String, &'a Value)> {
    resources(template)
        .into_iter()
        .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some(kind))
        .collect()
}

fn props(resource: &Value) -> &Value {
    static NULL: Value = Value::Null;
    resource.get("Properties").unwrap_or(&NULL)
}

/// A scalar or a list, as a list.
fn list(value: Option<&Value>) -> Vec<&Value> {
    match value {
        Some(Value::Sequence(items)) => items.iter().collect(),
        Some(other) => vec![other],
        None => Vec::new(),
    }
}

fn strings(value: Option<&Value>) -> Vec<String> {
    list(value)
        .into_iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

/// `(tag, value)` of a short-form intrinsic (`!Ref X` → `("!Ref", "X")`).
fn tagged(value: &Value) -> Option<(String, &Value)> {
    match value {
        Value::Tagged(t) => Some((t.tag.to_string(), &t.value)),
        _ => None,
    }
}

/// The names a `!Sub` string refers to (`${X}`, `${X.Arn}` → `X`).
fn sub_names(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        let name = after[..end].split('.').next().unwrap_or_default();
        if !name.starts_with('!') {
            names.push(name.to_string());
        }
        rest = &after[end..];
    }
    names
}

/// Every logical id or parameter an expression refers to (pseudo parameters left out).
fn references(value: &Value) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    collect_references(value, &mut found);
    found.retain(|name| !name.starts_with("AWS::"));
    found
}

fn collect_references(value: &Value, found: &mut BTreeSet<String>) {
    if let Some((tag, inner)) = tagged(value) {
        match (tag.as_str(), inner) {
            ("!Ref", Value::String(name)) => {
                found.insert(name.clone());
            }
            ("!GetAtt", Value::String(path)) => {
                found.insert(path.split('.').next().unwrap_or_default().to_string());
            }
            ("!GetAtt", Value::Sequence(parts)) => {
                if let Some(name) = parts.first().and_then(Value::as_str) {
                    found.insert(name.to_string());
                }
            }
            ("!Sub", Value::String(text)) => found.extend(sub_names(text)),
            ("!Sub", Value::Sequence(parts)) => {
                let locals: BTreeSet<String> = parts
                    .get(1)
                    .and_then(Value::as_mapping)
                    .map(|m| {
                        m.keys()
                            .filter_map(|k| k.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                if let Some(text) = parts.first().and_then(Value::as_str) {
                    found.extend(sub_names(text).into_iter().filter(|n| !locals.contains(n)));
                }
                if let Some(vars) = parts.get(1) {
                    collect_references(vars, found);
                }
            }
            (_, inner) => collect_references(inner, found),
        }
        return;
    }
    match value {
        Value::Sequence(items) => items.iter().for_each(|i| collect_references(i, found)),
        Value::Mapping(map) => map.values().for_each(|v| collect_references(v, found)),
        _ => {}
    }
}

/// The one logical id an expression names (`!Ref X`, `!GetAtt X.Arn`).
fn names(value: &Value) -> Option<String> {
    let refs = references(value);
    (refs.len() == 1).then(|| refs.into_iter().next().unwrap_or_default())
}

fn parameters(template: &Value) -> BTreeSet<String> {
    template
        .get("Parameters")
        .and_then(Value::as_mapping)
        .map(|m| {
            m.keys()
                .filter_map(|k| k.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// A function's policy statements: `(sid, statement)`; SAM policy templates and managed policy
/// names are returned as problems.
fn statements(function: &str, resource: &Value) -> (Vec<(String, Value)>, Vec<String>) {
    let mut found = Vec::new();
    let mut problems = Vec::new();
    for policy in list(props(resource).get("Policies")) {
        match policy.get("Statement") {
            Some(statements) => {
                for (i, statement) in list(Some(statements)).into_iter().enumerate() {
                    let sid = statement
                        .get("Sid")
                        .and_then(Value::as_str)
                        .map_or_else(|| format!("#{i}"), str::to_string);
                    found.push((sid, statement.clone()));
                }
            }
            None => problems.push(format!(
                "{function}: policy {policy:?} is not an inline statement list (SAM policy \
                 templates and managed policies grant more than they name)"
            )),
        }
    }
    (found, problems)
}

fn effect(statement: &Value) -> &str {
    statement
        .get("Effect")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn functions(template: &Value) -> Vec<(String, &Value)> {
    of_type(template, "AWS::Serverless::Function")
}

// --- rules ---------------------------------------------------------------------------------------

/// No `*` resource or wildcard action in an Allow, except the listed ones, which must come with
/// their paired Deny.
fn wildcard_grants(template: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    for (function, resource) in functions(template) {
        let (statements, mut bad) = statements(&function, resource);
        problems.append(&mut bad);
        for (sid, statement) in &statements {
            if effect(statement) != "Allow" {
                continue;
            }
            for action in strings(statement.get("Action")) {
                if action == "*" || action.ends_with(":*") {
                    problems.push(format!("{function}/{sid}: wildcard action {action}"));
                }
            }
            if statement.get("NotAction").is_some() || statement.get("NotResource").is_some() {
                problems.push(format!(
                    "{function}/{sid}: NotAction/NotResource in an Allow"
                ));
            }
            // Plain strings (serde_yaml's `as_str` also reads through `!Sub` tags: skip those).
            let plain: Vec<&str> = list(statement.get("Resource"))
                .into_iter()
                .filter_map(|r| match r {
                    Value::String(s) => Some(s.as_str()),
                    _ => None,
                })
                .collect();
            let wildcard = plain.iter().any(|s| s.trim() == "*");
            let literal: Vec<&&str> = plain.iter().filter(|s| s.trim() != "*").collect();
            if !literal.is_empty() {
                problems.push(format!(
                    "{function}/{sid}: literal resources {literal:?} name nothing of this stack"
                ));
            }
            if !wildcard {
                continue;
            }
            if !WILDCARD_ALLOWED
                .iter()
                .any(|(f, s, _)| *f == function && s == sid)
            {
                problems.push(format!(
                    "{function}/{sid}: Resource \"*\" (list it in WILDCARD_ALLOWED with its reason, \
                     or name the resources)"
                ));
                continue;
            }
            // The exception stands only with a Deny on every ARN of the same actions.
            let actions = strings(statement.get("Action"));
            let paired = statements.iter().any(|(_, deny)| {
                effect(deny) == "Deny"
                    && actions
                        .iter()
                        .all(|a| strings(deny.get("Action")).contains(a))
                    && list(deny.get("Resource")).into_iter().any(|r| {
                        tagged(r).is_some_and(|(_, v)| {
                            v.as_str()
                                .is_some_and(|s| s.ends_with(":*:*:*") || s.ends_with(":*"))
                        })
                    })
            });
            if !paired {
                problems.push(format!(
                    "{function}/{sid}: allowed on \"*\" without its Deny on every ARN of {actions:?}"
                ));
            }
        }
    }
    problems
}

/// A function reaches only its own service's resources (policies, environment, event sources).
fn cross_service_access(template: &Value) -> Vec<String> {
    let params = parameters(template);
    let mut problems = Vec::new();
    for (function, resource) in functions(template) {
        let Some(service) = owner(&function) else {
            problems.push(format!(
                "{function}: belongs to no service (extend `owner`)"
            ));
            continue;
        };
        let mut reached: BTreeMap<String, &str> = BTreeMap::new();
        let (statements, _) = statements(&function, resource);
        for (_, statement) in &statements {
            if effect(statement) == "Allow" {
                for name in references(statement.get("Resource").unwrap_or(&Value::Null)) {
                    reached.insert(name, "policy");
                }
            }
        }
        let env = props(resource)
            .get("Environment")
            .and_then(|e| e.get("Variables"));
        for name in references(env.unwrap_or(&Value::Null)) {
            reached.entry(name).or_insert("environment");
        }
        if let Some(events) = props(resource).get("Events").and_then(Value::as_mapping) {
            for event in events.values() {
                if event.get("Type").and_then(Value::as_str) == Some("HttpApi") {
                    continue;
                }
                for name in references(event.get("Properties").unwrap_or(&Value::Null)) {
                    reached.entry(name).or_insert("event source");
                }
            }
        }
        for (name, via) in reached {
            if params.contains(&name) {
                continue;
            }
            match owner(&name) {
                Some(other) if other == service => {}
                Some(other) => problems.push(format!(
                    "{function} ({service}) reaches {name} of {other} through its {via}"
                )),
                None => problems.push(format!(
                    "{function} ({service}) reaches {name}, which belongs to no service, through its {via}"
                )),
            }
        }
    }
    problems
}

/// Every bucket: public access blocked, KMS encryption (or a listed exception), a TLS-only
/// policy over the bucket and its objects.
fn bucket_controls(template: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let policies = of_type(template, "AWS::S3::BucketPolicy");
    for (bucket, resource) in of_type(template, "AWS::S3::Bucket") {
        let p = props(resource);
        let block = p.get("PublicAccessBlockConfiguration");
        for flag in [
            "BlockPublicAcls",
            "BlockPublicPolicy",
            "IgnorePublicAcls",
            "RestrictPublicBuckets",
        ] {
            if block.and_then(|b| b.get(flag)).and_then(Value::as_bool) != Some(true) {
                problems.push(format!("{bucket}: {flag} is not true"));
            }
        }
        let algorithms: Vec<String> = p
            .get("BucketEncryption")
            .and_then(|e| e.get("ServerSideEncryptionConfiguration"))
            .map(|c| {
                list(Some(c))
                    .into_iter()
                    .filter_map(|rule| {
                        rule.get("ServerSideEncryptionByDefault")
                            .and_then(|d| d.get("SSEAlgorithm"))
                            .and_then(Value::as_str)
                            .map(str::to_string)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let kms = !algorithms.is_empty() && algorithms.iter().all(|a| a.starts_with("aws:kms"));
        // A listed exception still needs some encryption.
        let excepted = NON_KMS_BUCKETS.iter().any(|(b, _)| *b == bucket) && !algorithms.is_empty();
        if !kms && !excepted {
            problems.push(format!(
                "{bucket}: encrypted with {algorithms:?}, not SSE-KMS (list it in NON_KMS_BUCKETS with its reason)"
            ));
        }
        let tls_only = policies.iter().any(|(_, policy)| {
            let pp = props(policy);
            names(pp.get("Bucket").unwrap_or(&Value::Null)).as_deref() == Some(bucket.as_str())
                && list(pp.get("PolicyDocument").and_then(|d| d.get("Statement")))
                    .into_iter()
                    .any(|s| {
                        let resources: Vec<String> = list(s.get("Resource"))
                            .into_iter()
                            .map(|r| format!("{r:?}"))
                            .collect();
                        effect(s) == "Deny"
                            && s.get("Principal").and_then(Value::as_str) == Some("*")
                            && s.get("Condition")
                                .and_then(|c| c.get("Bool"))
                                .and_then(|b| b.get("aws:SecureTransport"))
                                .is_some_and(|v| {
                                    v.as_str() == Some("false") || v.as_bool() == Some(false)
                                })
                            && resources
                                .iter()
                                .any(|r| r.contains(".Arn") && !r.contains("/*"))
                            && resources.iter().any(|r| r.contains("/*"))
                    })
        });
        if !tls_only {
            problems.push(format!(
                "{bucket}: no bucket policy denying requests without TLS on the bucket and its objects"
            ));
        }
    }
    problems
}

/// Every queue has a dead-letter queue, unless it is one (a redrive target) or a failure
/// destination of a stream; a DLQ keeps messages at least as long as its source.
fn queues_have_dead_letter_queues(template: &Value) -> Vec<String> {
    let queues = of_type(template, "AWS::SQS::Queue");
    let mut dead_letter: BTreeMap<String, String> = BTreeMap::new();
    for (queue, resource) in &queues {
        if let Some(target) = props(resource)
            .get("RedrivePolicy")
            .and_then(|r| r.get("deadLetterTargetArn"))
            .and_then(names)
        {
            dead_letter.insert(target, queue.clone());
        }
    }
    let mut failure_destinations = BTreeSet::new();
    for (_, function) in functions(template) {
        if let Some(events) = props(function).get("Events").and_then(Value::as_mapping) {
            for event in events.values() {
                if let Some(dest) = event
                    .get("Properties")
                    .and_then(|p| p.get("DestinationConfig"))
                    .and_then(|d| d.get("OnFailure"))
                    .and_then(|f| f.get("Destination"))
                    .and_then(names)
                {
                    failure_destinations.insert(dest);
                }
            }
        }
    }
    let retention = |resource: &Value| {
        props(resource)
            .get("MessageRetentionPeriod")
            .and_then(Value::as_u64)
            .unwrap_or(345_600)
    };
    let by_name: BTreeMap<&String, &Value> = queues.iter().map(|(n, r)| (n, *r)).collect();
    let mut problems = Vec::new();
    for (queue, resource) in &queues {
        if dead_letter.contains_key(queue) || failure_destinations.contains(queue) {
            continue;
        }
        let redrive = props(resource).get("RedrivePolicy");
        let Some(target) = redrive
            .and_then(|r| r.get("deadLetterTargetArn"))
            .and_then(names)
        else {
            problems.push(format!("{queue}: no dead-letter queue (RedrivePolicy)"));
            continue;
        };
        if redrive
            .and_then(|r| r.get("maxReceiveCount"))
            .and_then(Value::as_u64)
            .is_none()
        {
            problems.push(format!("{queue}: RedrivePolicy without maxReceiveCount"));
        }
        match by_name.get(&target) {
            None => problems.push(format!(
                "{queue}: dead-letter queue {target} is not a queue"
            )),
            Some(dlq) if retention(dlq) < retention(resource) => problems.push(format!(
                "{queue}: its dead-letter queue {target} keeps messages for less time than it does"
            )),
            Some(_) => {}
        }
    }
    for (function, resource) in functions(template) {
        if let Some(events) = props(resource).get("Events").and_then(Value::as_mapping) {
            for (name, event) in events {
                if event.get("Type").and_then(Value::as_str) == Some("SQS")
                    && !strings(
                        event
                            .get("Properties")
                            .and_then(|p| p.get("FunctionResponseTypes")),
                    )
                    .contains(&"ReportBatchItemFailures".to_string())
                {
                    problems.push(format!(
                        "{function}/{name:?}: SQS event without ReportBatchItemFailures"
                    ));
                }
            }
        }
    }
    problems
}

/// Every function has `/aws/lambda/<function>` as a log group with a retention.
fn functions_have_log_groups(template: &Value) -> Vec<String> {
    let groups = of_type(template, "AWS::Logs::LogGroup");
    functions(template)
        .into_iter()
        .filter_map(|(function, _)| {
            let expected = format!("/aws/lambda/${{{function}}}");
            let group = groups.iter().find(|(_, g)| {
                props(g)
                    .get("LogGroupName")
                    .and_then(tagged)
                    .and_then(|(_, v)| v.as_str().map(str::to_string))
                    .as_deref()
                    == Some(expected.as_str())
            });
            match group {
                None => Some(format!("{function}: no log group {expected}")),
                Some((name, g)) if props(g).get("RetentionInDays").is_none() => {
                    Some(format!("{function}: log group {name} keeps logs for ever"))
                }
                Some(_) => None,
            }
        })
        .collect()
}

/// Each event topic has exactly one publishing function and a topic policy denying `Publish` to
/// every principal but that function's role.
fn one_publisher_per_topic(template: &Value) -> Vec<String> {
    let mut publishers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (function, resource) in functions(template) {
        let (statements, _) = statements(&function, resource);
        for (_, statement) in statements {
            if effect(&statement) == "Allow"
                && strings(statement.get("Action")).contains(&"sns:Publish".to_string())
            {
                for topic in references(statement.get("Resource").unwrap_or(&Value::Null)) {
                    publishers.entry(topic).or_default().push(function.clone());
                }
            }
        }
    }
    let policies = of_type(template, "AWS::SNS::TopicPolicy");
    let mut problems = Vec::new();
    for (topic, _) in of_type(template, "AWS::SNS::Topic") {
        if NON_EVENT_TOPICS.iter().any(|(t, _)| *t == topic) {
            continue;
        }
        let Some(functions) = publishers.get(&topic) else {
            problems.push(format!(
                "{topic}: no function publishes it (list it in NON_EVENT_TOPICS?)"
            ));
            continue;
        };
        if functions.len() != 1 {
            problems.push(format!(
                "{topic}: published by {functions:?}, not by one function"
            ));
            continue;
        }
        let role = format!("{}Role", functions[0]);
        let guarded = policies.iter().any(|(_, policy)| {
            let p = props(policy);
            list(p.get("Topics"))
                .into_iter()
                .any(|t| names(t).as_deref() == Some(topic.as_str()))
                && list(p.get("PolicyDocument").and_then(|d| d.get("Statement")))
                    .into_iter()
                    .any(|s| {
                        effect(s) == "Deny"
                            && s.get("Principal").and_then(Value::as_str) == Some("*")
                            && strings(s.get("Action")).contains(&"sns:Publish".to_string())
                            && s.get("Condition")
                                .and_then(|c| c.get("ArnNotEquals"))
                                .and_then(|c| c.get("aws:PrincipalArn"))
                                .and_then(names)
                                .as_deref()
                                == Some(role.as_str())
                    })
        });
        if !guarded {
            problems.push(format!(
                "{topic}: no topic policy denying sns:Publish to every principal but {role}"
            ));
        }
    }
    problems
}

/// The notifications sender publishes SMS only: a Deny on every topic and endpoint ARN.
fn sms_only_publishing(template: &Value) -> Vec<String> {
    let Some((_, sender)) = functions(template)
        .into_iter()
        .find(|(f, _)| f == "NotificationsSenderFunction")
    else {
        return vec!["NotificationsSenderFunction is missing".into()];
    };
    let (statements, _) = statements("NotificationsSenderFunction", sender);
    let denied = statements.iter().any(|(_, s)| {
        effect(s) == "Deny"
            && strings(s.get("Action")).contains(&"sns:Publish".to_string())
            && list(s.get("Resource")).into_iter().any(|r| {
                tagged(r)
                    .is_some_and(|(_, v)| v.as_str() == Some("arn:${AWS::Partition}:sns:*:*:*"))
            })
    });
    if denied {
        Vec::new()
    } else {
        vec!["NotificationsSenderFunction: no Deny of sns:Publish on arn:…:sns:*:*:*".into()]
    }
}

/// The Lambda authorizer reads only `HOSPITALCLIENT#…` items of the accounts table.
fn authorizer_reads_hospital_clients_only(template: &Value) -> Vec<String> {
    let Some((_, authorizer)) = functions(template)
        .into_iter()
        .find(|(f, _)| f == "AccountsAuthorizerFunction")
    else {
        return vec!["AccountsAuthorizerFunction is missing".into()];
    };
    let (statements, _) = statements("AccountsAuthorizerFunction", authorizer);
    let mut problems = Vec::new();
    let mut conditioned = 0;
    for (sid, s) in &statements {
        if effect(s) != "Allow" {
            continue;
        }
        let actions = strings(s.get("Action"));
        if !actions.iter().all(|a| a == "dynamodb:GetItem") {
            problems.push(format!(
                "AccountsAuthorizerFunction/{sid}: grants {actions:?}"
            ));
        }
        let keys = s
            .get("Condition")
            .and_then(|c| c.get("ForAllValues:StringLike"))
            .and_then(|c| c.get("dynamodb:LeadingKeys"));
        if strings(keys) == ["HOSPITALCLIENT#*"] {
            conditioned += 1;
        } else {
            problems.push(format!(
                "AccountsAuthorizerFunction/{sid}: no ForAllValues:StringLike dynamodb:LeadingKeys [HOSPITALCLIENT#*]"
            ));
        }
    }
    if conditioned == 0 {
        problems
            .push("AccountsAuthorizerFunction: no statement with the LeadingKeys condition".into());
    }
    problems
}

fn rate_based_blocks(acl: &Value) -> usize {
    list(props(acl).get("Rules"))
        .into_iter()
        .filter(|rule| {
            rule.get("Statement")
                .and_then(|s| s.get("RateBasedStatement"))
                .and_then(|r| r.get("Limit"))
                .and_then(Value::as_u64)
                .is_some()
                && rule.get("Action").and_then(|a| a.get("Block")).is_some()
        })
        .count()
}

/// WAF: rate-based blocking rules on the user pool (associated with it) and on the CloudFront
/// distribution in front of the API.
fn web_acls(template: &Value) -> Vec<String> {
    let acls = of_type(template, "AWS::WAFv2::WebACL");
    let mut problems = Vec::new();
    let associations = of_type(template, "AWS::WAFv2::WebACLAssociation");
    let pool_acl = associations.iter().find_map(|(_, a)| {
        let p = props(a);
        (names(p.get("ResourceArn").unwrap_or(&Value::Null)).as_deref() == Some("UserPool"))
            .then(|| names(p.get("WebACLArn").unwrap_or(&Value::Null)))
            .flatten()
    });
    match pool_acl.and_then(|name| acls.iter().find(|(n, _)| *n == name)) {
        None => problems.push("UserPool: no web ACL associated".into()),
        Some((name, acl)) => {
            if props(acl).get("Scope").and_then(Value::as_str) != Some("REGIONAL") {
                problems.push(format!("{name}: a user pool's web ACL must be REGIONAL"));
            }
            if rate_based_blocks(acl) == 0 {
                problems.push(format!("{name}: no rate-based blocking rule"));
            }
        }
    }
    let edge = of_type(template, "AWS::CloudFront::Distribution")
        .into_iter()
        .find_map(|(_, d)| {
            let id = props(d)
                .get("DistributionConfig")
                .and_then(|c| c.get("WebACLId"))?;
            references(id)
                .into_iter()
                .find(|n| acls.iter().any(|(a, _)| a == n))
        });
    match edge.and_then(|name| acls.iter().find(|(n, _)| *n == name)) {
        None => problems.push("the CloudFront distribution has no web ACL".into()),
        Some((name, acl)) => {
            if props(acl).get("Scope").and_then(Value::as_str) != Some("CLOUDFRONT") {
                problems.push(format!(
                    "{name}: the distribution's web ACL must be CLOUDFRONT"
                ));
            }
            if rate_based_blocks(acl) < 2 {
                problems.push(format!(
                    "{name}: rate-based blocking rules for the public routes and for all routes expected"
                ));
            }
        }
    }
    problems
}

/// TOTP available (required of staff and doctors by the API) and threat protection enforced.
fn user_pool_protections(template: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let pools = of_type(template, "AWS::Cognito::UserPool");
    if pools.is_empty() {
        problems.push("no user pool".into());
    }
    for (pool, resource) in pools {
        let p = props(resource);
        let mfa = p.get("MfaConfiguration").and_then(Value::as_str);
        if !matches!(mfa, Some("ON" | "OPTIONAL")) {
            problems.push(format!("{pool}: MfaConfiguration is {mfa:?}"));
        }
        if !strings(p.get("EnabledMfas")).contains(&"SOFTWARE_TOKEN_MFA".to_string()) {
            problems.push(format!("{pool}: SOFTWARE_TOKEN_MFA not among EnabledMfas"));
        }
        let mode = p
            .get("UserPoolAddOns")
            .and_then(|a| a.get("AdvancedSecurityMode"))
            .and_then(Value::as_str);
        if mode != Some("ENFORCED") {
            problems.push(format!("{pool}: AdvancedSecurityMode is {mode:?}"));
        }
    }
    problems
}

type Rule = fn(&Value) -> Vec<String>;

const RULES: &[(&str, Rule)] = &[
    ("wildcard grants", wildcard_grants),
    ("cross-service access", cross_service_access),
    ("bucket controls", bucket_controls),
    ("dead-letter queues", queues_have_dead_letter_queues),
    ("log groups", functions_have_log_groups),
    ("one publisher per topic", one_publisher_per_topic),
    ("SMS-only publishing", sms_only_publishing),
    (
        "authorizer key condition",
        authorizer_reads_hospital_clients_only,
    ),
    ("web ACLs", web_acls),
    ("user pool protections", user_pool_protections),
];

#[test]
fn the_template_follows_every_rule() {
    let template = parse(&template_text());
    let mut failures = Vec::new();
    for (name, rule) in RULES {
        for problem in rule(&template) {
            failures.push(format!("[{name}] {problem}"));
        }
    }
    println!(
        "{} functions, {} buckets, {} queues, {} topics checked against {} rules",
        functions(&template).len(),
        of_type(&template, "AWS::S3::Bucket").len(),
        of_type(&template, "AWS::SQS::Queue").len(),
        of_type(&template, "AWS::SNS::Topic").len(),
        RULES.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `template.yaml` with `from` replaced by `to` (which must occur).
fn broken(from: &str, to: &str) -> Value {
    let text = template_text();
    assert!(
        text.contains(from),
        "the template no longer contains {from:?}"
    );
    parse(&text.replacen(from, to, 1))
}

fn caught(rule: Rule, template: &Value, needle: &str) {
    let problems = rule(template);
    assert!(
        problems.iter().any(|p| p.contains(needle)),
        "expected a problem naming {needle:?}, got {problems:?}"
    );
}

#[test]
fn rules_catch_wildcards_and_cross_service_grants() {
    caught(
        wildcard_grants,
        &broken(
            "              Action: sns:Publish\n              Resource: !Ref AccountsEventsTopic",
            "              Action: sns:Publish\n              Resource: \"*\"",
        ),
        "AccountsOutboxFunction/PublishEvents: Resource \"*\"",
    );
    caught(
        wildcard_grants,
        &broken(
            "            - Sid: NoTopicsOrEndpoints\n              Effect: Deny",
            "            - Sid: NoTopicsOrEndpoints\n              Effect: Allow",
        ),
        "without its Deny",
    );
    caught(
        wildcard_grants,
        &broken(
            "                - dynamodb:GetItem\n",
            "                - dynamodb:*\n",
        ),
        "wildcard action dynamodb:*",
    );
    caught(
        cross_service_access,
        &broken(
            "              Action: sqs:SendMessage\n              Resource: !GetAtt ExamResultsIngestQueue.Arn",
            "              Action: sqs:SendMessage\n              Resource: !GetAtt NotificationsQueue.Arn",
        ),
        "ExamResultsApiFunction (exam-results) reaches NotificationsQueue of notifications",
    );
    caught(
        cross_service_access,
        &broken(
            "          TABLE_NAME: !Ref NotificationsTable\n",
            "          TABLE_NAME: !Ref AccountsTable\n",
        ),
        "reaches AccountsTable of accounts through its environment",
    );
}

#[test]
fn rules_catch_open_buckets_queues_without_dlq_and_missing_logs() {
    caught(
        bucket_controls,
        &broken(
            "        RestrictPublicBuckets: true\n",
            "        RestrictPublicBuckets: false\n",
        ),
        "RestrictPublicBuckets is not true",
    );
    caught(
        bucket_controls,
        &broken(
            "              SSEAlgorithm: aws:kms\n",
            "              SSEAlgorithm: AES256\n",
        ),
        "not SSE-KMS",
    );
    caught(
        bucket_controls,
        &broken(
            "                aws:SecureTransport: \"false\"",
            "                aws:SecureTransport: \"true\"",
        ),
        "without TLS",
    );
    let text = template_text();
    let start = text.find("  NotificationsQueue:\n").expect("queue");
    let redrive = text[start..].find("      RedrivePolicy:").expect("redrive") + start;
    let end = text[redrive..].find("maxReceiveCount").expect("count") + redrive;
    let line_end = text[end..].find('\n').expect("eol") + end + 1;
    let without = format!("{}{}", &text[..redrive], &text[line_end..]);
    caught(
        queues_have_dead_letter_queues,
        &parse(&without),
        "NotificationsQueue: no dead-letter queue",
    );
    caught(
        functions_have_log_groups,
        &broken(
            "      LogGroupName: !Sub /aws/lambda/${AccountsAuthorizerFunction}\n      RetentionInDays: !Ref LogRetentionDays\n",
            "      LogGroupName: !Sub /aws/lambda/${AccountsAuthorizerFunction}\n",
        ),
        "AccountsAuthorizerFunction: log group",
    );
}

#[test]
fn rules_catch_weakened_security_controls() {
    caught(
        one_publisher_per_topic,
        &broken(
            "                aws:PrincipalArn: !GetAtt AccountsOutboxFunctionRole.Arn",
            "                aws:PrincipalArn: !GetAtt AccountsApiFunctionRole.Arn",
        ),
        "AccountsEventsTopic: no topic policy",
    );
    caught(
        sms_only_publishing,
        &broken(
            "arn:${AWS::Partition}:sns:*:*:*",
            "arn:${AWS::Partition}:sns:*:*:nothing",
        ),
        "no Deny",
    );
    caught(
        authorizer_reads_hospital_clients_only,
        &broken(
            "                    - \"HOSPITALCLIENT#*\"",
            "                    - \"*\"",
        ),
        "LeadingKeys",
    );
    caught(
        web_acls,
        &broken(
            "      ResourceArn: !GetAtt UserPool.Arn",
            "      ResourceArn: !GetAtt HttpApi.Arn",
        ),
        "UserPool: no web ACL",
    );
    caught(
        user_pool_protections,
        &broken(
            "        AdvancedSecurityMode: ENFORCED",
            "        AdvancedSecurityMode: AUDIT",
        ),
        "AdvancedSecurityMode",
    );
    caught(
        user_pool_protections,
        &broken(
            "      MfaConfiguration: OPTIONAL",
            "      MfaConfiguration: \"OFF\"",
        ),
        "MfaConfiguration",
    );
}
