//! Refresh tokens are signed with an unpublished HS256 secret kept in the database, so no
//! service verifying against the JWKS can mistake one for an access token.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::jwt::{claims, header};
use crate::helpers::{TestApp, Tokens};

const SECRET: &str = "a test secret that is long enough for HS256 signing!!";

async fn jwks(app: &TestApp) -> JwkSet {
    let reply = app
        .request(Method::GET, "/.well-known/jwks.json", None, None)
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    serde_json::from_value(reply.body).expect("not a JWK set")
}

/// Verifies `token` as a stock library does with the JWKS: the key named by the header's
/// `kid`, its algorithm, `iss`, `aud` and `exp`.
fn stock_verify(app: &TestApp, set: &JwkSet, token: &str) -> Result<Value, String> {
    let kid = header(token)["kid"].as_str().unwrap_or_default().to_owned();
    let jwk = set.find(&kid).ok_or(format!("unknown kid {kid}"))?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    let alg = jwk
        .common
        .key_algorithm
        .map(|a| format!("{a:?}"))
        .unwrap_or_default();
    let mut validation = Validation::new(alg.parse().map_err(|e| format!("{alg}: {e:?}"))?);
    validation.set_issuer(&[app.config.issuer()]);
    validation.set_audience(&["doorman"]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .map(|data| data.claims)
        .map_err(|e| e.to_string())
}

/// What a lenient verifier would try: every published key, whatever the `kid` says.
fn verifies_with_any_published_key(app: &TestApp, set: &JwkSet, token: &str) -> bool {
    set.keys.iter().any(|jwk| {
        let (Ok(key), Some(alg)) = (DecodingKey::from_jwk(jwk), jwk.common.key_algorithm) else {
            return false;
        };
        let Ok(alg) = format!("{alg:?}").parse::<Algorithm>() else {
            return false;
        };
        let mut validation = Validation::new(alg);
        validation.set_issuer(&[app.config.issuer()]);
        validation.set_audience(&["doorman"]);
        jsonwebtoken::decode::<Value>(token, &key, &validation).is_ok()
    })
}

fn kid(token: &str) -> String {
    header(token)["kid"].as_str().unwrap_or_default().to_owned()
}

async fn hs256_app() -> TestApp {
    TestApp::spawn_with(|c| {
        c.jwt_alg = doorman::config::JwtAlg::Hs256;
        c.jwt_secret = Some(SECRET.to_owned().into());
    })
    .await
}

fn sign_hs256(header: &Value, claims: &Value, secret: &[u8]) -> String {
    let mut h = Header::new(Algorithm::HS256);
    h.kid = header["kid"].as_str().map(str::to_owned);
    h.typ = header["typ"].as_str().map(str::to_owned);
    jsonwebtoken::encode(&h, claims, &EncodingKey::from_secret(secret)).expect("the token encodes")
}

async fn refresh_kids(app: &TestApp) -> Vec<String> {
    app.query_text("SELECT kid AS value FROM refresh_keys ORDER BY kid")
        .await
}

/// Another session of the account `signed_in` registered.
async fn signed_in_again(app: &TestApp) -> Tokens {
    let reply = app.login("ada@example.com", crate::helpers::PASSWORD).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    Tokens::from(&reply.body)
}

fn rotate_keys(app: &TestApp) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_doorman"))
        .arg("rotate-keys")
        .env("DATABASE_URL", &app.config.database_url)
        .env("DOORMAN_JWT_ALG", "EdDSA")
        .output()
        .expect("the process runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refresh_token_does_not_verify_against_the_jwks_and_still_refreshes() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;
    let set = jwks(&app).await;

    assert!(
        stock_verify(&app, &set, &tokens.access).is_ok(),
        "the stock verifier accepts access tokens"
    );
    let refused = stock_verify(&app, &set, &tokens.refresh);
    assert!(refused.is_err(), "a refresh token verified: {refused:?}");
    assert!(set.find(&kid(&tokens.refresh)).is_none());
    assert!(!verifies_with_any_published_key(
        &app,
        &set,
        &tokens.refresh
    ));
    assert_eq!(header(&tokens.refresh)["alg"], "HS256");
    assert_eq!(refresh_kids(&app).await, vec![kid(&tokens.refresh)]);

    let refreshed = app.refresh(&tokens.refresh).await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.body);
    let next = Tokens::from(&refreshed.body);
    assert!(stock_verify(&app, &set, &next.refresh).is_err());
    assert_eq!(app.api().get_me(&next.access).await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn each_kind_of_token_is_still_refused_where_the_other_is_expected() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;

    app.refresh(&tokens.access)
        .await
        .assert_problem(401, "invalid_refresh_token");
    app.api()
        .get_me(&tokens.refresh)
        .await
        .assert_problem(401, "unauthenticated");
    let introspected = app
        .post(
            "/api/v1/auth/introspect",
            json!({ "token": tokens.refresh }),
        )
        .await;
    assert_eq!(introspected.body["active"], true, "{}", introspected.body);
    assert_eq!(introspected.body["typ"], "refresh");
}

#[tokio::test(flavor = "multi_thread")]
async fn rotation_keeps_old_refresh_tokens_valid_and_signs_new_ones_with_a_new_secret() {
    let app = TestApp::spawn().await;
    let before = app.signed_in("ada@example.com").await;
    let untouched = signed_in_again(&app).await;

    rotate_keys(&app);

    let replica = app.replica(|_| {}).await;
    let after = replica
        .login("ada@example.com", crate::helpers::PASSWORD)
        .await;
    let after = Tokens::from(&after.body);
    assert_ne!(kid(&after.refresh), kid(&before.refresh));
    let stored = refresh_kids(&app).await;
    assert_eq!(stored.len(), 2, "{stored:?}");
    assert!(stored.contains(&kid(&after.refresh)));
    assert!(jwks(&replica).await.find(&kid(&after.refresh)).is_none());

    // The old secret still verifies the tokens it signed; new ones use the new secret.
    let old_on_new = replica.refresh(&before.refresh).await;
    assert_eq!(old_on_new.status, StatusCode::OK, "{}", old_on_new.body);
    assert_eq!(
        kid(&Tokens::from(&old_on_new.body).refresh),
        kid(&after.refresh)
    );
    // The instance started before the rotation learns of the new secret from the token.
    let new_on_old = app.refresh(&after.refresh).await;
    assert_eq!(new_on_old.status, StatusCode::OK, "{}", new_on_old.body);
    let old_on_old = app.refresh(&untouched.refresh).await;
    assert_eq!(old_on_old.status, StatusCode::OK, "{}", old_on_old.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn instances_sharing_a_database_share_the_refresh_secret() {
    let first = TestApp::spawn().await;
    let second = first.replica(|_| {}).await;
    let tokens = first.signed_in("ada@example.com").await;

    let refreshed = second.refresh(&tokens.refresh).await;

    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.body);
    let next = Tokens::from(&refreshed.body);
    assert_eq!(kid(&next.refresh), kid(&tokens.refresh));
    assert_eq!(first.refresh(&next.refresh).await.status, StatusCode::OK);
    assert_eq!(refresh_kids(&first).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn with_an_hs256_access_secret_refresh_tokens_use_another_secret_kept_in_the_database() {
    let app = hs256_app().await;
    let tokens = app.signed_in("ada@example.com").await;

    assert_ne!(kid(&tokens.refresh), kid(&tokens.access));
    assert_eq!(refresh_kids(&app).await, vec![kid(&tokens.refresh)]);
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(&[app.config.issuer()]);
    validation.set_audience(&["doorman"]);
    let with_access_secret = jsonwebtoken::decode::<Value>(
        &tokens.refresh,
        &DecodingKey::from_secret(SECRET.as_bytes()),
        &validation,
    );
    assert!(
        with_access_secret.is_err(),
        "the access secret verified a refresh token"
    );
    assert!(
        jsonwebtoken::decode::<Value>(
            &tokens.access,
            &DecodingKey::from_secret(SECRET.as_bytes()),
            &validation,
        )
        .is_ok()
    );
    let refreshed = app.refresh(&tokens.refresh).await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.body);
}

/// A refresh token as doorman minted them before refresh keys existed: signed with the
/// access key (here the configured HS256 secret), under the access key's `kid`.
fn legacy_refresh(tokens: &Tokens, iat: i64) -> String {
    let mut body = claims(&tokens.refresh);
    body["iat"] = json!(iat);
    let head = json!({ "kid": kid(&tokens.access), "typ": "rt+jwt" });
    sign_hs256(&head, &body, SECRET.as_bytes())
}

#[tokio::test(flavor = "multi_thread")]
async fn refresh_tokens_signed_before_the_upgrade_are_accepted_until_they_expire() {
    let app = hs256_app().await;
    let tokens = app.signed_in("ada@example.com").await;
    let an_hour_ago = chrono::Utc::now().timestamp() - 3600;

    let legacy = legacy_refresh(&tokens, an_hour_ago);
    let introspected = app
        .post("/api/v1/auth/introspect", json!({ "token": legacy }))
        .await;
    assert_eq!(introspected.body["active"], true, "{}", introspected.body);
    let refreshed = app.refresh(&legacy).await;

    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.body);
    let next = Tokens::from(&refreshed.body);
    assert_eq!(header(&next.refresh)["alg"], "HS256");
    assert_eq!(refresh_kids(&app).await, vec![kid(&next.refresh)]);

    // Expired, it is refused like any other.
    let other = signed_in_again(&app).await;
    let mut expired = claims(&other.refresh);
    expired["iat"] = json!(an_hour_ago - 7200);
    expired["exp"] = json!(an_hour_ago);
    let head = json!({ "kid": kid(&other.access), "typ": "rt+jwt" });
    app.refresh(&sign_hs256(&head, &expired, SECRET.as_bytes()))
        .await
        .assert_problem(401, "invalid_refresh_token");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refresh_token_signed_with_the_access_key_after_the_upgrade_is_refused() {
    let app = hs256_app().await;
    let tokens = app.signed_in("ada@example.com").await;
    let iat = claims(&tokens.refresh)["iat"].as_i64().unwrap_or_default();

    let forged = legacy_refresh(&tokens, iat);

    app.refresh(&forged)
        .await
        .assert_problem(401, "invalid_refresh_token");
    let introspected = app
        .post("/api/v1/auth/introspect", json!({ "token": forged }))
        .await;
    assert_eq!(introspected.body["active"], false, "{}", introspected.body);
    assert_eq!(
        app.refresh(&tokens.refresh).await.status,
        StatusCode::OK,
        "the session was not harmed"
    );
}
