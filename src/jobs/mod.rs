//! Background work: each job is a loop on its own task that runs service functions each
//! turn and logs what failed; each stops at its next turn once the server is stopping (the
//! `stopping` channel that `startup` sets on SIGTERM or SIGINT). A job holds no transaction
//! between turns, and each database step is a task of its own that completes (see `db`), so
//! a job ended at any point leaves nothing half done.

pub mod housekeeping;
pub mod retention;
pub mod webhooks;

use tokio::sync::watch;

/// Waits for the next tick of `ticks`, or returns `false` once the server is stopping.
async fn next_turn(
    ticks: &mut tokio::time::Interval,
    stopping: &mut watch::Receiver<bool>,
) -> bool {
    let ticked = tokio::select! {
        _ = ticks.tick() => true,
        _ = stopping.wait_for(|stopping| *stopping) => false,
    };
    ticked && !*stopping.borrow()
}
