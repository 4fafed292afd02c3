//! Every 20 s: re-read the signing keys, to learn of rotations made elsewhere (the contract
//! publishes a rotated key on every instance within 30 s), and forget idle clients of the
//! per-IP rate limiter.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::http::limits::IpRateLimit;
use crate::service::{Context, keys};

const INTERVAL: Duration = Duration::from_secs(20);

/// Starts the loop on the current runtime; its first turn is one interval from now.
pub fn spawn(
    ctx: Arc<Context>,
    limits: Arc<IpRateLimit>,
    mut stopping: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(INTERVAL);
        ticks.tick().await;
        while super::next_turn(&mut ticks, &mut stopping).await {
            limits.forget_idle();
            if let Err(err) = keys::reload(&ctx).await {
                tracing::warn!(error = %err, "reloading signing keys failed");
            }
        }
    })
}
