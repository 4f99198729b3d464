//! One's own profile: reading, changing and erasing it, and an erased account's leftover tokens.

use super::*;

#[tokio::test]
async fn a_profile_is_its_owners_and_machine_clients_have_none() {
    let w = World::new();
    let id = w.patient(ANA).await;
    let accounts = w.accounts();
    let hospital = caller(Role::Hospital, "client-1");

    assert_eq!(
        accounts.me(&caller(Role::Patient, &id)).await.unwrap().id,
        id
    );
    assert!(matches!(
        accounts.me(&hospital).await,
        Err(AccountsError::Forbidden(_))
    ));
    assert!(matches!(
        accounts.delete_me(&hospital, TRACE).await,
        Err(AccountsError::Forbidden(_))
    ));
    assert_eq!(
        accounts.me(&staff()).await,
        Err(AccountsError::NotFound("Account"))
    );
    assert_eq!(
        accounts
            .delete_me(&caller(Role::Patient, "nobody"), TRACE)
            .await,
        Err(AccountsError::NotFound("Account"))
    );
}

#[tokio::test]
async fn update_me_changes_the_given_fields_and_announces_the_contact_data() {
    let w = World::new();
    let id = w.patient(ANA).await;
    w.clock.advance(SignedDuration::from_hours(2));
    let changes = ProfileChanges {
        name: Some(Name::parse("Ana Lima").unwrap()),
        sms_notifications: Some(false),
        language: Some(Language::En),
        ..ProfileChanges::default()
    };
    let updated = w
        .accounts()
        .update_me(&caller(Role::Patient, &id), changes, TRACE)
        .await
        .unwrap();

    assert_eq!(updated.name.as_deref(), Some("Ana Lima"));
    assert_eq!(updated.phone.as_deref(), Some("+5511987654321"));
    assert!(updated.preferences.email && !updated.preferences.sms);
    assert_eq!(updated.updated_at, w.clock.now());
    assert_eq!(w.store.profile(&id), Some(updated));
    let outbox = w.store.state().outbox.clone();
    assert_eq!(outbox.len(), 3);
    let announced = outbox[2].data_as::<AccountUpdated>().unwrap();
    assert_eq!(announced.email, ANA);
    assert_eq!(announced.phone.as_deref(), Some("+5511987654321"));
    assert_eq!(announced.preferences.language, Language::En);
    assert!(!announced.preferences.sms);
}

#[tokio::test]
async fn update_me_without_a_change_writes_and_announces_nothing() {
    let w = World::new();
    let id = w.patient(ANA).await;
    let before = w.store.profile(&id).unwrap();
    w.clock.advance(SignedDuration::from_hours(2));
    let same = ProfileChanges {
        name: Some(Name::parse("Ana  Souza").unwrap()),
        email_notifications: Some(true),
        ..ProfileChanges::default()
    };
    let reply = w
        .accounts()
        .update_me(&caller(Role::Patient, &id), same, TRACE)
        .await;
    assert_eq!(reply.as_ref(), Ok(&before));
    assert_eq!(w.store.profile(&id), Some(before));
    assert_eq!(w.store.events().len(), 2);
}

#[tokio::test]
async fn delete_me_anonymises_frees_the_address_and_keeps_only_account_deleted() {
    let w = World::new();
    let id = w.patient(ANA).await;
    let other = w.patient(BIA).await;
    let me = caller(Role::Patient, &id);
    let accounts = w.accounts();
    let changes = ProfileChanges {
        sms_notifications: Some(false),
        ..ProfileChanges::default()
    };
    accounts.update_me(&me, changes, TRACE).await.unwrap();
    let Ok(SignIn::Tokens(tokens)) = accounts.sign_in(ANA, PASSWORD).await else {
        panic!("no tokens");
    };
    w.clock.advance(SignedDuration::from_hours(1));

    assert_eq!(accounts.delete_me(&me, TRACE).await, Ok(()));

    let erased = w.store.profile(&id).unwrap();
    assert_eq!(erased.status, AccountStatus::Deleted);
    assert_eq!(erased.deleted_at, Some(w.clock.now()));
    assert_eq!(
        (&erased.email, &erased.name, &erased.cpf, &erased.phone),
        (&None, &None, &None, &None)
    );
    assert_eq!(w.store.claim(&email_claim(ANA)), None);
    assert!(w.identity.user(ANA).is_none());
    // Earlier events carried contact data: only the ids-only announcement stays, and only the
    // erased person's events go.
    let events = w.store.events();
    let own: Vec<_> = events.iter().filter(|(_, s)| *s == id).collect();
    assert_eq!(own, [&(EventType::AccountDeleted, id.clone())]);
    assert_eq!(events.iter().filter(|(_, s)| *s == other).count(), 2);
    let deleted = w.store.state().outbox.last().cloned().unwrap();
    let fields: Vec<&String> = deleted.data.as_object().unwrap().keys().collect();
    assert_eq!(fields, ["accountId", "role"]);
    assert_eq!(
        accounts
            .refresh(tokens.refresh_token.as_deref().unwrap())
            .await,
        Err(AccountsError::InvalidRefreshToken)
    );
    assert_eq!(
        accounts.me(&me).await,
        Err(AccountsError::NotFound("Account"))
    );

    // The address is free for a new sign-up.
    assert_ne!(w.sign_up(ANA).await, id);
}

