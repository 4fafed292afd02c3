//! Passkeys (WebAuthn): registering one, signing in with one (passwordless, or as the
//! second step after a password), listing and removing them.
//!
//! The ceremonies run on webauthn-rs. Its state between "options" and "finish" is kept in
//! the database (`webauthn_challenges`), taken once with `DELETE … RETURNING` and good for
//! [`CHALLENGE_TTL`], so any instance finishes a ceremony another began and no challenge
//! is used twice. Every sign-in ceremony is a discoverable one (webauthn-rs's
//! `DiscoverableAuthentication`): the passkey is found by the credential id the
//! authenticator answers with, its owner checked against the user handle and against the
//! user the ceremony was begun for (the second-step case, which also lists that user's
//! passkeys in `allowCredentials`).
//!
//! **Last way in.** Every account has a password (registration, staff creation and the
//! bootstrap admin all set one, and nothing removes it), and removing a passkey asks for
//! it; so removing passkeys, the last one included, never locks anyone out.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey as Credential, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, Url, Webauthn, WebauthnBuilder, WebauthnError,
};

use super::auth::{self, Principal};
use super::notify::{self, Notice};
use super::{Context, users};
use crate::clock;
use crate::db::{self, passkeys::Ceremony};
use crate::domain::{
    Amr, AuditEvent, AuditKind, ChallengeId, ClientInfo, Passkey, PasskeyId, PasskeyName, Session,
    TokenPair, User, UserId,
};
use crate::error::{Error, Result};
use crate::metrics::LoginOutcome;

/// How long a ceremony may take from its options to its answer.
pub const CHALLENGE_TTL: chrono::Duration = chrono::Duration::minutes(5);

/// The relying party: passkeys are bound to `rp_id`, and ceremonies must come from
/// `origin` (`DOORMAN_PUBLIC_URL`). `None`, with the reason, when the origin's host is not
/// a domain name (an IP address cannot be a relying-party id): passkeys are then off.
pub fn relying_party(rp_id: &str, origin: &str) -> std::result::Result<Webauthn, String> {
    let origin = Url::parse(origin).map_err(|e| format!("DOORMAN_PUBLIC_URL: {e}"))?;
    WebauthnBuilder::new(rp_id, &origin)
        .and_then(|builder| builder.rp_name("doorman").build())
        .map_err(|e| {
            format!(
                "relying-party id {rp_id:?} with origin {origin}: {e} (the host must be a \
                 domain name, such as localhost or accounts.example.com)"
            )
        })
}

/// Why every passkey endpoint refuses when there is no relying party.
pub const PASSKEYS_OFF: &str =
    "passkeys are off: DOORMAN_PUBLIC_URL must name a domain, not an IP address";

fn webauthn(ctx: &Context) -> Result<&Webauthn> {
    ctx.webauthn
        .as_deref()
        .ok_or(Error::Forbidden(PASSKEYS_OFF))
}

/// The options of a ceremony: its id, and what the browser passes to
/// `navigator.credentials.create()` / `.get()` (`publicKey`, as JSON).
#[derive(Debug, Clone)]
pub struct CeremonyOptions {
    pub challenge_id: ChallengeId,
    pub public_key: serde_json::Value,
}

/// Begins adding a passkey to the caller's account, once the password is confirmed.
/// The authenticator is asked for a discoverable credential with user verification, and
/// not one the account already has.
pub async fn registration_options(
    ctx: &Context,
    actor: &Principal,
    password: &str,
) -> Result<CeremonyOptions> {
    let webauthn = webauthn(ctx)?;
    let user = actor.user.clone();
    users::check_password(ctx, user.id, password).await?;
    let existing =
        db::with_conn!(ctx.db, |c| { db::passkeys::credentials(c, user.id).await }).await?;
    let exclude = existing
        .iter()
        .map(|json| parse_credential(json).map(|cred| cred.cred_id().clone()))
        .collect::<Result<Vec<_>>>()?;
    let display = user.username.clone().unwrap_or_else(|| user.email.clone());
    let (options, state) = webauthn
        .start_passkey_registration(user.id.0, &user.email, &display, Some(exclude))
        .map_err(Error::internal)?;
    let mut public_key = serde_json::to_value(&options.public_key).map_err(Error::internal)?;
    // webauthn-rs leaves the resident key to the authenticator; a passwordless sign-in
    // needs the authenticator to find the credential itself.
    if let Some(selection) = public_key
        .get_mut("authenticatorSelection")
        .and_then(serde_json::Value::as_object_mut)
    {
        selection.insert("residentKey".into(), "required".into());
        selection.insert("requireResidentKey".into(), true.into());
    }
    let state = serde_json::to_string(&state).map_err(Error::internal)?;
    let challenge_id = begin(ctx, Ceremony::Register, Some(user.id), state).await?;
    Ok(CeremonyOptions {
        challenge_id,
        public_key,
    })
}

