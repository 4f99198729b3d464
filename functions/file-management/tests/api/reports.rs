//! Reports: idempotent requests, the worker under redelivery and concurrency, the dead-letter
//! path, and real XLSX/PDF files read back with calamine and pdftotext.

use std::time::Duration;

use calamine::{Data, Reader, Xlsx};
use clinic_file_management::domain::Reports;
use clinic_shared::envelope::{EventType, ExamStatus, ReportCompleted, ReportFailed};
use serde_json::{Value, json};

use crate::support::*;

fn report_body(format: &str, extra: Value) -> Value {
    let mut filters = json!({"from": "2025-01-01", "to": "2025-01-31"});
    if let (Some(f), Some(e)) = (filters.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            f.insert(k.clone(), v.clone());
        }
    }
    json!({"kind": "exams", "format": format, "filters": filters})
}

async fn post_report(
    stack: &Stack,
    claims: &std::collections::HashMap<String, String>,
    body: Value,
    key: Option<&str>,
) -> Reply {
    let event = authed("reports-post.json", claims, "/v1/reports", Some(body));
    stack.call(with_header(event, "idempotency-key", key)).await
}

/// Seeds `n` January exams of one hospital (every fourth completed) and a few outside the range.
async fn seed(stack: &Stack, n: usize) -> String {
    let hospital = ulid::Ulid::new().to_string();
    let mut envelopes = Vec::new();
    for i in 0..n {
        let mut exam = TestExam::new();
        exam.hospital = hospital.clone();
        exam.scheduled_at = format!("2025-01-{:02}T{:02}:15:00Z", 1 + i % 28, i % 24)
            .parse()
            .unwrap();
        exam.status = if i % 4 == 0 {
            ExamStatus::Completed
        } else {
            ExamStatus::Scheduled
        };
        envelopes.push(exam.created());
    }
    for month in ["2024-12-31T23:59:59Z", "2025-02-01T00:00:00Z"] {
        let mut exam = TestExam::new();
        exam.hospital = hospital.clone();
        exam.scheduled_at = month.parse().unwrap();
        envelopes.push(exam.created());
    }
    for chunk in envelopes.chunks(10) {
        assert!(stack.project(chunk).await.batch_item_failures.is_empty());
    }
    hospital
}

/// Runs the worker over what the reports queue holds.
async fn work(stack: &Stack) -> usize {
    let processor = stack.processor(&stack.reports.dlq_url);
    let worker = stack.worker();
    let event = stack
        .receive(&stack.reports.url, &stack.reports.arn, 10)
        .await;
    let n = event.records.len();
    let response = processor.process_messages(&worker, event.clone()).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    stack.ack(&stack.reports.url, &event, &response).await;
    n
}

async fn status(
    stack: &Stack,
    claims: &std::collections::HashMap<String, String>,
    id: &str,
) -> Reply {
    stack
        .call(authed(
            "report-get.json",
            claims,
            &format!("/v1/reports/{id}"),
            None,
        ))
        .await
}

async fn download(stack: &Stack, reply: &Reply) -> Vec<u8> {
    let url = reply.body["downloadUrl"].as_str().expect("download url");
    assert_short_lived(url);
    let got = stack.http.get(url).send().await.unwrap();
    assert_eq!(got.status(), 200);
    got.bytes().await.unwrap().to_vec()
}

#[tokio::test]
async fn a_repeated_request_is_one_job() {
    let stack = Stack::new().await;
    let staff = staff();
    let key = ulid::Ulid::new().to_string();
    let first = post_report(&stack, &staff, report_body("xlsx", json!({})), Some(&key)).await;
    assert_eq!(first.status, 202, "{:?}", first.body);
    assert_eq!(first.body["status"], "queued");
    let again = post_report(&stack, &staff, report_body("xlsx", json!({})), Some(&key)).await;
    assert_eq!(again.status, 202);
    assert_eq!(again.body["reportId"], first.body["reportId"]);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    let other = post_report(&stack, &staff, report_body("pdf", json!({})), Some(&key)).await;
    assert_eq!(other.status, 422);
    assert_eq!(other.body["code"], "IDEMPOTENCY_KEY_REUSED");

    let attributes = stack
        .sqs
        .get_queue_attributes()
        .queue_url(&stack.reports.url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .unwrap();
    let queued = attributes
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages))
        .cloned();
    assert_eq!(queued.as_deref(), Some("1"));

    let no_key = post_report(&stack, &staff, report_body("xlsx", json!({})), None).await;
    assert_eq!(no_key.status, 400);
    assert_eq!(no_key.body["code"], "IDEMPOTENCY_KEY_REQUIRED");
    let doctor = person(&ulid::Ulid::new().to_string(), "doctors");
    let forbidden = post_report(&stack, &doctor, report_body("xlsx", json!({})), Some("k")).await;
    assert_eq!(forbidden.status, 403);
    let invalid = post_report(
        &stack,
        &staff,
        json!({"kind": "payments", "format": "docx", "filters": {"from": "2025-02-01", "to": "2025-01-01"}}),
        Some(&ulid::Ulid::new().to_string()),
    )
    .await;
    assert_eq!(invalid.status, 400);
    let fields: Vec<_> = invalid.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["kind", "format", "filters"]);

    // Only the requester sees it.
    let id = first.body["reportId"].as_str().unwrap();
    assert_eq!(status(&stack, &staff, id).await.status, 200);
    assert_eq!(status(&stack, &self::staff(), id).await.status, 404);
}

