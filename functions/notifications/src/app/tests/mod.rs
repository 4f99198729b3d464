//! The notification rules with in-memory ports: which event sends what to whom, per-channel
//! deduplication, rate limits, preferences, language fallback and the contact projection.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use clinic_shared::envelope::{
    AccountCreated, AccountDeleted, AccountUpdated, DoctorRegistered, Envelope, EventData,
    ExamCompleted, ExamCreated, ExamResultReady, ExamStatus, ExamUpdated, FileKind, FileProcessed,
    Language, Preferences, ReportCompleted, Role,
};

use super::*;
use crate::domain::{ContactStore, DeliveryStore, RateLimitStore};
use clinic_shared::clock::ManualClock;

// --- fakes -------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Delivery {
    status: Option<DeliveryStatus>,
    token: String,
    lease_until: Timestamp,
}

#[derive(Default)]
struct MemoryStore {
    contacts: Mutex<HashMap<String, ContactRecord>>,
    deliveries: Mutex<HashMap<DeliveryKey, Delivery>>,
    slots: Mutex<HashMap<(String, Channel, i64), u32>>,
    log: Mutex<Vec<LogEntry>>,
}

impl MemoryStore {
    fn log_of(&self, recipient: &str) -> Vec<LogEntry> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.recipient_id == recipient)
            .cloned()
            .collect()
    }
}

impl ContactStore for MemoryStore {
    async fn contact(&self, account_id: &str) -> Result<Option<ContactRecord>, StoreError> {
        Ok(self.contacts.lock().unwrap().get(account_id).cloned())
    }

    async fn upsert_contact(&self, contact: &Contact) -> Result<bool, StoreError> {
        let mut contacts = self.contacts.lock().unwrap();
        let newer = match contacts.get(&contact.account_id) {
            None => true,
            Some(ContactRecord::Erased) => false,
            Some(ContactRecord::Active(old)) => contact.version > old.version,
        };
        if newer {
            contacts.insert(
                contact.account_id.clone(),
                ContactRecord::Active(contact.clone()),
            );
        }
        Ok(newer)
    }

    async fn erase_contact(
        &self,
        account_id: &str,
        _version: &EventVersion,
        _tombstone_expires_s: i64,
    ) -> Result<(), StoreError> {
        self.contacts
            .lock()
            .unwrap()
            .insert(account_id.to_string(), ContactRecord::Erased);
        self.log
            .lock()
            .unwrap()
            .retain(|e| e.recipient_id != account_id);
        Ok(())
    }
}

