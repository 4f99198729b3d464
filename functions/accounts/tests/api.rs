//! Integration tests of every accounts route against the emulator, through the function's real
//! router and the sample API Gateway events.

mod support;

use std::time::Duration;

use clinic_shared::envelope::{
    AccountCreated, AccountDeleted, AccountUpdated, EventType, PatientRegistered,
};
use clinic_shared::values::{Cpf, Email, patient_match_key};
use serde_json::json;
use support::*;

#[tokio::test]
async fn sign_up_announces_nothing_until_the_address_is_confirmed() {
    let stack = Stack::new().await;
    let (id, email, cpf) = stack.sign_up().await;

    let groups = stack
        .cognito
        .admin_list_groups_for_user()
        .user_pool_id(&stack.config.user_pool_id)
        .username(&email)
        .send()
        .await
        .unwrap();
    let names: Vec<_> = groups
        .groups()
        .iter()
        .filter_map(|g| g.group_name())
        .collect();
    assert_eq!(names, vec!["patients"]);
    assert_eq!(
        stack.relay().await.published,
        0,
        "nothing is announced before the sign-up is confirmed"
    );

    let confirmed = stack.confirm(&email).await;
    assert_eq!(confirmed.status, 204, "{:?}", confirmed.body);
    let events = stack.published(2).await;
    assert_eq!(events.len(), 2, "{events:?}");
    let created = events
        .iter()
        .find(|e| e.event_type == EventType::AccountCreated)
        .unwrap();
    let created: AccountCreated = created.data_as().unwrap();
    assert_eq!(created.account_id, id);
    assert_eq!(created.email, email);
    assert!(!created.preferences.sms);
    let registered = events
        .iter()
        .find(|e| e.event_type == EventType::PatientRegistered)
        .unwrap();
    assert_eq!(registered.subject, id);
    assert_eq!(registered.source, "clinic.accounts");
    assert!(
        !registered.to_json().contains(&cpf),
        "the CPF travels only as a key"
    );
    let registered: PatientRegistered = registered.data_as().unwrap();
    assert_eq!(
        registered.match_key,
        patient_match_key(&Cpf::parse(&cpf).unwrap(), &Email::parse(&email).unwrap())
    );
    // Confirming again announces nothing more.
    assert_eq!(stack.confirm(&email).await.status, 204);
    assert_eq!(stack.relay().await.published, 0);
}

#[tokio::test]
async fn full_sign_in_journey_and_profile() {
    let stack = Stack::new().await;
    let (id, email, claims) = stack.patient().await;
    assert_eq!(claims["sub"], id);

    let me = stack.call(authed_event("me-get.json", &claims, None)).await;
    assert_eq!(me.status, 200, "{:?}", me.body);
    assert_eq!(me.body["id"], id.as_str());
    assert_eq!(me.body["email"], email.as_str());
    assert_eq!(me.body["role"], "patient");
    assert_eq!(me.body["status"], "ACTIVE");
    assert_eq!(me.body["birthDate"], "1990-04-12");
    assert_eq!(
        me.body["preferences"],
        json!({"email": true, "sms": false, "language": "en"})
    );
    assert!(me.headers.contains_key("x-request-id"));

    let tokens = stack
        .call(public_event(
            "auth-token.json",
            json!({"username": email, "password": PASSWORD}),
        ))
        .await;
    assert_eq!(tokens.headers["cache-control"], "no-store");
    let refreshed = stack
        .call(public_event(
            "auth-refresh.json",
            json!({"refreshToken": tokens.body["refreshToken"]}),
        ))
        .await;
    assert_eq!(refreshed.status, 200, "{:?}", refreshed.body);
    assert!(
        refreshed.body["accessToken"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );
    assert!(
        refreshed.body["idToken"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );
}

#[tokio::test]
async fn sign_in_failures() {
    let stack = Stack::new().await;
    let (_, email, _) = stack.sign_up().await;

    let unconfirmed = stack
        .call(public_event(
            "auth-token.json",
            json!({"username": email, "password": PASSWORD}),
        ))
        .await;
    assert_eq!(unconfirmed.status, 403);
    assert_eq!(unconfirmed.body["code"], "ACCOUNT_NOT_CONFIRMED");

    stack.confirm(&email).await;
    let wrong = stack
        .call(public_event(
            "auth-token.json",
            json!({"username": email, "password": "Wrong0Password"}),
        ))
        .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.body["code"], "INVALID_CREDENTIALS");
    assert_eq!(wrong.headers["content-type"], "application/problem+json");

    let unknown = stack
        .call(public_event(
            "auth-token.json",
            json!({"username": "nobody@example.com", "password": PASSWORD}),
        ))
        .await;
    assert_eq!(unknown.status, 401);

    let missing = stack.call(public_event("auth-token.json", json!({}))).await;
    assert_eq!(missing.status, 400);
    assert_eq!(field_names(&missing.body), vec!["username", "password"]);

    let bad_refresh = stack
        .call(public_event(
            "auth-refresh.json",
            json!({"refreshToken": "not-a-token"}),
        ))
        .await;
    assert_eq!(bad_refresh.status, 401);
    assert_eq!(bad_refresh.body["code"], "INVALID_REFRESH_TOKEN");
}

#[tokio::test]
async fn sign_up_validation_reports_every_field() {
    let stack = Stack::new().await;
    let reply = stack
        .call(public_event(
            "signup-patient.json",
            json!({"email": "not-an-email", "password": "short", "name": "A", "cpf": "52998224724",
                   "birthDate": "2999-01-01", "phone": "11987654321", "preferences": {"language": "fr"}}),
        ))
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.body["code"], "VALIDATION_FAILED");
    assert_eq!(
        field_names(&reply.body),
        vec![
            "email",
            "password",
            "name",
            "cpf",
            "birthDate",
            "phone",
            "preferences.language"
        ]
    );

    let empty = stack
        .call(public_event("signup-patient.json", json!({})))
        .await;
    assert_eq!(
        field_names(&empty.body),
        vec!["email", "password", "name", "cpf", "birthDate", "phone"]
    );

    let mut not_json = sign_up_event("a@example.com", &random_cpf());
    not_json["body"] = json!("{not json");
    let reply = stack.call(not_json).await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.body["code"], "MALFORMED_REQUEST");

    let mut wrong_type = sign_up_event("a@example.com", &random_cpf());
    wrong_type["headers"]["content-type"] = json!("text/plain");
    let reply = stack.call(wrong_type).await;
    assert_eq!(reply.status, 415);
    assert_eq!(reply.body["code"], "UNSUPPORTED_MEDIA_TYPE");
}