#[tokio::test]
async fn an_xlsx_report_has_typed_rows_and_reaches_its_requester() {
    let stack = Stack::new().await;
    let hospital = seed(&stack, 40).await;
    let staff = staff();
    let reply = post_report(
        &stack,
        &staff,
        report_body(
            "xlsx",
            json!({"hospitalId": hospital, "status": "COMPLETED"}),
        ),
        Some(&ulid::Ulid::new().to_string()),
    )
    .await;
    assert_eq!(reply.status, 202, "{:?}", reply.body);
    let id = reply.body["reportId"].as_str().unwrap().to_string();
    assert_eq!(status(&stack, &staff, &id).await.body["status"], "queued");
    assert_eq!(work(&stack).await, 1);

    let done = status(&stack, &staff, &id).await;
    assert_eq!(done.body["status"], "done", "{:?}", done.body);
    assert_eq!(done.body["rows"], 10);
    let bytes = download(&stack, &done).await;
    let mut workbook: Xlsx<_> = Xlsx::new(std::io::Cursor::new(bytes)).expect("xlsx opens");
    let range = workbook.worksheet_range("Exams").expect("sheet");
    let rows: Vec<_> = range.rows().collect();
    assert_eq!(rows.len(), 11);
    assert_eq!(rows[0][0], Data::String("Exam ID".into()));
    assert_eq!(rows[0][1], Data::String("Scheduled at (UTC)".into()));
    for row in &rows[1..] {
        assert!(matches!(row[1], Data::DateTime(_)), "{:?}", row[1]);
        assert_eq!(row[5], Data::String("COMPLETED".into()));
        assert_eq!(row[3], Data::String(hospital.clone()));
    }

    let events = stack.published(1).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type, EventType::ReportCompleted);
    let completed: ReportCompleted = events[0].data_as().unwrap();
    assert_eq!(completed.requested_by, staff["sub"]);
    assert_eq!(completed.rows, 10);
    assert_eq!(completed.format, "xlsx");
}

#[tokio::test]
async fn a_pdf_report_has_its_header_and_row_count_in_the_text() {
    let stack = Stack::new().await;
    seed(&stack, 120).await;
    let staff = staff();
    let reply = post_report(&stack, &staff, report_body("pdf", json!({})), Some("pdf-1")).await;
    assert_eq!(reply.status, 202, "{:?}", reply.body);
    let id = reply.body["reportId"].as_str().unwrap().to_string();
    work(&stack).await;
    let done = status(&stack, &staff, &id).await;
    assert_eq!(done.body["status"], "done", "{:?}", done.body);
    assert_eq!(done.body["rows"], 120);
    let bytes = download(&stack, &done).await;
    assert!(bytes.starts_with(b"%PDF-"));
    let path = stack.work_dir.join("downloaded.pdf");
    std::fs::write(&path, &bytes).unwrap();
    let out = std::process::Command::new("pdftotext")
        .args(["-layout", path.to_str().unwrap(), "-"])
        .output()
        .expect("pdftotext (poppler-utils) is installed");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Exams report"));
    assert!(text.contains("120 rows"), "{text}");
    assert!(text.contains("Generated at"));
    assert!(text.contains("Page 1 of 3") && text.contains("Page 3 of 3"));
    // The table header repeats on every page.
    assert_eq!(text.matches("Exam ID").count(), 3);
    assert!(text.contains("Hospital São Lucas"));
}

