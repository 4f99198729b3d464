//! The environment of a function process: what Lambda sets, the function's own variables and the
//! runner's extras — and of the runner's own environment only a few developer settings, so a
//! function cannot come to depend on something only the developer's shell provides.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use crate::model::FunctionSpec;

use super::ids;

/// Variables of the runner's environment a function process inherits.
pub(crate) const PASSTHROUGH: [&str; 4] = ["PATH", "HOME", "RUST_LOG", "RUST_BACKTRACE"];

/// The Lambda-defined variables the runtime sets itself; a function's own value for one of these
/// is ignored, as Lambda refuses to deploy it.
const RESERVED: [&str; 11] = [
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_LAMBDA_RUNTIME_API",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "_HANDLER",
    "TZ",
];

/// Variable naming the instance's Runtime API endpoint (`host:port`).
const RUNTIME_API: &str = "AWS_LAMBDA_RUNTIME_API";
/// Variable naming the instance's log stream.
const LOG_STREAM: &str = "AWS_LAMBDA_LOG_STREAM_NAME";

/// The environment shared by every instance of `spec`, lowest precedence first: the inherited
/// developer settings (read through `parent`), the runner's `extra` variables, the function's
/// own variables, then the Lambda-defined ones.
pub(crate) fn for_function(
    spec: &FunctionSpec,
    extra: &BTreeMap<String, String>,
    region: &str,
    parent: impl Fn(&str) -> Option<String>,
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for key in PASSTHROUGH {
        if let Some(value) = parent(key) {
            env.insert(key.to_owned(), value);
        }
    }
    env.extend(
        extra
            .iter()
            .map(|(key, value)| (key.clone(), value.clone())),
    );
    for (key, value) in &spec.environment {
        if RESERVED.contains(&key.as_str()) {
            tracing::warn!(
                function = %spec.logical_id,
                variable = %key,
                "Lambda reserves this environment variable; the function's own value is ignored"
            );
            continue;
        }
        env.insert(key.clone(), value.clone());
    }
    let lambda = [
        ("AWS_LAMBDA_FUNCTION_NAME", spec.logical_id.clone()),
        (
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            spec.memory_mb.to_string(),
        ),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME",
            ids::log_group_name(&spec.logical_id),
        ),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".to_owned()),
        ("AWS_REGION", region.to_owned()),
        ("AWS_DEFAULT_REGION", region.to_owned()),
        ("_HANDLER", "bootstrap".to_owned()),
        ("TZ", ":UTC".to_owned()),
    ];
    env.extend(
        lambda
            .into_iter()
            .map(|(key, value)| (key.to_owned(), value)),
    );
    env
}

/// The environment of one instance: the function's plus its Runtime API endpoint and log stream.
pub(crate) fn for_instance(
    function_env: &BTreeMap<String, String>,
    runtime_api: SocketAddr,
    log_stream: String,
) -> BTreeMap<String, String> {
    let mut env = function_env.clone();
    env.insert(RUNTIME_API.to_owned(), runtime_api.to_string());
    env.insert(LOG_STREAM.to_owned(), log_stream);
    env
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn spec(environment: &[(&str, &str)]) -> FunctionSpec {
        FunctionSpec {
            logical_id: "AccountsApiFunction".into(),
            binary: "accounts-api".into(),
            environment: environment
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            timeout: Duration::from_secs(3),
            memory_mb: 256,
            reserved_concurrency: None,
            events: Vec::new(),
        }
    }

    fn parent(key: &str) -> Option<String> {
        match key {
            "PATH" => Some("/usr/bin".into()),
            "RUST_LOG" => Some("debug".into()),
            "SECRET_OF_THE_SHELL" => Some("leak".into()),
            _ => None,
        }
    }

    #[test]
    fn sets_the_lambda_variables() {
        let env = for_function(&spec(&[]), &BTreeMap::new(), "us-east-1", parent);
        assert_eq!(env["AWS_LAMBDA_FUNCTION_NAME"], "AccountsApiFunction");
        assert_eq!(env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], "256");
        assert_eq!(env["AWS_LAMBDA_FUNCTION_VERSION"], "$LATEST");
        assert_eq!(
            env["AWS_LAMBDA_LOG_GROUP_NAME"],
            "/aws/lambda/AccountsApiFunction"
        );
        assert_eq!(env["AWS_REGION"], "us-east-1");
        assert_eq!(env["AWS_DEFAULT_REGION"], "us-east-1");
        assert_eq!(env["_HANDLER"], "bootstrap");
    }

    #[test]
    fn inherits_only_developer_settings() {
        let env = for_function(&spec(&[]), &BTreeMap::new(), "us-east-1", parent);
        assert_eq!(env["PATH"], "/usr/bin");
        assert_eq!(env["RUST_LOG"], "debug");
        assert!(!env.contains_key("SECRET_OF_THE_SHELL"));
        assert!(
            !env.contains_key("HOME"),
            "absent in the parent, absent here"
        );
    }

    #[test]
    fn precedence_is_parent_extra_function_lambda() {
        let extra: BTreeMap<String, String> = [
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
            ("RUST_LOG", "info"),
            ("TABLE_NAME", "from-extra"),
            ("AWS_REGION", "eu-west-1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let env = for_function(
            &spec(&[
                ("TABLE_NAME", "accounts"),
                ("AWS_LAMBDA_FUNCTION_NAME", "Other"),
            ]),
            &extra,
            "us-east-1",
            parent,
        );
        assert_eq!(env["AWS_ENDPOINT_URL"], "http://127.0.0.1:5000");
        assert_eq!(env["RUST_LOG"], "info");
        assert_eq!(env["TABLE_NAME"], "accounts");
        assert_eq!(env["AWS_LAMBDA_FUNCTION_NAME"], "AccountsApiFunction");
        assert_eq!(env["AWS_REGION"], "us-east-1");
    }

    #[test]
    fn instances_get_their_endpoint_and_stream() {
        let base = for_function(&spec(&[]), &BTreeMap::new(), "us-east-1", parent);
        let addr: SocketAddr = "127.0.0.1:9001".parse().expect("address");
        let env = for_instance(&base, addr, "2025/01/31/[$LATEST]abc".into());
        assert_eq!(env[RUNTIME_API], "127.0.0.1:9001");
        assert_eq!(env[LOG_STREAM], "2025/01/31/[$LATEST]abc");
        assert!(!base.contains_key(RUNTIME_API));
    }
}
