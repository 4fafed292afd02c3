//! The first admin: from configuration at start-up, or from `doorman create-admin`.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use reqwest::StatusCode;

use crate::helpers::jwt::claims;
use crate::helpers::{ADMIN_EMAIL, PASSWORD, TestApp, with_bootstrap_admin};

const ADMIN_EMAILS: &str = "SELECT email AS value FROM users WHERE role = 'admin' ORDER BY email";

#[tokio::test(flavor = "multi_thread")]
async fn the_bootstrap_admin_is_created_once_across_restarts() {
    let first = TestApp::spawn_with(with_bootstrap_admin).await;
    let created_at = first
        .query_text("SELECT CAST(created_at AS TEXT) AS value FROM users")
        .await;

    let second = first.replica(|_| {}).await;
    let third = first.replica(|_| {}).await;
    let other_email = first
        .replica(|c| c.bootstrap_admin_email = Some("other@example.com".into()))
        .await;

    assert_eq!(first.query_text(ADMIN_EMAILS).await, [ADMIN_EMAIL]);
    assert_eq!(
        first
            .query_text("SELECT CAST(created_at AS TEXT) AS value FROM users")
            .await,
        created_at,
        "the restarts neither re-create nor add accounts"
    );
    assert_eq!(
        first
            .query_text("SELECT CAST(COUNT(*) AS TEXT) AS value FROM credentials")
            .await,
        ["1"]
    );
    for app in [&first, &second, &third, &other_email] {
        assert_eq!(
            app.login(ADMIN_EMAIL, PASSWORD).await.status,
            StatusCode::OK
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn instances_starting_together_create_exactly_one_bootstrap_admin() {
    for round in 0..3 {
        let app = TestApp::spawn().await;
        assert!(app.query_text(ADMIN_EMAILS).await.is_empty());

        let (one, two) = tokio::join!(
            app.replica(with_bootstrap_admin),
            app.replica(with_bootstrap_admin)
        );

        assert_eq!(
            app.query_text(ADMIN_EMAILS).await,
            [ADMIN_EMAIL],
            "round {round}"
        );
        for replica in [&one, &two] {
            assert_eq!(
                replica.login(ADMIN_EMAIL, PASSWORD).await.status,
                StatusCode::OK,
                "round {round}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn instances_configured_with_different_bootstrap_admins_still_create_only_one() {
    for round in 0..3 {
        let app = TestApp::spawn().await;

        let (_one, _two) = tokio::join!(
            app.replica(with_bootstrap_admin),
            app.replica(|c| {
                with_bootstrap_admin(c);
                c.bootstrap_admin_email = Some("other-root@example.com".into());
            })
        );

        let admins = app.query_text(ADMIN_EMAILS).await;
        assert_eq!(admins.len(), 1, "round {round}: {admins:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_bootstrap_admin_signs_in_as_an_admin() {
    let app = TestApp::spawn_with(with_bootstrap_admin).await;

    let reply = app.login(ADMIN_EMAIL, PASSWORD).await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["user"]["role"], "admin");
    assert_eq!(reply.body["user"]["is_admin"], true);
    assert_eq!(reply.body["user"]["is_active"], true);
    let access = reply.body["access_token"].as_str().unwrap_or_default();
    assert_eq!(claims(access)["role"], "admin");
    assert_eq!(claims(access)["is_admin"], true);
    assert_eq!(
        app.get("/api/v1/admin/audit-events", access).await.status,
        StatusCode::OK
    );
}

/// Runs `doorman create-admin --email EMAIL` with `password` on stdin.
async fn create_admin(app: &TestApp, email: &str, password: &str) -> Output {
    let (url, email, password) = (
        app.config.database_url.clone(),
        email.to_owned(),
        password.to_owned(),
    );
    tokio::task::spawn_blocking(move || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_doorman"))
            .args(["create-admin", "--email", &email])
            .env("DATABASE_URL", url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the process starts");
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(format!("{password}\n").as_bytes())
                .expect("the write succeeds");
        }
        child.wait_with_output().expect("the process ends")
    })
    .await
    .expect("the blocking task finishes")
}

#[tokio::test(flavor = "multi_thread")]
async fn create_admin_on_the_command_line_makes_an_admin_who_can_log_in() {
    let app = TestApp::spawn().await;

    let output = create_admin(&app, "Ops@Example.com", PASSWORD).await;

    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(app.query_text(ADMIN_EMAILS).await, ["ops@example.com"]);
    let reply = app.login("ops@example.com", PASSWORD).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["user"]["role"], "admin");
    let access = reply.body["access_token"].as_str().unwrap_or_default();
    assert_eq!(
        app.get("/api/v1/admin/users", access).await.status,
        StatusCode::OK
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!stdout.contains(PASSWORD) && !stdout.contains("argon2"));
}

#[tokio::test(flavor = "multi_thread")]
async fn create_admin_with_a_weak_password_fails_with_a_non_zero_exit() {
    let app = TestApp::spawn().await;

    for password in ["short", "password123", "ops@example.com", ""] {
        let output = create_admin(&app, "ops@example.com", password).await;
        assert!(
            !output.status.success(),
            "{password:?} was accepted: {}",
            String::from_utf8_lossy(&output.stdout)
        );
    }
    assert!(app.query_text(ADMIN_EMAILS).await.is_empty());
    assert!(
        app.query_text("SELECT email AS value FROM users")
            .await
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn create_admin_never_promotes_an_existing_account() {
    let app = TestApp::spawn().await;
    app.register("taken@example.com").await;

    let output = create_admin(&app, "taken@example.com", "another strong passphrase").await;

    assert!(!output.status.success());
    assert!(app.query_text(ADMIN_EMAILS).await.is_empty());
    assert_eq!(
        app.login("taken@example.com", PASSWORD).await.body["user"]["role"],
        "user"
    );
}
