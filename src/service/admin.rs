//! Staff: user management with the rules of who may act on whom, the last-admin rule,
//! the audit trail, and the first admin. The `/api/v1/admin` face of users, their sessions
//! and audit events: its queries are in `db::users`, `db::sessions` and `db::audit`.
//!
//! Who may do which of these is decided by `policy`, asked first in every function.

use super::Context;
use super::auth::Principal;
use super::notify::{self, Notice};
use super::policy::{self, Action};
use super::users::{NewAccount, changed_fields, create, delete_in, keep_an_admin, lock_target};
use crate::clock;
use crate::db;
use crate::domain::{
    AuditEvent, AuditKind, ClientInfo, Email, NewPassword, Page, PageRequest, ProfileChanges, Role,
    Session, User, UserFilter, UserId,
};
use crate::error::{Error, Result};

pub async fn list_users(
    ctx: &Context,
    actor: &Principal,
    filter: UserFilter,
    page: PageRequest,
) -> Result<Page<User>> {
    policy::may_attempt(&actor.user, Action::ListUsers)?;
    db::snapshot_read!(ctx.db, |c| { db::users::list(c, &filter, page).await }).await
}

pub async fn get_user(ctx: &Context, actor: &Principal, id: UserId) -> Result<User> {
    policy::may_attempt(&actor.user, Action::ViewUser)?;
    db::with_conn!(ctx.db, |c| { db::users::find(c, id).await })
        .await?
        .ok_or(Error::NotFound)
}

/// An admin creates an account with any role.
pub async fn create_user(
    ctx: &Context,
    actor: &Principal,
    account: NewAccount,
    role: Role,
    is_active: bool,
    client: &ClientInfo,
) -> Result<User> {
    policy::may_attempt(&actor.user, Action::CreateUser)?;
    create(ctx, account, role, is_active, Some(actor.user.id), client).await
}

/// Changes profile fields and/or `is_active`. A sub_admin may change only `is_active`, and
/// only on role `user`. Deactivation revokes every session of the user at once.
pub async fn update_user(
    ctx: &Context,
    actor: &Principal,
    id: UserId,
    changes: ProfileChanges,
    client: &ClientInfo,
) -> Result<User> {
    if changes.touches_profile() {
        policy::may_attempt(&actor.user, Action::EditProfile)?;
    }
    if changes.is_active.is_some() {
        policy::may_attempt(&actor.user, Action::SetActive)?;
    }
    let actor = actor.clone();
    let mailed = client.clone();
    let client = client.clone();
    let (user, old_email) = db::transaction!(ctx.db, |tx| {
        let (target, admins) = lock_target(tx, id).await?;
        if changes.touches_profile() {
            policy::may(&actor.user, Action::EditProfile, &target)?;
        }
        if changes.is_active.is_some() {
            policy::may(&actor.user, Action::SetActive, &target)?;
        }
        let deactivating = changes.is_active == Some(false) && target.is_active;
        let activating = changes.is_active == Some(true) && !target.is_active;
        keep_an_admin(&target, admins, !deactivating)?;
        let now = clock::now();
        let user = db::users::update(tx, id, &changes, None, now)
            .await?
            .ok_or(Error::NotFound)?;
        let event = |kind| {
            AuditEvent::new(kind, now, &client)
                .actor(actor.user.id)
                .subject(id)
        };
        if changes.touches_profile() {
            let detail = serde_json::json!({ "fields": changed_fields(&changes) });
            db::audit::insert(tx, &event(AuditKind::UserUpdated).detail(detail)).await?;
        }
        if deactivating {
            let revoked = db::sessions::revoke_all(tx, id, None, now).await?;
            let detail = serde_json::json!({ "sessions_revoked": revoked });
            db::audit::insert(tx, &event(AuditKind::UserDeactivated).detail(detail)).await?;
        }
        if activating {
            db::audit::insert(tx, &event(AuditKind::UserActivated)).await?;
        }
        Ok((user, target.email))
    })
    .await?;
    if old_email != user.email {
        let changed = Notice::EmailChanged {
            new_email: user.email.clone(),
        };
        notify::send(ctx, &old_email, changed, &mailed);
    }
    Ok(user)
}

