//! Upload URLs, lists, download URLs with their audit entries, the access log, erased callers.

use clinic_shared::envelope::{ExamStatus, Role};

use super::fakes::Minted;
use super::*;
use crate::domain::values::{FileId, PRESIGN_SECONDS};
use crate::domain::{AccessAction, Bucket, FilesError};

fn file_id(raw: &str) -> FileId {
    FileId::parse(raw).unwrap()
}

#[tokio::test]
async fn uploads_are_for_the_assigned_doctor_or_the_exams_hospital() {
    let world = World::new();
    let files = world.files();
    let exam = exam_id(EXAM);

    let by_doctor = files
        .request_upload(&doctor(), &exam, pdf_upload(100))
        .await
        .unwrap();
    let by_hospital = files
        .request_upload(&hospital(), &exam, pdf_upload(100))
        .await
        .unwrap();

    // Another doctor, another hospital's client and an unmapped client learn nothing of the
    // exam; patients and staff are refused by role.
    world
        .memory
        .state()
        .clients
        .insert("client-2".into(), "hospital-2".into());
    for who in [
        caller(Role::Doctor, "doctor-2"),
        caller(Role::Hospital, "client-2"),
        caller(Role::Hospital, "unmapped-client"),
    ] {
        assert_eq!(
            files
                .request_upload(&who, &exam, pdf_upload(100))
                .await
                .err(),
            Some(FilesError::NotFound("Exam")),
            "{who:?}"
        );
    }
    for who in [patient(), staff()] {
        assert!(
            matches!(
                files.request_upload(&who, &exam, pdf_upload(100)).await,
                Err(FilesError::Forbidden(_))
            ),
            "{who:?}"
        );
    }
    assert_eq!(
        files
            .request_upload(&doctor(), &exam_id("exam-unknown"), pdf_upload(100))
            .await
            .err(),
        Some(FilesError::NotFound("Exam"))
    );
    // The role decides before the exam is looked up.
    assert!(matches!(
        files
            .request_upload(&patient(), &exam_id("exam-unknown"), pdf_upload(100))
            .await,
        Err(FilesError::Forbidden(_))
    ));

    // Two pending records, each under a key that names only its file, stamped by the clock.
    let state = world.memory.state();
    assert_eq!(state.files.len(), 2);
    for (ticket, by, role) in [
        (&by_doctor, DOCTOR, Role::Doctor),
        (&by_hospital, CLIENT, Role::Hospital),
    ] {
        let record = &state.files[&ticket.file_id];
        assert_eq!(record.status, FileStatus::Pending);
        assert_eq!(record.exam_id, EXAM);
        assert_eq!(record.upload_key, format!("incoming/{}", ticket.file_id));
        assert_eq!(record.declared_size, 100);
        assert_eq!(record.file_name.as_deref(), Some("hemograma.pdf"));
        assert_eq!(
            (record.uploaded_by.as_str(), record.uploaded_by_role),
            (by, role)
        );
        assert_eq!(record.created_at, start());
        assert!(!ticket.upload.url.contains(EXAM) && !ticket.upload.url.contains(PATIENT));
        assert_eq!(
            ticket.upload.expires_at,
            start() + SignedDuration::from_secs(PRESIGN_SECONDS as i64)
        );
        assert!(
            ticket
                .upload
                .headers
                .contains(&("content-type".into(), "application/pdf".into()))
        );
    }
}

#[tokio::test]
async fn a_cancelled_exam_takes_no_files_but_tells_only_those_who_may_upload() {
    let world = World::new();
    world.memory.state().exams.get_mut(EXAM).unwrap().status = ExamStatus::Cancelled;
    let files = world.files();

    let refused = files
        .request_upload(&doctor(), &exam_id(EXAM), pdf_upload(100))
        .await;
    assert!(matches!(
        refused,
        Err(FilesError::Conflict {
            code: "EXAM_CANCELLED",
            ..
        })
    ));
    assert_eq!(
        files
            .request_upload(
                &caller(Role::Doctor, "doctor-2"),
                &exam_id(EXAM),
                pdf_upload(100)
            )
            .await
            .err(),
        Some(FilesError::NotFound("Exam"))
    );
    assert!(world.memory.state().files.is_empty());
    assert!(world.storage.objects().uploads_minted.is_empty());
}

#[tokio::test]
async fn no_record_is_left_when_the_upload_url_cannot_be_minted() {
    let world = World::new();
    world.storage.set_down("presign_upload", true);
    assert!(matches!(
        world
            .files()
            .request_upload(&doctor(), &exam_id(EXAM), pdf_upload(100))
            .await,
        Err(FilesError::Unavailable(_))
    ));
    assert!(world.memory.state().files.is_empty());
}

