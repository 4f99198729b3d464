//! Writes the merged OpenAPI document to `portal/openapi.json` (or the path given), the input of
//! the portal's generated API types and what the local runner serves at `/openapi.json`:
//! `cargo run -p clinic-journeys --example portal_openapi [-- <path>]`.

use std::path::PathBuf;

fn main() -> std::process::ExitCode {
    let path = std::env::args_os().nth(1).map_or_else(
        || clinic_journeys::root().join("portal/openapi.json"),
        PathBuf::from,
    );
    match std::fs::write(&path, clinic_journeys::openapi::merged_text()) {
        Ok(()) => {
            println!("wrote {}", path.display());
            std::process::ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("{}: {err}", path.display());
            std::process::ExitCode::FAILURE
        }
    }
}
