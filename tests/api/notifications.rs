//! Security notifications, received by the test SMTP server: each says what happened, when
//! and from where, goes to the right address, and never fails the request. Notices are
//! delivered in the order they were queued (one delivery task), so "no mail for X" is
//! shown by the next mail being the one queued after X.

use doorman::config::Config;
use doorman::service::notify::parse_kinds;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::mail::{MAIL_WAIT, Mail, MailServer, spawn_with_mail};
use crate::helpers::{
    ADMIN_EMAIL, PASSWORD, Reply, TestApp, id_of, user_path, with_bootstrap_admin,
};

const NEW_PASSWORD: &str = "a brand new passphrase";
const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
const SAFARI: &str =
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) Version/18.1 Safari/604.1";

fn notify(config: &mut Config, kinds: &str) {
    config.notify = parse_kinds(kinds).expect("valid notification kinds");
}

async fn login_from(app: &TestApp, email: &str, password: &str, user_agent: &str) -> Reply {
    app.post_with_headers(
        "/api/v1/auth/login",
        &[("User-Agent", user_agent)],
        json!({ "email": email, "password": password }),
    )
    .await
}

/// Signs in from `user_agent`; returns the access token.
async fn signed_in_from(app: &TestApp, email: &str, user_agent: &str) -> String {
    let reply = login_from(app, email, PASSWORD, user_agent).await;
    assert_eq!(reply.status, StatusCode::OK, "login: {}", reply.body);
    reply.body["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no access token in {}", reply.body))
        .to_owned()
}

async fn change_password(app: &TestApp, token: &str, user_agent: &str) {
    let reply = app
        .request_with_headers(
            Method::PUT,
            "/api/v1/users/me/password",
            Some(token),
            &[("User-Agent", user_agent)],
            Some(json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD })),
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
}

/// Asserts `mail` is the notice with this subject to `to`, saying when and from where.
#[track_caller]
fn assert_notice(mail: &Mail, to: &str, subject: &str, user_agent: &str) -> String {
    let text = mail.text().replace("\r\n", "\n");
    assert_eq!(mail.recipients, vec![to.to_owned()], "{text}");
    assert_eq!(mail.header("Subject").as_deref(), Some(subject), "{text}");
    assert!(text.contains("When: "), "{text}");
    assert!(text.contains(" UTC"), "{text}");
    assert!(text.contains("IP address 127.0.0.1"), "{text}");
    assert!(text.contains(user_agent), "{text}");
    assert!(
        text.contains("/forgot-password"),
        "how to secure it: {text}"
    );
    text
}

