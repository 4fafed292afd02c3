//! Running work on a connection: each unit as a task of its own, under the deadline, with
//! the connection closed rather than pooled when the unit did not end cleanly.

use super::*;

/// Runs each SQLite call at once on the calling thread, instead of handing it to another
/// one: a unit of work's blocking thread (see [`Db::spawn`]), or, for the batched session
/// lookups (`lookups`), the HTTP worker's own thread.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct OnThisThread;

impl SpawnBlocking for OnThisThread {
    fn spawn_blocking<'a, R>(
        &mut self,
        task: impl FnOnce() -> R + Send + 'static,
    ) -> BoxFuture<'a, std::result::Result<R, Box<dyn std::error::Error + Send + Sync + 'static>>>
    where
        R: Send + 'static,
    {
        Box::pin(std::future::ready(Ok(task())))
    }

    fn get_runtime() -> Self {
        Self
    }
}

/// What a unit of database work is: the writer turn it takes on SQLite, and whether it
/// is wrapped in a transaction.
#[derive(Debug, Clone, Copy)]
pub(super) enum Unit {
    Read,
    /// A read of a few rows found by an index (see [`Db::short_read`]).
    ShortRead,
    /// Reads that must see one snapshot (see [`Db::snapshot_read`]).
    Snapshot,
    Write,
    Transaction,
}

/// Holds a connection while work runs with it; unless released after work that ended
/// cleanly, the connection is closed instead of returned to the pool: dropped half-way
/// (a deadline, a panic), a failed rollback, or a failure that may have been the
/// connection's own.
pub(crate) struct Guarded(pub(crate) Option<Conn>);

impl Guarded {
    pub(crate) fn conn(&mut self) -> &mut Conn {
        self.0
            .as_mut()
            .unwrap_or_else(|| unreachable!("the guard holds its connection until released"))
    }

    pub(crate) fn release(&mut self) {
        drop(self.0.take());
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        match self.0.take().map(|conn| conn.0) {
            Some(ConnInner::Pg(object)) => drop(Object::take(object)),
            Some(ConnInner::Sqlite(object)) => drop(Object::take(object)),
            None => {}
        }
    }
}

impl Db {
    pub(super) async fn checkout(pool: &DbPool, outbox: &Arc<webhooks::Outbox>) -> Result<Conn> {
        let busy = |err: deadpool::managed::PoolError<_>| {
            tracing::warn!(error = %err, "no database connection available");
            Error::ServiceUnavailable {
                retry_after_secs: 1,
            }
        };
        let inner = match pool {
            DbPool::Pg(pool) => ConnInner::Pg(pool.get().await.map_err(busy)?),
            DbPool::Sqlite(pool) => ConnInner::Sqlite(pool.get().await.map_err(busy)?),
        };
        let pending = Pending {
            outbox: Arc::clone(outbox),
            queued: Vec::new(),
            counts: Vec::new(),
            users: Vec::new(),
        };
        Ok(Conn(inner, pending))
    }

