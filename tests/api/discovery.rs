//! `/.well-known/openid-configuration`: a service given only the issuer finds the keys.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::TestApp;
use crate::helpers::jwt::header;

/// An app whose `DOORMAN_PUBLIC_URL` is where it really listens, as in production.
async fn app_at_its_public_url(customise: impl FnOnce(&mut doorman::config::Config)) -> TestApp {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    TestApp::spawn_with(|config| {
        config.bind = format!("127.0.0.1:{port}");
        config.public_url = format!("http://127.0.0.1:{port}/");
        customise(config);
    })
    .await
}

async fn get_json(client: &reqwest::Client, url: &str) -> Value {
    let response = client.get(url).send().await.expect("an answer");
    assert_eq!(response.status(), StatusCode::OK, "{url}");
    response.json().await.expect("JSON")
}

/// What a resource server does with nothing but the issuer URL: fetch the discovery
/// document, then the keys it names, and verify the token's signature, `iss`, `aud` and
/// `exp` with them.
async fn verify_from_the_issuer_alone(issuer: &str, audience: &str, token: &str) -> Value {
    let client = reqwest::Client::new();
    let discovery = get_json(
        &client,
        &format!("{issuer}/.well-known/openid-configuration"),
    )
    .await;
    assert_eq!(discovery["issuer"], issuer);
    let jwks_uri = discovery["jwks_uri"].as_str().expect("a jwks_uri");
    let set: JwkSet = serde_json::from_value(get_json(&client, jwks_uri).await).expect("a JWK set");
    let kid = header(token)["kid"].as_str().unwrap_or_default().to_owned();
    let jwk = set.find(&kid).expect("the token's key is published");
    let alg = discovery["id_token_signing_alg_values_supported"][0]
        .as_str()
        .expect("an algorithm");
    let mut validation = Validation::new(alg.parse().expect("an algorithm jsonwebtoken knows"));
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    let key = DecodingKey::from_jwk(jwk).expect("a usable key");
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .expect("verification from the issuer failed")
        .claims
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_given_only_the_issuer_url_verifies_doormans_tokens() {
    let app = app_at_its_public_url(|_| {}).await;
    let tokens = app.signed_in("ada@example.com").await;
    let issuer = app.address.clone();

    let claims = verify_from_the_issuer_alone(&issuer, "doorman", &tokens.access).await;

    assert_eq!(claims["iss"], issuer);
    assert_eq!(claims["sub"], tokens.user_id.as_str());
}

#[tokio::test(flavor = "multi_thread")]
async fn discovery_lists_doormans_endpoints_as_absolute_urls_under_the_public_url() {
    let app = app_at_its_public_url(|_| {}).await;
    let client = reqwest::Client::new();

    let document = get_json(&client, &app.url("/.well-known/openid-configuration")).await;

    let base = app.address.as_str();
    assert_eq!(document["issuer"], base);
    assert_eq!(
        document["jwks_uri"],
        format!("{base}/.well-known/jwks.json")
    );
    assert_eq!(
        document["introspection_endpoint"],
        format!("{base}/api/v1/auth/introspect")
    );
    assert_eq!(
        document["revocations_endpoint"],
        format!("{base}/api/v1/auth/revocations")
    );
    assert_eq!(
        document["token_endpoint"],
        format!("{base}/api/v1/auth/token")
    );
    assert_eq!(
        document["subject_types_supported"],
        serde_json::json!(["public"])
    );
    assert_eq!(
        document["id_token_signing_alg_values_supported"],
        serde_json::json!(["EdDSA"])
    );
    assert!(
        document["response_types_supported"]
            .as_array()
            .is_some_and(|types| !types.is_empty())
    );
    let claims = document["claims_supported"].as_array().expect("a list");
    for claim in ["iss", "aud", "sub", "sid", "jti", "exp", "role"] {
        assert!(claims.contains(&Value::from(claim)), "{claim} missing");
    }
    for endpoint in ["jwks_uri", "revocations_endpoint"] {
        let url = document[endpoint].as_str().expect("a URL");
        get_json(&client, url).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn discovery_names_the_configured_signing_algorithm() {
    let app = app_at_its_public_url(|config| {
        config.jwt_alg = doorman::config::JwtAlg::Es256;
    })
    .await;
    let tokens = app.signed_in("ada@example.com").await;

    let claims = verify_from_the_issuer_alone(&app.address, "doorman", &tokens.access).await;

    assert_eq!(header(&tokens.access)["alg"], "ES256");
    assert_eq!(claims["sub"], tokens.user_id.as_str());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_configured_issuer_is_the_tokens_iss_and_discoverys_issuer() {
    let app = TestApp::spawn_with(|config| {
        config.issuer = Some("https://accounts.example.com".into());
    })
    .await;
    let tokens = app.signed_in("ada@example.com").await;
    let client = reqwest::Client::new();

    let document = get_json(&client, &app.url("/.well-known/openid-configuration")).await;

    assert_eq!(document["issuer"], "https://accounts.example.com");
    assert_eq!(
        crate::helpers::jwt::claims(&tokens.access)["iss"],
        "https://accounts.example.com"
    );
}
