//! The audit trail: what is written, who it names, how it is filtered and paged, and what
//! it never holds.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{ADMIN_EMAIL, PASSWORD, Reply, TestApp, Tokens, with_bootstrap_admin};

const EVENTS: &str = "/api/v1/admin/audit-events";
const AGENT: &str = "doorman-audit-test/1.0";
const WRONG_PASSWORD: &str = "not the password at all";
const NEW_PASSWORD: &str = "a brand new passphrase for alice";

/// A request that names its user agent, so the trail can be checked for it.
async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Reply {
    app.request_with_headers(method, path, token, &[("user-agent", AGENT)], body)
        .await
}

#[track_caller]
fn expect(reply: &Reply, status: StatusCode, step: &str) {
    assert_eq!(reply.status, status, "{step}: {}", reply.body);
}

async fn login(app: &TestApp, email: &str, password: &str) -> Tokens {
    let reply = send(
        app,
        Method::POST,
        "/api/v1/auth/login",
        None,
        Some(json!({ "email": email, "password": password })),
    )
    .await;
    expect(&reply, StatusCode::OK, "login");
    Tokens::from(&reply.body)
}

/// The app after a scripted sequence of account and staff actions.
struct Trail {
    app: TestApp,
    admin: Tokens,
    alice: String,
    bob: String,
    /// Every password and token the script used.
    secrets: Vec<String>,
}

async fn scripted_trail() -> Trail {
    let app = TestApp::spawn_with(|c| {
        with_bootstrap_admin(c);
        c.rate_limit_per_second = 0;
        c.rate_limit_burst = 0;
    })
    .await;
    let admin = login(&app, ADMIN_EMAIL, PASSWORD).await;
    let mut secrets = vec![
        PASSWORD.to_owned(),
        WRONG_PASSWORD.to_owned(),
        NEW_PASSWORD.to_owned(),
        admin.access.clone(),
        admin.refresh.clone(),
    ];
    let post = |path: &'static str, token: Option<String>, body: Value| {
        let app = &app;
        async move { send(app, Method::POST, path, token.as_deref(), Some(body)).await }
    };

    let registered = post(
        "/api/v1/users",
        None,
        json!({ "email": "alice@example.com", "password": PASSWORD }),
    )
    .await;
    expect(&registered, StatusCode::CREATED, "register");
    let alice = registered.body["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let failed = post(
        "/api/v1/auth/login",
        None,
        json!({ "email": "alice@example.com", "password": WRONG_PASSWORD }),
    )
    .await;
    failed.assert_problem(401, "invalid_credentials");
    let first = login(&app, "alice@example.com", PASSWORD).await;
    let refreshed = post(
        "/api/v1/auth/refresh",
        None,
        json!({ "refresh_token": first.refresh }),
    )
    .await;
    expect(&refreshed, StatusCode::OK, "refresh");
    let second = Tokens::from(&refreshed.body);
    let logout = send(
        &app,
        Method::POST,
        "/api/v1/auth/logout",
        Some(&second.access),
        None,
    )
    .await;
    expect(&logout, StatusCode::NO_CONTENT, "logout");
    let third = login(&app, "alice@example.com", PASSWORD).await;
    let changed = send(
        &app,
        Method::PUT,
        "/api/v1/users/me/password",
        Some(&third.access),
        Some(json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD })),
    )
    .await;
    expect(&changed, StatusCode::NO_CONTENT, "password change");
    for tokens in [&first, &second, &third] {
        secrets.extend([tokens.access.clone(), tokens.refresh.clone()]);
    }

    let created = post(
        "/api/v1/admin/users",
        Some(admin.access.clone()),
        json!({ "email": "bob@example.com", "password": PASSWORD }),
    )
    .await;
    expect(&created, StatusCode::CREATED, "create bob");
    let bob = created.body["id"].as_str().unwrap_or_default().to_owned();
    let bob_path = format!("/api/v1/admin/users/{bob}");
    let staff_steps = [
        (
            Method::PUT,
            format!("{bob_path}/role"),
            Some(json!({ "role": "sub_admin" })),
            StatusCode::OK,
        ),
        (
            Method::PATCH,
            bob_path.clone(),
            Some(json!({ "first_name": "Robert" })),
            StatusCode::OK,
        ),
        (
            Method::PATCH,
            bob_path.clone(),
            Some(json!({ "is_active": false })),
            StatusCode::OK,
        ),
        (
            Method::PATCH,
            bob_path.clone(),
            Some(json!({ "is_active": true })),
            StatusCode::OK,
        ),
        (
            Method::DELETE,
            format!("/api/v1/admin/users/{alice}/sessions"),
            None,
            StatusCode::NO_CONTENT,
        ),
        (
            Method::DELETE,
            bob_path.clone(),
            None,
            StatusCode::NO_CONTENT,
        ),
    ];
    for (method, path, body, status) in staff_steps {
        let step = format!("{method} {path}");
        let reply = send(&app, method, &path, Some(&admin.access), body).await;
        expect(&reply, status, &step);
    }

    Trail {
        app,
        admin,
        alice,
        bob,
        secrets,
    }
}

