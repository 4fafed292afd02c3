//! Signing keys and refresh-token keys: loaded (or generated once, under a lock, by the
//! first instance to start), reloaded periodically and on an unknown `kid`, and rotated by
//! `doorman rotate-keys`. Refresh-token keys always live in the database (never in the
//! JWKS), even when the signing key comes from a file or a configured HS256 secret. Stored
//! private keys and refresh secrets are sealed under the data key when one is set
//! (`crypto::data_key`), bound to their row by `signing_key:<kid>` / `refresh_key:<kid>`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::clock;
use crate::config::JwtAlg;
use crate::crypto::data_key::Secrets;
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
    let secrets = &settings.secrets;
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
        stored_or_generated(db, alg, secrets)
            .await?
            .into_iter()
            .map(|record| open_signing(secrets, record))
            .collect::<anyhow::Result<_>>()?
    };
    let refresh = refresh_stored_or_generated(db, secrets)
        .await?
        .into_iter()
        .map(|record| open_refresh(secrets, record))
        .collect::<anyhow::Result<Vec<_>>>()?;
    KeySet::build(alg, &records, &refresh, now, max_token_life(settings))
}

/// What a signing key's sealed PEM is bound to: its row.
fn signing_aad(kid: &str) -> String {
    format!("signing_key:{kid}")
}

fn refresh_aad(kid: &str) -> String {
    format!("refresh_key:{kid}")
}

fn open_signing(secrets: &Secrets, record: KeyRecord) -> anyhow::Result<KeyRecord> {
    let private_pem = secrets
        .open(&record.private_pem, &signing_aad(&record.kid))
        .map_err(|e| anyhow::anyhow!("cannot read the signing key {}: {e}", record.kid))?;
    Ok(KeyRecord {
        private_pem,
        ..record
    })
}

fn open_refresh(secrets: &Secrets, record: RefreshKeyRecord) -> anyhow::Result<RefreshKeyRecord> {
    let secret = secrets
        .open(record.secret.expose_secret(), &refresh_aad(&record.kid))
        .map_err(|e| anyhow::anyhow!("cannot read the refresh-token key {}: {e}", record.kid))?;
    Ok(RefreshKeyRecord {
        secret: secret.into(),
        ..record
    })
}

/// `record` as it is stored: its private key sealed under the data key, when one is set.
fn sealed_signing(secrets: &Secrets, record: &KeyRecord) -> Result<KeyRecord> {
    Ok(KeyRecord {
        private_pem: secrets
            .seal(&record.private_pem, &signing_aad(&record.kid))
            .map_err(Error::internal)?,
        ..record.clone()
    })
}

fn sealed_refresh(secrets: &Secrets, record: &RefreshKeyRecord) -> Result<RefreshKeyRecord> {
    Ok(RefreshKeyRecord {
        kid: record.kid.clone(),
        secret: secrets
            .seal(record.secret.expose_secret(), &refresh_aad(&record.kid))
            .map_err(Error::internal)?
            .into(),
        created_at: record.created_at,
        retired_at: record.retired_at,
    })
}

/// The refresh-token keys as stored (sealed or not), one generated when none is active.
async fn refresh_stored_or_generated(db: &Db, secrets: &Secrets) -> Result<Vec<RefreshKeyRecord>> {
    let records = db::with_conn!(db, |c| { db::keys::list_refresh(c).await }).await?;
    if records.iter().any(|r| r.retired_at.is_none()) {
        return Ok(records);
    }
    let secrets = secrets.clone();
    db::transaction!(db, |tx| {
        tx.lock(db::Lock::KeyGeneration).await?;
        let records = db::keys::list_refresh(tx).await?;
        if records.iter().any(|r| r.retired_at.is_none()) {
            return Ok(records);
        }
        let key = crypto_keys::generate_refresh(clock::now()).map_err(Error::internal)?;
        db::keys::insert_refresh(tx, &sealed_refresh(&secrets, &key)?).await?;
        tracing::info!(kid = %key.kid, "generated a refresh-token key");
        db::keys::list_refresh(tx).await
    })
    .await
}

/// The signing keys of `alg` as stored (sealed or not), one generated when none is active.
async fn stored_or_generated(db: &Db, alg: JwtAlg, secrets: &Secrets) -> Result<Vec<KeyRecord>> {
    let records = db::with_conn!(db, |c| { db::keys::list(c, alg_name(alg)).await }).await?;
    if records.iter().any(|r| r.retired_at.is_none()) {
        return Ok(records);
    }
    let secrets = secrets.clone();
    db::transaction!(db, |tx| {
        tx.lock(db::Lock::KeyGeneration).await?;
        let records = db::keys::list(tx, alg_name(alg)).await?;
        if records.iter().any(|r| r.retired_at.is_none()) {
            return Ok(records);
        }
        let key = crypto_keys::generate(alg, clock::now()).map_err(Error::internal)?;
        db::keys::insert(tx, &sealed_signing(&secrets, &key)?).await?;
        tracing::info!(kid = %key.kid, alg = alg_name(alg), "generated a signing key");
        db::keys::list(tx, alg_name(alg)).await
    })
    .await
}

