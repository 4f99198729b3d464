//! The authorisation matrix: every route of the merged OpenAPI document the runner serves, called
//! through the local runner by every kind of caller — nobody, patient A, patient B, A's doctor,
//! another doctor, A's hospital, another hospital, staff — with the status each must get.
//!
//! The resources are patient A's: an exam booked at hospital X and assigned to doctor A, with a
//! processed result file; exams hospital X pushed for A; a batch of hospital X; a report staff
//! asked for. Besides the status, every answer is checked for what it must not carry: a 2xx
//! answer never holds an id, e-mail or CPF of someone the caller has no business with, no answer
//! is a 5xx, and where another person's resource answers 404 an id that names nothing answers
//! the same, so existence does not leak.
//!
//! A route in `/openapi.json` without a row here fails the test: a new route cannot skip it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use clinic_journeys::api::{
    Api, Call, Hospital, Person, Reply, STAFF_EMAIL, STAFF_PASSWORD, cpf, eventually,
};
use clinic_journeys::local_system::{LocalSystem, bin_dir};
use clinic_journeys::root;
use reqwest::Method;
use serde_json::{Value, json};

/// The callers, in the order of the matrix columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Who {
    Anonymous,
    PatientA,
    PatientB,
    DoctorA,
    DoctorB,
    HospitalX,
    HospitalY,
    Staff,
}

const CALLERS: [Who; 8] = [
    Who::Anonymous,
    Who::PatientA,
    Who::PatientB,
    Who::DoctorA,
    Who::DoctorB,
    Who::HospitalX,
    Who::HospitalY,
    Who::Staff,
];

/// Expected statuses: `METHOD path` → one status per caller, in [`CALLERS`] order.
///
/// Reading guide: 401 — no token, or a token the route's authorizer does not take (hospital
/// clients are only accepted by the routes behind `ClinicAuthorizer`); 403 — the role may never
/// do this; 404 — someone else's resource (never 403, so ids cannot be probed).
const MATRIX: &[(&str, [u16; 8])] = &[
    //                                        anon  pA   pB   dA   dB   hX   hY  staff
    (
        "POST /v1/accounts/patients",
        [202, 202, 202, 202, 202, 202, 202, 202],
    ),
    (
        "POST /v1/accounts/confirm",
        [204, 204, 204, 204, 204, 204, 204, 204],
    ),
    (
        "POST /v1/auth/token",
        [200, 200, 200, 200, 200, 200, 200, 200],
    ),
    (
        "POST /v1/auth/refresh",
        [200, 200, 200, 200, 200, 200, 200, 200],
    ),
    (
        "POST /v1/auth/new-password",
        [401, 401, 401, 401, 401, 401, 401, 401],
    ),
    // A second-factor answer without a live sign-in session opens nothing, whoever sends it.
    (
        "POST /v1/auth/mfa",
        [401, 401, 401, 401, 401, 401, 401, 401],
    ),
    // Staff accounts are made outside the API (the runner seeds one in the user pool): they
    // have no profile to read, change or erase.
    ("GET /v1/me", [401, 200, 200, 200, 200, 401, 401, 404]),
    ("PATCH /v1/me", [401, 200, 200, 200, 200, 401, 401, 404]),
    ("GET /v1/doctors", [401, 200, 200, 200, 200, 401, 401, 200]),
    ("POST /v1/doctors", [401, 403, 403, 403, 403, 401, 401, 201]),
    (
        "POST /v1/hospitals",
        [401, 403, 403, 403, 403, 401, 401, 201],
    ),
    (
        "GET /v1/me/notifications",
        [401, 200, 200, 200, 200, 401, 401, 200],
    ),
    (
        "GET /v1/hospitals",
        [401, 200, 200, 200, 200, 200, 200, 200],
    ),
    (
        "PUT /v1/hospitals/{id}/slots",
        [401, 403, 403, 403, 403, 200, 403, 200],
    ),
    ("GET /v1/slots", [401, 200, 200, 200, 200, 200, 200, 200]),
    (
        "POST /v1/appointments",
        [401, 201, 201, 403, 403, 401, 401, 403],
    ),
    (
        "DELETE /v1/appointments/{examId}",
        [401, 204, 404, 403, 403, 401, 401, 403],
    ),
    ("GET /v1/exams", [401, 200, 200, 200, 200, 200, 200, 200]),
    (
        "GET /v1/exams/{id}",
        [401, 200, 404, 200, 404, 200, 404, 200],
    ),
    (
        "POST /v1/exams:claim",
        [401, 200, 200, 403, 403, 401, 401, 403],
    ),
    (
        "POST /v1/exams/{id}/assign",
        [401, 403, 403, 403, 403, 200, 404, 200],
    ),
    (
        "POST /v1/exams/{id}/collect",
        [401, 403, 403, 200, 404, 200, 404, 200],
    ),
    (
        "POST /v1/exams/{id}/complete",
        [401, 403, 403, 200, 404, 200, 404, 403],
    ),
    (
        "POST /v1/integrations/exams:batch",
        [401, 403, 403, 403, 403, 202, 202, 403],
    ),
    (
        "GET /v1/integrations/batches/{batchId}",
        [401, 403, 403, 403, 403, 200, 404, 403],
    ),
    (
        "POST /v1/exams/{id}/files",
        [401, 403, 403, 201, 404, 201, 404, 403],
    ),
    (
        "GET /v1/exams/{id}/files",
        [401, 200, 404, 200, 404, 200, 404, 200],
    ),
    (
        "GET /v1/files/{fileId}/download",
        [401, 200, 404, 200, 404, 401, 401, 200],
    ),
    (
        "GET /v1/exams/{id}/access-log",
        [401, 200, 404, 403, 403, 401, 401, 200],
    ),
    ("POST /v1/reports", [401, 403, 403, 403, 403, 401, 401, 202]),
    // Refused by role before any look-up: the same 403 whether the report exists or not.
    (
        "GET /v1/reports/{id}",
        [401, 403, 403, 403, 403, 401, 401, 200],
    ),
    // Last: it erases the callers' accounts.
    ("DELETE /v1/me", [401, 204, 204, 204, 204, 401, 401, 404]),
];

