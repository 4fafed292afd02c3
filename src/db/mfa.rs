//! Second factors: TOTP factors, recovery codes (only their SHA-256 kept) and the tokens of
//! a sign-in's second step (likewise).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::prepared::by_text;
use super::schema::{mfa_tokens, recovery_codes, totp_factors};
use super::types::{Id, Ts};
use super::{Conn, ConnInner, run};
use crate::domain::{TotpFactor, UserId};
use crate::error::Result;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = totp_factors, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
struct FactorRow {
    secret: Option<String>,
    pending_secret: Option<String>,
    last_step: Option<i64>,
    confirmed_at: Option<Ts>,
}

impl From<FactorRow> for TotpFactor {
    fn from(row: FactorRow) -> Self {
        Self {
            secret: row.secret,
            pending_secret: row.pending_secret,
            last_step: row.last_step,
            confirmed_at: row.confirmed_at.map(|at| at.0),
        }
    }
}

/// The user's TOTP factor, confirmed or pending.
pub async fn find_factor(conn: &mut Conn, user: UserId) -> Result<Option<TotpFactor>> {
    let row: Option<FactorRow> = run!(conn, |c| totp_factors::table
        .find(Id(user.0))
        .select(FactorRow::as_select())
        .get_result(c)
        .await
        .optional())?;
    Ok(row.map(TotpFactor::from))
}

/// [`find_factor`], locked until the transaction ends (on SQLite the write transaction
/// holds the database lock already).
pub async fn find_factor_for_update(conn: &mut Conn, user: UserId) -> Result<Option<TotpFactor>> {
    let query = totp_factors::table.find(Id(user.0));
    let row: Option<FactorRow> = match &mut conn.0 {
        ConnInner::Pg(c) => query
            .select(FactorRow::as_select())
            .for_update()
            .get_result(&mut **c)
            .await
            .optional()?,
        ConnInner::Sqlite(c) => query
            .select(FactorRow::as_select())
            .get_result(&mut **c)
            .await
            .optional()?,
    };
    Ok(row.map(TotpFactor::from))
}

/// Stores `secret` as the user's pending TOTP secret, replacing an earlier pending one; a
/// confirmed secret stays in force until this one is confirmed.
pub async fn set_pending(
    conn: &mut Conn,
    user: UserId,
    secret: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    run!(conn, |c| by_text(
        diesel::insert_into(totp_factors::table)
            .values((
                totp_factors::user_id.eq(Id(user.0)),
                totp_factors::pending_secret.eq(Some(secret)),
                totp_factors::updated_at.eq(Ts(now)),
            ))
            .on_conflict(totp_factors::user_id)
            .do_update()
            .set((
                totp_factors::pending_secret.eq(Some(secret)),
                totp_factors::updated_at.eq(Ts(now)),
            ))
    )
    .execute(c)
    .await)?;
    Ok(())
}

/// Makes the pending secret the confirmed one, its code's `step` the last accepted; false
/// when there is no pending secret (any more).
pub async fn confirm_pending(
    conn: &mut Conn,
    user: UserId,
    step: i64,
    now: DateTime<Utc>,
) -> Result<bool> {
    let changed = run!(conn, |c| by_text(
        diesel::update(
            totp_factors::table
                .find(Id(user.0))
                .filter(totp_factors::pending_secret.is_not_null())
        )
        .set((
            totp_factors::secret.eq(totp_factors::pending_secret),
            totp_factors::pending_secret.eq(None::<String>),
            totp_factors::confirmed_at.eq(Some(Ts(now))),
            totp_factors::last_step.eq(Some(step)),
            totp_factors::updated_at.eq(Ts(now)),
        ))
    )
    .execute(c)
    .await)?;
    Ok(changed > 0)
}

/// Records that the code of `step` was accepted, unless a code of that step or a later one
/// was already: false then (a replay).
pub async fn accept_step(conn: &mut Conn, user: UserId, step: i64) -> Result<bool> {
    let changed = run!(conn, |c| by_text(
        diesel::update(
            totp_factors::table
                .find(Id(user.0))
                .filter(totp_factors::secret.is_not_null())
                .filter(
                    totp_factors::last_step
                        .is_null()
                        .or(totp_factors::last_step.lt(step))
                )
        )
        .set(totp_factors::last_step.eq(Some(step)))
    )
    .execute(c)
    .await)?;
    Ok(changed > 0)
}