/// Promotes or demotes. Demoting the last active admin is refused.
pub async fn set_role(
    ctx: &Context,
    actor: &Principal,
    id: UserId,
    role: Role,
    client: &ClientInfo,
) -> Result<User> {
    policy::may_attempt(&actor.user, Action::ChangeRole)?;
    let event = AuditEvent::new(AuditKind::UserRoleChanged, clock::now(), client)
        .actor(actor.user.id)
        .subject(id);
    db::transaction!(ctx.db, |tx| {
        let (target, admins) = lock_target(tx, id).await?;
        keep_an_admin(&target, admins, role.is_admin())?;
        if target.role == role {
            return Ok(target);
        }
        let user = db::users::update(tx, id, &ProfileChanges::default(), Some(role), event.at)
            .await?
            .ok_or(Error::NotFound)?;
        let detail = serde_json::json!({ "from": target.role.as_str(), "to": role.as_str() });
        db::audit::insert(tx, &event.detail(detail)).await?;
        Ok(user)
    })
    .await
}

/// Deletes an account with its sessions, credentials and tasks.
pub async fn delete_user(
    ctx: &Context,
    actor: &Principal,
    id: UserId,
    client: &ClientInfo,
) -> Result<()> {
    policy::may_attempt(&actor.user, Action::DeleteUser)?;
    let event = AuditEvent::new(AuditKind::UserDeleted, clock::now(), client)
        .actor(actor.user.id)
        .subject(id);
    db::transaction!(ctx.db, |tx| { delete_in(tx, id, event).await }).await
}

/// A user's live sessions.
pub async fn list_sessions(ctx: &Context, actor: &Principal, id: UserId) -> Result<Vec<Session>> {
    policy::may_attempt(&actor.user, Action::ListSessions)?;
    let actor = actor.clone();
    db::with_conn!(ctx.db, |c| {
        let target = db::users::find(c, id).await?.ok_or(Error::NotFound)?;
        policy::may(&actor.user, Action::ListSessions, &target)?;
        db::sessions::list_live(c, id, clock::now()).await
    })
    .await
}

/// Revokes every session of a user.
pub async fn revoke_sessions(
    ctx: &Context,
    actor: &Principal,
    id: UserId,
    client: &ClientInfo,
) -> Result<()> {
    policy::may_attempt(&actor.user, Action::RevokeSessions)?;
    let actor = actor.clone();
    let event = AuditEvent::new(AuditKind::SessionsRevoked, clock::now(), client)
        .actor(actor.user.id)
        .subject(id);
    db::transaction!(ctx.db, |tx| {
        let target = db::users::find_for_update(tx, id)
            .await?
            .ok_or(Error::NotFound)?;
        policy::may(&actor.user, Action::RevokeSessions, &target)?;
        let count = db::sessions::revoke_all(tx, id, None, event.at).await?;
        db::audit::insert(tx, &event.detail(serde_json::json!({ "count": count }))).await
    })
    .await
}

/// The audit trail, newest first; `user` matches actor or subject.
pub async fn audit_events(
    ctx: &Context,
    actor: &Principal,
    user: Option<UserId>,
    kind: Option<AuditKind>,
    page: PageRequest,
) -> Result<Page<AuditEvent>> {
    policy::may_attempt(&actor.user, Action::ListAuditEvents)?;
    db::with_conn!(ctx.db, |c| { db::audit::list(c, user, kind, page).await }).await
}

/// Creates the first admin when no admin exists (idempotent across restarts, and across
/// instances starting together: they take turns through a lock). An existing non-admin
/// account with that email is never promoted: that would hand the role to whoever
/// registered the address first.
pub async fn bootstrap_admin(
    ctx: &Context,
    email: Email,
    password: NewPassword,
) -> Result<Option<User>> {
    if db::with_conn!(ctx.db, |c| { db::users::any_admin(c).await }).await? {
        return Ok(None);
    }
    let now = clock::now();
    let (user, password) = NewAccount::minimal(email, password).into_user(Role::Admin, true, now);
    let hash = ctx.hasher.hash(password.expose()).await?;
    let event = AuditEvent::new(AuditKind::UserCreated, now, &ClientInfo::default())
        .subject(user.id)
        .detail(serde_json::json!({ "role": "admin", "bootstrap": true }));
    db::transaction!(ctx.db, |tx| {
        tx.lock(db::Lock::AdminBootstrap).await?;
        if db::users::any_admin(tx).await? {
            return Ok(None);
        }
        db::users::insert(tx, &user, &hash).await?;
        db::audit::insert(tx, &event).await?;
        Ok(Some(user))
    })
    .await
}

/// `doorman create-admin`: an operator adds an admin account.
pub async fn create_admin(ctx: &Context, email: Email, password: NewPassword) -> Result<User> {
    create(
        ctx,
        NewAccount::minimal(email, password),
        Role::Admin,
        true,
        None,
        &ClientInfo::default(),
    )
    .await
}
