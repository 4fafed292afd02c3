//! The caller's sessions: listing and revoking them.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::{login_from, sessions};
use crate::helpers::{PASSWORD, TestApp, Tokens, timestamp};

#[tokio::test(flavor = "multi_thread")]
async fn sessions_lists_the_live_ones_with_the_callers_marked_current() {
    let app = TestApp::spawn().await;
    app.register("ada@example.com").await;
    let laptop = login_from(&app, "ada@example.com", "laptop-browser/2.0").await;
    let phone = login_from(&app, "ada@example.com", "phone-app/1.0").await;
    let gone = login_from(&app, "ada@example.com", "old-tablet/0.9").await;
    let logout = app
        .request(
            Method::POST,
            "/api/v1/auth/logout",
            Some(&gone.access),
            None,
        )
        .await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);

    let listed = sessions(&app, &laptop.access).await;

    let mut ids: Vec<&str> = listed.iter().filter_map(|s| s["id"].as_str()).collect();
    ids.sort_unstable();
    let mut expected = vec![laptop.session_id.as_str(), phone.session_id.as_str()];
    expected.sort_unstable();
    assert_eq!(ids, expected, "the logged-out session is not listed");
    for session in &listed {
        let mut keys: Vec<&str> = session
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        keys.sort_unstable();
        assert_eq!(
            keys,
            vec![
                "created_at",
                "current",
                "expires_at",
                "id",
                "ip",
                "last_refreshed_at",
                "user_agent"
            ]
        );
        assert_eq!(session["ip"], "127.0.0.1");
        assert!(
            session["last_refreshed_at"].is_null(),
            "never refreshed yet"
        );
        assert!(timestamp(&session["expires_at"]) > timestamp(&session["created_at"]));
        let is_laptop = session["id"] == laptop.session_id.as_str();
        assert_eq!(session["current"], is_laptop);
        assert_eq!(
            session["user_agent"],
            if is_laptop {
                "laptop-browser/2.0"
            } else {
                "phone-app/1.0"
            }
        );
    }
    let from_phone = sessions(&app, &phone.access).await;
    let current: Vec<&Value> = from_phone.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["id"], phone.session_id.as_str());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refresh_sets_last_refreshed_at() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;
    let before = sessions(&app, &tokens.access).await;

    let refreshed = app.refresh(&tokens.refresh).await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.body);
    let after = sessions(&app, &tokens.access).await;

    assert_eq!(before.len(), 1);
    assert!(before[0]["last_refreshed_at"].is_null());
    assert_eq!(after.len(), 1);
    assert_eq!(after[0]["id"], tokens.session_id.as_str());
    assert!(timestamp(&after[0]["last_refreshed_at"]) >= timestamp(&after[0]["created_at"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_never_list_another_users_sessions() {
    let app = TestApp::spawn().await;
    let ada = app.signed_in("ada@example.com").await;
    let bob = app.signed_in("bob@example.com").await;

    let listed = sessions(&app, &ada.access).await;

    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], ada.session_id.as_str());
    assert_ne!(listed[0]["id"], bob.session_id.as_str());
}

#[tokio::test(flavor = "multi_thread")]
async fn revoking_one_session_ends_its_tokens_and_only_those() {
    let app = TestApp::spawn().await;
    let this = app.signed_in("ada@example.com").await;
    let other = Tokens::from(&app.login("ada@example.com", PASSWORD).await.body);

    let reply = app
        .request(
            Method::DELETE,
            &format!("/api/v1/users/me/sessions/{}", other.session_id),
            Some(&this.access),
            None,
        )
        .await;

    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    app.assert_session_revoked(&other).await;
    assert_eq!(app.api().get_me(&this.access).await.status, StatusCode::OK);
    let listed = sessions(&app, &this.access).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], this.session_id.as_str());
    app.request(
        Method::DELETE,
        &format!("/api/v1/users/me/sessions/{}", other.session_id),
        Some(&this.access),
        None,
    )
    .await
    .assert_problem(404, "not_found");
}

#[tokio::test(flavor = "multi_thread")]
async fn revoking_the_current_session_by_id_ends_it() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;

    let reply = app
        .request(
            Method::DELETE,
            &format!("/api/v1/users/me/sessions/{}", tokens.session_id),
            Some(&tokens.access),
            None,
        )
        .await;

    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    app.assert_session_revoked(&tokens).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn revoking_another_users_session_or_an_unknown_one_is_404_and_touches_nothing() {
    let app = TestApp::spawn().await;
    let ada = app.signed_in("ada@example.com").await;
    let bob = app.signed_in("bob@example.com").await;

    let replies = [
        format!("/api/v1/users/me/sessions/{}", bob.session_id),
        format!("/api/v1/users/me/sessions/{}", uuid::Uuid::now_v7()),
        "/api/v1/users/me/sessions/not-a-uuid".to_owned(),
    ];
    for path in &replies {
        app.request(Method::DELETE, path, Some(&ada.access), None)
            .await
            .assert_problem(404, "not_found");
    }

    assert_eq!(app.api().get_me(&bob.access).await.status, StatusCode::OK);
    assert_eq!(
        app.refresh(&bob.refresh).await.status,
        StatusCode::OK,
        "bob's session is untouched"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn revoking_all_sessions_ends_every_one_including_the_current() {
    let app = TestApp::spawn().await;
    let this = app.signed_in("ada@example.com").await;
    let other = Tokens::from(&app.login("ada@example.com", PASSWORD).await.body);
    let bob = app.signed_in("bob@example.com").await;

    let reply = app
        .request(
            Method::DELETE,
            "/api/v1/users/me/sessions",
            Some(&this.access),
            None,
        )
        .await;

    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    for tokens in [&this, &other] {
        app.assert_session_revoked(tokens).await;
    }
    assert_eq!(
        app.api().get_me(&bob.access).await.status,
        StatusCode::OK,
        "other users keep their sessions"
    );
    let fresh = Tokens::from(&app.login("ada@example.com", PASSWORD).await.body);
    assert_eq!(sessions(&app, &fresh.access).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn session_endpoints_need_a_bearer_token() {
    let app = TestApp::spawn().await;

    for method in [Method::GET, Method::DELETE] {
        app.request(method, "/api/v1/users/me/sessions", None, None)
            .await
            .assert_problem(401, "unauthenticated");
    }
}
