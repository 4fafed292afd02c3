//! Sign-in sessions and their refresh-token state.

use chrono::{DateTime, Utc};
use diesel::dsl::case_when;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::audit::{self, AuditRow};
use super::login_throttles;
use super::prepared::{by_text, paged};
use super::query::for_update;
use super::schema::{console_sessions, deleted_sessions, sessions, users};
use super::types::{Id, Ts};
use super::users::UserRow;
use super::{Conn, ConnInner, execute_together, run};
use crate::domain::{
    Amr, AuditEvent, PageRequest, RevokedSession, Session, SessionId, User, UserId,
};
use crate::error::Result;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub(crate) struct SessionRow {
    id: Id,
    user_id: Id,
    created_at: Ts,
    last_refreshed_at: Option<Ts>,
    expires_at: Ts,
    revoked_at: Option<Ts>,
    user_agent: Option<String>,
    ip: Option<String>,
    refresh_jti: Id,
    refresh_iat: Ts,
    refresh_exp: Ts,
    previous_jti: Option<Id>,
    rotated_at: Option<Ts>,
    amr: String,
}

impl From<&Session> for SessionRow {
    fn from(s: &Session) -> Self {
        Self {
            id: Id(s.id.0),
            user_id: Id(s.user_id.0),
            created_at: Ts(s.created_at),
            last_refreshed_at: s.last_refreshed_at.map(Ts),
            expires_at: Ts(s.expires_at),
            revoked_at: s.revoked_at.map(Ts),
            user_agent: s.user_agent.clone(),
            ip: s.ip.clone(),
            refresh_jti: Id(s.refresh_jti),
            refresh_iat: Ts(s.refresh_iat),
            refresh_exp: Ts(s.refresh_exp),
            previous_jti: s.previous_jti.map(Id),
            rotated_at: s.rotated_at.map(Ts),
            amr: s.amr.to_stored(),
        }
    }
}

impl From<SessionRow> for Session {
    fn from(r: SessionRow) -> Self {
        Self {
            id: SessionId(r.id.0),
            user_id: UserId(r.user_id.0),
            created_at: r.created_at.0,
            last_refreshed_at: r.last_refreshed_at.map(|t| t.0),
            expires_at: r.expires_at.0,
            revoked_at: r.revoked_at.map(|t| t.0),
            user_agent: r.user_agent,
            ip: r.ip,
            refresh_jti: r.refresh_jti.0,
            refresh_iat: r.refresh_iat.0,
            refresh_exp: r.refresh_exp.0,
            previous_jti: r.previous_jti.map(|t| t.0),
            rotated_at: r.rotated_at.map(|t| t.0),
            amr: Amr::from_stored(&r.amr),
        }
    }
}

/// Opens `session` for a user who just signed in with a password checked under
/// `throttle_key`: stores it, stamps the user's last login, clears the key's failed
/// attempts and appends `event` (counted at the commit). Four independent statements, executed together (one round
/// trip on PostgreSQL, see `execute_together!`). Only inside [`super::Db::transaction`]:
/// outside one, on PostgreSQL, the statements after a failed one would still commit.
pub async fn open_on_login(
    conn: &mut Conn,
    session: &Session,
    throttle_key: &str,
    event: &AuditEvent,
) -> Result<()> {
    let (row, audited) = (SessionRow::from(session), AuditRow::from(event));
    let (user, at) = (Id(session.user_id.0), Ts(session.created_at));
    execute_together!(
        conn,
        [
            by_text(diesel::insert_into(sessions::table).values(&row)),
            super::users::record_login_statement(user, at),
            login_throttles::clear_statement(throttle_key),
            audit::insert_statement(&audited),
        ]
    )?;
    conn.1.counts.push(audit::Counted::one(&audited));
    super::webhooks::enqueue(conn, event, None).await
}

/// Sessions with their users, in one indexed query once filtered on the session. Not
/// boxed: its static type is what diesel's statement caches key it by (see
/// [`find_many_with_user`]).
#[diesel::dsl::auto_type(no_type_alias)]
fn sessions_with_users<DB: diesel::backend::Backend>() -> _ {
    let session: diesel::dsl::AsSelect<SessionRow, DB> = SessionRow::as_select();
    let user: diesel::dsl::AsSelect<UserRow, DB> = UserRow::as_select();
    sessions::table
        .inner_join(users::table)
        .select((session, user))
}

