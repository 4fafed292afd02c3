//! Secrets at rest under `DOORMAN_DATA_KEY`: the signing and refresh-token keys are kept
//! sealed (AES-256-GCM), so a copy of the database is not enough to forge a token; a
//! database from before the key is sealed at start; an older key still opens what it sealed
//! while everything is sealed again under the new one; a wrong key stops the start with a
//! reason.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use doorman::config::Config;
use doorman::crypto::data_key::{DataKey, Secrets};
use doorman::startup::Application;
use reqwest::StatusCode;
use secrecy::SecretString;

use crate::helpers::process::{doorman, the_error_of};
use crate::helpers::{TestApp, Tokens, test_config};

fn key(byte: u8) -> String {
    STANDARD.encode([byte; 32])
}

fn key_id(encoded: &str) -> String {
    DataKey::parse("test", encoded)
        .expect("a valid data key")
        .id()
        .to_owned()
}

fn with_key(config: &mut Config, current: &str, old: Option<&str>) {
    config.data_key = Some(SecretString::from(current.to_owned()));
    config.data_key_old = old.map(|old| SecretString::from(old.to_owned()));
}

/// `(kid, stored value)` of every stored signing and refresh-token key.
async fn stored_keys(app: &TestApp) -> Vec<(String, String)> {
    let mut stored = Vec::new();
    for (table, column, purpose) in [
        ("signing_keys", "private_pem", "signing_key"),
        ("refresh_keys", "secret", "refresh_key"),
    ] {
        let kids = app
            .query_text(&format!("SELECT kid AS value FROM {table} ORDER BY kid"))
            .await;
        let values = app
            .query_text(&format!(
                "SELECT {column} AS value FROM {table} ORDER BY kid"
            ))
            .await;
        assert!(!kids.is_empty(), "no {table}");
        for (kid, value) in kids.into_iter().zip(values) {
            stored.push((format!("{purpose}:{kid}"), value));
        }
    }
    stored
}

/// The raw bytes of the SQLite database (file and WAL); empty on PostgreSQL.
fn sqlite_bytes(app: &TestApp) -> Vec<u8> {
    let Some(path) = app.config.database_url.strip_prefix("sqlite://") else {
        return Vec::new();
    };
    let mut bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    if let Ok(wal) = std::fs::read(format!("{path}-wal")) {
        bytes.extend(wal);
    }
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

async fn signed_in(app: &TestApp) -> Tokens {
    app.signed_in("ada@example.com").await
}

async fn assert_works(app: &TestApp, tokens: &Tokens) {
    let me = app.get("/api/v1/users/me", &tokens.access).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    let refreshed = app.refresh(&tokens.refresh).await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.body);
}

