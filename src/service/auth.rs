//! Sign-in, token refresh with rotation and theft detection, sign-out, and the check every
//! authenticated request makes. Lockout (failed logins counted per account, or per login
//! name that matches none) is a rule of sign-in and lives here; its rows are
//! `db::login_throttles`.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::notify::{self, Notice};
use super::{Context, keys, span};
use crate::clock;
use crate::crypto::jwt::{AccessClaims, TokenCodec, TokenType};
use crate::crypto::password::Verified;
use crate::db::{self, known_devices::Seen, users::LoginRecord};
use crate::domain::{
    Amr, AuditEvent, AuditKind, ClientInfo, LoginName, PasswordAttempt, Session, SessionId,
    TokenPair, User, UserId,
};
use crate::error::{Error, Result};
use crate::metrics::LoginOutcome;

/// The caller of an authenticated request, as checked against the database.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    pub session_id: SessionId,
    /// The access token's claims; `None` for a web console cookie session.
    pub claims: Option<std::sync::Arc<AccessClaims>>,
}

/// Verifies a bearer access token and checks, in one query, that its session is live and
/// its user active.
pub async fn authenticate(ctx: &Context, token: &str) -> Result<Principal> {
    let claims = keys::verify(ctx, token, TokenCodec::verify_access).await?;
    let sid = claims.sid;
    let (session, user) = ctx
        .db
        .session_with_user(sid)
        .await?
        .ok_or(Error::SessionRevoked)?;
    if session.user_id != claims.sub {
        return Err(Error::Unauthenticated(
            "the token does not match its session",
        ));
    }
    if !session.is_live(clock::now()) || !user.is_active {
        return Err(Error::SessionRevoked);
    }
    Ok(Principal {
        user,
        session_id: session.id,
        claims: Some(claims),
    })
}

/// The web console's twin of [`authenticate`]: the session a cookie token opened, live and
/// with an active user.
pub async fn authenticate_cookie(ctx: &Context, token: &str) -> Result<Principal> {
    let hash = cookie_hash(token);
    let found =
        db::with_conn!(ctx.db, |c| { db::sessions::find_by_cookie(c, &hash).await }).await?;
    cookie_principal(found)
}

/// What the database keeps of a console cookie token.
pub(super) fn cookie_hash(token: &str) -> String {
    crate::crypto::sha256_hex(token)
}

/// The principal of a cookie session as found by its token's hash: live, with an active
/// user, or `SessionRevoked`.
pub(super) fn cookie_principal(found: Option<(Session, User)>) -> Result<Principal> {
    let (session, user) = found.ok_or(Error::SessionRevoked)?;
    if !session.is_live(clock::now()) || !user.is_active {
        return Err(Error::SessionRevoked);
    }
    Ok(Principal {
        user,
        session_id: session.id,
        claims: None,
    })
}

/// Checks a password and opens a session.
///
/// Attempts are counted per account, and per login name where no account has it (see
/// `throttle_key`), before the password is checked, and the count is cleared when it was
/// right: so concurrent guesses cannot outrun the lock (from the fifth on, each locks the
/// key for longer, and those after it get 429 without a hash), and the lock does not tell
/// which names have an account. A hashing thread is reserved before the attempt is counted,
/// so a login shed for want of one (503) counts for nothing; a locked account or name is
/// still told so (429), shed or not.
pub async fn login(
    ctx: &Context,
    name: LoginName,
    password: &str,
    client: &ClientInfo,
) -> Result<TokenPair> {
    let (user, session, now) = sign_in(ctx, name, password, client, None).await?;
    issue(ctx, &user, &session, now)
}

/// [`login`] for the web console: the same checks, lock, session and audit event, but the
/// session is held by a random cookie token (returned; only its hash is kept) instead of a
/// token pair.
pub async fn login_with_cookie(
    ctx: &Context,
    name: LoginName,
    password: &str,
    client: &ClientInfo,
) -> Result<(User, String)> {
    let token = super::password_reset::new_token()?;
    let hash = crate::crypto::sha256_hex(&token);
    let (user, _, _) = sign_in(ctx, name, password, client, Some(hash)).await?;
    Ok((user, token))
}

