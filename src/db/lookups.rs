//! Session lookups that arrive together on one HTTP worker share one query.
//!
//! Every authenticated request reads its session and user, and on PostgreSQL each read
//! is a round trip: a protocol exchange, a wake-up of a backend process and one of this
//! worker, an executor start. Under load many requests on one worker reach that read in
//! the same turn of its event loop. The first schedules a flush task; the others join its
//! batch until the task runs (after this turn's other ready tasks) and holds a
//! connection; then one `WHERE id = ANY($1)` answers them all. A request on its own waits
//! for nothing but that one task switch.
//!
//! A batch's query starts after each of its requests arrived, so no answer is older than
//! its request: a session revoked before the request is seen as revoked.

use std::cell::RefCell;

use diesel_async::AsyncPgConnection;
use futures_util::future::BoxFuture;
use tokio::sync::oneshot;

use super::{Db, DbPool, Pool, sessions};
use crate::domain::{Session, SessionId, User};
use crate::error::{Error, Result};

/// The most lookups one query answers; more waiting start another flush at once.
const MAX_BATCH: usize = 128;

type Answer = Result<Option<(Session, User)>>;

/// The lookups waiting for a flush on this thread, for one `Db`.
struct Queue {
    db: usize,
    waiting: Vec<(SessionId, oneshot::Sender<Answer>)>,
    flush_scheduled: bool,
}

thread_local! {
    static QUEUES: RefCell<Vec<Queue>> = const { RefCell::new(Vec::new()) };
}

fn with_queue<R>(db: usize, f: impl FnOnce(&mut Queue) -> R) -> R {
    QUEUES.with_borrow_mut(|queues| {
        let at = match queues.iter().position(|q| q.db == db) {
            Some(at) => at,
            None => {
                queues.push(Queue {
                    db,
                    waiting: Vec::new(),
                    flush_scheduled: false,
                });
                queues.len() - 1
            }
        };
        f(&mut queues[at])
    })
}

/// `sessions::find_with_user`, batched with the other lookups of this worker thread that
/// use `pool`, its own pool. Runs on the worker's runtime.
pub(super) async fn session_with_user(
    db: usize,
    pool: Pool<AsyncPgConnection>,
    id: SessionId,
) -> Answer {
    let (answer, answered) = oneshot::channel();
    let schedule = with_queue(db, |queue| {
        queue.waiting.push((id, answer));
        !std::mem::replace(&mut queue.flush_scheduled, true)
    });
    if schedule {
        tokio::spawn(flush(db, pool));
    }
    answered.await.unwrap_or_else(|_| {
        Err(Error::internal(anyhow::anyhow!(
            "a batched session lookup was dropped"
        )))
    })
}

/// Takes a connection, then the waiting lookups (those that arrived meanwhile included),
/// and answers them with one query. A task of its own, so that a request that goes away
/// cannot cut the others' answers short.
fn flush(db: usize, pool: Pool<AsyncPgConnection>) -> BoxFuture<'static, ()> {
    Box::pin(async move {
        let conn = Db::checkout(&DbPool::Pg(pool.clone())).await;
        let (batch, more) = with_queue(db, |queue| {
            let n = queue.waiting.len().min(MAX_BATCH);
            let batch: Vec<_> = queue.waiting.drain(..n).collect();
            queue.flush_scheduled = !queue.waiting.is_empty();
            (batch, queue.flush_scheduled)
        });
        if more {
            tokio::spawn(flush(db, pool));
        }
        let found = match conn {
            Ok(mut conn) => {
                let mut ids: Vec<SessionId> = batch.iter().map(|(id, _)| *id).collect();
                ids.sort_unstable_by_key(|id| id.0);
                ids.dedup();
                sessions::find_many_with_user(&mut conn, &ids).await
            }
            Err(err) => Err(err),
        };
        match found {
            Ok(rows) => {
                for (id, answer) in batch {
                    let row = rows.iter().find(|(session, _)| session.id == id).cloned();
                    let _ = answer.send(Ok(row));
                }
            }
            Err(err) => {
                // The first waiter gets the error itself (and logs it); the others a copy.
                let mut batch = batch.into_iter();
                let copy = copy_of(&err);
                if let Some((_, answer)) = batch.next() {
                    let _ = answer.send(Err(err));
                }
                for (_, answer) in batch {
                    let _ = answer.send(Err(copy()));
                }
            }
        }
    })
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

impl Db {
    /// The session and its user (`sessions::find_with_user`): what every authenticated
    /// request checks. On an HTTP worker with its own PostgreSQL pool the lookup is batched
    /// with the worker's other lookups (see the module doc).
    pub async fn session_with_user(&self, id: SessionId) -> Answer {
        match self.worker_pool() {
            Some(pool) => session_with_user(self.id, pool, id).await,
            None => {
                self.run(move |c| Box::pin(sessions::find_with_user(c, id)))
                    .await
            }
        }
    }
}