impl DeliveryStore for MemoryStore {
    async fn claim_delivery(
        &self,
        key: &DeliveryKey,
        token: &str,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<DeliveryClaim, StoreError> {
        let mut deliveries = self.deliveries.lock().unwrap();
        if let Some(existing) = deliveries.get(key) {
            if let Some(status) = existing.status {
                return Ok(DeliveryClaim::Finished(status));
            }
            if existing.lease_until > now {
                return Ok(DeliveryClaim::InProgress);
            }
        }
        deliveries.insert(
            key.clone(),
            Delivery {
                status: None,
                token: token.to_string(),
                lease_until,
            },
        );
        Ok(DeliveryClaim::Started)
    }

    async fn complete_delivery(
        &self,
        key: &DeliveryKey,
        token: &str,
        entry: &LogEntry,
        _delivery_expires_s: i64,
        _log_expires_s: i64,
    ) -> Result<(), StoreError> {
        let mut deliveries = self.deliveries.lock().unwrap();
        match deliveries.get_mut(key) {
            Some(d) if d.token == token && d.status.is_none() => {
                d.status = Some(entry.status);
                self.log.lock().unwrap().push(entry.clone());
                Ok(())
            }
            _ => Err(StoreError::ClaimLost),
        }
    }

    async fn release_delivery(&self, key: &DeliveryKey, token: &str) -> Result<(), StoreError> {
        let mut deliveries = self.deliveries.lock().unwrap();
        match deliveries.get(key) {
            Some(d) if d.token == token && d.status.is_none() => {
                deliveries.remove(key);
                Ok(())
            }
            _ => Err(StoreError::ClaimLost),
        }
    }
}

impl RateLimitStore for MemoryStore {
    async fn take_slot(
        &self,
        recipient_id: &str,
        channel: Channel,
        window: RateWindow,
        limit: u32,
    ) -> Result<bool, StoreError> {
        let mut slots = self.slots.lock().unwrap();
        let count = slots
            .entry((recipient_id.to_string(), channel, window.index))
            .or_default();
        if *count < limit {
            *count += 1;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    async fn return_slot(
        &self,
        recipient_id: &str,
        channel: Channel,
        window: RateWindow,
    ) -> Result<(), StoreError> {
        if let Some(count) =
            self.slots
                .lock()
                .unwrap()
                .get_mut(&(recipient_id.to_string(), channel, window.index))
        {
            *count = count.saturating_sub(1);
        }
        Ok(())
    }
}

/// Records what it sends; answers with scripted failures first.
#[derive(Default)]
struct FakeProvider {
    sent: Mutex<Vec<(String, String)>>,
    script: Mutex<VecDeque<SendError>>,
}

impl FakeProvider {
    fn fail_next(&self, err: SendError) {
        self.script.lock().unwrap().push_back(err);
    }

    fn sent(&self) -> Vec<(String, String)> {
        self.sent.lock().unwrap().clone()
    }

    fn record(&self, to: &str, what: &str) -> Result<String, SendError> {
        if let Some(err) = self.script.lock().unwrap().pop_front() {
            return Err(err);
        }
        let mut sent = self.sent.lock().unwrap();
        sent.push((to.to_string(), what.to_string()));
        Ok(format!("msg-{}", sent.len()))
    }
}

impl EmailSender for FakeProvider {
    async fn send_email(
        &self,
        to: &EmailAddress,
        message: &RenderedMessage,
    ) -> Result<String, SendError> {
        self.record(to.as_str(), &message.subject)
    }
}

impl SmsSender for FakeProvider {
    async fn send_sms(&self, to: &PhoneNumber, text: &str) -> Result<String, SendError> {
        self.record(to.as_str(), text)
    }
}

type TestNotifier = Notifier<MemoryStore, FakeProvider, FakeProvider>;

fn notifier_with(settings: Settings) -> TestNotifier {
    Notifier::new(
        MemoryStore::default(),
        FakeProvider::default(),
        FakeProvider::default(),
        Templates::new("https://portal.clinic.example").unwrap(),
        settings,
    )
    .with_clock(Arc::new(ManualClock::at(start())))
}

fn notifier() -> TestNotifier {
    notifier_with(Settings::default())
}

fn start() -> Timestamp {
    Timestamp::from_second(1_741_806_000).unwrap()
}

// --- events ------------------------------------------------------------------------------------

const EMAIL: &str = "ana@example.com";
const PHONE: &str = "+5511987654321";

fn event_at<T: EventData>(data: T, subject: &str, time: Timestamp) -> Envelope {
    let mut envelope = Envelope::new("clinic.test", subject, data, "").into_raw();
    envelope.time = time;
    envelope
}

fn event<T: EventData>(data: T, subject: &str) -> Envelope {
    event_at(data, subject, start())
}

fn prefs(email: bool, sms: bool, language: Language) -> Preferences {
    Preferences {
        email,
        sms,
        language,
    }
}

fn created(id: &str, preferences: Preferences) -> Envelope {
    event(
        AccountCreated {
            account_id: id.into(),
            role: Role::Patient,
            email: EMAIL.into(),
            phone: Some(PHONE.into()),
            preferences,
        },
        id,
    )
}

fn updated_at(id: &str, email: &str, preferences: Preferences, time: Timestamp) -> Envelope {
    event_at(
        AccountUpdated {
            account_id: id.into(),
            role: Role::Patient,
            email: email.into(),
            phone: Some(PHONE.into()),
            preferences,
        },
        id,
        time,
    )
}

fn result_ready(patient: &str) -> Envelope {
    event(
        ExamResultReady {
            exam_id: "exam-1".into(),
            patient_id: Some(patient.into()),
            hospital_id: "h-1".into(),
            doctor_id: None,
            file_id: "file-1".into(),
        },
        "exam-1",
    )
}

fn exam_created(patient: &str, status: ExamStatus) -> Envelope {
    event(
        ExamCreated {
            exam_id: "exam-1".into(),
            patient_id: Some(patient.into()),
            hospital_id: "h-1".into(),
            hospital_name: "Hospital Central".into(),
            exam_type: "Ressonância".into(),
            scheduled_at: crate::domain::templates::sample_time(),
            doctor_id: None,
            status,
        },
        "exam-1",
    )
}

async fn known(n: &TestNotifier, id: &str, preferences: Preferences) {
    n.handle(&updated_at(id, EMAIL, preferences, start()))
        .await
        .unwrap();
}

fn statuses(n: &TestNotifier, id: &str) -> Vec<(Channel, TemplateId, DeliveryStatus)> {
    let mut entries: Vec<_> = n
        .store()
        .log_of(id)
        .into_iter()
        .map(|e| (e.channel, e.template, e.status))
        .collect();
    entries.sort_by_key(|(c, t, _)| (c.as_str(), t.as_str()));
    entries
}

// --- tests -------------------------------------------------------------------------------------

#[tokio::test]
async fn account_created_projects_the_contact_and_welcomes_on_both_channels() {
    let n = notifier();
    n.handle(&created("acc-1", prefs(true, true, Language::En)))
        .await
        .unwrap();
    assert_eq!(
        n.email_sender().sent(),
        vec![(EMAIL.to_string(), "Welcome to Clinic".to_string())]
    );
    let sms = n.sms_sender().sent();
    assert_eq!(sms.len(), 1);
    assert_eq!(sms[0].0, PHONE);
    assert!(sms[0].1.starts_with("Clinic: your account"));
    assert_eq!(
        statuses(&n, "acc-1"),
        vec![
            (Channel::Email, TemplateId::Welcome, DeliveryStatus::Sent),
            (Channel::Sms, TemplateId::Welcome, DeliveryStatus::Sent),
        ]
    );
    let log = n.store().log_of("acc-1");
    assert!(log.iter().all(|e| e.event_type == "account.created"));
    assert!(log.iter().all(|e| e.provider_message_id.is_some()));
}

#[tokio::test]
async fn doctors_get_first_access_instead_of_welcome() {
    let n = notifier();
    let mut account = created("doc-1", prefs(true, false, Language::PtBr));
    account.data["role"] = "doctor".into();
    n.handle(&account).await.unwrap();
    assert!(n.email_sender().sent().is_empty());

    let registered = event(
        DoctorRegistered {
            account_id: "doc-1".into(),
            crm: "123456".into(),
            uf: "SP".into(),
            specialty: "Cardiologia".into(),
            email: EMAIL.into(),
            invitation_sent_by_cognito: true,
        },
        "doc-1",
    );
    n.handle(&registered).await.unwrap();
    assert_eq!(
        n.email_sender().sent(),
        vec![(
            EMAIL.to_string(),
            "Seu primeiro acesso à Clinic".to_string()
        )]
    );
}

#[tokio::test]
async fn doctor_registered_before_the_contact_uses_the_events_address() {
    let n = notifier();
    let registered = event(
        DoctorRegistered {
            account_id: "doc-2".into(),
            crm: "123456".into(),
            uf: "SP".into(),
            specialty: "Cardiologia".into(),
            email: "dr@example.com".into(),
            invitation_sent_by_cognito: false,
        },
        "doc-2",
    );
    n.handle(&registered).await.unwrap();
    assert_eq!(n.email_sender().sent().len(), 1);
    assert_eq!(n.email_sender().sent()[0].0, "dr@example.com");
    assert!(n.sms_sender().sent().is_empty());
}

#[tokio::test]
async fn each_exam_event_sends_its_template_to_the_patient() {
    let n = notifier();
    known(&n, "pat-1", prefs(true, true, Language::En)).await;
    let cancelled = event(
        ExamUpdated {
            exam_id: "exam-1".into(),
            patient_id: Some("pat-1".into()),
            hospital_id: "h-1".into(),
            hospital_name: "Hospital Central".into(),
            exam_type: "Ressonância".into(),
            scheduled_at: crate::domain::templates::sample_time(),
            doctor_id: None,
            status: ExamStatus::Cancelled,
            previous_status: ExamStatus::Scheduled,
        },
        "exam-1",
    );
    let completed = event(
        ExamCompleted {
            exam_id: "exam-1".into(),
            patient_id: Some("pat-1".into()),
            hospital_id: "h-1".into(),
            doctor_id: None,
        },
        "exam-1",
    );
    for e in [
        exam_created("pat-1", ExamStatus::Scheduled),
        cancelled,
        completed,
        result_ready("pat-1"),
    ] {
        n.handle(&e).await.unwrap();
    }
    let subjects: Vec<String> = n.email_sender().sent().into_iter().map(|s| s.1).collect();
    assert_eq!(
        subjects,
        vec![
            "Appointment confirmed for 12 Mar 2025 at 14:30",
            "Appointment cancelled: 12 Mar 2025 at 14:30",
            "Your exam has been performed",
            "A result is available in the portal",
        ]
    );
    assert_eq!(n.sms_sender().sent().len(), 4);
    // The exam type never reaches a message.
    for (_, text) in n.sms_sender().sent() {
        assert!(!text.contains("Ressonância"), "{text}");
    }
}

#[tokio::test]
async fn events_that_call_for_no_message_send_nothing() {
    let n = notifier();
    known(&n, "pat-1", prefs(true, true, Language::En)).await;
    let rescheduled = event(
        ExamUpdated {
            exam_id: "exam-1".into(),
            patient_id: Some("pat-1".into()),
            hospital_id: "h-1".into(),
            hospital_name: "Hospital Central".into(),
            exam_type: "x".into(),
            scheduled_at: start(),
            doctor_id: None,
            status: ExamStatus::Collected,
            previous_status: ExamStatus::Scheduled,
        },
        "exam-1",
    );
    let no_patient = event(
        ExamResultReady {
            exam_id: "exam-2".into(),
            patient_id: None,
            hospital_id: "h-1".into(),
            doctor_id: None,
            file_id: "f".into(),
        },
        "exam-2",
    );
    let other = event(
        FileProcessed {
            file_id: "f".into(),
            exam_id: "exam-1".into(),
            kind: FileKind::Result,
            size: 1,
            sha256: "00".into(),
        },
        "f",
    );
    for e in [
        rescheduled,
        no_patient,
        other,
        exam_created("pat-1", ExamStatus::Completed),
    ] {
        n.handle(&e).await.unwrap();
    }
    assert!(n.email_sender().sent().is_empty());
    assert!(n.sms_sender().sent().is_empty());
}

#[tokio::test]
async fn report_completed_goes_to_the_requester() {
    let n = notifier();
    known(&n, "staff-1", prefs(true, false, Language::PtBr)).await;
    let report = event(
        ReportCompleted {
            report_id: "r-1".into(),
            requested_by: "staff-1".into(),
            format: "xlsx".into(),
            rows: 10,
        },
        "r-1",
    );
    n.handle(&report).await.unwrap();
    assert_eq!(
        n.email_sender().sent(),
        vec![(EMAIL.to_string(), "Seu relatório está pronto".to_string())]
    );
}

#[tokio::test]
async fn the_same_event_twice_sends_once_per_channel() {
    let n = notifier();
    known(&n, "pat-1", prefs(true, true, Language::PtBr)).await;
    let e = result_ready("pat-1");
    n.handle(&e).await.unwrap();
    n.handle(&e).await.unwrap();
    assert_eq!(n.email_sender().sent().len(), 1);
    assert_eq!(n.sms_sender().sent().len(), 1);
    assert_eq!(n.store().log_of("pat-1").len(), 2);
}

#[tokio::test]
async fn a_failed_channel_is_retried_alone() {
    let n = notifier();
    known(&n, "pat-1", prefs(true, true, Language::PtBr)).await;
    n.email_sender()
        .fail_next(SendError::Transient("TooManyRequestsException".into()));
    let e = result_ready("pat-1");
    let first = n.handle(&e).await;
    assert!(matches!(first, Err(NotifyError::Retry(ref r)) if r.contains("TooManyRequests")));
    assert!(n.email_sender().sent().is_empty());
    assert_eq!(n.sms_sender().sent().len(), 1);

    n.handle(&e).await.unwrap();
    assert_eq!(n.email_sender().sent().len(), 1);
    assert_eq!(n.sms_sender().sent().len(), 1, "SMS not sent again");
    assert_eq!(
        statuses(&n, "pat-1"),
        vec![
            (
                Channel::Email,
                TemplateId::ResultReady,
                DeliveryStatus::Sent
            ),
            (Channel::Sms, TemplateId::ResultReady, DeliveryStatus::Sent),
        ]
    );
}

#[tokio::test]
async fn permanent_failures_are_recorded_and_not_retried() {
    let n = notifier();
    known(&n, "pat-1", prefs(true, true, Language::PtBr)).await;
    n.sms_sender()
        .fail_next(SendError::Permanent("InvalidParameter".into()));
    let e = result_ready("pat-1");
    n.handle(&e).await.unwrap();
    n.handle(&e).await.unwrap();
    assert_eq!(n.email_sender().sent().len(), 1);
    assert!(n.sms_sender().sent().is_empty());
    let failed: Vec<_> = n
        .store()
        .log_of("pat-1")
        .into_iter()
        .filter(|e| e.status == DeliveryStatus::Failed)
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].channel, Channel::Sms);
    assert_eq!(failed[0].reason.as_deref(), Some("InvalidParameter"));
}

#[tokio::test]
async fn the_hourly_limit_holds_back_and_records_the_excess() {
    let clock = ManualClock::at(start());
    let n = notifier_with(Settings {
        sms_limit_per_hour: 2,
        ..Settings::default()
    })
    .with_clock(Arc::new(clock.clone()));
    known(&n, "pat-1", prefs(true, true, Language::PtBr)).await;
    for _ in 0..3 {
        n.handle(&result_ready("pat-1")).await.unwrap();
    }
    assert_eq!(n.sms_sender().sent().len(), 2);
    assert_eq!(n.email_sender().sent().len(), 3);
    let limited: Vec<_> = n
        .store()
        .log_of("pat-1")
        .into_iter()
        .filter(|e| e.status == DeliveryStatus::RateLimited)
        .collect();
    assert_eq!(limited.len(), 1);
    assert_eq!(limited[0].channel, Channel::Sms);
    assert_eq!(limited[0].reason.as_deref(), Some("at most 2 per hour"));

    // The limit belongs to the phone, not the account: a second account with the same number
    // gets nothing more this hour, while another number is not affected.
    known(&n, "pat-2", prefs(true, true, Language::PtBr)).await;
    n.handle(&result_ready("pat-2")).await.unwrap();
    assert_eq!(n.sms_sender().sent().len(), 2);
    assert!(statuses(&n, "pat-2").contains(&(
        Channel::Sms,
        TemplateId::ResultReady,
        DeliveryStatus::RateLimited
    )));
    n.handle(&event_at(
        AccountUpdated {
            account_id: "pat-3".into(),
            role: Role::Patient,
            email: "other@example.com".into(),
            phone: Some("+5521900000000".into()),
            preferences: prefs(true, true, Language::PtBr),
        },
        "pat-3",
        start(),
    ))
    .await
    .unwrap();
    n.handle(&result_ready("pat-3")).await.unwrap();
    assert_eq!(n.sms_sender().sent().len(), 3);
    clock.advance(SignedDuration::from_hours(1));
    n.handle(&result_ready("pat-1")).await.unwrap();
    assert_eq!(n.sms_sender().sent().len(), 4);
}

#[tokio::test]
async fn a_repeated_sign_up_is_told_to_the_address_only() {
    let n = notifier();
    known(&n, "pat-1", prefs(true, true, Language::PtBr)).await;
    n.handle(&event(
        clinic_shared::envelope::SignUpRepeated {
            account_id: "pat-1".into(),
        },
        "pat-1",
    ))
    .await
    .unwrap();
    assert_eq!(n.email_sender().sent().len(), 1);
    assert!(
        n.sms_sender().sent().is_empty(),
        "no SMS for an e-mail notice"
    );
    assert_eq!(
        statuses(&n, "pat-1"),
        [(
            Channel::Email,
            TemplateId::SignUpRepeated,
            DeliveryStatus::Sent
        )]
    );
}

#[tokio::test]
async fn a_transient_failure_gives_its_slot_back() {
    let n = notifier_with(Settings {
        sms_limit_per_hour: 1,
        ..Settings::default()
    });
    known(&n, "pat-1", prefs(false, true, Language::PtBr)).await;
    n.sms_sender()
        .fail_next(SendError::Transient("Throttled".into()));
    let e = result_ready("pat-1");
    assert!(n.handle(&e).await.is_err());
    n.handle(&e).await.unwrap();
    assert_eq!(n.sms_sender().sent().len(), 1);
}

#[tokio::test]
async fn opted_out_channels_are_not_used() {
    let n = notifier();
    known(&n, "pat-1", prefs(true, false, Language::PtBr)).await;
    n.handle(&result_ready("pat-1")).await.unwrap();
    assert_eq!(n.email_sender().sent().len(), 1);
    assert!(n.sms_sender().sent().is_empty());
    assert_eq!(
        statuses(&n, "pat-1"),
        vec![(
            Channel::Email,
            TemplateId::ResultReady,
            DeliveryStatus::Sent
        )]
    );
}

#[tokio::test]
async fn an_unknown_language_falls_back_to_portuguese() {
    let n = notifier();
    let mut account = created("acc-1", prefs(true, false, Language::En));
    account.data["preferences"]["language"] = "fr".into();
    n.handle(&account).await.unwrap();
    assert_eq!(
        n.email_sender().sent(),
        vec![(EMAIL.to_string(), "Boas-vindas à Clinic".to_string())]
    );
}

#[tokio::test]
async fn only_newer_account_events_change_the_contact() {
    let n = notifier();
    let t1 = start();
    let t2 = t1.checked_add(SignedDuration::from_secs(60)).unwrap();
    n.handle(&updated_at(
        "pat-1",
        "new@example.com",
        prefs(true, false, Language::En),
        t2,
    ))
    .await
    .unwrap();
    n.handle(&updated_at(
        "pat-1",
        "old@example.com",
        prefs(true, true, Language::PtBr),
        t1,
    ))
    .await
    .unwrap();
    n.handle(&result_ready("pat-1")).await.unwrap();
    assert_eq!(
        n.email_sender().sent(),
        vec![(
            "new@example.com".to_string(),
            "A result is available in the portal".to_string()
        )]
    );
    assert!(n.sms_sender().sent().is_empty());
}

#[tokio::test]
async fn deletion_erases_the_contact_and_log_and_a_late_update_cannot_bring_it_back() {
    let n = notifier();
    known(&n, "pat-1", prefs(true, true, Language::PtBr)).await;
    n.handle(&result_ready("pat-1")).await.unwrap();
    assert_eq!(n.store().log_of("pat-1").len(), 2);

    let deleted = event(
        AccountDeleted {
            account_id: "pat-1".into(),
            role: Role::Patient,
        },
        "pat-1",
    );
    n.handle(&deleted).await.unwrap();
    assert!(n.store().log_of("pat-1").is_empty());

    let late = updated_at(
        "pat-1",
        EMAIL,
        prefs(true, true, Language::PtBr),
        start().checked_add(SignedDuration::from_hours(1)).unwrap(),
    );
    n.handle(&late).await.unwrap();
    assert_eq!(
        n.store().contacts.lock().unwrap().get("pat-1"),
        Some(&ContactRecord::Erased)
    );
    n.handle(&result_ready("pat-1")).await.unwrap();
    assert_eq!(n.email_sender().sent().len(), 1, "nothing after erasure");
    assert!(n.store().log_of("pat-1").is_empty(), "no new log either");
}

#[tokio::test]
async fn an_unknown_recipient_is_waited_for_then_skipped() {
    let clock = ManualClock::at(start());
    let n = notifier().with_clock(Arc::new(clock.clone()));
    let e = result_ready("pat-9");
    assert!(matches!(n.handle(&e).await, Err(NotifyError::Retry(_))));

    // The account event arrives within the wait: the retry sends.
    known(&n, "pat-9", prefs(true, false, Language::PtBr)).await;
    n.handle(&e).await.unwrap();
    assert_eq!(n.email_sender().sent().len(), 1);

    // Nobody ever shows up for another recipient: recorded as skipped once the wait is over.
    let orphan = result_ready("pat-10");
    clock.advance(SignedDuration::from_secs(6));
    n.handle(&orphan).await.unwrap();
    let log = n.store().log_of("pat-10");
    assert_eq!(log.len(), 2);
    assert!(log.iter().all(|e| e.status == DeliveryStatus::Skipped
        && e.reason.as_deref() == Some(NO_CONTACT)));
}

#[tokio::test]
async fn payloads_that_break_the_contract_are_refused() {
    let n = notifier();
    let mut broken = result_ready("pat-1");
    broken.data = serde_json::json!({"examId": 5});
    assert!(matches!(
        n.handle(&broken).await,
        Err(NotifyError::Refuse(_))
    ));
}
