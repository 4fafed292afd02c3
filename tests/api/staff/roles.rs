//! Changing roles, and what a new role does at once.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::jwt::claims;
use crate::helpers::{set_role, staff_app, user_path};

use super::refreshed;

#[tokio::test(flavor = "multi_thread")]
async fn promotion_and_demotion_show_in_the_next_refreshed_token_and_in_me() {
    let s = staff_app().await;
    let id = s.user.user_id.clone();
    let mut tokens = s.user.clone();
    assert_eq!(claims(&tokens.access)["role"], "user");

    for (role, is_admin) in [
        ("sub_admin", false),
        ("admin", true),
        ("sub_admin", false),
        ("user", false),
    ] {
        let reply = set_role(&s.app, &s.admin.access, &id, role).await;
        assert_eq!(reply.status, StatusCode::OK, "{role}: {}", reply.body);
        assert_eq!(reply.body["role"], role);
        assert_eq!(reply.body["is_admin"], is_admin);

        tokens = refreshed(&s.app, &tokens).await;

        let claims = claims(&tokens.access);
        assert_eq!(claims["role"], role);
        assert_eq!(claims["is_admin"], is_admin);
        let me = s.app.api().get_me(&tokens.access).await;
        assert_eq!(me.body["role"], role);
        assert_eq!(me.body["is_admin"], is_admin);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_promoted_user_gains_and_a_demoted_admin_loses_staff_powers_at_once() {
    let s = staff_app().await;
    let second = s
        .app
        .signed_in_as(&s.admin.access, "second@example.com", "admin")
        .await;

    let promoted = set_role(&s.app, &s.admin.access, &s.user.user_id, "admin").await;
    let as_admin = s.app.api().list_audit_events(&s.user.access, "").await;
    let demoted = set_role(&s.app, &s.admin.access, &second.user_id, "user").await;
    let as_user = s.app.api().list_users(&second.access, "").await;

    assert_eq!(promoted.status, StatusCode::OK, "{}", promoted.body);
    assert_eq!(
        as_admin.status,
        StatusCode::OK,
        "the role is read on every request"
    );
    assert_eq!(demoted.status, StatusCode::OK, "{}", demoted.body);
    as_user.assert_problem(403, "forbidden");
}

#[tokio::test(flavor = "multi_thread")]
async fn setting_an_unknown_role_is_422_validation_failed() {
    let s = staff_app().await;

    let unknown = set_role(&s.app, &s.admin.access, &s.user.user_id, "superuser").await;
    let missing = s
        .app
        .request(
            Method::PUT,
            &format!("{}/role", user_path(&s.user.user_id)),
            Some(&s.admin.access),
            Some(json!({})),
        )
        .await;
    let extra = s
        .app
        .request(
            Method::PUT,
            &format!("{}/role", user_path(&s.user.user_id)),
            Some(&s.admin.access),
            Some(json!({ "role": "admin", "is_admin": true })),
        )
        .await;

    for reply in [&unknown, &missing, &extra] {
        reply.assert_problem(422, "validation_failed");
    }
    assert!(unknown.field_errors().iter().any(|(f, _)| f == "role"));
    assert!(missing.field_errors().iter().any(|(f, _)| f == "role"));
    let user = s
        .app
        .api()
        .admin_get_user(&s.admin.access, &s.user.user_id)
        .await;
    assert_eq!(user.body["role"], "user");
}
