//! `clinic-local`: runs the whole Clinic suite on this machine from `template.yaml`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use clap::Parser;
use clinic_local::app::{Settings, run};

/// Runs Clinic locally: provisions the AWS emulator from the SAM template, runs every function
/// binary behind the Lambda Runtime API and serves the HTTP API with its JWT authorizer.
#[derive(Debug, Parser)]
#[command(name = "clinic-local", version)]
struct Args {
    /// The SAM template to run.
    #[arg(long, default_value = "template.yaml")]
    template: PathBuf,
    /// Port of the HTTP API gateway on 127.0.0.1.
    #[arg(long, env = "CLINIC_PORT", default_value_t = 3000)]
    port: u16,
    /// Port of the AWS emulator on 127.0.0.1 (ignored when --emulator-url is given).
    #[arg(long, env = "CLINIC_EMULATOR_PORT", default_value_t = 4566)]
    emulator_port: u16,
    /// Full URL of the AWS emulator.
    #[arg(long, env = "CLINIC_EMULATOR_URL")]
    emulator_url: Option<String>,
    /// Directory of the function binaries (default: the directory of this program).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Most concurrent instances of one function (reserved concurrency in the template lowers it).
    #[arg(long, env = "CLINIC_INSTANCES", default_value_t = 4)]
    instances: u32,
    /// `AWS::StackName` and prefix of every local resource name.
    #[arg(long, env = "CLINIC_STACK_NAME", default_value = "clinic-local")]
    stack_name: String,
    /// E-mail of the staff account created at start.
    #[arg(long, env = "CLINIC_STAFF_EMAIL", default_value = "staff@clinic.local")]
    staff_email: String,
    /// Password of the staff account created at start.
    #[arg(long, env = "CLINIC_STAFF_PASSWORD", default_value = "Clinic0Staff")]
    staff_password: String,
    /// The built web portal (`npm run build` in `portal/`), served at `/`.
    #[arg(long, env = "CLINIC_PORTAL_DIR", default_value = "portal/dist")]
    portal_dir: PathBuf,
    /// Also register sample hospitals and a doctor.
    #[arg(long)]
    demo: bool,
    /// Directory for state kept across restarts of the runner (where each stream poller stopped).
    #[arg(long, env = "CLINIC_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// Template parameter overrides, `Name=value` (repeatable).
    #[arg(long = "parameter", value_parser = parse_parameter)]
    parameters: Vec<(String, String)>,
}

fn parse_parameter(raw: &str) -> Result<(String, String), String> {
    raw.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.to_string()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("expected Name=value, got `{raw}`"))
}

/// The parameters the runner sets itself when they are not given: the portal is served by this
/// runner, so its origin (CORS of the API and the buckets) and its URL (links in e-mails) are the
/// runner's own.
const PORTAL_PARAMETERS: [&str; 2] = ["PortalOrigin", "PortalUrl"];

/// The given parameters, plus the portal's defaults where none was given; the names defaulted.
fn with_portal_origin(
    parameters: Vec<(String, String)>,
    port: u16,
) -> (BTreeMap<String, String>, BTreeSet<String>) {
    let mut parameters: BTreeMap<String, String> = parameters.into_iter().collect();
    let origin = format!("http://127.0.0.1:{port}");
    let mut defaulted = BTreeSet::new();
    for name in PORTAL_PARAMETERS {
        if !parameters.contains_key(name) {
            parameters.insert(name.to_string(), origin.clone());
            defaulted.insert(name.to_string());
        }
    }
    (parameters, defaulted)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CLINIC_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,clinic_local=info")),
        )
        .with_writer(std::io::stderr)
        .with_target(false)
        .compact()
        .init();
    let args = Args::parse();
    let bin_dir = args.bin_dir.clone().unwrap_or_else(|| {
        std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("."))
    });
    let (parameters, default_parameters) = with_portal_origin(args.parameters, args.port);
    let settings = Settings {
        template: args.template,
        port: args.port,
        emulator_url: args
            .emulator_url
            .unwrap_or_else(|| format!("http://127.0.0.1:{}", args.emulator_port)),
        bin_dir,
        instances: args.instances,
        stack_name: args.stack_name,
        staff_email: args.staff_email,
        staff_password: args.staff_password,
        portal_dir: args.portal_dir,
        demo: args.demo,
        parameters,
        default_parameters,
        state_dir: args.state_dir,
    };
    match run(settings).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
