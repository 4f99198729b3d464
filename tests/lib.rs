//! Helpers shared by the cross-service checks: reading what `template.yaml` declares, the merged
//! OpenAPI spec of the services.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_yaml::Value;

pub mod api;
pub mod local_system;
pub mod openapi;

/// The workspace root of the checkout being tested (read when the test runs: checkouts that
/// share one target dir share build artefacts, so the compile-time path may name another one).
pub fn root() -> PathBuf {
    PathBuf::from(
        std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string()),
    )
    .join("..")
}

/// `template.yaml`, parsed (CloudFormation tags such as `!Ref` are kept as tagged values).
///
/// # Panics
/// When the template is missing or not YAML.
pub fn template() -> Value {
    let text =
        std::fs::read_to_string(root().join("template.yaml")).expect("template.yaml is readable");
    serde_yaml::from_str(&text).expect("template.yaml is YAML")
}

/// A route as API Gateway matches it: upper-case method and path template.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Route {
    pub method: String,
    pub path: String,
    pub function: String,
}

impl std::fmt::Display for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} ({})", self.method, self.path, self.function)
    }
}

/// Every `HttpApi` event of every serverless function in the template.
pub fn template_routes(template: &Value) -> BTreeSet<Route> {
    let mut routes = BTreeSet::new();
    let Some(resources) = template.get("Resources").and_then(Value::as_mapping) else {
        return routes;
    };
    for (name, resource) in resources {
        if resource.get("Type").and_then(Value::as_str) != Some("AWS::Serverless::Function") {
            continue;
        }
        let Some(events) = resource
            .get("Properties")
            .and_then(|p| p.get("Events"))
            .and_then(Value::as_mapping)
        else {
            continue;
        };
        for event in events.values() {
            if event.get("Type").and_then(Value::as_str) != Some("HttpApi") {
                continue;
            }
            let props = event.get("Properties");
            let method = props.and_then(|p| p.get("Method")).and_then(Value::as_str);
            let path = props.and_then(|p| p.get("Path")).and_then(Value::as_str);
            if let (Some(method), Some(path)) = (method, path) {
                routes.insert(Route {
                    method: method.to_uppercase(),
                    path: path.to_string(),
                    function: name.as_str().unwrap_or_default().to_string(),
                });
            }
        }
    }
    routes
}

/// `(METHOD, path)` pairs an OpenAPI document describes.
pub fn spec_routes(spec: &utoipa::openapi::OpenApi) -> BTreeSet<(String, String)> {
    let json = serde_json::to_value(spec).expect("spec serialises");
    let mut routes = BTreeSet::new();
    if let Some(paths) = json.get("paths").and_then(serde_json::Value::as_object) {
        for (path, item) in paths {
            for method in ["get", "put", "post", "delete", "patch", "head", "options"] {
                if item.get(method).is_some() {
                    routes.insert((method.to_uppercase(), path.clone()));
                }
            }
        }
    }
    routes
}

/// Binaries each function's SAM metadata asks cargo-lambda to build.
pub fn template_binaries(template: &Value) -> BTreeSet<(String, String)> {
    let mut binaries = BTreeSet::new();
    if let Some(resources) = template.get("Resources").and_then(Value::as_mapping) {
        for (name, resource) in resources {
            if let Some(binary) = resource
                .get("Metadata")
                .and_then(|m| m.get("BuildProperties"))
                .and_then(|b| b.get("Binary"))
                .and_then(Value::as_str)
            {
                binaries.insert((
                    name.as_str().unwrap_or_default().to_string(),
                    binary.to_string(),
                ));
            }
        }
    }
    binaries
}
