//! The resource types the runner knows: the ones it emulates, the ones it reads and ignores on
//! purpose (with why), and the `Fn::GetAtt` attributes of each. Any other type is an error.

/// What the runner does with a resource of the template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    /// `AWS::DynamoDB::Table`
    DynamoDbTable,
    /// `AWS::SNS::Topic`
    SnsTopic,
    /// `AWS::SNS::Subscription`
    SnsSubscription,
    /// `AWS::SQS::Queue`
    SqsQueue,
    /// `AWS::S3::Bucket`
    S3Bucket,
    /// `AWS::Cognito::UserPool`
    UserPool,
    /// `AWS::Cognito::UserPoolGroup`
    UserPoolGroup,
    /// `AWS::Cognito::UserPoolClient`
    UserPoolClient,
    /// `AWS::Cognito::UserPoolDomain`
    UserPoolDomain,
    /// `AWS::Cognito::UserPoolResourceServer`
    UserPoolResourceServer,
    /// `AWS::Serverless::Function`: run as a local process, not created in the emulator.
    Function,
    /// `AWS::Serverless::HttpApi`: served by the runner's gateway, not created in the emulator.
    HttpApi,
    /// A type with no local behaviour: read, given placeholder `Ref`/`Fn::GetAtt` values so
    /// references to it resolve, and otherwise skipped (see [`IGNORED`]).
    Ignored,
}

/// A type the runner ignores on purpose.
#[derive(Debug)]
pub struct IgnoredType {
    /// The type, or a prefix ending in `::` (`AWS::IAM::`) for a whole service.
    pub pattern: &'static str,
    /// The property holding its name, if it has one (its `Ref` value when set).
    pub name_property: Option<&'static str>,
    /// Its `Fn::GetAtt` attributes.
    pub attributes: &'static [&'static str],
    /// Why there is nothing to do locally.
    pub reason: &'static str,
}

/// Types read and skipped: they have no behaviour a local run could observe.
pub const IGNORED: &[IgnoredType] = &[
    IgnoredType {
        pattern: "AWS::Logs::LogGroup",
        name_property: Some("LogGroupName"),
        attributes: &["Arn"],
        reason: "functions log to the runner's output; retention has no local meaning",
    },
    IgnoredType {
        pattern: "AWS::CloudWatch::Alarm",
        name_property: Some("AlarmName"),
        attributes: &["Arn"],
        reason: "there are no CloudWatch metrics locally to alarm on",
    },
    IgnoredType {
        pattern: "AWS::CloudWatch::CompositeAlarm",
        name_property: Some("AlarmName"),
        attributes: &["Arn"],
        reason: "there are no CloudWatch metrics locally to alarm on",
    },
    IgnoredType {
        pattern: "AWS::CloudWatch::Dashboard",
        name_property: Some("DashboardName"),
        attributes: &[],
        reason: "the runner prints its own figures; there is no CloudWatch locally",
    },
    IgnoredType {
        pattern: "AWS::SQS::QueuePolicy",
        name_property: None,
        attributes: &[],
        reason: "the emulator does not enforce resource policies",
    },
    IgnoredType {
        pattern: "AWS::SNS::TopicPolicy",
        name_property: None,
        attributes: &[],
        reason: "the emulator does not enforce resource policies",
    },
    IgnoredType {
        pattern: "AWS::S3::BucketPolicy",
        name_property: None,
        attributes: &[],
        reason: "the emulator does not enforce resource policies",
    },
    IgnoredType {
        pattern: "AWS::IAM::",
        name_property: None,
        attributes: &["Arn", "RoleId", "PolicyArn"],
        reason: "IAM is not enforced locally: every function may call everything",
    },
    IgnoredType {
        pattern: "AWS::KMS::Key",
        name_property: None,
        attributes: &["Arn", "KeyId"],
        reason: "the emulator's encryption settings are accepted but never decrypt anything",
    },
    IgnoredType {
        pattern: "AWS::KMS::Alias",
        name_property: Some("AliasName"),
        attributes: &[],
        reason: "the emulator's encryption settings are accepted but never decrypt anything",
    },
    IgnoredType {
        pattern: "AWS::WAFv2::",
        name_property: Some("Name"),
        attributes: &["Arn", "Id", "LabelNamespace"],
        reason: "there is no WAF locally: its per-IP rate limits apply on AWS only",
    },
    IgnoredType {
        pattern: "AWS::CloudFront::",
        name_property: None,
        attributes: &[
            "Id",
            "DomainName",
            "FunctionARN",
            "FunctionMetadata.FunctionARN",
        ],
        reason: "the runner serves the portal (with the distribution's security headers) and the API itself",
    },
    IgnoredType {
        pattern: "AWS::Lambda::Permission",
        name_property: None,
        attributes: &[],
        reason: "the runner invokes functions itself; there are no invoke permissions to grant",
    },
];

