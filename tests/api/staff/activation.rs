//! Deactivating and reactivating users.

use reqwest::StatusCode;
use serde_json::json;

use super::patch_user;
use crate::helpers::{PASSWORD, staff_app, user_path};

#[tokio::test(flavor = "multi_thread")]
async fn deactivating_a_user_revokes_its_sessions_at_once() {
    let s = staff_app().await;
    let second_device = s.app.logged_in("user@example.com").await;

    let reply = patch_user(
        &s.app,
        &s.admin.access,
        &s.user.user_id,
        json!({ "is_active": false }),
    )
    .await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["is_active"], false);
    for tokens in [&s.user, &second_device] {
        s.app
            .api()
            .get_me(&tokens.access)
            .await
            .assert_problem(401, "session_revoked");
        let refreshed = s.app.refresh(&tokens.refresh).await;
        assert_eq!(
            refreshed.status,
            StatusCode::UNAUTHORIZED,
            "{}",
            refreshed.body
        );
    }
    let introspected = s
        .app
        .api()
        .introspect(&json!({ "token": s.user.access }))
        .await;
    assert_eq!(introspected.body, json!({ "active": false }));
    let sessions = s
        .app
        .get(
            &format!("{}/sessions", user_path(&s.user.user_id)),
            &s.admin.access,
        )
        .await;
    assert_eq!(sessions.body, json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deactivated_user_gets_403_account_disabled_only_after_a_correct_password() {
    let s = staff_app().await;
    patch_user(
        &s.app,
        &s.admin.access,
        &s.user.user_id,
        json!({ "is_active": false }),
    )
    .await;

    let right = s.app.login("user@example.com", PASSWORD).await;
    let wrong = s
        .app
        .login("user@example.com", "not the password at all")
        .await;

    right.assert_problem(403, "account_disabled");
    wrong.assert_problem(401, "invalid_credentials");
}

#[tokio::test(flavor = "multi_thread")]
async fn reactivating_a_user_lets_it_log_in_again() {
    let s = staff_app().await;
    let id = &s.user.user_id;
    patch_user(&s.app, &s.admin.access, id, json!({ "is_active": false })).await;

    let reply = patch_user(&s.app, &s.admin.access, id, json!({ "is_active": true })).await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["is_active"], true);
    let tokens = s.app.logged_in("user@example.com").await;
    assert_eq!(
        s.app.api().get_me(&tokens.access).await.status,
        StatusCode::OK
    );
    s.app
        .api()
        .get_me(&s.user.access)
        .await
        .assert_problem(401, "session_revoked");
}
