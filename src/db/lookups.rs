//! Session lookups that arrive together on one HTTP worker share one trip to the database.
//!
//! Every authenticated request reads its session and user. On PostgreSQL each read is a
//! round trip: a protocol exchange, a wake-up of a backend process and one of this worker,
//! an executor start; on SQLite it is a hop to a blocking thread and back. Under load many
//! requests on one worker reach that read in the same turn of its event loop. The first
//! schedules a flush; the others join its batch until the flush holds a connection, and
//! then one trip answers them all: on PostgreSQL one `WHERE id = ANY($1)` (a batch of one
//! takes the single-row query), on SQLite the same cached single-row query once per
//! session, run on the worker's own thread. A request on its own waits for nothing but one
//! task switch.
//!
//! A batch is read after each of its requests arrived, so no answer is older than its
//! request: a session revoked before the request is seen as revoked.
//!
//! On SQLite the batch runs on the worker's own thread. A WAL reader does not wait for
//! writers; the one wait it can meet, SQLite's busy handler while another connection
//! resets the WAL or recovers its index, would hold up this worker's other requests for
//! that long.

use std::cell::RefCell;
use std::sync::{Arc, Mutex, PoisonError};

use futures_util::future::BoxFuture;
use tokio::sync::oneshot;

use super::{Db, Guarded, past_deadline, sessions};
use crate::domain::{Session, SessionId, User};
use crate::error::{Error, Result};

/// The most lookups one trip answers; more waiting start another flush at once.
const MAX_BATCH: usize = 128;

type Answer = Result<Option<(Session, User)>>;
type Waiting = Vec<(SessionId, oneshot::Sender<Answer>)>;

/// The lookups of one HTTP worker waiting for a flush, for one `Db`.
#[derive(Default)]
struct Queue {
    waiting: Waiting,
    flush_scheduled: bool,
}

type SharedQueue = Arc<Mutex<Queue>>;

thread_local! {
    static QUEUES: RefCell<Vec<(usize, SharedQueue)>> = const { RefCell::new(Vec::new()) };
}

fn lock(queue: &SharedQueue) -> std::sync::MutexGuard<'_, Queue> {
    queue.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Db {
    /// Batches the session lookups that this `Db` makes on the calling thread, an HTTP
    /// worker with a runtime of its own.
    pub(super) fn batch_lookups_on_this_thread(&self) {
        QUEUES.with_borrow_mut(|queues| {
            if !queues.iter().any(|(db, _)| *db == self.id) {
                queues.push((self.id, SharedQueue::default()));
            }
        });
    }

    /// Whether the calling thread is an HTTP worker that batches this `Db`'s lookups.
    pub(super) fn batches_lookups_here(&self) -> bool {
        QUEUES.with_borrow(|queues| queues.iter().any(|(db, _)| *db == self.id))
    }

    /// The session and its user (`sessions::find_with_user`): what every authenticated
    /// request checks. On an HTTP worker the lookup is batched with the worker's other
    /// lookups (see the module doc).
    pub async fn session_with_user(&self, id: SessionId) -> Answer {
        let queue = QUEUES.with_borrow(|queues| {
            queues
                .iter()
                .find(|(db, _)| *db == self.id)
                .map(|(_, queue)| Arc::clone(queue))
        });
        let Some(queue) = queue else {
            return self
                .run(move |c| Box::pin(sessions::find_with_user(c, id)))
                .await;
        };
        let (answer, answered) = oneshot::channel();
        let schedule = {
            let mut queue = lock(&queue);
            queue.waiting.push((id, answer));
            !std::mem::replace(&mut queue.flush_scheduled, true)
        };
        if schedule {
            tokio::spawn(flush(self.clone(), queue));
        }
        answered.await.unwrap_or_else(|_| {
            Err(Error::internal(anyhow::anyhow!(
                "a batched session lookup was dropped"
            )))
        })
    }
}

/// Takes a connection, then the waiting lookups (those that arrived meanwhile included),
/// and answers them in one trip. A task of its own, so that a request that goes away
/// cannot cut the others' answers short. It runs on the worker's own thread: on SQLite the
/// reads run right here too (WAL readers do not wait for writers), which saves the two
/// thread hops a trip to a blocking thread costs.
fn flush(db: Db, queue: SharedQueue) -> BoxFuture<'static, ()> {
    Box::pin(async move {
        let (pool, _) = db.route();
        let until = tokio::time::Instant::now() + db.timeout;
        let conn = tokio::time::timeout_at(until, Db::checkout(&pool, &db.outbox))
            .await
            .unwrap_or_else(|_| Err(past_deadline(db.timeout)));
        let (batch, more) = {
            let mut queue = lock(&queue);
            // Without a connection, answer everyone waiting (with the error).
            let n = match conn {
                Ok(_) => queue.waiting.len().min(MAX_BATCH),
                Err(_) => queue.waiting.len(),
            };
            let batch: Waiting = queue.waiting.drain(..n).collect();
            queue.flush_scheduled = !queue.waiting.is_empty();
            (batch, queue.flush_scheduled)
        };
        if more {
            tokio::spawn(flush(db.clone(), Arc::clone(&queue)));
        }
        let found = match conn {
            Ok(conn) => {
                let mut ids: Vec<SessionId> = batch.iter().map(|(id, _)| *id).collect();
                ids.sort_unstable_by_key(|id| id.0);
                ids.dedup();
                // Closed unless the read ends cleanly within the deadline (see `Guarded`).
                let mut guard = Guarded(Some(conn));
                let found = tokio::time::timeout_at(
                    until,
                    sessions::find_many_with_user(guard.conn(), &ids),
                )
                .await
                .unwrap_or_else(|_| Err(past_deadline(db.timeout)));
                if found.is_ok() {
                    guard.release();
                }
                found
            }
            Err(err) => Err(err),
        };
        if let Err(Error::ServiceUnavailable { .. }) = found {
            pool.forget_idle();
        }
        answer(batch, found);
    })
}

fn answer(batch: Waiting, found: Result<Vec<(Session, User)>>) {
    match found {
        Ok(rows) => {
            for (id, answer) in batch {
                let row = rows.iter().find(|(session, _)| session.id == id).cloned();
                let _ = answer.send(Ok(row));
            }
        }
        Err(err) => {
            // The first waiter gets the error itself (and logs it); the others a copy.
            let copy = copy_of(&err);
            let mut batch = batch.into_iter();
            if let Some((_, answer)) = batch.next() {
                let _ = answer.send(Err(err));
            }
            for (_, answer) in batch {
                let _ = answer.send(Err(copy()));
            }
        }
    }
}

fn copy_of(err: &Error) -> impl Fn() -> Error + use<> {
    let busy = match err {
        Error::ServiceUnavailable { retry_after_secs } => Some(*retry_after_secs),
        _ => None,
    };
    let message = err.to_string();
    move || match busy {
        Some(retry_after_secs) => Error::ServiceUnavailable { retry_after_secs },
        None => Error::internal(anyhow::anyhow!(
            "a batched session lookup failed: {message}"
        )),
    }
}