#[tokio::test]
async fn sign_up_answers_the_same_whether_or_not_the_cpf_or_address_is_known() {
    let stack = Stack::new().await;
    let (first, email, cpf) = stack.sign_up().await;

    // A CPF is no key: someone else typing it gets an account of their own, linked to nothing.
    let other_email = format!("{}@example.com", clinic_shared::testing::unique("other"));
    let same_cpf = stack.call(sign_up_event(&other_email, &cpf)).await;
    assert_eq!(same_cpf.status, 202, "{:?}", same_cpf.body);
    assert_ne!(stack.user_id(&other_email).await, first);

    // The address of a sign-up still waiting: same answer, nothing changes.
    let pending = stack
        .call(sign_up_event(&email.to_uppercase(), &random_cpf()))
        .await;
    assert_eq!(pending.status, 202);
    assert_eq!(pending.body, same_cpf.body);
    assert_eq!(stack.user_id(&email).await, first);
    let users = stack
        .cognito
        .list_users()
        .user_pool_id(&stack.config.user_pool_id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        users.users().len(),
        2,
        "a repeated sign-up left a user behind"
    );

    // The address of a confirmed account: same answer, its owner is told (once an hour).
    assert_eq!(stack.confirm(&email).await.status, 204);
    stack.published(2).await;
    for _ in 0..3 {
        let known = stack.call(sign_up_event(&email, &random_cpf())).await;
        assert_eq!(known.status, 202);
        assert_eq!(known.body, same_cpf.body);
    }
    let told = stack.published(1).await;
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0].event_type, EventType::SignUpRepeated);
    assert_eq!(told[0].subject, first);
    assert_eq!(stack.relay().await.published, 0, "told more than once");
    assert_eq!(stack.user_id(&email).await, first);
}

#[tokio::test]
async fn only_whoever_signed_up_can_confirm_and_an_expired_sign_up_frees_its_address() {
    let stack = Stack::new().await;
    let (squatter, email, _) = stack.sign_up().await;

    // The owner of the address got the code, but not the squatter's password.
    let wrong = stack.call(confirm_event(&email, "Owner0Password")).await;
    assert_eq!(wrong.status, 400);
    assert_eq!(wrong.body["code"], "INVALID_CODE");
    assert_eq!(stack.relay().await.published, 0);

    // While it waits, the squatter's sign-up holds the address …
    let blocked = stack
        .call(public_event(
            "signup-patient.json",
            json!({"email": email, "password": "Owner0Password", "name": "Dona", "cpf": random_cpf(),
                   "birthDate": "1980-01-01", "phone": "+5511900000000"}),
        ))
        .await;
    assert_eq!(blocked.status, 202);
    assert_eq!(stack.user_id(&email).await, squatter);

    // … for a bounded time only: once older than that it cannot be confirmed and is replaced.
    let old = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(25);
    stack
        .dynamodb
        .update_item()
        .table_name(&stack.config.table_name)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("ACCOUNT#{squatter}")),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("PROFILE".into()),
        )
        .update_expression("SET createdAt = :old")
        .expression_attribute_values(
            ":old",
            aws_sdk_dynamodb::types::AttributeValue::S(old.to_string()),
        )
        .send()
        .await
        .unwrap();
    let expired = stack.confirm(&email).await;
    assert_eq!(expired.status, 400);
    assert_eq!(expired.body["code"], "EXPIRED_CODE");

    let owner = stack
        .call(public_event(
            "signup-patient.json",
            json!({"email": email, "password": "Owner0Password", "name": "Dona", "cpf": random_cpf(),
                   "birthDate": "1980-01-01", "phone": "+5511900000000"}),
        ))
        .await;
    assert_eq!(owner.status, 202);
    let owner_id = stack.user_id(&email).await;
    assert_ne!(owner_id, squatter, "the expired sign-up was replaced");
    let confirmed = stack.call(confirm_event(&email, "Owner0Password")).await;
    assert_eq!(confirmed.status, 204, "{:?}", confirmed.body);
    let events = stack.published(2).await;
    assert!(events.iter().all(|e| e.subject == owner_id), "{events:?}");
}