/// Checks the password under the lock rules and opens a session (held by a console cookie
/// when `cookie_hash` is given).
async fn sign_in(
    ctx: &Context,
    name: LoginName,
    password: &str,
    client: &ClientInfo,
    cookie_hash: Option<String>,
) -> Result<(User, Session, DateTime<Utc>)> {
    let attempt = PasswordAttempt::new(password);
    let password = attempt.expose();
    let looked_up = name.clone();
    let found = db::with_conn!(ctx.db, |c| {
        db::users::find_for_login(c, &looked_up).await
    })
    .await?;
    let key = throttle_key(found.as_ref().map(|record| record.user.id), &name);
    let slot = match ctx.hasher.reserve() {
        Ok(slot) => slot,
        Err(shed) => return Err(locked_or_shed(ctx, &key, shed).await),
    };
    let failures = count_attempt(ctx, &key, clock::now()).await?;
    let stored_hash = found.as_ref().and_then(|record| record.hash.clone());
    let mut verified = slot.verify(password, stored_hash.as_deref()).await?;
    if !verified.matches
        && let Some(raw) = attempt.legacy()
    {
        // A credential set before passwords were normalised: tried whether or not the
        // account exists (the extra work depends on the text sent, never on the account),
        // and replaced by the normalised hash on success.
        let legacy = ctx.hasher.verify(raw, stored_hash.as_deref()).await?;
        if legacy.matches {
            verified = Verified {
                matches: true,
                needs_rehash: true,
            };
        }
    }
    let now = clock::now();

    let (user, hash) = match found {
        Some(LoginRecord {
            user,
            hash: Some(hash),
        }) if verified.matches => (user, hash),
        other => {
            ctx.metrics.login(LoginOutcome::Failed);
            let account = other.map(|record| record.user);
            let failed = AuditEvent::new(AuditKind::LoginFailed, now, client)
                .detail(serde_json::json!({ "reason": "invalid_credentials" }));
            record_failure(ctx, &key, account.as_ref(), failures, failed, client).await?;
            return Err(Error::InvalidCredentials);
        }
    };
    if !user.is_active {
        db::write!(ctx.db, |c| { db::login_throttles::clear(c, &key).await }).await?;
        ctx.metrics.login(LoginOutcome::Disabled);
        return Err(Error::AccountDisabled);
    }
    if verified.needs_rehash {
        rehash(ctx, user.id, hash, password).await;
    }
    if let Some(second_step) = super::mfa::second_step(ctx, user.id, &key, now).await? {
        ctx.metrics.login(LoginOutcome::SecondStep);
        return Err(second_step);
    }
    open_session(ctx, user, Amr::password(), client, cookie_hash).await
}

/// Opens a session for `user`, who just signed in by `amr`: stores it (held by a console
/// cookie when `cookie_hash` is given), stamps the last login, clears the account's failed
/// attempts and writes `login.succeeded`, in one transaction.
pub async fn open_session(
    ctx: &Context,
    user: User,
    amr: Amr,
    client: &ClientInfo,
    cookie_hash: Option<String>,
) -> Result<(User, Session, DateTime<Utc>)> {
    let opening = Opening::new(ctx, user, amr, clock::now(), client, cookie_hash);
    let stored = opening.clone();
    let seen = db::transaction!(ctx.db, |tx| { stored.open_in(tx).await }).await?;
    Ok(opening.opened(ctx, seen))
}

/// A session about to be opened (see [`open_session`]), for a service that opens it inside
/// a transaction of its own (the second step of a sign-in).
#[derive(Clone)]
pub(crate) struct Opening {
    user: User,
    session: Session,
    key: String,
    event: AuditEvent,
    cookie_hash: Option<String>,
    /// Where the sign-in comes from, as `notify::device_of` names it.
    device: String,
    client: ClientInfo,
}

