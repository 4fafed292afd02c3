//! SQLite's WAL is checkpointed by a thread of its own, so that no request pays for it.
//!
//! Left to SQLite, the commit that takes the WAL past 1,000 pages checkpoints it then and
//! there: it copies the pages into the database file and syncs both files (4–6 ms each on
//! our benchmark machine), while this process's other writers queue behind it for their
//! turn (`Db::writer_turn`). Under a login flood the WAL fills faster, and the refreshes
//! that queued behind a checkpoint doubled their p99. So every connection leaves
//! checkpoints to this thread (`setup_sqlite` raises SQLite's own threshold to 10,000
//! pages, a backstop should the thread ever stall), which runs a passive checkpoint every
//! [`EVERY`]: it waits for no reader or writer, and its syncs are its own.
//!
//! A passive checkpoint cannot finish while writes keep landing, and only a finished one
//! lets the next writer start the WAL from its beginning again. Should the WAL outgrow
//! [`MOST_PAGES`] with pages still to copy, the thread checkpoints once more while it
//! holds the turn that write transactions take, as SQLite's own checkpoint did in the
//! commit that held it (single-statement writes take no turn, but they are brief).
//!
//! The thread's connection is the database's last to close (see `Drop`), and SQLite
//! checkpoints the whole WAL when its last connection closes.

use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use diesel::sql_types::Integer;
use diesel::{Connection, QueryableByName, RunQueryDsl, SqliteConnection};

/// How often the WAL is checkpointed.
const EVERY: Duration = Duration::from_millis(100);

/// Pages the WAL may hold, some of them not yet copied, before a checkpoint that holds
/// write transactions off: SQLite's own threshold.
const MOST_PAGES: i32 = 1_000;

/// The checkpointing thread of one database.
pub struct Checkpointer {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// What `PRAGMA wal_checkpoint` answers: the pages in the WAL, and how many of them the
/// database file has.
#[derive(QueryableByName)]
struct Outcome {
    #[diesel(sql_type = Integer)]
    log: i32,
    #[diesel(sql_type = Integer)]
    checkpointed: i32,
}

impl Checkpointer {
    /// Starts checkpointing the database at `path`; `writers` is the turn this process's
    /// write transactions take.
    pub fn start(path: &str, writers: Arc<tokio::sync::Mutex<()>>) -> anyhow::Result<Self> {
        let mut conn = SqliteConnection::establish(path)?;
        diesel::sql_query("PRAGMA busy_timeout = 5000").execute(&mut conn)?;
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("doorman-checkpoint".to_owned())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(EVERY) {
                    if let Err(error) = checkpoint(&mut conn, &writers) {
                        tracing::warn!(%error, "SQLite checkpoint failed");
                    }
                }
            })?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

/// Ends the thread and waits for it, so that its connection, the last, has checkpointed
/// the WAL into the database file before the process goes on or exits.
impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn checkpoint(
    conn: &mut SqliteConnection,
    writers: &tokio::sync::Mutex<()>,
) -> diesel::QueryResult<()> {
    let passive = || diesel::sql_query("PRAGMA wal_checkpoint(PASSIVE)");
    let outcome: Outcome = passive().get_result(conn)?;
    if outcome.log > MOST_PAGES && outcome.checkpointed < outcome.log {
        let _turn = writers.blocking_lock();
        passive().execute(conn)?;
    }
    Ok(())
}