#[tokio::test]
async fn a_failure_half_way_leaves_nothing_and_the_retry_succeeds() {
    // No `patients` group: the identity is created, then putting it in its group fails.
    let stack = Stack::with_groups(&["doctors", "staff"]).await;
    let email = format!("{}@example.com", clinic_shared::testing::unique("halfway"));
    let cpf = random_cpf();
    let reply = stack.call(sign_up_event(&email, &cpf)).await;
    assert!(reply.status >= 500, "{:?}", reply.body);
    assert!(
        reply.body["detail"]
            .as_str()
            .is_some_and(|d| !d.contains("Exception"))
    );

    let users = stack
        .cognito
        .list_users()
        .user_pool_id(&stack.config.user_pool_id)
        .send()
        .await
        .unwrap();
    assert!(
        users.users().is_empty(),
        "the Cognito user of the failed sign-up is still there"
    );
    assert_eq!(
        stack.relay().await.published,
        0,
        "a failed sign-up announced events"
    );

    stack
        .cognito
        .create_group()
        .user_pool_id(&stack.config.user_pool_id)
        .group_name("patients")
        .send()
        .await
        .unwrap();
    let retry = stack.call(sign_up_event(&email, &cpf)).await;
    assert_eq!(
        retry.status, 202,
        "the same CPF and e-mail must be usable again: {:?}",
        retry.body
    );
}

#[tokio::test]
async fn identity_left_by_a_crashed_sign_up_is_replaced() {
    let stack = Stack::new().await;
    let email = format!("{}@example.com", clinic_shared::testing::unique("crashed"));
    // A crash after Cognito's SignUp and before the profile commit leaves just the identity.
    stack
        .cognito
        .sign_up()
        .client_id(&stack.config.user_pool_client_id)
        .username(&email)
        .password(PASSWORD)
        .send()
        .await
        .unwrap();
    let reply = stack.call(sign_up_event(&email, &random_cpf())).await;
    assert_eq!(reply.status, 202, "{:?}", reply.body);
    // The identity is the sign-up's own now: it confirms with this sign-up's password.
    assert_eq!(stack.confirm(&email).await.status, 204);
    assert_eq!(stack.published(2).await.len(), 2);
}

#[tokio::test]
async fn confirm_rules() {
    let stack = Stack::new().await;
    let (_, email, _) = stack.sign_up().await;
    let bad = stack
        .call(public_event(
            "confirm.json",
            json!({"email": email, "code": "abc"}),
        ))
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(field_names(&bad.body), vec!["password", "code"]);
    let unknown = stack
        .call(confirm_event("nobody@example.com", PASSWORD))
        .await;
    assert_eq!(unknown.status, 400);
    assert_eq!(unknown.body["code"], "INVALID_CODE");
    let ok = stack.confirm(&email).await;
    assert_eq!(ok.status, 204);
    let again = stack.confirm(&email).await;
    assert_eq!(
        again.status, 204,
        "confirming twice is harmless: {:?}",
        again.body
    );
}

#[tokio::test]
async fn me_requires_a_person_token() {
    let stack = Stack::new().await;
    let no_token = stack.call(without_auth(sample("me-get.json"))).await;
    assert_eq!(no_token.status, 401);
    assert_eq!(no_token.body["code"], "UNAUTHORIZED");

    let hospital = stack
        .call(authed_event("me-get.json", &hospital_claims(), None))
        .await;
    assert_eq!(hospital.status, 403);

    // A valid token of someone without a profile here (e.g. erased elsewhere) finds nothing.
    let stranger = stack
        .call(authed_event("me-get.json", &staff_claims(), None))
        .await;
    assert_eq!(stranger.status, 404);
}

#[tokio::test]
async fn update_me_changes_contact_data_and_announces_it() {
    let stack = Stack::new().await;
    let (id, _, claims) = stack.patient().await;
    stack.published(2).await;

    let reply = stack
        .call(authed_event(
            "me-patch.json",
            &claims,
            Some(json!({"name": "Ana S. Lima", "phone": "+5521912345678", "preferences": {"sms": true, "language": "pt-BR"}})),
        ))
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.body["name"], "Ana S. Lima");
    assert_eq!(
        reply.body["preferences"],
        json!({"email": true, "sms": true, "language": "pt-BR"})
    );

    let events = stack.published(1).await;
    assert_eq!(events.len(), 1);
    let updated: AccountUpdated = events[0].data_as().unwrap();
    assert_eq!(updated.account_id, id);
    assert_eq!(updated.phone.as_deref(), Some("+5521912345678"));

    let invalid = stack
        .call(authed_event(
            "me-patch.json",
            &claims,
            Some(json!({"name": "", "phone": "5521", "preferences": {"language": "es"}})),
        ))
        .await;
    assert_eq!(invalid.status, 400);
    assert_eq!(
        field_names(&invalid.body),
        vec!["name", "phone", "preferences.language"]
    );

    let unchanged = stack
        .call(authed_event(
            "me-patch.json",
            &claims,
            Some(json!({"name": "Ana S. Lima"})),
        ))
        .await;
    assert_eq!(unchanged.status, 200);
    assert_eq!(
        stack.relay().await.published,
        0,
        "a change to nothing announced an update"
    );
}