impl Opening {
    pub(crate) fn new(
        ctx: &Context,
        user: User,
        amr: Amr,
        now: DateTime<Utc>,
        client: &ClientInfo,
        cookie_hash: Option<String>,
    ) -> Self {
        let session = new_session(ctx, &user, amr, now, client);
        let event = AuditEvent::new(AuditKind::LoginSucceeded, now, client)
            .actor(user.id)
            .subject(user.id)
            .detail(serde_json::json!({ "amr": session.amr.values() }));
        Self {
            key: account_key(user.id),
            user: User {
                last_login_at: Some(now),
                ..user
            },
            session,
            event,
            cookie_hash,
            device: notify::device_of(client),
            client: client.clone(),
        }
    }

    /// The session this opens.
    pub(crate) fn session_id(&self) -> SessionId {
        self.session.id
    }

    /// Writes `event` (e.g. `passkey.login`) instead of `login.succeeded`.
    pub(crate) fn audited_as(self, event: AuditEvent) -> Self {
        Self { event, ..self }
    }

    /// The transaction's steps; says whether the device was seen on the account before.
    pub(crate) async fn open_in(&self, tx: &mut db::Conn) -> Result<Seen> {
        db::sessions::open_on_login(tx, &self.session, &self.key, &self.event).await?;
        if let Some(hash) = &self.cookie_hash {
            db::sessions::attach_cookie(tx, self.session.id, hash).await?;
        }
        let at = self.session.created_at;
        db::known_devices::remember(tx, self.user.id, &self.device, at).await
    }

    /// After the transaction committed: mails a sign-in from a new device (not the
    /// account's first), and gives the user, the session and when it was opened.
    pub(crate) fn opened(self, ctx: &Context, seen: Seen) -> (User, Session, DateTime<Utc>) {
        if seen == (Seen::New { first: false }) {
            notify::send(ctx, &self.user.email, Notice::NewDevice, &self.client);
        }
        ctx.metrics.login(LoginOutcome::Succeeded);
        let at = self.session.created_at;
        (self.user, self.session, at)
    }
}

/// Consecutive failures before an account is locked, and the longest lock.
const LOCK_AFTER: i32 = 5;
const LONGEST_LOCK_SECS: i64 = 15 * 60;

/// How long an account is locked after `failures` consecutive failed logins: from the
/// fifth on, 1 s, doubling with each further failure, at most 15 minutes.
pub fn lock_duration(failures: i32) -> Option<chrono::Duration> {
    if failures < LOCK_AFTER {
        return None;
    }
    let doublings = u32::try_from(failures - LOCK_AFTER)
        .unwrap_or(u32::MAX)
        .min(10);
    let seconds = (1_i64 << doublings).min(LONGEST_LOCK_SECS);
    Some(chrono::Duration::seconds(seconds))
}

/// Replaces a hash made with other parameters by one with the configured ones, when the pool
/// has room: a login with the right password does not fail (and count) for want of it, and
/// the next one tries again.
async fn rehash(ctx: &Context, id: UserId, old_hash: String, password: &str) {
    let rehashed = async {
        let new_hash = ctx.hasher.hash(password).await?;
        db::with_conn!(ctx.db, |c| {
            db::users::replace_current_hash(c, id, &old_hash, &new_hash).await
        })
        .await
    };
    if let Err(err) = rehashed.await {
        tracing::info!(error = %err, user_id = %id.0, "re-hashing with the configured parameters was put off");
    }
}

/// The answer to an attempt on an account locked until `until`.
fn locked(ctx: &Context, until: DateTime<Utc>, now: DateTime<Utc>) -> Error {
    ctx.metrics.login(LoginOutcome::Locked);
    let wait = (until - now).num_milliseconds().max(1);
    Error::RateLimited {
        retry_after_secs: u64::try_from((wait + 999) / 1000).unwrap_or(1),
    }
}

/// A login with no hashing thread to be had: 429 when `key` is locked, as it would be
/// with one (a read, no hash), else `shed` (503), also when that read fails; counting
/// nothing either way.
async fn locked_or_shed(ctx: &Context, key: &str, shed: Error) -> Error {
    let owned = key.to_owned();
    let until = db::with_conn!(ctx.db, |c| {
        db::login_throttles::locked_until(c, &owned).await
    })
    .await;
    let now = clock::now();
    match until {
        Ok(Some(until)) if until > now => locked(ctx, until, now),
        _ => {
            ctx.metrics.login(LoginOutcome::Shed);
            shed
        }
    }
}

