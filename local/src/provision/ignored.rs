//! Placeholder `Ref`/`Fn::GetAtt` values for the types the runner ignores on purpose (see
//! [`crate::template::kinds::IGNORED`]), so that what refers to them still resolves.

use super::names::{NameRule, generated_name};
use crate::template::kinds;
use crate::template::{ACCOUNT_ID, REGION, ResourceValues};

/// Values shaped like AWS's for the ignored resource: `name` is its explicit name, if any.
pub(crate) fn values(
    type_name: &str,
    stack_name: &str,
    logical_id: &str,
    name: Option<String>,
) -> ResourceValues {
    let rule = NameRule {
        property: "",
        max_len: 255,
        lower_case: false,
    };
    let name = name.unwrap_or_else(|| generated_name(rule, stack_name, logical_id, ""));
    let arn = match type_name {
        "AWS::Logs::LogGroup" => format!("arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{name}:*"),
        "AWS::CloudWatch::Alarm" => {
            format!("arn:aws:cloudwatch:{REGION}:{ACCOUNT_ID}:alarm:{name}")
        }
        "AWS::IAM::Role" => format!("arn:aws:iam::{ACCOUNT_ID}:role/{name}"),
        "AWS::IAM::ManagedPolicy" => format!("arn:aws:iam::{ACCOUNT_ID}:policy/{name}"),
        "AWS::KMS::Key" => format!("arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/{name}"),
        other => {
            let service = other.split("::").nth(1).unwrap_or("local").to_lowercase();
            format!("arn:aws:{service}:{REGION}:{ACCOUNT_ID}:{name}")
        }
    };
    // CloudFormation's `Ref` of a managed policy is its ARN; of everything else here, a name or id.
    let reference = if type_name == "AWS::IAM::ManagedPolicy" {
        arn.clone()
    } else {
        name.clone()
    };
    let mut values = ResourceValues::new(reference);
    let attributes = kinds::ignored(type_name).map_or(&[][..], |i| i.attributes);
    for attribute in attributes {
        let value = match *attribute {
            "Arn" | "PolicyArn" => arn.clone(),
            _ => name.clone(),
        };
        values = values.with(attribute, value);
    }
    values
}

/// The property holding the ignored resource's name, if it has one.
pub(crate) fn name_property(type_name: &str) -> Option<&'static str> {
    match type_name {
        "AWS::IAM::Role" => Some("RoleName"),
        "AWS::IAM::ManagedPolicy" => Some("ManagedPolicyName"),
        "AWS::IAM::Policy" => Some("PolicyName"),
        other => kinds::ignored(other).and_then(|i| i.name_property),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_groups_get_arns() {
        let values = values(
            "AWS::Logs::LogGroup",
            "s",
            "Logs",
            Some("/aws/lambda/f".into()),
        );
        assert_eq!(values.reference, "/aws/lambda/f");
        assert_eq!(
            values.attributes.get("Arn").map(String::as_str),
            Some("arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/f:*")
        );
    }
}
