//! SQLite's WAL is checkpointed by a thread of its own, so that no request pays for it.
//!
//! Left to SQLite, the commit that takes the WAL past 1,000 pages checkpoints it then and
//! there: it copies the pages into the database file and syncs both files (4–6 ms each on
//! our benchmark machine), while this process's other writers queue behind it for their
//! turn (`Db::writer_turn`). Under a login flood the WAL fills faster, and the refreshes
//! that queued behind a checkpoint doubled their p99. So every connection turns automatic
//! checkpoints off (`setup_sqlite`), and this thread runs a passive checkpoint every
//! [`EVERY`]: it waits for no reader or writer, and its syncs are its own.
//!
//! A passive checkpoint cannot finish while writes keep landing, and only a finished one
//! lets the next writer start the WAL from its beginning again. Should the WAL outgrow
//! [`MOST_PAGES`], the thread checkpoints once more while it holds the writers' turn, as
//! SQLite's own checkpoint did in the commit that held it, so that the WAL starts over.

use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use diesel::sql_types::Integer;
use diesel::{Connection, QueryableByName, RunQueryDsl, SqliteConnection};

/// How often the WAL is checkpointed.
const EVERY: Duration = Duration::from_millis(100);

/// Pages the WAL may hold after a checkpoint that writes outran before one that holds
/// them off: SQLite's own threshold.
const MOST_PAGES: i32 = 1_000;

/// The checkpointing thread of one database; it ends once this is dropped.
pub struct Checkpointer {
    _stop: mpsc::Sender<()>,
}

/// What `PRAGMA wal_checkpoint` answers: the pages in the WAL.
#[derive(QueryableByName)]
struct Outcome {
    #[diesel(sql_type = Integer)]
    log: i32,
}

impl Checkpointer {
    /// Starts checkpointing the database at `path`; `writers` is the turn this process's
    /// writers take.
    pub fn start(path: &str, writers: Arc<tokio::sync::Mutex<()>>) -> anyhow::Result<Self> {
        let mut conn = SqliteConnection::establish(path)?;
        diesel::sql_query("PRAGMA busy_timeout = 5000").execute(&mut conn)?;
        let (stop, stopped) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("doorman-checkpoint".to_owned())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(EVERY) {
                    if let Err(error) = checkpoint(&mut conn, &writers) {
                        tracing::warn!(%error, "SQLite checkpoint failed");
                    }
                }
            })?;
        Ok(Self { _stop: stop })
    }
}

fn checkpoint(
    conn: &mut SqliteConnection,
    writers: &tokio::sync::Mutex<()>,
) -> diesel::QueryResult<()> {
    let passive = || diesel::sql_query("PRAGMA wal_checkpoint(PASSIVE)");
    let outcome: Outcome = passive().get_result(conn)?;
    if outcome.log > MOST_PAGES {
        let _turn = writers.blocking_lock();
        passive().execute(conn)?;
    }
    Ok(())
}
