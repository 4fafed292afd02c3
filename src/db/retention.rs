//! The retention job's statements: claiming a run, and deletes in small batches. A batch
//! reads up to `batch` ids that qualify, then deletes those ids that still qualify (Diesel
//! cannot delete from a table through a subquery on the same table): two short statements,
//! neither holding a request up for long.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::schema::{
    deleted_sessions, job_runs, known_devices, login_throttles, mfa_tokens, password_reset_tokens,
    sessions, webhook_deliveries, webhook_endpoints,
};
use super::types::{Id, Ts};
use super::{Conn, run};
use crate::error::Result;

/// Claims this run of `job` for `holder` when the last run began before `due`: one
/// conditional update, so of the instances that try at once exactly one succeeds.
pub async fn claim_run(
    conn: &mut Conn,
    job: &str,
    holder: &str,
    now: DateTime<Utc>,
    due: DateTime<Utc>,
) -> Result<bool> {
    let claimed = run!(conn, |c| diesel::update(
        job_runs::table
            .filter(job_runs::name.eq(job))
            .filter(job_runs::ran_at.le(Ts(due)))
    )
    .set((job_runs::ran_at.eq(Ts(now)), job_runs::holder.eq(holder)))
    .execute(c)
    .await)?;
    Ok(claimed == 1)
}

/// Deletes up to `batch` sessions that ended (revoked or expired) before `cutoff`, and up
/// to `batch` kept sessions of deleted accounts by the same rule.
pub async fn delete_ended_sessions(
    conn: &mut Conn,
    cutoff: DateTime<Utc>,
    batch: i64,
) -> Result<usize> {
    let deleted = run!(conn, |c| {
        let ended = || {
            sessions::revoked_at
                .lt(Ts(cutoff))
                .or(sessions::expires_at.lt(Ts(cutoff)))
        };
        let ids: Vec<Id> = sessions::table
            .select(sessions::id)
            .filter(ended())
            .limit(batch)
            .load(c)
            .await?;
        let sessions = diesel::delete(
            sessions::table
                .filter(sessions::id.eq_any(ids))
                .filter(ended()),
        )
        .execute(c)
        .await?;
        // The deleted accounts' sessions kept for the revocation feed, by the same rule.
        let ended = || {
            deleted_sessions::revoked_at
                .lt(Ts(cutoff))
                .or(deleted_sessions::expires_at.lt(Ts(cutoff)))
        };
        let ids: Vec<Id> = deleted_sessions::table
            .select(deleted_sessions::id)
            .filter(ended())
            .limit(batch)
            .load(c)
            .await?;
        let deleted = diesel::delete(
            deleted_sessions::table
                .filter(deleted_sessions::id.eq_any(ids))
                .filter(ended()),
        )
        .execute(c)
        .await?;
        // A batch is whole when either delete was: the sum says so to the caller's loop.
        diesel::QueryResult::Ok(sessions + deleted)
    })?;
    Ok(deleted)
}

/// Deletes up to `batch` reset tokens that were used or have expired by `now`.
pub async fn delete_spent_reset_tokens(
    conn: &mut Conn,
    now: DateTime<Utc>,
    batch: i64,
) -> Result<usize> {
    let deleted = run!(conn, |c| {
        let spent = || {
            password_reset_tokens::used_at
                .is_not_null()
                .or(password_reset_tokens::expires_at.lt(Ts(now)))
        };
        let ids: Vec<Id> = password_reset_tokens::table
            .select(password_reset_tokens::id)
            .filter(spent())
            .limit(batch)
            .load(c)
            .await?;
        diesel::delete(
            password_reset_tokens::table
                .filter(password_reset_tokens::id.eq_any(ids))
                .filter(spent()),
        )
        .execute(c)
        .await
    })?;
    Ok(deleted)
}

