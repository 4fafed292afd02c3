//! Second factors: TOTP enrolment (RFC 6238 through `totp-rs`, the QR code through
//! `qrcode`), recovery codes, the second step of a sign-in, the enrolment rule
//! (`DOORMAN_MFA_REQUIRED`) and the staff reset.
//!
//! A sign-in whose password was right, for an account with a factor, gets an `mfa_token`
//! (32 random bytes, only its SHA-256 kept, 5 minutes, single use) instead of a session
//! (`second_step`); [`sign_in`] finishes it with one [`SecondFactor`]. Each code tried
//! counts against the token (5 at most) and toward the account's lockout, exactly as a
//! password attempt does; a right one opens the session in the same transaction that
//! spends the token and the code.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use chrono::{DateTime, Utc};
use totp_rs::{Builder, Secret, Totp};

use super::auth::{self, Opening, Principal};
use super::notify::{self, Notice};
use super::policy::{self, Action, Reach};
use super::{Context, passkeys, password_reset, users};
use crate::clock;
use crate::crypto::data_key::Secrets;
use crate::crypto::sha256_hex;
use crate::db;
use crate::domain::{
    Amr, AuditEvent, AuditKind, ChallengeId, ClientInfo, Session, TokenPair, User, UserId,
};
use crate::error::{Error, Result};
use crate::metrics::LoginOutcome;

/// How long an `mfa_token` may be used.
const TOKEN_TTL: chrono::Duration = chrono::Duration::minutes(5);
/// Wrong codes after which an `mfa_token` is void.
const TOKEN_TRIES: i32 = 5;
/// Recovery codes in a set.
const RECOVERY_CODES: usize = 10;
/// The name authenticator apps show beside the account.
const ISSUER: &str = "doorman";

/// What `GET /users/me/mfa` tells.
#[derive(Debug, Clone)]
pub struct MfaStatus {
    /// TOTP is on (confirmed).
    pub totp: bool,
    /// A TOTP enrolment waits for its confirming code.
    pub totp_pending: bool,
    pub passkeys: i64,
    pub recovery_codes_left: i64,
    /// `DOORMAN_MFA_REQUIRED` applies to this account.
    pub required: bool,
}

/// A TOTP enrolment, shown once: the secret (base32), its `otpauth://` URI and that URI as
/// an SVG QR code.
#[derive(Debug, Clone)]
pub struct TotpEnrolment {
    pub secret: String,
    pub otpauth_uri: String,
    pub qr_svg: String,
}

/// The proof given in the second step of a sign-in.
#[derive(Debug, Clone)]
pub enum SecondFactor {
    Totp(String),
    RecoveryCode(String),
    /// A WebAuthn assertion for a challenge from `POST /auth/passkey/options`.
    Passkey {
        challenge_id: String,
        credential: serde_json::Value,
    },
}

/// The caller's second factors.
pub async fn status(ctx: &Context, actor: &Principal) -> Result<MfaStatus> {
    let id = actor.user.id;
    let (factor, left, passkeys) = db::with_conn!(ctx.db, |c| {
        let factor = db::mfa::find_factor(c, id).await?;
        let left = db::mfa::recovery_codes_left(c, id).await?;
        let passkeys = db::passkeys::count(c, id).await?;
        Ok((factor, left, passkeys))
    })
    .await?;
    Ok(MfaStatus {
        totp: factor.as_ref().is_some_and(|f| f.secret.is_some()),
        totp_pending: factor.as_ref().is_some_and(|f| f.pending_secret.is_some()),
        passkeys,
        recovery_codes_left: left,
        required: policy::must_have_second_factor(&actor.user, ctx.settings.mfa_required),
    })
}

/// Starts a TOTP enrolment (the password confirms it is the account holder): a new secret,
/// pending until [`confirm_totp`]; a newer call replaces it. A confirmed secret stays in
/// force until then.
pub async fn begin_totp(ctx: &Context, actor: &Principal, password: &str) -> Result<TotpEnrolment> {
    users::check_password(ctx, actor.user.id, password).await?;
    let secret = Secret::from(random_bytes::<20>()?.to_vec());
    let encoded = secret.to_base32();
    let totp = totp(&encoded, &actor.user.email)?;
    let otpauth_uri = totp.to_url().map_err(Error::internal)?;
    let qr_svg = qr_svg(&otpauth_uri)?;
    let id = actor.user.id;
    let (sealed, now) = (
        seal_secret(&ctx.settings.secrets, id, &encoded)?,
        clock::now(),
    );
    db::write!(ctx.db, |c| {
        db::mfa::set_pending(c, id, &sealed, now).await
    })
    .await?;
    Ok(TotpEnrolment {
        secret: encoded,
        otpauth_uri,
        qr_svg,
    })
}

