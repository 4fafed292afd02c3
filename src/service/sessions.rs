//! The caller's own sign-in sessions.

use super::Context;
use super::auth::Principal;
use crate::clock;
use crate::db;
use crate::domain::{AuditEvent, AuditKind, ClientInfo, Session, SessionId};
use crate::error::{Error, Result};

/// The caller's live sessions, newest first.
pub async fn list(ctx: &Context, actor: &Principal) -> Result<Vec<Session>> {
    let user = actor.user.id;
    db::with_conn!(ctx.db, |c| {
        db::sessions::list_live(c, user, clock::now()).await
    })
    .await
}

/// Revokes one of the caller's sessions (the current one too, if named).
pub async fn revoke(
    ctx: &Context,
    actor: &Principal,
    id: SessionId,
    client: &ClientInfo,
) -> Result<()> {
    let user = actor.user.id;
    let event = AuditEvent::new(AuditKind::SessionsRevoked, clock::now(), client)
        .actor(user)
        .subject(user)
        .detail(serde_json::json!({ "session_id": id, "count": 1 }));
    db::transaction!(ctx.db, |tx| {
        if !db::sessions::revoke_owned(tx, user, id, event.at).await? {
            return Err(Error::NotFound);
        }
        db::audit::insert(tx, &event).await
    })
    .await
}

/// Revokes every session of the caller, the current one included.
pub async fn revoke_all(ctx: &Context, actor: &Principal, client: &ClientInfo) -> Result<()> {
    revoke_all_but(ctx, actor, client, None).await
}

/// Revokes every session of the caller but the one in use ("sign out everywhere else").
pub async fn revoke_others(ctx: &Context, actor: &Principal, client: &ClientInfo) -> Result<()> {
    revoke_all_but(ctx, actor, client, Some(actor.session_id)).await
}

async fn revoke_all_but(
    ctx: &Context,
    actor: &Principal,
    client: &ClientInfo,
    keep: Option<SessionId>,
) -> Result<()> {
    let user = actor.user.id;
    let event = AuditEvent::new(AuditKind::SessionsRevoked, clock::now(), client)
        .actor(user)
        .subject(user);
    db::transaction!(ctx.db, |tx| {
        let count = db::sessions::revoke_all(tx, user, keep, event.at).await?;
        let detail = match keep {
            Some(kept) => serde_json::json!({ "count": count, "kept_session_id": kept }),
            None => serde_json::json!({ "count": count }),
        };
        db::audit::insert(tx, &event.detail(detail)).await
    })
    .await
}
