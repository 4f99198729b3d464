//! Controls from the security review of file-management: an append-only audit trail, uploads
//! that cannot be swapped after their check, bounded PDF checks that fail only the bad record, an
//! erasure that late exam events cannot undo, and erased accounts refused by every route.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use clinic_file_management::app::uploads::{Processed, UploadProcessor, UploadedObject};
use clinic_file_management::domain::checks::{InProcessPdfInspector, sample_pdf};
use clinic_file_management::domain::{
    AccessAction, AccessEntry, AuditTrail, Bucket, Erasures, Files, ObjectStorage, Presigned,
    Projection, StorageError, StoreError, StoredObject,
};
use clinic_file_management::outbound::s3::S3Storage;
use clinic_shared::envelope::{ExamStatus, ExamUpdated, FileProcessed, Role};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::support::*;

fn pdf_body(size: usize) -> serde_json::Value {
    json!({"fileName": "laudo.pdf", "contentType": "application/pdf", "size": size, "kind": "result"})
}

async fn raw_items(
    stack: &Stack,
    pk: &str,
) -> Vec<std::collections::HashMap<String, AttributeValue>> {
    stack
        .dynamodb
        .query()
        .table_name(&stack.table)
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", AttributeValue::S(pk.to_string()))
        .send()
        .await
        .expect("query")
        .items
        .unwrap_or_default()
}

#[tokio::test]
async fn an_audit_entry_is_written_once_and_never_expires() {
    let stack = Stack::new().await;
    let store = stack.store();
    let exam_id = ulid::Ulid::new().to_string();
    let entry = AccessEntry {
        entry_id: ulid::Ulid::new().to_string(),
        exam_id: exam_id.clone(),
        file_id: ulid::Ulid::new().to_string(),
        action: AccessAction::DownloadGranted,
        actor_id: ulid::Ulid::new().to_string(),
        actor_role: Role::Patient,
        at: jiff::Timestamp::now(),
        request_id: "req-audit-1".into(),
    };
    store.append(&entry).await.expect("first write");
    let again = store.append(&entry).await;
    assert!(
        matches!(again, Err(StoreError::Conflict(_))),
        "a second write of the same entry is refused: {again:?}"
    );
    let items = raw_items(&stack, &format!("ACCESS#{exam_id}")).await;
    assert_eq!(items.len(), 1, "{items:?}");
    for item in &items {
        assert!(
            !item.contains_key("expiresAt"),
            "audit entries never expire: {item:?}"
        );
    }

    // The erasure's entries, in their own partition, likewise.
    let erased = AccessEntry {
        entry_id: entry.file_id.clone(),
        action: AccessAction::Erased,
        actor_id: "system".into(),
        actor_role: Role::Staff,
        ..entry.clone()
    };
    assert!(store.record_erased_file(&erased).await.unwrap());
    assert!(
        !store.record_erased_file(&erased).await.unwrap(),
        "written once"
    );
    let items = raw_items(&stack, &format!("ERASED#{exam_id}")).await;
    assert_eq!(items.len(), 1, "{items:?}");
    assert!(!items[0].contains_key("expiresAt"));
    let log = store.entries(&exam_id, 50, None).await.unwrap();
    let actions: Vec<_> = log.items.iter().map(|e| e.action).collect();
    assert_eq!(
        actions,
        [AccessAction::DownloadGranted, AccessAction::Erased]
    );
    // Paged one at a time, the same two.
    let first = store.entries(&exam_id, 1, None).await.unwrap();
    let cursor = first.next_cursor.expect("a second page");
    let second = store.entries(&exam_id, 1, Some(&cursor)).await.unwrap();
    assert_eq!(first.items[0].action, AccessAction::DownloadGranted);
    assert_eq!(second.items[0].action, AccessAction::Erased);
}

/// Object storage that lets the uploader overwrite the upload right after the processor read it
/// (a second PUT with a still-valid presigned URL).
struct SwapAfterRead {
    inner: S3Storage,
    s3: aws_sdk_s3::Client,
    uploads_bucket: String,
    replacement: Vec<u8>,
}

impl ObjectStorage for SwapAfterRead {
    async fn presign_upload(
        &self,
        key: &str,
        content_type: &str,
        size: u64,
    ) -> Result<Presigned, StorageError> {
        self.inner.presign_upload(key, content_type, size).await
    }

