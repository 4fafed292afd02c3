//! Second factors over HTTP: TOTP enrolment, the second step of a sign-in, recovery codes,
//! `amr`, the `DOORMAN_MFA_REQUIRED` policy and the staff reset.

use doorman::config::MfaRequired;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use totp_rs::{Builder, Secret};

use crate::helpers::browser::with_browser;
use crate::helpers::jwt::claims;
use crate::helpers::mail::{MAIL_WAIT, spawn_with_mail};
use crate::helpers::visitor::Visitor;
use crate::helpers::{
    ADMIN_EMAIL, PASSWORD, Reply, TestApp, Tokens, id_of, staff_app, with_bootstrap_admin,
};

const STEP: u64 = 30;

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// Waits out the last two seconds of a time step, so a code computed now is checked by the
/// server in the same step (this wait is set-up, not an assertion).
async fn fresh_step() {
    let into = unix_now() % STEP;
    if into >= STEP - 2 {
        tokio::time::sleep(std::time::Duration::from_secs(STEP - into + 1)).await;
    }
}

/// The code of `secret` (base32) for the time step `offset` steps from now.
fn code(secret: &str, offset: i64) -> String {
    let secret = Secret::try_from_base32(secret).expect("a base32 secret");
    let totp = Builder::new()
        .with_secret(secret)
        .build()
        .expect("an RFC 6238 TOTP");
    let now = i64::try_from(unix_now()).expect("a time");
    let at = u64::try_from(now + offset * i64::try_from(STEP).expect("a step")).expect("a time");
    totp.generate(at).to_string()
}

async fn call(app: &TestApp, method: Method, path: &str, token: &str, body: Value) -> Reply {
    app.request(method, path, Some(token), Some(body)).await
}