#[tokio::test]
async fn an_erasure_whose_identity_step_failed_is_finished_by_repeating_it() {
    let w = World::new();
    let id = w.patient(ANA).await;
    let me = caller(Role::Patient, &id);
    let accounts = w.accounts();
    let deleted = |w: &World| {
        w.store
            .events()
            .iter()
            .filter(|e| e.0 == EventType::AccountDeleted)
            .count()
    };

    for step in ["sign_out_everywhere", "delete_user"] {
        w.identity.fail_next(step, identity_down());
        let reply = accounts.delete_me(&me, TRACE).await;
        assert!(
            matches!(reply, Err(AccountsError::Unavailable(_))),
            "{step}: {reply:?}"
        );
        assert!(w.store.profile(&id).unwrap().is_deleted());
        assert!(
            w.identity.user(ANA).is_some(),
            "{step}: the identity survived"
        );
    }
    assert_eq!(accounts.delete_me(&me, TRACE).await, Ok(()));
    assert!(w.identity.user(ANA).is_none());
    assert_eq!(deleted(&w), 1, "announced once");
    assert_eq!(w.store.events().len(), 1, "earlier events purged");

    // Once finished, repeating it is harmless, and the address is free again.
    assert_eq!(accounts.delete_me(&me, TRACE).await, Ok(()));
    assert_eq!(deleted(&w), 1);
    assert_ne!(w.sign_up(ANA).await, id);
}

#[tokio::test]
async fn a_sign_up_finishes_an_erasure_that_stopped_at_the_identity_step() {
    let w = World::new();
    let id = w.patient(ANA).await;
    w.identity.fail_next("delete_user", identity_down());
    let reply = w
        .accounts()
        .delete_me(&caller(Role::Patient, &id), TRACE)
        .await;
    assert!(
        matches!(reply, Err(AccountsError::Unavailable(_))),
        "{reply:?}"
    );
    assert!(
        w.identity.user(ANA).is_some(),
        "the erased identity is left"
    );

    // The erased person never retries; someone signs up with the address.
    let new_id = w.sign_up(ANA).await;
    assert_ne!(new_id, id);
    assert_eq!(w.identity.user(ANA).map(|user| user.id), Some(new_id));
    assert!(w.store.profile(&id).unwrap().is_deleted());
}

#[tokio::test]
async fn an_erased_account_is_refused_the_writes_its_token_still_reaches() {
    let w = World::new();
    let id = w.patient(ANA).await;
    // A staff member erased too, acting with a token that has not expired yet.
    let mut erased_staff = w.store.profile(&id).unwrap().anonymised(w.clock.now());
    (erased_staff.id, erased_staff.role) = ("staff-1".into(), Role::Staff);
    w.store
        .state()
        .profiles
        .insert(erased_staff.id.clone(), erased_staff);
    let accounts = w.accounts();
    let me = caller(Role::Patient, &id);
    accounts.delete_me(&me, TRACE).await.unwrap();

    let changes = ProfileChanges {
        sms_notifications: Some(false),
        ..ProfileChanges::default()
    };
    assert_eq!(
        accounts.update_me(&me, changes, TRACE).await,
        Err(AccountsError::NotFound("Account"))
    );
    let doctor = doctor("dr@example.com", "123456", "SP", "Cardiologia");
    assert_eq!(
        accounts.register_doctor(&staff(), doctor, TRACE).await,
        Err(AccountsError::AccountErased)
    );
    assert_eq!(
        accounts
            .register_hospital(&staff(), hospital("1234567"), TRACE)
            .await,
        Err(AccountsError::AccountErased)
    );
    assert_eq!(w.users(), 0);
    assert!(w.identity.state().clients.is_empty());
}
