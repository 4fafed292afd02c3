//! Changing the password: checks, history, and what it revokes.

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{NEW_PASSWORD, change_password, field_names};
use crate::helpers::{PASSWORD, Reply, TestApp, Tokens};

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_current_password_is_401_invalid_credentials_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;

    let reply = change_password(
        &app,
        &tokens.access,
        "not the password at all",
        NEW_PASSWORD,
    )
    .await;

    reply.assert_problem(401, "invalid_credentials");
    assert_eq!(
        app.api().get_me(&tokens.access).await.status,
        StatusCode::OK,
        "a wrong current password does not end the session"
    );
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_weak_new_password_is_422_weak_password_naming_new_password() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;

    for weak in ["short", "password", "ada@example.com", "          "] {
        let reply = change_password(&app, &tokens.access, PASSWORD, weak).await;

        reply.assert_problem(422, "weak_password");
        assert!(
            reply
                .field_errors()
                .iter()
                .any(|(field, _)| field == "new_password"),
            "{weak:?}: {}",
            reply.body
        );
    }
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_current_password_as_the_new_one_is_422_password_reused() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;

    let reply = change_password(&app, &tokens.access, PASSWORD, PASSWORD).await;

    reply.assert_problem(422, "password_reused");
}

fn history_password(n: usize) -> String {
    if n == 0 {
        PASSWORD.to_owned()
    } else {
        format!("history passphrase number {n}")
    }
}

/// Changes from `P(from)` to `P(to)`; returns the reply.
async fn change_between(app: &TestApp, token: &str, from: usize, to: usize) -> Reply {
    change_password(app, token, &history_password(from), &history_password(to)).await
}

#[tokio::test(flavor = "multi_thread")]
async fn after_four_changes_the_registration_password_is_still_one_of_the_last_five() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;
    for n in 1..=4 {
        let reply = change_between(&app, &tokens.access, n - 1, n).await;
        assert_eq!(reply.status, StatusCode::NO_CONTENT, "P{n}: {}", reply.body);
    }

    // Current P4; the 4 before it are P3, P2, P1 and P0.
    for n in [4, 3, 2, 1, 0] {
        change_between(&app, &tokens.access, 4, n)
            .await
            .assert_problem(422, "password_reused");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn after_five_changes_p1_is_reused_but_the_registration_password_is_accepted_again() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;
    for n in 1..=5 {
        let reply = change_between(&app, &tokens.access, n - 1, n).await;
        assert_eq!(reply.status, StatusCode::NO_CONTENT, "P{n}: {}", reply.body);
    }

    // Current P5; the 4 before it are P4..P1, so P0 has left the history.
    for n in [5, 4, 3, 2, 1] {
        change_between(&app, &tokens.access, 5, n)
            .await
            .assert_problem(422, "password_reused");
    }
    let sixth = change_between(&app, &tokens.access, 5, 0).await;
    assert_eq!(sixth.status, StatusCode::NO_CONTENT, "P0: {}", sixth.body);

    // Current P0; the 4 before it are P5..P2, so P1 is free again and P2 is not.
    change_between(&app, &tokens.access, 0, 2)
        .await
        .assert_problem(422, "password_reused");
    let seventh = change_between(&app, &tokens.access, 0, 1).await;
    assert_eq!(
        seventh.status,
        StatusCode::NO_CONTENT,
        "P1: {}",
        seventh.body
    );
    assert_eq!(
        app.login("ada@example.com", &history_password(1))
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_change_revokes_every_other_session_and_keeps_this_one() {
    let app = TestApp::spawn().await;
    let this = app.signed_in("ada@example.com").await;
    let other = Tokens::from(&app.login("ada@example.com", PASSWORD).await.body);
    let bob = app.signed_in("bob@example.com").await;

    let reply = change_password(&app, &this.access, PASSWORD, NEW_PASSWORD).await;

    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    app.assert_session_revoked(&other).await;
    assert_eq!(app.api().get_me(&this.access).await.status, StatusCode::OK);
    assert_eq!(
        app.refresh(&this.refresh).await.status,
        StatusCode::OK,
        "the session that changed the password lives on"
    );
    assert_eq!(
        app.api().get_me(&bob.access).await.status,
        StatusCode::OK,
        "other users are not touched"
    );
    app.login("ada@example.com", PASSWORD)
        .await
        .assert_problem(401, "invalid_credentials");
    assert_eq!(
        app.login("ada@example.com", NEW_PASSWORD).await.status,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_change_writes_a_password_changed_audit_event() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;

    let reply = change_password(&app, &tokens.access, PASSWORD, NEW_PASSWORD).await;

    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    let subjects = app
        .query_text(
            "SELECT CAST(subject_id AS TEXT) AS value FROM audit_events \
             WHERE \"type\" = 'password.changed'",
        )
        .await;
    assert_eq!(subjects, vec![tokens.user_id]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_change_keeps_one_current_credential() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;

    change_password(&app, &tokens.access, PASSWORD, NEW_PASSWORD).await;

    let current = app
        .query_text(&format!(
            "SELECT CAST(id AS TEXT) AS value FROM credentials \
             WHERE CAST(user_id AS TEXT) = '{}' AND is_current",
            tokens.user_id
        ))
        .await;
    assert_eq!(current.len(), 1, "one current credential per user");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_change_with_a_missing_or_unknown_field_is_422() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;

    let missing = app
        .request(
            Method::PUT,
            "/api/v1/users/me/password",
            Some(&tokens.access),
            Some(json!({ "new_password": NEW_PASSWORD })),
        )
        .await;
    let unknown = app
        .request(
            Method::PUT,
            "/api/v1/users/me/password",
            Some(&tokens.access),
            Some(json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD, "password": PASSWORD })),
        )
        .await;

    missing.assert_problem(422, "validation_failed");
    assert_eq!(field_names(&missing), vec!["current_password"]);
    unknown.assert_problem(422, "validation_failed");
    assert_eq!(
        unknown.field_errors(),
        vec![("password".to_owned(), "unknown_field".to_owned())]
    );
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status,
        StatusCode::OK
    );
}
