//! What only staff do: registering doctors and hospitals; the doctors' list.

use super::*;

#[tokio::test]
async fn only_staff_register_doctors_and_hospitals() {
    let w = World::new();
    let accounts = w.accounts();
    for role in [Role::Patient, Role::Doctor, Role::Hospital] {
        let someone = caller(role, "someone");
        let doctor = doctor("dr@example.com", "123456", "SP", "Cardiologia");
        let reply = accounts.register_doctor(&someone, doctor, TRACE).await;
        assert_eq!(
            reply,
            Err(AccountsError::Forbidden("only staff register doctors"))
        );
        let reply = accounts
            .register_hospital(&someone, hospital("1234567"), TRACE)
            .await;
        assert_eq!(
            reply,
            Err(AccountsError::Forbidden("only staff register hospitals"))
        );
    }
    assert_eq!(w.users(), 0);
    assert!(w.identity.state().clients.is_empty());
    assert!(w.store.state().claims.is_empty());
    assert_eq!(w.store.events(), []);
}

#[tokio::test]
async fn a_registered_doctor_is_invited_and_announced() {
    let w = World::new();
    let mut invited = doctor("dr@example.com", "0123456", "sp", "Cardiologia");
    invited.temporary_password = None;
    let profile = w
        .accounts()
        .register_doctor(&staff(), invited, TRACE)
        .await
        .unwrap();

    assert_eq!(profile.status, AccountStatus::Invited);
    assert_eq!(
        (profile.crm.as_deref(), profile.uf.as_deref()),
        (Some("123456"), Some("SP"))
    );
    assert!(!profile.preferences.sms);
    assert_eq!(w.store.profile(&profile.id), Some(profile.clone()));
    let user = w.identity.user("dr@example.com").unwrap();
    assert!(user.must_change_password && user.invited_by_cognito);
    assert_eq!(user.groups, ["doctors"]);
    for claim in [email_claim("dr@example.com"), crm_claim("123456")] {
        assert_eq!(
            w.store.claim(&claim),
            Some(ClaimItem::Bound(profile.id.clone()))
        );
    }
    assert_eq!(
        w.store.events(),
        [
            (EventType::AccountCreated, profile.id.clone()),
            (EventType::DoctorRegistered, profile.id.clone())
        ]
    );
    let registered = w.store.state().outbox[1]
        .data_as::<DoctorRegistered>()
        .unwrap();
    assert!(registered.invitation_sent_by_cognito);
    assert_eq!(
        (registered.crm.as_str(), registered.uf.as_str()),
        ("123456", "SP")
    );

    // A password chosen by staff is handed over by them: Cognito sends nothing.
    let id = w.doctor("dra@example.com", "654321").await;
    let outbox = w.store.state().outbox.clone();
    let registered = outbox[3].data_as::<DoctorRegistered>().unwrap();
    assert_eq!(registered.account_id, id);
    assert!(!registered.invitation_sent_by_cognito);
}

#[tokio::test]
async fn a_doctor_with_an_email_or_crm_already_used_is_refused_and_reserves_nothing() {
    let w = World::new();
    w.doctor("dr@example.com", "123456").await;
    w.sign_up(ANA).await;
    let accounts = w.accounts();
    let register = |address: &'static str, crm: &'static str, uf: &'static str| {
        let accounts = &accounts;
        async move {
            let new = doctor(address, crm, uf, "Pediatria");
            accounts.register_doctor(&staff(), new, TRACE).await
        }
    };

    assert_eq!(
        register("dr@example.com", "999999", "SP").await,
        Err(AccountsError::AlreadyUsed { field: "email" })
    );
    assert_eq!(w.store.claim(&crm_claim("999999")), None);
    assert_eq!(
        register("new@example.com", "123456", "SP").await,
        Err(AccountsError::AlreadyUsed { field: "crm" })
    );
    assert_eq!(w.store.claim(&email_claim("new@example.com")), None);
    // A sign-up waiting for confirmation holds its address too.
    assert_eq!(
        register(ANA, "999999", "SP").await,
        Err(AccountsError::AlreadyUsed { field: "email" })
    );
    // An address the identity provider knows but no account holds.
    (&w.identity)
        .sign_up(&email("orphan@example.com"), &password(PASSWORD))
        .await
        .unwrap();
    assert_eq!(
        register("orphan@example.com", "999999", "SP").await,
        Err(AccountsError::AlreadyUsed { field: "email" })
    );
    assert_eq!(w.store.claim(&email_claim("orphan@example.com")), None);
    assert_eq!(w.store.claim(&crm_claim("999999")), None);
    assert_eq!(w.users(), 3);
    assert_eq!(w.store.events().len(), 2);

    // The same number in another state's council is another CRM.
    assert!(register("rj@example.com", "123456", "RJ").await.is_ok());
}

