//! Passkeys (WebAuthn) over HTTP, with a software authenticator that signs real
//! registration and assertion responses.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::passkey::SoftAuthenticator;
use crate::helpers::{PASSWORD, Reply, TestApp, Tokens, staff_app, user_path};

const PASSKEYS: &str = "/api/v1/users/me/passkeys";

async fn registration_options(app: &TestApp, tokens: &Tokens, password: &str) -> Reply {
    app.request(
        Method::POST,
        &format!("{PASSKEYS}/options"),
        Some(&tokens.access),
        Some(json!({ "password": password })),
    )
    .await
}

async fn finish_registration(
    app: &TestApp,
    tokens: &Tokens,
    challenge_id: &Value,
    name: &str,
    credential: Value,
) -> Reply {
    app.request(
        Method::POST,
        PASSKEYS,
        Some(&tokens.access),
        Some(json!({ "challenge_id": challenge_id, "name": name, "credential": credential })),
    )
    .await
}

/// Adds a passkey named `name` to the account; asserts it worked.
async fn add_passkey(app: &TestApp, tokens: &Tokens, name: &str) -> (SoftAuthenticator, Value) {
    let mut authenticator = SoftAuthenticator::new(&app.config.public_url);
    let options = registration_options(app, tokens, PASSWORD).await;
    assert_eq!(options.status, StatusCode::OK, "options: {}", options.body);
    let credential = authenticator.register(&options.body["public_key"]);
    let added =
        finish_registration(app, tokens, &options.body["challenge_id"], name, credential).await;
    assert_eq!(added.status, StatusCode::CREATED, "adding: {}", added.body);
    (authenticator, added.body)
}

async fn sign_in_options(app: &TestApp) -> Value {
    let reply = app.post("/api/v1/auth/passkey/options", json!({})).await;
    assert_eq!(reply.status, StatusCode::OK, "options: {}", reply.body);
    reply.body
}

async fn sign_in(app: &TestApp, challenge_id: &Value, credential: Value) -> Reply {
    app.post(
        "/api/v1/auth/passkey",
        json!({ "challenge_id": challenge_id, "credential": credential }),
    )
    .await
}

async fn list(app: &TestApp, tokens: &Tokens) -> Vec<Value> {
    let reply = app.get(PASSKEYS, &tokens.access).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body.as_array().cloned().unwrap_or_default()
}

async fn audit_types(app: &TestApp) -> Vec<String> {
    app.query_text(
        "SELECT type AS value FROM audit_events WHERE type LIKE 'passkey.%' ORDER BY at, id",
    )
    .await
}