/// Everything the matrix's requests refer to.
struct Fixtures {
    staff: Person,
    patient_a: Person,
    patient_b: Person,
    cpf_a: String,
    cpf_b: String,
    doctor_a: Person,
    doctor_b: Person,
    hospital_x: Hospital,
    hospital_y: Hospital,
    /// A's exam at X, assigned to doctor A, with a processed result file.
    exam_a: String,
    file_a: String,
    report: String,
    batch_x: String,
    /// A free slot of X nobody booked (for the booking row).
    free_slot: String,
    /// A's appointments at X, one per caller of the cancel row.
    appointments: Vec<String>,
    /// Exams X pushed for A and staff assigned to doctor A: scheduled, and collected.
    scheduled: Vec<String>,
    collected: Vec<String>,
    /// X's receipt codes of exams pushed without an address (claimable by whoever holds one).
    codes: Vec<String>,
    /// Per caller, the throwaway account the public rows use.
    public_accounts: BTreeMap<Who, (String, String)>,
    counter: u64,
}

impl Fixtures {
    fn token(&self, who: Who) -> Option<String> {
        match who {
            Who::Anonymous => None,
            Who::PatientA => Some(self.patient_a.access.clone()),
            Who::PatientB => Some(self.patient_b.access.clone()),
            Who::DoctorA => Some(self.doctor_a.access.clone()),
            Who::DoctorB => Some(self.doctor_b.access.clone()),
            Who::HospitalX => Some(self.hospital_x.token.clone()),
            Who::HospitalY => Some(self.hospital_y.token.clone()),
            Who::Staff => Some(self.staff.access.clone()),
        }
    }