#[tokio::test(flavor = "multi_thread")]
async fn changing_the_password_mails_the_account_holder_when_and_from_where() {
    let (app, mail) = spawn_with_mail(|c| c.public_url = "https://id.example.test".into()).await;
    app.register("ada@example.com").await;
    let token = signed_in_from(&app, "ada@example.com", FIREFOX).await;

    change_password(&app, &token, SAFARI).await;

    let notice = mail.next_mail(MAIL_WAIT).await;
    let text = assert_notice(
        &notice,
        "ada@example.com",
        "Your password was changed",
        SAFARI,
    );
    assert!(
        text.contains("https://id.example.test/forgot-password"),
        "{text}"
    );
    assert!(
        text.contains("password of your account was changed"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_reset_mails_a_notice_after_the_reset_link() {
    let (app, mail) = spawn_with_mail(|_| {}).await;
    app.register("ada@example.com").await;
    let forgot = app
        .post(
            "/api/v1/auth/password/forgot",
            json!({ "email": "ada@example.com" }),
        )
        .await;
    assert_eq!(forgot.status, StatusCode::ACCEPTED);
    let token = mail
        .next_mail(MAIL_WAIT)
        .await
        .reset_token(&app.config.public_url);

    let reset = app
        .post_with_headers(
            "/api/v1/auth/password/reset",
            &[("User-Agent", FIREFOX)],
            json!({ "token": token, "new_password": NEW_PASSWORD }),
        )
        .await;

    assert_eq!(reset.status, StatusCode::NO_CONTENT, "{}", reset.body);
    let notice = mail.next_mail(MAIL_WAIT).await;
    assert_notice(
        &notice,
        "ada@example.com",
        "Your password was reset",
        FIREFOX,
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_email_changed_by_staff_is_mailed_to_the_old_address() {
    let mail = MailServer::start().await;
    let url = mail.url();
    let app = TestApp::spawn_with(|c| {
        with_bootstrap_admin(c);
        c.smtp_url = Some(url.into());
    })
    .await;
    let admin = signed_in_from(&app, ADMIN_EMAIL, FIREFOX).await;
    let user = app.create_user(&admin, "ada@example.com", "user").await;

    let reply = app
        .request_with_headers(
            Method::PATCH,
            &user_path(&id_of(&user)),
            Some(&admin),
            &[("User-Agent", FIREFOX)],
            Some(json!({ "email": "ada@new.example.com" })),
        )
        .await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let notice = mail.next_mail(MAIL_WAIT).await;
    let text = assert_notice(
        &notice,
        "ada@example.com",
        "Your account's email address was changed",
        FIREFOX,
    );
    assert!(text.contains("ada@new.example.com"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sign_in_from_a_new_device_mails_and_a_repeat_from_the_same_one_does_not() {
    let (app, mail) = spawn_with_mail(|_| {}).await;
    app.register("ada@example.com").await;

    signed_in_from(&app, "ada@example.com", FIREFOX).await; // the account's first device
    signed_in_from(&app, "ada@example.com", FIREFOX).await; // the same browser again
    let updated = FIREFOX.replace("133.0", "134.0");
    signed_in_from(&app, "ada@example.com", &updated).await; // after a browser update
    signed_in_from(&app, "ada@example.com", SAFARI).await; // a new device

    let notice = mail.next_mail(MAIL_WAIT).await;
    let text = assert_notice(
        &notice,
        "ada@example.com",
        "New sign-in to your account",
        SAFARI,
    );
    assert!(text.contains("not seen on it before"), "{text}");

    let token = signed_in_from(&app, "ada@example.com", SAFARI).await; // known now
    signed_in_from(&app, "ada@example.com", FIREFOX).await;
    change_password(&app, &token, SAFARI).await;
    let next = mail.next_mail(MAIL_WAIT).await;
    assert_eq!(
        next.header("Subject").as_deref(),
        Some("Your password was changed"),
        "a repeat sign-in mailed: {}",
        next.text()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_fifth_wrong_password_in_a_row_mails_that_the_account_is_locked() {
    let (app, mail) = spawn_with_mail(|_| {}).await;
    app.register("ada@example.com").await;

    for _ in 0..5 {
        let reply = login_from(&app, "ada@example.com", "not the password", FIREFOX).await;
        reply.assert_problem(401, "invalid_credentials");
    }

    let notice = mail.next_mail(MAIL_WAIT).await;
    let text = assert_notice(
        &notice,
        "ada@example.com",
        "Your account was locked after failed sign-ins",
        FIREFOX,
    );
    assert!(text.contains("locked until"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_password_for_an_unknown_address_mails_nobody() {
    let (app, mail) = spawn_with_mail(|_| {}).await;
    app.register("ada@example.com").await;

    for _ in 0..5 {
        let reply = login_from(&app, "bob@example.com", "not the password", FIREFOX).await;
        reply.assert_problem(401, "invalid_credentials");
    }
    let token = signed_in_from(&app, "ada@example.com", FIREFOX).await;
    change_password(&app, &token, FIREFOX).await;

    let next = mail.next_mail(MAIL_WAIT).await;
    assert_eq!(next.recipients, vec!["ada@example.com".to_owned()]);
    assert_eq!(
        next.header("Subject").as_deref(),
        Some("Your password was changed")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn notify_with_a_list_mails_only_the_kinds_it_names() {
    let (app, mail) = spawn_with_mail(|c| notify(c, "new_device, account_locked")).await;
    app.register("ada@example.com").await;
    let token = signed_in_from(&app, "ada@example.com", FIREFOX).await;

    change_password(&app, &token, FIREFOX).await; // not in the list
    let reply = login_from(&app, "ada@example.com", NEW_PASSWORD, SAFARI).await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let next = mail.next_mail(MAIL_WAIT).await;
    assert_eq!(
        next.header("Subject").as_deref(),
        Some("New sign-in to your account"),
        "{}",
        next.text()
    );
    let metrics = metrics(&app).await;
    assert!(
        metrics.contains(
            r#"doorman_notifications_total{kind="password_changed",outcome="suppressed"} 1"#
        ),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn notify_none_mails_nothing_and_counts_what_it_suppressed() {
    let (app, mail) = spawn_with_mail(|c| notify(c, "none")).await;
    app.register("ada@example.com").await;
    signed_in_from(&app, "ada@example.com", FIREFOX).await;
    let token = signed_in_from(&app, "ada@example.com", SAFARI).await;

    change_password(&app, &token, SAFARI).await;

    let metrics = metrics(&app).await;
    for kind in ["new_device", "password_changed"] {
        let series =
            format!(r#"doorman_notifications_total{{kind="{kind}",outcome="suppressed"}} 1"#);
        assert!(metrics.contains(&series), "{series} in\n{metrics}");
    }
    assert!(!metrics.contains(r#"outcome="queued""#), "{metrics}");
    assert!(mail.received().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mail_server_that_refuses_fails_no_request_and_the_failure_is_counted() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("binding a port");
    let port = closed.local_addr().expect("the bound port").port();
    drop(closed);
    let app =
        TestApp::spawn_with(|c| c.smtp_url = Some(format!("smtp://127.0.0.1:{port}").into())).await;
    app.register("ada@example.com").await;
    signed_in_from(&app, "ada@example.com", FIREFOX).await;
    let token = signed_in_from(&app, "ada@example.com", SAFARI).await; // a new device

    change_password(&app, &token, SAFARI).await;

    let reply = login_from(&app, "ada@example.com", NEW_PASSWORD, SAFARI).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let series = r#"doorman_notifications_total{kind="password_changed",outcome="failed"} 1"#;
    let counted = tokio::time::timeout(MAIL_WAIT, async {
        loop {
            if metrics(&app).await.contains(series) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(counted.is_ok(), "{series} in\n{}", metrics(&app).await);
}

async fn metrics(app: &TestApp) -> String {
    let reply = app.request(Method::GET, "/metrics", None, None).await;
    reply.body.as_str().unwrap_or_default().to_owned()
}