#[tokio::test]
async fn delete_me_erases_purges_its_events_and_frees_the_address() {
    let stack = Stack::new().await;
    let (id, email, claims) = stack.patient().await;
    assert_eq!(stack.published(2).await.len(), 2);
    let cpf = random_cpf();

    let reply = stack
        .call(authed_event("me-delete.json", &claims, None))
        .await;
    assert_eq!(reply.status, 204, "{:?}", reply.body);

    let gone = stack
        .cognito
        .admin_get_user()
        .user_pool_id(&stack.config.user_pool_id)
        .username(&email)
        .send()
        .await;
    assert!(gone.is_err(), "the Cognito user still exists");
    let me = stack.call(authed_event("me-get.json", &claims, None)).await;
    assert_eq!(me.status, 404);

    let stored = stack
        .dynamodb
        .get_item()
        .table_name(&stack.config.table_name)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("ACCOUNT#{id}")),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("PROFILE".into()),
        )
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    for personal in ["email", "name", "cpf", "birthDate", "phone"] {
        assert!(
            !stored.contains_key(personal),
            "{personal} survived the erasure"
        );
    }
    assert_eq!(stored["status"].as_s().unwrap(), "DELETED");

    let events = stack.published(1).await;
    let deleted: AccountDeleted = events[0].data_as().unwrap();
    assert_eq!(deleted.account_id, id);
    assert!(
        !events[0].to_json().contains(&email),
        "account.deleted carries ids only"
    );
    // The earlier events (with the address and phone) are gone from the outbox.
    assert_eq!(stack.kept_events(&id).await, vec!["account.deleted"]);

    let again = stack
        .call(authed_event("me-delete.json", &claims, None))
        .await;
    assert_eq!(again.status, 204, "repeating the erasure finishes quietly");
    assert_eq!(stack.relay().await.published, 0);

    let reuse = stack.call(sign_up_event(&email, &cpf)).await;
    assert_eq!(reuse.status, 202, "{:?}", reuse.body);
    assert_ne!(
        stack.user_id(&email).await,
        id,
        "the erased address is free again"
    );
}

#[tokio::test]
async fn staff_register_doctors_who_set_their_password_on_first_sign_in() {
    let stack = Stack::new().await;
    let staff = staff_claims();
    let email = format!("{}@example.com", clinic_shared::testing::unique("doctor"));
    let crm = format!(
        "{}",
        100_000 + (ulid::Ulid::new().random() % 800_000) as u32
    );
    let reply = stack
        .call(authed_event(
            "doctors-post.json",
            &staff,
            Some(
                json!({"email": email, "name": "Dra. Beatriz Lima", "crm": crm, "uf": "SP",
                        "specialty": "Cardiologia", "temporaryPassword": "Temp0rary1x"}),
            ),
        ))
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    let id = reply.body["id"].as_str().unwrap().to_string();

    let first = stack
        .call(public_event(
            "auth-token.json",
            json!({"username": email, "password": "Temp0rary1x"}),
        ))
        .await;
    assert_eq!(first.status, 200);
    assert_eq!(first.body["challenge"], "NEW_PASSWORD_REQUIRED");
    let session = first.body["session"].as_str().unwrap();

    let weak = stack
        .call(public_event(
            "auth-new-password.json",
            json!({"username": email, "session": session, "newPassword": "weak"}),
        ))
        .await;
    assert_eq!(weak.status, 400);
    assert_eq!(field_names(&weak.body), vec!["newPassword"]);

    let setup = stack
        .call(public_event(
            "auth-new-password.json",
            json!({"username": email, "session": session, "newPassword": "Chosen0Password"}),
        ))
        .await;
    assert_eq!(setup.status, 200, "{:?}", setup.body);
    // No token before the second factor: the doctor sets an authenticator app up first.
    assert_eq!(setup.body["challenge"], "MFA_SETUP", "{:?}", setup.body);
    assert!(setup.body.get("accessToken").is_none());
    let secret = setup.body["secretCode"].as_str().unwrap().to_string();
    assert!(
        setup.body["otpauthUri"]
            .as_str()
            .is_some_and(|u| u.starts_with("otpauth://totp/Clinic:") && u.contains(&secret))
    );
    let mfa = |session: &str, code: &str| {
        public_event(
            "auth-mfa.json",
            json!({"username": email, "session": session, "code": code}),
        )
    };
    let stolen = stack.call(mfa("not-the-session", "123456")).await;
    assert_eq!(stolen.status, 401, "{:?}", stolen.body);
    let bad = stack
        .call(public_event(
            "auth-mfa.json",
            json!({"username": email, "session": setup.body["session"], "code": "12ab"}),
        ))
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(field_names(&bad.body), vec!["code"]);
    let tokens = stack
        .call(mfa(setup.body["session"].as_str().unwrap(), "123456"))
        .await;
    assert_eq!(tokens.status, 200, "{:?}", tokens.body);
    // The setup session works once.
    let replay = stack
        .call(mfa(setup.body["session"].as_str().unwrap(), "123456"))
        .await;
    assert_eq!(replay.status, 401, "{:?}", replay.body);
    let claims = claims_of(tokens.body["accessToken"].as_str().unwrap());
    // Every later sign-in asks for the authenticator's code.
    let later = stack
        .call(public_event(
            "auth-token.json",
            json!({"username": email, "password": "Chosen0Password"}),
        ))
        .await;
    assert_eq!(
        later.body["challenge"], "SOFTWARE_TOKEN_MFA",
        "{:?}",
        later.body
    );
    assert!(later.body.get("accessToken").is_none());
    let again = stack
        .call(mfa(later.body["session"].as_str().unwrap(), "654321"))
        .await;
    assert_eq!(again.status, 200, "{:?}", again.body);
    assert_eq!(claims["cognito:groups"], "[doctors]");
    let me = stack.call(authed_event("me-get.json", &claims, None)).await;
    assert_eq!(me.body["role"], "doctor");
    assert_eq!(me.body["status"], "ACTIVE");
    assert_eq!(me.body["crm"], crm.as_str());

    let events = stack.published(2).await;
    let types: Vec<_> = events.iter().map(|e| e.event_type).collect();
    assert!(
        types.contains(&EventType::DoctorRegistered) && types.contains(&EventType::AccountCreated)
    );
    assert!(events.iter().all(|e| e.subject == id));

    let duplicate = stack
        .call(authed_event(
            "doctors-post.json",
            &staff,
            Some(json!({"email": format!("x{email}"), "name": "Outro", "crm": crm, "uf": "sp", "specialty": "Clínica"})),
        ))
        .await;
    assert_eq!(duplicate.status, 409);
    assert_eq!(duplicate.body["code"], "CRM_ALREADY_USED");

    let bad_session = stack
        .call(public_event(
            "auth-new-password.json",
            json!({"username": email, "session": "an-expired-session-0123456789abcdef", "newPassword": "Chosen0Password"}),
        ))
        .await;
    assert_eq!(bad_session.status, 401);
}