/// Seals every stored key that is not sealed under the current data key: plain ones (kept
/// before `DOORMAN_DATA_KEY` was set) and ones under an older key (`DOORMAN_DATA_KEY_OLD`).
/// Runs at start and as `doorman seal-secrets`; returns how many were sealed. Nothing to do
/// without a data key. A key that does not open stops it with the reason, changing nothing.
pub async fn seal_at_rest(db: &Db, secrets: &Secrets) -> anyhow::Result<usize> {
    if secrets.current_id().is_none() {
        return Ok(0);
    }
    let secrets = secrets.clone();
    let sealed = db::transaction!(db, |tx| {
        tx.lock(db::Lock::KeyGeneration).await?;
        let mut sealed = 0;
        for record in db::keys::list_all(tx).await? {
            if secrets.needs_sealing(&record.private_pem) {
                let opened = open_signing(&secrets, record).map_err(Error::internal)?;
                let stored = sealed_signing(&secrets, &opened)?;
                db::keys::set_private(tx, &stored.kid, &stored.private_pem).await?;
                sealed += 1;
            }
        }
        for record in db::keys::list_refresh(tx).await? {
            if secrets.needs_sealing(record.secret.expose_secret()) {
                let opened = open_refresh(&secrets, record).map_err(Error::internal)?;
                let stored = sealed_refresh(&secrets, &opened)?;
                db::keys::set_refresh_secret(tx, &stored.kid, stored.secret.expose_secret())
                    .await?;
                sealed += 1;
            }
        }
        for (user, secret, pending) in db::mfa::all_secrets(tx).await? {
            let stale = |s: &Option<String>| s.as_deref().is_some_and(|s| secrets.needs_sealing(s));
            if stale(&secret) || stale(&pending) {
                let aad = super::mfa::secret_aad(user);
                let again = |s: Option<String>| reseal(&secrets, s, &aad);
                let (secret, pending) = (again(secret)?, again(pending)?);
                db::mfa::reseal_secrets(tx, user, secret.as_deref(), pending.as_deref()).await?;
                sealed += 1;
            }
        }
        for (id, secret) in db::webhooks::all_secrets(tx).await? {
            if secrets.needs_sealing(&secret) {
                let aad = super::webhooks::SECRET_AAD;
                let again = reseal(&secrets, Some(secret), aad)?.unwrap_or_default();
                db::webhooks::reseal_secret(tx, id, &again).await?;
                sealed += 1;
            }
        }
        Ok(sealed)
    })
    .await;
    sealed.map_err(|err| {
        anyhow::Error::new(err).context("sealing the stored secrets under DOORMAN_DATA_KEY")
    })
}

/// `stored` opened (plain, or under any configured key) and sealed under the current key.
fn reseal(secrets: &Secrets, stored: Option<String>, aad: &str) -> Result<Option<String>> {
    let Some(stored) = stored else {
        return Ok(None);
    };
    let opened = secrets.open(&stored, aad).map_err(Error::internal)?;
    secrets
        .seal(&opened, aad)
        .map(Some)
        .map_err(Error::internal)
}

/// Adds a new signing key and a new refresh-token key and retires the others (they keep
/// verifying, and signing keys stay published, until their tokens expire). Returns the new
/// signing key's `kid`.
pub async fn rotate(db: &Db, alg: JwtAlg, secrets: &Secrets) -> Result<String> {
    let secrets = secrets.clone();
    db::transaction!(db, |tx| {
        tx.lock(db::Lock::KeyGeneration).await?;
        let now = clock::now();
        let key = crypto_keys::generate(alg, now).map_err(Error::internal)?;
        db::keys::insert(tx, &sealed_signing(&secrets, &key)?).await?;
        db::keys::retire_others(tx, alg_name(alg), &key.kid, now).await?;
        let refresh = crypto_keys::generate_refresh(now).map_err(Error::internal)?;
        db::keys::insert_refresh(tx, &sealed_refresh(&secrets, &refresh)?).await?;
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
/// anyone can send such tokens) and checks again.
pub async fn verify<T>(
    ctx: &Context,
    token: &str,
    check: impl Fn(&TokenCodec, &str) -> Result<T>,
) -> Result<T> {
    let verified = check(&ctx.tokens, token);
    if verified.is_err() && ctx.tokens.unknown_kid(token).is_some() && ctx.key_reload.try_pass() {
        match reload(ctx).await {
            Ok(()) => return check(&ctx.tokens, token),
            Err(err) => tracing::warn!(error = %err, "reloading signing keys failed"),
        }
    }
    verified
}
