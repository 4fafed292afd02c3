//! Another user's sessions, seen and revoked by staff.

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::refreshed;
use crate::helpers::{staff_app, user_path};

#[tokio::test(flavor = "multi_thread")]
async fn staff_see_a_users_live_sessions() {
    let s = staff_app().await;
    let second = s.app.logged_in("user@example.com").await;
    let third = s.app.logged_in("user@example.com").await;
    let logout = s
        .app
        .request(
            Method::POST,
            "/api/v1/auth/logout",
            Some(&third.access),
            None,
        )
        .await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);
    refreshed(&s.app, &second).await;
    let path = format!("{}/sessions", user_path(&s.user.user_id));

    let by_admin = s.app.get(&path, &s.admin.access).await;
    let by_sub_admin = s.app.get(&path, &s.sub_admin.access).await;

    assert_eq!(by_admin.status, StatusCode::OK, "{}", by_admin.body);
    assert_eq!(by_sub_admin.status, StatusCode::OK, "{}", by_sub_admin.body);
    let sessions = by_admin.body.as_array().cloned().unwrap_or_default();
    let mut ids: Vec<&str> = sessions.iter().filter_map(|x| x["id"].as_str()).collect();
    ids.sort_unstable();
    let mut live = vec![s.user.session_id.as_str(), second.session_id.as_str()];
    live.sort_unstable();
    assert_eq!(ids, live, "only the live sessions: {}", by_admin.body);
    for session in &sessions {
        assert!(session["created_at"].is_string() && session["expires_at"].is_string());
        assert_eq!(session["ip"], "127.0.0.1");
        assert!(session.get("user_agent").is_some() && session.get("last_refreshed_at").is_some());
        assert_eq!(
            session["current"], false,
            "none is the caller's own session"
        );
        assert!(!session.to_string().contains("eyJ"), "no tokens: {session}");
    }
    let refreshed_one = sessions
        .iter()
        .find(|x| x["id"] == second.session_id.as_str());
    assert!(refreshed_one.is_some_and(|x| x["last_refreshed_at"].is_string()));
    assert_eq!(by_sub_admin.body.as_array().map(Vec::len), Some(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn revoking_a_users_sessions_kills_every_token_at_once() {
    let s = staff_app().await;
    let second = s.app.logged_in("user@example.com").await;
    let path = format!("{}/sessions", user_path(&s.user.user_id));

    let reply = s
        .app
        .request(Method::DELETE, &path, Some(&s.sub_admin.access), None)
        .await;

    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    for tokens in [&s.user, &second] {
        s.app
            .api()
            .get_me(&tokens.access)
            .await
            .assert_problem(401, "session_revoked");
        s.app
            .refresh(&tokens.refresh)
            .await
            .assert_problem(401, "session_revoked");
    }
    assert_eq!(s.app.get(&path, &s.admin.access).await.body, json!([]));
    let user = s
        .app
        .api()
        .admin_get_user(&s.admin.access, &s.user.user_id)
        .await;
    assert_eq!(
        user.body["is_active"], true,
        "revoking sessions is not deactivating"
    );
    let again = s.app.logged_in("user@example.com").await;
    assert_eq!(
        s.app.api().get_me(&again.access).await.status,
        StatusCode::OK
    );
    assert_eq!(
        s.app.api().list_users(&s.sub_admin.access, "").await.status,
        StatusCode::OK,
        "the staff member's own session is untouched"
    );
}
