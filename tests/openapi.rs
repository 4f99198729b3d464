//! The merged OpenAPI document of every service: what the portal's API types are generated from
//! and the runner serves at `/openapi.json` (`portal/openapi.json`, kept equal to this by
//! `tests/portal_openapi.rs`; `cargo run -p clinic-journeys --example portal_openapi` rewrites
//! it).

/// The merged specification of the accounts, exam-results, notifications and file-management
/// APIs.
pub fn merged() -> utoipa::openapi::OpenApi {
    let mut spec = clinic_accounts::inbound::http::openapi();
    spec.info.title = "Clinic API".to_string();
    for other in [
        clinic_exam_results::inbound::http::openapi(),
        clinic_notifications::inbound::http::openapi(),
        clinic_file_management::inbound::http::openapi(),
    ] {
        spec.merge(other);
    }
    spec
}

/// [`merged`] as JSON.
pub fn merged_json() -> serde_json::Value {
    serde_json::to_value(merged()).unwrap_or(serde_json::Value::Null)
}

/// [`merged`] as the text of `portal/openapi.json`: pretty-printed, ending with a newline.
pub fn merged_text() -> String {
    let mut text = serde_json::to_string_pretty(&merged_json()).unwrap_or_default();
    text.push('\n');
    text
}
