//! Staff user management: who may call what, on whom, and what each call does.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::jwt::claims;
use crate::helpers::{
    ADMIN_EMAIL, PASSWORD, Reply, StaffApp, TestApp, Tokens, id_of, set_role, staff_app,
    staff_app_with, user_path,
};

const USERS: &str = "/api/v1/admin/users";

async fn patch_user(app: &TestApp, token: &str, id: &str, body: Value) -> Reply {
    app.request(Method::PATCH, &user_path(id), Some(token), Some(body))
        .await
}

/// GET a page of users; asserts 200 and returns the body.
async fn list(app: &TestApp, token: &str, query: &str) -> Value {
    let reply = app.get(&format!("{USERS}?{query}"), token).await;
    assert_eq!(reply.status, StatusCode::OK, "?{query}: {}", reply.body);
    reply.body
}

fn emails(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|u| u["email"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Asserts a success status, or the `forbidden` problem when 403 is expected.
#[track_caller]
fn assert_outcome(reply: &Reply, expected: u16, what: &str) {
    if expected == 403 {
        reply.assert_problem(403, "forbidden");
    } else {
        assert_eq!(reply.status.as_u16(), expected, "{what}: {}", reply.body);
    }
}

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
        let me = app.get("/api/v1/users/me", &target.access).await;
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
        .get(&user_path(&s.admin.user_id), &s.sub_admin.access)
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
    let untouched = app.get(&user_path(user_id), &s.admin.access).await;
    let deactivated = patch_user(
        app,
        &s.sub_admin.access,
        user_id,
        json!({ "is_active": false }),
    )
    .await;
    let token_after = app.get("/api/v1/users/me", &s.user.access).await;
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

/// Creates the listing fixtures in this order (so `created_at` order is known).
async fn listing_fixture() -> StaffApp {
    let s = staff_app().await;
    for body in [
        json!({ "email": "alice.smith@example.com", "password": PASSWORD, "username": "wonder", "first_name": "Alice", "last_name": "Smith" }),
        json!({ "email": "bob@example.org", "password": PASSWORD, "username": "Bobby_T", "first_name": "Robert", "last_name": "Jones", "role": "sub_admin" }),
        json!({ "email": "carol@example.net", "password": PASSWORD, "first_name": "Caroline", "last_name": "Whitesmith", "is_active": false }),
        json!({ "email": "dave@example.org", "password": PASSWORD, "role": "admin", "is_active": false }),
    ] {
        let reply = s
            .app
            .request(Method::POST, USERS, Some(&s.admin.access), Some(body))
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }
    s
}

/// Every account of the listing fixture, oldest first.
const ALL_BY_CREATION: [&str; 7] = [
    ADMIN_EMAIL,
    "sub@example.com",
    "user@example.com",
    "alice.smith@example.com",
    "bob@example.org",
    "carol@example.net",
    "dave@example.org",
];

#[tokio::test(flavor = "multi_thread")]
async fn q_matches_email_username_first_or_last_name_case_insensitively() {
    let s = listing_fixture().await;
    let token = &s.sub_admin.access;

    let cases: [(&str, &[&str]); 7] = [
        ("SMITH", &["alice.smith@example.com", "carol@example.net"]),
        ("bobby", &["bob@example.org"]),
        ("rOBERT", &["bob@example.org"]),
        ("jones", &["bob@example.org"]),
        ("WONDER", &["alice.smith@example.com"]),
        ("EXAMPLE.ORG", &["bob@example.org", "dave@example.org"]),
        ("nobody-matches-this", &[]),
    ];
    for (q, expected) in cases {
        let page = list(&s.app, token, &format!("q={q}&sort=email")).await;
        assert_eq!(emails(&page), expected, "q={q}");
        assert_eq!(page["total"], expected.len(), "q={q}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn q_treats_like_wildcards_as_plain_characters() {
    let s = listing_fixture().await;

    let underscore = list(&s.app, &s.admin.access, "q=_").await;
    let percent = list(&s.app, &s.admin.access, "q=%25").await;

    assert_eq!(
        emails(&underscore),
        ["bob@example.org"],
        "only Bobby_T has a `_`"
    );
    assert_eq!(percent["total"], 0, "nobody has a `%`");
}

#[tokio::test(flavor = "multi_thread")]
async fn q_folds_the_case_of_non_ascii_names_too() {
    let s = staff_app().await;
    let body = json!({ "email": "emile@example.com", "password": PASSWORD, "first_name": "Émile", "last_name": "Ørsted" });
    let created = s
        .app
        .request(Method::POST, USERS, Some(&s.admin.access), Some(body))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);

    let lower = list(&s.app, &s.admin.access, "q=émile").await;
    let upper = list(&s.app, &s.admin.access, "q=ØRSTED").await;

    assert_eq!(emails(&lower), ["emile@example.com"], "q=émile");
    assert_eq!(emails(&upper), ["emile@example.com"], "q=ØRSTED");
}

#[tokio::test(flavor = "multi_thread")]
async fn role_and_is_active_filter_the_list_alone_and_together() {
    let s = listing_fixture().await;
    let token = &s.admin.access;

    let cases: [(&str, &[&str]); 6] = [
        ("role=admin", &["dave@example.org", ADMIN_EMAIL]),
        ("role=sub_admin", &["bob@example.org", "sub@example.com"]),
        (
            "role=user",
            &[
                "alice.smith@example.com",
                "carol@example.net",
                "user@example.com",
            ],
        ),
        (
            "is_active=false",
            &["carol@example.net", "dave@example.org"],
        ),
        ("role=admin&is_active=true", &[ADMIN_EMAIL]),
        ("role=user&is_active=false&q=CAROL", &["carol@example.net"]),
    ];
    for (query, expected) in cases {
        let page = list(&s.app, token, &format!("{query}&sort=email")).await;
        assert_eq!(emails(&page), expected, "{query}");
        assert_eq!(page["total"], expected.len(), "{query}");
        for user in page["items"].as_array().into_iter().flatten() {
            assert_eq!(user["is_admin"], user["role"] == "admin", "{user}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sort_orders_by_creation_newest_first_by_default_or_by_email() {
    let s = listing_fixture().await;
    let token = &s.sub_admin.access;
    let oldest_first: Vec<String> = ALL_BY_CREATION.iter().map(|e| (*e).to_owned()).collect();
    let newest_first: Vec<String> = oldest_first.iter().rev().cloned().collect();
    let mut by_email = oldest_first.clone();
    by_email.sort();
    let by_email_desc: Vec<String> = by_email.iter().rev().cloned().collect();

    let default = list(&s.app, token, "").await;
    let explicit_desc = list(&s.app, token, "sort=-created_at").await;
    let asc = list(&s.app, token, "sort=created_at").await;
    let email = list(&s.app, token, "sort=email").await;
    let email_desc = list(&s.app, token, "sort=-email").await;

    assert_eq!(emails(&default), newest_first, "the default is -created_at");
    assert_eq!(emails(&explicit_desc), newest_first);
    assert_eq!(emails(&asc), oldest_first);
    assert_eq!(emails(&email), by_email);
    assert_eq!(emails(&email_desc), by_email_desc);
    assert_eq!(default["limit"], 50);
    assert_eq!(default["offset"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn limit_and_offset_page_through_the_list_with_a_total_of_all_matches() {
    let s = listing_fixture().await;
    let token = &s.admin.access;

    let mut seen = Vec::new();
    for offset in (0..8).step_by(3) {
        let page = list(
            &s.app,
            token,
            &format!("sort=created_at&limit=3&offset={offset}"),
        )
        .await;
        assert_eq!(page["total"], ALL_BY_CREATION.len(), "offset {offset}");
        assert_eq!(page["limit"], 3);
        assert_eq!(page["offset"], offset);
        seen.extend(emails(&page));
    }
    let filtered = list(&s.app, token, "q=example.org&limit=1&offset=1&sort=email").await;
    let past_the_end = list(&s.app, token, "offset=100").await;

    assert_eq!(
        seen, ALL_BY_CREATION,
        "pages fit together without gaps or repeats"
    );
    assert_eq!(emails(&filtered), ["dave@example.org"]);
    assert_eq!(
        filtered["total"], 2,
        "total counts every match, not the page"
    );
    assert_eq!(emails(&past_the_end), Vec::<String>::new());
    assert_eq!(past_the_end["total"], ALL_BY_CREATION.len());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_role_sort_limit_or_offset_is_422_naming_the_parameter() {
    let s = staff_app().await;

    for (query, field) in [
        ("role=superuser", "role"),
        ("sort=name", "sort"),
        ("sort=-updated_at", "sort"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=-1", "limit"),
        ("offset=-1", "offset"),
    ] {
        let reply = s
            .app
            .get(&format!("{USERS}?{query}"), &s.admin.access)
            .await;
        reply.assert_problem(422, "validation_failed");
        assert!(
            reply.field_errors().iter().any(|(f, _)| f == field),
            "{query}: {}",
            reply.body
        );
    }
    assert_eq!(
        s.app
            .get(&format!("{USERS}?limit=200"), &s.admin.access)
            .await
            .status,
        StatusCode::OK,
        "200 is the largest page"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unparsable_limit_offset_or_is_active_is_422_naming_the_parameter() {
    let s = staff_app().await;

    for (query, field) in [
        ("limit=ten", "limit"),
        ("offset=1.5", "offset"),
        ("is_active=maybe", "is_active"),
    ] {
        let reply = s
            .app
            .get(&format!("{USERS}?{query}"), &s.admin.access)
            .await;
        reply.assert_problem(422, "validation_failed");
        assert!(
            reply.field_errors().iter().any(|(f, _)| f == field),
            "{query}: {}",
            reply.body
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_input_from_signed_in_staff_is_always_a_422_never_a_dropped_connection() {
    let s = staff_app().await;
    let user = user_path(&s.user.user_id);
    let cases = [
        (Method::GET, format!("{USERS}?limit=ten"), None),
        (Method::GET, format!("{USERS}?is_active=maybe"), None),
        (
            Method::POST,
            USERS.to_owned(),
            Some(json!({ "email": "x@example.com", "password": PASSWORD, "bogus": 1 })),
        ),
        (
            Method::PATCH,
            user.clone(),
            Some(json!({ "is_active": "yes" })),
        ),
        (
            Method::PUT,
            format!("{user}/role"),
            Some(json!({ "role": "superuser" })),
        ),
        (
            Method::GET,
            "/api/v1/admin/audit-events?user_id=nope".to_owned(),
            None,
        ),
    ];

    // Each a few times: the failure this guards against depends on timing.
    for _ in 0..5 {
        for (method, path, body) in &cases {
            let sent = s
                .app
                .client
                .request(method.clone(), s.app.url(path))
                .bearer_auth(&s.admin.access);
            let sent = match body {
                Some(body) => sent.json(body),
                None => sent,
            };
            match sent.send().await {
                Ok(response) => {
                    Reply::from(response)
                        .await
                        .assert_problem(422, "validation_failed");
                }
                Err(e) => panic!("{method} {path}: no answer at all: {e}"),
            }
        }
    }
}

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
    let stored = s.app.get(&user_path(&id), &s.admin.access).await;
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
    let fetched = s.app.get(&user_path(&id), &s.sub_admin.access).await;
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
    let user = s.app.get(&user_path(id), &s.admin.access).await;
    assert_eq!(user.body["email"], "user@example.com");
    assert_eq!(user.body["role"], "user");
}

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
            .get("/api/v1/users/me", &tokens.access)
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
        .post("/api/v1/auth/introspect", json!({ "token": s.user.access }))
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
        s.app.get("/api/v1/users/me", &tokens.access).await.status,
        StatusCode::OK
    );
    s.app
        .get("/api/v1/users/me", &s.user.access)
        .await
        .assert_problem(401, "session_revoked");
}

/// Refreshes and returns the new token pair.
async fn refreshed(app: &TestApp, tokens: &Tokens) -> Tokens {
    let reply = app.refresh(&tokens.refresh).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    Tokens::from(&reply.body)
}

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
        let me = s.app.get("/api/v1/users/me", &tokens.access).await;
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
    let as_admin = s
        .app
        .get("/api/v1/admin/audit-events", &s.user.access)
        .await;
    let demoted = set_role(&s.app, &s.admin.access, &second.user_id, "user").await;
    let as_user = s.app.get(USERS, &second.access).await;

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
        .get(&user_path(&s.user.user_id), &s.admin.access)
        .await;
    assert_eq!(user.body["role"], "user");
}

fn count_sql(table: &str, user_id: &str) -> String {
    format!(
        "SELECT CAST(COUNT(*) AS TEXT) AS value FROM {table} WHERE CAST(user_id AS TEXT) = '{user_id}'"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_a_user_kills_its_tokens_and_removes_its_rows() {
    let s = staff_app().await;
    let id = s.user.user_id.clone();
    let task = s
        .app
        .request(
            Method::POST,
            "/api/v1/tasks",
            Some(&s.user.access),
            Some(json!({ "title": "write the report" })),
        )
        .await;
    assert_eq!(task.status, StatusCode::CREATED, "{}", task.body);
    for table in ["sessions", "credentials", "tasks"] {
        assert_ne!(
            s.app.query_text(&count_sql(table, &id)).await,
            ["0"],
            "{table}"
        );
    }

    let reply = s
        .app
        .request(Method::DELETE, &user_path(&id), Some(&s.admin.access), None)
        .await;

    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    s.app
        .get("/api/v1/users/me", &s.user.access)
        .await
        .assert_problem(401, "session_revoked");
    let refreshed = s.app.refresh(&s.user.refresh).await;
    assert_eq!(
        refreshed.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        refreshed.body
    );
    for table in ["sessions", "credentials", "tasks"] {
        assert_eq!(
            s.app.query_text(&count_sql(table, &id)).await,
            ["0"],
            "{table}"
        );
    }
    let users = s
        .app
        .query_text(&format!(
            "SELECT email AS value FROM users WHERE CAST(id AS TEXT) = '{id}'"
        ))
        .await;
    assert!(users.is_empty(), "{users:?}");
    s.app
        .get(&user_path(&id), &s.admin.access)
        .await
        .assert_problem(404, "not_found");
    s.app
        .login("user@example.com", PASSWORD)
        .await
        .assert_problem(401, "invalid_credentials");
    assert_eq!(
        s.app
            .request(Method::DELETE, &user_path(&id), Some(&s.admin.access), None)
            .await
            .status,
        StatusCode::NOT_FOUND,
        "a second delete finds nothing"
    );
}

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
            .get("/api/v1/users/me", &tokens.access)
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
        .get(&user_path(&s.user.user_id), &s.admin.access)
        .await;
    assert_eq!(
        user.body["is_active"], true,
        "revoking sessions is not deactivating"
    );
    let again = s.app.logged_in("user@example.com").await;
    assert_eq!(
        s.app.get("/api/v1/users/me", &again.access).await.status,
        StatusCode::OK
    );
    assert_eq!(
        s.app.get(USERS, &s.sub_admin.access).await.status,
        StatusCode::OK,
        "the staff member's own session is untouched"
    );
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