#[tokio::test]
async fn a_busy_or_crashed_job_builds_one_file() {
    let stack = Stack::new().await;
    seed(&stack, 5).await;
    let staff = staff();
    let reply = post_report(
        &stack,
        &staff,
        report_body("xlsx", json!({})),
        Some("crash-1"),
    )
    .await;
    let id = reply.body["reportId"].as_str().unwrap().to_string();
    let event = stack
        .receive(&stack.reports.url, &stack.reports.arn, 10)
        .await;
    assert_eq!(event.records.len(), 1);

    // Another worker holds the job: this copy of the message builds nothing and comes back later.
    let now = jiff::Timestamp::now();
    let claim = stack
        .store()
        .claim_report(
            &id,
            "other-worker",
            now,
            now + jiff::SignedDuration::from_secs(300),
        )
        .await
        .unwrap();
    assert!(matches!(
        claim,
        clinic_file_management::domain::ReportClaim::Claimed(_)
    ));
    let processor = stack.processor(&stack.reports.dlq_url);
    let busy = processor
        .process_messages(&stack.worker(), event.clone())
        .await;
    assert_eq!(busy.batch_item_failures.len(), 1);
    let objects = stack
        .s3
        .list_objects_v2()
        .bucket(&stack.results_bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(objects.key_count(), Some(0));

    // That worker crashed mid-report: its lease runs out and the redelivered message takes over.
    stack
        .dynamodb
        .update_item()
        .table_name(&stack.table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("REPORT#{id}")),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("REPORT".into()),
        )
        .update_expression("SET leaseUntilMs = :past")
        .expression_attribute_values(
            ":past",
            aws_sdk_dynamodb::types::AttributeValue::N("1".into()),
        )
        .send()
        .await
        .unwrap();
    for _ in 0..2 {
        let response = processor
            .process_messages(&stack.worker(), event.clone())
            .await;
        assert!(response.batch_item_failures.is_empty(), "{response:?}");
    }

    let done = status(&stack, &staff, &id).await;
    assert_eq!(done.body["status"], "done", "{:?}", done.body);
    let versions = stack
        .s3
        .list_object_versions()
        .bucket(&stack.results_bucket)
        .prefix("reports/")
        .send()
        .await
        .unwrap();
    assert_eq!(versions.versions().len(), 1, "one file, one version");
    let events = stack.published(2).await;
    assert_eq!(events.len(), 1, "{events:?}");
    let report = stack.store().report(&id).await.unwrap().unwrap();
    assert_eq!(report.attempts, 2);
}

#[tokio::test]
async fn a_poison_job_ends_in_error_with_a_readable_reason() {
    let stack = Stack::new().await;
    seed(&stack, 3).await;
    let staff = staff();
    let reply = post_report(
        &stack,
        &staff,
        report_body("pdf", json!({})),
        Some("poison-1"),
    )
    .await;
    let id = reply.body["reportId"].as_str().unwrap().to_string();

    // This worker's results bucket does not exist: every attempt fails at the upload.
    let mut config = stack.consumer_config(&stack.reports.dlq_url);
    config.results_bucket = format!("{}-missing", stack.results_bucket);
    let worker = clinic_file_management::report_worker(&config, &stack.sdk);
    let processor = stack.processor(&stack.reports.dlq_url);
    let mut attempts = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    while tokio::time::Instant::now() < deadline {
        let event = stack
            .receive(&stack.reports.url, &stack.reports.arn, 10)
            .await;
        if event.records.is_empty() {
            let dead = stack
                .receive(&stack.reports.dlq_url, &stack.reports.dlq_arn, 10)
                .await;
            if !dead.records.is_empty() {
                // The reports DLQ handler gives up on it.
                let response = processor
                    .process_messages(&stack.dlq_handler(), dead.clone())
                    .await;
                assert!(response.batch_item_failures.is_empty(), "{response:?}");
                break;
            }
            continue;
        }
        attempts += 1;
        let response = processor.process_messages(&worker, event.clone()).await;
        assert_eq!(response.batch_item_failures.len(), 1, "retryable failure");
        let queued = status(&stack, &staff, &id).await;
        assert_eq!(queued.body["status"], "queued", "the lease is given back");
    }
    assert_eq!(attempts, 4, "first attempt and three retries");
    let failed = status(&stack, &staff, &id).await;
    assert_eq!(failed.body["status"], "error", "{:?}", failed.body);
    let reason = failed.body["error"].as_str().unwrap();
    assert!(reason.contains("could not be stored"), "{reason}");
    assert!(failed.body.get("downloadUrl").is_none());
    let events = stack.published(1).await;
    assert_eq!(events[0].event_type, EventType::ReportFailed);
    let data: ReportFailed = events[0].data_as().unwrap();
    assert_eq!(data.requested_by, staff["sub"]);
    assert_eq!(data.reason, reason);
}

