//! Signing up without telling whether an address is known, the crash recovery of a sign-up,
//! and confirming one.

use super::*;

#[tokio::test]
async fn a_sign_up_waits_for_confirmation_and_announces_nothing() {
    let w = World::new();
    let id = w.sign_up(ANA).await;

    let profile = w.store.profile(&id).unwrap();
    assert_eq!(profile.status, AccountStatus::PendingConfirmation);
    assert_eq!(profile.role, Role::Patient);
    assert_eq!(profile.cpf.as_deref(), Some(CPF));
    assert_eq!(profile.created_at, w.clock.now());
    let user = w.identity.user(ANA).unwrap();
    assert_eq!(user.id, id);
    assert!(!user.confirmed);
    assert_eq!(user.groups, ["patients"]);
    assert_eq!(
        w.store.claim(&email_claim(ANA)),
        Some(ClaimItem::Bound(id.clone()))
    );
    assert_eq!(w.store.events(), []);
}

#[tokio::test]
async fn a_repeated_sign_up_for_an_address_still_waiting_changes_nothing() {
    let w = World::new();
    let first = w.sign_up(ANA).await;
    let again = w
        .accounts()
        .sign_up_patient(patient(ANA, OTHER_CPF, "Other0pass"), TRACE)
        .await;

    assert_eq!(again, Ok(SignUpOutcome::AlreadyPending));
    assert_eq!(w.users(), 1);
    assert_eq!(w.identity.user(ANA).unwrap().password, PASSWORD);
    assert_eq!(w.store.profile(&first).unwrap().cpf.as_deref(), Some(CPF));
    assert_eq!(w.store.events(), []);
}

#[tokio::test]
async fn a_sign_up_for_a_confirmed_address_tells_its_owner_at_most_once_an_hour() {
    let w = World::new();
    let owner = w.patient(ANA).await;
    let told = |w: &World| {
        w.store
            .events()
            .iter()
            .filter(|e| *e == &(EventType::SignUpRepeated, owner.clone()))
            .count()
    };
    let again = || async {
        w.accounts()
            .sign_up_patient(patient(ANA, OTHER_CPF, "Other0pass"), TRACE)
            .await
    };
    for wait in [0, 30, 29] {
        w.clock.advance(SignedDuration::from_mins(wait));
        assert_eq!(again().await, Ok(SignUpOutcome::OwnerNotified));
    }
    assert_eq!(told(&w), 1, "told again within the hour");
    let notice = w.store.state().outbox.last().cloned().unwrap();
    assert_eq!(
        notice.data_as::<SignUpRepeated>().unwrap().account_id,
        owner
    );
    // Nothing of the account changed: same identity, same password.
    assert_eq!(w.users(), 1);
    assert_eq!(w.identity.user(ANA).unwrap().password, PASSWORD);

    w.clock.advance(SignedDuration::from_mins(2));
    assert_eq!(again().await, Ok(SignUpOutcome::OwnerNotified));
    assert_eq!(told(&w), 2);
}

#[tokio::test]
async fn a_cpf_is_no_key_and_someone_else_typing_it_gets_an_account_of_their_own() {
    let w = World::new();
    let first = w.sign_up(ANA).await;
    let reply = w
        .accounts()
        .sign_up_patient(patient(BIA, CPF, PASSWORD), TRACE)
        .await;
    let Ok(SignUpOutcome::Created(second)) = reply else {
        panic!("{reply:?}");
    };
    assert_ne!(first, second);
    assert_eq!(w.store.profile(&second).unwrap().cpf.as_deref(), Some(CPF));
}

#[tokio::test]
async fn a_sign_up_waiting_longer_than_a_day_is_replaced_by_a_new_one() {
    let w = World::new();
    let squatter = w.sign_up(ANA).await;
    let owner_sign_up = || patient(ANA, OTHER_CPF, "Owner0pass");

    // A day exactly still holds the address.
    w.clock.advance(SignedDuration::from_hours(24));
    let held = w.accounts().sign_up_patient(owner_sign_up(), TRACE).await;
    assert_eq!(held, Ok(SignUpOutcome::AlreadyPending));

    w.clock.advance(SignedDuration::from_secs(1));
    let reply = w.accounts().sign_up_patient(owner_sign_up(), TRACE).await;
    let Ok(SignUpOutcome::Created(owner)) = reply else {
        panic!("{reply:?}");
    };
    assert_ne!(owner, squatter);
    assert_eq!(w.store.profile(&squatter), None);
    let user = w.identity.user(ANA).unwrap();
    assert_eq!(
        (user.id.as_str(), user.password.as_str()),
        (owner.as_str(), "Owner0pass")
    );
    assert_eq!(w.users(), 1);
    assert_eq!(
        w.store.claim(&email_claim(ANA)),
        Some(ClaimItem::Bound(owner.clone()))
    );

    w.accounts()
        .confirm(&email(ANA), CODE, "Owner0pass", TRACE)
        .await
        .unwrap();
    assert!(
        w.store
            .events()
            .iter()
            .all(|(_, subject)| *subject == owner)
    );
}

