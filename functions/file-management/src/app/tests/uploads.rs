//! Processing of uploaded objects: checks, the checked bytes stored, one record and one event
//! per file however often the notification arrives.

use std::sync::atomic::Ordering;

use clinic_shared::envelope::{EventType, FileProcessed, FileRejected};
use sha2::{Digest, Sha256};

use super::fakes::Pdf;
use super::*;
use crate::app::uploads::Processed;
use crate::domain::checks::sample_pdf;
use crate::domain::values::{FileId, MAX_UPLOAD_BYTES};
use crate::domain::{Bucket, FilesError, RejectReason};

#[tokio::test]
async fn a_valid_pdf_becomes_available_with_its_hash_and_one_event() {
    let world = World::new();
    let pdf = sample_pdf("Resultado: normal");
    let (file_id, object) = world
        .upload(pdf.clone(), pdf.len(), "application/pdf")
        .await;
    world.clock.advance(SignedDuration::from_secs(30));

    assert_eq!(
        world.uploads().process(&object, TRACE).await,
        Ok(Processed::Available)
    );

    let sha = hex::encode(Sha256::digest(&pdf));
    let record = world.memory.file_of(&file_id);
    assert_eq!(record.status, FileStatus::Available);
    assert_eq!(record.size, Some(pdf.len() as u64));
    assert_eq!(record.sha256.as_deref(), Some(sha.as_str()));
    assert_eq!(record.result_key, Some(format!("files/{file_id}")));
    assert_eq!(
        record.processed_at,
        Some(start() + SignedDuration::from_secs(30))
    );
    assert_eq!(world.pdf.calls(), 1);

    let objects = world.storage.objects();
    let stored = &objects.results[&format!("files/{file_id}")];
    assert_eq!(stored.bytes, pdf);
    assert_eq!(stored.content_type.as_deref(), Some("application/pdf"));
    assert!(objects.uploads.is_empty(), "the upload is deleted");
    drop(objects);

    let events = world.memory.state().events.clone();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].subject, file_id);
    assert_eq!(events[0].trace, TRACE);
    let data: FileProcessed = events[0].data_as().unwrap();
    assert_eq!(
        (data.file_id, data.exam_id, data.size, data.sha256),
        (file_id, EXAM.to_string(), pdf.len() as u64, sha)
    );
}

#[tokio::test]
async fn invalid_uploads_are_rejected_with_their_reason() {
    let pdf = sample_pdf("complete");
    let text = b"just some text in a file named .pdf".to_vec();
    let truncated = pdf[..pdf.len() / 2].to_vec();
    // (bytes, declared size, stored content type, what the checker says, expected reason)
    type Case = (
        Vec<u8>,
        usize,
        &'static str,
        Option<RejectReason>,
        RejectReason,
    );
    let cases: Vec<Case> = vec![
        (
            text.clone(),
            text.len(),
            "application/pdf",
            None,
            RejectReason::NotAPdf,
        ),
        (
            truncated.clone(),
            truncated.len(),
            "application/pdf",
            None,
            RejectReason::CorruptPdf,
        ),
        (
            pdf.clone(),
            pdf.len() + 1,
            "application/pdf",
            None,
            RejectReason::SizeMismatch,
        ),
        (
            pdf.clone(),
            pdf.len(),
            "image/png",
            None,
            RejectReason::ContentTypeMismatch,
        ),
        (
            pdf.clone(),
            pdf.len(),
            "application/pdf",
            Some(RejectReason::PdfTooComplex),
            RejectReason::PdfTooComplex,
        ),
    ];
    for (bytes, declared, content_type, verdict, reason) in cases {
        let world = World::with_pdf(match verdict {
            Some(v) => Pdf::answering(Err(v)),
            None => Pdf::default(),
        });
        let (file_id, object) = world.upload(bytes, declared, content_type).await;

        assert_eq!(
            world.uploads().process(&object, TRACE).await,
            Ok(Processed::Rejected(reason)),
            "{reason:?}"
        );
        let record = world.memory.file_of(&file_id);
        assert_eq!(record.status, FileStatus::Rejected, "{reason:?}");
        assert_eq!(record.reason, Some(reason));
        assert_eq!((record.result_key, record.sha256), (None, None));
        assert_eq!(record.processed_at, Some(start()));
        let objects = world.storage.objects();
        assert!(
            objects.results.is_empty(),
            "{reason:?}: nothing rejected is stored"
        );
        assert!(
            objects.uploads.is_empty(),
            "{reason:?}: the upload is deleted"
        );
        drop(objects);
        let events = world.memory.state().events.clone();
        assert_eq!(events.len(), 1);
        let data: FileRejected = events[0].data_as().unwrap();
        assert_eq!(
            (data.file_id, data.reason),
            (file_id, reason.code().to_string())
        );
    }
}

