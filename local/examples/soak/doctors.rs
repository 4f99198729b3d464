//! Doctors: registered by staff (first sign-in, authenticator), then performing booked exams and
//! uploading their results.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::mpsc;

use crate::ctx::{Ctx, DoctorJob};

/// A doctor: takes booked exams, has staff assign them, performs them and uploads the result.
pub(crate) async fn doctor_loop(
    ctx: Arc<Ctx>,
    doctor_id: String,
    token: String,
    jobs: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<DoctorJob>>>,
) {
    let pdf = clinic_file_management::domain::checks::sample_pdf("Laudo soak");
    loop {
        let job = { jobs.lock().await.recv().await };
        let Some(job) = job else { return };
        let staff = ctx.staff().await;
        let exam = &job.exam_id;
        // The patient may have cancelled the appointment (or erased the account) meanwhile:
        // then, and only then, the exam refuses the step.
        let ok = ctx
            .post(
                "assign",
                &format!("/v1/exams/{exam}/assign"),
                Some(&staff),
                json!({"doctorId": doctor_id}),
                &[200, 409],
            )
            .await
            .is_some_and(|(s, body)| {
                if s == 409 && body["currentStatus"] != "CANCELLED" {
                    ctx.violation(format!("assign {exam}: 409 on a live exam: {body}"));
                }
                s == 200
            });
        let mut ok = ok;
        for step in ["collect", "complete"] {
            if ok {
                ok = ctx
                    .post(
                        step,
                        &format!("/v1/exams/{exam}/{step}"),
                        Some(&token),
                        json!({}),
                        &[200],
                    )
                    .await
                    .is_some_and(|(s, _)| s == 200);
            }
        }
        let mut file_id = None;
        if ok {
            // Exam performed: e-mail and SMS (counted here, whether or not the patient is still
            // waiting for the result).
            ctx.expect_messages(&job.email, &job.phone, 1, 1);
            // The file service learns of the assignment through exam events.
            let started = Instant::now();
            let mut upload = None;
            while started.elapsed() < Duration::from_secs(30) {
                match ctx
                    .post("upload_link", &format!("/v1/exams/{exam}/files"), Some(&token),
                          json!({"fileName": "laudo.pdf", "contentType": "application/pdf", "size": pdf.len(), "kind": "result"}),
                          &[201, 403, 404, 409])
                    .await
                {
                    Some((201, body)) => {
                        upload = Some(body);
                        break;
                    }
                    Some(_) => tokio::time::sleep(Duration::from_millis(300)).await,
                    None => break,
                }
            }
            ctx.measure_since("upload_link_wait", started);
            match upload {
                None => ctx.violation(format!("exam {exam}: no upload link within 30 s")),
                Some(upload) => {
                    let mut put = ctx
                        .http
                        .put(upload["uploadUrl"].as_str().unwrap_or_default())
                        .body(pdf.clone());
                    if let Some(headers) = upload["uploadHeaders"].as_object() {
                        for (name, value) in headers
                            .iter()
                            .filter(|(n, _)| n.as_str() != "content-length")
                        {
                            put = put.header(name, value.as_str().unwrap_or_default());
                        }
                    }
                    let started = Instant::now();
                    let status = put.send().await.map(|r| r.status().as_u16()).unwrap_or(0);
                    ctx.measure_since("upload_put", started);
                    if status == 200 {
                        // Result ready: e-mail and SMS.
                        ctx.expect_messages(&job.email, &job.phone, 1, 1);
                        file_id = upload["fileId"].as_str().map(str::to_string);
                    } else {
                        ctx.violation(format!("exam {exam}: upload answered {status}"));
                    }
                }
            }
        }
        let _ = job.reply.send(file_id);
    }
}

/// Registers a doctor and goes through the first sign-in: new password, authenticator set-up.
pub(crate) async fn register_doctor(
    ctx: &Ctx,
    staff: &str,
    i: usize,
) -> Result<(String, String), String> {
    let email = format!("dr{i}.{}@soak.example", ctx.run);
    let (status, doctor) = ctx
        .post("register_doctor", "/v1/doctors", Some(staff),
              json!({"email": email, "name": format!("Dra. Soak {i}"), "crm": format!("{}", 100_000 + i), "uf": "SP",
                     "specialty": "Radiologia", "temporaryPassword": "Temp0rary1x"}), &[201])
        .await
        .ok_or("no answer")?;
    if status != 201 {
        return Err(format!(
            "registering doctor {i} answered {status}: {doctor}"
        ));
    }
    let id = doctor["id"].as_str().unwrap_or_default().to_string();
    let (_, challenge) = ctx
        .post(
            "sign_in",
            "/v1/auth/token",
            None,
            json!({"username": email, "password": "Temp0rary1x"}),
            &[200],
        )
        .await
        .ok_or("no answer")?;
    let (_, setup) = ctx
        .post("new_password", "/v1/auth/new-password", None,
              json!({"username": email, "session": challenge["session"], "newPassword": "Chosen0Password"}), &[200])
        .await
        .ok_or("no answer")?;
    let secret = setup["secretCode"]
        .as_str()
        .ok_or(format!("no authenticator set-up: {setup}"))?;
    let code = clinic_local::totp::code_now(secret).map_err(|e| e.to_string())?;
    let (_, tokens) = ctx
        .post(
            "mfa",
            "/v1/auth/mfa",
            None,
            json!({"username": email, "session": setup["session"], "code": code}),
            &[200],
        )
        .await
        .ok_or("no answer")?;
    let token = tokens["accessToken"]
        .as_str()
        .ok_or(format!("no token: {tokens}"))?;
    ctx.expected.lock().expect("expected").doctors.push(email);
    Ok((id, token.to_string()))
}