/// Stores a new ceremony's state; its id.
async fn begin(
    ctx: &Context,
    ceremony: Ceremony,
    user: Option<UserId>,
    state: String,
) -> Result<ChallengeId> {
    let id = ChallengeId::new();
    let expires_at = clock::now() + CHALLENGE_TTL;
    db::write!(ctx.db, |c| {
        db::passkeys::insert_challenge(c, id, ceremony, user, &state, expires_at).await
    })
    .await?;
    Ok(id)
}

/// Takes the ceremony `id` of this kind, once, if it has not expired.
async fn take(
    ctx: &Context,
    id: ChallengeId,
    ceremony: Ceremony,
) -> Result<Option<db::passkeys::TakenChallenge>> {
    let now = clock::now();
    db::write!(ctx.db, |c| {
        db::passkeys::take_challenge(c, id, ceremony, now).await
    })
    .await
}

fn parse_credential(json: &str) -> Result<Credential> {
    serde_json::from_str(json).map_err(Error::internal)
}

fn credential_id_text(raw: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(raw)
}

fn invalid_challenge() -> Error {
    Error::field(
        "challenge_id",
        "invalid_challenge",
        "the challenge is unknown, already used or expired; ask for new options",
    )
}

/// Finishes adding a passkey: the browser's `RegistrationResponseJSON` for the ceremony
/// `challenge_id`, which the caller began. Writes `passkey.added`.
pub async fn register(
    ctx: &Context,
    actor: &Principal,
    challenge_id: ChallengeId,
    name: PasskeyName,
    credential: serde_json::Value,
    client: &ClientInfo,
) -> Result<Passkey> {
    let webauthn = webauthn(ctx)?;
    let response: RegisterPublicKeyCredential =
        serde_json::from_value(credential).map_err(|e| {
            Error::field(
                "credential",
                "invalid_credential",
                format!("not a RegistrationResponseJSON: {e}"),
            )
        })?;
    let user = actor.user.id;
    let taken = take(ctx, challenge_id, Ceremony::Register)
        .await?
        .filter(|taken| taken.user == Some(user))
        .ok_or_else(invalid_challenge)?;
    let state: PasskeyRegistration = serde_json::from_str(&taken.state).map_err(Error::internal)?;
    let credential = webauthn
        .finish_passkey_registration(&response, &state)
        .map_err(|e| {
            tracing::info!(error = %e, "a passkey registration was refused");
            Error::field(
                "credential",
                "passkey_refused",
                format!("the passkey was not accepted ({e})"),
            )
        })?;
    let passkey = Passkey {
        id: PasskeyId::new(),
        user_id: user,
        name,
        created_at: clock::now(),
        last_used_at: None,
    };
    let credential_id = credential_id_text(credential.cred_id().as_ref());
    let stored = serde_json::to_string(&credential).map_err(Error::internal)?;
    let event = AuditEvent::new(AuditKind::PasskeyAdded, passkey.created_at, client)
        .actor(user)
        .subject(user)
        .detail(serde_json::json!({ "passkey_id": passkey.id, "name": passkey.name.as_str() }));
    let added = passkey.clone();
    db::transaction!(ctx.db, |tx| {
        let new = db::passkeys::NewPasskey {
            passkey: &added,
            credential_id: &credential_id,
            credential: &stored,
            sign_count: 0,
        };
        db::passkeys::insert(tx, &new).await?;
        db::audit::insert(tx, &event).await
    })
    .await?;
    let factor = format!("the passkey \"{}\"", passkey.name.as_str());
    notify::send(
        ctx,
        &actor.user.email,
        Notice::FactorAdded { factor },
        client,
    );
    Ok(passkey)
}

/// The caller's passkeys, oldest first.
pub async fn list(ctx: &Context, actor: &Principal) -> Result<Vec<Passkey>> {
    let user = actor.user.id;
    db::with_conn!(ctx.db, |c| { db::passkeys::list(c, user).await }).await
}