#[tokio::test]
async fn an_upload_above_the_limit_is_refused_before_it_is_read() {
    let world = World::new();
    let (announced, unannounced) = (
        world
            .upload(b"%PDF-".to_vec(), 100, "application/pdf")
            .await,
        world
            .upload(b"%PDF-".to_vec(), 100, "application/pdf")
            .await,
    );
    // The notification says how large it is…
    let big = UploadedObject {
        key: announced.1.key.clone(),
        size: Some(MAX_UPLOAD_BYTES + 1),
    };
    assert_eq!(
        world.uploads().process(&big, TRACE).await,
        Ok(Processed::Rejected(RejectReason::TooLarge))
    );
    // …or the bucket does.
    world.storage.put_upload(
        &unannounced.1.key,
        vec![b'%'; MAX_UPLOAD_BYTES as usize + 1],
        "application/pdf",
    );
    let unsized_object = UploadedObject {
        key: unannounced.1.key.clone(),
        size: None,
    };
    assert_eq!(
        world.uploads().process(&unsized_object, TRACE).await,
        Ok(Processed::Rejected(RejectReason::TooLarge))
    );
    assert_eq!(world.storage.objects().reads, 0, "nothing was downloaded");
    assert_eq!(world.pdf.calls(), 0);
    for file_id in [&announced.0, &unannounced.0] {
        assert_eq!(
            world.memory.file_of(file_id).reason,
            Some(RejectReason::TooLarge)
        );
    }
}

#[tokio::test]
async fn a_repeated_notification_is_processed_once() {
    let world = World::new();
    let pdf = sample_pdf("twice");
    let (file_id, object) = world
        .upload(pdf.clone(), pdf.len(), "application/pdf")
        .await;
    let uploads = world.uploads();

    assert_eq!(
        uploads.process(&object, TRACE).await,
        Ok(Processed::Available)
    );
    world.clock.advance(SignedDuration::from_mins(5));
    for _ in 0..2 {
        assert_eq!(
            uploads.process(&object, TRACE).await,
            Ok(Processed::Duplicate)
        );
    }
    assert_eq!(world.memory.event_types(), [EventType::FileProcessed]);
    assert_eq!(world.storage.objects().result_writes.len(), 1);
    assert_eq!(world.pdf.calls(), 1);
    assert_eq!(world.memory.file_of(&file_id).processed_at, Some(start()));

    // A rejected file is not checked again either.
    let (rejected, object) = world.upload(b"text".to_vec(), 4, "application/pdf").await;
    assert_eq!(
        uploads.process(&object, TRACE).await,
        Ok(Processed::Rejected(RejectReason::NotAPdf))
    );
    assert_eq!(
        uploads.process(&object, TRACE).await,
        Ok(Processed::Duplicate)
    );
    assert_eq!(
        world.memory.event_types(),
        [EventType::FileProcessed, EventType::FileRejected]
    );
    assert_eq!(world.memory.file_of(&rejected).status, FileStatus::Rejected);
}

#[tokio::test]
async fn two_deliveries_processing_at_once_give_one_record_and_one_event() {
    let world = World::new();
    let pdf = sample_pdf("concurrent");
    let (file_id, object) = world
        .upload(pdf.clone(), pdf.len(), "application/pdf")
        .await;
    let (first, second) = (world.uploads(), world.uploads());
    // The first delivery has checked the bytes and is about to store them when the second one
    // runs from start to end.
    world.storage.store_gate.arm();
    let (a, b) = tokio::join!(first.process(&object, TRACE), async {
        world.storage.store_gate.arrived.notified().await;
        let b = second.process(&object, TRACE).await;
        world.storage.store_gate.release.notify_one();
        b
    });
    assert_eq!(b, Ok(Processed::Available));
    assert_eq!(
        a,
        Ok(Processed::Duplicate),
        "the conditional finish refuses the second"
    );
    assert_eq!(world.memory.event_types(), [EventType::FileProcessed]);
    let record = world.memory.file_of(&file_id);
    assert_eq!(record.status, FileStatus::Available);
    // Both wrote the same checked bytes to the same key.
    assert_eq!(
        world.storage.objects().results[&format!("files/{file_id}")].bytes,
        pdf
    );
}