    /// What must never appear in a successful answer to `who`.
    fn foreign(&self, who: Who) -> Vec<String> {
        let a = vec![
            self.exam_a.clone(),
            self.file_a.clone(),
            self.patient_a.id.clone(),
            self.patient_a.email.clone(),
            self.cpf_a.clone(),
        ];
        let b = vec![
            self.patient_b.id.clone(),
            self.patient_b.email.clone(),
            self.cpf_b.clone(),
        ];
        let mut foreign = match who {
            Who::Anonymous => [a, b].concat(),
            Who::PatientA | Who::DoctorA => b,
            Who::PatientB => a,
            Who::DoctorB => [a, b].concat(),
            // X sees A's exams there and B's booking there; Y sees nothing of either.
            Who::HospitalX => vec![self.cpf_b.clone(), self.patient_b.email.clone()],
            Who::HospitalY => [a, b, vec![self.batch_x.clone()]].concat(),
            Who::Staff => Vec::new(),
        };
        if who != Who::Staff {
            foreign.push(self.report.clone());
        }
        foreign
    }

    fn next(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }
}

/// An id of the same shape as `id` that names nothing.
fn unknown_like(id: &str) -> String {
    let mut chars: Vec<char> = id.chars().collect();
    if let Some(last) = chars.last_mut() {
        *last = if *last == 'Z' { 'Y' } else { 'Z' };
    }
    chars.into_iter().collect()
}

/// The request of one cell; `None` in `probe` for rows without a resource id to probe.
struct Cell {
    call: Call,
    /// The same request for an id that names nothing (asked when the cell expects 404).
    probe: Option<Call>,
}