/// Removes one of the caller's passkeys, once the password is confirmed (see the module
/// doc: the password stays, so this never removes the last way in). Writes
/// `passkey.removed`.
pub async fn remove(
    ctx: &Context,
    actor: &Principal,
    id: PasskeyId,
    password: &str,
    client: &ClientInfo,
) -> Result<()> {
    let user = actor.user.id;
    users::check_password(ctx, user, password).await?;
    let event = AuditEvent::new(AuditKind::PasskeyRemoved, clock::now(), client)
        .actor(user)
        .subject(user)
        .detail(serde_json::json!({ "passkey_id": id }));
    db::transaction!(ctx.db, |tx| {
        if !db::passkeys::delete(tx, user, id).await? {
            return Err(Error::NotFound);
        }
        db::audit::insert(tx, &event).await
    })
    .await?;
    let factor = "a passkey".to_owned();
    notify::send(
        ctx,
        &actor.user.email,
        Notice::FactorRemoved { factor },
        client,
    );
    Ok(())
}

/// Begins a sign-in ceremony. Without `for_user` it is discoverable (empty
/// `allowCredentials`: the authenticator offers the passkeys it holds for this site);
/// with it, the second step after that user's password, and only their passkeys are
/// allowed.
pub async fn authentication_options(
    ctx: &Context,
    for_user: Option<UserId>,
) -> Result<CeremonyOptions> {
    let webauthn = webauthn(ctx)?;
    let (options, state) = webauthn
        .start_discoverable_authentication()
        .map_err(Error::internal)?;
    let mut public_key = serde_json::to_value(&options.public_key).map_err(Error::internal)?;
    if let Some(user) = for_user {
        let stored =
            db::with_conn!(ctx.db, |c| { db::passkeys::credentials(c, user).await }).await?;
        let allowed = stored
            .iter()
            .map(|json| {
                parse_credential(json).map(|cred| {
                    serde_json::json!({
                        "type": "public-key",
                        "id": credential_id_text(cred.cred_id().as_ref()),
                    })
                })
            })
            .collect::<Result<Vec<_>>>()?;
        public_key["allowCredentials"] = allowed.into();
    }
    let state = serde_json::to_string(&state).map_err(Error::internal)?;
    let challenge_id = begin(ctx, Ceremony::Authenticate, for_user, state).await?;
    Ok(CeremonyOptions {
        challenge_id,
        public_key,
    })
}

/// `POST /auth/passkey/options`: a discoverable ceremony, or, with an `mfa_token` (the
/// second step after a password), one for that token's user.
pub async fn sign_in_options(ctx: &Context, mfa_token: Option<&str>) -> Result<CeremonyOptions> {
    let for_user = match mfa_token {
        None => None,
        // Not spent here: `POST /auth/mfa` spends it with the assertion.
        Some(token) => Some(super::mfa::token_user(ctx, token).await?),
    };
    authentication_options(ctx, for_user).await
}

/// A passkey that answered a sign-in ceremony.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasskeyUse {
    pub user_id: UserId,
    pub passkey_id: PasskeyId,
    /// The key cannot leave its authenticator (not backup-eligible, i.e. not a synced
    /// passkey): `amr` `hwk`, else `swk`.
    pub hardware_bound: bool,
    /// The authenticator verified the person (PIN, biometrics); always so here, as
    /// every ceremony requires it.
    pub user_verified: bool,
}

impl PasskeyUse {
    /// The `amr` of a session this use opened (RFC 8176).
    pub fn amr(&self) -> [&'static str; 3] {
        let key = if self.hardware_bound { "hwk" } else { "swk" };
        [key, "user", "mfa"]
    }
}

/// Verifies the browser's `AuthenticationResponseJSON` for the sign-in ceremony
/// `challenge_id` (taken once, whatever the outcome) and records the use: the passkey's
/// counter moves forward. With `expected_user`, the passkey must be that user's (the
/// second step after a password, `POST /auth/mfa`).
///
/// Every refusal is `invalid_credentials` (a caller such as `/auth/mfa` maps it to its own
/// code), except a credential that is not JSON of the right shape (`validation_failed`).
/// A counter that did not go forward (a cloned authenticator?) is refused and audited as
/// `passkey.counter_regressed`.
pub async fn verify_assertion(
    ctx: &Context,
    challenge_id: ChallengeId,
    credential: serde_json::Value,
    expected_user: Option<UserId>,
    client: &ClientInfo,
) -> Result<PasskeyUse> {
    let assertion = check_assertion(ctx, challenge_id, credential, expected_user, client).await?;
    let used = assertion.used;
    let (now, client) = (clock::now(), client.clone());
    db::transaction!(ctx.db, |tx| { assertion.record_in(tx, now, &client).await })
        .await?
        .map_err(Refusal::error)?;
    Ok(used)
}

