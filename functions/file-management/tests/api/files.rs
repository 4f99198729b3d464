//! Result files: upload through the presigned URL, processing, download, audit trail, rejections,
//! permissions, idempotent processing and erasure.

use std::time::Duration;

use clinic_file_management::domain::Projection;
use clinic_file_management::domain::checks::sample_pdf;
use clinic_shared::envelope::{
    EventType, ExamStatus, ExamUpdated, FileProcessed, FileRejected, HospitalRegistered,
};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::support::*;

fn pdf_body(size: usize) -> serde_json::Value {
    json!({"fileName": "hemograma.pdf", "contentType": "application/pdf", "size": size, "kind": "result"})
}

#[tokio::test]
async fn upload_process_download_and_audit_trail() {
    let stack = Stack::new().await;
    let exam = TestExam::new();
    stack.exam(&exam).await;
    let pdf = sample_pdf("Resultado: normal");

    let reply = stack
        .request_upload(&exam.doctor_claims(), &exam.id, pdf_body(pdf.len()))
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    let url = reply.body["uploadUrl"].as_str().unwrap().to_string();
    assert_short_lived(&url);
    let signed = query_param(&url, "X-Amz-SignedHeaders").unwrap();
    assert!(
        signed.contains("content-length") && signed.contains("content-type"),
        "{signed}"
    );
    assert_eq!(
        reply.body["uploadHeaders"]["content-type"],
        "application/pdf"
    );
    assert!(!url.contains(&exam.id) && !url.contains(&exam.patient));
    let file_id = reply.body["fileId"].as_str().unwrap().to_string();

    // Before the bytes arrive the file is pending and cannot be downloaded.
    let list = stack
        .call(authed(
            "files-get.json",
            &exam.patient_claims(),
            &format!("/v1/exams/{}/files", exam.id),
            None,
        ))
        .await;
    assert_eq!(list.body["items"][0]["status"], "PENDING");

    assert_eq!(stack.put(&reply, pdf.clone()).await, 200);
    // The S3 test event and the upload's notification.
    assert!(stack.process_uploads().await >= 1);

    let list = stack
        .call(authed(
            "files-get.json",
            &exam.patient_claims(),
            &format!("/v1/exams/{}/files", exam.id),
            None,
        ))
        .await;
    assert_eq!(list.status, 200, "{:?}", list.body);
    let file = &list.body["items"][0];
    assert_eq!(file["status"], "AVAILABLE", "{file:?}");
    assert_eq!(file["size"], pdf.len());
    assert_eq!(file["sha256"], hex::encode(Sha256::digest(&pdf)));

    // Stored under a key that says nothing about the patient; the upload is gone.
    let stored = stack
        .s3
        .list_objects_v2()
        .bucket(&stack.results_bucket)
        .send()
        .await
        .unwrap();
    let keys: Vec<_> = stored.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, [format!("files/{file_id}").as_str()]);
    let uploads = stack
        .s3
        .list_objects_v2()
        .bucket(&stack.uploads_bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(uploads.key_count(), Some(0));

    let events = stack.published(1).await;
    assert_eq!(events.len(), 1, "{events:?}");
    let processed: FileProcessed = events[0].data_as().unwrap();
    assert_eq!(processed.file_id, file_id);
    assert_eq!(processed.exam_id, exam.id);
    assert_eq!(processed.size, pdf.len() as u64);

    // The owner, the assigned doctor and staff get working, short-lived URLs.
    let staff = staff();
    let mut request_ids = Vec::new();
    for claims in [exam.patient_claims(), exam.doctor_claims(), staff.clone()] {
        let event = authed(
            "file-download.json",
            &claims,
            &format!("/v1/files/{file_id}/download"),
            None,
        );
        request_ids.push(
            event["requestContext"]["requestId"]
                .as_str()
                .unwrap()
                .to_string(),
        );
        let reply = stack.call(event).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        assert_eq!(reply.headers["cache-control"], "no-store");
        let url = reply.body["url"].as_str().unwrap();
        assert_short_lived(url);
        let got = stack.http.get(url).send().await.unwrap();
        assert_eq!(got.status(), 200);
        assert_eq!(got.bytes().await.unwrap().as_ref(), pdf.as_slice());
    }

    // Everyone else learns nothing.
    let other_patient = person(&ulid::Ulid::new().to_string(), "patients");
    let other_doctor = person(&ulid::Ulid::new().to_string(), "doctors");
    for claims in [
        other_patient.clone(),
        other_doctor,
        hospital_client("some-client"),
    ] {
        let reply = stack
            .call(authed(
                "file-download.json",
                &claims,
                &format!("/v1/files/{file_id}/download"),
                None,
            ))
            .await;
        assert_eq!(reply.status, 404, "{:?}", reply.body);
    }
    let missing = stack
        .call(authed(
            "file-download.json",
            &exam.patient_claims(),
            &format!("/v1/files/{}/download", ulid::Ulid::new()),
            None,
        ))
        .await;
    assert_eq!(missing.status, 404);
    let list = stack
        .call(authed(
            "files-get.json",
            &other_patient,
            &format!("/v1/exams/{}/files", exam.id),
            None,
        ))
        .await;
    assert_eq!(list.status, 404);

    // Every grant is in the access log the patient sees; others are kept out.
    let log = stack
        .call(authed(
            "access-log-get.json",
            &exam.patient_claims(),
            &format!("/v1/exams/{}/access-log", exam.id),
            None,
        ))
        .await;
    assert_eq!(log.status, 200, "{:?}", log.body);
    let items = log.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{items:?}");
    let roles: Vec<_> = items
        .iter()
        .map(|i| i["actorRole"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["patient", "doctor", "staff"]);
    for (item, request_id) in items.iter().zip(&request_ids) {
        assert_eq!(item["fileId"], file_id.as_str());
        assert_eq!(item["action"], "DOWNLOAD_GRANTED");
        assert_eq!(item["requestId"], request_id.as_str());
    }
    assert_eq!(items[0]["actorId"], exam.patient.as_str());
    let staff_log = stack
        .call(authed(
            "access-log-get.json",
            &staff,
            &format!("/v1/exams/{}/access-log", exam.id),
            None,
        ))
        .await;
    assert_eq!(staff_log.status, 200);
    let doctor_log = stack
        .call(authed(
            "access-log-get.json",
            &exam.doctor_claims(),
            &format!("/v1/exams/{}/access-log", exam.id),
            None,
        ))
        .await;
    assert_eq!(doctor_log.status, 403);
    let other_log = stack
        .call(authed(
            "access-log-get.json",
            &other_patient,
            &format!("/v1/exams/{}/access-log", exam.id),
            None,
        ))
        .await;
    assert_eq!(other_log.status, 404);
    let paged = stack
        .call(authed(
            "access-log-get.json",
            &exam.patient_claims(),
            &format!("/v1/exams/{}/access-log", exam.id),
            None,
        ))
        .await;
    assert!(paged.headers.contains_key("x-request-id"));
}

#[tokio::test]
async fn bad_uploads_are_rejected_with_reasons() {
    let stack = Stack::new().await;
    let exam = TestExam::new();
    stack.exam(&exam).await;
    let pdf = sample_pdf("complete");
    let truncated = pdf[..pdf.len() / 2].to_vec();
    let text = b"just some text in a file named .pdf".to_vec();
    let oversize = vec![b'%'; 20 * 1024 * 1024 + 1];

    let not_pdf = stack.upload_pdf(&exam, text.clone(), text.len()).await;
    let cut = stack
        .upload_pdf(&exam, truncated.clone(), truncated.len())
        .await;
    // The URL was issued for 1 KB; the emulator does not enforce the signed length, the
    // processor does.
    let big = stack.upload_pdf(&exam, oversize, 1024).await;

    let list = stack
        .call(authed(
            "files-get.json",
            &exam.doctor_claims(),
            &format!("/v1/exams/{}/files", exam.id),
            None,
        ))
        .await;
    assert_eq!(list.status, 200);
    let reason_of = |id: &str| {
        list.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["fileId"] == id)
            .map(|f| {
                (
                    f["status"].clone(),
                    f["reason"].clone(),
                    f["reasonText"].clone(),
                )
            })
            .unwrap()
    };
    assert_eq!(reason_of(&not_pdf).0, "REJECTED");
    assert_eq!(reason_of(&not_pdf).1, "NOT_A_PDF");
    assert_eq!(reason_of(&cut).1, "CORRUPT_PDF");
    assert_eq!(reason_of(&big).1, "TOO_LARGE");
    assert!(reason_of(&big).2.as_str().unwrap().contains("20 MB"));

    let events = stack.published(3).await;
    assert_eq!(events.len(), 3, "{events:?}");
    let mut reasons: Vec<String> = events
        .iter()
        .map(|e| {
            assert_eq!(e.event_type, EventType::FileRejected);
            e.data_as::<FileRejected>().unwrap().reason
        })
        .collect();
    reasons.sort();
    assert_eq!(reasons, ["CORRUPT_PDF", "NOT_A_PDF", "TOO_LARGE"]);

    // Nothing rejected reaches the results bucket, and nothing can be downloaded.
    let stored = stack
        .s3
        .list_objects_v2()
        .bucket(&stack.results_bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(stored.key_count(), Some(0));
    let reply = stack
        .call(authed(
            "file-download.json",
            &exam.patient_claims(),
            &format!("/v1/files/{not_pdf}/download"),
            None,
        ))
        .await;
    assert_eq!(reply.status, 409);
    assert_eq!(reply.body["code"], "FILE_NOT_AVAILABLE");
}

#[tokio::test]
async fn the_same_s3_event_twice_gives_one_record_and_one_event() {
    let stack = Stack::new().await;
    let exam = TestExam::new();
    stack.exam(&exam).await;
    let pdf = sample_pdf("twice");
    let reply = stack
        .request_upload(&exam.doctor_claims(), &exam.id, pdf_body(pdf.len()))
        .await;
    assert_eq!(stack.put(&reply, pdf).await, 200);
    let mut event = stack
        .receive(&stack.uploads.url, &stack.uploads.arn, 10)
        .await;
    for _ in 0..3 {
        if event.records.iter().any(|r| {
            r.body
                .as_deref()
                .is_some_and(|b| b.contains("ObjectCreated"))
        }) {
            break;
        }
        event = stack
            .receive(&stack.uploads.url, &stack.uploads.arn, 10)
            .await;
    }
    let processor = stack.processor(&stack.uploads.dlq_url);
    let handler = stack.uploads_handler();
    // The notification delivered three times (SQS is at-least-once). Concurrent copies are
    // settled by the conditional transaction on the file, which DynamoDB serialises; the
    // emulator does not serialise concurrent conditional writes, so copies run one after another.
    for _ in 0..3 {
        let response = processor.process_messages(&handler, event.clone()).await;
        assert!(response.batch_item_failures.is_empty(), "{response:?}");
    }
    let list = stack
        .call(authed(
            "files-get.json",
            &exam.doctor_claims(),
            &format!("/v1/exams/{}/files", exam.id),
            None,
        ))
        .await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(list.body["items"][0]["status"], "AVAILABLE");
    let events = stack.published(2).await;
    assert_eq!(events.len(), 1, "{events:?}");
}

#[tokio::test]
async fn upload_requests_check_role_ownership_and_input() {
    let stack = Stack::new().await;
    let exam = TestExam::new();
    stack.exam(&exam).await;
    let client_id = format!("client-{}", ulid::Ulid::new());
    let registered = envelope(
        &exam.hospital,
        HospitalRegistered {
            hospital_id: exam.hospital.clone(),
            name: "Hospital São Lucas".into(),
            cnes: "2077485".into(),
            client_id: client_id.clone(),
        },
    );
    assert!(
        stack
            .project(&[registered])
            .await
            .batch_item_failures
            .is_empty()
    );

    let ok = stack
        .request_upload(&hospital_client(&client_id), &exam.id, pdf_body(100))
        .await;
    assert_eq!(ok.status, 201, "{:?}", ok.body);
    let cases = [
        (exam.patient_claims(), 403),
        (staff(), 403),
        (person(&ulid::Ulid::new().to_string(), "doctors"), 404),
        (hospital_client("another-hospital-client"), 404),
    ];
    for (claims, status) in cases {
        let reply = stack.request_upload(&claims, &exam.id, pdf_body(100)).await;
        assert_eq!(
            reply.status,
            status,
            "{:?} {:?}",
            claims.get("cognito:groups"),
            reply.body
        );
    }
    let unknown = stack
        .request_upload(
            &exam.doctor_claims(),
            &ulid::Ulid::new().to_string(),
            pdf_body(100),
        )
        .await;
    assert_eq!(unknown.status, 404);
    let no_token = stack
        .call(without_auth(authed(
            "files-post.json",
            &exam.doctor_claims(),
            &format!("/v1/exams/{}/files", exam.id),
            Some(pdf_body(100)),
        )))
        .await;
    assert_eq!(no_token.status, 401);

    let bad = stack
        .request_upload(
            &exam.doctor_claims(),
            &exam.id,
            json!({"fileName": "../x", "contentType": "text/html", "size": 0, "kind": "photo"}),
        )
        .await;
    assert_eq!(bad.status, 400, "{:?}", bad.body);
    let mut fields: Vec<_> = bad.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_string())
        .collect();
    fields.sort();
    assert_eq!(fields, ["contentType", "fileName", "kind", "size"]);
    let image_result = stack
        .request_upload(
            &exam.doctor_claims(),
            &exam.id,
            json!({"fileName": "x.png", "contentType": "image/png", "size": 10, "kind": "result"}),
        )
        .await;
    assert_eq!(image_result.status, 400);
    let too_big = stack
        .request_upload(
            &exam.doctor_claims(),
            &exam.id,
            pdf_body(20 * 1024 * 1024 + 1),
        )
        .await;
    assert_eq!(too_big.status, 413);
    assert_eq!(too_big.body["code"], "PAYLOAD_TOO_LARGE");

    // Same idempotency key and body: the same ticket again.
    let keyed = || {
        with_header(
            authed(
                "files-post.json",
                &exam.doctor_claims(),
                &format!("/v1/exams/{}/files", exam.id),
                Some(pdf_body(100)),
            ),
            "idempotency-key",
            Some("upload-once"),
        )
    };
    let first = stack.call(keyed()).await;
    let again = stack.call(keyed()).await;
    assert_eq!(first.status, 201);
    assert_eq!(again.body["fileId"], first.body["fileId"]);
    assert_eq!(again.headers["idempotent-replayed"], "true");

    // A cancelled exam takes no files; an older event does not undo the cancellation.
    let cancelled = |status: ExamStatus, previous: ExamStatus| {
        envelope(
            &exam.id,
            ExamUpdated {
                exam_id: exam.id.clone(),
                patient_id: Some(exam.patient.clone()),
                hospital_id: exam.hospital.clone(),
                hospital_name: "Hospital São Lucas".into(),
                exam_type: "hemograma".into(),
                scheduled_at: exam.scheduled_at,
                doctor_id: Some(exam.doctor.clone()),
                status,
                previous_status: previous,
            },
        )
    };
    let older = cancelled(ExamStatus::Collected, ExamStatus::Scheduled);
    tokio::time::sleep(Duration::from_millis(5)).await;
    let newer = cancelled(ExamStatus::Cancelled, ExamStatus::Collected);
    assert!(stack.project(&[newer]).await.batch_item_failures.is_empty());
    assert!(stack.project(&[older]).await.batch_item_failures.is_empty());
    let reply = stack
        .request_upload(&exam.doctor_claims(), &exam.id, pdf_body(100))
        .await;
    assert_eq!(reply.status, 409, "{:?}", reply.body);
    assert_eq!(reply.body["code"], "EXAM_CANCELLED");
}