#[tokio::test]
async fn an_exams_files_are_listed_to_whoever_may_see_the_exam() {
    let world = World::new();
    let mut other = view("exam-2", start(), "E1");
    other.patient_id = Some("patient-2".into());
    world.memory.state().exams.insert("exam-2".into(), other);
    let first = world.seed_file(EXAM, FileStatus::Available);
    world.clock.advance(SignedDuration::from_secs(1));
    let second = world.seed_file(EXAM, FileStatus::Pending);
    world.seed_file("exam-2", FileStatus::Available);
    let files = world.files();

    for who in [patient(), doctor(), hospital(), staff()] {
        let page = files
            .list_files(&who, &exam_id(EXAM), 50, None)
            .await
            .unwrap();
        let ids: Vec<_> = page.items.iter().map(|f| f.file_id.as_str()).collect();
        assert_eq!(
            ids,
            [first.file_id.as_str(), second.file_id.as_str()],
            "{who:?}"
        );
    }
    // Pages follow the store's cursor.
    let page = files
        .list_files(&staff(), &exam_id(EXAM), 1, None)
        .await
        .unwrap();
    assert_eq!(page.items[0].file_id, first.file_id);
    let rest = files
        .list_files(&staff(), &exam_id(EXAM), 1, page.next_cursor.as_deref())
        .await
        .unwrap();
    assert_eq!(rest.items[0].file_id, second.file_id);
    assert_eq!(rest.next_cursor, None);

    world
        .memory
        .state()
        .clients
        .insert("client-2".into(), "hospital-2".into());
    for who in [
        caller(Role::Patient, "patient-2"),
        caller(Role::Doctor, "doctor-2"),
        caller(Role::Hospital, "client-2"),
    ] {
        assert_eq!(
            files.list_files(&who, &exam_id(EXAM), 50, None).await.err(),
            Some(FilesError::NotFound("Exam")),
            "{who:?}"
        );
    }
    assert_eq!(
        files
            .list_files(&staff(), &exam_id("exam-unknown"), 50, None)
            .await
            .err(),
        Some(FilesError::NotFound("Exam"))
    );
}

#[tokio::test]
async fn downloads_go_to_the_owner_the_doctor_and_staff_each_on_the_audit_trail() {
    let world = World::new();
    let file = world.seed_file(EXAM, FileStatus::Available);
    let files = world.files();
    let id = file_id(&file.file_id);

    let mut expected = Vec::new();
    for (n, who) in [patient(), doctor(), staff(), staff()]
        .into_iter()
        .enumerate()
    {
        let request_id = format!("req-{n}");
        let url = files.download(&who, &id, &request_id).await.unwrap();
        assert_eq!(
            url.expires_at,
            start() + SignedDuration::from_secs(PRESIGN_SECONDS as i64)
        );
        expected.push((who.id.clone(), who.role.as_str(), request_id));
    }

    // One entry per URL, even two by the same caller at the same instant.
    let grants = world.memory.grants();
    let mut seen: Vec<_> = grants
        .iter()
        .map(|g| {
            (
                g.actor_id.clone(),
                g.actor_role.as_str(),
                g.request_id.clone(),
            )
        })
        .collect();
    seen.sort();
    expected.sort();
    assert_eq!(seen, expected);
    for grant in &grants {
        assert_eq!(grant.action, AccessAction::DownloadGranted);
        assert_eq!(
            (grant.exam_id.as_str(), grant.file_id.as_str()),
            (EXAM, file.file_id.as_str())
        );
        assert_eq!(grant.at, start());
    }
    let minted = world.storage.objects().downloads_minted.clone();
    assert_eq!(minted.len(), 4);
    assert!(minted.iter().all(|m| *m
        == Minted {
            bucket: Bucket::Results,
            key: format!("files/{}", file.file_id),
            file_name: Some("laudo.pdf".into()),
        }));

    // The exam's hospital lists files but downloads none; other people learn nothing.
    world
        .memory
        .state()
        .clients
        .insert("client-2".into(), "hospital-2".into());
    for who in [
        hospital(),
        caller(Role::Hospital, "client-2"),
        caller(Role::Patient, "patient-2"),
        caller(Role::Doctor, "doctor-2"),
    ] {
        assert_eq!(
            files.download(&who, &id, "req-x").await.err(),
            Some(FilesError::NotFound("File")),
            "{who:?}"
        );
    }
    assert_eq!(world.memory.grants().len(), 4);
    assert_eq!(world.storage.objects().downloads_minted.len(), 4);
}

