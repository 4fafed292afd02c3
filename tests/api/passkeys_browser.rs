//! Passkeys in the console, in headless Chromium with a virtual authenticator: added on
//! `/profile`, used on `/login`, removed again.

use std::net::TcpListener;

use crate::helpers::browser::{Browser, screenshot_dir, with_browser};
use crate::helpers::{PASSWORD, TestApp};

/// An app reached at `http://localhost:PORT`: a relying-party id must be a domain name, so
/// the browser must see the console there, and the public URL must say so.
async fn app_on_localhost() -> TestApp {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"));
    TestApp::spawn_with(|c| {
        c.bind = format!("127.0.0.1:{port}");
        c.public_url = format!("http://localhost:{port}");
    })
    .await
}

async fn sign_in_with_password(b: &Browser) {
    b.goto("/login").await;
    b.fill("Email, username or phone number", "ada@example.com")
        .await;
    b.fill("Password", PASSWORD).await;
    b.press("Sign in").await;
    b.heading("Your tasks").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_passkey_added_on_the_profile_signs_in_on_the_login_page_in_chromium() {
    let app = app_on_localhost().await;
    app.register("ada@example.com").await;
    let base = app.config.public_url.clone();
    with_browser(&base, |b| async move {
        b.add_virtual_authenticator().await;
        sign_in_with_password(&b).await;

        b.goto("/profile").await;
        b.heading("Your profile").await;
        b.sees(None, "You have no passkeys yet.").await;
        b.fill("Passkey name", "Laptop").await;
        b.fill("Your password (to add a passkey)", PASSWORD).await;
        b.press("Add a passkey").await;
        b.sees(Some("status"), "Passkey added.").await;
        b.sees(None, "last used never").await;
        b.screenshots("profile-passkeys").await;
        b.client
            .execute(
                "document.getElementById('passkeys-heading').scrollIntoView({block: 'start', behavior: 'instant'});",
                vec![],
            )
            .await
            .expect("adding a virtual authenticator");
        let card = b
            .client
            .screenshot()
            .await
            .expect("taking a screenshot");
        std::fs::write(
            screenshot_dir().join("profile-passkeys-card-1280.png"),
            card,
        )
        .expect("writing the screenshot");

        b.press("Sign out").await;
        b.heading("Sign in").await;
        b.screenshots("login-passkey").await;
        b.press("Sign in with a passkey").await;
        b.heading("Your tasks").await;
        assert_eq!(b.path().await, "/dashboard");

        b.goto("/profile").await;
        b.heading("Your profile").await;
        assert!(!b.text().await.contains("last used never"));
        b.open_details("Remove Laptop").await;
        b.fill("Your password (to remove Laptop)", PASSWORD).await;
        b.press("Remove passkey").await;
        b.sees(Some("status"), "Passkey removed.").await;
        b.sees(None, "You have no passkeys yet.").await;
    })
    .await;
    let types = app
        .query_text(
            "SELECT type AS value FROM audit_events WHERE type LIKE 'passkey.%' ORDER BY at, id",
        )
        .await;
    assert_eq!(types, ["passkey.added", "passkey.login", "passkey.removed"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_password_on_the_passkey_form_says_so_and_adds_nothing() {
    let app = app_on_localhost().await;
    app.register("ada@example.com").await;
    let base = app.config.public_url.clone();
    with_browser(&base, |b| async move {
        b.add_virtual_authenticator().await;
        sign_in_with_password(&b).await;
        b.goto("/profile").await;
        b.fill("Passkey name", "Laptop").await;
        b.fill("Your password (to add a passkey)", "not the password")
            .await;
        b.press("Add a passkey").await;
        b.sees(Some("status"), "The password is not correct.").await;
        b.sees(None, "You have no passkeys yet.").await;
    })
    .await;
}