/// Removes the user's TOTP factor, confirmed or pending; false when there was none.
pub async fn delete_factor(conn: &mut Conn, user: UserId) -> Result<bool> {
    let changed = run!(conn, |c| diesel::delete(
        totp_factors::table.find(Id(user.0))
    )
    .execute(c)
    .await)?;
    Ok(changed > 0)
}

/// Replaces the user's recovery codes (by their hashes) with a new set.
pub async fn replace_recovery_codes(
    conn: &mut Conn,
    user: UserId,
    hashes: &[String],
    now: DateTime<Utc>,
) -> Result<()> {
    delete_recovery_codes(conn, user).await?;
    // One insert per code: SQLite takes no batch of these tuples through diesel-async.
    for hash in hashes {
        let row = (
            recovery_codes::code_hash.eq(hash.as_str()),
            recovery_codes::user_id.eq(Id(user.0)),
            recovery_codes::created_at.eq(Ts(now)),
        );
        run!(conn, |c| diesel::insert_into(recovery_codes::table)
            .values(row)
            .execute(c)
            .await)?;
    }
    Ok(())
}

pub async fn delete_recovery_codes(conn: &mut Conn, user: UserId) -> Result<()> {
    run!(conn, |c| diesel::delete(
        recovery_codes::table.filter(recovery_codes::user_id.eq(Id(user.0)))
    )
    .execute(c)
    .await)?;
    Ok(())
}

/// Spends the user's unused recovery code with this hash; false when there is none.
pub async fn use_recovery_code(
    conn: &mut Conn,
    user: UserId,
    hash: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    let changed = run!(conn, |c| by_text(
        diesel::update(
            recovery_codes::table
                .find(hash)
                .filter(recovery_codes::user_id.eq(Id(user.0)))
                .filter(recovery_codes::used_at.is_null())
        )
        .set(recovery_codes::used_at.eq(Some(Ts(now))))
    )
    .execute(c)
    .await)?;
    Ok(changed > 0)
}

/// How many of the user's recovery codes are unused.
pub async fn recovery_codes_left(conn: &mut Conn, user: UserId) -> Result<i64> {
    let count = run!(conn, |c| recovery_codes::table
        .filter(recovery_codes::user_id.eq(Id(user.0)))
        .filter(recovery_codes::used_at.is_null())
        .count()
        .get_result(c)
        .await)?;
    Ok(count)
}

/// Which second factors an account has: a confirmed TOTP factor, an unused recovery code,
/// a passkey. One statement, asked on every right password.
#[derive(Debug, Clone, Copy)]
pub struct Factors {
    pub totp: bool,
    pub recovery_code: bool,
    pub passkey: bool,
}

pub async fn factors(conn: &mut Conn, user: UserId) -> Result<Factors> {
    use super::schema::passkeys;
    use diesel::dsl::exists;
    let (totp, recovery_code, passkey) = run!(conn, |c| diesel::select((
        exists(
            totp_factors::table
                .filter(totp_factors::user_id.eq(Id(user.0)))
                .filter(totp_factors::secret.is_not_null())
        ),
        exists(
            recovery_codes::table
                .filter(recovery_codes::user_id.eq(Id(user.0)))
                .filter(recovery_codes::used_at.is_null())
        ),
        exists(passkeys::table.filter(passkeys::user_id.eq(Id(user.0)))),
    ))
    .get_result::<(bool, bool, bool)>(c)
    .await)?;
    Ok(Factors {
        totp,
        recovery_code,
        passkey,
    })
}

/// Whether the user has a confirmed TOTP factor.
pub async fn has_totp(conn: &mut Conn, user: UserId) -> Result<bool> {
    let found: Option<Id> = run!(conn, |c| totp_factors::table
        .find(Id(user.0))
        .filter(totp_factors::secret.is_not_null())
        .select(totp_factors::user_id)
        .get_result(c)
        .await
        .optional())?;
    Ok(found.is_some())
}

