//! What is deployed per function: the release binary and its zip (`scripts/package`).

use std::path::PathBuf;

use serde::Serialize;

use crate::BenchError;

#[derive(clap::Args)]
pub struct Args {
    /// `target/lambda`: one folder per binary holding `bootstrap.zip`.
    #[arg(long)]
    pub lambda_dir: PathBuf,
    /// The release binaries.
    #[arg(long)]
    pub bin_dir: PathBuf,
    #[arg(long, default_value = "template.yaml")]
    pub template: PathBuf,
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Serialize)]
pub struct Artifact {
    pub binary: String,
    pub binary_bytes: Option<u64>,
    pub zipped_bytes: Option<u64>,
}

/// Sizes of every binary the template deploys.
///
/// # Errors
/// The template cannot be read.
pub fn run(args: &Args) -> Result<(), BenchError> {
    let template = std::fs::read_to_string(&args.template)?;
    let mut binaries: Vec<String> = template
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Binary:"))
        .map(|b| b.trim().to_string())
        .collect();
    binaries.sort();
    binaries.dedup();
    let size = |p: PathBuf| std::fs::metadata(p).ok().map(|m| m.len());
    let artifacts: Vec<Artifact> = binaries
        .into_iter()
        .map(|binary| Artifact {
            binary_bytes: size(args.bin_dir.join(&binary)),
            zipped_bytes: size(args.lambda_dir.join(&binary).join("bootstrap.zip")),
            binary,
        })
        .collect();
    crate::write_json(&args.out, &artifacts)
}
