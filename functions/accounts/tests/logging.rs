//! Logging of the accounts API, in a test binary of its own: it installs a capturing subscriber,
//! and tracing's per-callsite caches are process-wide, so tests running beside it could hide or
//! steal its events.

mod support;

use serde_json::json;
use support::*;

/// Collects log lines written by the JSON subscriber.
#[derive(Clone, Default)]
struct LogBuffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut inner) = self.0.lock() {
            inner.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn logs_carry_request_and_trace_ids_but_no_personal_data() {
    let buffer = LogBuffer::default();
    let writer = buffer.clone();
    let _guard =
        tracing::subscriber::set_default(clinic_shared::telemetry::json_subscriber(move || {
            writer.clone()
        }));
    let stack = Stack::new().await;
    let email = format!("{}@example.com", clinic_shared::testing::unique("logged"));
    let cpf = random_cpf();
    let mut event = sign_up_event(&email, &cpf);
    event["headers"]["traceparent"] =
        json!("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    let reply = stack.call(event).await;
    assert_eq!(reply.status, 202);
    let mut confirm = confirm_event(&email, PASSWORD);
    confirm["headers"]["traceparent"] =
        json!("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    assert_eq!(stack.call(confirm).await.status, 204);
    let invalid = stack
        .call(public_event(
            "signup-patient.json",
            json!({"email": email, "cpf": cpf, "name": "Ana Souza"}),
        ))
        .await;
    assert_eq!(invalid.status, 400);

    let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    let finished: Vec<_> = lines
        .iter()
        .filter(|l| l["message"] == "request finished")
        .collect();
    assert_eq!(finished.len(), 3, "{text}");
    assert_eq!(
        finished[0]["span"]["trace_id"],
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert!(finished.iter().all(|l| {
        l["span"]["request_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    }));
    for secret in [
        email.as_str(),
        cpf.as_str(),
        "Ana Souza",
        "+5511987654321",
        "1990-04-12",
        PASSWORD,
    ] {
        assert!(
            !text.contains(secret),
            "the logs contain personal data ({secret}):\n{text}"
        );
    }
}
