//! The token attacks the contract lists, each refused with 401.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::helpers::jwt::{claims, header};

const SECRET: &str = "a test secret that is long enough for HS256 signing!!";

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// An app that signs with a known HS256 secret, so tests can forge tokens at will.
async fn hs256_app() -> TestApp {
    TestApp::spawn_with(|c| {
        c.jwt_alg = doorman::config::JwtAlg::Hs256;
        c.jwt_secret = Some(SECRET.to_owned().into());
    })
    .await
}

fn sign_hs256(header: &Value, claims: &Value) -> String {
    let mut h = Header::new(Algorithm::HS256);
    h.kid = header["kid"].as_str().map(str::to_owned);
    h.typ = header["typ"].as_str().map(str::to_owned);
    jsonwebtoken::encode(&h, claims, &EncodingKey::from_secret(SECRET.as_bytes()))
        .expect("the token encodes")
}

#[tokio::test(flavor = "multi_thread")]
async fn alg_none_tampering_and_unknown_kids_are_401() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;
    let (head, body) = (header(&tokens.access), claims(&tokens.access));
    let signature = tokens
        .access
        .rsplit('.')
        .next()
        .unwrap_or_default()
        .to_owned();

    let mut none_header = head.clone();
    none_header["alg"] = json!("none");
    let alg_none = format!("{}.{}.", b64(&none_header), b64(&body));
    let mut admin = body.clone();
    admin["role"] = json!("admin");
    admin["is_admin"] = json!(true);
    let tampered = format!("{}.{}.{signature}", b64(&head), b64(&admin));
    let mut unknown = head.clone();
    unknown["kid"] = json!("no-such-key");
    let unknown_kid = format!("{}.{}.{signature}", b64(&unknown), b64(&body));

    for token in [alg_none, tampered, unknown_kid, "a.b.c".to_owned()] {
        app.api()
            .get_me(&token)
            .await
            .assert_problem(401, "unauthenticated");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_hmac_token_keyed_with_the_public_key_is_refused() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;
    let jwks = app
        .request(Method::GET, "/.well-known/jwks.json", None, None)
        .await
        .body;
    let public_x = jwks["keys"][0]["x"].as_str().unwrap_or_default().to_owned();
    let mut h = Header::new(Algorithm::HS256);
    h.kid = header(&tokens.access)["kid"].as_str().map(str::to_owned);

    let forged = jsonwebtoken::encode(
        &h,
        &claims(&tokens.access),
        &EncodingKey::from_secret(public_x.as_bytes()),
    )
    .expect("the token encodes");

    app.api()
        .get_me(&forged)
        .await
        .assert_problem(401, "unauthenticated");
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_issuer_audience_expiry_and_not_yet_valid_tokens_are_401() {
    let app = hs256_app().await;
    let tokens = app.signed_in("ada@example.com").await;
    let (head, good) = (header(&tokens.access), claims(&tokens.access));
    let now = chrono::Utc::now().timestamp();
    let with = |key: &str, value: Value| {
        let mut c = good.clone();
        c[key] = value;
        sign_hs256(&head, &c)
    };

    assert_eq!(
        app.api().get_me(&sign_hs256(&head, &good)).await.status,
        StatusCode::OK,
        "the forge is faithful"
    );
    app.api()
        .get_me(&with("iss", json!("someone-else")))
        .await
        .assert_problem(401, "unauthenticated");
    app.api()
        .get_me(&with("aud", json!("another-service")))
        .await
        .assert_problem(401, "unauthenticated");
    app.api()
        .get_me(&with("nbf", json!(now + 600)))
        .await
        .assert_problem(401, "unauthenticated");
    let mut expired = good.clone();
    expired["iat"] = json!(now - 1000);
    expired["exp"] = json!(now - 100);
    app.api()
        .get_me(&sign_hs256(&head, &expired))
        .await
        .assert_problem(401, "token_expired");
}

#[tokio::test(flavor = "multi_thread")]
async fn token_types_are_enforced_both_ways() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;

    let refresh_as_access = app.api().get_me(&tokens.refresh).await;
    let access_as_refresh = app.refresh(&tokens.access).await;
    let refresh_to_logout = app
        .request(
            Method::POST,
            "/api/v1/auth/logout",
            Some(&tokens.refresh),
            None,
        )
        .await;

    refresh_as_access.assert_problem(401, "unauthenticated");
    access_as_refresh.assert_problem(401, "invalid_refresh_token");
    refresh_to_logout.assert_problem(401, "unauthenticated");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forged_refresh_type_claim_on_an_access_token_cannot_refresh() {
    let app = hs256_app().await;
    let tokens = app.signed_in("ada@example.com").await;
    let mut forged = claims(&tokens.access);
    forged["typ"] = json!("refresh");

    let reply = app
        .refresh(&sign_hs256(&header(&tokens.access), &forged))
        .await;

    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn access_tokens_carry_every_claim_and_header_of_the_contract() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;

    let (head, body) = (header(&tokens.access), claims(&tokens.access));
    let refresh = claims(&tokens.refresh);

    assert_eq!(head["alg"], "EdDSA");
    assert_eq!(head["typ"], "at+jwt");
    assert!(head["kid"].is_string());
    for claim in [
        "iss", "aud", "sub", "sid", "jti", "iat", "nbf", "exp", "typ", "role", "is_admin", "email",
    ] {
        assert!(!body[claim].is_null(), "access token lacks {claim}");
    }
    assert_eq!(body["typ"], "access");
    assert_eq!(
        body["exp"].as_i64().unwrap_or(0) - body["iat"].as_i64().unwrap_or(0),
        900
    );
    for claim in ["iss", "aud", "sub", "sid", "jti", "iat", "exp"] {
        assert!(!refresh[claim].is_null(), "refresh token lacks {claim}");
    }
    assert_eq!(refresh["typ"], "refresh");
    let refreshed = app.refresh(&tokens.refresh).await;
    let next_access = refreshed.body["access_token"].as_str().unwrap_or_default();
    assert_ne!(
        body["jti"],
        claims(next_access)["jti"],
        "every access token has its own jti"
    );
}
