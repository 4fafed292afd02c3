//! Signing keys and refresh-token keys: loaded (or generated once, under a lock, by the
//! first instance to start), reloaded periodically and on an unknown `kid`, and rotated by
//! `doorman rotate-keys`. Refresh-token keys always live in the database (never in the
//! JWKS), even when the signing key comes from a file or a configured HS256 secret.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::clock;
use crate::config::JwtAlg;
use crate::crypto::jwt::TokenCodec;
use crate::crypto::keys::{self as crypto_keys, KeyRecord, KeySet, RefreshKeyRecord, alg_name};
use crate::db::{self, Db};
use crate::error::{Error, Result};

use secrecy::ExposeSecret;

use super::{Context, Settings, span};

/// How long a retired key stays published: the longest a token signed by it can live.
pub fn max_token_life(settings: &Settings) -> chrono::Duration {
    span(
        settings
            .access_ttl
            .max(settings.refresh_ttl)
            .max(settings.session_ttl),
    )
}

/// Loads the key set this instance signs and verifies with.
pub async fn load(db: &Db, settings: &Settings) -> anyhow::Result<KeySet> {
    let now = clock::now();
    let alg = settings.jwt_alg;
    let records = if let Some(path) = &settings.key_file {
        let pem = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read {path}: {e}"))?;
        vec![crypto_keys::record_from_private(alg, pem, now)?]
    } else if let (JwtAlg::Hs256, Some(secret)) = (alg, &settings.hs256_secret) {
        use base64::Engine;
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(secret.expose_secret().as_bytes());
        vec![crypto_keys::record_from_private(alg, encoded, now)?]
    } else {
        stored_or_generated(db, alg).await?
    };
    let refresh = refresh_stored_or_generated(db).await?;
    KeySet::build(alg, &records, &refresh, now, max_token_life(settings))
}

async fn refresh_stored_or_generated(db: &Db) -> Result<Vec<RefreshKeyRecord>> {
    let records = db::with_conn!(db, |c| { db::keys::list_refresh(c).await }).await?;
    if records.iter().any(|r| r.retired_at.is_none()) {
        return Ok(records);
    }
    db::transaction!(db, |tx| {
        tx.lock(db::Lock::KeyGeneration).await?;
        let records = db::keys::list_refresh(tx).await?;
        if records.iter().any(|r| r.retired_at.is_none()) {
            return Ok(records);
        }
        let key = crypto_keys::generate_refresh(clock::now()).map_err(Error::internal)?;
        db::keys::insert_refresh(tx, &key).await?;
        tracing::info!(kid = %key.kid, "generated a refresh-token key");
        db::keys::list_refresh(tx).await
    })
    .await
}

async fn stored_or_generated(db: &Db, alg: JwtAlg) -> Result<Vec<KeyRecord>> {
    let records = db::with_conn!(db, |c| { db::keys::list(c, alg_name(alg)).await }).await?;
    if records.iter().any(|r| r.retired_at.is_none()) {
        return Ok(records);
    }
    db::transaction!(db, |tx| {
        tx.lock(db::Lock::KeyGeneration).await?;
        let records = db::keys::list(tx, alg_name(alg)).await?;
        if records.iter().any(|r| r.retired_at.is_none()) {
            return Ok(records);
        }
        let key = crypto_keys::generate(alg, clock::now()).map_err(Error::internal)?;
        db::keys::insert(tx, &key).await?;
        tracing::info!(kid = %key.kid, alg = alg_name(alg), "generated a signing key");
        db::keys::list(tx, alg_name(alg)).await
    })
    .await
}

/// Adds a new signing key and a new refresh-token key and retires the others (they keep
/// verifying, and signing keys stay published, until their tokens expire). Returns the new
/// signing key's `kid`.
pub async fn rotate(db: &Db, alg: JwtAlg) -> Result<String> {
    db::transaction!(db, |tx| {
        tx.lock(db::Lock::KeyGeneration).await?;
        let now = clock::now();
        let key = crypto_keys::generate(alg, now).map_err(Error::internal)?;
        db::keys::insert(tx, &key).await?;
        db::keys::retire_others(tx, alg_name(alg), &key.kid, now).await?;
        let refresh = crypto_keys::generate_refresh(now).map_err(Error::internal)?;
        db::keys::insert_refresh(tx, &refresh).await?;
        db::keys::retire_other_refresh(tx, &refresh.kid, now).await?;
        Ok(key.kid)
    })
    .await
}

/// Re-reads the keys from the database and swaps them in.
pub async fn reload(ctx: &Context) -> anyhow::Result<()> {
    let keys = load(&ctx.db, &ctx.settings).await?;
    ctx.tokens.replace_keys(keys);
    Ok(())
}

/// Limits reloads triggered by tokens with an unknown `kid` (anyone can send those).
pub struct ReloadGate(Mutex<Option<Instant>>);

impl ReloadGate {
    const MIN_INTERVAL: Duration = Duration::from_secs(5);

    pub fn new() -> Self {
        Self(Mutex::new(None))
    }

    fn try_pass(&self) -> bool {
        let Ok(mut last) = self.0.lock() else {
            return false;
        };
        if last.is_some_and(|at| at.elapsed() < Self::MIN_INTERVAL) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }
}

impl Default for ReloadGate {
    fn default() -> Self {
        Self::new()
    }
}

/// Verifies `token` with `check`. When that fails because the token names a key this
/// instance does not know (another instance rotated), reloads the keys once (rate-limited:
/// anyone can send such tokens) and checks again. A valid token also tells the hashing
/// threads that requests are being served (`PasswordHasher::note_request`).
pub async fn verify<T>(
    ctx: &Context,
    token: &str,
    check: impl Fn(&TokenCodec, &str) -> Result<T>,
) -> Result<T> {
    let mut verified = check(&ctx.tokens, token);
    if verified.is_err() && ctx.tokens.unknown_kid(token).is_some() && ctx.key_reload.try_pass() {
        match reload(ctx).await {
            Ok(()) => verified = check(&ctx.tokens, token),
            Err(err) => tracing::warn!(error = %err, "reloading signing keys failed"),
        }
    }
    if verified.is_ok() {
        ctx.hasher.note_request();
    }
    verified
}
