//! Patients: sign-up, confirmation, sign-in, exams pushed for them, bookings racing for places,
//! cancellations, results, notifications and erasure.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::oneshot;

use crate::PASSWORD;
use crate::ctx::{Body, Ctx, DoctorJob, PushRequest, Rng, cpf, sign_in};

/// One simulated person after another, until the time is up.
pub(crate) async fn patient_loop(ctx: Arc<Ctx>, user: usize) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((user as u64 + 1) * 0x1000_0000_01B3));
    while !ctx.over() {
        patient_journey(&ctx, &mut rng).await;
    }
}

pub(crate) async fn patient_journey(ctx: &Ctx, rng: &mut Rng) {
    let n = ctx.seq.fetch_add(1, Ordering::Relaxed);
    let run = &ctx.run;
    let email = format!("p{n}.{run}@soak.example");
    let digits: u64 = run
        .bytes()
        .fold(n, |a, b| a.wrapping_mul(31).wrapping_add(u64::from(b)));
    let cpf = cpf(digits);
    let phone = format!("+55119{:08}", (digits % 90_000_000) + 10_000_000 + n % 7);
    let signup = |email: &str, cpf: &str| {
        json!({"email": email, "password": PASSWORD, "name": "Paciente Soak", "cpf": cpf,
               "birthDate": "1990-04-12", "phone": phone,
               "preferences": {"email": true, "sms": true, "language": "pt-BR"}})
    };
    if rng.chance(0.1) {
        ctx.post(
            "sign_up_invalid",
            "/v1/accounts/patients",
            None,
            signup(&email, "12345678900"),
            &[400],
        )
        .await;
    }
    let Some(_) = ctx
        .post(
            "sign_up",
            "/v1/accounts/patients",
            None,
            signup(&email, &cpf),
            &[202],
        )
        .await
    else {
        return;
    };
    let Some((204, _)) = ctx
        .post(
            "confirm",
            "/v1/accounts/confirm",
            None,
            json!({"email": email, "code": "123456", "password": PASSWORD}),
            &[204],
        )
        .await
    else {
        return;
    };
    // Welcome: e-mail and SMS.
    ctx.expect_messages(&email, &phone, 1, 1);
    let Some(token) = sign_in(ctx, "sign_in", &email, PASSWORD, None).await else {
        return;
    };
    if rng.chance(0.15) {
        // Someone signs up again with a confirmed address: 202 as always, a notice by e-mail.
        ctx.post(
            "sign_up_duplicate",
            "/v1/accounts/patients",
            None,
            signup(&email, &cpf),
            &[202],
        )
        .await;
        ctx.expect_messages(&email, &phone, 1, 0);
    }

    // A hospital pushes an exam for this person: with the e-mail they proved (linked at once) or
    // without (linked by the receipt's access code).
    if rng.chance(0.4) && !ctx.push_tx.is_empty() {
        let with_email = rng.chance(0.5);
        let external_id = format!("SOAK-{run}-{n}");
        let (reply, answer) = oneshot::channel();
        let hospital = rng.below(ctx.push_tx.len());
        let _ = ctx.push_tx[hospital].send(PushRequest {
            cpf: cpf.clone(),
            email: with_email.then(|| email.clone()),
            external_id: external_id.clone(),
            reply,
        });
        if let Ok(Ok(Some(item))) = tokio::time::timeout(Duration::from_secs(120), answer).await {
            if !with_email {
                match item["accessCode"].as_str() {
                    Some(code) => {
                        ctx.post(
                            "claim",
                            "/v1/exams:claim",
                            Some(&token),
                            json!({"accessCode": code}),
                            &[200],
                        )
                        .await;
                    }
                    None => ctx.violation(format!(
                        "batch item {external_id} has no access code: {item}"
                    )),
                }
            }
            let started = Instant::now();
            let linked = ctx
                .wait_measured(
                    "pushed_exam_visible",
                    started,
                    Duration::from_secs(30),
                    || async {
                        ctx.get("list_exams", "/v1/exams", &token, &[200])
                            .await
                            .is_some_and(|(_, list)| {
                                list["items"].as_array().is_some_and(|items| {
                                    items
                                        .iter()
                                        .any(|e| e["externalId"] == external_id.as_str())
                                })
                            })
                    },
                )
                .await;
            if linked.is_err() {
                ctx.violation(format!(
                    "pushed exam {external_id} not linked to its patient within 30 s"
                ));
            }
        }
    }

    // Book one of the newest slots; others race for the same places.
    let mut booked = None;
    for attempt in 0..4 {
        let slot = {
            let slots = ctx.slots.lock().expect("slots");
            if slots.is_empty() {
                None
            } else {
                let recent = slots.len().min(8);
                Some(slots[slots.len() - recent + rng.below(recent)].clone())
            }
        };
        let Some(slot) = slot else { break };
        let key = format!("soak-{run}-{n}-{attempt}");
        let Some((status, body)) = ctx
            .call(
                "book",
                reqwest::Method::POST,
                "/v1/appointments",
                Some(&token),
                &[("idempotency-key", key)],
                Body::Json(json!({"slotId": slot.id})),
                &[201, 409],
            )
            .await
        else {
            return;
        };
        if status == 201 {
            ctx.count_place(&slot.id, 1);
            booked = body["examId"].as_str().map(|id| (id.to_string(), slot.id));
            break;
        }
    }
    let Some((exam_id, slot_id)) = booked else {
        finish(ctx, rng, &token, &email, &phone, None).await;
        return;
    };
    // Booking confirmation: e-mail and SMS.
    ctx.expect_messages(&email, &phone, 1, 1);
    ctx.get("my_exam", &format!("/v1/exams/{exam_id}"), &token, &[200])
        .await;

    if rng.chance(0.35) {
        if let Some((status, _)) = ctx
            .call(
                "cancel",
                reqwest::Method::DELETE,
                &format!("/v1/appointments/{exam_id}"),
                Some(&token),
                &[],
                Body::None,
                &[200, 204],
            )
            .await
            && status < 300
        {
            ctx.count_place(&slot_id, -1);
            ctx.expect_messages(&email, &phone, 1, 1);
        }
    } else if rng.chance(0.7) {
        // A doctor performs the exam and uploads the result; the patient downloads it.
        let (reply, answer) = oneshot::channel();
        let _ = ctx.doctor_tx.send(DoctorJob {
            exam_id: exam_id.clone(),
            email: email.clone(),
            phone: phone.clone(),
            reply,
        });
        let started = Instant::now();
        if let Ok(Ok(Some(file_id))) = tokio::time::timeout(Duration::from_secs(180), answer).await
        {
            let ready = ctx
                .wait_measured(
                    "result_ready_wait",
                    started,
                    Duration::from_secs(60),
                    || async {
                        ctx.get("my_exam", &format!("/v1/exams/{exam_id}"), &token, &[200])
                            .await
                            .is_some_and(|(_, exam)| exam["status"] == "RESULT_READY")
                    },
                )
                .await;
            if ready.is_err() {
                ctx.violation(format!(
                    "exam {exam_id}: no RESULT_READY within 60 s of the upload"
                ));
            } else if let Some((200, link)) = ctx
                .get(
                    "download_link",
                    &format!("/v1/files/{file_id}/download"),
                    &token,
                    &[200],
                )
                .await
                && let Some(url) = link["url"].as_str()
            {
                ctx.call(
                    "download",
                    reqwest::Method::GET,
                    url,
                    None,
                    &[],
                    Body::None,
                    &[200],
                )
                .await;
            }
        }
    }
    finish(ctx, rng, &token, &email, &phone, Some((&exam_id, &slot_id))).await;
}

