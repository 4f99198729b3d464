//! Rules template.yaml must keep for the file-management data: every audit partition of
//! `FilesTable` has exactly one function that may write it, nobody may update or delete its
//! entries, and its writer may not give them the table's TTL attribute; report files expire in the
//! results bucket when the API stops handing them out.

use clinic_file_management::domain::values::REPORT_RETENTION_DAYS;
use clinic_journeys::template;
use serde_yaml::Value;

const TABLE: &str = "FilesTable";
/// Audit partitions (as `dynamodb:LeadingKeys` patterns) and the one function writing each.
const AUDIT_PARTITIONS: [(&str, &str); 2] = [
    ("ACCESS#*", "FilesApiFunction"),
    ("ERASED#*", "FilesProjectionFunction"),
];
const WRITE_ACTIONS: [&str; 4] = [
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
];
/// Whether `value` (scalars, lists, maps, CloudFormation tags) mentions `needle` anywhere.
fn mentions(value: &Value, needle: &str) -> bool {
    match value {
        Value::String(s) => s.contains(needle),
        Value::Sequence(items) => items.iter().any(|v| mentions(v, needle)),
        Value::Mapping(map) => map
            .iter()
            .any(|(k, v)| mentions(k, needle) || mentions(v, needle)),
        Value::Tagged(tagged) => mentions(&tagged.value, needle),
        _ => false,
    }
}

/// A string or a list of strings, as IAM allows for `Action` and condition values.
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

fn covers(actions: &[String], action: &str) -> bool {
    actions.iter().any(|a| a == action || a == "dynamodb:*")
}

/// Every serverless function with its policy statements; a SAM policy template naming the table
/// (which could grant writes no statement here shows) is reported as a problem.
fn functions(template: &Value, problems: &mut Vec<String>) -> Vec<(String, Vec<Value>)> {
    let mut out = Vec::new();
    let resources = template
        .get("Resources")
        .and_then(Value::as_mapping)
        .expect("Resources");
    for (name, resource) in resources {
        if resource.get("Type").and_then(Value::as_str) != Some("AWS::Serverless::Function") {
            continue;
        }
        let name = name.as_str().unwrap_or_default().to_string();
        let mut statements = Vec::new();
        let policies = resource
            .get("Properties")
            .and_then(|p| p.get("Policies"))
            .and_then(Value::as_sequence)
            .cloned()
            .unwrap_or_default();
        for policy in &policies {
            match policy.get("Statement").and_then(Value::as_sequence) {
                Some(list) => statements.extend(list.iter().cloned()),
                None if mentions(policy, TABLE) => problems.push(format!(
                    "{name}: a SAM policy template grants access to {TABLE}; use explicit statements"
                )),
                None => {}
            }
        }
        out.push((name, statements));
    }
    out
}

fn effect(statement: &Value) -> &str {
    statement
        .get("Effect")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// Whether the function may write items of the table at all.
fn writes_table(statements: &[Value]) -> bool {
    statements.iter().any(|s| {
        effect(s) == "Allow"
            && mentions(s.get("Resource").unwrap_or(&Value::Null), TABLE)
            && WRITE_ACTIONS
                .iter()
                .any(|a| covers(&strings(s.get("Action")), a))
    })
}

/// Whether a `Deny` statement on the table covers `action` for items whose partition key matches
/// `partition`, with `extra` (operator, key, value) as a further condition when given.
fn denied(
    statements: &[Value],
    action: &str,
    partition: &str,
    extra: Option<(&str, &str, &str)>,
) -> bool {
    statements.iter().any(|s| {
        if effect(s) != "Deny"
            || !mentions(s.get("Resource").unwrap_or(&Value::Null), TABLE)
            || !covers(&strings(s.get("Action")), action)
        {
            return false;
        }
        let Some(condition) = s.get("Condition").and_then(Value::as_mapping) else {
            return false;
        };
        let value_of = |op: &str, key: &str| strings(condition.get(op).and_then(|o| o.get(key)));
        // Nothing but these conditions may narrow the statement.
        let operators: Vec<&str> = condition.keys().filter_map(Value::as_str).collect();
        let allowed_ops = ["ForAnyValue:StringLike"]
            .into_iter()
            .chain(extra.map(|(op, _, _)| op))
            .collect::<Vec<_>>();
        if operators.iter().any(|op| !allowed_ops.contains(op)) {
            return false;
        }
        let partition_ok = value_of("ForAnyValue:StringLike", "dynamodb:LeadingKeys")
            .iter()
            .any(|p| p == partition);
        let extra_ok =
            extra.is_none_or(|(op, key, value)| value_of(op, key).iter().any(|v| v == value));
        partition_ok && extra_ok
    })
}

fn ttl_attribute(template: &Value) -> String {
    template["Resources"][TABLE]["Properties"]["TimeToLiveSpecification"]["AttributeName"]
        .as_str()
        .expect("FilesTable has a TTL attribute")
        .to_string()
}

#[test]
fn every_audit_partition_has_one_writer_and_its_entries_never_change_or_expire() {
    let template = template();
    let ttl = ttl_attribute(&template);
    let mut problems = Vec::new();
    let functions = functions(&template, &mut problems);
    let writers: Vec<&(String, Vec<Value>)> = functions
        .iter()
        .filter(|(_, statements)| writes_table(statements))
        .collect();
    assert!(
        writers.len() >= 2,
        "expected the file-management functions to write {TABLE}"
    );
    for (partition, owner) in AUDIT_PARTITIONS {
        assert!(
            writers.iter().any(|(name, _)| name == owner),
            "{owner} should write {partition} but has no write access to {TABLE}"
        );
        for (name, statements) in &writers {
            for action in [
                "dynamodb:UpdateItem",
                "dynamodb:DeleteItem",
                "dynamodb:BatchWriteItem",
            ] {
                if !denied(statements, action, partition, None) {
                    problems.push(format!("{name}: {action} on {partition} is not denied"));
                }
            }
            let put_denied = denied(statements, "dynamodb:PutItem", partition, None);
            if name == owner {
                if put_denied {
                    problems.push(format!("{name} writes {partition} but PutItem is denied"));
                }
                if !denied(
                    statements,
                    "dynamodb:PutItem",
                    partition,
                    Some(("ForAnyValue:StringEquals", "dynamodb:Attributes", &ttl)),
                ) {
                    problems.push(format!(
                        "{name}: writing the TTL attribute `{ttl}` on {partition} is not denied"
                    ));
                }
            } else if !put_denied {
                problems.push(format!(
                    "{name}: may put items in {partition}, which only {owner} writes"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn report_files_expire_with_their_retention() {
    let template = template();
    let rules =
        template["Resources"]["ResultsBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
            .as_sequence()
            .cloned()
            .expect("ResultsBucket lifecycle rules");
    let key = "reports/01JREPORT.xlsx";
    let applying: Vec<&Value> = rules
        .iter()
        .filter(|r| r["Status"].as_str() == Some("Enabled"))
        .filter(|r| key.starts_with(r["Prefix"].as_str().unwrap_or("")))
        .collect();
    assert!(
        !applying.is_empty(),
        "no lifecycle rule applies to reports/"
    );
    for rule in applying {
        let days = rule["ExpirationInDays"].as_i64();
        assert!(
            days.is_some_and(|d| d <= REPORT_RETENTION_DAYS),
            "rule {:?} keeps report files longer than {REPORT_RETENTION_DAYS} days",
            rule["Id"]
        );
    }
}
