//! Consecutive failed logins and locks, one row per key: an account, or a login name that
//! matches no account (see `service::auth::throttle_key`).

use chrono::{DateTime, Utc};
use diesel::dsl;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::prepared::by_text;
use super::schema::login_throttles as throttles;
use super::types::Ts;
use super::{Conn, run};
use crate::error::Result;

/// Until when `key` is locked, if it ever was.
pub async fn locked_until(conn: &mut Conn, key: &str) -> Result<Option<DateTime<Utc>>> {
    let until: Option<Option<Ts>> = run!(conn, |c| throttles::table
        .find(key)
        .select(throttles::locked_until)
        .get_result(c)
        .await
        .optional())?;
    Ok(until.flatten().map(|t| t.0))
}

/// Counts an attempt on `key` if it is not locked at `now` and the count stays below
/// `below`, before its password is checked: the consecutive failures it would make (itself
/// included), or, when it was not counted (locked, or the count would reach `below`), until
/// when the key is locked, if it is. The count is one statement (an upsert whose update
/// applies only to such a row), so concurrent attempts are counted one at a time and none
/// gets past a lock set by the one before it.
pub async fn count_attempt(
    conn: &mut Conn,
    key: &str,
    now: DateTime<Utc>,
    below: i32,
) -> Result<std::result::Result<i32, Option<DateTime<Utc>>>> {
    let first = (
        throttles::key.eq(key),
        throttles::failed_logins.eq(1),
        throttles::last_attempt_at.eq(Ts(now)),
    );
    let unlocked = throttles::locked_until
        .is_null()
        .or(throttles::locked_until.le(Some(Ts(now))))
        .and(throttles::failed_logins.lt(below - 1));
    let upsert = diesel::insert_into(throttles::table)
        .values(first)
        .on_conflict(throttles::key)
        .do_update()
        .set((
            throttles::failed_logins.eq(throttles::failed_logins + 1),
            throttles::last_attempt_at.eq(Ts(now)),
        ));
    // `ON CONFLICT … DO UPDATE … WHERE`: QueryDsl's `filter` does not apply to an insert.
    let upsert = diesel::query_dsl::methods::FilterDsl::filter(upsert, unlocked);
    let count = run!(conn, |c| by_text(
        upsert.returning(throttles::failed_logins)
    )
    .get_result(c)
    .await
    .optional())?;
    match count {
        Some(count) => Ok(Ok(count)),
        None => locked_until(conn, key).await.map(Err),
    }
}

/// Locks a key that has `failures` consecutive failures until `until`, unless it is locked
/// longer already. Set when the attempt is counted, and again from its failure (its attempt
/// may have waited long for a hashing thread); a key cleared by a success since is left alone.
pub async fn lock_at_least(
    conn: &mut Conn,
    key: &str,
    failures: i32,
    until: DateTime<Utc>,
) -> Result<()> {
    let later = throttles::locked_until
        .is_null()
        .or(throttles::locked_until.lt(Some(Ts(until))));
    run!(conn, |c| by_text(
        diesel::update(
            throttles::table
                .find(key)
                .filter(throttles::failed_logins.ge(failures))
                .filter(later)
        )
        .set(throttles::locked_until.eq(Some(Ts(until))))
    )
    .execute(c)
    .await)?;
    Ok(())
}

/// A correct password: the count and any lock are gone.
pub async fn clear(conn: &mut Conn, key: &str) -> Result<()> {
    run!(conn, |c| clear_statement(key).execute(c).await)?;
    Ok(())
}

/// The statement that `clear` executes.
#[diesel::dsl::auto_type(no_type_alias)]
pub(super) fn clear_statement<'a>(key: &'a str) -> _ {
    dsl::delete(throttles::table.find(key))
}

/// A right password whose sign-in waits for a second factor: the attempt counted for it is
/// taken back, neither failure nor success, with the lock its count may have set (the key
/// was not locked when it was counted). The count of earlier failures stays, so a password
/// alone never clears what wrong codes added.
pub async fn uncount(conn: &mut Conn, key: &str) -> Result<()> {
    run!(conn, |c| by_text(
        diesel::update(
            throttles::table
                .find(key)
                .filter(throttles::failed_logins.gt(0))
        )
        .set((
            throttles::failed_logins.eq(throttles::failed_logins - 1),
            throttles::locked_until.eq(None::<Ts>),
        ))
    )
    .execute(c)
    .await)?;
    Ok(())
}
