//! Physical names: the resource's own name property when the template gives one, otherwise
//! `<stackName>-<LogicalId>` (as CloudFormation generates them, without the random suffix so a
//! second run finds the same resources), shortened to the service's limit.

use super::props::Node;
use crate::template::TemplateError;

/// Naming rule of one resource type.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NameRule {
    /// The property holding an explicit name (`TableName`, `QueueName`, ...).
    pub property: &'static str,
    /// The service's length limit.
    pub max_len: usize,
    /// Whether names must be lower case (S3 buckets).
    pub lower_case: bool,
}

pub(crate) const TABLE: NameRule = NameRule {
    property: "TableName",
    max_len: 255,
    lower_case: false,
};
pub(crate) const TOPIC: NameRule = NameRule {
    property: "TopicName",
    max_len: 256,
    lower_case: false,
};
pub(crate) const QUEUE: NameRule = NameRule {
    property: "QueueName",
    max_len: 80,
    lower_case: false,
};
pub(crate) const BUCKET: NameRule = NameRule {
    property: "BucketName",
    max_len: 63,
    lower_case: true,
};
pub(crate) const USER_POOL: NameRule = NameRule {
    property: "UserPoolName",
    max_len: 128,
    lower_case: false,
};
pub(crate) const GROUP: NameRule = NameRule {
    property: "GroupName",
    max_len: 128,
    lower_case: false,
};
pub(crate) const CLIENT: NameRule = NameRule {
    property: "ClientName",
    max_len: 128,
    lower_case: false,
};
pub(crate) const FUNCTION: NameRule = NameRule {
    property: "FunctionName",
    max_len: 64,
    lower_case: false,
};

/// The explicit name from the properties, else the generated one. `suffix` (e.g. `.fifo`) is
/// appended to generated names only.
pub(crate) fn physical_name(
    props: &Node<'_>,
    rule: NameRule,
    stack_name: &str,
    logical_id: &str,
    suffix: &str,
) -> Result<String, TemplateError> {
    if let Some(name) = props.opt_string(rule.property)? {
        return Ok(name);
    }
    Ok(generated_name(rule, stack_name, logical_id, suffix))
}

/// The property that asks for a FIFO topic.
pub(crate) const FIFO_TOPIC: &str = "FifoTopic";
/// The property that asks for a FIFO queue.
pub(crate) const FIFO_QUEUE: &str = "FifoQueue";

/// The suffix AWS requires of FIFO topics' and queues' names: `.fifo` when their `flag` property
/// ([`FIFO_TOPIC`], [`FIFO_QUEUE`]) is set, else nothing.
pub(crate) fn fifo_suffix(props: &Node<'_>, flag: &str) -> Result<&'static str, TemplateError> {
    Ok(if props.flag(flag)? { ".fifo" } else { "" })
}

/// `<stackName>-<LogicalId><suffix>`, within `rule.max_len` (a hash of the full name replaces
/// what is cut, so shortened names stay distinct).
pub(crate) fn generated_name(
    rule: NameRule,
    stack_name: &str,
    logical_id: &str,
    suffix: &str,
) -> String {
    let mut base = format!("{stack_name}-{logical_id}");
    if rule.lower_case {
        base = base.to_lowercase();
    }
    let budget = rule.max_len.saturating_sub(suffix.len());
    if base.len() > budget {
        let hash = format!("{:08x}", fnv1a(&base));
        let keep = budget.saturating_sub(hash.len() + 1);
        let cut: String = base.chars().take(keep).collect();
        base = format!("{}-{hash}", cut.trim_end_matches('-'));
    }
    base + suffix
}

fn fnv1a(text: &str) -> u32 {
    text.bytes().fold(0x811c_9dc5_u32, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_stack_prefixed_names() {
        assert_eq!(
            generated_name(TABLE, "clinic-local", "AccountsTable", ""),
            "clinic-local-AccountsTable"
        );
        assert_eq!(
            generated_name(BUCKET, "Clinic", "UploadsBucket", ""),
            "clinic-uploadsbucket"
        );
        assert_eq!(generated_name(QUEUE, "s", "Jobs", ".fifo"), "s-Jobs.fifo");
    }

    #[test]
    fn shortens_to_the_limit_and_stays_distinct() {
        let stack = "t-01jabcdefghjkmnpqrstvwxyz0";
        let a = generated_name(BUCKET, stack, "AVeryLongLogicalIdForTheUploadsBucketA", "");
        let b = generated_name(BUCKET, stack, "AVeryLongLogicalIdForTheUploadsBucketB", "");
        assert!(a.len() <= 63 && b.len() <= 63, "{a} {b}");
        assert_ne!(a, b);
        assert_eq!(a, a.to_lowercase());
    }
}
