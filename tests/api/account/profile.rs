//! The profile: reading and patching it, and users by id.

use reqwest::StatusCode;
use serde_json::json;

use super::{NEW_PASSWORD, field_names, patch_me};
use crate::helpers::{PASSWORD, TestApp, timestamp};

#[tokio::test(flavor = "multi_thread")]
async fn patching_the_profile_sets_fields_and_null_clears_them() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;

    let set = patch_me(
        &app,
        &tokens.access,
        json!({
            "username": "ada.l", "first_name": " Ada ", "last_name": "Lovelace",
            "phone_number": "+4915112345678", "date_of_birth": "1815-12-10"
        }),
    )
    .await;
    let cleared = patch_me(
        &app,
        &tokens.access,
        json!({ "first_name": null, "phone_number": null, "date_of_birth": null }),
    )
    .await;
    let me = app.api().get_me(&tokens.access).await;

    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    assert_eq!(set.body["username"], "ada.l");
    assert_eq!(set.body["first_name"], "Ada");
    assert_eq!(set.body["last_name"], "Lovelace");
    assert_eq!(set.body["phone_number"], "+4915112345678");
    assert_eq!(set.body["date_of_birth"], "1815-12-10");
    assert_eq!(set.body["email"], "ada@example.com");
    assert_eq!(cleared.status, StatusCode::OK, "{}", cleared.body);
    assert!(cleared.body["first_name"].is_null());
    assert!(cleared.body["phone_number"].is_null());
    assert!(cleared.body["date_of_birth"].is_null());
    assert_eq!(cleared.body["username"], "ada.l", "absent fields are kept");
    assert_eq!(cleared.body["last_name"], "Lovelace");
    assert_eq!(me.body, cleared.body, "the change is stored");
    assert!(timestamp(&cleared.body["updated_at"]) >= timestamp(&set.body["created_at"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_patch_changes_nothing() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;
    let before = app.api().get_me(&tokens.access).await;

    let reply = patch_me(&app, &tokens.access, json!({})).await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    for field in [
        "id",
        "email",
        "username",
        "first_name",
        "phone_number",
        "role",
    ] {
        assert_eq!(reply.body[field], before.body[field], "{field}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn patching_to_another_users_username_or_phone_is_409() {
    let app = TestApp::spawn().await;
    let ada = json!({ "email": "ada@example.com", "password": PASSWORD, "username": "Ada", "phone_number": "+15550001111" });
    assert_eq!(
        app.post("/api/v1/users", ada).await.status,
        StatusCode::CREATED
    );
    let bob = app.signed_in("bob@example.com").await;

    let username = patch_me(&app, &bob.access, json!({ "username": "aDA" })).await;
    let phone = patch_me(&app, &bob.access, json!({ "phone_number": "+15550001111" })).await;

    username.assert_problem(409, "username_taken");
    phone.assert_problem(409, "phone_taken");
    let me = app.api().get_me(&bob.access).await;
    assert!(me.body["username"].is_null() && me.body["phone_number"].is_null());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_may_set_their_own_username_and_phone_again_or_recase_the_username() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;
    let first = patch_me(
        &app,
        &tokens.access,
        json!({ "username": "Ada", "phone_number": "+15550001111" }),
    )
    .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);

    let again = patch_me(
        &app,
        &tokens.access,
        json!({ "username": "ada", "phone_number": "+15550001111" }),
    )
    .await;

    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.body["username"], "ada");
}

#[tokio::test(flavor = "multi_thread")]
async fn email_role_and_status_cannot_be_patched_and_are_named_as_unknown_fields() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;

    for (field, value) in [
        ("email", json!("eve@example.com")),
        ("role", json!("admin")),
        ("is_active", json!(false)),
        ("is_admin", json!(true)),
        ("password", json!(NEW_PASSWORD)),
    ] {
        let reply = patch_me(&app, &tokens.access, json!({ field: value })).await;

        reply.assert_problem(422, "validation_failed");
        assert_eq!(
            reply.field_errors(),
            vec![(field.to_owned(), "unknown_field".to_owned())],
            "{}",
            reply.body
        );
    }
    let me = app.api().get_me(&tokens.access).await;
    assert_eq!(me.body["email"], "ada@example.com");
    assert_eq!(me.body["role"], "user");
    assert_eq!(me.body["is_active"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_profile_values_are_422_naming_every_bad_field() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;

    let reply = patch_me(
        &app,
        &tokens.access,
        json!({
            "username": "a b", "first_name": "   ", "last_name": "x".repeat(101),
            "phone_number": "12345", "date_of_birth": "2999-01-01"
        }),
    )
    .await;

    reply.assert_problem(422, "validation_failed");
    assert_eq!(
        field_names(&reply),
        vec![
            "date_of_birth",
            "first_name",
            "last_name",
            "phone_number",
            "username"
        ]
    );
    let me = app.api().get_me(&tokens.access).await;
    assert!(me.body["username"].is_null(), "nothing was changed");
}

#[tokio::test(flavor = "multi_thread")]
async fn impossible_dates_control_characters_and_wrong_types_are_422_not_500() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;

    for (field, value) in [
        ("date_of_birth", json!("2023-02-30")),
        ("date_of_birth", json!("10.12.1815")),
        ("first_name", json!("Ada\u{0}")),
        ("last_name", json!("Love\u{7}lace")),
        ("username", json!(42)),
    ] {
        let reply = patch_me(&app, &tokens.access, json!({ field: value })).await;

        reply.assert_problem(422, "validation_failed");
        assert_eq!(field_names(&reply), vec![field.to_owned()], "{value}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_reads_their_own_account_by_id() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;

    let by_id = app
        .get(&format!("/api/v1/users/{}", tokens.user_id), &tokens.access)
        .await;

    assert_eq!(by_id.status, StatusCode::OK, "{}", by_id.body);
    assert_eq!(by_id.body, app.api().get_me(&tokens.access).await.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plain_user_gets_the_same_403_for_another_user_and_for_an_id_that_does_not_exist() {
    let app = TestApp::spawn().await;
    let ada = app.signed_in("ada@example.com").await;
    let bob = app.signed_in("bob@example.com").await;

    let other = app
        .get(&format!("/api/v1/users/{}", bob.user_id), &ada.access)
        .await;
    let missing = app
        .get(
            &format!("/api/v1/users/{}", uuid::Uuid::now_v7()),
            &ada.access,
        )
        .await;

    other.assert_problem(403, "forbidden");
    missing.assert_problem(403, "forbidden");
    assert_eq!(other.body["detail"], missing.body["detail"]);
    assert!(!other.body.to_string().contains("bob@example.com"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_user_id_in_the_path_is_404() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;

    let reply = app.get("/api/v1/users/not-a-uuid", &tokens.access).await;

    reply.assert_problem(404, "not_found");
}

/// A bad path, query or body must be answered even while the token's session is being
/// looked up; the answer may never be a dropped connection.
#[tokio::test(flavor = "multi_thread")]
async fn requests_that_fail_to_parse_with_a_valid_token_are_always_answered() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;

    for _ in 0..25 {
        let bad_path = app.get("/api/v1/tasks/not-a-uuid", &tokens.access).await;
        let bad_query = app.get("/api/v1/tasks?limit=many", &tokens.access).await;
        let bad_body = patch_me(&app, &tokens.access, json!({ "role": "admin" })).await;

        bad_path.assert_problem(404, "not_found");
        bad_query.assert_problem(422, "validation_failed");
        bad_body.assert_problem(422, "validation_failed");
    }
}