#[tokio::test]
async fn the_dead_letter_handler_waits_for_a_live_lease() {
    let stack = Stack::new().await;
    let staff = staff();
    let reply = post_report(
        &stack,
        &staff,
        report_body("xlsx", json!({})),
        Some("busy-1"),
    )
    .await;
    let id = reply.body["reportId"].as_str().unwrap().to_string();
    let now = jiff::Timestamp::now();
    stack
        .store()
        .claim_report(
            &id,
            "busy-worker",
            now,
            now + jiff::SignedDuration::from_secs(300),
        )
        .await
        .unwrap();
    let mut dead: aws_lambda_events::event::sqs::SqsEvent =
        serde_json::from_value(sample("report-dlq-sqs.json")).unwrap();
    dead.records[0].body = Some(json!({"reportId": id}).to_string());
    dead.records[0].event_source_arn = Some(stack.reports.dlq_arn.clone());
    let processor = stack.processor(&stack.reports.dlq_url);
    let response = processor
        .process_messages(&stack.dlq_handler(), dead.clone())
        .await;
    assert_eq!(
        response.batch_item_failures.len(),
        1,
        "retried while a worker holds it"
    );
    assert_eq!(
        status(&stack, &staff, &id).await.body["status"],
        "processing"
    );

    // The sample job message runs through the worker: an unknown report is parked, not retried.
    let mut job: aws_lambda_events::event::sqs::SqsEvent =
        serde_json::from_value(sample("report-job-sqs.json")).unwrap();
    job.records[0].event_source_arn = Some(stack.reports.arn.clone());
    let response = processor.process_messages(&stack.worker(), job).await;
    assert!(response.batch_item_failures.is_empty());
    let parked = stack
        .receive(&stack.reports.dlq_url, &stack.reports.dlq_arn, 10)
        .await;
    assert_eq!(parked.records.len(), 1);
    let response = processor
        .process_messages(&stack.dlq_handler(), parked)
        .await;
    assert!(
        response.batch_item_failures.is_empty(),
        "a dead job of an unknown report is dropped"
    );
}

#[tokio::test]
async fn a_report_download_rechecks_staff_and_is_audited_first() {
    let stack = Stack::new().await;
    seed(&stack, 3).await;
    let staff = staff();
    let reply = post_report(
        &stack,
        &staff,
        report_body("xlsx", json!({})),
        Some(&ulid::Ulid::new().to_string()),
    )
    .await;
    let id = reply.body["reportId"].as_str().unwrap().to_string();
    work(&stack).await;

    // The requester's token no longer carries the staff group: no report, no URL.
    let mut demoted = staff.clone();
    demoted.insert("cognito:groups".into(), "[doctors]".into());
    let refused = status(&stack, &demoted, &id).await;
    assert_eq!(refused.status, 403, "{:?}", refused.body);
    assert!(refused.body.get("downloadUrl").is_none());

    let event = authed(
        "report-get.json",
        &staff,
        &format!("/v1/reports/{id}"),
        None,
    );
    let request_id = event["requestContext"]["requestId"]
        .as_str()
        .unwrap()
        .to_string();
    let done = stack.call(event).await;
    assert_eq!(done.status, 200, "{:?}", done.body);
    assert!(done.body["downloadUrl"].is_string());
    let grants = stack
        .dynamodb
        .query()
        .table_name(&stack.table)
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(
            ":pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("ACCESS#REPORT#{id}")),
        )
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default();
    assert_eq!(
        grants.len(),
        1,
        "one audited grant per minted URL: {grants:?}"
    );
    let grant = &grants[0];
    assert_eq!(grant["actorId"].as_s().unwrap(), &staff["sub"]);
    assert_eq!(grant["requestId"].as_s().unwrap(), &request_id);
    assert!(!grant.contains_key("expiresAt"));
    // A status without a URL (not done yet, or refused) leaves no grant.
    assert_eq!(status(&stack, &demoted, &id).await.status, 403);
}

#[tokio::test]
async fn a_report_past_its_retention_is_gone() {
    let stack = Stack::new().await;
    seed(&stack, 2).await;
    let staff = staff();
    let reply = post_report(
        &stack,
        &staff,
        report_body("pdf", json!({})),
        Some(&ulid::Ulid::new().to_string()),
    )
    .await;
    let id = reply.body["reportId"].as_str().unwrap().to_string();
    work(&stack).await;
    assert_eq!(status(&stack, &staff, &id).await.status, 200);

    // 31 days later (the emulator never expires items, and TTL is not exact anyway).
    let old = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(31 * 24);
    stack
        .dynamodb
        .update_item()
        .table_name(&stack.table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("REPORT#{id}")),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("REPORT".into()),
        )
        .update_expression("SET createdAt = :old")
        .expression_attribute_values(
            ":old",
            aws_sdk_dynamodb::types::AttributeValue::S(old.to_string()),
        )
        .send()
        .await
        .unwrap();
    let gone = status(&stack, &staff, &id).await;
    assert_eq!(gone.status, 410, "{:?}", gone.body);
    assert_eq!(gone.body["code"], "REPORT_EXPIRED");
    assert!(gone.body.get("downloadUrl").is_none());
}
