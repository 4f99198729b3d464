//! Staff reports: requests, who reads them and for how long, the worker under its lease, and
//! the dead-letter handler giving up.

use std::sync::atomic::Ordering;

use calamine::{Data, Reader, Xlsx};
use clinic_shared::envelope::{EventType, ExamStatus, ReportCompleted, ReportFailed, Role};

use super::*;
use crate::app::reports::BuildOutcome;
use crate::domain::values::{MAX_REPORT_DAYS, ReportFilters, ReportFormat, ReportId};
use crate::domain::{Bucket, FailOutcome, FilesError, ReportClaim, ReportStatus, Reports};

fn january() -> ReportFilters {
    ReportFilters::new(
        "2025-01-01T00:00:00Z".parse().unwrap(),
        "2025-02-01T00:00:00Z".parse().unwrap(),
        None,
        None,
    )
    .unwrap()
}

fn report_id(raw: &str) -> ReportId {
    ReportId::parse(raw).unwrap()
}

/// Exams in the projection: `n` January exams of [`HOSPITAL`] (every second one completed), one
/// of another hospital, one scheduled in February.
fn seed_exams(world: &World, n: usize) {
    let mut state = world.memory.state();
    for i in 0..n {
        let mut exam = view(&format!("jan-{i:02}"), start(), "E");
        exam.scheduled_at = "2025-01-02T08:00:00Z".parse::<Timestamp>().unwrap()
            + SignedDuration::from_hours(24 * i as i64);
        if i % 2 == 1 {
            exam.status = ExamStatus::Completed;
        }
        state.exams.insert(exam.exam_id.clone(), exam);
    }
    let mut elsewhere = view("jan-other-hospital", start(), "E");
    elsewhere.hospital_id = "hospital-2".into();
    state.exams.insert(elsewhere.exam_id.clone(), elsewhere);
    let mut february = view("feb-00", start(), "E");
    february.scheduled_at = "2025-02-01T00:00:00Z".parse().unwrap();
    state.exams.insert(february.exam_id.clone(), february);
    // The world's own exam is scheduled in January too.
}

/// The first column of the sheet below its header.
fn exam_ids_in(bytes: &[u8]) -> Vec<String> {
    let mut workbook: Xlsx<_> = Xlsx::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let range = workbook.worksheet_range_at(0).unwrap().unwrap();
    range
        .rows()
        .skip(1)
        .map(|row| match &row[0] {
            Data::String(s) => s.clone(),
            other => panic!("not an id: {other:?}"),
        })
        .collect()
}

#[tokio::test]
async fn only_staff_request_reports_and_each_is_queued_once() {
    let world = World::new();
    let reports = world.reports();
    for who in [patient(), doctor(), hospital()] {
        assert!(
            matches!(
                reports.request(&who, ReportFormat::Xlsx, january()).await,
                Err(FilesError::Forbidden(_))
            ),
            "{who:?}"
        );
    }
    assert!(world.memory.state().reports.is_empty());
    assert!(world.queue.sent().is_empty());

    let report = reports
        .request(&staff(), ReportFormat::Pdf, january())
        .await
        .unwrap();
    assert_eq!(world.queue.sent(), std::slice::from_ref(&report.report_id));
    let stored = world.memory.report_of(&report.report_id).report;
    assert_eq!(stored, report);
    assert_eq!(stored.status, ReportStatus::Queued);
    assert_eq!((stored.requested_by.as_str(), stored.attempts), (STAFF, 0));
    assert_eq!((stored.created_at, stored.updated_at), (start(), start()));
    assert_eq!(stored.filters, january());
}

