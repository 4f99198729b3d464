//! Writes the merged OpenAPI document to `portal/openapi.json` (or the path given), the input of
//! the portal's generated API types:
//! `cargo run -p clinic-local --example portal_openapi [-- <path>]`.

use std::path::PathBuf;

fn main() -> std::process::ExitCode {
    let path = std::env::args_os().nth(1).map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../portal/openapi.json"),
        PathBuf::from,
    );
    match std::fs::write(&path, clinic_local::openapi::merged_text()) {
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