#[tokio::test]
async fn an_address_whose_profile_was_housekept_is_taken_over() {
    let w = World::new();
    let old = w.sign_up(ANA).await;
    // The table's TTL removed the unconfirmed profile; its claim and identity stayed.
    w.store.state().profiles.remove(&old);

    let new = w.sign_up(ANA).await;
    assert_ne!(new, old);
    assert_eq!(w.identity.user(ANA).unwrap().id, new);
    assert_eq!(w.users(), 1);
    assert_eq!(
        w.store.claim(&email_claim(ANA)),
        Some(ClaimItem::Bound(new))
    );
}

#[tokio::test]
async fn a_stale_reservation_left_by_a_crash_is_taken_over_and_a_live_one_is_not() {
    let w = World::new();
    let reserve = |address: &str, age: SignedDuration| {
        let item = ClaimItem::Reserved {
            reservation: "crashed".into(),
            at: w.clock.now() - age,
        };
        w.store
            .state()
            .claims
            .insert(fakes::claim_key(&email_claim(address)), item.clone());
        item
    };

    let live = reserve(ANA, SignedDuration::from_mins(15));
    let reply = w
        .accounts()
        .sign_up_patient(patient(ANA, CPF, PASSWORD), TRACE)
        .await;
    assert_eq!(reply, Ok(SignUpOutcome::AlreadyPending));
    assert!(
        w.identity.user(ANA).is_none(),
        "an identity while another holds the address"
    );
    assert_eq!(w.store.claim(&email_claim(ANA)), Some(live));

    reserve(BIA, SignedDuration::from_mins(16));
    let id = w.sign_up(BIA).await;
    assert_eq!(w.store.claim(&email_claim(BIA)), Some(ClaimItem::Bound(id)));
}

