//! The retention loop: one turn at start and one each `DOORMAN_RETENTION_INTERVAL`; the
//! instance that claims the turn does the work (see `service::retention`).

use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::service::{Context, retention};

/// Starts the loop on the current runtime; its first turn is now.
pub fn spawn(ctx: Arc<Context>, mut stopping: watch::Receiver<bool>) -> JoinHandle<()> {
    let holder = uuid::Uuid::new_v4().to_string();
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(ctx.settings.retention_interval);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        while super::next_turn(&mut ticks, &mut stopping).await {
            match retention::run_if_due(&ctx, &holder).await {
                Ok(Some(removed)) => tracing::info!(
                    sessions = removed.sessions,
                    reset_tokens = removed.reset_tokens,
                    webauthn_challenges = removed.webauthn_challenges,
                    login_throttles = removed.login_throttles,
                    audit_events = removed.audit_events,
                    webhook_deliveries = removed.webhook_deliveries,
                    "retention removed what is no longer needed"
                ),
                Ok(None) => tracing::debug!("retention ran on another instance this interval"),
                Err(err) => {
                    tracing::warn!(error = %err, "retention failed; it runs again next interval")
                }
            }
        }
    })
}