/// Where [`login`] counts attempts: the account, or, for a name that matches none, the
/// name itself (hashed: the table keeps no addresses that were only ever mistyped).
fn throttle_key(account: Option<UserId>, name: &LoginName) -> String {
    if let Some(id) = account {
        return account_key(id);
    }
    let (kind, value) = match name {
        LoginName::Email(email) => ("email", email.clone()),
        LoginName::Username(username) => ("username", username.to_lowercase()),
        LoginName::Phone(phone) => ("phone", phone.clone()),
    };
    format!(
        "name:{}",
        crate::crypto::sha256_hex(format!("{kind}:{value}"))
    )
}

/// Where attempts on an account are counted (see [`throttle_key`]); a passkey sign-in
/// clears it as a password login does.
pub(crate) fn account_key(id: UserId) -> String {
    format!("user:{}", id.0)
}

/// How long consecutive failures are remembered without a new attempt (the retention job
/// forgets them then).
pub(crate) const FAILURES_REMEMBERED: chrono::Duration = chrono::Duration::days(1);

/// Counts an attempt on `key` (see [`login`]) and locks it when the count calls for it:
/// the consecutive failures this attempt would make, or 429 when the key is locked by now.
/// Every instance sees the count.
///
/// An attempt that cannot lock the key, the common case, is one statement on its own; only
/// an attempt whose count reaches the lock threshold or passes it (until a success resets
/// the count) takes a transaction, so that no attempt counted after it gets in before its
/// lock. An attempt on a locked key costs that statement's miss and a read.
pub(crate) async fn count_attempt(ctx: &Context, key: &str, now: DateTime<Utc>) -> Result<i32> {
    let owned = key.to_owned();
    let below_a_lock = db::write!(ctx.db, |c| {
        db::login_throttles::count_attempt(c, &owned, now, LOCK_AFTER).await
    })
    .await?;
    match below_a_lock {
        Ok(failures) => return Ok(failures),
        Err(Some(until)) if until > now => return Err(locked(ctx, until, now)),
        Err(_) => {}
    }
    let key = key.to_owned();
    let counted = db::transaction!(ctx.db, |tx| {
        let failures = match db::login_throttles::count_attempt(tx, &key, now, i32::MAX).await? {
            Ok(failures) => failures,
            Err(until) => return Ok(Err(until.unwrap_or(now))),
        };
        if let Some(lock) = lock_duration(failures) {
            db::login_throttles::lock_at_least(tx, &key, failures, now + lock).await?;
        }
        Ok(Ok(failures))
    })
    .await?;
    counted.map_err(|until| locked(ctx, until, now))
}

/// Writes `failed` (`login.failed`, or `mfa.failed` for a wrong code) and, when this
/// failure (the `failures`-th in a row) locked the account or name, `login.locked` (both
/// name the account, when there is one), and has the lock count from now: its attempt may
/// have waited long for a hashing thread. The failure that first locks an active account
/// mails its holder (`account_locked`), whether a password or a second factor was wrong.
pub(crate) async fn record_failure(
    ctx: &Context,
    key: &str,
    account: Option<&User>,
    failures: i32,
    failed: AuditEvent,
    client: &ClientInfo,
) -> Result<()> {
    let user = account.map(|account| account.id);
    let about = |event: AuditEvent| match user {
        Some(user) => event.subject(user),
        None => event,
    };
    let now = failed.at;
    let failed = about(failed);
    let locked = lock_duration(failures).map(|lock| {
        let detail =
            serde_json::json!({ "failures": failures, "locked_seconds": lock.num_seconds() });
        let event = about(AuditEvent::new(AuditKind::LoginLocked, now, client).detail(detail));
        (event, now + lock)
    });
    let key = key.to_owned();
    let first_lock = locked
        .as_ref()
        .map(|(_, until)| *until)
        .filter(|_| failures == LOCK_AFTER);
    db::transaction!(ctx.db, |tx| {
        db::audit::insert(tx, &failed).await?;
        if let Some((event, until)) = &locked {
            db::login_throttles::lock_at_least(tx, &key, failures, *until).await?;
            db::audit::insert(tx, event).await?;
        }
        Ok(())
    })
    .await?;
    if let Some(until) = first_lock
        && let Some(account) = account.filter(|account| account.is_active)
    {
        notify::send(ctx, &account.email, Notice::AccountLocked { until }, client);
    }
    Ok(())
}