#[tokio::test]
async fn a_report_covers_at_most_366_days() {
    let from: Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
    let longest = from + SignedDuration::from_hours(24 * MAX_REPORT_DAYS);
    assert_eq!(MAX_REPORT_DAYS, 366);
    let filters = ReportFilters::new(from, longest, None, None).unwrap();
    assert!(
        ReportFilters::new(from, longest + SignedDuration::from_millis(1), None, None).is_err()
    );
    assert!(ReportFilters::new(from, from, None, None).is_err());
    assert!(ReportFilters::new(longest, from, None, None).is_err());

    // The longest range is accepted and built: all of a leap year.
    let world = World::new();
    let reports = world.reports();
    let report = reports
        .request(&staff(), ReportFormat::Xlsx, filters)
        .await
        .unwrap();
    assert_eq!(
        reports.build(&report.report_id, TRACE).await,
        Ok(BuildOutcome::Built { rows: 0 })
    );
}

#[tokio::test]
async fn a_report_that_cannot_be_queued_says_so() {
    let world = World::new();
    world.queue.down.store(true, Ordering::SeqCst);
    assert!(matches!(
        world
            .reports()
            .request(&staff(), ReportFormat::Xlsx, january())
            .await,
        Err(FilesError::Unavailable(_))
    ));
    let state = world.memory.state();
    let stored = state.reports.values().next().unwrap();
    assert_eq!(stored.report.status, ReportStatus::Error);
    assert!(
        stored
            .report
            .error
            .as_deref()
            .unwrap()
            .contains("could not be queued")
    );
}

#[tokio::test]
async fn a_report_is_read_by_its_requester_only_while_staff() {
    let world = World::new();
    let reports = world.reports();
    let report = reports
        .request(&staff(), ReportFormat::Xlsx, january())
        .await
        .unwrap();
    let id = report_id(&report.report_id);

    let (queued, url) = reports.status(&staff(), &id, "r1").await.unwrap();
    assert_eq!((queued.status, url), (ReportStatus::Queued, None));

    assert_eq!(
        reports
            .status(&caller(Role::Staff, "staff-2"), &id, "r2")
            .await
            .err(),
        Some(FilesError::NotFound("Report"))
    );
    assert_eq!(
        reports.status(&staff(), &ReportId::new(), "r3").await.err(),
        Some(FilesError::NotFound("Report"))
    );
    // The requester's id with another role (no longer in the staff group).
    for role in [Role::Doctor, Role::Patient, Role::Hospital] {
        assert!(matches!(
            reports.status(&caller(role, STAFF), &id, "r4").await,
            Err(FilesError::Forbidden(_))
        ));
    }
    reports.build(&report.report_id, TRACE).await.unwrap();
    assert!(matches!(
        reports
            .status(&caller(Role::Doctor, STAFF), &id, "r5")
            .await,
        Err(FilesError::Forbidden(_))
    ));
    assert!(world.memory.report_grants().is_empty());
    assert!(world.storage.objects().downloads_minted.is_empty());
}

#[tokio::test]
async fn a_done_reports_url_is_on_the_audit_trail_before_it_exists() {
    let world = World::new();
    let reports = world.reports();
    let report = reports
        .request(&staff(), ReportFormat::Xlsx, january())
        .await
        .unwrap();
    reports.build(&report.report_id, TRACE).await.unwrap();
    let id = report_id(&report.report_id);
    let key = format!("reports/{}.xlsx", report.report_id);

    world.memory.set_down("append_report_grant", true);
    assert!(matches!(
        reports.status(&staff(), &id, "refused").await,
        Err(FilesError::Unavailable(_))
    ));
    assert!(world.storage.objects().downloads_minted.is_empty());
    world.memory.set_down("append_report_grant", false);

    world.clock.advance(SignedDuration::from_hours(2));
    let (done, url) = reports.status(&staff(), &id, "req-1").await.unwrap();
    assert_eq!(done.status, ReportStatus::Done);
    assert!(url.is_some());
    let minted = world.storage.objects().downloads_minted.clone();
    assert_eq!(minted.len(), 1);
    assert_eq!(
        (minted[0].bucket, minted[0].key.as_str()),
        (Bucket::Results, key.as_str())
    );
    assert_eq!(
        minted[0].file_name.as_deref(),
        Some(format!("exams-report-{}.xlsx", report.report_id).as_str())
    );
    let grants = world.memory.report_grants();
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].report_id, report.report_id);
    assert_eq!(
        (grants[0].actor_id.as_str(), grants[0].actor_role),
        (STAFF, Role::Staff)
    );
    assert_eq!(grants[0].request_id, "req-1");
    assert_eq!(grants[0].at, start() + SignedDuration::from_hours(2));
}

