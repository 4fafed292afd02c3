//! The webhook delivery loop. Each turn it attempts the deliveries this instance committed
//! (handed over by the outbox and claimed by key), and once a poll the due index's: what
//! other instances queued, retries that fell due, and what was handed over past the
//! outbox's bound. Then it waits for the outbox's bell (and `GATHER`) or for the next poll.
//! Once a poll it also re-reads which types are subscribed, so an endpoint created on
//! another instance is seen within a poll.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::db::webhooks::Lease;
use crate::service::{Context, span, webhooks};

/// How often the loop reads the due index and the subscriptions.
const POLL: Duration = Duration::from_secs(1);
/// How long the loop lets the bell's deliveries gather before it claims them: under a
/// steady stream of commits (a hundred registrations a second) one claim and one record
/// then serve ten deliveries, where each delivery had a claim, a record and two thread
/// hand-offs of its own (measured in `bench/RESULTS.md` (j)). What it adds to a
/// delivery's latency is small beside a receiver's and the retries' (seconds to hours).
const GATHER: Duration = Duration::from_millis(100);

/// Starts the loop on the current runtime.
pub fn spawn(
    ctx: Arc<Context>,
    sender: webhooks::Sender,
    mut stopping: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let holder = uuid::Uuid::new_v4().to_string();
    ctx.db.outbox().lease_to(Lease {
        holder: Arc::from(holder.as_str()),
        length: span(webhooks::LEASE),
    });
    tokio::spawn(async move {
        let mut next_poll = Instant::now();
        // The last read of the due index filled a batch: more may be due at once.
        let mut more = false;
        while !*stopping.borrow() {
            let poll = Instant::now() >= next_poll;
            if poll {
                next_poll = Instant::now() + POLL;
                if let Err(err) = webhooks::refresh_subscriptions(&ctx).await {
                    tracing::warn!(error = %err, "the webhook subscriptions could not be read");
                }
            }
            let committed = ctx.db.outbox().take_committed();
            for ids in committed.chunks(webhooks::BATCH as usize) {
                turn(&ctx, &sender, &holder, Some(ids.to_vec())).await;
            }
            if poll || more {
                more = turn(&ctx, &sender, &holder, None).await == webhooks::BATCH as usize;
                if more {
                    continue;
                }
            }
            let rung = tokio::select! {
                () = ctx.db.outbox().woken() => true,
                () = tokio::time::sleep_until(next_poll) => false,
                _ = stopping.wait_for(|stopping| *stopping) => false,
            };
            if rung {
                tokio::time::sleep(GATHER).await;
            }
        }
        if let Err(err) = webhooks::release(&ctx, &holder).await {
            tracing::warn!(error = %err, "webhook deliveries not attempted before stopping wait for their lease to end");
        }
    })
}

/// One claim and its attempts; how many were claimed.
async fn turn(
    ctx: &Context,
    sender: &webhooks::Sender,
    holder: &str,
    only: Option<Vec<crate::domain::DeliveryId>>,
) -> usize {
    match webhooks::deliver_due(ctx, sender, holder, only).await {
        Ok(claimed) => claimed,
        Err(err) => {
            tracing::warn!(error = %err, "webhook deliveries could not be claimed; trying again");
            0
        }
    }
}
