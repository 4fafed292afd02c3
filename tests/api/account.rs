use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, Reply, TestApp, Tokens, timestamp};

const NEW_PASSWORD: &str = "a brand new passphrase";

async fn patch_me(app: &TestApp, token: &str, body: Value) -> Reply {
    app.request(Method::PATCH, "/api/v1/users/me", Some(token), Some(body))
        .await
}

async fn change_password(app: &TestApp, token: &str, current: &str, new: &str) -> Reply {
    app.request(
        Method::PUT,
        "/api/v1/users/me/password",
        Some(token),
        Some(json!({ "current_password": current, "new_password": new })),
    )
    .await
}

async fn delete_me(app: &TestApp, token: &str, password: &str) -> Reply {
    app.request(
        Method::DELETE,
        "/api/v1/users/me",
        Some(token),
        Some(json!({ "password": password })),
    )
    .await
}

async fn sessions(app: &TestApp, token: &str) -> Vec<Value> {
    let reply = app.get("/api/v1/users/me/sessions", token).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply
        .body
        .as_array()
        .unwrap_or_else(|| panic!("a list of sessions: {}", reply.body))
        .clone()
}

/// Signs in with this `User-Agent`, as a device would.
async fn login_from(app: &TestApp, email: &str, user_agent: &str) -> Tokens {
    let response = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header(reqwest::header::USER_AGENT, user_agent)
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let reply = Reply::from(response).await;
    assert_eq!(reply.status, StatusCode::OK, "login: {}", reply.body);
    Tokens::from(&reply.body)
}

fn field_names(reply: &Reply) -> Vec<String> {
    let mut names: Vec<String> = reply.field_errors().into_iter().map(|(f, _)| f).collect();
    names.sort();
    names
}

async fn rows(app: &TestApp, table: &str, user_id: &str) -> Vec<String> {
    app.query_text(&format!(
        "SELECT CAST(id AS TEXT) AS value FROM {table} WHERE CAST(user_id AS TEXT) = '{user_id}'"
    ))
    .await
}

// Profile

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
    let me = app.get("/api/v1/users/me", &tokens.access).await;

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
    let before = app.get("/api/v1/users/me", &tokens.access).await;

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
    let me = app.get("/api/v1/users/me", &bob.access).await;
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
    let me = app.get("/api/v1/users/me", &tokens.access).await;
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
    let me = app.get("/api/v1/users/me", &tokens.access).await;
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
    assert_eq!(
        by_id.body,
        app.get("/api/v1/users/me", &tokens.access).await.body
    );
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

// Password change

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_current_password_is_401_invalid_credentials_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;

    let reply = change_password(
        &app,
        &tokens.access,
        "not the password at all",
        NEW_PASSWORD,
    )
    .await;

    reply.assert_problem(401, "invalid_credentials");
    assert_eq!(
        app.get("/api/v1/users/me", &tokens.access).await.status,
        StatusCode::OK,
        "a wrong current password does not end the session"
    );
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_weak_new_password_is_422_weak_password_naming_new_password() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;

    for weak in ["short", "password", "ada@example.com", "          "] {
        let reply = change_password(&app, &tokens.access, PASSWORD, weak).await;

        reply.assert_problem(422, "weak_password");
        assert!(
            reply
                .field_errors()
                .iter()
                .any(|(field, _)| field == "new_password"),
            "{weak:?}: {}",
            reply.body
        );
    }
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_current_password_as_the_new_one_is_422_password_reused() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;

    let reply = change_password(&app, &tokens.access, PASSWORD, PASSWORD).await;

    reply.assert_problem(422, "password_reused");
}

fn history_password(n: usize) -> String {
    if n == 0 {
        PASSWORD.to_owned()
    } else {
        format!("history passphrase number {n}")
    }
}

/// Changes from `P(from)` to `P(to)`; returns the reply.
async fn change_between(app: &TestApp, token: &str, from: usize, to: usize) -> Reply {
    change_password(app, token, &history_password(from), &history_password(to)).await
}