#[tokio::test]
async fn a_report_expires_thirty_days_after_its_request() {
    let world = World::new();
    let reports = world.reports();
    let report = reports
        .request(&staff(), ReportFormat::Xlsx, january())
        .await
        .unwrap();
    reports.build(&report.report_id, TRACE).await.unwrap();
    let id = report_id(&report.report_id);
    let retention = SignedDuration::from_hours(24 * 30);

    world
        .clock
        .set(start() + retention - SignedDuration::from_millis(1));
    let (_, url) = reports.status(&staff(), &id, "last").await.unwrap();
    assert!(url.is_some());

    world.clock.set(start() + retention);
    assert_eq!(
        reports.status(&staff(), &id, "late").await.err(),
        Some(FilesError::ReportExpired)
    );
    // Someone else still learns nothing of it.
    assert_eq!(
        reports
            .status(&caller(Role::Staff, "staff-2"), &id, "other")
            .await
            .err(),
        Some(FilesError::NotFound("Report"))
    );
    let grants = world.memory.report_grants();
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].request_id, "last");
    assert_eq!(world.storage.objects().downloads_minted.len(), 1);
}

#[tokio::test]
async fn the_worker_builds_the_filtered_exams_once() {
    let world = World::new();
    seed_exams(&world, 5);
    let reports = world.reports();
    let mut filters = january();
    filters.hospital_id = Some(HOSPITAL.into());
    filters.status = Some(ExamStatus::Scheduled);
    let report = reports
        .request(&staff(), ReportFormat::Xlsx, filters)
        .await
        .unwrap();

    // Scheduled January exams of the hospital, oldest first, over several pages of the store.
    assert_eq!(
        reports.build(&report.report_id, TRACE).await,
        Ok(BuildOutcome::Built { rows: 4 })
    );
    let key = format!("reports/{}.xlsx", report.report_id);
    let bytes = world.storage.objects().results[&key].bytes.clone();
    assert_eq!(exam_ids_in(&bytes), ["jan-00", "jan-02", "jan-04", EXAM]);

    let stored = world.memory.report_of(&report.report_id);
    assert_eq!(stored.report.status, ReportStatus::Done);
    assert_eq!(stored.report.rows, Some(4));
    assert_eq!(stored.report.result_key.as_deref(), Some(key.as_str()));
    assert_eq!(stored.report.attempts, 1);
    assert_eq!(stored.lease_owner, None);
    let events = world.memory.state().events.clone();
    assert_eq!(events.len(), 1);
    let data: ReportCompleted = events[0].data_as().unwrap();
    assert_eq!(
        (data.report_id, data.requested_by, data.format, data.rows),
        (report.report_id.clone(), STAFF.into(), "xlsx".into(), 4)
    );

    // A redelivered job finds it finished: nothing built again.
    assert_eq!(
        reports.build(&report.report_id, TRACE).await,
        Ok(BuildOutcome::AlreadyFinished)
    );
    assert_eq!(world.storage.objects().result_writes, [key]);
    assert_eq!(world.memory.event_types(), [EventType::ReportCompleted]);
    assert_eq!(
        reports.build(ReportId::new().as_str(), TRACE).await,
        Err(FilesError::NotFound("Report"))
    );
    // No local file is left behind.
    assert_eq!(std::fs::read_dir(&world.work_dir).unwrap().count(), 0);
}