#[tokio::test]
async fn account_deletion_erases_the_patients_files_and_records_it() {
    let stack = Stack::new().await;
    let exam = TestExam::new();
    stack.exam(&exam).await;
    let file_id = stack
        .upload_pdf(&exam, sample_pdf("to erase"), sample_pdf("to erase").len())
        .await;
    let other = TestExam::new();
    stack.exam(&other).await;
    let kept = stack
        .upload_pdf(&other, sample_pdf("kept"), sample_pdf("kept").len())
        .await;

    let deleted = account_deleted(&exam.patient, "patient");
    assert!(
        stack
            .project(std::slice::from_ref(&deleted))
            .await
            .batch_item_failures
            .is_empty()
    );
    // A second delivery of the same event changes nothing.
    assert!(
        stack
            .project(&[deleted])
            .await
            .batch_item_failures
            .is_empty()
    );

    let versions = stack
        .s3
        .list_object_versions()
        .bucket(&stack.results_bucket)
        .send()
        .await
        .unwrap();
    let left: Vec<_> = versions.versions().iter().filter_map(|v| v.key()).collect();
    assert_eq!(
        left,
        [format!("files/{kept}").as_str()],
        "every version of the erased file is gone"
    );
    assert!(versions.delete_markers().is_empty());

    let list = stack
        .call(authed(
            "files-get.json",
            &staff(),
            &format!("/v1/exams/{}/files", exam.id),
            None,
        ))
        .await;
    let file = &list.body["items"][0];
    assert_eq!(file["status"], "ERASED");
    assert!(file.get("fileName").is_none() && file.get("sha256").is_none());
    let log = stack
        .call(authed(
            "access-log-get.json",
            &staff(),
            &format!("/v1/exams/{}/access-log", exam.id),
            None,
        ))
        .await;
    let erased: Vec<_> = log.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["action"] == "ERASED")
        .collect();
    assert_eq!(erased.len(), 1);
    assert_eq!(erased[0]["fileId"], file_id.as_str());
    let record = stack
        .dynamodb
        .get_item()
        .table_name(&stack.table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("ERASURE#{}", exam.patient)),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("ERASURE".into()),
        )
        .send()
        .await
        .unwrap()
        .item
        .expect("erasure recorded");
    assert_eq!(record["filesErased"].as_n().unwrap(), "1");
    assert_eq!(record["role"].as_s().unwrap(), "patient");
    // The former owner's token is refused, and the exam no longer names them.
    let reply = stack
        .call(authed(
            "files-get.json",
            &exam.patient_claims(),
            &format!("/v1/exams/{}/files", exam.id),
            None,
        ))
        .await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.body["code"], "ACCOUNT_ERASED");
    let view = stack.store().exam(&exam.id).await.unwrap().unwrap();
    assert_eq!(view.patient_id, None);
    assert!(view.patient_erased);
}