/// The pending enrolment of the caller, shown again (the web console's set-up page after
/// a wrong code); `None` when nothing is pending. A confirmed secret is never shown again.
pub async fn pending_enrolment(ctx: &Context, actor: &Principal) -> Result<Option<TotpEnrolment>> {
    let id = actor.user.id;
    let factor = db::with_conn!(ctx.db, |c| { db::mfa::find_factor(c, id).await }).await?;
    let Some(sealed) = factor.and_then(|f| f.pending_secret) else {
        return Ok(None);
    };
    let secret = open_secret(&ctx.settings.secrets, id, &sealed)?;
    let otpauth_uri = totp(&secret, &actor.user.email)?
        .to_url()
        .map_err(Error::internal)?;
    Ok(Some(TotpEnrolment {
        qr_svg: qr_svg(&otpauth_uri)?,
        otpauth_uri,
        secret,
    }))
}

/// Confirms the pending TOTP secret with a code from it: TOTP is on, and a new set of
/// recovery codes (returned, shown once) replaces any older one.
pub async fn confirm_totp(
    ctx: &Context,
    actor: &Principal,
    code: &str,
    client: &ClientInfo,
) -> Result<Vec<String>> {
    let (codes, hashes) = new_recovery_codes()?;
    let (id, email, code) = (actor.user.id, actor.user.email.clone(), code.to_owned());
    let secrets = ctx.settings.secrets.clone();
    let event = AuditEvent::new(AuditKind::MfaEnabled, clock::now(), client)
        .actor(id)
        .subject(id)
        .detail(serde_json::json!({ "method": "totp" }));
    db::transaction!(ctx.db, |tx| {
        let pending = db::mfa::find_factor_for_update(tx, id)
            .await?
            .and_then(|factor| factor.pending_secret)
            .ok_or_else(|| {
                Error::field(
                    "code",
                    "no_pending_enrolment",
                    "start with POST /api/v1/users/me/mfa/totp first",
                )
            })?;
        let step = matching_step(
            &open_secret(&secrets, id, &pending)?,
            &email,
            &code,
            event.at,
        )?
        .ok_or(Error::InvalidMfaCode)?;
        if !db::mfa::confirm_pending(tx, id, step, event.at).await? {
            return Err(Error::InvalidMfaCode);
        }
        db::mfa::replace_recovery_codes(tx, id, &hashes, event.at).await?;
        db::audit::insert(tx, &event).await
    })
    .await?;
    let added = Notice::FactorAdded {
        factor: "an authenticator app (two-step sign-in)".into(),
    };
    notify::send(ctx, &actor.user.email, added, client);
    Ok(codes)
}

/// Turns TOTP off (password and a TOTP or recovery code confirm it) and voids the
/// recovery codes.
pub async fn disable_totp(
    ctx: &Context,
    actor: &Principal,
    password: &str,
    code: &str,
    client: &ClientInfo,
) -> Result<()> {
    users::check_password(ctx, actor.user.id, password).await?;
    let (id, email, code) = (actor.user.id, actor.user.email.clone(), code.to_owned());
    let secrets = ctx.settings.secrets.clone();
    let (now, event_client) = (clock::now(), client.clone());
    db::transaction!(ctx.db, |tx| {
        let used = check_code_in(tx, &secrets, id, &email, &code, now).await?;
        used.audit(tx, id, now, &event_client).await?;
        db::mfa::delete_factor(tx, id).await?;
        db::mfa::delete_recovery_codes(tx, id).await?;
        let event = AuditEvent::new(AuditKind::MfaDisabled, now, &event_client)
            .actor(id)
            .subject(id)
            .detail(serde_json::json!({ "method": "totp" }));
        db::audit::insert(tx, &event).await
    })
    .await?;
    let removed = Notice::FactorRemoved {
        factor: "the authenticator app (two-step sign-in)".into(),
    };
    notify::send(ctx, &actor.user.email, removed, client);
    Ok(())
}