    async fn presign_download(
        &self,
        bucket: Bucket,
        key: &str,
        file_name: &str,
    ) -> Result<Presigned, StorageError> {
        self.inner.presign_download(bucket, key, file_name).await
    }

    async fn size_of(&self, bucket: Bucket, key: &str) -> Result<u64, StorageError> {
        self.inner.size_of(bucket, key).await
    }

    async fn read(
        &self,
        bucket: Bucket,
        key: &str,
        max_bytes: u64,
    ) -> Result<StoredObject, StorageError> {
        let read = self.inner.read(bucket, key, max_bytes).await?;
        if bucket == Bucket::Uploads {
            self.s3
                .put_object()
                .bucket(&self.uploads_bucket)
                .key(key)
                .content_type("application/pdf")
                .body(self.replacement.clone().into())
                .send()
                .await
                .expect("swap the upload");
        }
        Ok(read)
    }

    async fn store_result(
        &self,
        result_key: &str,
        bytes: Vec<u8>,
        content_type: &str,
        sha256_hex: &str,
    ) -> Result<(), StorageError> {
        self.inner
            .store_result(result_key, bytes, content_type, sha256_hex)
            .await
    }

    async fn delete(&self, bucket: Bucket, key: &str) -> Result<(), StorageError> {
        self.inner.delete(bucket, key).await
    }

    async fn erase(&self, bucket: Bucket, key: &str) -> Result<(), StorageError> {
        self.inner.erase(bucket, key).await
    }

    async fn put_file(
        &self,
        key: &str,
        path: &std::path::Path,
        content_type: &str,
    ) -> Result<(), StorageError> {
        self.inner.put_file(key, path, content_type).await
    }
}

#[tokio::test]
async fn an_upload_swapped_after_its_check_stores_the_checked_bytes() {
    let stack = Stack::new().await;
    let exam = TestExam::new();
    stack.exam(&exam).await;
    let checked = sample_pdf("Resultado conferido");
    let swapped = sample_pdf("Outro conteudo, nunca conferido");
    let reply = stack
        .request_upload(&exam.doctor_claims(), &exam.id, pdf_body(checked.len()))
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    assert_eq!(stack.put(&reply, checked.clone()).await, 200);
    let file_id = reply.body["fileId"].as_str().unwrap().to_string();

    let storage = SwapAfterRead {
        inner: S3Storage::new(
            stack.s3.clone(),
            stack.uploads_bucket.clone(),
            stack.results_bucket.clone(),
        ),
        s3: stack.s3.clone(),
        uploads_bucket: stack.uploads_bucket.clone(),
        replacement: swapped.clone(),
    };
    let processor = UploadProcessor::new(stack.store(), storage, InProcessPdfInspector);
    let outcome = processor
        .process(
            &UploadedObject {
                key: format!("incoming/{file_id}"),
                size: Some(checked.len() as u64),
            },
            TRACE,
        )
        .await
        .expect("processed");
    assert_eq!(outcome, Processed::Available);

    let stored = stack
        .s3
        .get_object()
        .bucket(&stack.results_bucket)
        .key(format!("files/{file_id}"))
        .send()
        .await
        .expect("result stored")
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    assert_eq!(
        stored.as_ref(),
        checked.as_slice(),
        "the checked bytes are what is stored"
    );
    let checked_hash = hex::encode(Sha256::digest(&checked));
    let file = stack
        .store()
        .file(&file_id)
        .await
        .unwrap()
        .expect("file record");
    assert_eq!(file.sha256.as_deref(), Some(checked_hash.as_str()));
    let events = stack.published(1).await;
    let processed: FileProcessed = events[0].data_as().unwrap();
    assert_eq!(processed.sha256, checked_hash);
}

#[test]
fn pdf_bombs_are_rejected_and_the_rest_of_the_batch_is_processed() {
    // The batch runs on its own thread so that a parser that never returns fails this test
    // instead of hanging it.
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let _ = done.send(runtime.block_on(bombs_in_one_batch()));
    });
    let outcome = finished
        .recv_timeout(Duration::from_secs(240))
        .expect("the batch finished in bounded time");
    if let Err(panic) = outcome {
        panic!("{panic}");
    }
}