#[tokio::test]
async fn sample_consumer_events_are_handled() {
    let stack = Stack::new().await;
    // Uploads: the test event is ignored; an object no file expects is parked with its reason.
    let mut uploads: aws_lambda_events::event::sqs::SqsEvent =
        serde_json::from_value(sample("uploads-s3-sqs.json")).unwrap();
    for record in &mut uploads.records {
        record.event_source_arn = Some(stack.uploads.arn.clone());
    }
    let response = stack
        .processor(&stack.uploads.dlq_url)
        .process_messages(&stack.uploads_handler(), uploads)
        .await;
    assert!(response.batch_item_failures.is_empty());
    let parked = stack
        .receive(&stack.uploads.dlq_url, &stack.uploads.dlq_arn, 10)
        .await;
    assert_eq!(parked.records.len(), 1);
    assert!(
        parked.records[0].message_attributes["failureReason"]
            .string_value
            .as_deref()
            .unwrap()
            .contains("not found")
    );

    // Projection: the sample batch applies (exam, hospital client, erasure of nobody's files).
    let mut projection: aws_lambda_events::event::sqs::SqsEvent =
        serde_json::from_value(sample("projection-sqs.json")).unwrap();
    for record in &mut projection.records {
        record.event_source_arn = Some(stack.projection.arn.clone());
    }
    let response = clinic_shared::sqs_batch::handle_batch(
        &stack.processor(&stack.projection.dlq_url),
        &stack.projection_handler(),
        projection,
    )
    .await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    let doctor = person("5b7e2c19-8d4a-4f3b-a1c6-7e9d0f2b3c4a", "doctors");
    let reply = stack
        .call(authed(
            "files-get.json",
            &doctor,
            "/v1/exams/01JNQ7ZK3M5V8X2C4B6N9P1R3T/files",
            None,
        ))
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);

    // The outbox samples relay (nothing pending in this table for the stream sample's id).
    let relay = clinic_shared::outbox::OutboxRelay::new(
        clinic_shared::outbox::SnsPublisher::new(stack.sns.clone(), stack.topic_arn.clone()),
        clinic_shared::outbox::DynamoOutbox::new(stack.dynamodb.clone(), stack.table.clone()),
        jiff::SignedDuration::ZERO,
    );
    assert!(relay.handle(sample("outbox-schedule.json")).await.is_ok());
    let streamed = relay.handle(sample("outbox-stream.json")).await.unwrap();
    assert_eq!(streamed["batchItemFailures"], json!([]));
    let published = stack.probe.receive(1, Duration::from_secs(3)).await;
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].event_type, EventType::FileProcessed);
}

