//! Accounts: sign-up, profiles, passwords and deletion.

use super::auth::Principal;
use super::notify::{self, Notice};
use super::{Context, PASSWORD_HISTORY};
use crate::clock;
use crate::db;
use crate::domain::{
    AuditEvent, AuditKind, ClientInfo, DateOfBirth, Email, Name, NewPassword, PasswordAttempt,
    Phone, ProfileChanges, Role, User, UserId, Username,
};
use crate::error::{Error, Result};

/// A registration, parsed.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub email: Email,
    pub password: NewPassword,
    pub username: Option<Username>,
    pub first_name: Option<Name>,
    pub last_name: Option<Name>,
    pub phone_number: Option<Phone>,
    pub date_of_birth: Option<DateOfBirth>,
}

impl NewAccount {
    /// The account as a user record, and the password still to be hashed.
    pub(crate) fn into_user(
        self,
        role: Role,
        is_active: bool,
        now: chrono::DateTime<chrono::Utc>,
    ) -> (User, NewPassword) {
        let user = User {
            id: UserId::new(),
            email: self.email.into_inner(),
            username: self.username.map(Username::into_inner),
            first_name: self.first_name.map(Name::into_inner),
            last_name: self.last_name.map(Name::into_inner),
            phone_number: self.phone_number.map(Phone::into_inner),
            date_of_birth: self.date_of_birth.map(DateOfBirth::into_inner),
            role,
            is_active,
            created_at: now,
            updated_at: now,
            last_login_at: None,
        };
        (user, self.password)
    }

    /// An account with only an email and a password.
    pub fn minimal(email: Email, password: NewPassword) -> Self {
        Self {
            email,
            password,
            username: None,
            first_name: None,
            last_name: None,
            phone_number: None,
            date_of_birth: None,
        }
    }
}

/// Public sign-up: the new account's role is always `user`.
pub async fn register(ctx: &Context, account: NewAccount, client: &ClientInfo) -> Result<User> {
    if !ctx.settings.registration_open {
        return Err(Error::Forbidden("public registration is closed"));
    }
    create(ctx, account, Role::User, true, None, client).await
}

/// Creates an account with its first credential and an audit event, in one transaction.
pub(crate) async fn create(
    ctx: &Context,
    account: NewAccount,
    role: Role,
    is_active: bool,
    actor: Option<UserId>,
    client: &ClientInfo,
) -> Result<User> {
    let now = clock::now();
    let (user, password) = account.into_user(role, is_active, now);
    let hash = ctx.hasher.hash(password.expose()).await?;
    let (kind, actor) = match actor {
        Some(actor) => (AuditKind::UserCreated, actor),
        None => (AuditKind::UserRegistered, user.id),
    };
    let event = AuditEvent::new(kind, now, client)
        .actor(actor)
        .subject(user.id)
        .detail(serde_json::json!({ "role": role.as_str() }));
    let stored = user.clone();
    db::transaction!(ctx.db, |tx| {
        db::users::insert(tx, &stored, &hash).await?;
        db::audit::insert_about(tx, &event, Some(&stored)).await
    })
    .await?;
    Ok(user)
}

/// A user by id: yourself, or anyone for staff (`policy::may_view`).
pub async fn get(ctx: &Context, actor: &Principal, id: UserId) -> Result<User> {
    super::policy::may_view(&actor.user, id)?;
    if actor.user.id == id {
        return Ok(actor.user.clone());
    }
    db::with_conn!(ctx.db, |c| { db::users::find(c, id).await })
        .await?
        .ok_or(Error::NotFound)
}

/// The caller changes their own profile (never email, role or status).
pub async fn update_me(
    ctx: &Context,
    actor: &Principal,
    changes: ProfileChanges,
    client: &ClientInfo,
) -> Result<User> {
    let id = actor.user.id;
    let event = AuditEvent::new(AuditKind::UserUpdated, clock::now(), client)
        .actor(id)
        .subject(id)
        .detail(serde_json::json!({ "fields": changed_fields(&changes) }));
    db::transaction!(ctx.db, |tx| {
        let user = db::users::update(tx, id, &changes, None, event.at)
            .await?
            .ok_or(Error::SessionRevoked)?;
        db::audit::insert_about(tx, &event, Some(&user)).await?;
        Ok(user)
    })
    .await
}

/// The names of the fields a change touches, for the audit trail (never their values).
pub(crate) fn changed_fields(changes: &ProfileChanges) -> Vec<&'static str> {
    [
        ("email", changes.email.is_some()),
        ("username", !changes.username.is_keep()),
        ("first_name", !changes.first_name.is_keep()),
        ("last_name", !changes.last_name.is_keep()),
        ("phone_number", !changes.phone_number.is_keep()),
        ("date_of_birth", !changes.date_of_birth.is_keep()),
        ("is_active", changes.is_active.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, changed)| changed.then_some(name))
    .collect()
}

/// Checks `password` against the user's current credential, and returns that credential:
/// whatever is done on the strength of this check must make sure, in its transaction, that
/// it is still the current one (see [`db::users::push_credential`]).
pub(crate) async fn check_password(
    ctx: &Context,
    user: UserId,
    password: &str,
) -> Result<db::users::CredentialId> {
    let password = PasswordAttempt::new(password);
    let current =
        db::with_conn!(ctx.db, |c| { db::users::current_credential(c, user).await }).await?;
    let stored = current.as_ref().map(|(_, hash)| hash.as_str());
    let mut matches = ctx.hasher.verify(password.expose(), stored).await?.matches;
    if !matches && let Some(raw) = password.legacy() {
        // A credential set before passwords were normalised (see `auth::login`).
        matches = ctx.hasher.verify(raw, stored).await?.matches;
    }
    match current {
        Some((credential, _)) if matches => Ok(credential),
        _ => Err(Error::InvalidCredentials),
    }
}