#[tokio::test]
async fn only_an_available_file_is_handed_out_and_only_to_those_who_may_have_it() {
    let world = World::new();
    let pending = world.seed_file(EXAM, FileStatus::Pending);
    let rejected = world.seed_file(EXAM, FileStatus::Rejected);
    let erased = world.seed_file(EXAM, FileStatus::Erased);
    let files = world.files();

    for file in [&pending, &rejected, &erased] {
        assert!(
            matches!(
                files
                    .download(&patient(), &file_id(&file.file_id), "r")
                    .await,
                Err(FilesError::Conflict {
                    code: "FILE_NOT_AVAILABLE",
                    ..
                })
            ),
            "{:?}",
            file.status
        );
        // Someone without access is not told the file's state.
        assert_eq!(
            files
                .download(
                    &caller(Role::Patient, "patient-2"),
                    &file_id(&file.file_id),
                    "r"
                )
                .await
                .err(),
            Some(FilesError::NotFound("File"))
        );
    }
    assert_eq!(
        files.download(&staff(), &FileId::new(), "r").await.err(),
        Some(FilesError::NotFound("File"))
    );
    // A file whose exam the projection does not know is not found either.
    let orphan = world.seed_file("exam-unknown", FileStatus::Available);
    assert_eq!(
        files
            .download(&staff(), &file_id(&orphan.file_id), "r")
            .await
            .err(),
        Some(FilesError::NotFound("File"))
    );
    assert!(world.memory.grants().is_empty());
    assert!(world.storage.objects().downloads_minted.is_empty());
}

#[tokio::test]
async fn no_download_url_exists_without_its_audit_entry() {
    let world = World::new();
    let file = world.seed_file(EXAM, FileStatus::Available);
    world.memory.set_down("append", true);
    assert!(matches!(
        world
            .files()
            .download(&patient(), &file_id(&file.file_id), "r")
            .await,
        Err(FilesError::Unavailable(_))
    ));
    assert!(world.storage.objects().downloads_minted.is_empty());
    assert!(world.memory.grants().is_empty());
}

#[tokio::test]
async fn the_access_log_is_for_the_owner_patient_and_staff() {
    let world = World::new();
    let file = world.seed_file(EXAM, FileStatus::Available);
    let files = world.files();
    files
        .download(&doctor(), &file_id(&file.file_id), "by-doctor")
        .await
        .unwrap();

    for who in [patient(), staff()] {
        let log = files
            .access_log(&who, &exam_id(EXAM), 50, None)
            .await
            .unwrap();
        assert_eq!(log.items.len(), 1, "{who:?}");
        assert_eq!(log.items[0].actor_id, DOCTOR);
        assert_eq!(log.items[0].request_id, "by-doctor");
    }
    for who in [doctor(), hospital()] {
        assert!(
            matches!(
                files.access_log(&who, &exam_id(EXAM), 50, None).await,
                Err(FilesError::Forbidden(_))
            ),
            "{who:?}"
        );
    }
    assert_eq!(
        files
            .access_log(
                &caller(Role::Patient, "patient-2"),
                &exam_id(EXAM),
                50,
                None
            )
            .await
            .err(),
        Some(FilesError::NotFound("Exam"))
    );
    assert_eq!(
        files
            .access_log(&staff(), &exam_id(EXAM), 50, Some("not-a-cursor"))
            .await
            .err(),
        Some(FilesError::InvalidCursor)
    );
}

#[tokio::test]
async fn an_erased_account_is_refused_while_its_token_lasts() {
    let world = World::new();
    let files = world.files();
    for who in [patient(), doctor(), staff()] {
        files.ensure_active(&who).await.unwrap();
    }
    let projection = world.projection();
    projection
        .erase_account(DOCTOR, Role::Doctor, "evt-1")
        .await
        .unwrap();
    projection
        .erase_account(STAFF, Role::Staff, "evt-2")
        .await
        .unwrap();
    assert_eq!(
        files.ensure_active(&doctor()).await,
        Err(FilesError::AccountErased)
    );
    assert_eq!(
        files.ensure_active(&staff()).await,
        Err(FilesError::AccountErased)
    );
    files.ensure_active(&patient()).await.unwrap();
    files
        .ensure_active(&caller(Role::Staff, "staff-2"))
        .await
        .unwrap();

    // When the tombstones cannot be read, nobody is let through.
    world.memory.set_down("is_erased", true);
    assert!(matches!(
        files.ensure_active(&patient()).await,
        Err(FilesError::Unavailable(_))
    ));
}