#[tokio::test]
async fn only_staff_register_doctors_and_hospitals() {
    let stack = Stack::new().await;
    let (_, _, patient) = stack.patient().await;
    let body = json!({"email": "d@example.com", "name": "Dr. X", "crm": "123456", "uf": "SP", "specialty": "Clínica"});
    let reply = stack
        .call(authed_event(
            "doctors-post.json",
            &patient,
            Some(body.clone()),
        ))
        .await;
    assert_eq!(reply.status, 403);
    assert_eq!(reply.body["code"], "FORBIDDEN");
    let reply = stack
        .call(without_auth(authed_event(
            "doctors-post.json",
            &patient,
            Some(body),
        )))
        .await;
    assert_eq!(reply.status, 401);
    let reply = stack
        .call(authed_event(
            "hospitals-post.json",
            &hospital_claims(),
            Some(json!({"name": "H", "cnes": "1234567"})),
        ))
        .await;
    assert_eq!(reply.status, 403);
    let reply = stack
        .call(authed_event(
            "hospitals-post.json",
            &patient,
            Some(json!({"name": "Hospital", "cnes": "1234567"})),
        ))
        .await;
    assert_eq!(reply.status, 403);

    let invalid = stack
        .call(authed_event(
            "doctors-post.json",
            &staff_claims(),
            Some(json!({"email": "x", "crm": "12", "uf": "XX", "temporaryPassword": "weak"})),
        ))
        .await;
    assert_eq!(invalid.status, 400);
    assert_eq!(
        field_names(&invalid.body),
        vec![
            "email",
            "name",
            "crm",
            "uf",
            "specialty",
            "temporaryPassword"
        ]
    );
}