#[tokio::test]
async fn exam_events_of_the_same_instant_converge_whatever_their_order() {
    let stack = Stack::new().await;
    let assigning = |exam: &TestExam, doctor: &str, at: jiff::Timestamp, id: &str| {
        let mut event = envelope(
            &exam.id,
            ExamUpdated {
                exam_id: exam.id.clone(),
                patient_id: Some(exam.patient.clone()),
                hospital_id: exam.hospital.clone(),
                hospital_name: "Hospital São Lucas".into(),
                exam_type: "hemograma".into(),
                scheduled_at: exam.scheduled_at,
                doctor_id: Some(doctor.to_string()),
                status: ExamStatus::Scheduled,
                previous_status: ExamStatus::Scheduled,
            },
        );
        event.time = at;
        event.id = id.to_string();
        event
    };
    for reversed in [false, true] {
        let exam = TestExam::new();
        stack.exam(&exam).await;
        // Two changes stamped with the same instant: the envelope id decides, whatever arrives
        // first, so every copy of the view ends the same.
        let at = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(1);
        let mut ids = [ulid::Ulid::new(), ulid::Ulid::new()].map(|u| u.to_string());
        ids.sort();
        let lower = assigning(&exam, "doctor-of-the-lower-id", at, &ids[0]);
        let higher = assigning(&exam, "doctor-of-the-higher-id", at, &ids[1]);
        let order = if reversed {
            [higher.clone(), lower]
        } else {
            [lower, higher.clone()]
        };
        for event in order {
            let response = stack.project(&[event]).await;
            assert!(response.batch_item_failures.is_empty());
        }
        let view = stack.store().exam(&exam.id).await.unwrap().expect("view");
        assert_eq!(
            view.doctor_id.as_deref(),
            Some("doctor-of-the-higher-id"),
            "reversed: {reversed}"
        );
        // The same event again is already applied: not written, not an error.
        assert!(!stack.store().upsert_exam(&view).await.unwrap());
        assert!(
            stack
                .project(&[higher])
                .await
                .batch_item_failures
                .is_empty()
        );
    }
}
