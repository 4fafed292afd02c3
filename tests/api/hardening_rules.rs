//! Issue 19: one password rule wherever a password is set or checked, credential changes
//! that cannot race, and the request-parsing and token rules of the hardening probe.

use std::process::{Command, Output, Stdio};

use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::mail::{MAIL_WAIT, MailServer, spawn_with_mail};
use crate::helpers::{PASSWORD, Reply, TestApp, TestDb, staff_app, test_config};

const PUBLIC_URL: &str = "https://accounts.example.test";

/// Passwords with a control character somewhere inside: tab, newline, carriage return,
/// BEL, DEL, NEL (C1) and NUL.
const CONTROL_PASSWORDS: [&str; 7] = [
    "correct\thorse battery",
    "correct\nhorse battery",
    "correct\rhorse battery",
    "correct\u{7}horse battery",
    "correct\u{7f}horse battery",
    "correct\u{85}horse battery",
    "correct\u{0}horse battery",
];

/// Passwords that must be accepted where set and then sign in.
const PRINTABLE_PASSWORDS: [&str; 5] = [
    "pässwörd ünïcödé çà",
    "пароль надёжный очень",
    "🔐🔑🗝️ emoji phrase",
    "  spaces around it  ",
    "日本語のパスワードです",
];

async fn put(app: &TestApp, path: &str, token: &str, body: Value) -> Reply {
    app.request(Method::PUT, path, Some(token), Some(body))
        .await
}