/// [`sessions_with_users`] reached from the console's cookie sessions.
#[diesel::dsl::auto_type(no_type_alias)]
fn console_sessions_with_users<DB: diesel::backend::Backend>() -> _ {
    let session: diesel::dsl::AsSelect<SessionRow, DB> = SessionRow::as_select();
    let user: diesel::dsl::AsSelect<UserRow, DB> = UserRow::as_select();
    console_sessions::table
        .inner_join(sessions::table.inner_join(users::table))
        .select((session, user))
}

/// The session and its user, in one indexed query: what every authenticated request checks.
pub async fn find_with_user(conn: &mut Conn, id: SessionId) -> Result<Option<(Session, User)>> {
    Ok(find_many_with_user(conn, &[id]).await?.pop())
}

/// PostgreSQL costs the generic plan of `= ANY($1)` for an array of this many elements.
const GENERIC_ARRAY_LEN: usize = 10;

/// [`find_with_user`] for many sessions: those of `ids` that exist.
///
/// On PostgreSQL, one query. A lone id, the usual case below saturation, takes the
/// single-row statement. More take `= ANY($1)`: for a shorter array than PostgreSQL's
/// generic plan is costed for, a custom plan looks cheaper, and PostgreSQL plans the
/// statement at every run (150-200 µs, five times the run itself). Padded to that length
/// with repeats of an id, which the filter ignores, the array no longer makes a custom plan
/// look cheaper, and the generic plan is kept, as the single-row statement's is after its
/// fifth run.
///
/// On SQLite, the single-row query for each, in one call of diesel's own connection, on
/// the calling thread ([`super::OnThisThread`]). Through the async wrapper each query
/// would be rendered to SQL text, found in the statement cache by a hash of that text, and
/// its row copied before it is decoded (`push_identifier`, `str::replace`, SipHash and
/// malloc, a tenth of the CPU under /users/me); here the statement is cached by its Rust
/// type and each row decoded in place.
pub async fn find_many_with_user(
    conn: &mut Conn,
    ids: &[SessionId],
) -> Result<Vec<(Session, User)>> {
    let rows: Vec<(SessionRow, UserRow)> = match (&mut conn.0, ids) {
        (ConnInner::Pg(c), [id]) => sessions_with_users()
            .filter(sessions::id.eq(Id(id.0)))
            .get_result(&mut **c)
            .await
            .optional()?
            .into_iter()
            .collect(),
        (ConnInner::Pg(c), _) => {
            let mut ids: Vec<Id> = ids.iter().map(|id| Id(id.0)).collect();
            if let Some(&last) = ids.last() {
                ids.resize(ids.len().max(GENERIC_ARRAY_LEN), last);
            }
            sessions_with_users()
                .filter(sessions::id.eq_any(&ids))
                .load(&mut **c)
                .await?
        }
        (ConnInner::Sqlite(c), _) => {
            let ids = ids.to_vec();
            c.spawn_blocking(move |c| {
                let mut rows = Vec::with_capacity(ids.len());
                for id in ids {
                    let query = sessions_with_users().filter(sessions::id.eq(Id(id.0)));
                    rows.extend(diesel::RunQueryDsl::get_result(query, c).optional()?);
                }
                Ok(rows)
            })
            .await?
        }
    };
    rows.into_iter().map(with_user).collect()
}

fn with_user((session, user): (SessionRow, UserRow)) -> Result<(Session, User)> {
    Ok((Session::from(session), User::try_from(user)?))
}

/// The session, locked until the transaction ends (on SQLite the whole write transaction
/// already holds the database lock).
pub async fn find_for_update(conn: &mut Conn, id: SessionId) -> Result<Option<Session>> {
    let row: Option<SessionRow> = run!(conn, |c| for_update(
        sessions::table
            .find(Id(id.0))
            .select(SessionRow::as_select())
    )
    .get_result(c)
    .await
    .optional())?;
    Ok(row.map(Session::from))
}