#[tokio::test]
async fn doctors_are_listed_by_specialty_with_a_cursor() {
    let stack = Stack::new().await;
    let staff = staff_claims();
    for (i, specialty) in ["Cardiologia", "Cardiologia", "Dermatologia"]
        .iter()
        .enumerate()
    {
        let reply = stack
            .call(authed_event(
                "doctors-post.json",
                &staff,
                Some(json!({"email": format!("{}@example.com", clinic_shared::testing::unique("doc")),
                            "name": format!("Doctor {i}"), "crm": format!("{}", 200_000 + i), "uf": "RJ",
                            "specialty": specialty})),
            ))
            .await;
        assert_eq!(reply.status, 201, "{:?}", reply.body);
    }
    let (_, _, patient) = stack.patient().await;
    let mut list = authed_event("doctors-get.json", &patient, None);
    list["rawQueryString"] = json!("specialty=cardiologia&limit=1");
    list["queryStringParameters"] = json!({"specialty": "cardiologia", "limit": "1"});
    let page = stack.call(list.clone()).await;
    assert_eq!(page.status, 200, "{:?}", page.body);
    assert_eq!(page.body["items"].as_array().unwrap().len(), 1);
    assert!(
        page.body["items"][0].get("email").is_none(),
        "doctor lists must not expose e-mails"
    );
    let cursor = page.body["nextCursor"].as_str().unwrap().to_string();

    list["rawQueryString"] = json!(format!("specialty=cardiologia&limit=1&cursor={cursor}"));
    list["queryStringParameters"] =
        json!({"specialty": "cardiologia", "limit": "1", "cursor": cursor});
    let second = stack.call(list).await;
    assert_eq!(second.body["items"][0]["specialty"], "Cardiologia");
    assert_ne!(second.body["items"][0]["id"], page.body["items"][0]["id"]);

    let mut all = authed_event("doctors-get.json", &patient, None);
    all["rawQueryString"] = json!("");
    all.as_object_mut().unwrap().remove("queryStringParameters");
    assert_eq!(
        stack.call(all).await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    let mut bad = authed_event("doctors-get.json", &patient, None);
    bad["rawQueryString"] = json!("limit=500&cursor=forged");
    bad["queryStringParameters"] = json!({"limit": "500", "cursor": "forged"});
    let reply = stack.call(bad).await;
    assert_eq!(reply.status, 400);
    assert_eq!(field_names(&reply.body), vec!["limit"]);

    let mut forged = authed_event("doctors-get.json", &patient, None);
    forged["rawQueryString"] = json!("cursor=forged");
    forged["queryStringParameters"] = json!({"cursor": "forged"});
    assert_eq!(field_names(&stack.call(forged).await.body), vec!["cursor"]);

    assert_eq!(
        stack
            .call(without_auth(sample("doctors-get.json")))
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn staff_register_hospitals_with_their_own_machine_client() {
    let stack = Stack::new().await;
    let staff = staff_claims();
    let cnes = format!("{:07}", ulid::Ulid::new().random() % 10_000_000);
    let reply = stack
        .call(authed_event(
            "hospitals-post.json",
            &staff,
            Some(json!({"name": "Hospital Santa Luzia", "cnes": cnes})),
        ))
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    assert_eq!(reply.headers["cache-control"], "no-store");
    let client_id = reply.body["clientId"].as_str().unwrap();
    assert!(
        reply.body["clientSecret"]
            .as_str()
            .is_some_and(|s| s.len() >= 20)
    );

    let client = stack
        .cognito
        .describe_user_pool_client()
        .user_pool_id(&stack.config.user_pool_id)
        .client_id(client_id)
        .send()
        .await
        .unwrap()
        .user_pool_client
        .unwrap();
    assert_eq!(
        client.allowed_o_auth_scopes(),
        ["clinic/ingest".to_string()]
    );
    assert_eq!(client.allowed_o_auth_flows().len(), 1);

    let events = stack.published(1).await;
    assert_eq!(events[0].event_type, EventType::HospitalRegistered);
    assert_eq!(events[0].data["clientId"], client_id);
    assert!(
        events[0].data.get("clientSecret").is_none(),
        "the secret must never travel in events"
    );

    let duplicate = stack
        .call(authed_event(
            "hospitals-post.json",
            &staff,
            Some(json!({"name": "Outro", "cnes": cnes})),
        ))
        .await;
    assert_eq!(duplicate.status, 409);
    assert_eq!(duplicate.body["code"], "CNES_ALREADY_USED");

    let invalid = stack
        .call(authed_event(
            "hospitals-post.json",
            &staff,
            Some(json!({"name": "H", "cnes": "12"})),
        ))
        .await;
    assert_eq!(field_names(&invalid.body), vec!["name", "cnes"]);
}

#[tokio::test]
async fn events_are_not_lost_when_publishing_fails() {
    let stack = Stack::new().await;
    let down_topic = format!(
        "arn:aws:sns:us-east-1:123456789012:{}",
        clinic_shared::testing::unique("not-yet")
    );
    let (id, email, _) = stack.sign_up().await;
    assert_eq!(stack.confirm(&email).await.status, 204);

    let failed = stack.relay_to(&down_topic).await;
    assert_eq!(failed.published, 0);
    assert_eq!(
        failed.failed, 2,
        "both events must still be pending after the failure"
    );

    // The topic comes back: the pending events go out, once.
    let name = down_topic.rsplit(':').next().unwrap();
    let topic = stack
        .sns
        .create_topic()
        .name(name)
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    assert_eq!(topic, down_topic);
    let probe = clinic_shared::testing::TopicProbe::subscribe(&stack.sdk, &topic).await;
    let report = stack.relay_to(&topic).await;
    assert_eq!(report.published, 2);
    let events = probe.receive(2, Duration::from_secs(5)).await;
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|e| e.subject == id));
    assert_eq!(
        stack.relay_to(&topic).await.published,
        0,
        "published events are not sent again"
    );
}

#[tokio::test]
async fn the_stream_sample_event_is_relayed() {
    let stack = Stack::new().await;
    let relay = clinic_shared::outbox::OutboxRelay::new(
        clinic_shared::outbox::SnsPublisher::new(stack.sns.clone(), stack.topic_arn.clone()),
        clinic_shared::outbox::DynamoOutbox::new(
            stack.dynamodb.clone(),
            stack.config.table_name.clone(),
        ),
        jiff::SignedDuration::ZERO,
    );
    let response = relay.handle(sample("outbox-stream.json")).await.unwrap();
    assert_eq!(response["batchItemFailures"], json!([]));
    let events = stack.probe.receive(2, Duration::from_secs(5)).await;
    let types: Vec<_> = events.iter().map(|e| e.event_type).collect();
    assert_eq!(types.len(), 2);
    assert!(
        types.contains(&EventType::AccountCreated) && types.contains(&EventType::PatientRegistered)
    );

    let schedule = relay.handle(sample("outbox-schedule.json")).await.unwrap();
    assert_eq!(schedule["failed"], 0);
}

#[tokio::test]
async fn unknown_routes_are_problems() {
    let stack = Stack::new().await;
    let mut event = sample("me-get.json");
    event["rawPath"] = json!("/v1/nothing-here");
    event["requestContext"]["http"]["path"] = json!("/v1/nothing-here");
    let reply = stack.call(event).await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.body["code"], "NOT_FOUND");
}