fn cell(route: &str, who: Who, fx: &mut Fixtures) -> Cell {
    let token = fx.token(who);
    let token = token.as_deref();
    let n = fx.next();
    let plain = |method: Method, path: String| Call::new(method, path).token(token);
    let with_probe = |method: Method, path: &str, id: &str, body: Option<Value>| {
        let mut call = Call::new(method.clone(), path.replace("{}", id)).token(token);
        let mut probe = Call::new(method, path.replace("{}", &unknown_like(id))).token(token);
        if let Some(body) = body {
            call = call.json(body.clone());
            probe = probe.json(body);
        }
        Cell {
            call,
            probe: Some(probe),
        }
    };
    let no_probe = |call: Call| Cell { call, probe: None };
    match route {
        "POST /v1/accounts/patients" => {
            let email = format!("public.{n}@example.com");
            let account = (email.clone(), String::new());
            fx.public_accounts.insert(who, account);
            no_probe(plain(Method::POST, "/v1/accounts/patients".into()).json(json!({
                "email": email, "password": "Passw0rdOk", "name": "Rui Lima",
                "cpf": cpf(700_000_000 + n), "birthDate": "1985-01-02", "phone": "+5511900000001"})))
        }
        "POST /v1/accounts/confirm" => {
            let email = fx.public_accounts[&who].0.clone();
            no_probe(
                plain(Method::POST, "/v1/accounts/confirm".into())
                    .json(json!({"email": email, "code": "123456", "password": "Passw0rdOk"})),
            )
        }
        "POST /v1/auth/token" => {
            let email = fx.public_accounts[&who].0.clone();
            no_probe(
                plain(Method::POST, "/v1/auth/token".into())
                    .json(json!({"username": email, "password": "Passw0rdOk"})),
            )
        }
        "POST /v1/auth/refresh" => {
            let refresh = fx.public_accounts[&who].1.clone();
            no_probe(
                plain(Method::POST, "/v1/auth/refresh".into())
                    .json(json!({"refreshToken": refresh})),
            )
        }
        "POST /v1/auth/new-password" => no_probe(
            plain(Method::POST, "/v1/auth/new-password".into()).json(json!({
                "username": fx.doctor_a.email, "session": "not-a-session", "newPassword": "Other0Password"})),
        ),
        "POST /v1/auth/mfa" => no_probe(
            plain(Method::POST, "/v1/auth/mfa".into()).json(json!({
                "username": fx.doctor_a.email, "session": "not-a-session", "code": "123456"})),
        ),
        "GET /v1/me" => no_probe(plain(Method::GET, "/v1/me".into())),
        "PATCH /v1/me" => no_probe(
            plain(Method::PATCH, "/v1/me".into()).json(json!({"name": "Nome Atualizado"})),
        ),
        "DELETE /v1/me" => no_probe(plain(Method::DELETE, "/v1/me".into())),
        "GET /v1/doctors" => no_probe(plain(Method::GET, "/v1/doctors".into())),
        "POST /v1/doctors" => no_probe(plain(Method::POST, "/v1/doctors".into()).json(json!({
            "email": format!("matrix.doctor.{n}@example.com"), "name": "Dr. Caio Reis",
            "crm": format!("{}", 400_000 + n), "uf": "RJ", "specialty": "Clínica",
            "temporaryPassword": "Temp0rary1x"}))),
        "POST /v1/hospitals" => no_probe(plain(Method::POST, "/v1/hospitals".into()).json(
            json!({"name": format!("Hospital Matriz {n}"), "cnes": format!("{}", 3_000_000 + n)}),
        )),
        "GET /v1/me/notifications" => no_probe(plain(Method::GET, "/v1/me/notifications".into())),
        "GET /v1/hospitals" => no_probe(plain(Method::GET, "/v1/hospitals".into())),
        "PUT /v1/hospitals/{id}/slots" => with_probe(
            Method::PUT,
            "/v1/hospitals/{}/slots",
            &fx.hospital_x.id.clone(),
            Some(json!([{"examType": "Hemograma", "start": "2031-05-01T10:00:00Z",
                         "end": "2031-05-01T10:30:00Z", "capacity": 3}])),
        ),
        "GET /v1/slots" => no_probe(plain(
            Method::GET,
            format!("/v1/slots?hospitalId={}", fx.hospital_x.id),
        )),
        "POST /v1/appointments" => no_probe(
            plain(Method::POST, "/v1/appointments".into())
                .header("idempotency-key", &format!("matrix-booking-{n}"))
                .json(json!({"slotId": fx.free_slot})),
        ),
        "DELETE /v1/appointments/{examId}" => {
            let exam = fx.appointments.pop().expect("an appointment per caller");
            with_probe(Method::DELETE, "/v1/appointments/{}", &exam, None)
        }
        "GET /v1/exams" => no_probe(plain(Method::GET, "/v1/exams?limit=200".into())),
        "GET /v1/exams/{id}" => with_probe(Method::GET, "/v1/exams/{}", &fx.exam_a.clone(), None),
        "POST /v1/exams:claim" => {
            let code = match who {
                Who::PatientA | Who::PatientB => fx.codes.pop().expect("a receipt code"),
                _ => "ABCD-EFGH-JKMN-PQRS".to_string(),
            };
            no_probe(plain(Method::POST, "/v1/exams:claim".into()).json(json!({"accessCode": code})))
        }
        "POST /v1/exams/{id}/assign" => {
            let exam = fx.scheduled[0].clone();
            let body = json!({"doctorId": fx.doctor_a.id});
            with_probe(Method::POST, "/v1/exams/{}/assign", &exam, Some(body))
        }
        "POST /v1/exams/{id}/collect" => {
            // The first scheduled exam is the assign row's: take the others.
            let exam = fx.scheduled.pop().expect("a scheduled exam per caller");
            with_probe(Method::POST, "/v1/exams/{}/collect", &exam, Some(json!({})))
        }
        "POST /v1/exams/{id}/complete" => {
            let exam = fx.collected.pop().expect("a collected exam per caller");
            with_probe(Method::POST, "/v1/exams/{}/complete", &exam, Some(json!({})))
        }
        "POST /v1/integrations/exams:batch" => no_probe(
            plain(Method::POST, "/v1/integrations/exams:batch".into()).json(json!({"items": [{
                "externalId": format!("MATRIX-{n}"), "version": 1, "patientCpf": cpf(800_000_000 + n),
                "examType": "Glicemia", "status": "SCHEDULED", "scheduledAt": "2031-02-01T09:00:00Z"}]})),
        ),
        "GET /v1/integrations/batches/{batchId}" => with_probe(
            Method::GET,
            "/v1/integrations/batches/{}",
            &fx.batch_x.clone(),
            None,
        ),
        "POST /v1/exams/{id}/files" => {
            let body = json!({"fileName": "anexo.pdf", "contentType": "application/pdf",
                              "size": 2048, "kind": "attachment"});
            with_probe(Method::POST, "/v1/exams/{}/files", &fx.exam_a.clone(), Some(body))
        }
        "GET /v1/exams/{id}/files" => {
            with_probe(Method::GET, "/v1/exams/{}/files", &fx.exam_a.clone(), None)
        }
        "GET /v1/files/{fileId}/download" => with_probe(
            Method::GET,
            "/v1/files/{}/download",
            &fx.file_a.clone(),
            None,
        ),
        "GET /v1/exams/{id}/access-log" => {
            with_probe(Method::GET, "/v1/exams/{}/access-log", &fx.exam_a.clone(), None)
        }
        "POST /v1/reports" => no_probe(
            plain(Method::POST, "/v1/reports".into())
                .header("idempotency-key", &format!("matrix-report-{n}"))
                .json(json!({"kind": "exams", "format": "xlsx",
                             "filters": {"from": "2030-01-01", "to": "2030-12-31"}})),
        ),
        "GET /v1/reports/{id}" => {
            with_probe(Method::GET, "/v1/reports/{}", &fx.report.clone(), None)
        }
        other => panic!("no request for {other}: add it to `cell`"),
    }
}