pub(crate) fn new_session(
    ctx: &Context,
    user: &User,
    amr: Amr,
    now: DateTime<Utc>,
    client: &ClientInfo,
) -> Session {
    let expires_at = now + span(ctx.settings.session_ttl);
    Session {
        id: SessionId::new(),
        user_id: user.id,
        created_at: now,
        last_refreshed_at: None,
        expires_at,
        revoked_at: None,
        user_agent: client.user_agent.clone(),
        ip: client.ip.clone(),
        refresh_jti: Uuid::now_v7(),
        refresh_iat: now,
        refresh_exp: (now + span(ctx.settings.refresh_ttl)).min(expires_at),
        previous_jti: None,
        rotated_at: None,
        amr,
    }
}

/// Mints the access token and the session's current refresh token.
pub fn issue(
    ctx: &Context,
    user: &User,
    session: &Session,
    now: DateTime<Utc>,
) -> Result<TokenPair> {
    let access = ctx
        .tokens
        .mint_access(user, session.id, &session.amr, now)?;
    let refresh = ctx.tokens.mint_refresh(
        user.id,
        session.id,
        session.refresh_jti,
        session.refresh_iat,
        session.refresh_exp,
    )?;
    Ok(TokenPair {
        access_token: access.token,
        expires_in: (access.expires_at - now).num_seconds(),
        refresh_token: refresh,
        refresh_expires_in: (session.refresh_exp - now).num_seconds().max(0),
        session_id: session.id,
        user: user.clone(),
    })
}

enum Exchange {
    /// The presented token was current: the session now has a new one.
    Rotated(Box<(User, Session)>),
    /// The presented token was exchanged moments ago: answer with the current one.
    WithinGrace(Box<(User, Session)>),
    Reused,
    Revoked,
    Disabled,
}

/// Exchanges a refresh token (once), detecting reuse.
pub async fn refresh(ctx: &Context, token: &str, client: &ClientInfo) -> Result<TokenPair> {
    let claims = keys::verify(ctx, token, TokenCodec::verify_refresh).await?;
    let now = clock::now();
    let grace = span(ctx.settings.refresh_reuse_grace);
    let client = client.clone();

    // The common case, a current token of a live session, takes one statement.
    let new_jti = Uuid::now_v7();
    let exp = now + span(ctx.settings.refresh_ttl);
    let (sid, sub, jti) = (claims.sid, claims.sub, claims.jti);
    let rotated = db::write!(ctx.db, |conn| {
        let rotated = db::sessions::rotate_current(conn, sid, sub, jti, new_jti, now, exp).await?;
        let Some(session) = rotated else {
            return Ok(None);
        };
        let user = db::users::find(conn, session.user_id).await?;
        Ok(Some((user.ok_or(Error::SessionRevoked)?, session)))
    })
    .await?;
    if let Some((user, session)) = rotated {
        return issue(ctx, &user, &session, now);
    }

    // Anything else (reuse, grace, revocation, a disabled account) in a transaction.
    let exchange = db::transaction!(ctx.db, |tx| {
        let Some(session) = db::sessions::find_for_update(tx, claims.sid).await? else {
            return Ok(Exchange::Revoked);
        };
        if session.user_id != claims.sub {
            return Err(Error::InvalidRefreshToken);
        }
        if !session.is_live(now) {
            return Ok(Exchange::Revoked);
        }
        let Some(user) = db::users::find(tx, session.user_id).await? else {
            return Ok(Exchange::Revoked);
        };
        if !user.is_active {
            return Ok(Exchange::Disabled);
        }
        if claims.jti == session.refresh_jti {
            // Current after all: the account was enabled again since the attempt above.
            let rotated = db::sessions::rotate_current(
                tx,
                session.id,
                user.id,
                claims.jti,
                Uuid::now_v7(),
                now,
                exp,
            )
            .await?;
            return Ok(match rotated {
                Some(session) => Exchange::Rotated(Box::new((user, session))),
                None => Exchange::Revoked,
            });
        }
        let in_grace = session.previous_jti == Some(claims.jti)
            && session.rotated_at.is_some_and(|at| now - at <= grace);
        if in_grace {
            return Ok(Exchange::WithinGrace(Box::new((user, session))));
        }
        // Stamped inside the transaction: the revocation feed relies on a revocation
        // committing within the database deadline of its stamp.
        let revoked_at = clock::now();
        db::sessions::revoke_owned(tx, session.user_id, session.id, revoked_at).await?;
        let event = AuditEvent::new(AuditKind::RefreshTokenReused, revoked_at, &client)
            .subject(user.id)
            .detail(serde_json::json!({ "session_id": session.id, "jti": claims.jti }));
        db::audit::insert(tx, &event).await?;
        Ok(Exchange::Reused)
    })
    .await?;

    match exchange {
        Exchange::Rotated(found) | Exchange::WithinGrace(found) => {
            let (user, session) = *found;
            issue(ctx, &user, &session, now)
        }
        Exchange::Reused => Err(Error::RefreshTokenReused),
        Exchange::Revoked => Err(Error::SessionRevoked),
        Exchange::Disabled => Err(Error::AccountDisabled),
    }
}