/// Rotates in one statement, without a transaction: makes `new_jti` current (expiring at
/// `exp` or at the session's end, whichever is first) and keeps `exchanged` for the grace
/// interval, but only if `exchanged` is the current refresh token, the session is live and
/// its user active. `None` when any of that does not hold; the caller then looks closer.
///
/// Concurrent exchanges of one token serialise on the row: the loser re-reads it, finds
/// another current token and gets `None`.
pub async fn rotate_current(
    conn: &mut Conn,
    id: SessionId,
    user: UserId,
    exchanged: Uuid,
    new_jti: Uuid,
    iat: DateTime<Utc>,
    exp: DateTime<Utc>,
) -> Result<Option<Session>> {
    // The user by key: a subquery over all active users would be a scan on SQLite.
    let active_owner = users::table
        .find(Id(user.0))
        .filter(users::is_active)
        .select(users::id);
    let current = sessions::table
        .find(Id(id.0))
        .filter(sessions::user_id.eq(Id(user.0)))
        .filter(sessions::refresh_jti.eq(Id(exchanged)))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(Ts(iat)))
        .filter(sessions::user_id.eq_any(active_owner));
    let refresh_exp =
        case_when(sessions::expires_at.lt(Ts(exp)), sessions::expires_at).otherwise(Ts(exp));
    let rotate = diesel::update(current).set((
        sessions::previous_jti.eq(Some(Id(exchanged))),
        sessions::rotated_at.eq(Some(Ts(iat))),
        sessions::last_refreshed_at.eq(Some(Ts(iat))),
        sessions::refresh_jti.eq(Id(new_jti)),
        sessions::refresh_iat.eq(Ts(iat)),
        sessions::refresh_exp.eq(refresh_exp),
    ));
    let row: Option<SessionRow> = run!(conn, |c| by_text(
        rotate.returning(SessionRow::as_returning())
    )
    .get_result(c)
    .await
    .optional())?;
    Ok(row.map(Session::from))
}

/// The user's live sessions, newest first.
pub async fn list_live(conn: &mut Conn, user: UserId, now: DateTime<Utc>) -> Result<Vec<Session>> {
    let rows: Vec<SessionRow> = run!(conn, |c| sessions::table
        .filter(sessions::user_id.eq(Id(user.0)))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(Ts(now)))
        .order((sessions::created_at.desc(), sessions::id.desc()))
        .select(SessionRow::as_select())
        .load(c)
        .await)?;
    Ok(rows.into_iter().map(Session::from).collect())
}

/// Revokes one of the user's live sessions; false when the user has no such live session.
pub async fn revoke_owned(
    conn: &mut Conn,
    user: UserId,
    id: SessionId,
    at: DateTime<Utc>,
) -> Result<bool> {
    let changed = run!(conn, |c| by_text(
        diesel::update(
            sessions::table
                .filter(sessions::id.eq(Id(id.0)))
                .filter(sessions::user_id.eq(Id(user.0)))
                .filter(sessions::revoked_at.is_null())
                .filter(sessions::expires_at.gt(Ts(at)))
        )
        .set(sessions::revoked_at.eq(Some(Ts(at))))
    )
    .execute(c)
    .await)?;
    Ok(changed > 0)
}

/// Revokes every live session of the user but `except`; returns how many.
pub async fn revoke_all(
    conn: &mut Conn,
    user: UserId,
    except: Option<SessionId>,
    at: DateTime<Utc>,
) -> Result<usize> {
    let keep = Id(except.map_or(Uuid::nil(), |s| s.0));
    let changed = run!(conn, |c| by_text(
        diesel::update(
            sessions::table
                .filter(sessions::user_id.eq(Id(user.0)))
                .filter(sessions::revoked_at.is_null())
                .filter(sessions::id.ne(keep))
        )
        .set(sessions::revoked_at.eq(Some(Ts(at))))
    )
    .execute(c)
    .await)?;
    Ok(changed)
}

/// Ties a console cookie (kept only as `token_hash`) to the session it signed in.
pub async fn attach_cookie(conn: &mut Conn, session: SessionId, token_hash: &str) -> Result<()> {
    run!(conn, |c| diesel::insert_into(console_sessions::table)
        .values((
            console_sessions::token_hash.eq(token_hash),
            console_sessions::session_id.eq(Id(session.0)),
        ))
        .execute(c)
        .await)?;
    Ok(())
}

/// The session a console cookie (by its hash) belongs to, with its user, in one query.
pub async fn find_by_cookie(conn: &mut Conn, token_hash: &str) -> Result<Option<(Session, User)>> {
    let hash = token_hash.to_owned();
    // On SQLite through diesel's own connection, as `find_many_with_user` does.
    let row: Option<(SessionRow, UserRow)> = match &mut conn.0 {
        ConnInner::Pg(c) => console_sessions_with_users()
            .filter(console_sessions::token_hash.eq(hash))
            .get_result(&mut **c)
            .await
            .optional()?,
        ConnInner::Sqlite(c) => {
            c.spawn_blocking(move |c| {
                let query =
                    console_sessions_with_users().filter(console_sessions::token_hash.eq(hash));
                diesel::RunQueryDsl::get_result(query, c).optional()
            })
            .await?
        }
    };
    row.map(with_user).transpose()
}

pub async fn delete_all(conn: &mut Conn, user: UserId) -> Result<()> {
    run!(conn, |c| diesel::delete(
        sessions::table.filter(sessions::user_id.eq(Id(user.0)))
    )
    .execute(c)
    .await)?;
    Ok(())
}