/// Builds every resource through the API.
async fn fixtures(api: &Api) -> Fixtures {
    let staff = api.sign_in(STAFF_EMAIL, STAFF_PASSWORD).await;
    let hospital_x = api
        .hospital(&staff.access, "Hospital Xavier", "2000001")
        .await;
    let hospital_y = api
        .hospital(&staff.access, "Hospital Ypiranga", "2000002")
        .await;
    let (cpf_a, cpf_b) = (cpf(111_444_777), cpf(529_982_247));
    let patient_a = api
        .patient("paciente.a@example.com", &cpf_a, "+5511911110001")
        .await;
    let patient_b = api
        .patient("paciente.b@example.com", &cpf_b, "+5511911110002")
        .await;
    let doctor_a = api
        .doctor(&staff.access, "medica.a@example.com", "100001")
        .await;
    let doctor_b = api
        .doctor(&staff.access, "medico.b@example.com", "100002")
        .await;

    // Slots of X: one for A's exam, eight for A's appointments, one left free.
    let slots: Vec<Value> = (0..10)
        .map(|day| {
            json!({"examType": "Raio-X", "start": format!("2031-03-{:02}T10:00:00Z", day + 1),
                   "end": format!("2031-03-{:02}T10:30:00Z", day + 1), "capacity": 5})
        })
        .collect();
    let mut slot_ids = api
        .publish_slots(&staff.access, &hospital_x.id, Value::Array(slots))
        .await;
    assert_eq!(slot_ids.len(), 10);
    let free_slot = slot_ids.pop().expect("free slot");
    let exam_a = api
        .book(&patient_a.access, &slot_ids[0], "matrix-exam-a")
        .await;
    let mut appointments = Vec::new();
    for (i, slot) in slot_ids[1..].iter().enumerate() {
        appointments.push(
            api.book(&patient_a.access, slot, &format!("matrix-appointment-{i}"))
                .await,
        );
    }

    // X pushes exams for A (its address and CPF: linked to A), and two without an address
    // (claimable with the receipt code only).
    let mut items = Vec::new();
    for i in 0..9 {
        items.push(
            json!({"externalId": format!("SCHED-{i}"), "version": 1, "patientCpf": cpf_a,
            "patientEmail": patient_a.email, "examType": "Hemograma", "status": "SCHEDULED",
            "scheduledAt": "2031-04-01T09:00:00Z"}),
        );
    }
    for i in 0..8 {
        items.push(
            json!({"externalId": format!("COLL-{i}"), "version": 1, "patientCpf": cpf_a,
            "patientEmail": patient_a.email, "examType": "Hemograma", "status": "COLLECTED",
            "scheduledAt": "2031-04-02T09:00:00Z"}),
        );
    }
    for (i, cpf) in [&cpf_a, &cpf_b].iter().enumerate() {
        items.push(
            json!({"externalId": format!("CODE-{i}"), "version": 1, "patientCpf": cpf,
            "examType": "Glicemia", "status": "COMPLETED", "scheduledAt": "2031-04-03T09:00:00Z"}),
        );
    }
    let (batch_x, applied) = api.push_exams(&hospital_x.token, items).await;
    for item in &applied {
        assert_eq!(item["state"], "APPLIED", "{item}");
    }
    let codes: Vec<String> = applied
        .iter()
        .filter(|i| {
            i["externalId"]
                .as_str()
                .is_some_and(|e| e.starts_with("CODE-"))
        })
        .map(|i| i["accessCode"].as_str().expect("receipt code").to_string())
        .collect();
    assert_eq!(codes.len(), 2);
    // The hospital's view names each pushed exam.
    let listed = api
        .get("/v1/exams?limit=200", Some(&hospital_x.token))
        .await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    let exam_of = |prefix: &str| -> Vec<String> {
        listed.body["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter(|e| {
                        e["externalId"]
                            .as_str()
                            .is_some_and(|x| x.starts_with(prefix))
                    })
                    .filter_map(|e| e["id"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let scheduled = exam_of("SCHED-");
    let collected = exam_of("COLL-");
    assert_eq!(
        (scheduled.len(), collected.len()),
        (9, 8),
        "{}",
        listed.text
    );
    for exam in scheduled.iter().chain(&collected).chain([&exam_a]) {
        let reply = api
            .post(
                &format!("/v1/exams/{exam}/assign"),
                Some(&staff.access),
                json!({"doctorId": doctor_a.id}),
            )
            .await;
        assert_eq!(reply.status, 200, "assign {exam}: {}", reply.text);
    }
    for exam in scheduled.iter().chain(&collected) {
        eventually("X's exams reach A's account", || async {
            let reply = api
                .get(&format!("/v1/exams/{exam}"), Some(&patient_a.access))
                .await;
            reply.status == 200
        })
        .await;
    }

    // A's exam goes through; doctor A uploads the result; A downloads it once.
    for step in ["collect", "complete"] {
        let reply = api
            .post(
                &format!("/v1/exams/{exam_a}/{step}"),
                Some(&doctor_a.access),
                json!({}),
            )
            .await;
        assert_eq!(reply.status, 200, "{step}: {}", reply.text);
    }
    let pdf = clinic_file_management::domain::checks::sample_pdf("Laudo da matriz");
    let file_a = api.upload_result(&doctor_a.access, &exam_a, pdf).await;
    eventually("A's result is ready", || async {
        let exam = api
            .get(&format!("/v1/exams/{exam_a}"), Some(&patient_a.access))
            .await;
        exam.body["status"] == "RESULT_READY"
    })
    .await;
    let reply = api
        .get(
            &format!("/v1/files/{file_a}/download"),
            Some(&patient_a.access),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);

    let report = api
        .call(
            &Call::new(Method::POST, "/v1/reports")
                .token(Some(&staff.access))
                .header("idempotency-key", "matrix-fixture-report")
                .json(json!({"kind": "exams", "format": "pdf",
                             "filters": {"from": "2031-01-01", "to": "2031-12-31"}})),
        )
        .await;
    assert_eq!(report.status, 202, "{}", report.text);
    let report = report.body["reportId"]
        .as_str()
        .expect("report id")
        .to_string();

    Fixtures {
        staff,
        patient_a,
        patient_b,
        cpf_a,
        cpf_b,
        doctor_a,
        doctor_b,
        hospital_x,
        hospital_y,
        exam_a,
        file_a,
        report,
        batch_x,
        free_slot,
        appointments,
        scheduled,
        collected,
        codes,
        public_accounts: BTreeMap::new(),
        counter: 0,
    }
}

/// `(METHOD, path)` of every operation of an OpenAPI document.
fn operations(spec: &Value) -> BTreeSet<String> {
    let mut routes = BTreeSet::new();
    if let Some(paths) = spec["paths"].as_object() {
        for (path, item) in paths {
            for method in ["get", "put", "post", "delete", "patch", "head", "options"] {
                if item.get(method).is_some() {
                    routes.insert(format!("{} {path}", method.to_uppercase()));
                }
            }
        }
    }
    routes
}

/// The rows of the matrix against the operations of the served document: missing and stale rows.
fn coverage(spec: &Value) -> Vec<String> {
    let served = operations(spec);
    let rows: BTreeSet<String> = MATRIX.iter().map(|(r, _)| r.to_string()).collect();
    let mut problems: Vec<String> = served
        .difference(&rows)
        .map(|r| format!("route {r} has no row in the authorisation matrix"))
        .collect();
    problems.extend(
        rows.difference(&served)
            .map(|r| format!("row {r} names no route of /openapi.json")),
    );
    problems
}

#[test]
fn every_route_needs_a_row() {
    // The check itself: a document with one route more than the matrix fails it.
    let mut paths = serde_json::Map::new();
    for (route, _) in MATRIX {
        let (method, path) = route.split_once(' ').expect("METHOD path");
        paths
            .entry(path.to_string())
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("path item")
            .insert(method.to_lowercase(), json!({}));
    }
    let mut spec = json!({ "paths": paths });
    assert!(coverage(&spec).is_empty(), "{:?}", coverage(&spec));
    spec["paths"]["/v1/new-route"] = json!({"get": {}});
    assert_eq!(
        coverage(&spec),
        ["route GET /v1/new-route has no row in the authorisation matrix"]
    );
}

fn check_cell(
    route: &str,
    who: Who,
    expected: u16,
    reply: &Reply,
    fx: &Fixtures,
    failures: &mut Vec<String>,
) {
    if reply.status >= 500 {
        failures.push(format!(
            "{route} as {who:?}: server error {} {}",
            reply.status, reply.text
        ));
        return;
    }
    if reply.status != expected {
        failures.push(format!(
            "{route} as {who:?}: expected {expected}, got {} {}",
            reply.status,
            reply.text.chars().take(300).collect::<String>()
        ));
    }
    if (200..300).contains(&reply.status) {
        for secret in fx.foreign(who) {
            if !secret.is_empty() && reply.text.contains(&secret) {
                failures.push(format!(
                    "{route} as {who:?}: a {} answer carries `{secret}`, which is not theirs",
                    reply.status
                ));
            }
        }
    }
    if expected == 404 && reply.status == 404 && reply.body["code"] != "NOT_FOUND" {
        failures.push(format!(
            "{route} as {who:?}: a 404 without code NOT_FOUND: {}",
            reply.text
        ));
    }
}

#[tokio::test]
async fn every_route_answers_every_caller_as_the_matrix_says() {
    let system = LocalSystem::start(&root().join("template.yaml"), &bin_dir(), &[]).await;
    let api = Api::of(&system);
    let spec = api.get("/openapi.json", None).await;
    assert_eq!(spec.status, 200);
    let missing = coverage(&spec.body);
    assert!(missing.is_empty(), "{}", missing.join("\n"));

    let mut fx = fixtures(&api).await;
    let mut failures = Vec::new();
    let mut cells = 0;
    let mut probes = 0;
    let mut table = String::new();
    for (route, expected) in MATRIX {
        let _ = write!(table, "{route:<42}");
        for (who, want) in CALLERS.iter().zip(expected) {
            let cell = cell(route, *who, &mut fx);
            let reply = api.call(&cell.call).await;
            cells += 1;
            let _ = write!(table, " {}", reply.status);
            check_cell(route, *who, *want, &reply, &fx, &mut failures);
            if *route == "POST /v1/auth/token"
                && let Some(account) = fx.public_accounts.get_mut(who)
            {
                let refresh = reply.body["refreshToken"].as_str().unwrap_or_default();
                account.1 = refresh.to_string();
            }
            if let (Some(probe), 404) = (&cell.probe, *want) {
                let unknown = api.call(probe).await;
                probes += 1;
                if unknown.status != reply.status || unknown.body["code"] != reply.body["code"] {
                    failures.push(format!(
                        "{route} as {who:?}: someone else's resource answers {} {} but an unknown id {} {}: existence leaks",
                        reply.status, reply.body["code"], unknown.status, unknown.body["code"]
                    ));
                }
            }
        }
        table.push('\n');
    }
    println!("authorisation matrix: {cells} cells, {probes} unknown-id probes\n{table}");
    assert!(
        failures.is_empty(),
        "{} of {cells} cells failed:\n{}\n\nstatuses:\n{table}",
        failures.len(),
        failures.join("\n")
    );
    drop(system);
}