#[tokio::test]
async fn a_job_held_by_a_live_lease_is_left_to_its_worker_until_the_lease_runs_out() {
    let world = World::new();
    seed_exams(&world, 2);
    let reports = world.reports();
    let report = reports
        .request(&staff(), ReportFormat::Xlsx, january())
        .await
        .unwrap();
    let lease_end = start() + SignedDuration::from_secs(360);
    let claim = (&world.memory)
        .claim_report(&report.report_id, "other-worker", start(), lease_end)
        .await
        .unwrap();
    assert!(matches!(claim, ReportClaim::Claimed(_)));

    world.clock.set(lease_end);
    assert!(matches!(
        reports.build(&report.report_id, TRACE).await,
        Err(FilesError::Conflict {
            code: "REPORT_BUSY",
            ..
        })
    ));
    assert!(world.storage.objects().result_writes.is_empty());
    assert_eq!(world.memory.report_of(&report.report_id).report.attempts, 1);

    // The other worker crashed: once its lease has run out the redelivery takes over.
    world.clock.advance(SignedDuration::from_millis(1));
    assert_eq!(
        reports.build(&report.report_id, TRACE).await,
        Ok(BuildOutcome::Built { rows: 4 })
    );
    let stored = world.memory.report_of(&report.report_id);
    assert_eq!(
        (stored.report.status, stored.report.attempts),
        (ReportStatus::Done, 2)
    );
    // The crashed worker cannot finish it any more.
    let event = world.memory.state().events[0].clone();
    let late = (&world.memory)
        .complete_report(
            &report.report_id,
            "other-worker",
            1,
            "reports/x.xlsx",
            &event,
        )
        .await
        .unwrap();
    assert!(!late);
    assert_eq!(world.memory.event_types(), [EventType::ReportCompleted]);
}

#[tokio::test]
async fn two_workers_racing_for_one_report_write_it_once() {
    let world = World::new();
    seed_exams(&world, 3);
    let report = world
        .reports()
        .request(&staff(), ReportFormat::Xlsx, january())
        .await
        .unwrap();
    // Two Lambda instances, each with its own local disk.
    let (slow, fast) = (
        world.reports_in(world.work_dir.join("a")),
        world.reports_in(world.work_dir.join("b")),
    );

    // The slow worker has rendered the file and is uploading it when its lease runs out and the
    // redelivered job is built by another worker.
    world.storage.put_gate.arm();
    let (a, b) = tokio::join!(slow.build(&report.report_id, TRACE), async {
        world.storage.put_gate.arrived.notified().await;
        world.clock.advance(SignedDuration::from_secs(361));
        let b = fast.build(&report.report_id, TRACE).await;
        world.storage.put_gate.release.notify_one();
        b
    });
    assert_eq!(b, Ok(BuildOutcome::Built { rows: 5 }));
    assert_eq!(a, Ok(BuildOutcome::LeaseLost));
    let stored = world.memory.report_of(&report.report_id);
    assert_eq!(
        (stored.report.status, stored.report.attempts),
        (ReportStatus::Done, 2)
    );
    assert_eq!(stored.report.rows, Some(5));
    assert_eq!(world.memory.event_types(), [EventType::ReportCompleted]);
    // Both wrote the same key: one file, whichever version is current.
    let key = format!("reports/{}.xlsx", report.report_id);
    assert_eq!(
        world.storage.objects().result_writes,
        [key.clone(), key.clone()]
    );
    assert_eq!(
        exam_ids_in(&world.storage.objects().results[&key].bytes).len(),
        5
    );
}