impl ResourceKind {
    /// The kind of a CloudFormation/SAM type, or `None` when the runner cannot emulate it.
    pub fn of(type_name: &str) -> Option<ResourceKind> {
        Some(match type_name {
            "AWS::DynamoDB::Table" => Self::DynamoDbTable,
            "AWS::SNS::Topic" => Self::SnsTopic,
            "AWS::SNS::Subscription" => Self::SnsSubscription,
            "AWS::SQS::Queue" => Self::SqsQueue,
            "AWS::S3::Bucket" => Self::S3Bucket,
            "AWS::Cognito::UserPool" => Self::UserPool,
            "AWS::Cognito::UserPoolGroup" => Self::UserPoolGroup,
            "AWS::Cognito::UserPoolClient" => Self::UserPoolClient,
            "AWS::Cognito::UserPoolDomain" => Self::UserPoolDomain,
            "AWS::Cognito::UserPoolResourceServer" => Self::UserPoolResourceServer,
            "AWS::Serverless::Function" => Self::Function,
            "AWS::Serverless::HttpApi" => Self::HttpApi,
            other if ignored(other).is_some() => Self::Ignored,
            _ => return None,
        })
    }

    /// The `Fn::GetAtt` attributes a resource of this kind (of `type_name`) has.
    pub fn attributes(self, type_name: &str) -> &'static [&'static str] {
        match self {
            Self::DynamoDbTable => &["Arn", "StreamArn"],
            Self::SnsTopic => &["TopicArn", "TopicName"],
            Self::SnsSubscription => &[],
            Self::SqsQueue => &["Arn", "QueueName", "QueueUrl"],
            Self::S3Bucket => &["Arn", "DomainName", "RegionalDomainName"],
            Self::UserPool => &["Arn", "ProviderName", "ProviderURL", "UserPoolId"],
            Self::UserPoolGroup => &[],
            Self::UserPoolClient => &["ClientId", "ClientSecret", "Name"],
            Self::UserPoolDomain => &["CloudFrontDistribution"],
            Self::UserPoolResourceServer => &[],
            Self::Function => &["Arn"],
            Self::HttpApi => &["ApiEndpoint", "ApiId"],
            Self::Ignored => ignored(type_name).map_or(&[], |i| i.attributes),
        }
    }
}

/// The entry of [`IGNORED`] matching `type_name`.
pub fn ignored(type_name: &str) -> Option<&'static IgnoredType> {
    IGNORED.iter().find(|i| {
        if i.pattern.ends_with("::") {
            type_name.starts_with(i.pattern)
        } else {
            type_name == i.pattern
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_types() {
        assert_eq!(
            ResourceKind::of("AWS::DynamoDB::Table"),
            Some(ResourceKind::DynamoDbTable)
        );
        assert_eq!(
            ResourceKind::of("AWS::IAM::Role"),
            Some(ResourceKind::Ignored)
        );
        assert_eq!(
            ResourceKind::of("AWS::Logs::LogGroup"),
            Some(ResourceKind::Ignored)
        );
        assert_eq!(ResourceKind::of("AWS::RDS::DBCluster"), None);
        assert_eq!(ResourceKind::of("AWS::Serverless::Api"), None);
    }

    #[test]
    fn knows_attributes() {
        assert!(
            ResourceKind::DynamoDbTable
                .attributes("AWS::DynamoDB::Table")
                .contains(&"StreamArn")
        );
        assert_eq!(
            ResourceKind::Ignored.attributes("AWS::Logs::LogGroup"),
            &["Arn"]
        );
    }
}
