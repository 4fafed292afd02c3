//! Creating accounts as staff, and with registration closed.

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{USERS, emails, list};
use crate::helpers::{ADMIN_EMAIL, PASSWORD, id_of, staff_app, staff_app_with};

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_creates_an_account_with_a_role_and_status_and_gets_201_and_its_location() {
    let s = staff_app().await;

    let reply = s
        .app
        .request(
            Method::POST,
            USERS,
            Some(&s.admin.access),
            Some(json!({
                "email": " Grace@Example.COM ", "password": PASSWORD, "username": "grace.h",
                "first_name": "Grace", "last_name": "Hopper", "phone_number": "+15550002222",
                "date_of_birth": "1906-12-09", "role": "sub_admin", "is_active": false
            })),
        )
        .await;
    let plain = s
        .app
        .request(
            Method::POST,
            USERS,
            Some(&s.admin.access),
            Some(json!({ "email": "plain@example.com", "password": PASSWORD })),
        )
        .await;

    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let user = &reply.body;
    let id = id_of(user);
    assert_eq!(
        reply.header("location"),
        Some(format!("/api/v1/users/{id}").as_str())
    );
    assert_eq!(user["email"], "grace@example.com");
    assert_eq!(user["username"], "grace.h");
    assert_eq!(user["last_name"], "Hopper");
    assert_eq!(user["date_of_birth"], "1906-12-09");
    assert_eq!(user["role"], "sub_admin");
    assert_eq!(user["is_admin"], false);
    assert_eq!(user["is_active"], false);
    assert!(!user.to_string().contains("argon2") && user.get("password").is_none());
    let stored = s.app.api().admin_get_user(&s.admin.access, &id).await;
    assert_eq!(stored.body["role"], "sub_admin");
    assert_eq!(stored.body["is_active"], false);
    assert_eq!(plain.status, StatusCode::CREATED, "{}", plain.body);
    assert_eq!(plain.body["role"], "user", "the role defaults to user");
    assert_eq!(
        plain.body["is_active"], true,
        "accounts are active by default"
    );
    s.app
        .login("grace@example.com", PASSWORD)
        .await
        .assert_problem(403, "account_disabled");
    assert_eq!(
        s.app.login("plain@example.com", PASSWORD).await.status,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn creating_an_account_with_a_taken_email_is_409_email_taken() {
    let s = staff_app().await;

    let reply = s
        .app
        .request(
            Method::POST,
            USERS,
            Some(&s.admin.access),
            Some(json!({ "email": "USER@example.com", "password": PASSWORD, "role": "admin" })),
        )
        .await;

    reply.assert_problem(409, "email_taken");
    let admins = list(&s.app, &s.admin.access, "role=admin").await;
    assert_eq!(emails(&admins), [ADMIN_EMAIL]);
}

#[tokio::test(flavor = "multi_thread")]
async fn creating_an_account_with_a_weak_password_is_422_weak_password() {
    let s = staff_app().await;

    for (password, rule) in [("short1!", "too_short"), ("password123", "too_common")] {
        let reply = s
            .app
            .request(
                Method::POST,
                USERS,
                Some(&s.admin.access),
                Some(json!({ "email": "weak@example.com", "password": password })),
            )
            .await;
        reply.assert_problem(422, "weak_password");
        assert_eq!(
            reply.field_errors(),
            vec![("password".to_owned(), rule.to_owned())]
        );
    }
    assert_eq!(list(&s.app, &s.admin.access, "q=weak").await["total"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn creating_an_account_with_an_unknown_field_or_role_is_422_validation_failed() {
    let s = staff_app().await;

    let unknown = s
        .app
        .request(
            Method::POST,
            USERS,
            Some(&s.admin.access),
            Some(json!({ "email": "x@example.com", "password": PASSWORD, "is_admin": true })),
        )
        .await;
    let bad_role = s
        .app
        .request(
            Method::POST,
            USERS,
            Some(&s.admin.access),
            Some(json!({ "email": "x@example.com", "password": PASSWORD, "role": "root" })),
        )
        .await;

    unknown.assert_problem(422, "validation_failed");
    assert_eq!(
        unknown.field_errors(),
        vec![("is_admin".to_owned(), "unknown_field".to_owned())]
    );
    bad_role.assert_problem(422, "validation_failed");
    assert!(
        bad_role.field_errors().iter().any(|(f, _)| f == "role"),
        "{}",
        bad_role.body
    );
    assert_eq!(list(&s.app, &s.admin.access, "q=x@").await["total"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn with_registration_closed_only_an_admin_can_create_accounts() {
    let s = staff_app_with(|c| c.registration = doorman::config::Registration::Closed).await;

    let public = s
        .app
        .post(
            "/api/v1/users",
            json!({ "email": "walk-in@example.com", "password": PASSWORD }),
        )
        .await;
    let by_admin = s
        .app
        .request(
            Method::POST,
            USERS,
            Some(&s.admin.access),
            Some(json!({ "email": "invited@example.com", "password": PASSWORD })),
        )
        .await;

    public.assert_problem(403, "forbidden");
    assert_eq!(by_admin.status, StatusCode::CREATED, "{}", by_admin.body);
    assert_eq!(
        s.app.login("invited@example.com", PASSWORD).await.status,
        StatusCode::OK
    );
    s.app
        .login("walk-in@example.com", PASSWORD)
        .await
        .assert_problem(401, "invalid_credentials");
}
