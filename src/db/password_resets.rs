//! Password reset tokens, stored only as a SHA-256 hash.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::prepared::by_text;
use super::query::for_update;
use super::schema::password_reset_tokens as resets;
use super::types::{Id, Ts};
use super::{Conn, run};
use crate::domain::{ResetToken, UserId};
use crate::error::Result;

/// A stored reset token, as read.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = resets, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
struct ResetRow {
    user_id: Id,
    expires_at: Ts,
    used_at: Option<Ts>,
}

impl From<ResetRow> for ResetToken {
    fn from(row: ResetRow) -> Self {
        Self {
            user_id: UserId(row.user_id.0),
            expires_at: row.expires_at.0,
            used_at: row.used_at.map(|at| at.0),
        }
    }
}

/// Stores a new token for the user and voids every older one.
pub async fn replace(
    conn: &mut Conn,
    user: UserId,
    token_hash: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<()> {
    let row = (
        resets::id.eq(Id(uuid::Uuid::now_v7())),
        resets::user_id.eq(Id(user.0)),
        resets::token_hash.eq(token_hash),
        resets::created_at.eq(Ts(now)),
        resets::expires_at.eq(Ts(expires_at)),
    );
    run!(conn, |c| {
        diesel::delete(resets::table.filter(resets::user_id.eq(Id(user.0))))
            .execute(c)
            .await?;
        by_text(diesel::insert_into(resets::table).values(row))
            .execute(c)
            .await
    })?;
    Ok(())
}

/// Deletes every token of `user` (none, for an id no account has: what a reset request for
/// an unknown address runs, so that it does the same database work as for a known one).
pub async fn delete_for(conn: &mut Conn, user: UserId) -> Result<()> {
    run!(conn, |c| by_text(diesel::delete(
        resets::table.filter(resets::user_id.eq(Id(user.0)))
    ))
    .execute(c)
    .await)?;
    Ok(())
}

/// The token with this hash, locked for the rest of the transaction.
pub async fn find_for_update(conn: &mut Conn, token_hash: &str) -> Result<Option<ResetToken>> {
    let row: Option<ResetRow> = run!(conn, |c| for_update(
        resets::table
            .filter(resets::token_hash.eq(token_hash))
            .select(ResetRow::as_select())
    )
    .get_result(c)
    .await
    .optional())?;
    Ok(row.map(ResetToken::from))
}

/// Uses up every unused token of `user` (the one presented among them).
pub async fn consume(conn: &mut Conn, user: UserId, at: DateTime<Utc>) -> Result<()> {
    run!(conn, |c| by_text(
        diesel::update(
            resets::table
                .filter(resets::user_id.eq(Id(user.0)))
                .filter(resets::used_at.is_null())
        )
        .set(resets::used_at.eq(Some(Ts(at))))
    )
    .execute(c)
    .await)?;
    Ok(())
}