async fn start_error(config: Config) -> String {
    match Application::build(config).await {
        Ok(_) => panic!("doorman started"),
        Err(err) => format!("{err:#}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn with_a_data_key_no_private_key_is_readable_in_the_database_and_tokens_verify() {
    let data_key = key(7);
    let app = TestApp::spawn_with(|c| with_key(c, &data_key, None)).await;
    let tokens = signed_in(&app).await;
    assert_works(&app, &tokens).await;

    let secrets = Secrets::from_settings(Some(&SecretString::from(data_key.clone())), None)
        .expect("secrets from a valid data key");
    let file = sqlite_bytes(&app);
    for (aad, stored) in stored_keys(&app).await {
        assert!(
            stored.starts_with(&format!("v1:{}:", key_id(&data_key))),
            "{aad} is stored as {stored}"
        );
        let secret = secrets
            .open(&stored, &aad)
            .unwrap_or_else(|e| panic!("{aad}: {e}"));
        assert!(!stored.contains(&secret));
        // The PEM's base64 lines (the DER body), or the refresh secret itself.
        let lines: Vec<&str> = secret
            .lines()
            .filter(|line| !line.starts_with("-----") && line.len() >= 16)
            .collect();
        assert!(!lines.is_empty(), "{aad}");
        for line in lines {
            assert!(!contains(&file, line), "{aad}: {line} is in the file");
        }
        assert!(!stored.contains("PRIVATE KEY"));
    }
    assert!(!contains(&file, "PRIVATE KEY"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_from_before_the_data_key_is_sealed_at_start_and_its_tokens_still_verify() {
    let app = TestApp::spawn().await;
    let tokens = signed_in(&app).await;
    let plain = stored_keys(&app).await;
    assert!(plain.iter().any(|(_, v)| v.contains("BEGIN PRIVATE KEY")));

    let data_key = key(8);
    let sealed_app = app.replica(|c| with_key(c, &data_key, None)).await;

    let prefix = format!("v1:{}:", key_id(&data_key));
    for (aad, stored) in stored_keys(&sealed_app).await {
        assert!(stored.starts_with(&prefix), "{aad} is stored as {stored}");
    }
    assert_works(&sealed_app, &tokens).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_data_key_with_the_old_one_listed_seals_everything_again_and_tokens_verify() {
    let (first, second) = (key(1), key(2));
    let app = TestApp::spawn_with(|c| with_key(c, &first, None)).await;
    let tokens = signed_in(&app).await;

    let rotated = app.replica(|c| with_key(c, &second, Some(&first))).await;
    let prefix = format!("v1:{}:", key_id(&second));
    for (aad, stored) in stored_keys(&rotated).await {
        assert!(stored.starts_with(&prefix), "{aad} is stored as {stored}");
    }
    assert_works(&rotated, &tokens).await;

    // Once everything is under the new key, the old one is no longer needed.
    let only_new = app.replica(|c| with_key(c, &second, None)).await;
    let me = only_new.get("/api/v1/users/me", &tokens.access).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn starting_with_a_wrong_or_missing_data_key_is_a_clear_error_that_changes_nothing() {
    let right = key(3);
    let app = TestApp::spawn_with(|c| with_key(c, &right, None)).await;
    let before = stored_keys(&app).await;

    let mut wrong = app.config.clone();
    with_key(&mut wrong, &key(4), None);
    let err = start_error(wrong).await;
    assert!(
        err.contains(&format!("sealed under the data key `{}`", key_id(&right)))
            && err.contains("DOORMAN_DATA_KEY_OLD"),
        "{err}"
    );

    let mut missing = app.config.clone();
    missing.data_key = None;
    let err = start_error(missing).await;
    assert!(err.contains("DOORMAN_DATA_KEY is unset"), "{err}");

    assert_eq!(stored_keys(&app).await, before);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_data_key_that_is_not_32_bytes_of_base64_is_refused_at_start_without_echoing_it() {
    for bad in ["not-a-key!", &STANDARD.encode([1u8; 16])] {
        let mut config = test_config("sqlite:///nonexistent/never-created.db".into());
        config.data_key = Some(SecretString::from(bad.to_owned()));
        let err = start_error(config).await;
        assert!(
            err.contains("DOORMAN_DATA_KEY is not a data key")
                && err.contains("32 random bytes in base64"),
            "{err}"
        );
        assert!(!err.contains(bad), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn seal_secrets_seals_a_plain_database_and_rotate_keys_then_stores_sealed_keys() {
    let app = TestApp::spawn().await;
    let tokens = signed_in(&app).await;
    let data_key = key(9);
    let prefix = format!("v1:{}:", key_id(&data_key));

    let sealed = doorman(&app.config.database_url)
        .env("DOORMAN_DATA_KEY", &data_key)
        .arg("seal-secrets")
        .output()
        .unwrap_or_else(|e| panic!("cannot run doorman: {e}"));
    assert!(sealed.status.success(), "{sealed:?}");
    let said = String::from_utf8_lossy(&sealed.stdout);
    assert!(said.contains("2 stored secrets sealed"), "{said}");
    let rotated = doorman(&app.config.database_url)
        .env("DOORMAN_DATA_KEY", &data_key)
        .arg("rotate-keys")
        .output()
        .unwrap_or_else(|e| panic!("cannot run doorman: {e}"));
    assert!(rotated.status.success(), "{rotated:?}");

    let stored = stored_keys(&app).await;
    assert_eq!(stored.len(), 4, "two signing and two refresh-token keys");
    for (aad, stored) in stored {
        assert!(stored.starts_with(&prefix), "{aad} is stored as {stored}");
    }
    let with_key = app.replica(|c| with_key(c, &data_key, None)).await;
    assert_works(&with_key, &tokens).await;
}

#[test]
fn seal_secrets_without_a_data_key_says_there_is_none() {
    let err = the_error_of(doorman("sqlite:///nonexistent/never.db").arg("seal-secrets"));
    assert!(err.contains("DOORMAN_DATA_KEY is unset"), "{err}");
}