/// Up to `limit` sessions revoked at or after `after`'s moment (and after its id, at that
/// same moment) that had not expired by `expired_before`, oldest revocation first. Reads the
/// partial index `sessions_revoked_at_idx` on `(revoked_at, id)` as a range, in the page's
/// order, and stops at `limit`: its cost follows the page, not the table.
pub async fn revoked_after(
    conn: &mut Conn,
    after: (DateTime<Utc>, SessionId),
    expired_before: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<RevokedSession>> {
    let (at, id) = (Ts(after.0), Id(after.1.0));
    // `paged`, not `.limit()`: on SQLite a bare bound LIMIT made each poll compile both
    // statements anew (see `prepared::paged`).
    let page = PageRequest { limit, offset: 0 };
    let rows: Vec<(Id, Id, Option<Ts>, Ts)> = run!(conn, |c| paged(
        sessions::table
            .filter(sessions::revoked_at.is_not_null())
            .filter(sessions::revoked_at.ge(at))
            .filter(sessions::revoked_at.gt(at).or(sessions::id.gt(id)))
            .filter(sessions::expires_at.gt(Ts(expired_before)))
            .order((sessions::revoked_at.asc(), sessions::id.asc()))
            .select((
                sessions::id,
                sessions::user_id,
                sessions::revoked_at,
                sessions::expires_at
            )),
        page
    )
    .load(c)
    .await)?;
    let deleted: Vec<(Id, Id, Ts, Ts)> = run!(conn, |c| paged(
        deleted_sessions::table
            .filter(deleted_sessions::revoked_at.ge(at))
            .filter(
                deleted_sessions::revoked_at
                    .gt(at)
                    .or(deleted_sessions::id.gt(id))
            )
            .filter(deleted_sessions::expires_at.gt(Ts(expired_before)))
            .order((
                deleted_sessions::revoked_at.asc(),
                deleted_sessions::id.asc()
            ))
            .select((
                deleted_sessions::id,
                deleted_sessions::user_id,
                deleted_sessions::revoked_at,
                deleted_sessions::expires_at
            )),
        page
    )
    .load(c)
    .await)?;
    let mut all: Vec<RevokedSession> = rows
        .into_iter()
        .filter_map(|(id, user_id, revoked_at, expires_at)| {
            Some((id, user_id, revoked_at?, expires_at))
        })
        .chain(deleted)
        .map(|(id, user_id, revoked_at, expires_at)| RevokedSession {
            id: SessionId(id.0),
            user_id: UserId(user_id.0),
            revoked_at: revoked_at.0,
            expires_at: expires_at.0,
        })
        .collect();
    all.sort_by_key(|r| (r.revoked_at, r.id.0));
    all.truncate(usize::try_from(limit).unwrap_or(0));
    Ok(all)
}

/// Keeps, for the revocation feed, the sessions of a user about to be deleted (they go
/// with the account): live ones as revoked `at`, revoked ones as they were.
pub async fn remember_deleted(conn: &mut Conn, user: UserId, at: DateTime<Utc>) -> Result<()> {
    let rows: Vec<(Id, Option<Ts>, Ts)> = run!(conn, |c| sessions::table
        .filter(sessions::user_id.eq(Id(user.0)))
        .select((sessions::id, sessions::revoked_at, sessions::expires_at))
        .load(c)
        .await)?;
    // One insert per session: a user has few, and SQLite takes no batch of these tuples.
    for (id, revoked_at, expires_at) in rows {
        let row = (
            deleted_sessions::id.eq(id),
            deleted_sessions::user_id.eq(Id(user.0)),
            deleted_sessions::revoked_at.eq(revoked_at.unwrap_or(Ts(at))),
            deleted_sessions::expires_at.eq(expires_at),
        );
        run!(conn, |c| diesel::insert_into(deleted_sessions::table)
            .values(row)
            .execute(c)
            .await)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use diesel::query_builder::QueryId;
    use diesel::sqlite::Sqlite;

    use super::*;

    /// diesel's SQLite connection finds a statement in its cache by the query's Rust type
    /// only when that type has a static query id; otherwise it renders and hashes the SQL
    /// text at every run, which is what [`find_many_with_user`] goes around.
    #[test]
    fn the_sqlite_session_lookup_is_cached_by_its_type() {
        fn has_static_id<Q: QueryId + diesel::query_builder::QueryFragment<Sqlite>>(_: &Q) -> bool {
            Q::HAS_STATIC_QUERY_ID
        }
        assert!(has_static_id(
            &sessions_with_users::<Sqlite>().filter(sessions::id.eq(Id(Uuid::nil())))
        ));
    }
}