/// A new set of recovery codes (password and a TOTP or recovery code confirm it); the old
/// set is void.
pub async fn regenerate_recovery_codes(
    ctx: &Context,
    actor: &Principal,
    password: &str,
    code: &str,
    client: &ClientInfo,
) -> Result<Vec<String>> {
    users::check_password(ctx, actor.user.id, password).await?;
    let (codes, hashes) = new_recovery_codes()?;
    let (id, email, code) = (actor.user.id, actor.user.email.clone(), code.to_owned());
    let secrets = ctx.settings.secrets.clone();
    let (now, client) = (clock::now(), client.clone());
    db::transaction!(ctx.db, |tx| {
        let used = check_code_in(tx, &secrets, id, &email, &code, now).await?;
        used.audit(tx, id, now, &client).await?;
        db::mfa::replace_recovery_codes(tx, id, &hashes, now).await?;
        let event = AuditEvent::new(AuditKind::MfaRecoveryCodesRegenerated, now, &client)
            .actor(id)
            .subject(id);
        db::audit::insert(tx, &event).await
    })
    .await?;
    Ok(codes)
}

/// Staff: removes every second factor of `target` and revokes every session of theirs.
pub async fn reset(
    ctx: &Context,
    actor: &Principal,
    target: UserId,
    client: &ClientInfo,
) -> Result<()> {
    policy::may_attempt(&actor.user, Action::ResetMfa)?;
    let actor = actor.user.clone();
    let event = AuditEvent::new(AuditKind::MfaReset, clock::now(), client)
        .actor(actor.id)
        .subject(target);
    let email = db::transaction!(ctx.db, |tx| {
        let user = db::users::find_for_update(tx, target)
            .await?
            .ok_or(Error::NotFound)?;
        policy::may(&actor, Action::ResetMfa, &user)?;
        db::mfa::delete_factor(tx, target).await?;
        db::mfa::delete_recovery_codes(tx, target).await?;
        db::mfa::delete_tokens(tx, target).await?;
        db::passkeys::delete_all_for_user(tx, target).await?;
        let revoked = db::sessions::revoke_all(tx, target, None, event.at).await?;
        let event = event.detail(serde_json::json!({ "sessions_revoked": revoked }));
        db::audit::insert(tx, &event).await?;
        Ok(user.email)
    })
    .await?;
    notify::send(ctx, &email, Notice::FactorsReset, client);
    Ok(())
}

/// The second step a sign-in whose password was right needs, if the account has a second
/// factor: `mfa_required` with a new token and the account's methods. The password
/// attempt counted under `throttle_key` is taken back: it neither failed nor finished the
/// sign-in, so it neither adds to the lockout nor clears what wrong codes added.
pub(crate) async fn second_step(
    ctx: &Context,
    user: UserId,
    throttle_key: &str,
    now: DateTime<Utc>,
) -> Result<Option<Error>> {
    let factors = db::with_conn!(ctx.db, |c| { db::mfa::factors(c, user).await }).await?;
    let mut methods = Vec::new();
    if factors.totp {
        methods.push("totp");
    }
    if factors.totp && factors.recovery_code {
        methods.push("recovery_code");
    }
    if factors.passkey && ctx.webauthn.is_some() {
        methods.push("passkey");
    }
    if methods.is_empty() {
        return Ok(None);
    }
    let token = password_reset::new_token()?;
    let (hash, key) = (sha256_hex(&token), throttle_key.to_owned());
    db::transaction!(ctx.db, |tx| {
        db::mfa::insert_token(tx, &hash, user, now, now + TOKEN_TTL).await?;
        db::login_throttles::uncount(tx, &key).await
    })
    .await?;
    Ok(Some(Error::MfaRequired { token, methods }))
}

/// The user a live `mfa_token` was handed to, without spending it (for
/// `POST /auth/passkey/options {mfa_token}`).
pub async fn token_user(ctx: &Context, mfa_token: &str) -> Result<UserId> {
    let (hash, now) = (sha256_hex(mfa_token), clock::now());
    db::with_conn!(ctx.db, |c| {
        db::mfa::find_live_token(c, &hash, now, TOKEN_TRIES).await
    })
    .await?
    .ok_or(Error::InvalidMfaToken)
}

