//! Amazon Resource Names: `arn:<partition>:<service>:<region>:<account>:<resource>`.

/// The parts of an ARN; `resource` is everything after the account (it may hold colons, e.g.
/// `function:<name>:<qualifier>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arn<'a> {
    pub partition: &'a str,
    pub service: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub resource: &'a str,
}

impl<'a> Arn<'a> {
    /// Splits `arn`; `None` when it does not have the six parts.
    pub fn parse(arn: &'a str) -> Option<Self> {
        let mut parts = arn.splitn(6, ':');
        let prefix = parts.next()?;
        let arn = Arn {
            partition: parts.next()?,
            service: parts.next()?,
            region: parts.next()?,
            account: parts.next()?,
            resource: parts.next()?,
        };
        (prefix == "arn").then_some(arn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resource_keeps_its_colons() {
        let arn = Arn::parse("arn:aws:lambda:us-east-1:123456789012:function:api:live");
        assert_eq!(
            arn,
            Some(Arn {
                partition: "aws",
                service: "lambda",
                region: "us-east-1",
                account: "123456789012",
                resource: "function:api:live",
            })
        );
    }

    #[test]
    fn anything_else_is_not_an_arn() {
        for text in ["", "arn:aws:sqs", "urn:aws:sqs:r:1:q", "arn:aws:sqs:r:1"] {
            assert_eq!(Arn::parse(text), None, "{text}");
        }
    }
}