#[tokio::test]
async fn a_doctor_registration_failing_half_way_leaves_nothing() {
    let w = World::new();
    w.store.fail_next(
        "create_profile",
        StoreError::Conflict("reservation lost".into()),
    );
    let reply = w
        .accounts()
        .register_doctor(
            &staff(),
            doctor("dr@example.com", "123456", "SP", "Pediatria"),
            TRACE,
        )
        .await;
    assert!(
        matches!(reply, Err(AccountsError::Internal(_))),
        "{reply:?}"
    );
    assert_eq!(w.users(), 0);
    assert!(w.store.state().claims.is_empty());
    assert_eq!(w.store.events(), []);
    w.doctor("dr@example.com", "123456").await;
}

#[tokio::test]
async fn an_erased_doctors_email_and_crm_can_be_registered_again() {
    let w = World::new();
    let id = w.doctor("dr@example.com", "123456").await;
    w.accounts()
        .delete_me(&caller(Role::Doctor, &id), TRACE)
        .await
        .unwrap();
    assert_eq!(w.store.claim(&crm_claim("123456")), None);
    assert_ne!(w.doctor("dr@example.com", "123456").await, id);
}

#[tokio::test]
async fn a_hospital_gets_its_own_machine_client_and_a_cnes_registers_once() {
    let w = World::new();
    let accounts = w.accounts();
    let (record, client) = accounts
        .register_hospital(&staff(), hospital("1234567"), TRACE)
        .await
        .unwrap();

    assert_eq!(record.client_id, client.client_id);
    assert_eq!(record.created_at, w.clock.now());
    assert_eq!(
        w.identity.state().clients.get(&client.client_id),
        Some(&client.client_secret)
    );
    {
        // What the table holds, read at once.
        let state = w.store.state();
        assert_eq!(state.hospitals.get(&record.id), Some(&record));
        assert_eq!(
            state.hospital_clients.get(&client.client_id),
            Some(&record.id)
        );
        assert_eq!(state.outbox.len(), 1);
        let announced = state.outbox[0].data_as::<HospitalRegistered>().unwrap();
        assert_eq!(
            (announced.hospital_id, announced.cnes),
            (record.id.clone(), "1234567".into())
        );
    }

    let again = accounts
        .register_hospital(&staff(), hospital("1234567"), TRACE)
        .await;
    assert_eq!(again, Err(AccountsError::AlreadyUsed { field: "cnes" }));
    assert_eq!(
        w.identity.state().clients.len(),
        1,
        "no client made for a refused one"
    );
}

#[tokio::test]
async fn a_hospital_whose_commit_failed_leaves_no_machine_client_behind() {
    let w = World::new();
    let accounts = w.accounts();
    w.store.fail_next("create_hospital", unavailable());
    let reply = accounts
        .register_hospital(&staff(), hospital("1234567"), TRACE)
        .await;
    assert!(matches!(reply, Err(AccountsError::Unavailable(_))));
    assert!(w.identity.state().clients.is_empty());
    assert_eq!(w.store.claim(&Claim::Cnes("1234567".into())), None);
    assert_eq!(w.store.events(), []);

    w.identity
        .fail_next("create_machine_client", identity_down());
    let reply = accounts
        .register_hospital(&staff(), hospital("1234567"), TRACE)
        .await;
    assert!(matches!(reply, Err(AccountsError::Unavailable(_))));
    assert_eq!(w.store.claim(&Claim::Cnes("1234567".into())), None);

    assert!(
        accounts
            .register_hospital(&staff(), hospital("1234567"), TRACE)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn doctors_are_listed_by_specialty_whatever_its_case_and_accents() {
    let w = World::new();
    let accounts = w.accounts();
    for (address, crm, specialty) in [
        ("b@example.com", "1001", "Cardiologia"),
        ("a@example.com", "1002", "cardiológia"),
        ("c@example.com", "1003", "Pediatria"),
    ] {
        accounts
            .register_doctor(&staff(), doctor(address, crm, "SP", specialty), TRACE)
            .await
            .unwrap();
    }
    let names = |page: &crate::domain::Page<crate::domain::DoctorSummary>| -> Vec<String> {
        page.items.iter().map(|d| d.name.clone()).collect()
    };

    let cardio = accounts
        .list_doctors(Some(" CARDIOLOGIA "), 10, None)
        .await
        .unwrap();
    assert_eq!(names(&cardio), ["Dr. a@example.com", "Dr. b@example.com"]);
    let all = accounts.list_doctors(Some(""), 10, None).await.unwrap();
    assert_eq!(all.items.len(), 3);

    let first = accounts.list_doctors(None, 2, None).await.unwrap();
    let rest = accounts
        .list_doctors(None, 2, first.next_cursor.as_deref())
        .await
        .unwrap();
    assert_eq!(names(&rest), ["Dr. c@example.com"]);
    assert_eq!(
        accounts.list_doctors(None, 2, Some("garbage")).await,
        Err(AccountsError::InvalidCursor)
    );

    // An erased doctor is listed no more.
    let gone = w
        .store
        .state()
        .profiles
        .values()
        .find(|p| p.crm.as_deref() == Some("1003"))
        .unwrap()
        .id
        .clone();
    accounts
        .delete_me(&caller(Role::Doctor, &gone), TRACE)
        .await
        .unwrap();
    let all = accounts.list_doctors(None, 10, None).await.unwrap();
    assert_eq!(all.items.len(), 2);
}
