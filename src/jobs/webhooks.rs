//! The webhook delivery loop: attempts what is due, then waits for a commit on this
//! instance that queued deliveries (the outbox's bell, then `GATHER`) or for the next
//! poll, which picks up what other instances queued and retries that fell due. Each turn
//! also re-reads which types are subscribed, so an endpoint created on another instance is
//! seen within a poll.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::service::{Context, webhooks};

/// How often the loop looks for due deliveries without being woken.
const POLL: Duration = Duration::from_secs(1);
/// How long the loop lets the bell's deliveries gather before it claims them: under a
/// steady stream of commits (a hundred registrations a second) one claim and one record
/// then serve several deliveries, where each delivery had a claim, a record and two
/// thread hand-offs of its own (measured in `bench/RESULTS.md` (j)). What it adds to a
/// delivery's latency is small beside the network's.
const GATHER: Duration = Duration::from_millis(25);

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
            let rung = tokio::select! {
                () = ctx.db.outbox().woken() => true,
                () = tokio::time::sleep(POLL) => false,
                _ = stopping.wait_for(|stopping| *stopping) => false,
            };
            if rung {
                tokio::time::sleep(GATHER).await;
            }
        }
    })
}
