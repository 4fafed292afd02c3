//! Deleting one's own account.

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{delete_me, field_names, rows};
use crate::helpers::{PASSWORD, TestApp, Tokens};

#[tokio::test(flavor = "multi_thread")]
async fn deleting_the_account_with_a_wrong_password_is_401_and_keeps_it() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;

    let reply = delete_me(&app, &tokens.access, "not the password at all").await;

    reply.assert_problem(401, "invalid_credentials");
    assert_eq!(
        app.api().get_me(&tokens.access).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_the_account_ends_its_tokens_and_removes_its_rows() {
    let app = TestApp::spawn().await;
    let this = app.signed_in("ada@example.com").await;
    let other = Tokens::from(&app.login("ada@example.com", PASSWORD).await.body);
    let bob = app.signed_in("bob@example.com").await;
    for (tokens, title) in [(&this, "ada's task"), (&bob, "bob's task")] {
        let created = app
            .request(
                Method::POST,
                "/api/v1/tasks",
                Some(&tokens.access),
                Some(json!({ "title": title })),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    }

    let reply = delete_me(&app, &this.access, PASSWORD).await;

    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    for tokens in [&this, &other] {
        app.assert_session_revoked(tokens).await;
    }
    app.login("ada@example.com", PASSWORD)
        .await
        .assert_problem(401, "invalid_credentials");
    for table in ["sessions", "credentials", "tasks"] {
        assert_eq!(
            rows(&app, table, &this.user_id).await,
            Vec::<String>::new(),
            "{table} of the deleted user"
        );
        assert!(
            !rows(&app, table, &bob.user_id).await.is_empty(),
            "{table} of another user survive"
        );
    }
    let users = app
        .query_text(&format!(
            "SELECT email AS value FROM users WHERE CAST(id AS TEXT) = '{}'",
            this.user_id
        ))
        .await;
    assert!(users.is_empty(), "the user row is gone: {users:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deleted_accounts_email_can_register_again_as_a_new_user() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;
    assert_eq!(
        delete_me(&app, &tokens.access, PASSWORD).await.status,
        StatusCode::NO_CONTENT
    );

    let again = app.register("ada@example.com").await;

    assert_ne!(again["id"], tokens.user_id.as_str());
    let login = app.login("ada@example.com", PASSWORD).await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_the_account_needs_the_password_field() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;

    let reply = app
        .request(
            Method::DELETE,
            "/api/v1/users/me",
            Some(&tokens.access),
            Some(json!({})),
        )
        .await;

    reply.assert_problem(422, "validation_failed");
    assert_eq!(field_names(&reply), vec!["password"]);
    assert_eq!(
        app.api().get_me(&tokens.access).await.status,
        StatusCode::OK
    );
}