/// Deletes up to `batch` second-step tokens that were used or expired by `now`.
pub async fn delete_spent_mfa_tokens(
    conn: &mut Conn,
    now: DateTime<Utc>,
    batch: i64,
) -> Result<usize> {
    let deleted = run!(conn, |c| {
        let spent = || {
            mfa_tokens::used_at
                .is_not_null()
                .or(mfa_tokens::expires_at.lt(Ts(now)))
        };
        let hashes: Vec<String> = mfa_tokens::table
            .select(mfa_tokens::token_hash)
            .filter(spent())
            .limit(batch)
            .load(c)
            .await?;
        diesel::delete(
            mfa_tokens::table
                .filter(mfa_tokens::token_hash.eq_any(hashes))
                .filter(spent()),
        )
        .execute(c)
        .await
    })?;
    Ok(deleted)
}

/// Deletes up to `batch` failed-login rows without an attempt since `before` (a lock lasts
/// at most 15 minutes, so such a row no longer locks anything).
pub async fn delete_idle_throttles(
    conn: &mut Conn,
    before: DateTime<Utc>,
    batch: i64,
) -> Result<usize> {
    let deleted = run!(conn, |c| {
        let idle = || login_throttles::last_attempt_at.lt(Ts(before));
        let keys: Vec<String> = login_throttles::table
            .select(login_throttles::key)
            .filter(idle())
            .limit(batch)
            .load(c)
            .await?;
        diesel::delete(
            login_throttles::table
                .filter(login_throttles::key.eq_any(keys))
                .filter(idle()),
        )
        .execute(c)
        .await
    })?;
    Ok(deleted)
}

/// Forgets up to about `batch` known devices (see `known_devices`) not seen since `before`:
/// the oldest first, up to the `batch`-th oldest `last_seen_at` (ties go with it).
pub async fn delete_stale_devices(
    conn: &mut Conn,
    before: DateTime<Utc>,
    batch: i64,
) -> Result<usize> {
    let deleted = run!(conn, |c| {
        let stale = || known_devices::last_seen_at.lt(Ts(before));
        let oldest: Vec<Ts> = known_devices::table
            .select(known_devices::last_seen_at)
            .filter(stale())
            .order(known_devices::last_seen_at.asc())
            .limit(batch)
            .load(c)
            .await?;
        let Some(bound) = oldest.last().copied() else {
            return Ok(0);
        };
        diesel::delete(
            known_devices::table
                .filter(stale())
                .filter(known_devices::last_seen_at.le(bound)),
        )
        .execute(c)
        .await
    })?;
    Ok(deleted)
}

/// Webhook deliveries that nothing will change any more, as the retention job sweeps them.
#[derive(Debug, Clone, Copy)]
pub enum SettledDeliveries {
    /// Delivered before the moment.
    Delivered(DateTime<Utc>),
    /// Given up on (failed), for an event before the moment.
    Failed(DateTime<Utc>),
    /// Pending for an endpoint that no longer exists: queued by a change that read the
    /// endpoint just before its deletion and committed just after. Never sent (a claim
    /// joins the endpoint), they would otherwise stay pending for good.
    Orphaned,
}

/// Deletes up to `batch` deliveries of one kind of [`SettledDeliveries`]. Each kind is a
/// final state, so the ids read are deleted as they are.
pub async fn delete_settled_webhooks(
    conn: &mut Conn,
    settled: SettledDeliveries,
    batch: i64,
) -> Result<usize> {
    let deleted = run!(conn, |c| {
        let query = webhook_deliveries::table
            .select(webhook_deliveries::id)
            .limit(batch)
            .into_boxed();
        let query = match settled {
            SettledDeliveries::Delivered(cutoff) => query
                .filter(webhook_deliveries::status.eq("delivered"))
                .filter(webhook_deliveries::delivered_at.lt(Ts(cutoff))),
            SettledDeliveries::Failed(cutoff) => query
                .filter(webhook_deliveries::status.eq("failed"))
                .filter(webhook_deliveries::created_at.lt(Ts(cutoff))),
            SettledDeliveries::Orphaned => query
                .filter(webhook_deliveries::status.eq("pending"))
                .filter(diesel::dsl::not(diesel::dsl::exists(
                    webhook_endpoints::table
                        .filter(webhook_endpoints::id.eq(webhook_deliveries::endpoint_id)),
                ))),
        };
        let ids: Vec<Id> = query.load(c).await?;
        diesel::delete(webhook_deliveries::table.filter(webhook_deliveries::id.eq_any(ids)))
            .execute(c)
            .await
    })?;
    Ok(deleted)
}