    /// Runs `work` with a connection, as its own task (see the module doc).
    pub async fn run<R, F>(&self, work: F) -> Result<R>
    where
        R: Send + 'static,
        F: for<'c> FnOnce(&'c mut Conn) -> BoxFuture<'c, Result<R>> + Send + 'static,
    {
        self.call(Unit::Read, self.timeout, work).await
    }

    /// Runs `work`, a read that may take longer than a request's deadline allows (a job's
    /// scan, such as the daily audit recount), as [`run`](Self::run) does within `deadline`.
    /// On PostgreSQL each statement is still bounded by the connection's
    /// `statement_timeout` (15 s, see `pool.rs`).
    pub async fn long_read<R, F>(&self, deadline: Duration, work: F) -> Result<R>
    where
        R: Send + 'static,
        F: for<'c> FnOnce(&'c mut Conn) -> BoxFuture<'c, Result<R>> + Send + 'static,
    {
        self.call(Unit::Read, deadline, work).await
    }

    /// Runs `work`, a short read (a few rows found by an index, such as a page of one
    /// person's tasks), as [`run`](Self::run) does, except on SQLite when started on an HTTP
    /// worker: then it is a task on that worker, its SQLite calls made on the worker's own
    /// thread, as the batched session lookups' are (`lookups`). A WAL reader does not wait
    /// for writers, and a short read costs less than the hand-off to a blocking thread and
    /// back that it saves. A read that may scan many rows must not come here: while it runs,
    /// the worker's other requests wait.
    pub async fn short_read<R, F>(&self, work: F) -> Result<R>
    where
        R: Send + 'static,
        F: for<'c> FnOnce(&'c mut Conn) -> BoxFuture<'c, Result<R>> + Send + 'static,
    {
        self.call(Unit::ShortRead, self.timeout, work).await
    }

    /// Runs `work`, reads that must agree with each other (a count and the page it
    /// places), as [`run`](Self::run) does, in one read-only transaction that sees one
    /// snapshot: `REPEATABLE READ` on PostgreSQL, a deferred `BEGIN` on SQLite (a WAL
    /// reader keeps the snapshot of its first read until it ends).
    pub async fn snapshot_read<R, F>(&self, work: F) -> Result<R>
    where
        R: Send + 'static,
        F: for<'c> FnOnce(&'c mut Conn) -> BoxFuture<'c, Result<R>> + Send + 'static,
    {
        self.call(Unit::Snapshot, self.timeout, work).await
    }

    /// Runs `work`, whose writes are single statements (each atomic on its own), as its own
    /// task. On SQLite it first waits for this process's writer turn, as a transaction does.
    pub async fn write<R, F>(&self, work: F) -> Result<R>
    where
        R: Send + 'static,
        F: for<'c> FnOnce(&'c mut Conn) -> BoxFuture<'c, Result<R>> + Send + 'static,
    {
        self.call(Unit::Write, self.timeout, work).await
    }

    /// Runs `work` in one transaction, as its own task (see the module doc). On SQLite the
    /// transaction takes the write lock up front (`BEGIN IMMEDIATE`), which makes
    /// read-then-write sequences safe; on PostgreSQL repositories lock rows they will change.
    pub async fn transaction<R, F>(&self, work: F) -> Result<R>
    where
        R: Send + 'static,
        F: for<'c> FnOnce(&'c mut Conn) -> BoxFuture<'c, Result<R>> + Send + 'static,
    {
        self.call(Unit::Transaction, self.timeout, work).await
    }

    /// Runs `work` as a task of its own within `deadline`, the writer turn and the checkout
    /// included. On PostgreSQL, past the deadline the caller gets 503 at once, and the
    /// task, still waiting on the database, is dropped where it waits (its connection
    /// closed, see [`Guarded`]). A SQLite call cannot be dropped half-way (it runs on a
    /// blocking thread): work that started is awaited, a write that went through is never
    /// answered 503, and each of its waits for a lock held elsewhere is bounded by the busy
    /// timeout, which is the deadline; work that could not start in time does not start.
    pub(super) async fn call<R, F>(&self, unit: Unit, deadline: Duration, work: F) -> Result<R>
    where
        R: Send + 'static,
        F: for<'c> FnOnce(&'c mut Conn) -> BoxFuture<'c, Result<R>> + Send + 'static,
    {
        let until = tokio::time::Instant::now() + deadline;
        let turn = match unit {
            Unit::Read | Unit::ShortRead | Unit::Snapshot => None,
            Unit::Write | Unit::Transaction => tokio::time::timeout_at(until, self.writer_turn())
                .await
                .map_err(|_| past_deadline(deadline))?,
        };
        let on_worker = matches!((unit, &self.pool), (Unit::ShortRead, DbPool::Sqlite(_)))
            && self.batches_lookups_here();
        let (pool, place) = match tokio::runtime::Handle::try_current() {
            Ok(worker) if on_worker => (self.pool.clone(), Place::Async(worker)),
            _ => self.route(),
        };
        let outbox = Arc::clone(&self.outbox);
        let preemptible = matches!(place, Place::Async(_));
        let task = Self::spawn(place, async move {
            let _turn = turn;
            if tokio::time::Instant::now() >= until {
                return Err(past_deadline(deadline));
            }
            let outcome = tokio::time::timeout_at(until, Self::guarded(&pool, &outbox, unit, work))
                .await
                .unwrap_or_else(|_| Err(past_deadline(deadline)));
            if let Err(Error::ServiceUnavailable { .. }) = outcome {
                pool.forget_idle();
            }
            outcome
        });
        let outcome = if preemptible {
            tokio::time::timeout_at(until, task)
                .await
                .unwrap_or_else(|_| Err(past_deadline(deadline)))
        } else {
            task.await
        };
        match (outcome, &self.sqlite_file) {
            (Err(Error::Internal(err)), Some(file)) => Err(disk_full(err, &file.path)),
            (outcome, _) => outcome,
        }
    }

    /// Checks a connection out and runs `work` with it (in a transaction for
    /// [`Unit::Transaction`] and [`Unit::Snapshot`], and for [`Unit::ShortRead`] on
    /// SQLite). The connection goes back to the pool only when the work ended as expected
    /// (successfully or with an error of the contract); otherwise, and when this future is
    /// dropped half-way, it is closed.
    pub(super) async fn guarded<R, F>(
        pool: &DbPool,
        outbox: &Arc<webhooks::Outbox>,
        unit: Unit,
        work: F,
    ) -> Result<R>
    where
        F: for<'c> FnOnce(&'c mut Conn) -> BoxFuture<'c, Result<R>>,
    {
        let mut guard = Guarded(Some(Self::checkout(pool, outbox).await?));
        let conn = guard.conn();
        let begin = match (unit, &conn.0) {
            (Unit::Transaction, ConnInner::Pg(_)) => Some("BEGIN"),
            (Unit::Transaction, ConnInner::Sqlite(_)) => Some("BEGIN IMMEDIATE"),
            // A short read's statements in one read transaction rather than one each:
            // SQLite takes and drops its WAL read lock (a few system calls) once, and the
            // statements read one snapshot.
            (Unit::ShortRead | Unit::Snapshot, ConnInner::Sqlite(_)) => Some("BEGIN"),
            (Unit::Snapshot, ConnInner::Pg(_)) => {
                Some("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            }
            _ => None,
        };
        let outcome = if let Some(begin) = begin {
            conn.batch(begin).await?;
            let outcome = match work(conn).await {
                Ok(value) => match write_counts(conn).await {
                    Ok(()) => conn.batch("COMMIT").await.map(|()| value),
                    Err(err) => Err(err),
                },
                Err(err) => Err(err),
            };
            if outcome.is_err() && conn.batch("ROLLBACK").await.is_err() {
                return outcome;
            }
            outcome
        } else {
            // Audit events are written in transactions only; counts left by other work
            // are written all the same.
            match work(conn).await {
                Ok(value) => write_counts(conn).await.map(|()| value),
                Err(err) => Err(err),
            }
        };
        if let Err(Error::Internal(_) | Error::ServiceUnavailable { .. }) = outcome {
            return outcome;
        }
        if outcome.is_ok() && !conn.1.queued.is_empty() {
            let queued = std::mem::take(&mut conn.1.queued);
            conn.1.outbox.committed(queued);
        }
        guard.release();
        outcome
    }

    /// On SQLite, waits for this process's turn to write. It is awaited before the work
    /// takes a blocking thread, so queued writers never hold threads that readers need.
    pub(super) async fn writer_turn(&self) -> Option<OwnedMutexGuard<()>> {
        match self.pool {
            DbPool::Pg(_) => None,
            DbPool::Sqlite(_) => Some(Arc::clone(&self.sqlite_writer).lock_owned().await),
        }
    }

    /// Runs `work` as a task of its own (see the module doc).
    pub(super) async fn spawn<R: Send + 'static>(
        place: Place,
        work: impl Future<Output = Result<R>> + Send + 'static,
    ) -> Result<R> {
        let task = match place {
            Place::Async(runtime) => runtime.spawn(work),
            Place::Blocking(runtime) => {
                let handle = runtime.clone();
                runtime.spawn_blocking(move || handle.block_on(work))
            }
        };
        task.await
            .map_err(|err| Error::internal(anyhow::anyhow!("a database task failed: {err}")))?
    }
}

/// Writes the counts a unit of work changed, right before it commits: the audit trail's,
/// then the users'. Every transaction takes those row locks last and in this one order,
/// so none can deadlock on them.
async fn write_counts(conn: &mut Conn) -> Result<()> {
    audit::write_counts(conn).await?;
    user_counts::write(conn).await
}
