//! Use-case rules against in-memory fakes of the ports (`fakes`): who may upload, list and
//! download an exam's files (404 versus 403), the audit entry before every URL, upload processing
//! and its duplicates, staff reports (requester, retention, racing workers, giving up) and the
//! exam projection with LGPD erasure.

mod fakes;
mod files;
mod projection;
mod reports;
mod uploads;

use std::path::PathBuf;
use std::sync::Arc;

use clinic_shared::auth::Caller;
use clinic_shared::clock::{ManualClock, SharedClock};
use clinic_shared::envelope::{ExamStatus, FileKind, Role};
use jiff::{SignedDuration, Timestamp};

use self::fakes::{Memory, Pdf, Queue, Storage};
use super::files::{FilesApp, NewUpload};
use super::projection::ProjectionApp;
use super::reports::ReportsApp;
use super::uploads::{UploadProcessor, UploadedObject};
use crate::domain::values::{ContentType, ExamId, FileName, UploadSize};
use crate::domain::{ExamView, FileRecord, FileStatus};

const EXAM: &str = "exam-1";
const PATIENT: &str = "patient-1";
const DOCTOR: &str = "doctor-1";
const HOSPITAL: &str = "hospital-1";
const CLIENT: &str = "client-1";
const STAFF: &str = "staff-1";
const TRACE: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

/// When every test starts.
fn start() -> Timestamp {
    "2025-03-10T12:00:00Z".parse().unwrap()
}

fn caller(role: Role, id: &str) -> Caller {
    Caller {
        id: id.into(),
        role,
        scopes: vec![],
        username: None,
    }
}

fn patient() -> Caller {
    caller(Role::Patient, PATIENT)
}

fn doctor() -> Caller {
    caller(Role::Doctor, DOCTOR)
}

fn hospital() -> Caller {
    caller(Role::Hospital, CLIENT)
}

fn staff() -> Caller {
    caller(Role::Staff, STAFF)
}

fn exam_id(raw: &str) -> ExamId {
    ExamId::parse(raw).unwrap()
}

/// The view of an exam as of an event at `event_time`.
fn view(exam_id: &str, event_time: Timestamp, event_id: &str) -> ExamView {
    ExamView {
        exam_id: exam_id.into(),
        patient_id: Some(PATIENT.into()),
        hospital_id: HOSPITAL.into(),
        hospital_name: "Hospital São Lucas".into(),
        doctor_id: Some(DOCTOR.into()),
        exam_type: "hemograma".into(),
        scheduled_at: "2025-01-15T09:00:00Z".parse().unwrap(),
        status: ExamStatus::Scheduled,
        event_time,
        event_id: event_id.into(),
        patient_erased: false,
    }
}

fn pdf_upload(size: usize) -> NewUpload {
    NewUpload {
        file_name: FileName::parse("hemograma.pdf").unwrap(),
        content_type: ContentType::Pdf,
        size: UploadSize::parse(size as u64).unwrap(),
        kind: FileKind::Result,
    }
}

/// The fakes, a clock standing at [`start`], exam [`EXAM`] (patient, doctor, hospital) in the
/// projection and the hospital's client mapped.
struct World {
    memory: Memory,
    storage: Storage,
    queue: Queue,
    pdf: Pdf,
    clock: ManualClock,
    work_dir: PathBuf,
}

impl World {
    fn new() -> Self {
        Self::with_pdf(Pdf::default())
    }

    fn with_pdf(pdf: Pdf) -> Self {
        let clock = ManualClock::at(start());
        let memory = Memory::default();
        {
            let mut state = memory.state();
            state.exams.insert(
                EXAM.into(),
                view(EXAM, start() - SignedDuration::from_hours(1), "E0"),
            );
            state.clients.insert(CLIENT.into(), HOSPITAL.into());
            state.report_page = 2;
        }
        let work_dir =
            std::env::temp_dir().join(format!("clinic-fm-app-tests-{}", ulid::Ulid::new()));
        std::fs::create_dir_all(&work_dir).unwrap();
        Self {
            memory,
            storage: Storage::new(clock.clone()),
            queue: Queue::default(),
            pdf,
            clock,
            work_dir,
        }
    }

    fn shared_clock(&self) -> SharedClock {
        Arc::new(self.clock.clone())
    }

    fn files(&self) -> FilesApp<&Memory, &Storage> {
        FilesApp::new(&self.memory, &self.storage).with_clock(self.shared_clock())
    }

    fn uploads(&self) -> UploadProcessor<&Memory, &Storage, &Pdf> {
        UploadProcessor::new(&self.memory, &self.storage, &self.pdf).with_clock(self.shared_clock())
    }

    /// The report use cases with a lease of 360 s.
    fn reports(&self) -> ReportsApp<&Memory, &Storage, &Queue> {
        self.reports_in(self.work_dir.clone())
    }

    /// The same, on another instance's local disk.
    fn reports_in(&self, work_dir: PathBuf) -> ReportsApp<&Memory, &Storage, &Queue> {
        std::fs::create_dir_all(&work_dir).unwrap();
        ReportsApp::new(
            &self.memory,
            &self.storage,
            &self.queue,
            work_dir,
            SignedDuration::from_secs(360),
        )
        .with_clock(self.shared_clock())
    }

    fn projection(&self) -> ProjectionApp<&Memory, &Storage> {
        ProjectionApp::new(&self.memory, &self.storage).with_clock(self.shared_clock())
    }

    /// The doctor asks for an upload URL of `declared` bytes and PUTs `bytes` with
    /// `content_type`; returns the file id and the object the notification announces.
    async fn upload(
        &self,
        bytes: Vec<u8>,
        declared: usize,
        content_type: &str,
    ) -> (String, UploadedObject) {
        let ticket = self
            .files()
            .request_upload(&doctor(), &exam_id(EXAM), pdf_upload(declared))
            .await
            .unwrap();
        let key = super::upload_key(&ticket.file_id);
        let size = bytes.len() as u64;
        self.storage.put_upload(&key, bytes, content_type);
        (
            ticket.file_id,
            UploadedObject {
                key,
                size: Some(size),
            },
        )
    }

    /// A file record as an earlier upload left it.
    fn seed_file(&self, exam_id: &str, status: FileStatus) -> FileRecord {
        let file_id = crate::domain::values::FileId::new().as_str().to_string();
        let available = status == FileStatus::Available;
        let record = FileRecord {
            file_id: file_id.clone(),
            exam_id: exam_id.into(),
            kind: FileKind::Result,
            file_name: Some("laudo.pdf".into()),
            content_type: "application/pdf".into(),
            declared_size: 3,
            status,
            reason: None,
            upload_key: super::upload_key(&file_id),
            result_key: available.then(|| super::result_key(&file_id)),
            size: available.then_some(3),
            sha256: available.then(|| "ab".repeat(32)),
            uploaded_by: DOCTOR.into(),
            uploaded_by_role: Role::Doctor,
            created_at: self.clock_now(),
            processed_at: available.then(|| self.clock_now()),
        };
        self.memory
            .state()
            .files
            .insert(file_id.clone(), record.clone());
        record
    }

    fn clock_now(&self) -> Timestamp {
        use clinic_shared::clock::Clock;
        self.clock.now()
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.work_dir);
    }
}