/// Spends a live `mfa_token`: its user, or `invalid_mfa_token` when it is not live.
pub async fn consume_token(ctx: &Context, mfa_token: &str) -> Result<UserId> {
    let (hash, now) = (sha256_hex(mfa_token), clock::now());
    db::transaction!(ctx.db, |tx| {
        let user = db::mfa::find_live_token(tx, &hash, now, TOKEN_TRIES)
            .await?
            .ok_or(Error::InvalidMfaToken)?;
        if !db::mfa::use_token(tx, &hash, now).await? {
            return Err(Error::InvalidMfaToken);
        }
        Ok(user)
    })
    .await
}

/// Finishes a sign-in with its `mfa_token` and a second factor: a token pair whose `amr`
/// says how.
pub async fn sign_in(
    ctx: &Context,
    mfa_token: &str,
    factor: SecondFactor,
    client: &ClientInfo,
) -> Result<TokenPair> {
    let (user, session, now) = finish(ctx, mfa_token, factor, client, None).await?;
    auth::issue(ctx, &user, &session, now)
}

/// [`sign_in`] for the web console: the session is held by a new cookie token (returned;
/// only its hash is kept).
pub async fn sign_in_with_cookie(
    ctx: &Context,
    mfa_token: &str,
    factor: SecondFactor,
    client: &ClientInfo,
) -> Result<(User, String)> {
    let token = password_reset::new_token()?;
    let hash = sha256_hex(&token);
    let (user, _, _) = finish(ctx, mfa_token, factor, client, Some(hash)).await?;
    Ok((user, token))
}

/// The second step's checks and the session (held by a console cookie when `cookie_hash`
/// is given).
async fn finish(
    ctx: &Context,
    mfa_token: &str,
    factor: SecondFactor,
    client: &ClientInfo,
    cookie_hash: Option<String>,
) -> Result<(User, Session, DateTime<Utc>)> {
    let amr = match &factor {
        SecondFactor::Totp(_) => Amr::of(&["pwd", "otp", "mfa"]),
        SecondFactor::RecoveryCode(_) => Amr::of(&["pwd", "rec", "mfa"]),
        // Replaced by the passkey's own once its assertion is verified, below.
        SecondFactor::Passkey { .. } => Amr::of(&[]),
    };
    let (hash, now) = (sha256_hex(mfa_token), clock::now());
    let counted = hash.clone();
    let id = db::write!(ctx.db, |c| {
        db::mfa::count_token_try(c, &counted, now, TOKEN_TRIES).await
    })
    .await?
    .ok_or(Error::InvalidMfaToken)?;
    let key = auth::account_key(id);
    let failures = auth::count_attempt(ctx, &key, now).await?;
    let user = db::with_conn!(ctx.db, |c| { db::users::find(c, id).await })
        .await?
        .ok_or(Error::InvalidMfaToken)?;
    if !user.is_active {
        return Err(Error::AccountDisabled);
    }
    let (amr, verified) = match &factor {
        SecondFactor::Passkey {
            challenge_id,
            credential,
        } => match passkey_second_step(ctx, challenge_id, credential, id, client).await? {
            Some(used) => (Amr::of(&used.amr()), Ok(())),
            None => (amr, Err(Error::InvalidMfaCode)),
        },
        _ => (amr, Ok(())),
    };
    let opening = Opening::new(ctx, user.clone(), amr, now, client, cookie_hash);
    let (email, stored, event_client) = (user.email.clone(), opening.clone(), client.clone());
    let secrets = ctx.settings.secrets.clone();
    let outcome = match verified {
        Err(wrong) => Err(wrong),
        Ok(()) => {
            db::transaction!(ctx.db, |tx| {
                if !db::mfa::use_token(tx, &hash, now).await? {
                    return Err(Error::InvalidMfaToken);
                }
                let used = match factor {
                    SecondFactor::Totp(code) => {
                        check_totp_in(tx, &secrets, id, &email, &code, now).await?
                    }
                    SecondFactor::RecoveryCode(code) => {
                        check_recovery_code_in(tx, id, &code, now).await?
                    }
                    SecondFactor::Passkey { .. } => UsedCode::Passkey,
                };
                let left = used.audit(tx, id, now, &event_client).await?;
                Ok((stored.open_in(tx).await?, left))
            })
            .await
        }
    };
    match outcome {
        Ok((seen, left)) => {
            if let Some(left) = left {
                let used = Notice::RecoveryCodeUsed { left };
                notify::send(ctx, &user.email, used, client);
            }
            Ok(opening.opened(ctx, seen))
        }
        Err(Error::InvalidMfaCode) => {
            ctx.metrics.login(LoginOutcome::FailedSecondStep);
            let failed = AuditEvent::new(AuditKind::MfaFailed, now, client)
                .detail(serde_json::json!({ "reason": "invalid_mfa_code" }));
            auth::record_failure(ctx, &key, Some(&user), failures, failed, client).await?;
            Err(Error::InvalidMfaCode)
        }
        Err(other) => Err(other),
    }
}

