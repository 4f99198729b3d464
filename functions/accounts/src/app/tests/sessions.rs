//! Signing in: credentials, first passwords and the second factor of staff and doctors.

use super::*;

#[tokio::test]
async fn sign_in_does_not_tell_an_unknown_user_from_a_wrong_password() {
    let w = World::new();
    w.patient(ANA).await;
    w.sign_up(BIA).await;
    let accounts = w.accounts();

    assert_eq!(
        accounts.sign_in(ANA, "Wrong0pass").await,
        Err(AccountsError::InvalidCredentials)
    );
    assert_eq!(
        accounts.sign_in("nobody@example.com", PASSWORD).await,
        Err(AccountsError::InvalidCredentials)
    );
    assert_eq!(
        accounts.sign_in(BIA, PASSWORD).await,
        Err(AccountsError::NotConfirmed)
    );
    w.identity
        .fail_next("sign_in", IdentityError::TooManyRequests);
    assert_eq!(
        accounts.sign_in(ANA, PASSWORD).await,
        Err(AccountsError::Throttled)
    );

    // Patients need no second factor.
    let Ok(SignIn::Tokens(tokens)) = accounts.sign_in(ANA, PASSWORD).await else {
        panic!("no tokens");
    };
    assert_eq!(tokens.groups, ["patients"]);
    let refresh = tokens.refresh_token.unwrap();
    assert!(accounts.refresh(&refresh).await.is_ok());
    assert_eq!(
        accounts.refresh("forged").await,
        Err(AccountsError::InvalidRefreshToken)
    );
}

#[tokio::test]
async fn a_doctor_chooses_a_password_then_sets_an_authenticator_up_before_any_token() {
    let w = World::new();
    let id = w.doctor("dr@example.com", "123456").await;
    let accounts = w.accounts();
    let Ok(SignIn::NewPasswordRequired { session }) =
        accounts.sign_in("dr@example.com", "Temp0rary1x").await
    else {
        panic!("no new-password challenge");
    };
    let chosen = password("Chosen0pass");
    assert_eq!(
        accounts
            .complete_new_password("dr@example.com", "forged", &chosen)
            .await,
        Err(AccountsError::InvalidSession)
    );
    w.identity.fail_next(
        "complete_new_password",
        IdentityError::InvalidPassword("policy".into()),
    );
    assert_eq!(
        accounts
            .complete_new_password("dr@example.com", &session, &chosen)
            .await,
        Err(AccountsError::field("newPassword", "policy"))
    );
    assert_eq!(w.store.profile(&id).unwrap().status, AccountStatus::Invited);

    let Ok(SignIn::MfaSetup { session, secret }) = accounts
        .complete_new_password("dr@example.com", &session, &chosen)
        .await
    else {
        panic!("tokens handed out before the second factor");
    };
    assert!(!secret.is_empty());
    assert_eq!(w.store.profile(&id).unwrap().status, AccountStatus::Active);
    assert_eq!(
        w.store.events().len(),
        2,
        "a first password announces nothing"
    );
    // The store keeps the tokens under the session's digest only.
    let setups: Vec<String> = w.store.state().mfa_setups.keys().cloned().collect();
    assert_eq!(setups, [session_key(&session)]);
    assert_ne!(setups[0], session);

    assert_eq!(
        accounts
            .answer_mfa("dr@example.com", &session, "000000")
            .await,
        Err(AccountsError::InvalidMfaCode)
    );
    let tokens = accounts
        .answer_mfa("dr@example.com", &session, TOTP)
        .await
        .unwrap();
    assert_eq!(tokens.groups, ["doctors"]);
    assert!(w.identity.user("dr@example.com").unwrap().totp_enabled);
    assert!(w.store.state().mfa_setups.is_empty());
    assert_eq!(
        accounts.answer_mfa("dr@example.com", &session, TOTP).await,
        Err(AccountsError::InvalidSession),
        "a setup session works once"
    );

    // From now on every sign-in asks for the authenticator's code.
    let Ok(SignIn::MfaRequired { session }) =
        accounts.sign_in("dr@example.com", "Chosen0pass").await
    else {
        panic!("no authenticator challenge");
    };
    assert!(
        accounts
            .answer_mfa("dr@example.com", &session, TOTP)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn an_authenticator_setup_belongs_to_its_sign_in_and_expires() {
    let w = World::new();
    w.identity.provision("sara@example.com", PASSWORD, "staff");
    let accounts = w.accounts();
    let start = || async {
        match accounts.sign_in("sara@example.com", PASSWORD).await {
            Ok(SignIn::MfaSetup { session, .. }) => session,
            other => panic!("{other:?}"),
        }
    };

    let session = start().await;
    assert_eq!(
        accounts.answer_mfa("bia@example.com", &session, TOTP).await,
        Err(AccountsError::InvalidSession)
    );
    w.clock.advance(SignedDuration::from_mins(10));
    assert_eq!(
        accounts
            .answer_mfa("sara@example.com", &session, TOTP)
            .await,
        Err(AccountsError::InvalidSession)
    );
    assert!(!w.identity.user("sara@example.com").unwrap().totp_enabled);

    // The username is compared as typed at sign-in, case and spaces aside.
    let session = start().await;
    let tokens = accounts
        .answer_mfa(" Sara@Example.com ", &session, TOTP)
        .await
        .unwrap();
    assert_eq!(tokens.groups, ["staff"]);
}
