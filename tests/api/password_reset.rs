use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::mail::{MAIL_WAIT, MailServer, spawn_with_mail};
use crate::helpers::{PASSWORD, Reply, TestApp, Tokens};

const PUBLIC_URL: &str = "https://accounts.example.test/portal";
const NEW_PASSWORD: &str = "a brand new passphrase";

async fn forgot(app: &TestApp, email: &str) -> Reply {
    app.post("/api/v1/auth/password/forgot", json!({ "email": email }))
        .await
}

async fn reset(app: &TestApp, token: &str, new_password: &str) -> Reply {
    app.post(
        "/api/v1/auth/password/reset",
        json!({ "token": token, "new_password": new_password }),
    )
    .await
}

/// Asks for a reset of `email` and returns the token from the mail that follows.
async fn reset_token(app: &TestApp, mail: &MailServer, email: &str) -> String {
    let reply = forgot(app, email).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
    mail.next_reset_mail(MAIL_WAIT)
        .await
        .reset_token(PUBLIC_URL)
}

async fn spawn() -> (TestApp, MailServer) {
    spawn_with_mail(|config| config.public_url = PUBLIC_URL.into()).await
}

#[tokio::test(flavor = "multi_thread")]
async fn forgot_answers_202_with_an_empty_object_for_known_and_unknown_emails_alike() {
    let (app, mail) = spawn().await;
    app.register("ada@example.com").await;

    let unknown = forgot(&app, "nobody@example.com").await;
    let known = forgot(&app, "ada@example.com").await;

    assert_eq!(unknown.status, StatusCode::ACCEPTED);
    assert_eq!(known.status, StatusCode::ACCEPTED);
    assert_eq!(unknown.body, json!({}));
    assert_eq!(known.body, json!({}));
    assert_eq!(unknown.header("content-type"), known.header("content-type"));
    let delivered = mail.next_mail(MAIL_WAIT).await;
    assert_eq!(delivered.recipients, vec!["ada@example.com".to_owned()]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let all = mail.received();
    assert_eq!(
        all.len(),
        1,
        "only the known account gets mail: {:?}",
        all.iter().map(|m| &m.recipients).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn forgot_matches_the_email_case_insensitively_and_mails_the_stored_address() {
    let (app, mail) = spawn().await;
    app.register("ada@example.com").await;

    let reply = forgot(&app, "  ADA@Example.COM ").await;

    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
    let delivered = mail.next_mail(MAIL_WAIT).await;
    assert_eq!(delivered.recipients, vec!["ada@example.com".to_owned()]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_mail_links_to_the_public_url_and_the_database_keeps_only_a_hash() {
    let (app, mail) = spawn().await;
    app.register("ada@example.com").await;

    forgot(&app, "ada@example.com").await;
    let delivered = mail.next_mail(MAIL_WAIT).await;

    let prefix = format!("{PUBLIC_URL}/reset-password?token=");
    let link = delivered.link(&prefix);
    let token = delivered.reset_token(PUBLIC_URL);
    assert_eq!(link, format!("{prefix}{token}"));
    assert!(
        token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "base64url: {token}"
    );
    let stored = app
        .query_text("SELECT token_hash AS value FROM password_reset_tokens")
        .await;
    assert_eq!(stored.len(), 1);
    assert!(
        stored.iter().all(|hash| !hash.contains(&token)),
        "the raw token is stored: {stored:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reset_sets_the_new_password_and_revokes_every_session() {
    let (app, mail) = spawn().await;
    let first = app.signed_in("ada@example.com").await;
    let second = Tokens::from(&app.login("ada@example.com", PASSWORD).await.body);
    let token = reset_token(&app, &mail, "ada@example.com").await;

    let reply = reset(&app, &token, NEW_PASSWORD).await;

    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    for session in [&first, &second] {
        app.assert_session_revoked(session).await;
    }
    app.login("ada@example.com", PASSWORD)
        .await
        .assert_problem(401, "invalid_credentials");
    let after = app.login("ada@example.com", NEW_PASSWORD).await;
    assert_eq!(after.status, StatusCode::OK, "{}", after.body);
    let events = app
        .query_text(&format!(
            "SELECT \"type\" AS value FROM audit_events WHERE CAST(subject_id AS TEXT) = '{}' \
             AND \"type\" LIKE 'password.%' ORDER BY \"type\"",
            first.user_id
        ))
        .await;
    assert_eq!(
        events,
        vec!["password.reset_completed", "password.reset_requested"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reset_token_works_only_once() {
    let (app, mail) = spawn().await;
    app.register("ada@example.com").await;
    let token = reset_token(&app, &mail, "ada@example.com").await;
    assert_eq!(
        reset(&app, &token, NEW_PASSWORD).await.status,
        StatusCode::NO_CONTENT
    );

    let again = reset(&app, &token, "yet another passphrase").await;

    again.assert_problem(400, "invalid_reset_token");
    assert_eq!(
        app.login("ada@example.com", NEW_PASSWORD).await.status,
        StatusCode::OK,
        "the first reset stands"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_newer_forgot_request_voids_the_older_token() {
    let (app, mail) = spawn().await;
    app.register("ada@example.com").await;
    let older = reset_token(&app, &mail, "ada@example.com").await;
    let newer = reset_token(&app, &mail, "ada@example.com").await;
    assert_ne!(older, newer);

    let with_older = reset(&app, &older, NEW_PASSWORD).await;
    let with_newer = reset(&app, &newer, NEW_PASSWORD).await;

    with_older.assert_problem(400, "invalid_reset_token");
    assert_eq!(
        with_newer.status,
        StatusCode::NO_CONTENT,
        "{}",
        with_newer.body
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_reset_token_is_400_and_the_password_stays() {
    let (app, mail) = spawn_with_mail(|config| {
        config.public_url = PUBLIC_URL.into();
        config.reset_token_ttl = Duration::from_secs(1);
    })
    .await;
    app.register("ada@example.com").await;
    let token = reset_token(&app, &mail, "ada@example.com").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let reply = reset(&app, &token, NEW_PASSWORD).await;

    reply.assert_problem(400, "invalid_reset_token");
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_or_garbage_reset_tokens_are_400_invalid_reset_token() {
    let (app, _mail) = spawn().await;
    app.register("ada@example.com").await;
    let well_formed_but_unknown = "A".repeat(43);

    for token in ["garbage", well_formed_but_unknown.as_str(), ""] {
        let reply = reset(&app, token, NEW_PASSWORD).await;

        reply.assert_problem(400, "invalid_reset_token");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_weak_new_password_is_422_weak_password_and_leaves_the_token_usable() {
    let (app, mail) = spawn().await;
    app.register("ada@example.com").await;
    let token = reset_token(&app, &mail, "ada@example.com").await;

    let short = reset(&app, &token, "short").await;
    let common = reset(&app, &token, "password").await;
    let the_email = reset(&app, &token, "ada@example.com").await;

    for reply in [&short, &common, &the_email] {
        reply.assert_problem(422, "weak_password");
        assert!(
            reply
                .field_errors()
                .iter()
                .any(|(field, _)| field == "new_password"),
            "{}",
            reply.body
        );
    }
    assert_eq!(
        reset(&app, &token, NEW_PASSWORD).await.status,
        StatusCode::NO_CONTENT,
        "a refused password does not use up the token"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reset_to_the_current_or_a_recent_password_is_422_password_reused() {
    let (app, mail) = spawn().await;
    let tokens = app.signed_in("ada@example.com").await;
    let changed = app
        .request(
            Method::PUT,
            "/api/v1/users/me/password",
            Some(&tokens.access),
            Some(json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD })),
        )
        .await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT, "{}", changed.body);
    let token = reset_token(&app, &mail, "ada@example.com").await;

    let current = reset(&app, &token, NEW_PASSWORD).await;
    let previous = reset(&app, &token, PASSWORD).await;

    current.assert_problem(422, "password_reused");
    previous.assert_problem(422, "password_reused");
    assert_eq!(
        app.login("ada@example.com", NEW_PASSWORD).await.status,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn reset_and_forgot_refuse_unknown_fields() {
    let (app, _mail) = spawn().await;

    let forgot_reply = app
        .post(
            "/api/v1/auth/password/forgot",
            json!({ "email": "ada@example.com", "role": "admin" }),
        )
        .await;
    let reset_reply = app
        .post(
            "/api/v1/auth/password/reset",
            json!({ "token": "x", "new_password": NEW_PASSWORD, "email": "ada@example.com" }),
        )
        .await;

    for (reply, field) in [(forgot_reply, "role"), (reset_reply, "email")] {
        reply.assert_problem(422, "validation_failed");
        assert_eq!(
            reply.field_errors(),
            vec![(field.to_owned(), "unknown_field".to_owned())],
            "{}",
            reply.body
        );
    }
}