/// Hospital tokens here are signed as the local runner signs them (the emulator issues none), so
/// this runs where the runner's `local-tokens` feature is on (the workspace's test run).
#[cfg(feature = "local-tokens")]
#[tokio::test]
async fn the_lambda_authorizer_accepts_people_and_registered_hospitals_only() {
    use clinic_accounts::inbound::authorizer::{Authorizer, AuthorizerConfig};
    use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};

    let stack = Stack::new().await;
    let pool = &stack.config.user_pool_id;
    let issuer = format!("https://cognito-idp.us-east-1.amazonaws.com/{pool}");
    let secret = b"local-runner-secret-local-runner".to_vec();
    let authorizer = Authorizer::new(
        AuthorizerConfig {
            issuer: issuer.clone(),
            jwks_url: format!(
                "{}/{pool}/.well-known/jwks.json",
                clinic_shared::testing::emulator_url()
            ),
            web_client_ids: vec![stack.config.user_pool_client_id.clone()],
            ingest_scope: "clinic/ingest".into(),
            local_secret: Some(secret.clone()),
        },
        clinic_accounts::outbound::dynamodb::DynamoAccountStore::new(
            stack.dynamodb.clone(),
            stack.config.table_name.clone(),
        ),
    );
    let request = |token: &str| json!({"type": "REQUEST", "headers": {"authorization": format!("Bearer {token}")}});

    // A person's access token, signed by the user pool (RS256, keys from the emulator's JWKS).
    let (id, email, _) = stack.sign_up().await;
    stack.confirm(&email).await;
    let tokens = stack
        .call(public_event(
            "auth-token.json",
            json!({"username": email, "password": PASSWORD}),
        ))
        .await;
    let answer = authorizer
        .handle(request(tokens.body["accessToken"].as_str().unwrap()))
        .await
        .unwrap();
    assert_eq!(answer["isAuthorized"], true, "{answer}");
    assert_eq!(answer["context"]["sub"], id.as_str());
    assert_eq!(answer["context"]["cognito:groups"], "[patients]");

    // A hospital's client-credentials token (as the local token endpoint signs them).
    let hospital = stack
        .call(authed_event(
            "hospitals-post.json",
            &staff_claims(),
            Some(json!({"name": "Hospital Auth", "cnes": format!("{:07}", ulid::Ulid::new().random() % 10_000_000)})),
        ))
        .await;
    assert_eq!(hospital.status, 201, "{:?}", hospital.body);
    let client_id = hospital.body["clientId"].as_str().unwrap();
    let machine_token = |client: &str| {
        let now = jiff::Timestamp::now().as_second();
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("clinic-local".into());
        encode(
            &header,
            &json!({"sub": client, "client_id": client, "iss": issuer, "exp": now + 600, "iat": now,
                    "token_use": "access", "scope": "clinic/ingest"}),
            &EncodingKey::from_secret(&secret),
        )
        .unwrap()
    };
    let answer = authorizer
        .handle(request(&machine_token(client_id)))
        .await
        .unwrap();
    assert_eq!(answer["isAuthorized"], true, "{answer}");
    assert_eq!(answer["context"]["hospitalId"], hospital.body["id"]);

    let stranger = authorizer
        .handle(request(&machine_token("unregistered-client")))
        .await
        .unwrap();
    assert_eq!(stranger, json!({"isAuthorized": false}));
    let garbage = authorizer.handle(request("not.a.token")).await.unwrap();
    assert_eq!(garbage, json!({"isAuthorized": false}));

    // A dependency failure is no verdict: the invocation fails (API Gateway answers 500 and
    // caches nothing) instead of a denial cached for minutes — and it fails fast.
    let unreachable = Authorizer::new(
        AuthorizerConfig {
            issuer: issuer.clone(),
            // A port nothing listens on, and an address that never answers.
            jwks_url: "http://127.0.0.1:9/jwks.json".into(),
            web_client_ids: vec![stack.config.user_pool_client_id.clone()],
            ingest_scope: "clinic/ingest".into(),
            local_secret: Some(secret.clone()),
        },
        clinic_accounts::outbound::dynamodb::DynamoAccountStore::new(
            stack.dynamodb.clone(),
            format!("{}-missing", stack.config.table_name),
        ),
    );
    let started = std::time::Instant::now();
    let undecided = unreachable
        .handle(request(tokens.body["accessToken"].as_str().unwrap()))
        .await;
    assert!(undecided.is_err(), "{undecided:?}");
    let undecided = unreachable.handle(request(&machine_token(client_id))).await;
    assert!(
        undecided.is_err(),
        "the hospital directory failed: {undecided:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(6));
}

