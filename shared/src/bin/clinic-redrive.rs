//! Operator command: moves the messages of a queue's dead-letter queue back to the queue once the
//! cause of their failure is fixed (docs/runbooks/dlq-has-messages.md). Works for every queue of
//! the clinic; not a Lambda function.
//!
//! `clinic-redrive --queue-url <source-queue-url> [--max N]`

use clap::Parser;
use clinic_shared::sqs_batch::redrive::{dead_letter_queue_of, redrive};

/// Move messages from a queue's dead-letter queue back to the queue.
#[derive(Debug, Parser)]
#[command(name = "clinic-redrive", version)]
struct Args {
    /// URL of the source queue; its dead-letter queue comes from its redrive policy.
    #[arg(long, env = "REDRIVE_QUEUE_URL")]
    queue_url: String,
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
    let dlq = match dead_letter_queue_of(&sqs, &args.queue_url).await {
        Ok(dlq) => dlq,
        Err(reason) => {
            eprintln!("{reason}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match redrive(&sqs, &dlq, &args.queue_url, args.max).await {
        Ok(report) => {
            println!(
                "moved {} message(s) from {dlq} back; {} could not be moved and stay in the DLQ",
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