/// Starts an enrolment; returns the secret.
async fn begin(app: &TestApp, tokens: &Tokens) -> String {
    let reply = call(
        app,
        Method::POST,
        "/api/v1/users/me/mfa/totp",
        &tokens.access,
        json!({ "password": PASSWORD }),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["secret"].as_str().expect("a secret").to_owned()
}

async fn confirm(app: &TestApp, tokens: &Tokens, code: &str) -> Reply {
    call(
        app,
        Method::POST,
        "/api/v1/users/me/mfa/totp/confirm",
        &tokens.access,
        json!({ "code": code }),
    )
    .await
}

/// Turns TOTP on, confirmed with the code of the step before this one (one step of drift
/// is accepted), so the codes of this step and the next are still unused. Returns the
/// secret and the recovery codes.
async fn enrol(app: &TestApp, tokens: &Tokens) -> (String, Vec<String>) {
    let secret = begin(app, tokens).await;
    fresh_step().await;
    let reply = confirm(app, tokens, &code(&secret, -1)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let codes = reply.body["recovery_codes"]
        .as_array()
        .expect("recovery codes")
        .iter()
        .map(|c| c.as_str().expect("a code").to_owned())
        .collect();
    (secret, codes)
}

/// Signs in with the password: asserts `401 mfa_required`; returns the `mfa_token`.
async fn mfa_token(app: &TestApp, email: &str) -> String {
    let reply = app.login(email, PASSWORD).await;
    reply.assert_problem(401, "mfa_required");
    reply.body["mfa_token"]
        .as_str()
        .expect("an mfa_token")
        .to_owned()
}

async fn second_step(app: &TestApp, body: Value) -> Reply {
    app.post("/api/v1/auth/mfa", body).await
}

fn amr(reply: &Reply) -> Value {
    claims(
        reply.body["access_token"]
            .as_str()
            .expect("an access token"),
    )["amr"]
        .clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn enrolment_needs_the_password_and_stays_pending_until_a_code_confirms_it() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;

    call(
        &app,
        Method::POST,
        "/api/v1/users/me/mfa/totp",
        &tokens.access,
        json!({ "password": "not the password at all" }),
    )
    .await
    .assert_problem(401, "invalid_credentials");

    let reply = call(
        &app,
        Method::POST,
        "/api/v1/users/me/mfa/totp",
        &tokens.access,
        json!({ "password": PASSWORD }),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let secret = reply.body["secret"].as_str().expect("a secret");
    assert!(secret.len() >= 32, "at least 160 bits: {secret}");
    assert_eq!(
        reply.body["otpauth_uri"],
        format!("otpauth://totp/doorman:ada%40example.com?secret={secret}&issuer=doorman")
    );
    let svg = reply.body["qr_svg"].as_str().expect("an SVG");
    assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"), "{svg}");
    assert!(!svg.contains("style"), "inline style would break the CSP");

    let status = app.get("/api/v1/users/me/mfa", &tokens.access).await;
    assert_eq!(
        status.body,
        json!({ "totp": false, "passkeys": 0, "recovery_codes_left": 0, "required": false })
    );
    let pending = app.login("ada@example.com", PASSWORD).await;
    assert_eq!(
        pending.status,
        StatusCode::OK,
        "a pending factor asks for nothing"
    );

    fresh_step().await;
    confirm(&app, &tokens, &code(secret, 5))
        .await
        .assert_problem(401, "invalid_mfa_code");
    let confirmed = confirm(&app, &tokens, &code(secret, 0)).await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.body);
    let codes = confirmed.body["recovery_codes"].as_array().expect("codes");
    assert_eq!(codes.len(), 10);

    let status = app.get("/api/v1/users/me/mfa", &tokens.access).await;
    assert_eq!(status.body["totp"], true);
    assert_eq!(status.body["recovery_codes_left"], 10);
    let login = app.login("ada@example.com", PASSWORD).await;
    login.assert_problem(401, "mfa_required");
    assert_eq!(login.body["methods"], json!(["totp", "recovery_code"]));
    assert!(login.body["mfa_token"].as_str().expect("a token").len() >= 22);
    assert!(login.body.get("access_token").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn confirming_with_nothing_pending_is_a_validation_error() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;

    let reply = confirm(&app, &tokens, "123456").await;

    reply.assert_problem(422, "validation_failed");
    assert_eq!(
        reply.field_errors(),
        vec![("code".to_owned(), "no_pending_enrolment".to_owned())]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_newer_enrolment_replaces_the_pending_one() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;
    let first = begin(&app, &tokens).await;
    let second = begin(&app, &tokens).await;
    assert_ne!(first, second);

    fresh_step().await;
    confirm(&app, &tokens, &code(&first, 0))
        .await
        .assert_problem(401, "invalid_mfa_code");
    let reply = confirm(&app, &tokens, &code(&second, 0)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_password_says_invalid_credentials_and_nothing_of_factors() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;
    enrol(&app, &tokens).await;

    let reply = app
        .login("ada@example.com", "not the password at all")
        .await;

    reply.assert_problem(401, "invalid_credentials");
    assert!(reply.body.get("mfa_token").is_none());
    assert!(reply.body.get("methods").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_totp_code_finishes_the_sign_in_with_amr_kept_by_refresh_and_introspection() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;
    assert_eq!(claims(&tokens.access)["amr"], json!(["pwd"]));
    let (secret, _) = enrol(&app, &tokens).await;

    let token = mfa_token(&app, "ada@example.com").await;
    let reply = second_step(
        &app,
        json!({ "mfa_token": token, "totp_code": code(&secret, 0) }),
    )
    .await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    assert_eq!(amr(&reply), json!(["pwd", "otp", "mfa"]));
    let signed_in = Tokens::from(&reply.body);
    let refreshed = app.refresh(&signed_in.refresh).await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.body);
    assert_eq!(amr(&refreshed), json!(["pwd", "otp", "mfa"]));
    let introspected = app
        .post(
            "/api/v1/auth/introspect",
            json!({ "token": refreshed.body["access_token"] }),
        )
        .await;
    assert_eq!(introspected.body["active"], true);
    assert_eq!(introspected.body["amr"], json!(["pwd", "otp", "mfa"]));
    let me = app.get("/api/v1/users/me", &signed_in.access).await;
    assert_eq!(me.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_totp_code_is_accepted_once() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;
    let (secret, _) = enrol(&app, &tokens).await;
    let now = code(&secret, 0);

    let first = second_step(
        &app,
        json!({ "mfa_token": mfa_token(&app, "ada@example.com").await, "totp_code": now }),
    )
    .await;
    let again = second_step(
        &app,
        json!({ "mfa_token": mfa_token(&app, "ada@example.com").await, "totp_code": now }),
    )
    .await;
    let confirm_code_again = second_step(
        &app,
        json!({ "mfa_token": mfa_token(&app, "ada@example.com").await, "totp_code": code(&secret, -1) }),
    )
    .await;

    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    again.assert_problem(401, "invalid_mfa_code");
    confirm_code_again.assert_problem(401, "invalid_mfa_code");
}

#[tokio::test(flavor = "multi_thread")]
async fn one_step_of_drift_is_accepted_and_two_are_refused() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;
    // Confirming with the previous step's code shows one step back accepted.
    let (secret, _) = enrol(&app, &tokens).await;
    let token = mfa_token(&app, "ada@example.com").await;

    fresh_step().await;
    let two_back = second_step(
        &app,
        json!({ "mfa_token": token, "totp_code": code(&secret, -2) }),
    )
    .await;
    let two_ahead = second_step(
        &app,
        json!({ "mfa_token": token, "totp_code": code(&secret, 2) }),
    )
    .await;
    let one_ahead = second_step(
        &app,
        json!({ "mfa_token": token, "totp_code": code(&secret, 1) }),
    )
    .await;

    two_back.assert_problem(401, "invalid_mfa_code");
    two_ahead.assert_problem(401, "invalid_mfa_code");
    assert_eq!(one_ahead.status, StatusCode::OK, "{}", one_ahead.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_mfa_token_is_single_use_and_void_after_five_wrong_codes() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;
    let (secret, codes) = enrol(&app, &tokens).await;

    second_step(
        &app,
        json!({ "mfa_token": "no-such-token", "totp_code": "123456" }),
    )
    .await
    .assert_problem(401, "invalid_mfa_token");
    let token = mfa_token(&app, "ada@example.com").await;
    let used = second_step(
        &app,
        json!({ "mfa_token": token, "recovery_code": codes[0] }),
    )
    .await;
    assert_eq!(used.status, StatusCode::OK, "{}", used.body);
    second_step(
        &app,
        json!({ "mfa_token": token, "recovery_code": codes[1] }),
    )
    .await
    .assert_problem(401, "invalid_mfa_token");

    let token = mfa_token(&app, "ada@example.com").await;
    for _ in 0..5 {
        second_step(
            &app,
            json!({ "mfa_token": token, "recovery_code": "0000-0000-0000" }),
        )
        .await
        .assert_problem(401, "invalid_mfa_code");
    }
    let right = second_step(
        &app,
        json!({ "mfa_token": token, "totp_code": code(&secret, 0) }),
    )
    .await;

    right.assert_problem(401, "invalid_mfa_token");
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_codes_count_toward_the_account_lockout() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;
    let (_, codes) = enrol(&app, &tokens).await;

    // A right password neither adds to the count nor clears it.
    for _ in 0..2 {
        let token = mfa_token(&app, "ada@example.com").await;
        for _ in 0..2 {
            second_step(
                &app,
                json!({ "mfa_token": token, "recovery_code": "0000-0000-0000" }),
            )
            .await
            .assert_problem(401, "invalid_mfa_code");
        }
    }
    let token = mfa_token(&app, "ada@example.com").await;
    second_step(
        &app,
        json!({ "mfa_token": token, "recovery_code": "0000-0000-0000" }),
    )
    .await
    .assert_problem(401, "invalid_mfa_code");

    let locked = app.login("ada@example.com", PASSWORD).await;
    let locked_code = second_step(
        &app,
        json!({ "mfa_token": token, "recovery_code": codes[0] }),
    )
    .await;

    locked.assert_problem(429, "rate_limited");
    assert!(locked.header("retry-after").is_some());
    locked_code.assert_problem(429, "rate_limited");
    let failed = app
        .query_text("SELECT type AS value FROM audit_events WHERE type = 'mfa.failed'")
        .await;
    assert_eq!(failed.len(), 5);
    let locks = app
        .query_text("SELECT type AS value FROM audit_events WHERE type = 'login.locked'")
        .await;
    assert_eq!(locks.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_wrong_code_that_locks_the_account_mails_its_holder() {
    let (app, mail) = spawn_with_mail(|_| {}).await;
    let tokens = app.signed_in("ada@example.com").await;
    enrol(&app, &tokens).await;

    let token = mfa_token(&app, "ada@example.com").await;
    for _ in 0..5 {
        second_step(
            &app,
            json!({ "mfa_token": token, "recovery_code": "0000-0000-0000" }),
        )
        .await
        .assert_problem(401, "invalid_mfa_code");
    }

    // The enrolment's own notice ("a second factor was added") comes first.
    let notice = mail
        .next_mail_about("Your account was locked after failed sign-ins", MAIL_WAIT)
        .await;
    assert_eq!(notice.recipients, vec!["ada@example.com".to_owned()]);
    let text = notice.text().replace("\r\n", "\n");
    assert!(text.contains("locked until"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_recovery_code_signs_in_once_with_amr_rec() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;
    let (_, codes) = enrol(&app, &tokens).await;

    let typed_loosely = codes[3].to_uppercase().replace('-', " ");
    let first = second_step(
        &app,
        json!({ "mfa_token": mfa_token(&app, "ada@example.com").await, "recovery_code": typed_loosely }),
    )
    .await;
    let again = second_step(
        &app,
        json!({ "mfa_token": mfa_token(&app, "ada@example.com").await, "recovery_code": codes[3] }),
    )
    .await;

    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(amr(&first), json!(["pwd", "rec", "mfa"]));
    again.assert_problem(401, "invalid_mfa_code");
    let status = app.get("/api/v1/users/me/mfa", &tokens.access).await;
    assert_eq!(status.body["recovery_codes_left"], 9);
    let stored = app
        .query_text("SELECT code_hash AS value FROM recovery_codes")
        .await;
    assert_eq!(stored.len(), 10);
    assert!(
        codes.iter().all(|c| !stored.contains(c)),
        "only hashes are kept"
    );
    let used = app
        .query_text("SELECT type AS value FROM audit_events WHERE type = 'mfa.recovery_code_used'")
        .await;
    assert_eq!(used.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn regenerating_recovery_codes_voids_the_old_set() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;
    let (_, old) = enrol(&app, &tokens).await;

    call(
        &app,
        Method::POST,
        "/api/v1/users/me/mfa/recovery-codes",
        &tokens.access,
        json!({ "password": "not the password at all", "code": old[0] }),
    )
    .await
    .assert_problem(401, "invalid_credentials");
    call(
        &app,
        Method::POST,
        "/api/v1/users/me/mfa/recovery-codes",
        &tokens.access,
        json!({ "password": PASSWORD, "code": "0000-0000-0000" }),
    )
    .await
    .assert_problem(401, "invalid_mfa_code");
    let reply = call(
        &app,
        Method::POST,
        "/api/v1/users/me/mfa/recovery-codes",
        &tokens.access,
        json!({ "password": PASSWORD, "code": old[0] }),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let new: Vec<String> = reply.body["recovery_codes"]
        .as_array()
        .expect("codes")
        .iter()
        .map(|c| c.as_str().expect("a code").to_owned())
        .collect();
    assert_eq!(new.len(), 10);

    second_step(
        &app,
        json!({ "mfa_token": mfa_token(&app, "ada@example.com").await, "recovery_code": old[1] }),
    )
    .await
    .assert_problem(401, "invalid_mfa_code");
    let fresh = second_step(
        &app,
        json!({ "mfa_token": mfa_token(&app, "ada@example.com").await, "recovery_code": new[0] }),
    )
    .await;
    assert_eq!(fresh.status, StatusCode::OK, "{}", fresh.body);
    let regenerated = app
        .query_text(
            "SELECT type AS value FROM audit_events WHERE type = 'mfa.recovery_codes_regenerated'",
        )
        .await;
    assert_eq!(regenerated.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn turning_totp_off_needs_the_password_and_a_code_then_the_password_alone_signs_in() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;
    let (secret, _) = enrol(&app, &tokens).await;
    let off = |password: &str, code: String| json!({ "password": password, "code": code });

    call(
        &app,
        Method::DELETE,
        "/api/v1/users/me/mfa/totp",
        &tokens.access,
        off("not the password at all", code(&secret, 0)),
    )
    .await
    .assert_problem(401, "invalid_credentials");
    call(
        &app,
        Method::DELETE,
        "/api/v1/users/me/mfa/totp",
        &tokens.access,
        off(PASSWORD, "000000".into()),
    )
    .await
    .assert_problem(401, "invalid_mfa_code");
    let reply = call(
        &app,
        Method::DELETE,
        "/api/v1/users/me/mfa/totp",
        &tokens.access,
        off(PASSWORD, code(&secret, 0)),
    )
    .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);

    let login = app.login("ada@example.com", PASSWORD).await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    assert_eq!(amr(&login), json!(["pwd"]));
    let status = app.get("/api/v1/users/me/mfa", &tokens.access).await;
    assert_eq!(status.body["totp"], false);
    assert_eq!(status.body["recovery_codes_left"], 0);
    call(
        &app,
        Method::DELETE,
        "/api/v1/users/me/mfa/totp",
        &tokens.access,
        off(PASSWORD, code(&secret, 1)),
    )
    .await
    .assert_problem(404, "not_found");
    let events = app
        .query_text("SELECT type AS value FROM audit_events WHERE type LIKE 'mfa.%' ORDER BY at")
        .await;
    assert_eq!(events, vec!["mfa.enabled", "mfa.disabled"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_second_step_takes_exactly_one_factor_and_a_passkey_answer_for_no_ceremony_is_a_wrong_code()
 {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;
    enrol(&app, &tokens).await;
    let token = mfa_token(&app, "ada@example.com").await;

    let none = second_step(&app, json!({ "mfa_token": token })).await;
    let two = second_step(
        &app,
        json!({ "mfa_token": token, "totp_code": "123456", "recovery_code": "abcd" }),
    )
    .await;
    let passkey = second_step(
        &app,
        json!({ "mfa_token": token, "passkey": { "challenge_id": "c", "credential": {} } }),
    )
    .await;

    none.assert_problem(422, "validation_failed");
    two.assert_problem(422, "validation_failed");
    passkey.assert_problem(401, "invalid_mfa_code");
}

#[tokio::test(flavor = "multi_thread")]
async fn with_mfa_required_for_staff_an_admin_without_a_factor_may_only_enrol() {
    let app = TestApp::spawn_with(|c| {
        with_bootstrap_admin(c);
        c.mfa_required = MfaRequired::Staff;
    })
    .await;
    let user = app.signed_in("ada@example.com").await;
    let admin = app.logged_in(ADMIN_EMAIL).await;

    let me = app.get("/api/v1/users/me", &admin.access).await;
    let status = app.get("/api/v1/users/me/mfa", &admin.access).await;
    let users = app.get("/api/v1/admin/users", &admin.access).await;
    let sessions = app.get("/api/v1/users/me/sessions", &admin.access).await;

    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(status.body["required"], true);
    users.assert_problem(403, "mfa_enrolment_required");
    sessions.assert_problem(403, "mfa_enrolment_required");
    let plain = app.get("/api/v1/users/me/sessions", &user.access).await;
    assert_eq!(plain.status, StatusCode::OK, "a plain user is not bound");

    let (secret, _) = enrol(&app, &admin).await;
    let enrolled = app.get("/api/v1/admin/users", &admin.access).await;
    assert_eq!(enrolled.status, StatusCode::OK, "{}", enrolled.body);
    let token = mfa_token(&app, ADMIN_EMAIL).await;
    let signed_in = second_step(
        &app,
        json!({ "mfa_token": token, "totp_code": code(&secret, 0) }),
    )
    .await;
    assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn with_mfa_required_for_all_a_user_without_a_factor_reads_itself_enrols_and_signs_out() {
    let app = TestApp::spawn_with(|c| c.mfa_required = MfaRequired::All).await;
    let tokens = app.signed_in("ada@example.com").await;

    let me = app.get("/api/v1/users/me", &tokens.access).await;
    let tasks = app.get("/api/v1/tasks", &tokens.access).await;
    let update = call(
        &app,
        Method::PATCH,
        "/api/v1/users/me",
        &tokens.access,
        json!({ "first_name": "Ada" }),
    )
    .await;
    let status = app.get("/api/v1/users/me/mfa", &tokens.access).await;
    let logout = app
        .request(
            Method::POST,
            "/api/v1/auth/logout",
            Some(&tokens.access),
            None,
        )
        .await;

    assert_eq!(me.status, StatusCode::OK);
    tasks.assert_problem(403, "mfa_enrolment_required");
    update.assert_problem(403, "mfa_enrolment_required");
    assert_eq!(status.body["required"], true);
    assert_eq!(logout.status, StatusCode::NO_CONTENT);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_reset_removes_every_factor_and_revokes_every_session() {
    let staff = staff_app().await;
    let app = &staff.app;
    let (_, codes) = enrol(app, &staff.user).await;
    let token = mfa_token(app, "user@example.com").await;
    let second = second_step(
        app,
        json!({ "mfa_token": token, "recovery_code": codes[0] }),
    )
    .await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    let path = format!("/api/v1/admin/users/{}/mfa", staff.user.user_id);

    let by_sub_admin = app
        .request(Method::DELETE, &path, Some(&staff.sub_admin.access), None)
        .await;
    let by_admin = app
        .request(Method::DELETE, &path, Some(&staff.admin.access), None)
        .await;
    let unknown = app
        .request(
            Method::DELETE,
            &format!(
                "/api/v1/admin/users/{}/mfa",
                id_of(&json!({ "id": uuid_v7() }))
            ),
            Some(&staff.admin.access),
            None,
        )
        .await;

    by_sub_admin.assert_problem(403, "forbidden");
    assert_eq!(by_admin.status, StatusCode::NO_CONTENT, "{}", by_admin.body);
    unknown.assert_problem(404, "not_found");
    app.assert_session_revoked(&staff.user).await;
    app.assert_session_revoked(&Tokens::from(&second.body))
        .await;
    let login = app.login("user@example.com", PASSWORD).await;
    assert_eq!(
        login.status,
        StatusCode::OK,
        "the password alone signs in: {}",
        login.body
    );
    let reset = app
        .query_text("SELECT type AS value FROM audit_events WHERE type = 'mfa.reset'")
        .await;
    assert_eq!(reset.len(), 1);
}

fn uuid_v7() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The key a console enrolment page shows (the text after "Key").
fn key_on_page(text: &str) -> String {
    let mut lines = text.lines().map(str::trim);
    lines.find(|line| *line == "Key").expect("a Key label");
    lines.next().expect("the key").to_owned()
}

/// The key in the HTML of a console enrolment page.
fn key_in_html(body: &str) -> String {
    let marker = "user-select-all\">";
    let start = body.find(marker).expect("the key") + marker.len();
    let end = body[start..].find('<').expect("its end") + start;
    body[start..end].to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_console_sets_up_totp_shows_the_recovery_codes_once_and_asks_for_a_code_at_sign_in() {
    let app = TestApp::spawn().await;
    app.register("ada@example.com").await;
    let visitor = Visitor::new(&app);
    visitor.sign_in("ada@example.com", PASSWORD).await;
    let profile = visitor.get("/profile").await;
    assert!(profile.body.contains("Two-factor authentication"));
    let csrf = profile.input("csrf");

    let wrong = visitor
        .post(
            "/profile/mfa/totp",
            &[("csrf", &csrf), ("mfa_password", "not it at all")],
        )
        .await;
    let started = visitor
        .post(
            "/profile/mfa/totp",
            &[("csrf", &csrf), ("mfa_password", PASSWORD)],
        )
        .await;

    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong.body.contains("The password is not correct."));
    assert_eq!(started.status, StatusCode::OK, "{}", started.body);
    assert!(
        started
            .body
            .contains("<svg xmlns=\"http://www.w3.org/2000/svg\"")
    );
    let secret = key_in_html(&started.body);
    fresh_step().await;
    let confirmed = visitor
        .post(
            "/profile/mfa/totp/confirm",
            &[("csrf", &csrf), ("mfa_code", &code(&secret, -1))],
        )
        .await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.body);
    assert!(confirmed.body.contains("Your recovery codes"));
    assert_eq!(confirmed.body.matches("<li>").count(), 10);
    let first_code = {
        let start = confirmed.body.find("<li>").expect("a code") + 4;
        confirmed.body[start..start + 14].to_owned()
    };
    let profile = visitor.get("/profile").await;
    assert!(
        profile
            .body
            .contains("Recovery codes left: <strong>10</strong>")
    );
    assert!(!profile.body.contains(&first_code), "shown once only");

    let other = Visitor::new(&app);
    let step = other.sign_in("ada@example.com", PASSWORD).await;
    assert_eq!(
        step.status,
        StatusCode::OK,
        "the second step, not a session"
    );
    assert!(other.cookie("doorman_session").is_none());
    let (token, csrf) = (step.input("mfa_token"), step.input("csrf"));
    let wrong_code = other
        .post(
            "/login/mfa",
            &[
                ("csrf", &csrf),
                ("mfa_token", &token),
                ("code", "000000"),
                ("next", ""),
            ],
        )
        .await;
    assert_eq!(wrong_code.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong_code.body.contains("This code is not correct"));
    let signed_in = other
        .post(
            "/login/mfa",
            &[
                ("csrf", &csrf),
                ("mfa_token", &token),
                ("code", &first_code),
                ("next", ""),
            ],
        )
        .await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.body
    );
    assert_eq!(signed_in.location(), "/dashboard");
    assert_eq!(other.get("/dashboard").await.status, StatusCode::OK);
    let used = other
        .post(
            "/login/mfa",
            &[
                ("csrf", &csrf),
                ("mfa_token", &token),
                ("code", &code(&secret, 0)),
                ("next", ""),
            ],
        )
        .await;
    assert_eq!(used.location(), "/login?notice=mfa_expired");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_console_turns_totp_off_with_the_password_and_a_code() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;
    let (secret, _) = enrol(&app, &tokens).await;
    let visitor = Visitor::new(&app);
    let step = visitor.sign_in("ada@example.com", PASSWORD).await;
    let csrf = step.input("csrf");
    visitor
        .post(
            "/login/mfa",
            &[
                ("csrf", &csrf),
                ("mfa_token", &step.input("mfa_token")),
                ("code", &code(&secret, 0)),
                ("next", ""),
            ],
        )
        .await;
    let csrf = visitor.csrf("/profile").await;

    let replayed = visitor
        .post(
            "/profile/mfa/totp/off",
            &[
                ("csrf", &csrf),
                ("off_password", PASSWORD),
                ("off_code", &code(&secret, 0)),
            ],
        )
        .await;
    let off = visitor
        .post(
            "/profile/mfa/totp/off",
            &[
                ("csrf", &csrf),
                ("off_password", PASSWORD),
                ("off_code", &code(&secret, 1)),
            ],
        )
        .await;

    assert_eq!(replayed.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(replayed.body.contains("This code is not correct"));
    assert_eq!(off.location(), "/profile?notice=mfa_off");
    assert!(
        visitor
            .get("/profile?notice=mfa_off")
            .await
            .body
            .contains("Two-factor authentication is off.")
    );
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn with_mfa_required_the_console_sends_an_account_without_a_factor_to_its_profile() {
    let app = TestApp::spawn_with(|c| c.mfa_required = MfaRequired::All).await;
    app.register("ada@example.com").await;
    let visitor = Visitor::new(&app);
    visitor.sign_in("ada@example.com", PASSWORD).await;

    let dashboard = visitor.get("/dashboard").await;
    let profile = visitor.get("/profile?notice=mfa_required").await;
    let csrf = profile.input("csrf");
    let edit = visitor
        .post("/profile", &[("csrf", &csrf), ("first_name", "Ada")])
        .await;
    let started = visitor
        .post(
            "/profile/mfa/totp",
            &[("csrf", &csrf), ("mfa_password", PASSWORD)],
        )
        .await;

    assert_eq!(dashboard.status, StatusCode::SEE_OTHER);
    assert_eq!(dashboard.location(), "/profile?notice=mfa_required");
    assert_eq!(profile.status, StatusCode::OK);
    assert!(profile.body.contains("must have two-factor authentication"));
    assert_eq!(edit.location(), "/profile?notice=mfa_required");
    assert_eq!(started.status, StatusCode::OK, "{}", started.body);
    let secret = key_in_html(&started.body);
    fresh_step().await;
    visitor
        .post(
            "/profile/mfa/totp/confirm",
            &[("csrf", &csrf), ("mfa_code", &code(&secret, 0))],
        )
        .await;
    assert_eq!(visitor.get("/dashboard").await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_person_sets_up_two_factor_sign_in_and_uses_it_in_chromium() {
    let app = TestApp::spawn().await;
    app.register("ada@example.com").await;
    with_browser(&app.address, |b| async move {
        b.goto("/login").await;
        b.fill("Email, username or phone number", "ada@example.com")
            .await;
        b.fill("Password", PASSWORD).await;
        b.press("Sign in").await;
        b.heading("Your tasks").await;
        b.goto("/profile").await;
        b.fill("Your password", PASSWORD).await;
        b.press("Set up").await;
        b.heading("Set up two-factor authentication").await;
        b.screenshots("mfa-setup").await;
        let secret = key_on_page(&b.text().await);
        b.fill("Code from the app", "000000").await;
        b.press("Turn on").await;
        b.sees(None, "This code is not correct").await;
        assert_eq!(
            key_on_page(&b.text().await),
            secret,
            "the same pending key again"
        );
        fresh_step().await;
        b.fill("Code from the app", &code(&secret, -1)).await;
        b.press("Turn on").await;
        b.heading("Your recovery codes").await;
        b.screenshots("mfa-recovery-codes").await;
        b.click_link("I have saved them").await;
        b.sees(None, "Recovery codes left: 10").await;
        b.screenshots("mfa-on").await;
        b.press("Sign out").await;
        b.heading("Sign in").await;

        b.fill("Email, username or phone number", "ada@example.com")
            .await;
        b.fill("Password", PASSWORD).await;
        b.press("Sign in").await;
        b.heading("Two-factor authentication").await;
        b.fill("Code", "000000").await;
        b.press("Verify").await;
        b.sees(None, "This code is not correct").await;
        b.screenshots("mfa-login-step").await;
        b.fill("Code", &code(&secret, 0)).await;
        b.press("Verify").await;
        b.heading("Your tasks").await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn used_mfa_tokens_are_removed_by_the_retention_job_and_live_ones_stay() {
    let app =
        TestApp::spawn_with(|c| c.retention_interval = std::time::Duration::from_secs(1)).await;
    let tokens = app.signed_in("ada@example.com").await;
    let (_, codes) = enrol(&app, &tokens).await;
    let used = mfa_token(&app, "ada@example.com").await;
    let signed_in = second_step(
        &app,
        json!({ "mfa_token": used, "recovery_code": codes[0] }),
    )
    .await;
    assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.body);
    mfa_token(&app, "ada@example.com").await;

    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let left = app
            .query_text("SELECT CAST(COUNT(*) AS TEXT) AS value FROM mfa_tokens")
            .await;
        if left == ["1"] {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never removed: {left:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let live = app
        .query_text("SELECT CAST(COUNT(*) AS TEXT) AS value FROM mfa_tokens WHERE used_at IS NULL")
        .await;
    assert_eq!(live, ["1"], "the unused token stays");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_totp_secret_is_sealed_at_rest_and_survives_a_data_key_rotation() {
    use base64::Engine as _;
    use secrecy::SecretString;
    let key =
        |byte: u8| SecretString::from(base64::engine::general_purpose::STANDARD.encode([byte; 32]));
    let app = TestApp::spawn_with(|c| c.data_key = Some(key(1))).await;
    let tokens = app.signed_in("ada@example.com").await;
    let (secret, _) = enrol(&app, &tokens).await;

    let stored = app
        .query_text("SELECT secret AS value FROM totp_factors")
        .await;
    assert_eq!(stored.len(), 1);
    assert!(
        !stored[0].contains(&secret),
        "the secret is stored in the clear"
    );
    assert!(stored[0].starts_with("v1:"), "{}", stored[0]);

    // A new key with the old one listed seals the secret again at start; then the new key
    // alone opens it.
    let rotated = app
        .replica(|c| {
            c.data_key = Some(key(2));
            c.data_key_old = Some(key(1));
        })
        .await;
    drop(rotated);
    let only_new = app
        .replica(|c| {
            c.data_key = Some(key(2));
            c.data_key_old = None;
        })
        .await;
    let token = mfa_token(&only_new, "ada@example.com").await;
    fresh_step().await;
    let finished = second_step(
        &only_new,
        json!({ "mfa_token": token, "totp_code": code(&secret, 0) }),
    )
    .await;
    assert_eq!(finished.status, StatusCode::OK, "{}", finished.body);
}
