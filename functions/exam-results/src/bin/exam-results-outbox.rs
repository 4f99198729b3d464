//! Lambda entry of the exam results outbox relay (DynamoDB stream + periodic sweep).

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    clinic_shared::outbox::run_relay("exam-results").await
}
