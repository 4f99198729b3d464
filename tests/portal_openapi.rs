//! The portal's API types are generated from `portal/openapi.json`, and the local runner serves
//! that file at `/openapi.json`; it must be the merged spec the code produces, so a contract change
//! shows up here first and then in the portal's `tsc`.

use clinic_journeys::openapi;
use clinic_journeys::root;

#[test]
fn the_portal_spec_is_the_merged_spec_of_the_code() {
    let path = root().join("portal/openapi.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let generated = openapi::merged_text();
    assert!(
        committed == generated,
        "{} differs from the merged OpenAPI spec of the services: regenerate it with \
         `cargo run -p clinic-journeys --example portal_openapi`, then rebuild the portal \
         (`cd portal && npm run build`) and fix what `tsc` reports",
        path.display()
    );
}

#[test]
fn the_merged_spec_has_every_service() {
    let spec = openapi::merged_json();
    let paths = spec["paths"].as_object().expect("paths");
    for path in [
        "/v1/accounts/patients",
        "/v1/appointments",
        "/v1/me/notifications",
        "/v1/files/{fileId}/download",
    ] {
        assert!(
            paths.contains_key(path),
            "{path} missing from the merged spec"
        );
    }
}