/// Whether the enrolment rule lets `principal` reach `reach`: an account that must have a
/// second factor and has none reaches only its own account and its factors
/// (`mfa_enrolment_required` elsewhere). Costs a query only for such accounts.
pub async fn check_enrolment(ctx: &Context, principal: &Principal, reach: Reach) -> Result<()> {
    let required = ctx.settings.mfa_required;
    if !policy::needs_second_factor_for(&principal.user, required, reach) {
        return Ok(());
    }
    let id = principal.user.id;
    let factors = db::with_conn!(ctx.db, |c| { db::mfa::factors(c, id).await }).await?;
    if factors.totp || factors.passkey {
        Ok(())
    } else {
        Err(Error::MfaEnrolmentRequired)
    }
}

/// Checks a passkey's assertion as the second step for `user`: `None` when the passkey
/// was refused (a wrong code, as far as the lockout is concerned).
async fn passkey_second_step(
    ctx: &Context,
    challenge_id: &str,
    credential: &serde_json::Value,
    user: UserId,
    client: &ClientInfo,
) -> Result<Option<passkeys::PasskeyUse>> {
    let Ok(challenge) = uuid::Uuid::parse_str(challenge_id) else {
        return Ok(None);
    };
    let challenge = ChallengeId(challenge);
    match passkeys::verify_assertion(ctx, challenge, credential.clone(), Some(user), client).await {
        Ok(used) => Ok(Some(used)),
        Err(Error::InvalidCredentials) => Ok(None),
        Err(other) => Err(other),
    }
}

/// Which code was accepted, for the audit trail.
enum UsedCode {
    Totp,
    Recovery,
    /// Verified (and its counter recorded) by `service::passkeys` before the transaction.
    Passkey,
}

impl UsedCode {
    /// Writes `mfa.recovery_code_used` for a recovery code, and says how many are left.
    async fn audit(
        &self,
        tx: &mut db::Conn,
        user: UserId,
        at: DateTime<Utc>,
        client: &ClientInfo,
    ) -> Result<Option<usize>> {
        match self {
            Self::Totp | Self::Passkey => Ok(None),
            Self::Recovery => {
                let left = db::mfa::recovery_codes_left(tx, user).await?;
                let event = AuditEvent::new(AuditKind::MfaRecoveryCodeUsed, at, client)
                    .actor(user)
                    .subject(user)
                    .detail(serde_json::json!({ "recovery_codes_left": left }));
                db::audit::insert(tx, &event).await?;
                Ok(Some(usize::try_from(left).unwrap_or(0)))
            }
        }
    }
}

/// A TOTP code (six digits) or a recovery code of the user, accepted once; `not_found`
/// when TOTP is off, `invalid_mfa_code` when the code is wrong or spent.
async fn check_code_in(
    tx: &mut db::Conn,
    secrets: &Secrets,
    user: UserId,
    email: &str,
    code: &str,
    now: DateTime<Utc>,
) -> Result<UsedCode> {
    if !db::mfa::has_totp(tx, user).await? {
        return Err(Error::NotFound);
    }
    let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit()) {
        check_totp_in(tx, secrets, user, email, &digits, now).await
    } else {
        check_recovery_code_in(tx, user, code, now).await
    }
}

/// A TOTP code of the user's confirmed secret, of the current step or one either side,
/// accepted only if no code of that step or a later one was.
async fn check_totp_in(
    tx: &mut db::Conn,
    secrets: &Secrets,
    user: UserId,
    email: &str,
    code: &str,
    now: DateTime<Utc>,
) -> Result<UsedCode> {
    let secret = db::mfa::find_factor_for_update(tx, user)
        .await?
        .and_then(|factor| factor.secret)
        .ok_or(Error::InvalidMfaCode)?;
    let step = matching_step(&open_secret(secrets, user, &secret)?, email, code, now)?
        .ok_or(Error::InvalidMfaCode)?;
    if !db::mfa::accept_step(tx, user, step).await? {
        return Err(Error::InvalidMfaCode);
    }
    Ok(UsedCode::Totp)
}