#[tokio::test]
async fn a_failed_attempt_gives_the_job_back_with_its_cause() {
    let world = World::new();
    let reports = world.reports();
    let report = reports
        .request(&staff(), ReportFormat::Xlsx, january())
        .await
        .unwrap();

    world.storage.set_down("put_file", true);
    assert_eq!(
        reports.build(&report.report_id, TRACE).await,
        Err(FilesError::Unavailable("STORAGE_UNAVAILABLE".into()))
    );
    let stored = world.memory.report_of(&report.report_id);
    assert_eq!(stored.report.status, ReportStatus::Queued);
    assert_eq!(
        stored.report.last_error.as_deref(),
        Some("STORAGE_UNAVAILABLE")
    );
    assert_eq!((stored.lease_owner, stored.report.attempts), (None, 1));
    world.storage.set_down("put_file", false);

    world.memory.set_down("report_exams", true);
    assert_eq!(
        reports.build(&report.report_id, TRACE).await,
        Err(FilesError::Unavailable("DATA_UNAVAILABLE".into()))
    );
    let stored = world.memory.report_of(&report.report_id);
    assert_eq!(stored.report.status, ReportStatus::Queued);
    assert_eq!(
        stored.report.last_error.as_deref(),
        Some("DATA_UNAVAILABLE")
    );
    assert_eq!(stored.report.attempts, 2);
    assert!(world.memory.state().events.is_empty());
    assert_eq!(std::fs::read_dir(&world.work_dir).unwrap().count(), 0);

    // The job reached the dead-letter queue: the requester reads why.
    world.memory.set_down("report_exams", false);
    let reports = world.reports();
    assert_eq!(
        reports.give_up(&report.report_id, None, TRACE).await,
        Ok(FailOutcome::Failed)
    );
    let stored = world.memory.report_of(&report.report_id).report;
    assert_eq!(stored.status, ReportStatus::Error);
    let reason = stored.error.clone().unwrap();
    assert!(
        reason.contains("the exam data could not be read"),
        "{reason}"
    );
    let events = world.memory.state().events.clone();
    let data: ReportFailed = events[0].data_as().unwrap();
    assert_eq!(
        (data.requested_by.as_str(), data.reason.as_str()),
        (STAFF, reason.as_str())
    );

    // Given up twice, announced once; a later worker does not resurrect it.
    assert_eq!(
        reports.give_up(&report.report_id, None, TRACE).await,
        Ok(FailOutcome::Finished)
    );
    assert_eq!(
        reports.build(&report.report_id, TRACE).await,
        Ok(BuildOutcome::AlreadyFinished)
    );
    assert_eq!(world.memory.event_types(), [EventType::ReportFailed]);
    let (failed, url) = reports
        .status(&staff(), &report_id(&report.report_id), "r")
        .await
        .unwrap();
    assert_eq!((failed.status, url), (ReportStatus::Error, None));
}

#[tokio::test]
async fn the_dead_letter_handler_waits_for_a_live_lease_and_leaves_done_reports_alone() {
    let world = World::new();
    let reports = world.reports();
    let held = reports
        .request(&staff(), ReportFormat::Xlsx, january())
        .await
        .unwrap();
    let lease_end = start() + SignedDuration::from_secs(360);
    (&world.memory)
        .claim_report(&held.report_id, "busy-worker", start(), lease_end)
        .await
        .unwrap();

    assert!(matches!(
        reports.give_up(&held.report_id, None, TRACE).await,
        Err(FilesError::Conflict {
            code: "REPORT_BUSY",
            ..
        })
    ));
    assert_eq!(
        world.memory.report_of(&held.report_id).report.status,
        ReportStatus::Processing
    );
    // Once the lease ran out (the worker crashed and the retries are spent) it is given up,
    // with the sentence for a job that could not even be read when the job itself was bad.
    world.clock.set(lease_end + SignedDuration::from_millis(1));
    assert_eq!(
        reports
            .give_up(&held.report_id, Some("unparseable body"), TRACE)
            .await,
        Ok(FailOutcome::Failed)
    );
    assert!(
        world
            .memory
            .report_of(&held.report_id)
            .report
            .error
            .unwrap()
            .contains("invalid")
    );

    let done = reports
        .request(&staff(), ReportFormat::Xlsx, january())
        .await
        .unwrap();
    reports.build(&done.report_id, TRACE).await.unwrap();
    assert_eq!(
        reports.give_up(&done.report_id, None, TRACE).await,
        Ok(FailOutcome::Finished)
    );
    assert_eq!(
        world.memory.report_of(&done.report_id).report.status,
        ReportStatus::Done
    );
    assert_eq!(
        reports.give_up(ReportId::new().as_str(), None, TRACE).await,
        Err(FilesError::NotFound("Report"))
    );
    assert_eq!(
        world.memory.event_types(),
        [EventType::ReportFailed, EventType::ReportCompleted]
    );
}