/// Parses a new password for `user` under the password rules and the history rule, and
/// hashes it.
pub(crate) async fn new_password_hash(
    ctx: &Context,
    user: &User,
    field: &str,
    raw: &str,
) -> Result<String> {
    let password = NewPassword::parse(raw, Some(&user.email), user.username.as_deref()).map_err(
        |problem| {
            if problem.is_malformed() {
                Error::Validation(vec![problem.field_error(field)])
            } else {
                Error::WeakPassword(vec![problem.field_error(field)])
            }
        },
    )?;
    let id = user.id;
    let history = db::with_conn!(ctx.db, |c| {
        db::users::recent_hashes(c, id, PASSWORD_HISTORY).await
    })
    .await?;
    if ctx.hasher.matches_any(password.expose(), history).await? {
        return Err(Error::PasswordReused);
    }
    ctx.hasher.hash(password.expose()).await
}

/// Changes the caller's password; every other session of theirs is revoked. The credential
/// the current password was checked against is replaced only if it is still the current one,
/// so of concurrent changes with the same current password exactly one succeeds and the
/// others are `invalid_credentials`.
pub async fn change_password(
    ctx: &Context,
    actor: &Principal,
    current: &str,
    new: &str,
    client: &ClientInfo,
) -> Result<()> {
    let checked = check_password(ctx, actor.user.id, current).await?;
    let hash = new_password_hash(ctx, &actor.user, "new_password", new).await?;
    let (id, keep) = (actor.user.id, actor.session_id);
    let event = AuditEvent::new(AuditKind::PasswordChanged, clock::now(), client)
        .actor(id)
        .subject(id);
    db::transaction!(ctx.db, |tx| {
        let replaced =
            db::users::push_credential(tx, id, Some(checked), &hash, event.at, PASSWORD_HISTORY)
                .await?;
        if !replaced {
            return Err(Error::InvalidCredentials);
        }
        let revoked = db::sessions::revoke_all(tx, id, Some(keep), event.at).await?;
        let event = event.detail(serde_json::json!({ "sessions_revoked": revoked }));
        db::audit::insert(tx, &event).await
    })
    .await?;
    notify::send(ctx, &actor.user.email, Notice::PasswordChanged, client);
    Ok(())
}

/// Deletes the caller's account with its sessions, credentials and tasks. The last active
/// admin cannot delete itself. The password must still be the current one when the
/// deletion runs: an account deleted or given a new password meanwhile is
/// `invalid_credentials`.
pub async fn delete_me(
    ctx: &Context,
    actor: &Principal,
    password: &str,
    client: &ClientInfo,
) -> Result<()> {
    let checked = check_password(ctx, actor.user.id, password).await?;
    let id = actor.user.id;
    let event = AuditEvent::new(AuditKind::UserDeleted, clock::now(), client)
        .actor(id)
        .subject(id)
        .detail(serde_json::json!({ "self_service": true }));
    db::transaction!(ctx.db, |tx| {
        let (user, admins) = match lock_target(tx, id).await {
            Err(Error::NotFound) => return Err(Error::InvalidCredentials),
            other => other?,
        };
        if !db::users::is_current_credential(tx, id, checked).await? {
            return Err(Error::InvalidCredentials);
        }
        keep_an_admin(&user, admins, false)?;
        remove(tx, id, event).await
    })
    .await
}

/// Deletes a user inside a transaction, refusing to remove the last active admin.
pub(crate) async fn delete_in(tx: &mut db::Conn, id: UserId, event: AuditEvent) -> Result<()> {
    let (user, admins) = lock_target(tx, id).await?;
    keep_an_admin(&user, admins, false)?;
    remove(tx, id, event).await
}

/// Removes a user (already locked by [`lock_target`]) with everything that is theirs.
async fn remove(tx: &mut db::Conn, id: UserId, event: AuditEvent) -> Result<()> {
    db::tasks::delete_all(tx, id).await?;
    db::passkeys::delete_all_for_user(tx, id).await?;
    db::sessions::remember_deleted(tx, id, event.at).await?;
    db::sessions::delete_all(tx, id).await?;
    db::users::delete(tx, id).await?;
    db::audit::insert(tx, &event).await
}

/// Locks every active admin and then the user `id` (always in this order, so concurrent
/// staff changes cannot deadlock); returns the user and the number of active admins.
pub(crate) async fn lock_target(tx: &mut db::Conn, id: UserId) -> Result<(User, usize)> {
    let admins = db::users::lock_active_admins(tx).await?.len();
    let user = db::users::find_for_update(tx, id)
        .await?
        .ok_or(Error::NotFound)?;
    Ok((user, admins))
}

/// The last-admin rule: refuses a change after which `target`, today the only active
/// admin, would no longer be one (`stays_admin` says whether it still is afterwards).
pub(crate) fn keep_an_admin(target: &User, active_admins: usize, stays_admin: bool) -> Result<()> {
    if target.role.is_admin() && target.is_active && !stays_admin && active_admins <= 1 {
        return Err(Error::LastAdmin);
    }
    Ok(())
}