/// An assertion that verified, not yet recorded: [`Assertion::record_in`] takes its
/// challenge and moves the passkey's counter forward, in the caller's transaction, so a
/// sign-in writes once (with its session) rather than three times.
struct Assertion {
    challenge_id: ChallengeId,
    stored_count: i64,
    sign_count: i64,
    /// webauthn-rs's credential after the use (its counter moved), as JSON.
    credential: String,
    used: PasskeyUse,
}

/// Why [`Assertion::record_in`] recorded nothing.
#[derive(Debug, Clone, Copy)]
enum Refusal {
    /// The challenge is unknown, used or expired (another request may have taken it first).
    ChallengeGone,
    /// Another use with this counter value, or a later one, was recorded first (audited).
    CounterRegressed,
}

impl Refusal {
    fn error(self) -> Error {
        match self {
            Self::ChallengeGone => refused("unknown, used or expired challenge"),
            Self::CounterRegressed => refused("the signature counter did not go forward"),
        }
    }
}

impl Assertion {
    async fn record_in(
        &self,
        tx: &mut db::Conn,
        now: DateTime<Utc>,
        client: &ClientInfo,
    ) -> Result<std::result::Result<(), Refusal>> {
        let ceremony = Ceremony::Authenticate;
        if db::passkeys::take_challenge(tx, self.challenge_id, ceremony, now)
            .await?
            .is_none()
        {
            return Ok(Err(Refusal::ChallengeGone));
        }
        let (id, count) = (self.used.passkey_id, self.sign_count);
        if db::passkeys::record_use(tx, id, count, &self.credential, now).await? {
            return Ok(Ok(()));
        }
        let (user, stored) = (self.used.user_id, self.stored_count);
        let event = regressed_event(user, id, stored, Some(count), now, client);
        db::audit::insert(tx, &event).await?;
        Ok(Err(Refusal::CounterRegressed))
    }
}

/// Reads the challenge and the passkey and verifies the answer, writing nothing when it
/// verifies; a refusal takes (uses up) the challenge before it answers.
async fn check_assertion(
    ctx: &Context,
    challenge_id: ChallengeId,
    credential: serde_json::Value,
    expected_user: Option<UserId>,
    client: &ClientInfo,
) -> Result<Assertion> {
    let webauthn = webauthn(ctx)?;
    let response: PublicKeyCredential = serde_json::from_value(credential).map_err(|e| {
        Error::field(
            "credential",
            "invalid_credential",
            format!("not an AuthenticationResponseJSON: {e}"),
        )
    })?;
    let now = clock::now();
    let credential_id = credential_id_text(response.get_credential_id());
    let (challenge, found) = db::with_conn!(ctx.db, |c| {
        let ceremony = Ceremony::Authenticate;
        let challenge = db::passkeys::find_challenge(c, challenge_id, ceremony, now).await?;
        if challenge.is_none() {
            return Ok((None, None));
        }
        let found = db::passkeys::find_by_credential_id(c, &credential_id).await?;
        Ok((challenge, found))
    })
    .await?;
    let Some(challenge) = challenge else {
        return Err(spend(ctx, challenge_id, Refusal::ChallengeGone.error()).await);
    };
    let Some(stored) = found else {
        return Err(spend(ctx, challenge_id, refused("unknown credential")).await);
    };
    let owner = stored.passkey.user_id;
    let handle_matches = match response.get_user_unique_id() {
        Some(handle) => handle == owner.0.as_bytes(),
        // Only a ceremony begun for a known user may go without a user handle.
        None => challenge.user.is_some(),
    };
    if !handle_matches
        || challenge.user.is_some_and(|user| user != owner)
        || expected_user.is_some_and(|user| user != owner)
    {
        let wrong = refused("the passkey is not the expected user's");
        return Err(spend(ctx, challenge_id, wrong).await);
    }
    let state: DiscoverableAuthentication =
        serde_json::from_str(&challenge.state).map_err(Error::internal)?;
    let mut key = parse_credential(&stored.credential)?;
    let result = match webauthn.finish_discoverable_authentication_v2(&response, state, &key) {
        Ok(result) => result,
        Err(WebauthnError::CredentialPossibleCompromise) => {
            let passkey = &stored.passkey;
            let event = regressed_event(
                passkey.user_id,
                passkey.id,
                stored.sign_count,
                None,
                now,
                client,
            );
            let written = db::transaction!(ctx.db, |tx| {
                let ceremony = Ceremony::Authenticate;
                db::passkeys::take_challenge(tx, challenge_id, ceremony, now).await?;
                db::audit::insert(tx, &event).await
            })
            .await;
            return Err(match written {
                Ok(()) => Refusal::CounterRegressed.error(),
                Err(err) => err,
            });
        }
        Err(err) => return Err(spend(ctx, challenge_id, refused(&err.to_string())).await),
    };
    key.update_credential(&result);
    Ok(Assertion {
        challenge_id,
        stored_count: stored.sign_count,
        sign_count: i64::from(result.counter()),
        credential: serde_json::to_string(&key).map_err(Error::internal)?,
        used: PasskeyUse {
            user_id: owner,
            passkey_id: stored.passkey.id,
            hardware_bound: !result.backup_eligible(),
            user_verified: result.user_verified(),
        },
    })
}

