//! Security controls template.yaml must keep (the threat model in SECURITY.md names each): who may
//! publish to the event topics, what the notifications sender may publish, what the authorizer
//! may read, the per-IP rate limits in front of the user pool and the API, and the user pool's
//! second factor and threat protection.

use clinic_journeys::template;
use serde_yaml::Value;

/// The event topics and the one function allowed to publish to each.
const TOPICS: [(&str, &str); 3] = [
    ("AccountsEventsTopic", "AccountsOutboxFunction"),
    ("ExamEventsTopic", "ExamResultsOutboxFunction"),
    ("FileEventsTopic", "FilesOutboxFunction"),
];

fn resources(template: &Value) -> Vec<(String, Value)> {
    template
        .get("Resources")
        .and_then(Value::as_mapping)
        .expect("Resources")
        .iter()
        .filter_map(|(k, v)| k.as_str().map(|k| (k.to_string(), v.clone())))
        .collect()
}

fn resource(template: &Value, name: &str) -> Value {
    template
        .get("Resources")
        .and_then(|r| r.get(name))
        .cloned()
        .unwrap_or_else(|| panic!("no resource {name}"))
}

/// `!Ref X` / `!GetAtt X.Y` / `{"Ref": X}` → `X` (or `X.Y`).
fn reference(value: &Value) -> Option<String> {
    match value {
        Value::Tagged(tagged) => tagged.value.as_str().map(str::to_string),
        Value::Mapping(map) => map
            .get("Ref")
            .or_else(|| map.get("Fn::GetAtt"))
            .and_then(Value::as_str)
            .map(str::to_string),
        _ => None,
    }
}

fn statements(function: &Value) -> Vec<Value> {
    function
        .get("Properties")
        .and_then(|p| p.get("Policies"))
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .filter_map(|policy| policy.get("Statement").and_then(Value::as_sequence))
        .flatten()
        .cloned()
        .collect()
}