async fn change_password(app: &TestApp, token: &str, current: &str, new: &str) -> Reply {
    put(
        app,
        "/api/v1/users/me/password",
        token,
        json!({ "current_password": current, "new_password": new }),
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

async fn register_with(app: &TestApp, email: &str, password: &str) -> Reply {
    app.post(
        "/api/v1/users",
        json!({ "email": email, "password": password }),
    )
    .await
}

/// Asserts a 422 whose field error on `field` is `control_characters`.
#[track_caller]
fn assert_control_characters(reply: &Reply, field: &str) {
    reply.assert_problem(422, "validation_failed");
    assert_eq!(
        reply.field_errors(),
        vec![(field.to_owned(), "control_characters".to_owned())],
        "{}",
        reply.body
    );
}

/// Runs `doorman create-admin --email EMAIL` with `password` on stdin.
async fn create_admin(app: &TestApp, email: &str, password: &str) -> Output {
    let (url, email, password) = (
        app.config.database_url.clone(),
        email.to_owned(),
        password.to_owned(),
    );
    tokio::task::spawn_blocking(move || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_doorman"))
            .args(["create-admin", "--email", &email])
            .env("DATABASE_URL", url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the process starts");
        if let Some(mut stdin) = child.stdin.take() {
            use std::io::Write;
            stdin
                .write_all(format!("{password}\n").as_bytes())
                .expect("the write succeeds");
        }
        child.wait_with_output().expect("the process ends")
    })
    .await
    .expect("the blocking task finishes")
}

/// Asks for a reset of `email` and returns the token from the mail.
async fn reset_token(app: &TestApp, mail: &MailServer, email: &str) -> String {
    let reply = app
        .post("/api/v1/auth/password/forgot", json!({ "email": email }))
        .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
    mail.next_reset_mail(MAIL_WAIT)
        .await
        .reset_token(PUBLIC_URL)
}

async fn reset(app: &TestApp, token: &str, new_password: &str) -> Reply {
    app.post(
        "/api/v1/auth/password/reset",
        json!({ "token": token, "new_password": new_password }),
    )
    .await
}

// ---------------------------------------------------------------------------------------
// 1. One rule for passwords

#[tokio::test(flavor = "multi_thread")]
async fn a_password_with_a_control_character_is_refused_at_registration_and_by_staff() {
    let staff = staff_app().await;
    let app = &staff.app;

    for password in CONTROL_PASSWORDS {
        let reply = register_with(app, "ada@example.com", password).await;
        assert_control_characters(&reply, "password");
        let reply = app
            .request(
                Method::POST,
                "/api/v1/admin/users",
                Some(&staff.admin.access),
                Some(json!({ "email": "bob@example.com", "password": password })),
            )
            .await;
        assert_control_characters(&reply, "password");
    }
    assert_eq!(
        app.query_text(
            "SELECT email AS value FROM users WHERE email IN ('ada@example.com', 'bob@example.com')"
        )
        .await,
        Vec::<String>::new()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_with_a_control_character_is_refused_by_change_and_reset() {
    let (app, mail) = spawn_with_mail(|c| c.public_url = PUBLIC_URL.into()).await;
    let tokens = app.signed_in("ada@example.com").await;

    for password in CONTROL_PASSWORDS {
        let reply = change_password(&app, &tokens.access, PASSWORD, password).await;
        assert_control_characters(&reply, "new_password");
    }
    let token = reset_token(&app, &mail, "ada@example.com").await;
    for password in CONTROL_PASSWORDS {
        let reply = reset(&app, &token, password).await;
        assert_control_characters(&reply, "new_password");
    }
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status,
        StatusCode::OK,
        "the password is unchanged"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn create_admin_and_the_bootstrap_admin_refuse_a_password_with_a_control_character() {
    let app = TestApp::spawn().await;

    for password in ["correct\thorse battery", "correct\u{7}horse battery"] {
        let output = create_admin(&app, "ops@example.com", password).await;
        assert!(
            !output.status.success(),
            "{password:?} was accepted: {}",
            String::from_utf8_lossy(&output.stdout)
        );
        assert!(String::from_utf8_lossy(&output.stderr).contains("control characters"));
    }
    assert!(
        app.query_text("SELECT email AS value FROM users")
            .await
            .is_empty()
    );

    let db = TestDb::create().await;
    let mut config = test_config(db.url());
    config.bootstrap_admin_email = Some("root@example.com".into());
    config.bootstrap_admin_password = Some("correct\thorse battery".to_owned().into());
    let started = doorman::startup::Application::build(config).await;
    assert!(
        started.is_err(),
        "the bootstrap admin's password breaks the rule"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_printable_password_that_can_be_set_also_signs_in_and_passes_every_check() {
    let app = TestApp::spawn().await;

    for (n, password) in PRINTABLE_PASSWORDS.into_iter().enumerate() {
        let email = format!("user{n}@example.com");
        let reply = register_with(&app, &email, password).await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "{password:?}: {}",
            reply.body
        );
        let login = app.login(&email, password).await;
        assert_eq!(login.status, StatusCode::OK, "{password:?}: {}", login.body);
        let access = login.body["access_token"].as_str().unwrap_or_default();

        let next = format!("{password} two");
        let changed = change_password(&app, access, password, &next).await;
        assert_eq!(changed.status, StatusCode::NO_CONTENT, "{}", changed.body);
        assert_eq!(app.login(&email, &next).await.status, StatusCode::OK);
        let deleted = delete_me(&app, access, &next).await;
        assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_printable_password_is_accepted_by_staff_creation_and_reset_and_then_signs_in() {
    let staff = staff_app().await;
    for (n, password) in PRINTABLE_PASSWORDS.into_iter().enumerate() {
        let email = format!("made{n}@example.com");
        let created = staff
            .app
            .request(
                Method::POST,
                "/api/v1/admin/users",
                Some(&staff.admin.access),
                Some(json!({ "email": email, "password": password })),
            )
            .await;
        assert_eq!(
            created.status,
            StatusCode::CREATED,
            "{password:?}: {}",
            created.body
        );
        assert_eq!(
            staff.app.login(&email, password).await.status,
            StatusCode::OK
        );
    }

    let (app, mail) = spawn_with_mail(|c| c.public_url = PUBLIC_URL.into()).await;
    app.register("ada@example.com").await;
    for password in PRINTABLE_PASSWORDS {
        let token = reset_token(&app, &mail, "ada@example.com").await;
        let reply = reset(&app, &token, password).await;
        assert_eq!(
            reply.status,
            StatusCode::NO_CONTENT,
            "{password:?}: {}",
            reply.body
        );
        let login = app.login("ada@example.com", password).await;
        assert_eq!(login.status, StatusCode::OK, "{password:?}: {}", login.body);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_is_compared_after_unicode_normalisation() {
    let app = TestApp::spawn().await;
    let composed = "caf\u{e9} cr\u{e8}me br\u{fb}l\u{e9}e";
    let decomposed = "cafe\u{301} cre\u{300}me bru\u{302}le\u{301}e";

    let reply = register_with(&app, "ada@example.com", decomposed).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);

    let login = app.login("ada@example.com", composed).await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    let fullwidth = "ｃａｆｅ\u{301} cre\u{300}me bru\u{302}le\u{301}e";
    assert_eq!(
        app.login("ada@example.com", fullwidth).await.status,
        StatusCode::OK,
        "NFKC folds full-width letters too"
    );
}

/// An argon2id hash of `password` exactly as given: what a credential set before
/// passwords were normalised holds.
fn legacy_hash(password: &str) -> String {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD_NO_PAD;
    let params = argon2::Params::new(1024, 1, 1, Some(32)).expect("valid argon2 parameters");
    let argon2 = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let (salt, mut out) = ([7u8; 16], [0u8; 32]);
    argon2
        .hash_password_into(password.as_bytes(), &salt, &mut out)
        .expect("the hash is computed");
    format!(
        "$argon2id$v=19$m=1024,t=1,p=1${}${}",
        STANDARD_NO_PAD.encode(salt),
        STANDARD_NO_PAD.encode(out)
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_credential_set_before_normalisation_still_signs_in_and_is_then_normalised() {
    let app = TestApp::spawn().await;
    // A no-break space (Option+Space on a Mac), which NFKC turns into a plain space.
    let as_given = "correct\u{a0}horse battery";
    let hash = legacy_hash(as_given);
    let tokens = app.signed_in("ada@example.com").await;
    app.register("bob@example.com").await;
    let stored = app
        .query_text(&format!(
            "UPDATE credentials SET password_hash = '{hash}' WHERE is_current RETURNING password_hash AS value"
        ))
        .await;
    assert_eq!(stored.len(), 2);

    let login = app.login("bob@example.com", as_given).await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    assert_eq!(
        app.login("bob@example.com", "correct horse battery")
            .await
            .status,
        StatusCode::OK,
        "the credential was re-hashed in its normalised form"
    );
    let changed = change_password(&app, &tokens.access, as_given, "a brand new passphrase").await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT, "{}", changed.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_with_a_control_character_is_just_a_wrong_password_where_one_is_checked() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;

    for (n, password) in CONTROL_PASSWORDS.into_iter().enumerate() {
        // A fresh account and name each time, so the lockout after 5 failures stays away.
        let (known, unknown) = (
            format!("known{n}@example.com"),
            format!("nobody{n}@example.com"),
        );
        app.register(&known).await;
        app.login(&known, password)
            .await
            .assert_problem(401, "invalid_credentials");
        app.login(&unknown, password)
            .await
            .assert_problem(401, "invalid_credentials");
        change_password(&app, &tokens.access, password, "a brand new passphrase")
            .await
            .assert_problem(401, "invalid_credentials");
        delete_me(&app, &tokens.access, password)
            .await
            .assert_problem(401, "invalid_credentials");
    }
}

// ---------------------------------------------------------------------------------------
// 2. Credential changes that cannot race

fn outcomes(replies: &[Reply]) -> (usize, Vec<&Reply>) {
    let succeeded = replies
        .iter()
        .filter(|r| r.status == StatusCode::NO_CONTENT)
        .count();
    let others = replies
        .iter()
        .filter(|r| r.status != StatusCode::NO_CONTENT)
        .collect();
    (succeeded, others)
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_concurrent_password_changes_with_one_current_password_let_exactly_one_win() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;
    let new_passwords: Vec<String> = (0..10)
        .map(|n| format!("new passphrase number {n}"))
        .collect();

    let replies = join_all(
        new_passwords
            .iter()
            .map(|new| change_password(&app, &tokens.access, PASSWORD, new)),
    )
    .await;

    let (succeeded, others) = outcomes(&replies);
    assert_eq!(succeeded, 1, "{replies:?}");
    for reply in others {
        reply.assert_problem(401, "invalid_credentials");
    }
    let winner = replies
        .iter()
        .position(|r| r.status == StatusCode::NO_CONTENT)
        .unwrap_or_default();
    let login = app.login("ada@example.com", &new_passwords[winner]).await;
    assert_eq!(
        login.status,
        StatusCode::OK,
        "the winner's password signs in"
    );
    app.login("ada@example.com", PASSWORD)
        .await
        .assert_problem(401, "invalid_credentials");
    let current = app
        .query_text("SELECT password_hash AS value FROM credentials WHERE is_current")
        .await;
    assert_eq!(current.len(), 1, "one current credential");
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_concurrent_deletions_of_one_account_give_one_204_and_401_for_the_rest() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;

    let replies = join_all((0..10).map(|_| delete_me(&app, &tokens.access, PASSWORD))).await;

    let (succeeded, others) = outcomes(&replies);
    assert_eq!(succeeded, 1, "{replies:?}");
    for reply in others {
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
        assert!(
            ["invalid_credentials", "session_revoked"]
                .contains(&reply.body["code"].as_str().unwrap_or("")),
            "{}",
            reply.body
        );
    }
    assert!(
        app.query_text("SELECT email AS value FROM users")
            .await
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deletion_racing_a_password_change_with_the_same_password_never_both_succeed() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;

    let (changed, deleted) = tokio::join!(
        change_password(&app, &tokens.access, PASSWORD, "a brand new passphrase"),
        delete_me(&app, &tokens.access, PASSWORD),
    );

    assert_ne!(
        (changed.status, deleted.status),
        (StatusCode::NO_CONTENT, StatusCode::NO_CONTENT),
        "both acted on one password"
    );
    for reply in [&changed, &deleted] {
        assert!(
            reply.status == StatusCode::NO_CONTENT || reply.status == StatusCode::UNAUTHORIZED,
            "{}: {}",
            reply.status,
            reply.body
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_concurrent_resets_with_one_token_use_it_once() {
    let (app, mail) = spawn_with_mail(|c| c.public_url = PUBLIC_URL.into()).await;
    app.register("ada@example.com").await;
    let token = reset_token(&app, &mail, "ada@example.com").await;
    let new_passwords: Vec<String> = (0..10)
        .map(|n| format!("reset passphrase number {n}"))
        .collect();

    let replies = join_all(new_passwords.iter().map(|new| reset(&app, &token, new))).await;

    let (succeeded, others) = outcomes(&replies);
    assert_eq!(succeeded, 1, "{replies:?}");
    for reply in others {
        reply.assert_problem(400, "invalid_reset_token");
    }
    let current = app
        .query_text("SELECT password_hash AS value FROM credentials WHERE is_current")
        .await;
    assert_eq!(current.len(), 1, "one current credential");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reset_racing_password_changes_leaves_one_current_credential_and_no_500() {
    let (app, mail) = spawn_with_mail(|c| c.public_url = PUBLIC_URL.into()).await;
    let tokens = app.signed_in("ada@example.com").await;
    let token = reset_token(&app, &mail, "ada@example.com").await;
    let new_passwords: Vec<String> = (0..5).map(|n| format!("changed passphrase {n}")).collect();

    let (reset_reply, changes) = tokio::join!(
        reset(&app, &token, "the reset passphrase"),
        join_all(new_passwords.iter().map(|new| change_password(
            &app,
            &tokens.access,
            PASSWORD,
            new
        )))
    );

    assert_eq!(
        reset_reply.status,
        StatusCode::NO_CONTENT,
        "{}",
        reset_reply.body
    );
    for reply in &changes {
        assert!(
            [StatusCode::NO_CONTENT, StatusCode::UNAUTHORIZED].contains(&reply.status),
            "{}: {}",
            reply.status,
            reply.body
        );
    }
    assert!(outcomes(&changes).0 <= 1);
    let current = app
        .query_text("SELECT password_hash AS value FROM credentials WHERE is_current")
        .await;
    assert_eq!(current.len(), 1, "one current credential");
}

// ---------------------------------------------------------------------------------------
// 7. JSON and text that mean two things

/// Sends `body` as it is, so it may hold what `json!` cannot (a key twice).
async fn post_raw(app: &TestApp, path: &str, token: Option<&str>, body: &str) -> Reply {
    let mut request = app
        .client
        .post(app.url(path))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    Reply::from(
        request
            .send()
            .await
            .expect("the request reaches the server"),
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_with_a_key_given_twice_at_any_depth_is_400_malformed_request() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;

    for body in [
        r#"{"email": "eve@example.com", "email": "mallory@example.com", "password": "correct horse battery staple"}"#,
        r#"{"email": "eve@example.com", "password": "correct horse battery staple", "\u0065mail": "mallory@example.com"}"#,
        r#"{"email": "eve@example.com", "password": "correct horse battery staple", "first_name": {"a": 1, "a": 2}}"#,
        r#"{"email": "eve@example.com", "password": "correct horse battery staple", "first_name": [{"a": 1}, {"b": [{"c": 1, "c": 1}]}]}"#,
    ] {
        post_raw(&app, "/api/v1/users", None, body)
            .await
            .assert_problem(400, "malformed_request");
    }
    post_raw(
        &app,
        "/api/v1/auth/login",
        None,
        r#"{"email": "ada@example.com", "password": "wrong", "password": "correct horse battery staple"}"#,
    )
    .await
    .assert_problem(400, "malformed_request");
    post_raw(
        &app,
        "/api/v1/tasks",
        Some(&tokens.access),
        r#"{"title": "one", "title": "two"}"#,
    )
    .await
    .assert_problem(400, "malformed_request");
    assert_eq!(
        app.query_text("SELECT email AS value FROM users").await,
        ["ada@example.com"]
    );
    let same_value_in_two_objects = post_raw(
        &app,
        "/api/v1/users",
        None,
        r#"{"email": "eve@example.com", "password": "correct horse battery staple"}"#,
    )
    .await;
    assert_eq!(same_value_in_two_objects.status, StatusCode::CREATED);
}

/// Name values that show staff nothing, or something other than they hold.
const SPOOFING_NAMES: [(&str, &str); 6] = [
    ("\u{200B}", "no_visible_characters"),
    ("\u{200D}\u{FEFF}\u{2060}", "no_visible_characters"),
    (" \u{3164} \u{00AD} ", "no_visible_characters"),
    ("Ada\u{202E}nimda", "bidi_control_characters"),
    ("\u{2066}Ada\u{2069}", "bidi_control_characters"),
    ("Ada\u{202A}", "bidi_control_characters"),
];

#[tokio::test(flavor = "multi_thread")]
async fn names_that_are_invisible_or_hold_bidi_overrides_are_422_where_set() {
    let staff = staff_app().await;
    let app = &staff.app;

    for (name, code) in SPOOFING_NAMES {
        for field in ["first_name", "last_name"] {
            let expected = vec![(field.to_owned(), code.to_owned())];
            let registered = app
                .post(
                    "/api/v1/users",
                    json!({ "email": "eve@example.com", "password": PASSWORD, field: name }),
                )
                .await;
            registered.assert_problem(422, "validation_failed");
            assert_eq!(registered.field_errors(), expected, "{name:?}");

            let patched = app
                .request(
                    Method::PATCH,
                    "/api/v1/users/me",
                    Some(&staff.user.access),
                    Some(json!({ field: name })),
                )
                .await;
            patched.assert_problem(422, "validation_failed");
            assert_eq!(patched.field_errors(), expected, "{name:?}");

            let created = app
                .request(
                    Method::POST,
                    "/api/v1/admin/users",
                    Some(&staff.admin.access),
                    Some(json!({ "email": "eve@example.com", "password": PASSWORD, field: name })),
                )
                .await;
            created.assert_problem(422, "validation_failed");
            assert_eq!(created.field_errors(), expected, "{name:?}");
        }
    }
    let fine = app
        .post(
            "/api/v1/users",
            json!({ "email": "eve@example.com", "password": PASSWORD, "first_name": "عائشة", "last_name": "Zoë Ångström" }),
        )
        .await;
    assert_eq!(fine.status, StatusCode::CREATED, "{}", fine.body);
}

// ---------------------------------------------------------------------------------------
// 9. Forgot-password answers alike

#[tokio::test(flavor = "multi_thread")]
async fn forgot_answers_known_and_unknown_addresses_with_the_same_status_body_and_headers() {
    let (app, mail) = spawn_with_mail(|c| c.public_url = PUBLIC_URL.into()).await;
    app.register("ada@example.com").await;
    let forgot =
        |email: &'static str| app.post("/api/v1/auth/password/forgot", json!({ "email": email }));

    let (known, unknown, unknown_in_capitals) = (
        forgot("ada@example.com").await,
        forgot("nobody@example.com").await,
        forgot("Nobody@Example.COM").await,
    );

    let comparable = |reply: &Reply| {
        let mut headers: Vec<(String, String)> = reply
            .headers
            .iter()
            .filter(|(name, _)| !["date", "x-request-id"].contains(&name.as_str()))
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    value.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        headers.sort();
        (reply.status, reply.body.clone(), headers)
    };
    assert_eq!(known.status, StatusCode::ACCEPTED);
    assert_eq!(comparable(&known), comparable(&unknown));
    assert_eq!(comparable(&known), comparable(&unknown_in_capitals));

    let delivered = mail.next_reset_mail(MAIL_WAIT).await;
    assert_eq!(delivered.recipients, vec!["ada@example.com".to_owned()]);
    let token = delivered.reset_token(PUBLIC_URL);
    assert_eq!(
        reset(&app, &token, "a brand new passphrase").await.status,
        StatusCode::NO_CONTENT,
        "the mailed token works"
    );
    // The unknown addresses' work is done in the background too: wait for its audit events.
    let mut found = Vec::new();
    for _ in 0..100 {
        found = app
            .query_text(
                "SELECT detail AS value FROM audit_events WHERE type = 'password.reset_requested'",
            )
            .await;
        if found.len() == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(found.len(), 3, "every request is audited: {found:?}");
}
