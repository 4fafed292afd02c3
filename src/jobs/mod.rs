//! Background work: each job is a loop on its own task that runs one service function per
//! turn, logs what it did, and counts it in the metrics. A job holds no transaction between
//! turns, so ending its task (at shutdown) between or during turns leaves nothing half done:
//! each database step is a task of its own that completes (see `db`).

pub mod retention;