/// GET a page of events as the admin; asserts 200.
async fn events(trail: &Trail, query: &str) -> Value {
    let reply = trail
        .app
        .get(&format!("{EVENTS}?{query}"), &trail.admin.access)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "?{query}: {}", reply.body);
    reply.body
}

fn items(page: &Value) -> Vec<Value> {
    page["items"].as_array().cloned().unwrap_or_default()
}

fn ids(page: &Value) -> Vec<String> {
    items(page)
        .iter()
        .map(|e| e["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Who an expected event names as its actor.
enum Actor<'a> {
    Nobody,
    User(&'a str),
    /// Self sign-up: the new user, or nobody (the caller was anonymous).
    SelfOrNobody(&'a str),
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scripted_sequence_leaves_the_contracts_events_newest_first() {
    let trail = scripted_trail().await;
    let (admin, alice, bob) = (
        trail.admin.user_id.as_str(),
        trail.alice.as_str(),
        trail.bob.as_str(),
    );
    let expected = [
        ("login.succeeded", Actor::User(admin), admin),
        ("user.registered", Actor::SelfOrNobody(alice), alice),
        ("login.failed", Actor::Nobody, alice),
        ("login.succeeded", Actor::User(alice), alice),
        ("logout", Actor::User(alice), alice),
        ("login.succeeded", Actor::User(alice), alice),
        ("password.changed", Actor::User(alice), alice),
        ("user.created", Actor::User(admin), bob),
        ("user.role_changed", Actor::User(admin), bob),
        ("user.updated", Actor::User(admin), bob),
        ("user.deactivated", Actor::User(admin), bob),
        ("user.activated", Actor::User(admin), bob),
        ("sessions.revoked", Actor::User(admin), alice),
        ("user.deleted", Actor::User(admin), bob),
    ];

    let page = events(&trail, "limit=200").await;

    let newest_first = items(&page);
    assert_eq!(page["total"], newest_first.len());
    let times: Vec<&str> = newest_first
        .iter()
        .map(|e| e["at"].as_str().unwrap_or_default())
        .collect();
    let parsed: Vec<chrono::DateTime<chrono::FixedOffset>> = times
        .iter()
        .map(|t| chrono::DateTime::parse_from_rfc3339(t).unwrap_or_else(|e| panic!("{t}: {e}")))
        .collect();
    assert!(
        parsed.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {times:?}"
    );
    // The script's events appear in order (oldest first once reversed), each naming its
    // actor, subject, address and user agent.
    let mut remaining = newest_first.iter().rev();
    for (kind, actor, subject) in &expected {
        let found = remaining.find(|e| e["type"] == *kind && e["subject_id"] == *subject);
        let event = found
            .unwrap_or_else(|| panic!("no {kind} on {subject} in order; trail: {}", page["items"]));
        match actor {
            Actor::Nobody => assert!(event["actor_id"].is_null(), "{event}"),
            Actor::User(id) => assert_eq!(event["actor_id"], *id, "{event}"),
            Actor::SelfOrNobody(id) => assert!(
                event["actor_id"].is_null() || event["actor_id"] == *id,
                "{event}"
            ),
        }
        assert_eq!(event["ip"], "127.0.0.1", "{event}");
        assert_eq!(event["user_agent"], AGENT, "{event}");
        assert!(event["detail"].is_object(), "{event}");
        assert!(event["id"].is_string(), "{event}");
    }
    let role_changed = newest_first
        .iter()
        .find(|e| e["type"] == "user.role_changed")
        .cloned()
        .unwrap_or_default();
    assert!(
        role_changed["detail"].to_string().contains("sub_admin"),
        "a role change says what the role became: {role_changed}"
    );
    let bootstrap = newest_first
        .iter()
        .find(|e| e["type"] == "user.created" && e["subject_id"] == admin)
        .cloned()
        .unwrap_or_default();
    assert!(
        bootstrap["actor_id"].is_null(),
        "the bootstrap admin is created by nobody: {bootstrap}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_user_id_filter_matches_the_actor_or_the_subject() {
    let trail = scripted_trail().await;
    let everything = items(&events(&trail, "limit=200").await);

    for (id, must_have) in [
        (
            trail.alice.as_str(),
            &[
                "user.registered",
                "login.failed",
                "login.succeeded",
                "logout",
                "password.changed",
                "sessions.revoked",
            ][..],
        ),
        (
            trail.bob.as_str(),
            &["user.created", "user.role_changed", "user.deleted"][..],
        ),
        (
            trail.admin.user_id.as_str(),
            &[
                "login.succeeded",
                "user.created",
                "sessions.revoked",
                "user.deleted",
            ][..],
        ),
    ] {
        let page = events(&trail, &format!("user_id={id}&limit=200")).await;

        let found = items(&page);
        let involved = everything
            .iter()
            .filter(|e| e["actor_id"] == id || e["subject_id"] == id)
            .count();
        assert_eq!(found.len(), involved, "user_id={id}");
        assert_eq!(page["total"], involved, "user_id={id}");
        for event in &found {
            assert!(
                event["actor_id"] == id || event["subject_id"] == id,
                "{event}"
            );
        }
        for kind in must_have {
            assert!(
                found.iter().any(|e| e["type"] == *kind),
                "user_id={id} lacks {kind}"
            );
        }
    }
    let stranger = events(&trail, &format!("user_id={}", uuid::Uuid::now_v7())).await;
    assert_eq!(stranger["total"], 0);
    assert_eq!(stranger["items"], json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_type_filter_and_paging_narrow_the_trail_with_a_correct_total() {
    let trail = scripted_trail().await;
    let all = events(&trail, "limit=200").await;
    let total = items(&all).len();
    let all_ids = ids(&all);

    let logins = events(&trail, "type=login.succeeded").await;
    let deleted = events(&trail, "type=user.deleted").await;
    let alice_logins = events(
        &trail,
        &format!("type=login.succeeded&user_id={}", trail.alice),
    )
    .await;
    let middle = events(&trail, "limit=4&offset=3").await;
    let past_the_end = events(&trail, &format!("limit=4&offset={total}")).await;
    let default = events(&trail, "").await;

    assert_eq!(logins["total"], 3, "the admin once, alice twice");
    assert!(
        items(&logins)
            .iter()
            .all(|e| e["type"] == "login.succeeded")
    );
    assert_eq!(deleted["total"], 1);
    assert_eq!(deleted["items"][0]["subject_id"], trail.bob.as_str());
    assert_eq!(alice_logins["total"], 2);
    assert_eq!(ids(&middle), all_ids[3..7]);
    assert_eq!(middle["total"], total);
    assert_eq!(
        (middle["limit"].clone(), middle["offset"].clone()),
        (json!(4), json!(3))
    );
    assert_eq!(ids(&past_the_end), Vec::<String>::new());
    assert_eq!(past_the_end["total"], total);
    assert_eq!(default["limit"], 50);
    assert_eq!(ids(&default), all_ids[..total.min(50)]);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_type_or_a_bad_page_is_422_validation_failed() {
    let app = TestApp::spawn_with(with_bootstrap_admin).await;
    let admin = app.logged_in(ADMIN_EMAIL).await;

    for (query, field) in [
        ("type=user.exploded", "type"),
        ("type=LOGIN.FAILED", "type"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("offset=-5", "offset"),
    ] {
        let reply = app.get(&format!("{EVENTS}?{query}"), &admin.access).await;
        reply.assert_problem(422, "validation_failed");
        assert!(
            reply.field_errors().iter().any(|(f, _)| f == field),
            "{query}: {}",
            reply.body
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_id_filter_that_is_not_a_uuid_is_422_naming_user_id() {
    let app = TestApp::spawn_with(with_bootstrap_admin).await;
    let admin = app.logged_in(ADMIN_EMAIL).await;

    let reply = app
        .get(&format!("{EVENTS}?user_id=not-a-uuid"), &admin.access)
        .await;

    reply.assert_problem(422, "validation_failed");
    assert_eq!(
        reply.field_errors().first().map(|(f, _)| f.as_str()),
        Some("user_id"),
        "{}",
        reply.body
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn no_audit_row_holds_a_password_a_hash_or_a_token() {
    let trail = scripted_trail().await;
    let rows = trail
        .app
        .query_text(
            "SELECT CAST(id AS TEXT) || ' ' || CAST(at AS TEXT) || ' ' || type || ' ' \
             || COALESCE(CAST(actor_id AS TEXT), '') || ' ' \
             || COALESCE(CAST(subject_id AS TEXT), '') || ' ' || COALESCE(ip, '') || ' ' \
             || COALESCE(user_agent, '') || ' ' || detail AS value FROM audit_events",
        )
        .await;
    let hashes = trail
        .app
        .query_text("SELECT password_hash AS value FROM credentials")
        .await;
    let page = events(&trail, "limit=200").await.to_string();

    assert!(rows.len() >= 15, "the script wrote its events: {rows:?}");
    assert!(!hashes.is_empty());
    for text in rows.iter().chain(std::iter::once(&page)) {
        for secret in trail.secrets.iter().chain(&hashes) {
            assert!(!text.contains(secret.as_str()), "{text} holds a secret");
        }
        for marker in ["$argon2", "argon2id", "eyJ", "password_hash"] {
            assert!(!text.contains(marker), "{text} holds {marker}");
        }
    }
}
