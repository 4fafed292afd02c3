//! Retention: what the database no longer needs goes, in small batches, so tables stay
//! bounded under any steady load. One instance runs it per interval (a claimed row, no
//! lock held); each batch is a short transaction of its own (one delete; audit events also
//! come off their counts), with a pause between batches, so the job never holds a request
//! up for longer than one small delete. Once a day the run also recounts the audit trail
//! (`db::audit::uncounted`), and once an hour the users (`db::user_counts::uncounted`).

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Context, span};
use crate::clock;
use crate::db;
use crate::db::retention::SettledDeliveries;
use crate::error::Result;

/// Delivered webhook deliveries are kept this long (the contract's 7 days), and failed
/// ones as long after their event (at least six days after the last attempt).
const DELIVERIES_KEPT: Duration = Duration::from_secs(7 * 24 * 3600);
/// How often the audit trail's counts are checked against its events.
const RECOUNT_EVERY: Duration = Duration::from_secs(24 * 3600);
/// How long the recount's scan of the audit trail may take (ten million events: about a
/// second on PostgreSQL here).
const RECOUNT_DEADLINE: Duration = Duration::from_secs(60);
/// How often the users' counts are checked against the users: they place the user list's
/// deep pages, so a difference an upgrade left (users that an older instance wrote) should
/// not last long. A million users are counted in 0.2 s on PostgreSQL and 0.5 s on SQLite
/// (outside any transaction, so no writer waits).
const USER_RECOUNT_EVERY: Duration = Duration::from_secs(3600);
/// Rows removed by one statement at most.
const BATCH: i64 = 500;
/// The pause between two batches, which lets queued writers in.
const PAUSE: Duration = Duration::from_millis(20);

/// What one run removed, per table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Removed {
    pub sessions: usize,
    pub reset_tokens: usize,
    pub webauthn_challenges: usize,
    pub mfa_tokens: usize,
    pub login_throttles: usize,
    pub audit_events: usize,
    pub known_devices: usize,
    pub webhook_deliveries: usize,
}

/// Runs the job when no instance (this one included) has run it within the interval;
/// `None` when another did. `holder` names this instance in `job_runs`.
pub async fn run_if_due(ctx: &Context, holder: &str) -> Result<Option<Removed>> {
    let now = clock::now();
    // A tenth of slack, so an instance ticking every interval does not miss its turn by
    // the jitter of its own timer.
    let interval = ctx.settings.retention_interval;
    if !claim(ctx, "retention", holder, now, interval - interval / 10).await? {
        ctx.metrics.retention_run(false);
        return Ok(None);
    }
    ctx.metrics.retention_run(true);
    let settings = &ctx.settings;
    let mut removed = Removed {
        sessions: drain(
            ctx,
            Sweep::Sessions(now - span(session_retention(settings))),
        )
        .await?,
        reset_tokens: drain(ctx, Sweep::ResetTokens(now)).await?,
        webauthn_challenges: drain(ctx, Sweep::Challenges(now)).await?,
        mfa_tokens: drain(ctx, Sweep::MfaTokens(now)).await?,
        login_throttles: drain(
            ctx,
            Sweep::Throttles(now - super::auth::FAILURES_REMEMBERED),
        )
        .await?,
        audit_events: 0,
        known_devices: drain(ctx, Sweep::Devices(now - super::notify::DEVICES_REMEMBERED)).await?,
        webhook_deliveries: 0,
    };
    let kept = now - span(DELIVERIES_KEPT);
    for settled in [
        SettledDeliveries::Delivered(kept),
        SettledDeliveries::Failed(kept),
        SettledDeliveries::Orphaned,
    ] {
        removed.webhook_deliveries += drain(ctx, Sweep::Deliveries(settled)).await?;
    }
    if let Some(kept) = settings.audit_retention {
        removed.audit_events = drain(ctx, Sweep::AuditEvents(now - span(kept))).await?;
    }
    recount_if_due(ctx, holder, now).await?;
    recount_users_if_due(ctx, holder, now).await?;
    Ok(Some(removed))
}

/// Whether this instance (`holder`) takes the job `name`'s turn: when no instance has
/// within `every`.
async fn claim(
    ctx: &Context,
    name: &'static str,
    holder: &str,
    now: DateTime<Utc>,
    every: Duration,
) -> Result<bool> {
    let due = now - span(every);
    let holder = holder.to_owned();
    db::write!(ctx.db, |c| {
        db::retention::claim_run(c, name, &holder, now, due).await
    })
    .await
}

