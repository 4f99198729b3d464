//! The merged OpenAPI document of every service, served at `/openapi.json`: the committed
//! `portal/openapi.json` (what the portal's API types are generated from), compiled in. Taking the
//! committed file rather than merging the services' specs here keeps the services (and their PDF
//! and spreadsheet renderers) out of the runner's binary; `tests/portal_openapi.rs` keeps the file
//! equal to the code, and `cargo run -p clinic-journeys --example portal_openapi` rewrites it.

/// `portal/openapi.json` as committed: pretty-printed.
const COMMITTED: &str = include_str!("../../portal/openapi.json");

/// The body of `/openapi.json`: the committed spec written compactly, as a JSON response writes
/// it. Parsed here, once at start, so that a file that is not JSON stops the runner instead of
/// being served.
///
/// # Errors
/// When the committed file is not JSON.
pub fn served_body() -> Result<axum::body::Bytes, serde_json::Error> {
    let spec: serde_json::Value = serde_json::from_str(COMMITTED)?;
    serde_json::to_vec(&spec).map(axum::body::Bytes::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_served_spec_is_the_committed_one_with_every_service() {
        let served: serde_json::Value =
            serde_json::from_slice(&served_body().expect("portal/openapi.json is JSON"))
                .expect("the body is JSON");
        let committed: serde_json::Value = serde_json::from_str(COMMITTED).expect("JSON");
        assert_eq!(served, committed);
        let paths = served["paths"].as_object().expect("paths");
        for path in [
            "/v1/accounts/patients",
            "/v1/appointments",
            "/v1/me/notifications",
            "/v1/files/{fileId}/download",
        ] {
            assert!(
                paths.contains_key(path),
                "{path} missing from the served spec"
            );
        }
    }
}