fn strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Sequence(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

#[test]
fn each_event_topic_names_its_one_publisher() {
    let template = template();
    for (topic, publisher) in TOPICS {
        let policies: Vec<Value> = resources(&template)
            .into_iter()
            .map(|(_, r)| r)
            .filter(|r| r.get("Type").and_then(Value::as_str) == Some("AWS::SNS::TopicPolicy"))
            .filter(|r| {
                r.get("Properties")
                    .and_then(|p| p.get("Topics"))
                    .and_then(Value::as_sequence)
                    .is_some_and(|ts| ts.iter().any(|t| reference(t).as_deref() == Some(topic)))
            })
            .collect();
        assert_eq!(policies.len(), 1, "{topic} needs one topic policy");
        let topic_statements = policies[0]["Properties"]["PolicyDocument"]["Statement"]
            .as_sequence()
            .cloned()
            .unwrap_or_default();
        let guarded = topic_statements.iter().any(|s| {
            s.get("Effect").and_then(Value::as_str) == Some("Deny")
                && s.get("Principal").and_then(Value::as_str) == Some("*")
                && strings(s.get("Action")).contains(&"sns:Publish".to_string())
                && s.get("Condition")
                    .and_then(|c| c.get("ArnNotEquals"))
                    .and_then(|c| c.get("aws:PrincipalArn"))
                    .and_then(reference)
                    .as_deref()
                    == Some(&format!("{publisher}Role.Arn"))
        });
        assert!(
            guarded,
            "{topic}: publishing must be denied to every principal but {publisher}'s role"
        );
        // And no other function's own policy grants publishing to it.
        for (name, function) in resources(&template) {
            if function.get("Type").and_then(Value::as_str) != Some("AWS::Serverless::Function")
                || name == publisher
            {
                continue;
            }
            for statement in statements(&function) {
                let allows_publish = statement.get("Effect").and_then(Value::as_str)
                    == Some("Allow")
                    && strings(statement.get("Action")).contains(&"sns:Publish".to_string());
                let on_topic = match statement.get("Resource") {
                    Some(Value::Sequence(items)) => {
                        items.iter().any(|r| reference(r).as_deref() == Some(topic))
                    }
                    Some(r) => reference(r).as_deref() == Some(topic),
                    None => false,
                };
                assert!(
                    !(allows_publish && on_topic),
                    "{name} may publish to {topic}"
                );
            }
        }
    }
}

#[test]
fn the_notifications_sender_texts_phones_and_publishes_to_no_topic() {
    let template = template();
    let sender = resource(&template, "NotificationsSenderFunction");
    let sender_statements = statements(&sender);
    let publish: Vec<&Value> = sender_statements
        .iter()
        .filter(|s| strings(s.get("Action")).contains(&"sns:Publish".to_string()))
        .collect();
    assert!(
        publish.iter().any(|s| {
            s.get("Effect").and_then(Value::as_str) == Some("Deny")
                && serde_yaml::to_string(s.get("Resource").unwrap_or(&Value::Null))
                    .unwrap_or_default()
                    .contains(":sns:*:*:*")
        }),
        "sns:Publish to \"*\" (phone numbers) needs a Deny on every topic ARN: {publish:?}"
    );
}

#[test]
fn the_authorizer_reads_only_hospital_client_items() {
    let template = template();
    let authorizer = resource(&template, "AccountsAuthorizerFunction");
    for statement in statements(&authorizer) {
        if statement.get("Effect").and_then(Value::as_str) != Some("Allow") {
            continue;
        }
        let actions = strings(statement.get("Action"));
        if !actions.iter().any(|a| a.starts_with("dynamodb:")) {
            continue;
        }
        assert_eq!(actions, ["dynamodb:GetItem"], "{statement:?}");
        let leading = statement
            .get("Condition")
            .and_then(|c| c.get("ForAllValues:StringLike"))
            .and_then(|c| c.get("dynamodb:LeadingKeys"));
        assert_eq!(
            strings(leading),
            ["HOSPITALCLIENT#*"],
            "the authorizer must not read profiles: {statement:?}"
        );
    }
}

#[test]
fn public_routes_and_the_user_pool_are_rate_limited_per_ip() {
    let template = template();
    let association = resource(&template, "UserPoolWebAclAssociation");
    assert_eq!(
        reference(&association["Properties"]["ResourceArn"]).as_deref(),
        Some("UserPool.Arn")
    );
    let rate_limited = |acl: &Value| -> Vec<(u64, String)> {
        acl["Properties"]["Rules"]
            .as_sequence()
            .into_iter()
            .flatten()
            .filter_map(|rule| {
                let rate = rule["Statement"].get("RateBasedStatement")?;
                (rate["AggregateKeyType"].as_str() == Some("IP")
                    && rule["Action"].get("Block").is_some())
                .then(|| {
                    (
                        rate["Limit"].as_u64().unwrap_or(u64::MAX),
                        serde_yaml::to_string(rate).unwrap_or_default(),
                    )
                })
            })
            .collect()
    };
    let pool = resource(&template, "UserPoolWebAcl");
    assert_eq!(pool["Properties"]["Scope"].as_str(), Some("REGIONAL"));
    assert!(
        !rate_limited(&pool).is_empty(),
        "the user pool needs a per-IP limit"
    );

    let edge = resource(&template, "ApiEdgeWebAcl");
    assert_eq!(edge["Properties"]["Scope"].as_str(), Some("CLOUDFRONT"));
    let rules = rate_limited(&edge);
    for path in ["/v1/accounts/", "/v1/auth/", "/v1/exams:claim"] {
        assert!(
            rules
                .iter()
                .any(|(limit, rule)| *limit <= 300 && rule.contains(path)),
            "no per-IP limit on {path}: {rules:?}"
        );
    }
    let distribution = resource(&template, "PortalDistribution");
    let acl = serde_yaml::to_string(&distribution["Properties"]["DistributionConfig"]["WebACLId"])
        .unwrap_or_default();
    assert!(
        acl.contains("ApiEdgeWebAcl"),
        "the distribution must use the edge web ACL: {acl}"
    );
}

#[test]
fn the_user_pool_offers_totp_and_protects_sign_ins() {
    let template = template();
    let pool = resource(&template, "UserPool");
    let props = &pool["Properties"];
    assert_eq!(props["MfaConfiguration"].as_str(), Some("OPTIONAL"));
    assert_eq!(strings(props.get("EnabledMfas")), ["SOFTWARE_TOKEN_MFA"]);
    assert_eq!(
        props["UserPoolAddOns"]["AdvancedSecurityMode"].as_str(),
        Some("ENFORCED")
    );
    // The API enforces the second factor for these roles; their groups must exist.
    for group in clinic_accounts::app::MFA_GROUPS {
        assert!(
            resources(&template).iter().any(|(_, r)| {
                r.get("Type").and_then(Value::as_str) == Some("AWS::Cognito::UserPoolGroup")
                    && r["Properties"]["GroupName"].as_str() == Some(group)
            }),
            "no group {group}"
        );
    }
}