/// Spends one of the user's unused recovery codes.
async fn check_recovery_code_in(
    tx: &mut db::Conn,
    user: UserId,
    code: &str,
    now: DateTime<Utc>,
) -> Result<UsedCode> {
    let hash = sha256_hex(normalise_recovery_code(code));
    if !db::mfa::use_recovery_code(tx, user, &hash, now).await? {
        return Err(Error::InvalidMfaCode);
    }
    Ok(UsedCode::Recovery)
}

/// The time step whose code `code` is, of the current one and one either side.
fn matching_step(secret: &str, email: &str, code: &str, now: DateTime<Utc>) -> Result<Option<i64>> {
    let totp = totp(secret, email)?;
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    let Ok(time) = u64::try_from(now.timestamp()) else {
        return Ok(None);
    };
    Ok(totp
        .check(&code, time)
        .and_then(|step| i64::try_from(step).ok()))
}

/// RFC 6238 with the contract's parameters: SHA-1, 6 digits, 30 s, one step of drift.
fn totp(secret_base32: &str, email: &str) -> Result<Totp> {
    let secret = Secret::try_from_base32(secret_base32)
        .map_err(|e| Error::internal(anyhow::anyhow!("{e:?}")))?;
    Builder::new()
        .with_secret(secret)
        .with_digits(6)
        .with_step_duration(30)
        .with_skew(1)
        .with_issuer(Some(ISSUER))
        // A colon separates issuer and account in the label: none may be inside either.
        .with_account_name(email.replace(':', "_"))
        .build()
        .map_err(|e| Error::internal(anyhow::anyhow!("{e:?}")))
}

/// The URI as an SVG QR code (no XML declaration, so it can be put inline in a page; only
/// presentation attributes, which a CSP without inline styles allows).
fn qr_svg(uri: &str) -> Result<String> {
    let code = qrcode::QrCode::new(uri.as_bytes()).map_err(Error::internal)?;
    let svg = code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .build();
    Ok(match svg.find("<svg") {
        Some(at) => svg[at..].to_owned(),
        None => svg,
    })
}

/// Ten codes of 60 random bits, as `xxxx-xxxx-xxxx` (Crockford's base 32, lower case),
/// with their hashes.
fn new_recovery_codes() -> Result<(Vec<String>, Vec<String>)> {
    const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
    let mut codes = Vec::with_capacity(RECOVERY_CODES);
    for _ in 0..RECOVERY_CODES {
        let bits = u64::from_le_bytes(random_bytes::<8>()?);
        let chars: String = (0..12)
            .map(|i| char::from(ALPHABET[usize::try_from((bits >> (5 * i)) & 31).unwrap_or(0)]))
            .collect();
        codes.push(format!(
            "{}-{}-{}",
            &chars[0..4],
            &chars[4..8],
            &chars[8..12]
        ));
    }
    let hashes = codes
        .iter()
        .map(|code| sha256_hex(normalise_recovery_code(code)))
        .collect();
    Ok((codes, hashes))
}

/// A recovery code as typed, in the form its hash is of: no dashes or spaces, lower case.
fn normalise_recovery_code(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut bytes = [0u8; N];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| Error::internal(anyhow::anyhow!("no randomness")))?;
    Ok(bytes)
}

/// The TOTP secret as stored.
/// Sealed under `DOORMAN_DATA_KEY` when it is set, and bound to its user.
fn seal_secret(secrets: &Secrets, user: UserId, secret_base32: &str) -> Result<String> {
    secrets
        .seal(secret_base32, &secret_aad(user))
        .map_err(Error::internal)
}

/// The TOTP secret as stored, opened.
fn open_secret(secrets: &Secrets, user: UserId, stored: &str) -> Result<String> {
    secrets
        .open(stored, &secret_aad(user))
        .map_err(Error::internal)
}

/// What a TOTP secret's ciphertext is bound to: its account.
pub(crate) fn secret_aad(user: UserId) -> String {
    format!("totp:{}", user.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_are_ten_distinct_codes_of_sixty_bits_hashed_as_typed_loosely() {
        let (codes, hashes) = new_recovery_codes().unwrap_or_default();
        assert_eq!(codes.len(), 10);
        let distinct: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(distinct.len(), 10);
        assert!(codes.iter().all(|c| c.len() == 14));
        let typed = codes[0].to_uppercase().replace('-', " ");
        assert_eq!(sha256_hex(normalise_recovery_code(&typed)), hashes[0]);
    }
}
