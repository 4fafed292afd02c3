//! `POST /api/v1/auth/token`: the OAuth 2.0 password grant (RFC 6749 §4.3) that Swagger UI's
//! Authorize dialog calls, the same sign-in as `/auth/login`.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{PASSWORD, Reply, TestApp};

const TOKEN: &str = "/api/v1/auth/token";

/// Posts `form` form-encoded to the token endpoint, with extra headers.
async fn token_with_headers(
    app: &TestApp,
    form: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> Reply {
    let mut request = app.client.post(app.url(TOKEN)).form(form);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    Reply::from(request.send().await.expect("the token request failed")).await
}

async fn token(app: &TestApp, form: &[(&str, &str)]) -> Reply {
    token_with_headers(app, form, &[]).await
}

async fn password_grant(app: &TestApp, username: &str, password: &str) -> Reply {
    token(
        app,
        &[
            ("grant_type", "password"),
            ("username", username),
            ("password", password),
        ],
    )
    .await
}

/// Asserts an RFC 6749 §5.2 error: 400, problem+json with `code` and `error` equal, a
/// description, no bearer challenge, not cached.
#[track_caller]
fn assert_oauth_error(reply: &Reply, error: &str) {
    reply.assert_problem(400, error);
    assert_eq!(reply.body["error"], error, "body: {}", reply.body);
    assert!(
        reply.body["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "body: {}",
        reply.body
    );
    assert_eq!(reply.header("www-authenticate"), None);
    assert_eq!(reply.header("cache-control"), Some("no-store"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_email_and_password_get_an_rfc_6749_token_response_whose_tokens_work() {
    let app = TestApp::spawn().await;
    app.register("ada@example.com").await;

    let reply = password_grant(&app, "Ada@Example.com", PASSWORD).await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    assert_eq!(reply.header("pragma"), Some("no-cache"));
    assert_eq!(reply.body["token_type"], "Bearer");
    assert!(reply.body["expires_in"].as_i64().is_some_and(|s| s > 0));
    assert!(
        reply.body["refresh_expires_in"]
            .as_i64()
            .is_some_and(|s| s > 0)
    );
    assert_eq!(reply.body["user"]["email"], "ada@example.com");
    let access = reply.body["access_token"].as_str().unwrap_or_default();
    let refresh = reply.body["refresh_token"].as_str().unwrap_or_default();
    let me = app.api().get_me(access).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    let sessions = app.api().list_my_sessions(access).await;
    assert_eq!(sessions.body[0]["id"], reply.body["session_id"]);
    let refreshed = app.refresh(refresh).await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.body);
    assert_eq!(refreshed.body["session_id"], reply.body["session_id"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_username_may_be_a_username_or_a_phone_number() {
    let app = TestApp::spawn().await;
    let registered = app
        .post(
            "/api/v1/users",
            json!({
                "email": "ada@example.com",
                "password": PASSWORD,
                "username": "ada.lovelace",
                "phone_number": "+4915112345678"
            }),
        )
        .await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{}",
        registered.body
    );

    for name in ["ADA.lovelace", "+4915112345678"] {
        let reply = password_grant(&app, name, PASSWORD).await;
        assert_eq!(reply.status, StatusCode::OK, "{name}: {}", reply.body);
        assert_eq!(reply.body["user"]["email"], "ada@example.com");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn client_credentials_scope_and_unknown_parameters_are_ignored_as_swagger_ui_sends_them() {
    let app = TestApp::spawn().await;
    app.register("ada@example.com").await;

    // Swagger UI's default: client id and secret (empty) as HTTP Basic.
    let basic = token_with_headers(
        &app,
        &[
            ("grant_type", "password"),
            ("username", "ada@example.com"),
            ("password", PASSWORD),
            ("scope", ""),
        ],
        &[
            ("authorization", "Basic Og=="),
            ("x-requested-with", "XMLHttpRequest"),
        ],
    )
    .await;
    let in_body = token(
        &app,
        &[
            ("grant_type", "password"),
            ("username", "ada@example.com"),
            ("password", PASSWORD),
            ("client_id", "swagger"),
            ("client_secret", "anything"),
            ("scope", "openid profile"),
        ],
    )
    .await;

    assert_eq!(basic.status, StatusCode::OK, "{}", basic.body);
    assert_eq!(in_body.status, StatusCode::OK, "{}", in_body.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_credentials_are_400_invalid_grant_whether_or_not_the_account_exists() {
    let app = TestApp::spawn().await;
    app.register("ada@example.com").await;

    let wrong_password = password_grant(&app, "ada@example.com", "not my password").await;
    let no_account = password_grant(&app, "bob@example.com", PASSWORD).await;

    assert_oauth_error(&wrong_password, "invalid_grant");
    assert_oauth_error(&no_account, "invalid_grant");
    assert_eq!(wrong_password.body, no_account.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_disabled_account_is_400_invalid_grant_after_a_correct_password() {
    let app = TestApp::spawn_with(crate::helpers::with_bootstrap_admin).await;
    let admin = app.logged_in(crate::helpers::ADMIN_EMAIL).await;
    let user = app.register("ada@example.com").await;
    let disabled = app
        .request(
            reqwest::Method::PATCH,
            &crate::helpers::user_path(&crate::helpers::id_of(&user)),
            Some(&admin.access),
            Some(json!({ "is_active": false })),
        )
        .await;
    assert_eq!(disabled.status, StatusCode::OK, "{}", disabled.body);

    let reply = password_grant(&app, "ada@example.com", PASSWORD).await;

    assert_oauth_error(&reply, "invalid_grant");
    assert_eq!(reply.body["error_description"], "the account is disabled");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_grant_type_other_than_password_is_400_unsupported_grant_type() {
    let app = TestApp::spawn().await;

    let reply = token(
        &app,
        &[("grant_type", "client_credentials"), ("client_id", "x")],
    )
    .await;

    assert_oauth_error(&reply, "unsupported_grant_type");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_empty_or_repeated_parameter_or_a_json_body_is_400_invalid_request() {
    let app = TestApp::spawn().await;
    app.register("ada@example.com").await;

    let no_grant_type = token(
        &app,
        &[("username", "ada@example.com"), ("password", PASSWORD)],
    )
    .await;
    let no_password = token(
        &app,
        &[("grant_type", "password"), ("username", "ada@example.com")],
    )
    .await;
    let empty_username = password_grant(&app, "", PASSWORD).await;
    let repeated = token(
        &app,
        &[
            ("grant_type", "password"),
            ("username", "ada@example.com"),
            ("username", "bob@example.com"),
            ("password", PASSWORD),
        ],
    )
    .await;
    let control_char = password_grant(&app, "ada\u{7}@example.com", PASSWORD).await;
    let json_body = app
        .post(
            TOKEN,
            json!({ "grant_type": "password", "username": "ada@example.com", "password": PASSWORD }),
        )
        .await;

    for (reply, mentions) in [
        (&no_grant_type, "grant_type"),
        (&no_password, "password"),
        (&empty_username, "username"),
        (&repeated, "username"),
        (&control_char, "username"),
        (&json_body, "x-www-form-urlencoded"),
    ] {
        assert_oauth_error(reply, "invalid_request");
        let description = reply.body["error_description"].as_str().unwrap_or_default();
        assert!(description.contains(mentions), "{description}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_over_64_kib_is_413() {
    let app = TestApp::spawn().await;
    let long = "a".repeat(70 * 1024);

    let reply = password_grant(&app, "ada@example.com", &long).await;

    reply.assert_problem(413, "payload_too_large");
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_here_and_at_login_count_toward_one_lockout() {
    let app = TestApp::spawn().await;
    app.register("ada@example.com").await;

    for _ in 0..3 {
        assert_oauth_error(
            &password_grant(&app, "ada@example.com", "not my password").await,
            "invalid_grant",
        );
    }
    for _ in 0..2 {
        app.login("ada@example.com", "not my password")
            .await
            .assert_problem(401, "invalid_credentials");
    }
    let at_login = app.login("ada@example.com", PASSWORD).await;
    let here = password_grant(&app, "ada@example.com", PASSWORD).await;

    at_login.assert_problem(429, "rate_limited");
    here.assert_problem(429, "rate_limited");
    assert!(here.header("retry-after").is_some());
    let audited = app
        .query_text("SELECT type AS value FROM audit_events WHERE type = 'login.failed'")
        .await;
    assert_eq!(
        audited.len(),
        5,
        "each failure is audited as a failed login"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_token_endpoint_is_limited_per_ip_like_login() {
    let app = TestApp::spawn_with(|c| {
        c.rate_limit_per_second = 1;
        c.rate_limit_burst = 2;
    })
    .await;
    app.register("ada@example.com").await; // one of the burst of 2

    let first = password_grant(&app, "ada@example.com", PASSWORD).await;
    let second = password_grant(&app, "ada@example.com", PASSWORD).await;

    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    second.assert_problem(429, "rate_limited");
    assert!(second.header("retry-after").is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_successful_grant_is_audited_as_a_login() {
    let app = TestApp::spawn().await;
    app.register("ada@example.com").await;

    let reply = password_grant(&app, "ada@example.com", PASSWORD).await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let audited = app
        .query_text("SELECT type AS value FROM audit_events WHERE type = 'login.succeeded'")
        .await;
    assert_eq!(audited.len(), 1);
}