async fn remove(app: &TestApp, tokens: &Tokens, id: &Value, password: &str) -> Reply {
    let id = id.as_str().unwrap_or_default();
    app.request(
        Method::DELETE,
        &format!("{PASSKEYS}/{id}"),
        Some(&tokens.access),
        Some(json!({ "password": password })),
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_passkey_added_with_the_password_is_listed_without_key_material_and_audited() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;

    let (_, added) = add_passkey(&app, &tokens, "  Laptop ").await;

    assert_eq!(added["name"], "Laptop");
    assert!(added["last_used_at"].is_null());
    let mut keys: Vec<&String> = added.as_object().expect("an object").keys().collect();
    keys.sort();
    assert_eq!(keys, ["created_at", "id", "last_used_at", "name"]);
    let listed = list(&app, &tokens).await;
    assert_eq!(listed, vec![added]);
    assert_eq!(audit_types(&app).await, ["passkey.added"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_options_ask_for_a_discoverable_user_verified_credential_of_this_relying_party() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;

    let created = registration_options(&app, &tokens, PASSWORD).await;
    let public_key = &created.body["public_key"];
    assert_eq!(public_key["rp"]["id"], "localhost");
    assert_eq!(
        public_key["authenticatorSelection"]["residentKey"],
        "required"
    );
    assert_eq!(
        public_key["authenticatorSelection"]["userVerification"],
        "required"
    );
    assert!(
        public_key["challenge"]
            .as_str()
            .is_some_and(|c| c.len() >= 22)
    );
    assert_eq!(created.header("cache-control"), Some("no-store"));

    let requested = sign_in_options(&app).await;
    assert_eq!(requested["public_key"]["rpId"], "localhost");
    assert_eq!(requested["public_key"]["userVerification"], "required");
    let allowed = &requested["public_key"]["allowCredentials"];
    assert!(allowed.is_null() || allowed.as_array().is_some_and(Vec::is_empty));
}

#[tokio::test(flavor = "multi_thread")]
async fn passkey_options_with_a_wrong_password_are_401_invalid_credentials() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;

    registration_options(&app, &tokens, "not the password")
        .await
        .assert_problem(401, "invalid_credentials");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_passkey_signs_in_without_a_password_and_opens_a_working_session() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;
    let (mut authenticator, added) = add_passkey(&app, &tokens, "Laptop").await;

    let options = sign_in_options(&app).await;
    let credential = authenticator.assert(&options["public_key"]);
    let reply = sign_in(&app, &options["challenge_id"], credential).await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let pair = Tokens::from(&reply.body);
    assert_eq!(pair.user_id, tokens.user_id);
    assert!(reply.body["user"]["last_login_at"].is_string());
    let me = app.get("/api/v1/users/me", &pair.access).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    assert_eq!(app.refresh(&pair.refresh).await.status, StatusCode::OK);
    let listed = list(&app, &tokens).await;
    assert_eq!(listed[0]["id"], added["id"]);
    assert!(listed[0]["last_used_at"].is_string());
    assert_eq!(audit_types(&app).await, ["passkey.added", "passkey.login"]);
    let detail = app
        .query_text("SELECT detail AS value FROM audit_events WHERE type = 'passkey.login'")
        .await;
    let detail: Value = serde_json::from_str(&detail[0]).expect("JSON");
    assert_eq!(detail["amr"], json!(["hwk", "user", "mfa"]));
    assert_eq!(detail["session_id"], json!(pair.session_id));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_synced_passkey_signs_in_as_a_software_key() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;
    let mut authenticator = SoftAuthenticator::new(&app.config.public_url);
    authenticator.backup_eligible = true;
    let options = registration_options(&app, &tokens, PASSWORD).await;
    let credential = authenticator.register(&options.body["public_key"]);
    let added = finish_registration(
        &app,
        &tokens,
        &options.body["challenge_id"],
        "Phone",
        credential,
    )
    .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.body);

    let options = sign_in_options(&app).await;
    let credential = authenticator.assert(&options["public_key"]);
    let reply = sign_in(&app, &options["challenge_id"], credential).await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let detail = app
        .query_text("SELECT detail AS value FROM audit_events WHERE type = 'passkey.login'")
        .await;
    let detail: Value = serde_json::from_str(&detail[0]).expect("JSON");
    assert_eq!(detail["amr"], json!(["swk", "user", "mfa"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_assertion_made_for_another_origin_is_401_invalid_credentials() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;
    let (mut authenticator, _) = add_passkey(&app, &tokens, "Laptop").await;

    authenticator.origin = "http://localhost.evil.example:8080".into();
    let options = sign_in_options(&app).await;
    let credential = authenticator.assert(&options["public_key"]);

    sign_in(&app, &options["challenge_id"], credential)
        .await
        .assert_problem(401, "invalid_credentials");
    assert_eq!(audit_types(&app).await, ["passkey.added"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_registration_made_for_another_origin_is_refused_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;
    let mut authenticator = SoftAuthenticator::new("https://phishing.example");
    let options = registration_options(&app, &tokens, PASSWORD).await;
    let credential = authenticator.register(&options.body["public_key"]);

    let reply = finish_registration(
        &app,
        &tokens,
        &options.body["challenge_id"],
        "Laptop",
        credential,
    )
    .await;

    reply.assert_problem(422, "validation_failed");
    assert_eq!(
        reply.field_errors(),
        [("credential".to_owned(), "passkey_refused".to_owned())]
    );
    assert!(list(&app, &tokens).await.is_empty());
    assert!(audit_types(&app).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sign_in_challenge_works_once() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;
    let (mut authenticator, _) = add_passkey(&app, &tokens, "Laptop").await;
    let options = sign_in_options(&app).await;
    let first = authenticator.assert(&options["public_key"]);
    assert_eq!(
        sign_in(&app, &options["challenge_id"], first).await.status,
        StatusCode::OK
    );

    let again = authenticator.assert(&options["public_key"]);

    sign_in(&app, &options["challenge_id"], again)
        .await
        .assert_problem(401, "invalid_credentials");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_answer_uses_up_its_challenge() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;
    let (mut authenticator, _) = add_passkey(&app, &tokens, "Laptop").await;
    let options = sign_in_options(&app).await;
    let origin = std::mem::replace(
        &mut authenticator.origin,
        "http://localhost.evil.example:8080".into(),
    );
    let phished = authenticator.assert(&options["public_key"]);
    sign_in(&app, &options["challenge_id"], phished)
        .await
        .assert_problem(401, "invalid_credentials");

    authenticator.origin = origin;
    let right = authenticator.assert(&options["public_key"]);

    sign_in(&app, &options["challenge_id"], right)
        .await
        .assert_problem(401, "invalid_credentials");
    let left = app
        .query_text("SELECT id AS value FROM webauthn_challenges")
        .await;
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_answers_to_one_challenge_at_once_open_one_session() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;
    let (mut authenticator, _) = add_passkey(&app, &tokens, "Laptop").await;
    let options = sign_in_options(&app).await;
    let first = authenticator.assert(&options["public_key"]);
    let second = authenticator.assert(&options["public_key"]);

    let (a, b) = tokio::join!(
        sign_in(&app, &options["challenge_id"], first),
        sign_in(&app, &options["challenge_id"], second),
    );

    let mut statuses = [a.status.as_u16(), b.status.as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 401], "{} / {}", a.body, b.body);
    let logins = app
        .query_text("SELECT type AS value FROM audit_events WHERE type = 'passkey.login'")
        .await;
    assert_eq!(logins.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_registration_challenge_works_once() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;
    let options = registration_options(&app, &tokens, PASSWORD).await;
    let challenge_id = &options.body["challenge_id"];
    let mut first = SoftAuthenticator::new(&app.config.public_url);
    let credential = first.register(&options.body["public_key"]);
    let added = finish_registration(&app, &tokens, challenge_id, "One", credential).await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.body);

    let mut second = SoftAuthenticator::new(&app.config.public_url);
    let credential = second.register(&options.body["public_key"]);
    let reply = finish_registration(&app, &tokens, challenge_id, "Two", credential).await;

    reply.assert_problem(422, "validation_failed");
    assert_eq!(
        reply.field_errors(),
        [("challenge_id".to_owned(), "invalid_challenge".to_owned())]
    );
    assert_eq!(list(&app, &tokens).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_assertion_signed_over_another_challenge_is_refused() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;
    let (mut authenticator, _) = add_passkey(&app, &tokens, "Laptop").await;
    let signed_for = sign_in_options(&app).await;
    let presented_to = sign_in_options(&app).await;

    let credential = authenticator.assert(&signed_for["public_key"]);

    sign_in(&app, &presented_to["challenge_id"], credential)
        .await
        .assert_problem(401, "invalid_credentials");
    // The challenge it was signed for is still good for one honest answer.
    let credential = authenticator.assert(&signed_for["public_key"]);
    assert_eq!(
        sign_in(&app, &signed_for["challenge_id"], credential)
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_or_expired_challenge_is_401_invalid_credentials() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;
    let (mut authenticator, _) = add_passkey(&app, &tokens, "Laptop").await;

    let options = sign_in_options(&app).await;
    let credential = authenticator.assert(&options["public_key"]);
    let unknown = json!(uuid::Uuid::now_v7());
    sign_in(&app, &unknown, credential)
        .await
        .assert_problem(401, "invalid_credentials");

    let options = sign_in_options(&app).await;
    app.execute_sql(&format!(
        "UPDATE webauthn_challenges SET expires_at = '2000-01-01T00:00:00.000000Z' \
         WHERE id = '{}'",
        options["challenge_id"].as_str().unwrap_or_default()
    ))
    .await;
    let credential = authenticator.assert(&options["public_key"]);
    sign_in(&app, &options["challenge_id"], credential)
        .await
        .assert_problem(401, "invalid_credentials");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signature_counter_that_goes_back_is_refused_and_audited() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;
    let (mut authenticator, added) = add_passkey(&app, &tokens, "Laptop").await;
    authenticator.counter = 10;
    let options = sign_in_options(&app).await;
    let credential = authenticator.assert(&options["public_key"]);
    assert_eq!(
        sign_in(&app, &options["challenge_id"], credential)
            .await
            .status,
        StatusCode::OK
    );

    // A clone of the authenticator, its counter behind the original's.
    authenticator.counter = 5;
    let options = sign_in_options(&app).await;
    let credential = authenticator.assert(&options["public_key"]);

    sign_in(&app, &options["challenge_id"], credential)
        .await
        .assert_problem(401, "invalid_credentials");
    assert_eq!(
        audit_types(&app).await,
        [
            "passkey.added",
            "passkey.login",
            "passkey.counter_regressed"
        ]
    );
    let detail = app
        .query_text(
            "SELECT detail AS value FROM audit_events WHERE type = 'passkey.counter_regressed'",
        )
        .await;
    let detail: Value = serde_json::from_str(&detail[0]).expect("JSON");
    assert_eq!(detail["passkey_id"], added["id"]);
    assert_eq!(detail["stored_counter"], 11);
    let subject = app
        .query_text(
            "SELECT CAST(subject_id AS TEXT) AS value FROM audit_events \
             WHERE type = 'passkey.counter_regressed'",
        )
        .await;
    assert_eq!(subject, [tokens.user_id.as_str()]);
}

#[tokio::test(flavor = "multi_thread")]
async fn removing_a_passkey_needs_the_password_and_ends_its_sign_ins() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;
    let (mut authenticator, added) = add_passkey(&app, &tokens, "Laptop").await;

    remove(&app, &tokens, &added["id"], "not the password")
        .await
        .assert_problem(401, "invalid_credentials");
    assert_eq!(list(&app, &tokens).await.len(), 1);

    let removed = remove(&app, &tokens, &added["id"], PASSWORD).await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT, "{}", removed.body);
    assert!(list(&app, &tokens).await.is_empty());
    assert_eq!(
        audit_types(&app).await,
        ["passkey.added", "passkey.removed"]
    );
    let options = sign_in_options(&app).await;
    let credential = authenticator.assert(&options["public_key"]);
    sign_in(&app, &options["challenge_id"], credential)
        .await
        .assert_problem(401, "invalid_credentials");
    // The password, which every account keeps, still signs in.
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn another_accounts_passkey_is_not_found_and_not_listed() {
    let app = TestApp::spawn().await;
    let ada = app.signed_in("ada@example.com").await;
    let bob = app.signed_in("bob@example.com").await;
    let (_, added) = add_passkey(&app, &ada, "Laptop").await;

    assert!(list(&app, &bob).await.is_empty());
    remove(&app, &bob, &added["id"], PASSWORD)
        .await
        .assert_problem(404, "not_found");
    assert_eq!(list(&app, &ada).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_registration_challenge_of_another_account_is_refused() {
    let app = TestApp::spawn().await;
    let ada = app.signed_in("ada@example.com").await;
    let bob = app.signed_in("bob@example.com").await;
    let options = registration_options(&app, &ada, PASSWORD).await;
    let mut authenticator = SoftAuthenticator::new(&app.config.public_url);
    let credential = authenticator.register(&options.body["public_key"]);

    let reply = finish_registration(
        &app,
        &bob,
        &options.body["challenge_id"],
        "Stolen",
        credential,
    )
    .await;

    reply.assert_problem(422, "validation_failed");
    assert!(list(&app, &bob).await.is_empty());
    assert!(list(&app, &ada).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_passkey_bodies_are_422_with_the_field_named() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;
    let options = registration_options(&app, &tokens, PASSWORD).await;
    let challenge_id = &options.body["challenge_id"];

    let reply = finish_registration(&app, &tokens, challenge_id, " ", json!({})).await;
    reply.assert_problem(422, "validation_failed");
    assert_eq!(reply.field_errors()[0].0, "name");

    let reply = finish_registration(&app, &tokens, challenge_id, "Laptop", json!({"id": 1})).await;
    reply.assert_problem(422, "validation_failed");
    assert_eq!(reply.field_errors()[0].0, "credential");

    let sign_in_options = sign_in_options(&app).await;
    let reply = sign_in(&app, &sign_in_options["challenge_id"], json!("junk")).await;
    reply.assert_problem(422, "validation_failed");
    assert_eq!(reply.field_errors()[0].0, "credential");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ceremony_begun_on_one_instance_finishes_on_another() {
    let app = TestApp::spawn().await;
    let replica = app.replica(|_| {}).await;
    let tokens = app.signed_in("ada@example.com").await;
    let options = registration_options(&app, &tokens, PASSWORD).await;
    let mut authenticator = SoftAuthenticator::new(&app.config.public_url);
    let credential = authenticator.register(&options.body["public_key"]);
    let added = finish_registration(
        &replica,
        &tokens,
        &options.body["challenge_id"],
        "Laptop",
        credential,
    )
    .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.body);

    let options = sign_in_options(&replica).await;
    let credential = authenticator.assert(&options["public_key"]);
    let reply = sign_in(&app, &options["challenge_id"], credential).await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deactivated_account_cannot_sign_in_with_its_passkey() {
    let staff = staff_app().await;
    let app = &staff.app;
    let (mut authenticator, _) = add_passkey(app, &staff.user, "Laptop").await;
    let deactivated = app
        .request(
            Method::PATCH,
            &user_path(&staff.user.user_id),
            Some(&staff.admin.access),
            Some(json!({ "is_active": false })),
        )
        .await;
    assert_eq!(deactivated.status, StatusCode::OK, "{}", deactivated.body);

    let options = sign_in_options(app).await;
    let credential = authenticator.assert(&options["public_key"]);

    sign_in(app, &options["challenge_id"], credential)
        .await
        .assert_problem(403, "account_disabled");
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_the_account_removes_its_passkeys() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;
    add_passkey(&app, &tokens, "Laptop").await;

    let deleted = app
        .request(
            Method::DELETE,
            "/api/v1/users/me",
            Some(&tokens.access),
            Some(json!({ "password": PASSWORD })),
        )
        .await;

    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
    let left = app
        .query_text("SELECT CAST(COUNT(*) AS TEXT) AS value FROM passkeys")
        .await;
    assert_eq!(left, ["0"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_passkey_is_the_second_step_after_a_password_and_its_token_works_once() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;
    let (mut authenticator, added) = add_passkey(&app, &tokens, "Laptop").await;

    let login = app.login("ada@example.com", PASSWORD).await;
    login.assert_problem(401, "mfa_required");
    assert_eq!(login.body["methods"], json!(["passkey"]));
    let mfa_token = login.body["mfa_token"].clone();
    let options = app
        .post(
            "/api/v1/auth/passkey/options",
            json!({ "mfa_token": mfa_token }),
        )
        .await;
    assert_eq!(options.status, StatusCode::OK, "{}", options.body);
    let allowed = &options.body["public_key"]["allowCredentials"];
    assert_eq!(allowed.as_array().map(Vec::len), Some(1), "{allowed}");
    let credential = authenticator.assert(&options.body["public_key"]);
    let passkey = json!({ "challenge_id": options.body["challenge_id"], "credential": credential });
    let body = json!({ "mfa_token": mfa_token, "passkey": passkey });
    let finished = app.post("/api/v1/auth/mfa", body.clone()).await;
    let again = app.post("/api/v1/auth/mfa", body).await;
    let unknown = app
        .post(
            "/api/v1/auth/passkey/options",
            json!({ "mfa_token": "not-a-token" }),
        )
        .await;

    assert_eq!(finished.status, StatusCode::OK, "{}", finished.body);
    let pair = Tokens::from(&finished.body);
    assert_eq!(pair.user_id, tokens.user_id);
    let claims = crate::helpers::jwt::claims(&pair.access);
    assert_eq!(claims["amr"], json!(["hwk", "user", "mfa"]));
    again.assert_problem(401, "invalid_mfa_token");
    unknown.assert_problem(401, "invalid_mfa_token");
    assert!(
        list(&app, &tokens).await[0]["last_used_at"].is_string(),
        "{added}"
    );
}