/// Ends the caller's session.
pub async fn logout(ctx: &Context, principal: &Principal, client: &ClientInfo) -> Result<()> {
    let (session, user) = (principal.session_id, principal.user.id);
    let event = AuditEvent::new(AuditKind::Logout, clock::now(), client)
        .actor(user)
        .subject(user);
    db::transaction!(ctx.db, |tx| {
        db::sessions::revoke_owned(tx, user, session, event.at).await?;
        db::audit::insert(tx, &event).await
    })
    .await
}

/// What introspection says about a token.
#[derive(Debug, Clone, Default)]
pub struct Introspection {
    pub active: bool,
    pub claims: Option<crate::crypto::jwt::AnyClaims>,
    pub role: Option<crate::domain::Role>,
    /// How the token's session was signed in.
    pub amr: Option<Vec<String>>,
}

/// Active only for a valid token whose session is live and whose user is active; a
/// refresh token must also be the session's current one.
pub async fn introspect(ctx: &Context, token: &str) -> Result<Introspection> {
    let verified = keys::verify(ctx, token, |tokens, token| {
        tokens
            .verify_any(token)
            .ok_or(Error::Unauthenticated("invalid token"))
    })
    .await;
    let Ok(claims) = verified else {
        return Ok(Introspection::default());
    };
    let sid = claims.sid;
    let Some((session, user)) = ctx.db.session_with_user(sid).await? else {
        return Ok(Introspection::default());
    };
    let current = match claims.typ {
        TokenType::Access => true,
        TokenType::Refresh => claims.jti == session.refresh_jti,
    };
    if session.user_id != claims.sub
        || !session.is_live(clock::now())
        || !user.is_active
        || !current
    {
        return Ok(Introspection::default());
    }
    Ok(Introspection {
        active: true,
        role: Some(user.role),
        claims: Some(claims),
        amr: Some(session.amr.values().to_vec()),
    })
}

#[cfg(test)]
mod tests {
    use super::lock_duration;

    #[test]
    fn the_lock_starts_at_the_fifth_failure_doubles_and_stops_at_fifteen_minutes() {
        let secs = |n| lock_duration(n).map(|d| d.num_seconds());
        assert_eq!(
            (secs(4), secs(5), secs(6), secs(7)),
            (None, Some(1), Some(2), Some(4))
        );
        assert_eq!(secs(14), Some(512));
        assert_eq!(secs(15), Some(900));
        assert_eq!(secs(1_000), Some(900));
    }
}