async fn bombs_in_one_batch() -> Result<(), String> {
    let stack = Stack::new().await;
    let exam = TestExam::new();
    stack.exam(&exam).await;
    let uploads = [
        ("good", sample_pdf("Resultado: normal")),
        ("compressed", pdfs::compressed_bomb(40 * 1024 * 1024)),
        ("objects", pdfs::many_objects(150_000)),
        ("nested", pdfs::deeply_nested(50_000)),
        (
            "repeated",
            pdfs::repeated_references(2 * 1024 * 1024, 200_000),
        ),
    ];
    let mut ids = Vec::new();
    for (name, bytes) in &uploads {
        let reply = stack
            .request_upload(&exam.doctor_claims(), &exam.id, pdf_body(bytes.len()))
            .await;
        if reply.status != 201 {
            return Err(format!("{name}: {:?}", reply.body));
        }
        if stack.put(&reply, bytes.clone()).await != 200 {
            return Err(format!("{name}: upload refused"));
        }
        ids.push((
            *name,
            reply.body["fileId"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        ));
    }
    // Every notification in one batch, as Lambda would deliver them.
    let mut records = Vec::new();
    for _ in 0..10 {
        let event = stack
            .receive(&stack.uploads.url, &stack.uploads.arn, 10)
            .await;
        records.extend(event.records.into_iter().filter(|r| {
            r.body
                .as_deref()
                .is_some_and(|b| b.contains("ObjectCreated"))
        }));
        if records.len() >= uploads.len() {
            break;
        }
    }
    if records.len() != uploads.len() {
        return Err(format!("{} notifications", records.len()));
    }
    let mut event = aws_lambda_events::event::sqs::SqsEvent::default();
    event.records = records;
    let started = Instant::now();
    let response = stack
        .processor(&stack.uploads.dlq_url)
        .process_messages(&stack.uploads_handler(), event)
        .await;
    let elapsed = started.elapsed();
    if !response.batch_item_failures.is_empty() {
        return Err(format!("records failed: {response:?}"));
    }
    if elapsed > Duration::from_secs(60) {
        return Err(format!("the batch took {elapsed:?}"));
    }
    let list = stack
        .call(authed(
            "files-get.json",
            &exam.doctor_claims(),
            &format!("/v1/exams/{}/files", exam.id),
            None,
        ))
        .await;
    let items = list.body["items"].as_array().cloned().unwrap_or_default();
    for (name, id) in &ids {
        let file = items
            .iter()
            .find(|f| f["fileId"] == id.as_str())
            .ok_or(format!("{name}: not listed"))?;
        let (status, reason) = (file["status"].as_str(), file["reason"].as_str());
        let expected: &[Option<&str>] = match *name {
            "good" => &[None],
            "nested" => &[Some("CORRUPT_PDF"), Some("PDF_TOO_COMPLEX")],
            _ => &[Some("PDF_TOO_COMPLEX")],
        };
        let ok = match *name {
            "good" => status == Some("AVAILABLE"),
            _ => status == Some("REJECTED") && expected.contains(&reason),
        };
        if !ok {
            return Err(format!("{name}: {file}"));
        }
    }
    Ok(())
}

fn exam_updated(
    exam: &TestExam,
    status: ExamStatus,
    previous: ExamStatus,
) -> clinic_shared::envelope::Envelope {
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
}

#[tokio::test]
async fn a_late_exam_event_does_not_link_an_erased_patient_again() {
    let stack = Stack::new().await;
    let exam = TestExam::new();
    stack.exam(&exam).await;
    let pdf = sample_pdf("laudo");
    stack.upload_pdf(&exam, pdf.clone(), pdf.len()).await;

    // Written before the erasure, delivered after it (a slow queue, a redelivery).
    let late = exam_updated(&exam, ExamStatus::Collected, ExamStatus::Scheduled);
    tokio::time::sleep(Duration::from_millis(5)).await;
    let deleted = account_deleted(&exam.patient, "patient");
    assert!(
        stack
            .project(&[deleted])
            .await
            .batch_item_failures
            .is_empty()
    );
    assert!(stack.project(&[late]).await.batch_item_failures.is_empty());
    let view = stack
        .store()
        .exam(&exam.id)
        .await
        .unwrap()
        .expect("exam view");
    assert_eq!(
        view.patient_id, None,
        "the erased patient is not linked again"
    );
    assert_eq!(
        view.status,
        ExamStatus::Collected,
        "the rest of the event applies"
    );

    // Nor by a redelivered exam.created, newer than anything stored.
    assert!(
        stack
            .project(&[exam.created()])
            .await
            .batch_item_failures
            .is_empty()
    );
    let view = stack
        .store()
        .exam(&exam.id)
        .await
        .unwrap()
        .expect("exam view");
    assert_eq!(view.patient_id, None);
    assert!(
        stack
            .store()
            .exams_of_patient(&exam.patient)
            .await
            .unwrap()
            .is_empty()
    );
    // An exam of the erased patient first heard of now is not linked either.
    let other = TestExam {
        id: ulid::Ulid::new().to_string(),
        ..exam.clone()
    };
    stack.exam(&other).await;
    let view = stack
        .store()
        .exam(&other.id)
        .await
        .unwrap()
        .expect("exam view");
    assert_eq!(view.patient_id, None);

    // The erased id reaches none of the files.
    for id in [&exam.id, &other.id] {
        let reply = stack
            .call(authed(
                "files-get.json",
                &exam.patient_claims(),
                &format!("/v1/exams/{id}/files"),
                None,
            ))
            .await;
        assert!(
            matches!(reply.status, 401 | 404),
            "{} {:?}",
            reply.status,
            reply.body
        );
    }
}

#[tokio::test]
async fn erased_accounts_are_refused_by_every_route() {
    let stack = Stack::new().await;
    let exam = TestExam::new();
    stack.exam(&exam).await;
    let pdf = sample_pdf("laudo");
    let file_id = stack.upload_pdf(&exam, pdf.clone(), pdf.len()).await;
    let erased_staff = staff();
    let staff_id = erased_staff["sub"].clone();
    let report = |key: &str| {
        with_header(
            authed(
                "reports-post.json",
                &erased_staff,
                "/v1/reports",
                Some(
                    json!({"kind": "exams", "format": "xlsx", "filters": {"from": "2025-01-01", "to": "2025-01-31"}}),
                ),
            ),
            "idempotency-key",
            Some(key),
        )
    };
    let before = stack.call(report("before-erasure")).await;
    assert_eq!(before.status, 202, "{:?}", before.body);

    let erased = [
        account_deleted(&exam.doctor, "doctor"),
        account_deleted(&staff_id, "staff"),
        account_deleted(&exam.patient, "patient"),
    ];
    assert!(stack.project(&erased).await.batch_item_failures.is_empty());

    // The doctor's token is still valid for a few minutes; it uploads nothing more.
    let upload = stack
        .request_upload(&exam.doctor_claims(), &exam.id, pdf_body(100))
        .await;
    assert_eq!(upload.status, 401, "{:?}", upload.body);
    assert_eq!(upload.body["code"], "ACCOUNT_ERASED");
    // Staff ask for no report, and a replayed key does not hand back the earlier answer.
    for key in ["before-erasure", "after-erasure"] {
        let reply = stack.call(report(key)).await;
        assert_eq!(reply.status, 401, "{key}: {:?}", reply.body);
        assert_eq!(reply.body["code"], "ACCOUNT_ERASED");
    }
    // Reads too: no download URL, no report, no list, no log.
    let id = before.body["reportId"].as_str().unwrap();
    let calls = [
        authed(
            "file-download.json",
            &exam.doctor_claims(),
            &format!("/v1/files/{file_id}/download"),
            None,
        ),
        authed(
            "report-get.json",
            &erased_staff,
            &format!("/v1/reports/{id}"),
            None,
        ),
        authed(
            "files-get.json",
            &exam.doctor_claims(),
            &format!("/v1/exams/{}/files", exam.id),
            None,
        ),
        authed(
            "access-log-get.json",
            &erased_staff,
            &format!("/v1/exams/{}/access-log", exam.id),
            None,
        ),
    ];
    for call in calls {
        let path = call["rawPath"].clone();
        let reply = stack.call(call).await;
        assert_eq!(reply.status, 401, "{path}: {:?}", reply.body);
        assert_eq!(reply.body["code"], "ACCOUNT_ERASED");
    }
    // Someone else is unaffected.
    let other = staff();
    let reply = stack
        .call(authed(
            "access-log-get.json",
            &other,
            &format!("/v1/exams/{}/access-log", exam.id),
            None,
        ))
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
}
