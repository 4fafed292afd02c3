//! Signing keys as other services see them: through the JWKS.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use reqwest::{Method, StatusCode};

use crate::helpers::TestApp;
use crate::helpers::jwt::header;

async fn jwks(app: &TestApp) -> JwkSet {
    let reply = app
        .request(Method::GET, "/.well-known/jwks.json", None, None)
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    serde_json::from_value(reply.body).expect("not a JWK set")
}

/// Verifies an access token the way another service would: only with the published JWKS.
async fn verify_offline(app: &TestApp, token: &str) -> serde_json::Value {
    let set = jwks(app).await;
    let kid = header(token)["kid"].as_str().unwrap_or_default().to_owned();
    let jwk = set
        .find(&kid)
        .unwrap_or_else(|| panic!("kid {kid} is not published"));
    let key = DecodingKey::from_jwk(jwk).expect("the JWK is a valid key");
    let alg = jwk
        .common
        .key_algorithm
        .map(|a| format!("{a:?}"))
        .unwrap_or_default();
    let mut validation = Validation::new(alg.parse().unwrap_or_else(|e| panic!("{alg}: {e:?}")));
    validation.set_issuer(&[app.config.issuer()]);
    validation.set_audience(&["doorman"]);
    jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation)
        .expect("offline verification failed")
        .claims
}

#[tokio::test(flavor = "multi_thread")]
async fn another_service_verifies_access_tokens_with_the_published_jwks() {
    for alg in [
        doorman::config::JwtAlg::EdDsa,
        doorman::config::JwtAlg::Es256,
        doorman::config::JwtAlg::Rs256,
    ] {
        let app = TestApp::spawn_with(|c| c.jwt_alg = alg).await;
        let tokens = app.signed_in("ada@example.com").await;

        let claims = verify_offline(&app, &tokens.access).await;

        assert_eq!(claims["sub"], tokens.user_id.as_str(), "{alg:?}");
        let published = serde_json::to_value(jwks(&app).await).unwrap_or_default();
        let key = &published["keys"][0];
        assert_eq!(key["use"], "sig");
        assert!(key["kid"].is_string() && key["alg"].is_string() && key["kty"].is_string());
        assert!(key.get("d").is_none(), "no private material is published");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn with_hs256_the_jwks_is_empty() {
    let app = TestApp::spawn_with(|c| {
        c.jwt_alg = doorman::config::JwtAlg::Hs256;
        c.jwt_secret = Some(
            "a test secret that is long enough for HS256 signing!!"
                .to_owned()
                .into(),
        );
    })
    .await;
    let tokens = app.signed_in("ada@example.com").await;

    assert!(jwks(&app).await.keys.is_empty());
    assert_eq!(
        app.api().get_me(&tokens.access).await.status,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn instances_sharing_a_database_share_their_keys() {
    let first = TestApp::spawn().await;
    let second = first.replica(|_| {}).await;
    let tokens = first.signed_in("ada@example.com").await;

    assert_eq!(
        serde_json::to_value(jwks(&first).await).ok(),
        serde_json::to_value(jwks(&second).await).ok()
    );
    assert_eq!(
        second.api().get_me(&tokens.access).await.status,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rotate_keys_adds_a_key_and_keeps_the_old_one_published() {
    let app = TestApp::spawn().await;
    let before = app.signed_in("ada@example.com").await;
    let old_kid = header(&before.access)["kid"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

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

    // A new instance signs with the new key; the running one learns of it from the first
    // token that names it, and both keys stay published.
    let replica = app.replica(|_| {}).await;
    let after = replica
        .login("ada@example.com", crate::helpers::PASSWORD)
        .await;
    let after = crate::helpers::Tokens::from(&after.body);
    let new_kid = header(&after.access)["kid"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_ne!(new_kid, old_kid);
    assert_eq!(app.api().get_me(&after.access).await.status, StatusCode::OK);
    assert_eq!(
        app.api().get_me(&before.access).await.status,
        StatusCode::OK
    );
    let published = jwks(&app).await;
    assert!(published.find(&old_kid).is_some() && published.find(&new_kid).is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signing_key_can_come_from_a_pem_file() {
    let record =
        doorman::crypto::keys::generate(doorman::config::JwtAlg::Es256, chrono::Utc::now())
            .expect("the key generates");
    let path =
        std::env::temp_dir().join(format!("doorman-key-{}.pem", uuid::Uuid::new_v4().simple()));
    std::fs::write(&path, &record.private_pem).expect("the write succeeds");
    let app = TestApp::spawn_with(|c| {
        c.jwt_alg = doorman::config::JwtAlg::Es256;
        c.jwt_private_key_file = Some(path.display().to_string());
    })
    .await;
    let tokens = app.signed_in("ada@example.com").await;

    let published = jwks(&app).await;
    let _ = std::fs::remove_file(&path);

    assert_eq!(published.keys.len(), 1);
    assert_eq!(
        published.keys[0].common.key_id.as_deref(),
        Some(record.kid.as_str())
    );
    assert_eq!(header(&tokens.access)["kid"], record.kid.as_str());
    assert_eq!(
        verify_offline(&app, &tokens.access).await["sub"],
        tokens.user_id.as_str()
    );
    let stored = app
        .query_text("SELECT kid AS value FROM signing_keys")
        .await;
    assert!(
        stored.is_empty(),
        "a key from a file is not copied into the database"
    );
}