/// Takes (uses up) the challenge of a refused answer; the error to answer.
async fn spend(ctx: &Context, challenge_id: ChallengeId, refusal: Error) -> Error {
    match take(ctx, challenge_id, Ceremony::Authenticate).await {
        Ok(_) => refusal,
        Err(err) => err,
    }
}

fn refused(why: &str) -> Error {
    tracing::info!(reason = why, "a passkey assertion was refused");
    Error::InvalidCredentials
}

/// `passkey.counter_regressed`: an assertion whose counter did not go forward.
fn regressed_event(
    user: UserId,
    passkey: PasskeyId,
    stored: i64,
    presented: Option<i64>,
    at: DateTime<Utc>,
    client: &ClientInfo,
) -> AuditEvent {
    AuditEvent::new(AuditKind::PasskeyCounterRegressed, at, client)
        .subject(user)
        .detail(serde_json::json!({
            "passkey_id": passkey,
            "stored_counter": stored,
            "presented_counter": presented,
        }))
}

/// Passwordless sign-in: a verified passkey opens a session like a password login
/// (`passkey.login`, the login metrics, `last_login_at`).
pub async fn login(
    ctx: &Context,
    challenge_id: ChallengeId,
    credential: serde_json::Value,
    client: &ClientInfo,
) -> Result<TokenPair> {
    let (user, session, now) = sign_in(ctx, challenge_id, credential, client, None).await?;
    auth::issue(ctx, &user, &session, now)
}

/// [`login`] for the web console: the session is held by a cookie token (returned).
pub async fn login_with_cookie(
    ctx: &Context,
    challenge_id: ChallengeId,
    credential: serde_json::Value,
    client: &ClientInfo,
) -> Result<(User, String)> {
    let token = super::password_reset::new_token()?;
    let hash = crate::crypto::sha256_hex(&token);
    let (user, _, _) = sign_in(ctx, challenge_id, credential, client, Some(hash)).await?;
    Ok((user, token))
}

async fn sign_in(
    ctx: &Context,
    challenge_id: ChallengeId,
    credential: serde_json::Value,
    client: &ClientInfo,
    cookie_hash: Option<String>,
) -> Result<(User, Session, DateTime<Utc>)> {
    let failed = |err: Error| {
        if matches!(err, Error::InvalidCredentials) {
            ctx.metrics.login(LoginOutcome::Failed);
        }
        err
    };
    let assertion = check_assertion(ctx, challenge_id, credential, None, client)
        .await
        .map_err(failed)?;
    let used = assertion.used;
    let id = used.user_id;
    let found = db::with_conn!(ctx.db, |c| { db::users::find(c, id).await }).await?;
    let Some(user) = found.filter(|user| user.is_active) else {
        ctx.metrics.login(LoginOutcome::Disabled);
        return Err(spend(ctx, challenge_id, Error::AccountDisabled).await);
    };
    let now = clock::now();
    let amr = Amr::of(&used.amr());
    let opening = auth::Opening::new(ctx, user, amr, now, client, cookie_hash);
    let event = AuditEvent::new(AuditKind::PasskeyLogin, now, client)
        .actor(id)
        .subject(id)
        .detail(serde_json::json!({
            "passkey_id": used.passkey_id,
            "session_id": opening.session_id(),
            "amr": used.amr(),
        }));
    let opening = opening.audited_as(event);
    let (stored, event_client) = (opening.clone(), client.clone());
    // One write: the challenge taken, the counter moved, the session opened.
    let seen = db::transaction!(ctx.db, |tx| {
        match assertion.record_in(tx, now, &event_client).await? {
            Ok(()) => Ok(Ok(stored.open_in(tx).await?)),
            Err(refusal) => Ok(Err(refusal)),
        }
    })
    .await?
    .map_err(|refusal| failed(refusal.error()))?;
    Ok(opening.opened(ctx, seen))
}
