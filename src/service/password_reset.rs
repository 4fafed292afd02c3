//! Password reset by mail: single-use tokens of 32 random bytes, stored only as a SHA-256
//! hash, valid for 30 minutes; a newer request voids older ones.

use std::sync::{Arc, LazyLock};

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tokio::sync::Semaphore;

use super::notify::{self, Notice};
use super::users::new_password_hash;
use super::{Context, PASSWORD_HISTORY, span};
use crate::clock;
use crate::crypto::sha256_hex;
use crate::db;
use crate::domain::{AuditEvent, AuditKind, ClientInfo, Email, LoginName, UserId};
use crate::error::{Error, Result};
use crate::mail::Mail;

pub(crate) fn new_token() -> Result<String> {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| Error::internal(anyhow::anyhow!("no randomness")))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// How many forgot-password requests may be at work in the background at once; past that
/// the request is answered 503 (alike for every address) rather than queued without bound.
const FORGOT_IN_FLIGHT: usize = 256;

static FORGOT_PERMITS: LazyLock<Arc<Semaphore>> =
    LazyLock::new(|| Arc::new(Semaphore::new(FORGOT_IN_FLIGHT)));

/// Sends a reset link to an active account. The request is answered before any database
/// work: the look-up, the token, the audit event and the mail all happen in the
/// background, so neither the answer nor its timing can depend on whether the address has
/// an account (the work a known address causes, a write and a mail, would otherwise show
/// in the response time).
pub async fn forgot(ctx: Arc<Context>, email: Email, client: &ClientInfo) -> Result<()> {
    let permit = Arc::clone(&FORGOT_PERMITS)
        .try_acquire_owned()
        .map_err(|_| Error::ServiceUnavailable {
            retry_after_secs: 1,
        })?;
    let client = client.clone();
    tokio::spawn(async move {
        let _permit = permit;
        if let Err(err) = forgot_in_background(&ctx, email, &client).await {
            tracing::error!(error = %err, "a password reset request failed");
        }
    });
    Ok(())
}

async fn forgot_in_background(ctx: &Context, email: Email, client: &ClientInfo) -> Result<()> {
    let name = LoginName::Email(email.as_str().to_owned());
    let found = db::with_conn!(ctx.db, |c| { db::users::find_for_login(c, &name).await }).await?;
    let user = found
        .map(|record| record.user)
        .filter(|user| user.is_active);
    let now = clock::now();
    let mut event = AuditEvent::new(AuditKind::PasswordResetRequested, now, client);
    let Some(user) = user else {
        // The same transaction as for a known address, on an id no account has: writer
        // turn, the row lock (of nothing), the token delete (of nothing) and the audit event.
        let event = event.detail(serde_json::json!({ "account_found": false }));
        let nobody = UserId::new();
        return db::transaction!(ctx.db, |tx| {
            db::users::find_for_update(tx, nobody).await?;
            db::password_resets::delete_for(tx, nobody).await?;
            db::audit::insert(tx, &event).await
        })
        .await;
    };
    event = event
        .subject(user.id)
        .detail(serde_json::json!({ "account_found": true }));
    let token = new_token()?;
    let (hash, id, expires_at) = (
        sha256_hex(&token),
        user.id,
        now + span(ctx.settings.reset_token_ttl),
    );
    db::transaction!(ctx.db, |tx| {
        // The user's row lock makes requests for one account take turns, so each new token
        // voids the one before it even when two requests arrive together.
        db::users::find_for_update(tx, id).await?;
        db::password_resets::replace(tx, id, &hash, now, expires_at).await?;
        db::audit::insert(tx, &event).await
    })
    .await?;

    let minutes = ctx.settings.reset_token_ttl.as_secs() / 60;
    let mail = Mail {
        to: user.email,
        subject: "Reset your password".into(),
        body: format!(
            "Someone asked to reset the password of this account.\n\n\
             To choose a new password, open this link within {minutes} minutes:\n\n\
             {}/reset-password?token={token}\n\n\
             If it was not you, ignore this mail: your password stays as it is.\n",
            ctx.settings.public_url
        ),
    };
    ctx.mailer
        .send(mail)
        .await
        .map_err(|err| Error::internal(anyhow::anyhow!("sending the reset mail: {err}")))
}

/// Sets a new password with a reset token; every session of the user is revoked.
pub async fn reset(
    ctx: &Context,
    token: &str,
    new_password: &str,
    client: &ClientInfo,
) -> Result<()> {
    let hash = sha256_hex(token);
    let now = clock::now();
    let lookup = hash.clone();
    let user = db::with_conn!(ctx.db, |c| {
        let row = db::password_resets::find_for_update(c, &lookup).await?;
        let Some(row) = row.filter(|row| row.is_usable(now)) else {
            return Ok(None);
        };
        db::users::find(c, row.user_id).await
    })
    .await?
    .filter(|user| user.is_active)
    .ok_or(Error::InvalidResetToken)?;

    let new_hash = new_password_hash(ctx, &user, "new_password", new_password).await?;
    // Stamped again after hashing, which may have queued: the revocation feed relies on a
    // revocation committing within the database deadline of its stamp.
    let now = clock::now();
    let event = AuditEvent::new(AuditKind::PasswordResetCompleted, now, client).subject(user.id);
    db::transaction!(ctx.db, |tx| {
        let row = db::password_resets::find_for_update(tx, &hash)
            .await?
            .filter(|row| row.is_usable(now))
            .ok_or(Error::InvalidResetToken)?;
        db::password_resets::consume(tx, row.user_id, now).await?;
        db::users::push_credential(tx, row.user_id, None, &new_hash, now, PASSWORD_HISTORY).await?;
        let revoked = db::sessions::revoke_all(tx, row.user_id, None, now).await?;
        db::audit::insert(
            tx,
            &event.detail(serde_json::json!({ "sessions_revoked": revoked })),
        )
        .await
    })
    .await?;
    notify::send(ctx, &user.email, Notice::PasswordReset, client);
    Ok(())
}

/// Whether a reset token can still be used (the reset page asks before it shows its form).
pub async fn is_usable(ctx: &Context, token: &str) -> Result<bool> {
    let hash = sha256_hex(token);
    let now = clock::now();
    let row = db::with_conn!(ctx.db, |c| {
        db::password_resets::find_for_update(c, &hash).await
    })
    .await?;
    Ok(row.is_some_and(|row| row.is_usable(now)))
}
