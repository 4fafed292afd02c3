use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::jwt::claims;
use crate::helpers::{PASSWORD, TestApp, Tokens};

#[tokio::test(flavor = "multi_thread")]
async fn login_works_with_email_username_or_phone_case_insensitively() {
    let app = TestApp::spawn().await;
    let body = json!({ "email": "ada@example.com", "password": PASSWORD, "username": "AdaL", "phone_number": "+4915112345678" });
    assert_eq!(
        app.post("/api/v1/users", body).await.status,
        StatusCode::CREATED
    );

    for login in [
        json!({ "email": "ADA@Example.com", "password": PASSWORD }),
        json!({ "username": "adal", "password": PASSWORD }),
        json!({ "phone_number": "+4915112345678", "password": PASSWORD }),
    ] {
        let reply = app.post("/api/v1/auth/login", login.clone()).await;
        assert_eq!(reply.status, StatusCode::OK, "{login}: {}", reply.body);
        assert_eq!(reply.body["token_type"], "Bearer");
        assert_eq!(reply.body["expires_in"], 900);
        assert_eq!(reply.body["refresh_expires_in"], 30 * 86_400);
        assert_eq!(reply.body["user"]["email"], "ada@example.com");
        assert!(reply.body["user"]["last_login_at"].is_string());
        assert_eq!(reply.header("cache-control"), Some("no-store"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_password_and_unknown_user_are_the_same_401_invalid_credentials() {
    let app = TestApp::spawn().await;
    app.register("ada@example.com").await;

    let wrong = app
        .login("ada@example.com", "not the password at all")
        .await;
    let unknown = app.login("nobody@example.com", PASSWORD).await;

    wrong.assert_problem(401, "invalid_credentials");
    unknown.assert_problem(401, "invalid_credentials");
    assert_eq!(wrong.body["detail"], unknown.body["detail"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn login_needs_exactly_one_login_name() {
    let app = TestApp::spawn().await;

    let none = app
        .post("/api/v1/auth/login", json!({ "password": PASSWORD }))
        .await;
    let two = app
        .post(
            "/api/v1/auth/login",
            json!({ "email": "a@example.com", "username": "a", "password": PASSWORD }),
        )
        .await;

    none.assert_problem(422, "validation_failed");
    two.assert_problem(422, "validation_failed");
}

#[tokio::test(flavor = "multi_thread")]
async fn me_returns_the_signed_in_user_and_needs_a_bearer_token() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;

    let me = app.api().get_me(&tokens.access).await;
    let anonymous = app
        .request(Method::GET, "/api/v1/users/me", None, None)
        .await;
    let garbage = app.api().get_me("not-a-jwt").await;

    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["id"], tokens.user_id.as_str());
    anonymous.assert_problem(401, "unauthenticated");
    garbage.assert_problem(401, "unauthenticated");
}

#[tokio::test(flavor = "multi_thread")]
async fn refresh_rotates_the_refresh_token_and_keeps_the_session() {
    let app = TestApp::spawn().await;
    let first = app.signed_in("ada@example.com").await;

    let reply = app.refresh(&first.refresh).await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let second = Tokens::from(&reply.body);
    assert_eq!(second.session_id, first.session_id);
    assert_ne!(second.refresh, first.refresh);
    assert_ne!(second.access, first.access);
    assert_eq!(
        app.api().get_me(&second.access).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.refresh(&second.refresh).await.status,
        StatusCode::OK,
        "the new refresh token works once"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn no_refresh_token_outlives_its_session() {
    let app = TestApp::spawn_with(|c| c.session_ttl = std::time::Duration::from_secs(3600)).await;
    let first = app.signed_in("ada@example.com").await;
    let session_end = claims(&first.refresh)["exp"].as_i64();

    let reply = app.refresh(&first.refresh).await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let second = Tokens::from(&reply.body);
    assert_eq!(claims(&second.refresh)["exp"].as_i64(), session_end);
    let left = reply.body["refresh_expires_in"]
        .as_i64()
        .unwrap_or_default();
    assert!((3590..=3600).contains(&left), "{left}");
    assert_eq!(
        app.refresh(&second.refresh).await.status,
        StatusCode::OK,
        "a session near its end still rotates"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reused_refresh_token_inside_the_grace_interval_returns_the_current_one() {
    let app = TestApp::spawn().await;
    let first = app.signed_in("ada@example.com").await;
    let rotated = Tokens::from(&app.refresh(&first.refresh).await.body);

    let again = app.refresh(&first.refresh).await;

    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    let converged = Tokens::from(&again.body);
    assert_eq!(converged.session_id, first.session_id);
    assert_eq!(
        claims(&converged.refresh)["jti"],
        claims(&rotated.refresh)["jti"],
        "the answer carries the session's current refresh token"
    );
    assert_eq!(
        app.api().get_me(&converged.access).await.status,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reused_refresh_token_after_the_grace_interval_revokes_the_session() {
    let app = TestApp::spawn_with(|c| c.refresh_reuse_grace = std::time::Duration::ZERO).await;
    let first = app.signed_in("ada@example.com").await;
    let rotated = Tokens::from(&app.refresh(&first.refresh).await.body);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;

    let stolen = app.refresh(&first.refresh).await;

    stolen.assert_problem(401, "refresh_token_reused");
    app.refresh(&rotated.refresh)
        .await
        .assert_problem(401, "session_revoked");
    app.api()
        .get_me(&rotated.access)
        .await
        .assert_problem(401, "session_revoked");
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_revokes_the_session_for_access_and_refresh_tokens() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;
    let other_device = Tokens::from(&app.login("ada@example.com", PASSWORD).await.body);

    let reply = app
        .request(
            Method::POST,
            "/api/v1/auth/logout",
            Some(&tokens.access),
            None,
        )
        .await;

    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    app.assert_session_revoked(&tokens).await;
    assert_eq!(
        app.api().get_me(&other_device.access).await.status,
        StatusCode::OK,
        "other sessions live on"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn introspection_reports_live_tokens_and_only_active_false_otherwise() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;

    let access = app
        .post("/api/v1/auth/introspect", json!({ "token": tokens.access }))
        .await;
    let refresh = app
        .post(
            "/api/v1/auth/introspect",
            json!({ "token": tokens.refresh }),
        )
        .await;
    let garbage = app
        .post("/api/v1/auth/introspect", json!({ "token": "nope" }))
        .await;
    app.request(
        Method::POST,
        "/api/v1/auth/logout",
        Some(&tokens.access),
        None,
    )
    .await;
    let after_logout = app
        .post("/api/v1/auth/introspect", json!({ "token": tokens.access }))
        .await;

    assert_eq!(access.status, StatusCode::OK);
    assert_eq!(access.body["active"], true);
    assert_eq!(access.body["sub"], tokens.user_id.as_str());
    assert_eq!(access.body["sid"], tokens.session_id.as_str());
    assert_eq!(access.body["typ"], "access");
    assert_eq!(access.body["role"], "user");
    assert!(
        access.body["exp"].is_i64()
            && access.body["iat"].is_i64()
            && access.body["jti"].is_string()
    );
    assert_eq!(refresh.body["active"], true);
    assert_eq!(refresh.body["typ"], "refresh");
    assert_eq!(garbage.body, json!({ "active": false }));
    assert_eq!(after_logout.body, json!({ "active": false }));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stored_hash_with_outdated_parameters_is_rehashed_on_login() {
    let app = TestApp::spawn().await;
    app.register("ada@example.com").await;
    let hash = "SELECT password_hash AS value FROM credentials WHERE is_current";
    assert!(app.query_text(hash).await[0].contains("m=1024,t=1,p=1"));
    let stronger = app.replica(|c| c.argon2_memory_kib = 2048).await;

    assert_eq!(
        stronger.login("ada@example.com", PASSWORD).await.status,
        StatusCode::OK
    );

    let stored = app.query_text(hash).await;
    assert_eq!(
        stored.len(),
        1,
        "a re-hash replaces the current row, it adds no history"
    );
    assert!(
        stored[0].starts_with("$argon2id$") && stored[0].contains("m=2048,t=1,p=1"),
        "{}",
        stored[0]
    );
    assert_eq!(
        stronger.login("ada@example.com", PASSWORD).await.status,
        StatusCode::OK
    );
}