#[tokio::test]
async fn a_delivery_overtaken_while_reading_is_a_duplicate() {
    let world = World::new();
    let pdf = sample_pdf("overtaken");
    let (_, object) = world
        .upload(pdf.clone(), pdf.len(), "application/pdf")
        .await;
    let (first, second) = (world.uploads(), world.uploads());
    world.storage.read_gate.arm();
    let (a, b) = tokio::join!(first.process(&object, TRACE), async {
        world.storage.read_gate.arrived.notified().await;
        let b = second.process(&object, TRACE).await;
        world.storage.read_gate.release.notify_one();
        b
    });
    assert_eq!(b, Ok(Processed::Available));
    assert_eq!(a, Ok(Processed::Duplicate));
    assert_eq!(world.memory.event_types(), [EventType::FileProcessed]);
}

#[tokio::test]
async fn an_object_no_file_expects_is_not_found() {
    let world = World::new();
    let uploads = world.uploads();
    let unknown = FileId::new();
    for key in [
        "incoming/not-a-ulid".to_string(),
        format!("elsewhere/{}", unknown.as_str()),
    ] {
        assert_eq!(
            uploads
                .process(
                    &UploadedObject {
                        key,
                        size: Some(10)
                    },
                    TRACE
                )
                .await,
            Err(FilesError::NotFound("Upload key"))
        );
    }
    assert_eq!(
        uploads
            .process(
                &UploadedObject {
                    key: format!("incoming/{}", unknown.as_str()),
                    size: Some(10)
                },
                TRACE
            )
            .await,
        Err(FilesError::NotFound("File"))
    );
    // A file whose bytes never arrived.
    let ticket = world
        .files()
        .request_upload(&doctor(), &exam_id(EXAM), pdf_upload(10))
        .await
        .unwrap();
    let missing = UploadedObject {
        key: format!("incoming/{}", ticket.file_id),
        size: Some(10),
    };
    assert_eq!(
        uploads.process(&missing, TRACE).await,
        Err(FilesError::NotFound("Upload"))
    );
    assert_eq!(
        world.memory.file_of(&ticket.file_id).status,
        FileStatus::Pending
    );
    assert!(world.memory.state().events.is_empty());
}

#[tokio::test]
async fn a_check_or_store_that_cannot_run_leaves_the_file_pending_for_a_retry() {
    let world = World::new();
    let pdf = sample_pdf("retry");
    let (file_id, object) = world
        .upload(pdf.clone(), pdf.len(), "application/pdf")
        .await;
    let uploads = world.uploads();

    world.pdf.unavailable.store(true, Ordering::SeqCst);
    assert!(matches!(
        uploads.process(&object, TRACE).await,
        Err(FilesError::Unavailable(_))
    ));
    world.pdf.unavailable.store(false, Ordering::SeqCst);
    world.storage.set_down("store_result", true);
    assert!(matches!(
        uploads.process(&object, TRACE).await,
        Err(FilesError::Unavailable(_))
    ));
    assert_eq!(world.memory.file_of(&file_id).status, FileStatus::Pending);
    assert!(world.memory.state().events.is_empty());
    assert!(
        world.storage.objects().uploads.contains_key(&object.key),
        "the upload is kept"
    );

    world.storage.set_down("store_result", false);
    assert_eq!(
        uploads.process(&object, TRACE).await,
        Ok(Processed::Available)
    );
    assert_eq!(world.memory.event_types(), [EventType::FileProcessed]);
}

#[tokio::test]
async fn a_failed_delete_of_the_upload_does_not_undo_processing() {
    let world = World::new();
    let pdf = sample_pdf("kept");
    let (file_id, object) = world
        .upload(pdf.clone(), pdf.len(), "application/pdf")
        .await;
    world.storage.set_down("delete", true);
    assert_eq!(
        world.uploads().process(&object, TRACE).await,
        Ok(Processed::Available)
    );
    assert_eq!(world.memory.file_of(&file_id).status, FileStatus::Available);
    assert!(world.storage.objects().uploads.contains_key(&object.key));
    assert!(
        !world
            .storage
            .objects()
            .deleted
            .contains(&(Bucket::Uploads, object.key.clone()))
    );
}