#[tokio::test]
async fn an_identity_left_by_a_crashed_sign_up_is_replaced() {
    let w = World::new();
    // A crash after the identity was created and before the profile was committed.
    let orphan = (&w.identity)
        .sign_up(&email(ANA), &password("Crashed0pass"))
        .await
        .unwrap();

    let id = w.sign_up(ANA).await;
    assert_ne!(id, orphan);
    assert_eq!(w.users(), 1);
    assert_eq!(w.identity.user(ANA).unwrap().password, PASSWORD);
    w.accounts()
        .confirm(&email(ANA), CODE, PASSWORD, TRACE)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_sign_up_failing_half_way_leaves_nothing_and_the_retry_succeeds() {
    let w = World::new();
    let attempt = || async {
        w.accounts()
            .sign_up_patient(patient(ANA, CPF, PASSWORD), TRACE)
            .await
    };
    let nothing_left = |w: &World| {
        assert_eq!(w.users(), 0);
        assert_eq!(w.store.claim(&email_claim(ANA)), None);
        assert!(w.store.state().profiles.is_empty());
        assert_eq!(w.store.events(), []);
    };

    w.identity.fail_next("add_to_group", identity_down());
    assert!(matches!(
        attempt().await,
        Err(AccountsError::Unavailable(_))
    ));
    nothing_left(&w);

    w.store.fail_next("create_profile", unavailable());
    assert!(matches!(
        attempt().await,
        Err(AccountsError::Unavailable(_))
    ));
    nothing_left(&w);

    w.identity
        .fail_next("sign_up", IdentityError::InvalidPassword("policy".into()));
    assert_eq!(
        attempt().await,
        Err(AccountsError::field("password", "policy"))
    );
    nothing_left(&w);

    assert!(matches!(attempt().await, Ok(SignUpOutcome::Created(_))));
}

// --- confirmation ------------------------------------------------------------------------------

#[tokio::test]
async fn confirming_announces_the_account_and_the_key_matching_hospital_records() {
    let w = World::new();
    let id = w.sign_up(ANA).await;
    w.clock.advance(SignedDuration::from_hours(1));
    w.accounts()
        .confirm(&email(ANA), CODE, PASSWORD, TRACE)
        .await
        .unwrap();

    let profile = w.store.profile(&id).unwrap();
    assert_eq!(profile.status, AccountStatus::Active);
    assert_eq!(profile.updated_at, w.clock.now());
    assert!(w.identity.user(ANA).unwrap().confirmed);
    assert_eq!(
        w.store.events(),
        [
            (EventType::AccountCreated, id.clone()),
            (EventType::PatientRegistered, id.clone())
        ]
    );
    let outbox = w.store.state().outbox.clone();
    let created = outbox[0].data_as::<AccountCreated>().unwrap();
    assert_eq!((created.email.as_str(), created.role), (ANA, Role::Patient));
    let registered = outbox[1].data_as::<PatientRegistered>().unwrap();
    assert_eq!(
        registered.match_key,
        patient_match_key(&Cpf::parse(CPF).unwrap(), &email(ANA))
    );
    assert!(outbox.iter().all(|e| e.trace == TRACE));
}

#[tokio::test]
async fn confirming_twice_succeeds_and_announces_once() {
    let w = World::new();
    w.patient(ANA).await;
    let again = w
        .accounts()
        .confirm(&email(ANA), CODE, PASSWORD, TRACE)
        .await;
    assert_eq!(again, Ok(()));
    assert_eq!(w.store.events().len(), 2);
}

#[tokio::test]
async fn only_whoever_signed_up_confirms_and_nothing_can_be_probed() {
    let w = World::new();
    let id = w.sign_up(ANA).await;
    let w = &w;
    let confirm = |address: &'static str, code: &'static str, pass: &'static str| async move {
        w.accounts()
            .confirm(&email(address), code, pass, TRACE)
            .await
    };

    // The owner of the address has the code but not the password of whoever signed up.
    assert_eq!(
        confirm(ANA, CODE, "Owner0pass").await,
        Err(AccountsError::InvalidCode)
    );
    assert_eq!(
        confirm(BIA, CODE, PASSWORD).await,
        Err(AccountsError::InvalidCode)
    );
    assert_eq!(
        confirm(ANA, "000000", PASSWORD).await,
        Err(AccountsError::InvalidCode)
    );
    w.identity
        .fail_next("confirm_sign_up", IdentityError::ExpiredCode);
    assert_eq!(
        confirm(ANA, CODE, PASSWORD).await,
        Err(AccountsError::ExpiredCode)
    );
    assert!(!w.identity.user(ANA).unwrap().confirmed);
    assert_eq!(w.store.events(), []);

    assert_eq!(confirm(ANA, CODE, PASSWORD).await, Ok(()));
    assert_eq!(w.store.profile(&id).unwrap().status, AccountStatus::Active);
}

#[tokio::test]
async fn a_sign_up_older_than_a_day_cannot_be_confirmed() {
    let w = World::new();
    let id = w.sign_up(ANA).await;
    w.clock
        .advance(SignedDuration::from_hours(24) + SignedDuration::from_secs(1));
    let reply = w
        .accounts()
        .confirm(&email(ANA), CODE, PASSWORD, TRACE)
        .await;
    assert_eq!(reply, Err(AccountsError::ExpiredCode));
    assert!(!w.identity.user(ANA).unwrap().confirmed);
    assert_eq!(
        w.store.profile(&id).unwrap().status,
        AccountStatus::PendingConfirmation
    );
    assert_eq!(w.store.events(), []);
}

#[tokio::test]
async fn a_confirmation_whose_commit_failed_is_finished_by_repeating_it() {
    let w = World::new();
    let id = w.sign_up(ANA).await;
    w.store.fail_next("activate", unavailable());
    let reply = w
        .accounts()
        .confirm(&email(ANA), CODE, PASSWORD, TRACE)
        .await;
    assert!(matches!(reply, Err(AccountsError::Unavailable(_))));
    // The identity is confirmed already; the profile still waits.
    assert!(w.identity.user(ANA).unwrap().confirmed);
    assert_eq!(w.store.events(), []);

    let again = w
        .accounts()
        .confirm(&email(ANA), CODE, PASSWORD, TRACE)
        .await;
    assert_eq!(again, Ok(()));
    assert_eq!(w.store.profile(&id).unwrap().status, AccountStatus::Active);
    assert_eq!(w.store.events().len(), 2);
}
