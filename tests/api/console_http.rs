//! The web console over plain HTTP: cookies, CSRF, headers, redirects and forms without
//! JavaScript.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::visitor::Visitor;
use crate::helpers::{ADMIN_EMAIL, PASSWORD, TestApp, staff_app};

const SESSION_COOKIE: &str = "doorman_session";

async fn registered(app: &TestApp, email: &str) {
    app.register(email).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_session_cookie_is_opaque_httponly_strict_and_kept_only_as_a_hash() {
    let app = TestApp::spawn().await;
    registered(&app, "ada@example.com").await;
    let visitor = Visitor::new(&app);

    let signed_in = visitor.sign_in("ada@example.com", PASSWORD).await;

    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.body
    );
    assert_eq!(signed_in.location(), "/dashboard");
    let line = signed_in
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("doorman_session="))
        .expect("no session cookie");
    assert!(line.contains("HttpOnly"), "{line}");
    assert!(line.contains("SameSite=Strict"), "{line}");
    assert!(line.contains("Path=/"), "{line}");
    assert!(!line.contains("Secure"), "plain http: {line}");
    let token = visitor.cookie(SESSION_COOKIE).unwrap_or_default();
    assert!(
        token.len() >= 40 && !token.contains('.'),
        "not a JWT: {token}"
    );
    let stored = app
        .query_text("SELECT token_hash AS value FROM console_sessions")
        .await;
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0], token, "the token itself is never stored");
    assert_eq!(stored[0].len(), 64, "a SHA-256 in hex");
}