#[tokio::test]
async fn an_erased_account_is_refused_by_every_write_route_while_its_token_lives() {
    let stack = Stack::new().await;
    // Erase a doctor's account, then replay its (still unexpired) identity as staff would act.
    let email = format!("{}@example.com", clinic_shared::testing::unique("gone"));
    let crm = format!(
        "{}",
        100_000 + (ulid::Ulid::new().random() % 800_000) as u32
    );
    let doctor = stack
        .call(authed_event(
            "doctors-post.json",
            &staff_claims(),
            Some(
                json!({"email": email, "name": "Dr. Gone", "crm": crm, "uf": "SP",
                        "specialty": "Clínica", "temporaryPassword": "Temp0rary1x"}),
            ),
        ))
        .await;
    assert_eq!(doctor.status, 201, "{:?}", doctor.body);
    let id = doctor.body["id"].as_str().unwrap().to_string();
    let mut claims = staff_claims();
    claims.insert("sub".into(), id.clone());
    claims.insert("username".into(), id.clone());
    let mut doctor_claims = claims.clone();
    doctor_claims.insert("cognito:groups".into(), "[doctors]".into());
    let erased = stack
        .call(authed_event("me-delete.json", &doctor_claims, None))
        .await;
    assert_eq!(erased.status, 204, "{:?}", erased.body);

    let hospital = stack
        .call(authed_event(
            "hospitals-post.json",
            &claims,
            Some(json!({"name": "Hospital Fantasma", "cnes": "7654321"})),
        ))
        .await;
    assert_eq!(hospital.status, 401, "{:?}", hospital.body);
    assert_eq!(hospital.body["code"], "ACCOUNT_ERASED");
    let doctor = stack
        .call(authed_event(
            "doctors-post.json",
            &claims,
            Some(
                json!({"email": format!("x{email}"), "name": "Outro", "crm": "765432", "uf": "RJ",
                        "specialty": "Clínica"}),
            ),
        ))
        .await;
    assert_eq!(doctor.status, 401, "{:?}", doctor.body);
    let profile = stack
        .call(authed_event(
            "me-patch.json",
            &doctor_claims,
            Some(json!({"name": "Back Again"})),
        ))
        .await;
    assert_eq!(profile.status, 404, "{:?}", profile.body);
}

#[tokio::test]
async fn a_stale_reservation_left_by_a_crash_is_taken_over_and_a_live_one_is_not() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let stack = Stack::new().await;
    let reserve = |email: &str, age_minutes: i64| {
        let reserved_at = jiff::Timestamp::now().as_millisecond() - age_minutes * 60 * 1000;
        stack
            .dynamodb
            .put_item()
            .table_name(&stack.config.table_name)
            .item("pk", AttributeValue::S(format!("CLAIM#EMAIL#{email}")))
            .item("sk", AttributeValue::S("CLAIM".into()))
            .item("state", AttributeValue::S("RESERVED".into()))
            .item("reservation", AttributeValue::S("crashed-attempt".into()))
            .item("reservedAt", AttributeValue::N(reserved_at.to_string()))
            .send()
    };
    // A sign-up that crashed 16 minutes ago, after reserving the address.
    let stale = format!("{}@example.com", clinic_shared::testing::unique("stale"));
    reserve(&stale, 16).await.unwrap();
    let reply = stack.call(sign_up_event(&stale, &random_cpf())).await;
    assert_eq!(reply.status, 202, "{:?}", reply.body);
    assert_eq!(
        stack.confirm(&stale).await.status,
        204,
        "the new sign-up owns the address"
    );

    // One still in progress (a minute old) keeps the address: same answer, nothing created.
    let live = format!("{}@example.com", clinic_shared::testing::unique("live"));
    reserve(&live, 1).await.unwrap();
    let reply = stack.call(sign_up_event(&live, &random_cpf())).await;
    assert_eq!(reply.status, 202, "{:?}", reply.body);
    let user = stack
        .cognito
        .admin_get_user()
        .user_pool_id(&stack.config.user_pool_id)
        .username(&live)
        .send()
        .await;
    assert!(
        user.is_err(),
        "no identity while another sign-up holds the address"
    );
}

#[tokio::test]
async fn an_erasure_whose_identity_step_failed_is_finished_by_repeating_it() {
    let stack = Stack::new().await;
    let (id, email, claims) = stack.patient().await;
    stack.published(2).await;
    // The same function against a user pool it cannot reach: the profile is erased, the
    // identity provider's steps fail.
    let broken = clinic_accounts::build_api(
        &clinic_accounts::config::ApiConfig {
            user_pool_id: "us-east-1_unreachable".into(),
            ..stack.config.clone()
        },
        &stack.sdk,
    );
    let failed =
        clinic_shared::testing::call(&broken, authed_event("me-delete.json", &claims, None)).await;
    assert!(failed.status >= 500, "{:?}", failed.body);
    let me = stack.call(authed_event("me-get.json", &claims, None)).await;
    assert_eq!(me.status, 404, "the profile is already erased");
    let still_there = stack
        .cognito
        .admin_get_user()
        .user_pool_id(&stack.config.user_pool_id)
        .username(&email)
        .send()
        .await;
    assert!(still_there.is_ok(), "the identity survived the failed step");

    // Repeating the erasure finishes it, announcing it only once.
    let again = stack
        .call(authed_event("me-delete.json", &claims, None))
        .await;
    assert_eq!(again.status, 204, "{:?}", again.body);
    let gone = stack
        .cognito
        .admin_get_user()
        .user_pool_id(&stack.config.user_pool_id)
        .username(&email)
        .send()
        .await;
    assert!(gone.is_err(), "the identity is deleted");
    let events = stack.published(2).await;
    assert_eq!(
        events
            .iter()
            .filter(|e| e.event_type == EventType::AccountDeleted && e.subject == id)
            .count(),
        1,
        "{events:?}"
    );
}