#[tokio::test(flavor = "multi_thread")]
async fn after_four_changes_the_registration_password_is_still_one_of_the_last_five() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;
    for n in 1..=4 {
        let reply = change_between(&app, &tokens.access, n - 1, n).await;
        assert_eq!(reply.status, StatusCode::NO_CONTENT, "P{n}: {}", reply.body);
    }

    // Current P4; the 4 before it are P3, P2, P1 and P0.
    for n in [4, 3, 2, 1, 0] {
        change_between(&app, &tokens.access, 4, n)
            .await
            .assert_problem(422, "password_reused");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn after_five_changes_p1_is_reused_but_the_registration_password_is_accepted_again() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;
    for n in 1..=5 {
        let reply = change_between(&app, &tokens.access, n - 1, n).await;
        assert_eq!(reply.status, StatusCode::NO_CONTENT, "P{n}: {}", reply.body);
    }

    // Current P5; the 4 before it are P4..P1, so P0 has left the history.
    for n in [5, 4, 3, 2, 1] {
        change_between(&app, &tokens.access, 5, n)
            .await
            .assert_problem(422, "password_reused");
    }
    let sixth = change_between(&app, &tokens.access, 5, 0).await;
    assert_eq!(sixth.status, StatusCode::NO_CONTENT, "P0: {}", sixth.body);

    // Current P0; the 4 before it are P5..P2, so P1 is free again and P2 is not.
    change_between(&app, &tokens.access, 0, 2)
        .await
        .assert_problem(422, "password_reused");
    let seventh = change_between(&app, &tokens.access, 0, 1).await;
    assert_eq!(
        seventh.status,
        StatusCode::NO_CONTENT,
        "P1: {}",
        seventh.body
    );
    assert_eq!(
        app.login("ada@example.com", &history_password(1))
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_change_revokes_every_other_session_and_keeps_this_one() {
    let app = TestApp::spawn().await;
    let this = app.signed_in("ada@example.com").await;
    let other = Tokens::from(&app.login("ada@example.com", PASSWORD).await.body);
    let bob = app.signed_in("bob@example.com").await;

    let reply = change_password(&app, &this.access, PASSWORD, NEW_PASSWORD).await;

    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    app.assert_session_revoked(&other).await;
    assert_eq!(
        app.get("/api/v1/users/me", &this.access).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.refresh(&this.refresh).await.status,
        StatusCode::OK,
        "the session that changed the password lives on"
    );
    assert_eq!(
        app.get("/api/v1/users/me", &bob.access).await.status,
        StatusCode::OK,
        "other users are not touched"
    );
    app.login("ada@example.com", PASSWORD)
        .await
        .assert_problem(401, "invalid_credentials");
    assert_eq!(
        app.login("ada@example.com", NEW_PASSWORD).await.status,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_change_writes_a_password_changed_audit_event() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;

    let reply = change_password(&app, &tokens.access, PASSWORD, NEW_PASSWORD).await;

    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    let subjects = app
        .query_text(
            "SELECT CAST(subject_id AS TEXT) AS value FROM audit_events \
             WHERE \"type\" = 'password.changed'",
        )
        .await;
    assert_eq!(subjects, vec![tokens.user_id]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_change_keeps_one_current_credential() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;

    change_password(&app, &tokens.access, PASSWORD, NEW_PASSWORD).await;

    let current = app
        .query_text(&format!(
            "SELECT CAST(id AS TEXT) AS value FROM credentials \
             WHERE CAST(user_id AS TEXT) = '{}' AND is_current",
            tokens.user_id
        ))
        .await;
    assert_eq!(current.len(), 1, "one current credential per user");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_change_with_a_missing_or_unknown_field_is_422() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;

    let missing = app
        .request(
            Method::PUT,
            "/api/v1/users/me/password",
            Some(&tokens.access),
            Some(json!({ "new_password": NEW_PASSWORD })),
        )
        .await;
    let unknown = app
        .request(
            Method::PUT,
            "/api/v1/users/me/password",
            Some(&tokens.access),
            Some(json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD, "password": PASSWORD })),
        )
        .await;

    missing.assert_problem(422, "validation_failed");
    assert_eq!(field_names(&missing), vec!["current_password"]);
    unknown.assert_problem(422, "validation_failed");
    assert_eq!(
        unknown.field_errors(),
        vec![("password".to_owned(), "unknown_field".to_owned())]
    );
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status,
        StatusCode::OK
    );
}

// Sessions

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
    assert_eq!(
        app.get("/api/v1/users/me", &this.access).await.status,
        StatusCode::OK
    );
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

    assert_eq!(
        app.get("/api/v1/users/me", &bob.access).await.status,
        StatusCode::OK
    );
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
        app.get("/api/v1/users/me", &bob.access).await.status,
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

// Account deletion

#[tokio::test(flavor = "multi_thread")]
async fn deleting_the_account_with_a_wrong_password_is_401_and_keeps_it() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;

    let reply = delete_me(&app, &tokens.access, "not the password at all").await;

    reply.assert_problem(401, "invalid_credentials");
    assert_eq!(
        app.get("/api/v1/users/me", &tokens.access).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_the_account_ends_its_tokens_and_removes_its_rows() {
    let app = TestApp::spawn().await;
    let this = app.signed_in("ada@example.com").await;
    let other = Tokens::from(&app.login("ada@example.com", PASSWORD).await.body);
    let bob = app.signed_in("bob@example.com").await;
    for (tokens, title) in [(&this, "ada's task"), (&bob, "bob's task")] {
        let created = app
            .request(
                Method::POST,
                "/api/v1/tasks",
                Some(&tokens.access),
                Some(json!({ "title": title })),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    }

    let reply = delete_me(&app, &this.access, PASSWORD).await;

    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    for tokens in [&this, &other] {
        app.assert_session_revoked(tokens).await;
    }
    app.login("ada@example.com", PASSWORD)
        .await
        .assert_problem(401, "invalid_credentials");
    for table in ["sessions", "credentials", "tasks"] {
        assert_eq!(
            rows(&app, table, &this.user_id).await,
            Vec::<String>::new(),
            "{table} of the deleted user"
        );
        assert!(
            !rows(&app, table, &bob.user_id).await.is_empty(),
            "{table} of another user survive"
        );
    }
    let users = app
        .query_text(&format!(
            "SELECT email AS value FROM users WHERE CAST(id AS TEXT) = '{}'",
            this.user_id
        ))
        .await;
    assert!(users.is_empty(), "the user row is gone: {users:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deleted_accounts_email_can_register_again_as_a_new_user() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;
    assert_eq!(
        delete_me(&app, &tokens.access, PASSWORD).await.status,
        StatusCode::NO_CONTENT
    );

    let again = app.register("ada@example.com").await;

    assert_ne!(again["id"], tokens.user_id.as_str());
    let login = app.login("ada@example.com", PASSWORD).await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_the_account_needs_the_password_field() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;

    let reply = app
        .request(
            Method::DELETE,
            "/api/v1/users/me",
            Some(&tokens.access),
            Some(json!({})),
        )
        .await;

    reply.assert_problem(422, "validation_failed");
    assert_eq!(field_names(&reply), vec!["password"]);
    assert_eq!(
        app.get("/api/v1/users/me", &tokens.access).await.status,
        StatusCode::OK
    );
}
