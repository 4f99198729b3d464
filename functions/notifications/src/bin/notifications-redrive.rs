//! Operator command: moves messages from the notifications DLQ back to its queue once the cause
//! of their failure is fixed (see README, "Notifications"). Not a Lambda function.
//!
//! `notifications-redrive --from <dlq-url> --to <queue-url> [--max N]`

use clap::Parser;
use clinic_notifications::outbound::redrive::redrive;

/// Move messages from a dead-letter queue back to their source queue.
#[derive(Debug, Parser)]
#[command(name = "notifications-redrive", version)]
struct Args {
    /// URL of the dead-letter queue to empty.
    #[arg(long, env = "REDRIVE_FROM")]
    from: String,
    /// URL of the queue to send the messages back to.
    #[arg(long, env = "REDRIVE_TO")]
    to: String,
    /// Move at most this many messages (default: until the DLQ looks empty).
    #[arg(long)]
    max: Option<usize>,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    clinic_shared::telemetry::init();
    let args = Args::parse();
    let sdk = clinic_shared::aws::sdk_config().await;
    let sqs = clinic_shared::aws::sqs(&sdk);
    match redrive(&sqs, &args.from, &args.to, args.max).await {
        Ok(report) => {
            println!(
                "moved {} message(s) back; {} could not be moved and stay in the DLQ",
                report.moved, report.failed
            );
            if report.failed == 0 {
                std::process::ExitCode::SUCCESS
            } else {
                std::process::ExitCode::FAILURE
            }
        }
        Err(err) => {
            eprintln!("{err}");
            std::process::ExitCode::FAILURE
        }
    }
}