#[tokio::test(flavor = "multi_thread")]
async fn with_an_https_public_url_the_cookies_are_secure_and_host_prefixed() {
    let app = TestApp::spawn_with(|c| c.public_url = "https://doorman.example".into()).await;
    registered(&app, "ada@example.com").await;
    let visitor = Visitor::new(&app);

    let form = visitor.get("/login").await;
    let csrf_line = form.set_cookies().join("\n");
    let signed_in = visitor.sign_in("ada@example.com", PASSWORD).await;

    assert!(
        csrf_line.starts_with("__Host-doorman_csrf=") && csrf_line.contains("Secure"),
        "{csrf_line}"
    );
    let line = signed_in.set_cookies().join("\n");
    assert!(line.starts_with("__Host-doorman_session="), "{line}");
    assert!(
        line.contains("Secure") && line.contains("HttpOnly"),
        "{line}"
    );
    assert!(
        line.contains("SameSite=Strict") && line.contains("Path=/"),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_console_session_is_an_ordinary_session_listed_and_ended_by_the_api() {
    let app = TestApp::spawn().await;
    registered(&app, "ada@example.com").await;
    let visitor = Visitor::new(&app);
    visitor.sign_in("ada@example.com", PASSWORD).await;
    let api = app.logged_in("ada@example.com").await;

    let sessions = app.api().list_my_sessions(&api.access).await;
    assert_eq!(
        sessions.body.as_array().map(Vec::len),
        Some(2),
        "{}",
        sessions.body
    );
    assert_eq!(visitor.get("/dashboard").await.status, StatusCode::OK);

    let reply = app
        .request(
            Method::DELETE,
            "/api/v1/users/me/sessions",
            Some(&api.access),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);

    let after = visitor.get("/dashboard").await;
    assert_eq!(after.status, StatusCode::SEE_OTHER);
    assert_eq!(after.location(), "/login?next=%2Fdashboard");
}

#[tokio::test(flavor = "multi_thread")]
async fn signing_out_on_the_page_revokes_the_session_and_clears_the_cookie() {
    let app = TestApp::spawn().await;
    registered(&app, "ada@example.com").await;
    let visitor = Visitor::new(&app);
    visitor.sign_in("ada@example.com", PASSWORD).await;
    let token = visitor.cookie(SESSION_COOKIE).unwrap_or_default();
    let csrf = visitor.csrf("/dashboard").await;
    let by_get = visitor.get("/logout").await;
    assert_eq!(by_get.status, StatusCode::NOT_FOUND, "POST only");
    assert_eq!(visitor.get("/dashboard").await.status, StatusCode::OK);

    let out = visitor.post("/logout", &[("csrf", csrf.as_str())]).await;

    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.location(), "/login?notice=signed_out");
    assert_eq!(visitor.cookie(SESSION_COOKIE), None);
    visitor.set_cookie(SESSION_COOKIE, &token);
    assert_eq!(
        visitor.get("/dashboard").await.status,
        StatusCode::SEE_OTHER
    );
    let revoked = app
        .query_text("SELECT CASE WHEN revoked_at IS NULL THEN 'live' ELSE 'revoked' END AS value FROM sessions")
        .await;
    assert_eq!(revoked, ["revoked"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_form_without_the_right_csrf_token_or_from_another_site_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    registered(&app, "ada@example.com").await;
    let visitor = Visitor::new(&app);
    visitor.sign_in("ada@example.com", PASSWORD).await;
    let csrf = visitor.csrf("/dashboard").await;
    let own = app.address.clone();

    type Pairs<'a> = Vec<(&'a str, &'a str)>;
    let cases: [(&str, Pairs, Pairs); 4] = [
        ("no token", vec![], vec![("origin", own.as_str())]),
        (
            "wrong token",
            vec![("csrf", "0123")],
            vec![("origin", own.as_str())],
        ),
        (
            "cross-site fetch",
            vec![("csrf", csrf.as_str())],
            vec![("sec-fetch-site", "cross-site")],
        ),
        (
            "foreign origin",
            vec![("csrf", csrf.as_str())],
            vec![("origin", "https://evil.example")],
        ),
    ];
    for (case, mut fields, headers) in cases {
        fields.push(("title", "planted"));
        let page = visitor
            .post_with("/dashboard/tasks", &fields, &headers)
            .await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{case}");
        assert!(
            page.body.contains("Request refused"),
            "{case}: {}",
            page.body
        );
        assert!(
            page.header("content-type").starts_with("text/html"),
            "{case}"
        );
    }
    let tasks = app.query_text("SELECT title AS value FROM tasks").await;
    assert!(tasks.is_empty(), "{tasks:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_passkey_scripts_endpoint_answers_a_refused_form_in_json_it_can_show() {
    let app = TestApp::spawn().await;
    registered(&app, "ada@example.com").await;
    let visitor = Visitor::new(&app);
    visitor.sign_in("ada@example.com", PASSWORD).await;
    let csrf = visitor.csrf("/profile").await;
    let signed_out = Visitor::new(&app);

    let stale = visitor
        .post(
            "/profile/passkeys/options",
            &[("csrf", "0123"), ("password", PASSWORD)],
        )
        .await;
    let wrong_password = visitor
        .post(
            "/profile/passkeys/options",
            &[("csrf", csrf.as_str()), ("password", "not the password")],
        )
        .await;
    let gone = signed_out
        .post(
            "/profile/passkeys/options",
            &[("csrf", csrf.as_str()), ("password", PASSWORD)],
        )
        .await;

    for (case, page, status, words) in [
        (
            "stale form",
            &stale,
            StatusCode::FORBIDDEN,
            "Reload the page",
        ),
        (
            "wrong password",
            &wrong_password,
            StatusCode::UNAUTHORIZED,
            "The password is not correct.",
        ),
        ("signed out", &gone, StatusCode::UNAUTHORIZED, "signed out"),
    ] {
        assert_eq!(page.status, status, "{case}: {}", page.body);
        assert!(
            page.header("content-type").starts_with("application/json"),
            "{case}"
        );
        let body: serde_json::Value = serde_json::from_str(&page.body).expect("JSON");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(message.contains(words), "{case}: {message}");
    }
    let challenges = app
        .query_text("SELECT id AS value FROM webauthn_challenges")
        .await;
    assert!(challenges.is_empty(), "{challenges:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn signing_in_without_the_forms_token_is_refused_and_opens_no_session() {
    let app = TestApp::spawn().await;
    registered(&app, "ada@example.com").await;
    let visitor = Visitor::new(&app);
    visitor.get("/login").await;

    let page = visitor
        .post(
            "/login",
            &[
                ("csrf", "forged"),
                ("identifier", "ada@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;

    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert_eq!(visitor.cookie(SESSION_COOKIE), None);
    let sessions = app.query_text("SELECT id AS value FROM sessions").await;
    assert!(sessions.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn origin_null_from_the_no_referrer_reset_page_is_decided_by_sec_fetch_site() {
    let app = TestApp::spawn().await;
    let visitor = Visitor::new(&app);
    let csrf = visitor.get("/forgot-password").await.input("csrf");
    let fields = [("csrf", csrf.as_str()), ("email", "nobody@example.com")];

    let same = visitor
        .post_with(
            "/forgot-password",
            &fields,
            &[("origin", "null"), ("sec-fetch-site", "same-origin")],
        )
        .await;
    let cross = visitor
        .post_with(
            "/forgot-password",
            &fields,
            &[("origin", "null"), ("sec-fetch-site", "cross-site")],
        )
        .await;

    assert_eq!(same.status, StatusCode::SEE_OTHER, "{}", same.body);
    assert_eq!(same.location(), "/login?notice=reset_sent");
    assert_eq!(cross.status, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_page_carries_the_security_headers_and_account_pages_are_not_stored() {
    let app = TestApp::spawn().await;
    registered(&app, "ada@example.com").await;
    let visitor = Visitor::new(&app);
    visitor.sign_in("ada@example.com", PASSWORD).await;
    let anonymous = Visitor::new(&app);

    for path in [
        "/login",
        "/register",
        "/forgot-password",
        "/dashboard",
        "/profile",
    ] {
        let page = match path {
            "/dashboard" | "/profile" => visitor.get(path).await,
            _ => anonymous.get(path).await,
        };
        assert_eq!(page.status, StatusCode::OK, "{path}");
        let csp = page.header("content-security-policy");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert!(csp.contains("default-src 'none'"), "{path}: {csp}");
        assert_eq!(page.header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(page.header("referrer-policy"), "same-origin", "{path}");
        assert_eq!(page.header("cache-control"), "no-store", "{path}");
        assert!(
            page.body.starts_with("<!doctype html>\n<html lang=\"en\">"),
            "{path}"
        );
        assert_eq!(page.body.matches("<h1").count(), 1, "{path}");
        // The one script, on the two pages with passkeys: from this origin, never inline.
        if ["/login", "/profile"].contains(&path) {
            assert_eq!(page.body.matches("<script").count(), 1, "{path}");
            assert!(
                page.body.contains("<script src=\"/assets/passkeys."),
                "{path}"
            );
            assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        } else {
            assert!(!page.body.contains("<script"), "{path}");
            assert!(!csp.contains("script-src"), "{path}: {csp}");
        }
        assert!(!page.body.contains("style=\""), "{path}: no inline style");
    }
    let reset = visitor.get("/reset-password?token=abc").await;
    assert_eq!(reset.header("referrer-policy"), "no-referrer");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_stylesheet_has_a_hashed_name_a_long_lifetime_and_is_compressed() {
    let app = TestApp::spawn().await;
    let page = Visitor::new(&app).get("/login").await;
    let start = page.body.find("/assets/app.").expect("no stylesheet");
    let end = page.body[start..].find('"').unwrap_or(0) + start;
    let path = &page.body[start..end];
    assert!(
        path.len() == "/assets/app.0123456789abcdef.css".len(),
        "{path}"
    );

    let response = app
        .client
        .get(app.url(path))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("the request reaches the server");

    assert_eq!(response.status(), StatusCode::OK);
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    assert_eq!(
        header("cache-control"),
        "public, max-age=31536000, immutable"
    );
    assert_eq!(header("content-encoding"), "gzip");
    assert!(header("content-type").starts_with("text/css"));
    let missing = app.client.get(app.url("/assets/app.0000.css")).send().await;
    assert_eq!(
        missing.map(|r| r.status()).ok(),
        Some(StatusCode::NOT_FOUND)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn not_signed_in_pages_redirect_to_login_and_come_back_only_to_same_site_paths() {
    let app = TestApp::spawn().await;
    registered(&app, "ada@example.com").await;
    let visitor = Visitor::new(&app);

    let home = visitor.get("/").await;
    let profile = visitor.get("/profile?x=1").await;
    assert_eq!(home.location(), "/login");
    assert_eq!(profile.status, StatusCode::SEE_OTHER);
    assert_eq!(profile.location(), "/login?next=%2Fprofile%3Fx%3D1");

    for (next, expected) in [
        ("/profile", "/profile"),
        ("//evil.example/x", "/dashboard"),
        ("https://evil.example/", "/dashboard"),
        ("/\\evil.example", "/dashboard"),
        ("javascript:alert(1)", "/dashboard"),
    ] {
        let fresh = Visitor::new(&app);
        let url = format!("/login?next={}", urlencode(next));
        let form = fresh.get(&url).await;
        let csrf = form.input("csrf");
        let kept = form.input("next");
        let done = fresh
            .post(
                "/login",
                &[
                    ("csrf", csrf.as_str()),
                    ("identifier", "ada@example.com"),
                    ("password", PASSWORD),
                    ("next", kept.as_str()),
                ],
            )
            .await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{next}");
        assert_eq!(done.location(), expected, "{next}");
    }
    let signed_in_home = {
        let v = Visitor::new(&app);
        v.sign_in("ada@example.com", PASSWORD).await;
        v.get("/").await
    };
    assert_eq!(signed_in_home.location(), "/dashboard");
}

fn urlencode(value: &str) -> String {
    serde_urlencoded::to_string([("v", value)])
        .unwrap_or_default()
        .trim_start_matches("v=")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_paths_are_an_html_page_for_browsers_and_problem_json_for_api_clients() {
    let app = TestApp::spawn().await;
    let browser = Visitor::new(&app).get("/no-such-page").await;
    let api = app.client.get(app.url("/no-such-page")).send().await;

    assert_eq!(browser.status, StatusCode::NOT_FOUND);
    assert!(browser.header("content-type").starts_with("text/html"));
    assert!(browser.body.contains("Page not found"));
    assert!(
        browser.body.contains(browser.header("x-request-id")),
        "shows the request id"
    );
    let api = api.expect("the request reaches the server");
    assert_eq!(api.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        api.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plain_user_gets_a_403_page_on_the_admin_dashboard_and_staff_get_it() {
    let staff = staff_app().await;
    let user = Visitor::new(&staff.app);
    user.sign_in("user@example.com", PASSWORD).await;
    let sub = Visitor::new(&staff.app);
    sub.sign_in("sub@example.com", PASSWORD).await;

    let refused = user.get("/admin-dashboard").await;
    let shown = sub.get("/admin-dashboard").await;
    let audit = sub.get("/admin-dashboard/audit").await;

    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.body.contains("Not allowed"), "{}", refused.body);
    assert_eq!(shown.status, StatusCode::OK);
    assert!(shown.body.contains(ADMIN_EMAIL));
    assert!(
        !shown.body.contains("Create user"),
        "only admins create users"
    );
    assert_eq!(
        audit.status,
        StatusCode::FORBIDDEN,
        "audit events are admin-only"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_registration_comes_back_with_what_was_typed_but_never_the_password() {
    let app = TestApp::spawn().await;
    let visitor = Visitor::new(&app);
    let csrf = visitor.get("/register").await.input("csrf");

    let page = visitor
        .post(
            "/register",
            &[
                ("csrf", csrf.as_str()),
                ("email", "not-an-email"),
                ("first_name", "Ada"),
                ("password", "SecretPass-77"),
                ("confirm_password", "different"),
            ],
        )
        .await;

    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("role=\"alert\""));
    assert!(page.body.contains("value=\"not-an-email\""));
    assert!(page.body.contains("value=\"Ada\""));
    assert!(!page.body.contains("SecretPass-77"));
    assert!(page.body.contains(
        "name=\"email\" type=\"email\" value=\"not-an-email\" autocomplete=\"email\" required aria-invalid=\"true\" aria-describedby=\"f-email-error\""
    ), "{}", page.body);
    assert!(page.body.contains("id=\"f-email-error\""));
    assert!(
        page.body
            .contains("aria-describedby=\"f-confirm_password-error\"")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn registering_on_the_page_lands_signed_in_on_the_dashboard_with_the_audit_event() {
    let app = TestApp::spawn().await;
    let visitor = Visitor::new(&app);
    let csrf = visitor.get("/register").await.input("csrf");

    let page = visitor
        .post(
            "/register",
            &[
                ("csrf", csrf.as_str()),
                ("email", "Ada@Example.com"),
                ("username", "ada"),
                ("password", PASSWORD),
                ("confirm_password", PASSWORD),
            ],
        )
        .await;

    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(page.location(), "/dashboard");
    let dashboard = visitor.get("/dashboard").await;
    assert!(dashboard.body.contains("ada@example.com"));
    let events = app
        .query_text("SELECT type AS value FROM audit_events ORDER BY at")
        .await;
    assert_eq!(events, ["user.registered", "login.succeeded"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn registration_closed_says_so_and_shows_no_form() {
    let app = TestApp::spawn_with(|c| c.registration = doorman::config::Registration::Closed).await;
    let page = Visitor::new(&app).get("/register").await;
    assert!(page.body.contains("Registration is closed"));
    assert!(!page.body.contains("Create account</button>"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_locked_account_is_told_how_long_to_wait() {
    let app = TestApp::spawn().await;
    registered(&app, "ada@example.com").await;
    let visitor = Visitor::new(&app);
    let mut last = None;
    for _ in 0..6 {
        last = Some(visitor.sign_in("ada@example.com", "wrong password!").await);
    }
    let page = last.expect("no attempt");

    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.body.contains("Too many attempts. Please wait"),
        "{}",
        page.body
    );
    assert!(page.body.contains("second"), "{}", page.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn tasks_work_as_plain_form_posts_each_answered_by_a_redirect() {
    let app = TestApp::spawn().await;
    registered(&app, "ada@example.com").await;
    let visitor = Visitor::new(&app);
    visitor.sign_in("ada@example.com", PASSWORD).await;
    let csrf = visitor.csrf("/dashboard").await;

    let added = visitor
        .post(
            "/dashboard/tasks",
            &[("csrf", csrf.as_str()), ("title", "Buy milk")],
        )
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER);
    let api = app.logged_in("ada@example.com").await;
    let list = app.get("/api/v1/tasks", &api.access).await;
    let id = list.body["items"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let path = format!("/dashboard/tasks/{id}");

    let done = visitor
        .post(
            &path,
            &[
                ("csrf", csrf.as_str()),
                ("action", "done"),
                ("back", "/dashboard?show=open"),
            ],
        )
        .await;
    assert_eq!(done.location(), "/dashboard?show=open&notice=task_saved");
    let saved = visitor
        .post(
            &path,
            &[
                ("csrf", csrf.as_str()),
                ("action", "save"),
                ("title", "Buy oat milk"),
                ("description", "2 litres"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER);
    let task = app.get(&format!("/api/v1/tasks/{id}"), &api.access).await;
    assert_eq!(task.body["title"], json!("Buy oat milk"));
    assert_eq!(task.body["description"], json!("2 litres"));
    assert_eq!(task.body["done"], json!(true));

    let empty_title = visitor
        .post(
            &path,
            &[("csrf", csrf.as_str()), ("action", "save"), ("title", "")],
        )
        .await;
    assert_eq!(empty_title.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        empty_title
            .body
            .contains("aria-describedby=\"f-edit-title-error\"")
    );

    let deleted = visitor
        .post(&path, &[("csrf", csrf.as_str()), ("action", "delete")])
        .await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER);
    let gone = app.get(&format!("/api/v1/tasks/{id}"), &api.access).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_a_task_on_the_page_asks_first_and_deletes_only_when_confirmed() {
    let app = TestApp::spawn().await;
    registered(&app, "ada@example.com").await;
    let visitor = Visitor::new(&app);
    visitor.sign_in("ada@example.com", PASSWORD).await;
    let api = app.logged_in("ada@example.com").await;
    let created = app
        .request(
            Method::POST,
            "/api/v1/tasks",
            Some(&api.access),
            Some(json!({"title": "Water the plants"})),
        )
        .await;
    let id = crate::helpers::id_of(&created.body);

    let list = visitor.get("/dashboard").await;
    let question = visitor
        .get(&format!("/dashboard?show=all&page=1&delete={id}"))
        .await;

    assert!(
        list.body.contains(&format!("delete={id}#confirm\"")),
        "the Delete link asks first: {}",
        list.body
    );
    assert!(
        !list.body.contains("value=\"delete\""),
        "no delete button before the question"
    );
    assert_eq!(question.status, StatusCode::OK);
    assert!(
        question
            .body
            .contains("Delete the task <strong class=\"text-break\">Water the plants</strong>?"),
        "{}",
        question.body
    );
    assert!(question.body.contains("name=\"action\" value=\"delete\""));
    let still = app.get(&format!("/api/v1/tasks/{id}"), &api.access).await;
    assert_eq!(still.status, StatusCode::OK, "asking deletes nothing");

    let csrf = question.input("csrf");
    let deleted = visitor
        .post(
            &format!("/dashboard/tasks/{id}"),
            &[
                ("csrf", csrf.as_str()),
                ("back", "/dashboard?show=all&page=1"),
                ("action", "delete"),
            ],
        )
        .await;
    assert_eq!(
        deleted.location(),
        "/dashboard?show=all&page=1&notice=task_deleted"
    );
    let result = visitor.get(deleted.location()).await;
    assert!(result.body.contains("Task deleted."));
    let gone = app.get(&format!("/api/v1/tasks/{id}"), &api.access).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread")]
async fn changing_a_role_on_the_page_asks_first_naming_both_roles_then_reports_the_change() {
    let staff = staff_app().await;
    let admin = Visitor::new(&staff.app);
    admin.sign_in(ADMIN_EMAIL, PASSWORD).await;
    let id = &staff.user.user_id;
    let path = format!("/admin-dashboard/users/{id}");

    let page = admin.get(&path).await;
    let question = admin.get(&format!("{path}?confirm=role&role=admin")).await;

    assert!(page.body.contains("<form method=\"get\""), "{}", page.body);
    assert!(!page.body.contains("name=\"action\" value=\"role\""));
    assert_eq!(question.status, StatusCode::OK);
    assert!(
        question
            .body
            .contains("Change role of user@example.com from user to admin?"),
        "{}",
        question.body
    );
    assert!(question.body.contains("name=\"role\" value=\"admin\""));
    let me = staff.app.get("/api/v1/users/me", &staff.user.access).await;
    assert_eq!(me.body["role"], json!("user"), "asking changes nothing");

    let csrf = question.input("csrf");
    let changed = admin
        .post(
            &path,
            &[
                ("csrf", csrf.as_str()),
                ("action", "role"),
                ("role", "admin"),
            ],
        )
        .await;
    assert_eq!(changed.status, StatusCode::SEE_OTHER);
    let result = admin.get(changed.location()).await;
    assert!(result.body.contains("Done: the role was changed."));
    assert!(result.body.contains("<dd class=\"col-7\">admin</dd>"));

    let unchanged = admin.get(&format!("{path}?confirm=role&role=admin")).await;
    assert!(unchanged.body.contains("the user already has this role"));
    assert!(!unchanged.body.contains("Change role of"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sub_admin_is_not_asked_to_confirm_a_role_change_it_may_not_make() {
    let staff = staff_app().await;
    let sub = Visitor::new(&staff.app);
    sub.sign_in("sub@example.com", PASSWORD).await;
    let id = &staff.user.user_id;

    let page = sub
        .get(&format!(
            "/admin-dashboard/users/{id}?confirm=role&role=admin"
        ))
        .await;

    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("Change role"), "{}", page.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_are_gzipped_on_the_worker_for_clients_that_take_gzip_even_when_they_list_brotli() {
    use std::io::Read as _;
    let app = TestApp::spawn().await;
    registered(&app, "ada@example.com").await;
    let visitor = Visitor::new(&app);
    visitor.sign_in("ada@example.com", PASSWORD).await;
    let plain = visitor.get("/dashboard").await;
    let cookie = format!(
        "{SESSION_COOKIE}={}",
        visitor.cookie(SESSION_COOKIE).unwrap_or_default()
    );

    let response = app
        .client
        .get(app.url("/dashboard"))
        .header("cookie", cookie)
        .header("accept-encoding", "gzip, deflate, br, zstd")
        .send()
        .await
        .expect("GET /dashboard");

    assert_eq!(plain.header("content-encoding"), "");
    assert_eq!(response.status(), StatusCode::OK);
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    assert_eq!(header("content-encoding"), "gzip");
    assert!(header("vary").contains("accept-encoding"));
    assert_eq!(header("cache-control"), "no-store");
    let body = response.bytes().await.expect("reading the compressed body");
    let mut html = String::new();
    flate2::read::GzDecoder::new(&body[..])
        .read_to_string(&mut html)
        .expect("the body is not gzip");
    assert!(
        html.contains("<h1 class=\"mb-0\">Your tasks</h1>"),
        "{html}"
    );
    assert!(body.len() < plain.body.len());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_last_admin_cannot_demote_itself_on_the_page_and_is_told_why() {
    let staff = staff_app().await;
    let admin = Visitor::new(&staff.app);
    admin.sign_in(ADMIN_EMAIL, PASSWORD).await;
    let id = crate::helpers::id_of(&staff.app.api().get_me(&staff.admin.access).await.body);
    let path = format!("/admin-dashboard/users/{id}");
    let csrf = admin.csrf(&path).await;

    let page = admin
        .post(
            &path,
            &[
                ("csrf", csrf.as_str()),
                ("action", "role"),
                ("role", "user"),
            ],
        )
        .await;

    assert_eq!(page.status, StatusCode::CONFLICT);
    assert!(page.body.contains("last_admin"), "{}", page.body);
    assert!(page.body.contains("role=\"alert\""));
    let me = staff.app.api().get_me(&staff.admin.access).await;
    assert_eq!(me.body["role"], json!("admin"));
}

#[tokio::test(flavor = "multi_thread")]
async fn console_sign_ins_and_pages_are_counted_in_the_metrics() {
    let app = TestApp::spawn().await;
    registered(&app, "ada@example.com").await;
    let visitor = Visitor::new(&app);
    visitor.sign_in("ada@example.com", PASSWORD).await;
    Visitor::new(&app)
        .sign_in("ada@example.com", "wrong password!")
        .await;
    visitor.get("/dashboard").await;

    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("the request reaches the server")
        .text()
        .await
        .unwrap_or_default();

    assert!(
        metrics.contains("doorman_logins_total{outcome=\"succeeded\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("doorman_logins_total{outcome=\"failed\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics
            .contains("http_requests_total{method=\"GET\",route=\"/dashboard\",status=\"200\"} 1"),
        "{metrics}"
    );
}
