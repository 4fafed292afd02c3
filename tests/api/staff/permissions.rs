//! Who may call each staff endpoint, and on whom.

use reqwest::{Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

use super::{USERS, assert_outcome, patch_user};
use crate::helpers::{ADMIN_EMAIL, PASSWORD, StaffApp, id_of, staff_app, user_path};

#[tokio::test(flavor = "multi_thread")]
async fn every_staff_endpoint_answers_each_role_as_the_contract_says() {
    let StaffApp {
        app,
        admin,
        sub_admin,
        user,
    } = staff_app().await;
    let target = |email: &'static str| {
        let (app, admin) = (&app, &admin);
        async move { id_of(&app.create_user(&admin.access, email, "user").await) }
    };
    let viewed = target("viewed@example.com").await;
    let toggled = target("toggled@example.com").await;
    let edited = target("edited@example.com").await;
    let promoted = target("promoted@example.com").await;
    let deleted = target("deleted@example.com").await;
    let with_sessions = target("sessions@example.com").await;
    app.logged_in("sessions@example.com").await;
    let created = json!({ "email": "new@example.com", "password": PASSWORD });
    // (method, path, body, sub_admin's status, admin's status); the admin calls last.
    let cases = [
        (Method::GET, USERS.to_owned(), None, 200, 200),
        (Method::POST, USERS.to_owned(), Some(created), 403, 201),
        (Method::GET, user_path(&viewed), None, 200, 200),
        (
            Method::PATCH,
            user_path(&toggled),
            Some(json!({ "is_active": false })),
            200,
            200,
        ),
        (
            Method::PATCH,
            user_path(&edited),
            Some(json!({ "first_name": "Edited" })),
            403,
            200,
        ),
        (
            Method::PUT,
            format!("{}/role", user_path(&promoted)),
            Some(json!({ "role": "sub_admin" })),
            403,
            200,
        ),
        (Method::DELETE, user_path(&deleted), None, 403, 204),
        (
            Method::GET,
            format!("{}/sessions", user_path(&with_sessions)),
            None,
            200,
            200,
        ),
        (
            Method::DELETE,
            format!("{}/sessions", user_path(&with_sessions)),
            None,
            204,
            204,
        ),
        (
            Method::GET,
            "/api/v1/admin/audit-events".to_owned(),
            None,
            403,
            200,
        ),
    ];

    for (method, path, body, by_sub_admin, by_admin) in cases {
        let what = format!("{method} {path}");
        let call = |token| app.request(method.clone(), &path, token, body.clone());
        call(None).await.assert_problem(401, "unauthenticated");
        call(Some(user.access.as_str()))
            .await
            .assert_problem(403, "forbidden");
        let by = call(Some(sub_admin.access.as_str())).await;
        assert_outcome(&by, by_sub_admin, &format!("sub_admin {what}"));
        let by = call(Some(admin.access.as_str())).await;
        assert_outcome(&by, by_admin, &format!("admin {what}"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_user_id_is_404_for_staff_allowed_to_call_the_endpoint() {
    let s = staff_app().await;
    let unknown = user_path(&Uuid::now_v7().to_string());
    let sessions = format!("{unknown}/sessions");
    let role = format!("{unknown}/role");
    let is_active = Some(json!({ "is_active": false }));

    let for_admin = [
        (Method::GET, unknown.clone(), None),
        (
            Method::PATCH,
            unknown.clone(),
            Some(json!({ "first_name": "Nobody" })),
        ),
        (Method::PATCH, unknown.clone(), is_active.clone()),
        (Method::PUT, role, Some(json!({ "role": "admin" }))),
        (Method::DELETE, unknown.clone(), None),
        (Method::GET, sessions.clone(), None),
        (Method::DELETE, sessions.clone(), None),
    ];
    let for_sub_admin = [
        (Method::GET, unknown.clone(), None),
        (Method::PATCH, unknown, is_active),
        (Method::GET, sessions.clone(), None),
        (Method::DELETE, sessions, None),
    ];

    for (method, path, body) in for_admin {
        s.app
            .request(method, &path, Some(&s.admin.access), body)
            .await
            .assert_problem(404, "not_found");
    }
    for (method, path, body) in for_sub_admin {
        s.app
            .request(method, &path, Some(&s.sub_admin.access), body)
            .await
            .assert_problem(404, "not_found");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sub_admin_acting_on_a_sub_admin_or_an_admin_is_403_and_changes_nothing() {
    let s = staff_app().await;
    let app = &s.app;
    let other = app
        .signed_in_as(&s.admin.access, "sub2@example.com", "sub_admin")
        .await;

    for target in [&other, &s.admin, &s.sub_admin] {
        let id = &target.user_id;
        let sessions = format!("{}/sessions", user_path(id));
        patch_user(app, &s.sub_admin.access, id, json!({ "is_active": false }))
            .await
            .assert_problem(403, "forbidden");
        app.get(&sessions, &s.sub_admin.access)
            .await
            .assert_problem(403, "forbidden");
        app.request(Method::DELETE, &sessions, Some(&s.sub_admin.access), None)
            .await
            .assert_problem(403, "forbidden");
    }

    for target in [&other, &s.admin, &s.sub_admin] {
        let me = app.api().get_me(&target.access).await;
        assert_eq!(me.status, StatusCode::OK, "{}", me.body);
        assert_eq!(me.body["is_active"], true);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sub_admin_may_view_any_user_but_only_toggle_is_active_of_a_plain_user() {
    let s = staff_app().await;
    let app = &s.app;
    let user_id = &s.user.user_id;

    // Reading is not acting: the list shows every account to staff, and so does one by id.
    let admin_seen = app
        .api()
        .admin_get_user(&s.sub_admin.access, &s.admin.user_id)
        .await;
    let other_fields = [
        json!({ "first_name": "Mallory" }),
        json!({ "email": "mallory@example.com" }),
        json!({ "username": "mallory" }),
        json!({ "is_active": false, "last_name": "Mallory" }),
    ];
    for body in other_fields {
        patch_user(app, &s.sub_admin.access, user_id, body)
            .await
            .assert_problem(403, "forbidden");
    }
    let untouched = app.api().admin_get_user(&s.admin.access, user_id).await;
    let deactivated = patch_user(
        app,
        &s.sub_admin.access,
        user_id,
        json!({ "is_active": false }),
    )
    .await;
    let token_after = app.api().get_me(&s.user.access).await;
    let reactivated = patch_user(
        app,
        &s.sub_admin.access,
        user_id,
        json!({ "is_active": true }),
    )
    .await;

    assert_eq!(admin_seen.status, StatusCode::OK, "{}", admin_seen.body);
    assert_eq!(admin_seen.body["email"], ADMIN_EMAIL);
    assert_eq!(
        untouched.body["is_active"], true,
        "a refused call changes nothing"
    );
    assert!(untouched.body["first_name"].is_null() && untouched.body["last_name"].is_null());
    assert_eq!(untouched.body["email"], "user@example.com");
    assert_eq!(deactivated.status, StatusCode::OK, "{}", deactivated.body);
    assert_eq!(deactivated.body["is_active"], false);
    token_after.assert_problem(401, "session_revoked");
    assert_eq!(reactivated.status, StatusCode::OK, "{}", reactivated.body);
    assert_eq!(reactivated.body["is_active"], true);
    assert_eq!(
        app.login("user@example.com", PASSWORD).await.status,
        StatusCode::OK
    );
}