/// The end of a person's visit: a look at their notifications, and for some, erasure. Erasure
/// cancels the person's upcoming appointment and frees its place: `booking` (exam, slot) is
/// looked at first, and a place still `SCHEDULED` is counted as given back.
pub(crate) async fn finish(
    ctx: &Ctx,
    rng: &mut Rng,
    token: &str,
    email: &str,
    phone: &str,
    booking: Option<(&str, &str)>,
) {
    if rng.chance(0.3) {
        ctx.get("my_notifications", "/v1/me/notifications", token, &[200])
            .await;
    }
    if !rng.chance(0.2) {
        return;
    }
    let mut frees = None;
    if let Some((exam, slot)) = booking
        && let Some((200, view)) = ctx
            .get("my_exam", &format!("/v1/exams/{exam}"), token, &[200])
            .await
        && view["status"] == "SCHEDULED"
    {
        // A doctor may still collect it before the erasure lands: then the place stays taken
        // and this count is one low — never one high.
        frees = Some(slot.to_string());
    }
    if let Some((status, _)) = ctx
        .call(
            "erase",
            reqwest::Method::DELETE,
            "/v1/me",
            Some(token),
            &[],
            Body::None,
            &[200, 202, 204],
        )
        .await
        && status < 300
    {
        let mut e = ctx.expected.lock().expect("expected");
        e.erased.insert(email.to_string());
        e.erased_phones.insert(phone.to_string());
        if let Some(slot) = frees {
            *e.places.entry(slot).or_default() -= 1;
        }
    }
}
