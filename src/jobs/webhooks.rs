//! The webhook delivery loop: attempts what is due, then waits for a commit on this
//! instance that queued deliveries (the outbox's bell) or for the next poll, which picks
//! up what other instances queued and retries that fell due. Each turn also re-reads which
//! types are subscribed, so an endpoint created on another instance is seen within a poll.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::service::{Context, webhooks};

/// How often the loop looks for due deliveries without being woken.
const POLL: Duration = Duration::from_secs(1);

/// Starts the loop on the current runtime.
pub fn spawn(
    ctx: Arc<Context>,
    sender: webhooks::Sender,
    mut stopping: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let holder = uuid::Uuid::new_v4().to_string();
    tokio::spawn(async move {
        let mut refreshed = tokio::time::Instant::now();
        while !*stopping.borrow() {
            if refreshed.elapsed() >= POLL {
                refreshed = tokio::time::Instant::now();
                if let Err(err) = webhooks::refresh_subscriptions(&ctx).await {
                    tracing::warn!(error = %err, "the webhook subscriptions could not be read");
                }
            }
            let claimed = match webhooks::deliver_due(&ctx, &sender, &holder).await {
                Ok(claimed) => claimed,
                Err(err) => {
                    tracing::warn!(error = %err, "webhook deliveries could not be claimed; trying again");
                    0
                }
            };
            // A whole batch: more may be due at once.
            if claimed == webhooks::BATCH as usize {
                continue;
            }
            tokio::select! {
                () = ctx.db.outbox().woken() => {}
                () = tokio::time::sleep(POLL) => {}
                _ = stopping.wait_for(|stopping| *stopping) => {}
            }
        }
    })
}