/// Stores a second-step token (by its hash) for the user.
pub async fn insert_token(
    conn: &mut Conn,
    token_hash: &str,
    user: UserId,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<()> {
    run!(conn, |c| diesel::insert_into(mfa_tokens::table)
        .values((
            mfa_tokens::token_hash.eq(token_hash),
            mfa_tokens::user_id.eq(Id(user.0)),
            mfa_tokens::created_at.eq(Ts(now)),
            mfa_tokens::expires_at.eq(Ts(expires_at)),
        ))
        .execute(c)
        .await)?;
    Ok(())
}

/// The user of a live token: unused, unexpired at `now`, with fewer than `max_failures`
/// codes tried. Changes nothing.
pub async fn find_live_token(
    conn: &mut Conn,
    token_hash: &str,
    now: DateTime<Utc>,
    max_failures: i32,
) -> Result<Option<UserId>> {
    let user: Option<Id> = run!(conn, |c| mfa_tokens::table
        .find(token_hash)
        .filter(mfa_tokens::used_at.is_null())
        .filter(mfa_tokens::expires_at.gt(Ts(now)))
        .filter(mfa_tokens::failures.lt(max_failures))
        .select(mfa_tokens::user_id)
        .get_result(c)
        .await
        .optional())?;
    Ok(user.map(|id| UserId(id.0)))
}

/// Counts a code tried with a live token (see [`find_live_token`]) before the code is
/// checked, in one statement, so concurrent tries cannot pass the limit: its user, or
/// `None` when the token is not live.
pub async fn count_token_try(
    conn: &mut Conn,
    token_hash: &str,
    now: DateTime<Utc>,
    max_failures: i32,
) -> Result<Option<UserId>> {
    let user: Option<Id> = run!(conn, |c| by_text(
        diesel::update(
            mfa_tokens::table
                .find(token_hash)
                .filter(mfa_tokens::used_at.is_null())
                .filter(mfa_tokens::expires_at.gt(Ts(now)))
                .filter(mfa_tokens::failures.lt(max_failures))
        )
        .set(mfa_tokens::failures.eq(mfa_tokens::failures + 1))
        .returning(mfa_tokens::user_id)
    )
    .get_result(c)
    .await
    .optional())?;
    Ok(user.map(|id| UserId(id.0)))
}

/// Spends a token that is still unused and unexpired; false when it is not.
pub async fn use_token(conn: &mut Conn, token_hash: &str, now: DateTime<Utc>) -> Result<bool> {
    let changed = run!(conn, |c| by_text(
        diesel::update(
            mfa_tokens::table
                .find(token_hash)
                .filter(mfa_tokens::used_at.is_null())
                .filter(mfa_tokens::expires_at.gt(Ts(now)))
        )
        .set(mfa_tokens::used_at.eq(Some(Ts(now))))
    )
    .execute(c)
    .await)?;
    Ok(changed > 0)
}

/// Removes every second-step token of the user.
pub async fn delete_tokens(conn: &mut Conn, user: UserId) -> Result<()> {
    run!(conn, |c| diesel::delete(
        mfa_tokens::table.filter(mfa_tokens::user_id.eq(Id(user.0)))
    )
    .execute(c)
    .await)?;
    Ok(())
}

/// Every stored TOTP secret, confirmed and pending, with its account (for sealing them again
/// under a new data key).
pub async fn all_secrets(conn: &mut Conn) -> Result<Vec<(UserId, Option<String>, Option<String>)>> {
    let rows: Vec<(Id, Option<String>, Option<String>)> = run!(conn, |c| totp_factors::table
        .select((
            totp_factors::user_id,
            totp_factors::secret,
            totp_factors::pending_secret,
        ))
        .load(c)
        .await)?;
    Ok(rows
        .into_iter()
        .map(|(id, secret, pending)| (UserId(id.0), secret, pending))
        .collect())
}

/// Replaces an account's stored TOTP secrets by the same secrets sealed anew.
pub async fn reseal_secrets(
    conn: &mut Conn,
    user: UserId,
    secret: Option<&str>,
    pending: Option<&str>,
) -> Result<()> {
    run!(conn, |c| by_text(
        diesel::update(totp_factors::table.find(Id(user.0))).set((
            totp_factors::secret.eq(secret),
            totp_factors::pending_secret.eq(pending),
        ))
    )
    .execute(c)
    .await)?;
    Ok(())
}
