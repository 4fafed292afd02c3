//! Editing another user's profile.

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{USERS, patch_user};
use crate::helpers::{PASSWORD, id_of, staff_app};

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_edits_profile_fields_and_null_clears_them() {
    let s = staff_app().await;
    let created = s
        .app
        .request(
            Method::POST,
            USERS,
            Some(&s.admin.access),
            Some(json!({
                "email": "ada@example.com", "password": PASSWORD, "username": "ada",
                "first_name": "Ada", "last_name": "Byron", "phone_number": "+15550003333",
                "date_of_birth": "1815-12-10"
            })),
        )
        .await;
    let id = id_of(&created.body);

    let reply = patch_user(
        &s.app,
        &s.admin.access,
        &id,
        json!({
            "email": "Lovelace@Example.com", "first_name": "Augusta", "last_name": "Lovelace",
            "username": null, "phone_number": null, "date_of_birth": null
        }),
    )
    .await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let fetched = s.app.api().admin_get_user(&s.sub_admin.access, &id).await;
    for user in [&reply.body, &fetched.body] {
        assert_eq!(user["email"], "lovelace@example.com");
        assert_eq!(user["first_name"], "Augusta");
        assert_eq!(user["last_name"], "Lovelace");
        assert!(user["username"].is_null(), "{user}");
        assert!(user["phone_number"].is_null(), "{user}");
        assert!(user["date_of_birth"].is_null(), "{user}");
        assert_eq!(user["role"], "user");
        assert_eq!(user["is_active"], true);
    }
    assert_ne!(reply.body["updated_at"], created.body["updated_at"]);
    assert_eq!(
        s.app.login("lovelace@example.com", PASSWORD).await.status,
        StatusCode::OK,
        "the new email signs in"
    );
    s.app
        .login("ada@example.com", PASSWORD)
        .await
        .assert_problem(401, "invalid_credentials");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_edit_is_refused_for_a_taken_email_a_bad_field_or_a_role() {
    let s = staff_app().await;
    let id = &s.user.user_id;

    let taken = patch_user(
        &s.app,
        &s.admin.access,
        id,
        json!({ "email": "SUB@example.com" }),
    )
    .await;
    let bad = patch_user(
        &s.app,
        &s.admin.access,
        id,
        json!({ "first_name": "   ", "date_of_birth": "2999-01-01" }),
    )
    .await;
    let role = patch_user(&s.app, &s.admin.access, id, json!({ "role": "admin" })).await;

    taken.assert_problem(409, "email_taken");
    bad.assert_problem(422, "validation_failed");
    let mut fields: Vec<String> = bad.field_errors().into_iter().map(|(f, _)| f).collect();
    fields.sort();
    assert_eq!(fields, ["date_of_birth", "first_name"]);
    role.assert_problem(422, "validation_failed");
    assert_eq!(
        role.field_errors(),
        vec![("role".to_owned(), "unknown_field".to_owned())],
        "the role changes only through PUT …/role"
    );
    let user = s.app.api().admin_get_user(&s.admin.access, id).await;
    assert_eq!(user.body["email"], "user@example.com");
    assert_eq!(user.body["role"], "user");
}
