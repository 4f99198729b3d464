//! The routes API Gateway serves (template.yaml) and the routes the services document and serve
//! (their generated OpenAPI) must be the same set: a route in one and not the other fails here.

use std::collections::BTreeSet;

use clinic_journeys::{root, spec_routes, template, template_binaries, template_routes};

/// Each service's spec with the function that serves it in the template.
fn services() -> Vec<(&'static str, utoipa::openapi::OpenApi)> {
    vec![
        (
            "AccountsApiFunction",
            clinic_accounts::inbound::http::openapi(),
        ),
        (
            "ExamResultsApiFunction",
            clinic_exam_results::inbound::http::openapi(),
        ),
        (
            "FilesApiFunction",
            clinic_file_management::inbound::http::openapi(),
        ),
        (
            "NotificationsApiFunction",
            clinic_notifications::inbound::http::openapi(),
        ),
    ]
}

#[test]
fn every_template_route_is_served_and_documented_and_vice_versa() {
    let template = template();
    let declared = template_routes(&template);
    assert!(
        !declared.is_empty(),
        "template.yaml declares no HttpApi routes"
    );
    let mut problems = Vec::new();
    let mut documented_anywhere = BTreeSet::new();
    for (function, spec) in services() {
        let documented = spec_routes(&spec);
        let in_template: BTreeSet<(String, String)> = declared
            .iter()
            .filter(|r| r.function == function)
            .map(|r| (r.method.clone(), r.path.clone()))
            .collect();
        for missing in in_template.difference(&documented) {
            problems.push(format!(
                "{} {} is routed to {function} in template.yaml but not in its OpenAPI spec",
                missing.0, missing.1
            ));
        }
        for missing in documented.difference(&in_template) {
            problems.push(format!(
                "{} {} is in {function}'s OpenAPI spec but template.yaml does not route it there",
                missing.0, missing.1
            ));
        }
        documented_anywhere.extend(documented);
    }
    for route in &declared {
        if !services().iter().any(|(f, _)| *f == route.function) {
            problems.push(format!(
                "{route}: function has no OpenAPI spec registered in this test"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "routes disagree:\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_function_builds_a_binary_that_exists() {
    let template = template();
    let binaries = template_binaries(&template);
    assert!(!binaries.is_empty());
    for (function, binary) in binaries {
        let found = std::fs::read_dir(root().join("functions"))
            .expect("functions/")
            .filter_map(Result::ok)
            .any(|service| {
                service
                    .path()
                    .join("src/bin")
                    .join(format!("{binary}.rs"))
                    .exists()
            });
        assert!(
            found,
            "{function} builds binary `{binary}`, which no functions/*/src/bin/{binary}.rs provides"
        );
    }
}

#[test]
fn every_route_has_a_sample_event() {
    let template = template();
    let mut samples = Vec::new();
    for dir in std::fs::read_dir(root().join("events"))
        .expect("events/")
        .filter_map(Result::ok)
    {
        if dir.path().is_dir() {
            for file in std::fs::read_dir(dir.path())
                .expect("events dir")
                .filter_map(Result::ok)
            {
                let text = std::fs::read_to_string(file.path()).expect("sample readable");
                let json: serde_json::Value = serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("{} is not JSON: {e}", file.path().display()));
                if let Some(route_key) = json.get("routeKey").and_then(serde_json::Value::as_str) {
                    samples.push(route_key.to_string());
                }
            }
        }
    }
    for route in template_routes(&template) {
        let key = format!("{} {}", route.method, route.path);
        assert!(
            samples.contains(&key),
            "no sample event in events/ for {key}"
        );
    }
}