/// Recounts the audit trail when no instance has within [`RECOUNT_EVERY`] (and at the first
/// run after the counts were introduced), after refreshing SQLite's planner statistics.
async fn recount_if_due(ctx: &Context, holder: &str, now: DateTime<Utc>) -> Result<()> {
    if !claim(ctx, "audit_recount", holder, now, RECOUNT_EVERY).await? {
        return Ok(());
    }
    // The planner's statistics, daily too, as the data grows.
    if let Err(err) = ctx.db.optimize().await {
        tracing::warn!(error = %err, "refreshing SQLite's planner statistics failed");
    }
    let uncounted = ctx
        .db
        .long_read(RECOUNT_DEADLINE, |c| Box::pin(db::audit::uncounted(c)))
        .await?;
    if uncounted.is_empty() {
        tracing::info!("the audit trail's counts agree with its events");
        return Ok(());
    }
    tracing::info!(
        ?uncounted,
        "the audit trail's counts are corrected by a recount"
    );
    db::transaction!(ctx.db, |c| {
        db::audit::add_to_counts(c, uncounted);
        Ok(())
    })
    .await
}

/// Recounts the users when no instance has within [`USER_RECOUNT_EVERY`] (and at the first
/// run after the counts were introduced).
async fn recount_users_if_due(ctx: &Context, holder: &str, now: DateTime<Utc>) -> Result<()> {
    if !claim(ctx, "user_recount", holder, now, USER_RECOUNT_EVERY).await? {
        return Ok(());
    }
    let uncounted = ctx
        .db
        .long_read(RECOUNT_DEADLINE, |c| {
            Box::pin(db::user_counts::uncounted(c))
        })
        .await?;
    if uncounted.is_empty() {
        tracing::debug!("the users' counts agree with the users");
        return Ok(());
    }
    tracing::info!(?uncounted, "the users' counts are corrected by a recount");
    db::transaction!(ctx.db, |c| {
        db::user_counts::add_to_counts(c, uncounted);
        Ok(())
    })
    .await
}

/// `DOORMAN_SESSION_RETENTION`, but never shorter than the revocation feed lists a
/// revoked session (one access lifetime plus the leeway): an entry must not vanish from
/// the feed before its `expires_at`.
fn session_retention(settings: &super::Settings) -> Duration {
    settings
        .session_retention
        .max(settings.access_ttl + super::revocations::LEEWAY)
}

/// One table's sweep, with the moment before which its rows go.
#[derive(Debug, Clone, Copy)]
enum Sweep {
    /// Sessions revoked or expired before it.
    Sessions(DateTime<Utc>),
    /// Reset tokens used, or expired by it.
    ResetTokens(DateTime<Utc>),
    /// WebAuthn ceremonies that expired by it.
    Challenges(DateTime<Utc>),
    /// Second-step tokens used, or expired by it.
    MfaTokens(DateTime<Utc>),
    /// Failed-login rows without an attempt since it.
    Throttles(DateTime<Utc>),
    /// Audit events older than it.
    AuditEvents(DateTime<Utc>),
    /// Known devices not seen since it.
    Devices(DateTime<Utc>),
    /// Webhook deliveries that are settled (see [`SettledDeliveries`]).
    Deliveries(SettledDeliveries),
}

impl Sweep {
    fn table(self) -> &'static str {
        match self {
            Self::Sessions(_) => "sessions",
            Self::ResetTokens(_) => "password_reset_tokens",
            Self::Challenges(_) => "webauthn_challenges",
            Self::MfaTokens(_) => "mfa_tokens",
            Self::Throttles(_) => "login_throttles",
            Self::AuditEvents(_) => "audit_events",
            Self::Devices(_) => "known_devices",
            Self::Deliveries(_) => "webhook_deliveries",
        }
    }

    async fn batch(self, c: &mut db::Conn) -> Result<usize> {
        match self {
            Self::Sessions(before) => db::retention::delete_ended_sessions(c, before, BATCH).await,
            Self::ResetTokens(now) => db::retention::delete_spent_reset_tokens(c, now, BATCH).await,
            Self::Challenges(now) => db::passkeys::delete_expired_challenges(c, now, BATCH).await,
            Self::MfaTokens(now) => db::retention::delete_spent_mfa_tokens(c, now, BATCH).await,
            Self::Throttles(before) => db::retention::delete_idle_throttles(c, before, BATCH).await,
            Self::AuditEvents(before) => db::audit::delete_older_than(c, before, BATCH).await,
            Self::Devices(before) => db::retention::delete_stale_devices(c, before, BATCH).await,
            Self::Deliveries(settled) => {
                db::retention::delete_settled_webhooks(c, settled, BATCH).await
            }
        }
    }
}

/// Runs `sweep` a batch at a time until a batch is not whole; how many rows it removed.
async fn drain(ctx: &Context, sweep: Sweep) -> Result<usize> {
    let mut total = 0;
    loop {
        // A transaction: an audit batch's rows and their counts go together.
        let removed = db::transaction!(ctx.db, |c| { sweep.batch(c).await }).await?;
        total += removed;
        ctx.metrics.retention_removed(sweep.table(), removed);
        if removed < BATCH as usize {
            return Ok(total);
        }
        tokio::time::sleep(PAUSE).await;
    }
}
