//! The only module that knows Diesel. One pool type for two backends, chosen by the
//! `DATABASE_URL` scheme; each query is written once and expanded per backend by `run!`.
//!
//! Database work always runs as a task of its own, never inside a request's future: when
//! actix drops a request (the client went away, or another extractor failed first), the
//! work still finishes, a transaction still commits or rolls back, and the connection goes
//! back to the pool clean. (Dropped mid-flight, diesel-async work could hand its
//! connection back to the pool in the middle of a transaction.)
//!
//! - PostgreSQL: each HTTP worker thread has a pool of its own ([`Db::adopt_worker_thread`])
//!   whose connections, and their driver tasks, live on that worker's runtime; a request's
//!   work is a task on the same thread, so no thread hands it to another. Work started
//!   anywhere else uses the shared pool on the runtime that built the `Db`.
//! - SQLite: work runs whole on one of that runtime's blocking threads, each SQLite call
//!   directly on that thread ([`OnThisThread`]): one thread hop per unit of work instead of
//!   two per query.
//! - Both: the session lookups that an HTTP worker's requests make together share one trip
//!   ([`Db::session_with_user`], `lookups`; on SQLite these reads run on the worker's own
//!   thread, through diesel's own connection: `sessions::find_many_with_user`), and writes
//!   are prepared once per connection (`prepared`).
//!
//! Every call has a deadline ([`Db::connect_with_timeout`], `DOORMAN_DB_TIMEOUT`): past it the
//! caller gets `503 service_unavailable`, and the connection, which may be in the middle of
//! a query or a transaction, is closed instead of going back to the pool. A connection whose
//! work failed unexpectedly is closed too, and when the database looks unreachable (a
//! deadline passed, a connection broke) the pool's idle connections go with it: they were
//! opened to the same server, and a frozen one gives no sign until a query hangs.
//!
//! Lookups by a unique key use `get_result`, not `first`: `first` adds a bound `LIMIT ?`,
//! and SQLite compiles a statement again each time a parameter that its LIMIT reads is
//! bound, which made every cached statement parse and plan anew.

pub mod audit;
mod checkpoint;
pub mod keys;
pub mod login_throttles;
mod lookups;
pub mod password_resets;
mod prepared;
pub mod retention;
pub mod schema;
pub mod sessions;
pub mod tasks;
pub mod types;
pub mod users;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use deadpool::Runtime;
use deadpool::managed::{Object, QueueMode, Timeouts};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::{ConnectionError, SqliteConnection};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod, SetupCallback,
};
use diesel_async::sync_connection_wrapper::SpawnBlocking;
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_async::{
    AsyncConnection, AsyncMigrationHarness, AsyncPgConnection, SimpleAsyncConnection,
};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use futures_util::future::BoxFuture;
use tokio::sync::OwnedMutexGuard;

use crate::error::{Error, Result};

const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// Serialises migrations of instances that start together on one PostgreSQL database: a
/// row locked `FOR UPDATE` by a connection of its own while another migrates. Its table
/// cannot come from a migration, since it guards them; two instances creating it at once
/// can collide in the catalog, hence the retries.
const MIGRATION_LOCK_TABLE: &str = "CREATE TABLE IF NOT EXISTS doorman_migration_lock \
     (id INT PRIMARY KEY); \
     INSERT INTO doorman_migration_lock (id) VALUES (1) ON CONFLICT DO NOTHING";
const MIGRATION_LOCK: &str = "BEGIN; SELECT id FROM doorman_migration_lock WHERE id = 1 FOR UPDATE";

/// The deadline of a database call unless configured (`DOORMAN_DB_TIMEOUT`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// The readiness probe's own deadline, shorter than a request's when that is longer.
const READY_DEADLINE: Duration = Duration::from_secs(2);

static NEXT_ID: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This HTTP worker's PostgreSQL pool, and the id of the `Db` it belongs to.
    static WORKER_POOL: std::cell::RefCell<Option<(usize, Pool<AsyncPgConnection>)>> =
        const { std::cell::RefCell::new(None) };
}

#[doc(hidden)]
pub type SqliteConn = SyncConnectionWrapper<SqliteConnection, OnThisThread>;
type Manager<C> = AsyncDieselConnectionManager<C>;
type Pool<C> = deadpool::managed::Pool<Manager<C>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

#[derive(Clone)]
pub struct Db {
    pool: DbPool,
    runtime: tokio::runtime::Handle,
    /// Tells this `Db`'s worker pools (see `adopt_worker_thread`) from another's.
    id: usize,
    /// For worker pools (empty on SQLite).
    pg_url: Arc<str>,
    /// The SQLite database file as it was opened, for the readiness check (`None` on
    /// PostgreSQL).
    sqlite_file: Option<Arc<SqliteFile>>,
    /// Every worker pool, for `stats`.
    worker_pools: Arc<std::sync::Mutex<Vec<Pool<AsyncPgConnection>>>>,
    /// SQLite has one writer at a time. Write transactions of this process queue here, in
    /// order, instead of in SQLite's busy handler, which sleeps and retries and so gave
    /// concurrent refreshes a p99 above a second.
    sqlite_writer: Arc<tokio::sync::Mutex<()>>,
    /// The deadline of every call (see the module doc).
    timeout: Duration,
    /// On SQLite, the thread that checkpoints the WAL (see `checkpoint`).
    _checkpointer: Option<Arc<checkpoint::Checkpointer>>,
}

#[derive(Clone)]
enum DbPool {
    Pg(Pool<AsyncPgConnection>),
    Sqlite(Pool<SqliteConn>),
}

impl DbPool {
    /// Closes the idle PostgreSQL connections: after a deadline passed or a connection
    /// broke, the others to the same server are no better, and a frozen server gives no
    /// sign until a query hangs. (SQLite connections are local files: kept.)
    fn forget_idle(&self) {
        if let Self::Pg(pool) = self {
            pool.retain(|_, _| false);
        }
    }
}

/// Where a unit of database work runs: as an async task of a runtime, or whole on one of
/// its blocking threads.
enum Place {
    Async(tokio::runtime::Handle),
    Blocking(tokio::runtime::Handle),
}

/// A pooled connection of either backend. Repositories take `&mut Conn`.
pub struct Conn(ConnInner);

#[doc(hidden)]
#[expect(
    clippy::large_enum_variant,
    reason = "one per request, held in place; boxing would add an allocation to every checkout"
)]
pub enum ConnInner {
    Pg(Object<Manager<AsyncPgConnection>>),
    Sqlite(Object<Manager<SqliteConn>>),
}

/// Pool figures for metrics.
#[derive(Debug, Clone, Copy, Default)]
pub struct PoolStats {
    pub size: usize,
    pub idle: usize,
    pub waiting: usize,
    pub max: usize,
}

/// Runs `$body` with `$c` bound to the backend's connection; the body is compiled once
/// per backend, so each query is written once and type-checked for both.
macro_rules! run {
    ($conn:expr, |$c:ident| $body:expr) => {
        match &mut $conn.0 {
            $crate::db::ConnInner::Pg(object) => {
                let $c: &mut diesel_async::AsyncPgConnection = &mut **object;
                $body
            }
            $crate::db::ConnInner::Sqlite(object) => {
                let $c: &mut $crate::db::SqliteConn = &mut **object;
                $body
            }
        }
    };
}
pub(crate) use run;

/// Executes independent statements (`$query`, each a Diesel statement value, written once)
/// together, **inside a transaction** ([`Db::transaction`]). On SQLite one after another.
/// On PostgreSQL in one pipeline: every statement is sent before the first answer comes
/// back, so one round trip for all of them (see diesel-async's `AsyncPgConnection` docs)
/// once the connection has them prepared (diesel-async prepares a statement new to the
/// connection under its cache lock, so those go one at a time). The first failure is the
/// outcome: on PostgreSQL the statements after it fail too (the transaction is aborted),
/// and the transaction rolls back. Outside a transaction each statement would commit on its own, those after a
/// failure included on PostgreSQL but not on SQLite, hence the rule.
macro_rules! execute_together {
    ($conn:expr, [$($query:expr),+ $(,)?]) => {
        match &mut $conn.0 {
            $crate::db::ConnInner::Pg(object) => {
                let pg: &diesel_async::AsyncPgConnection = &**object;
                // Each future is boxed, so they are of one type; polled in order, they are
                // sent in order.
                futures_util::future::try_join_all([
                    $(diesel_async::RunQueryDsl::execute($query, &mut &*pg)),+
                ])
                .await
                .map(|_| ())
            }
            $crate::db::ConnInner::Sqlite(object) => {
                let c: &mut $crate::db::SqliteConn = &mut **object;
                async {
                    $(diesel_async::RunQueryDsl::execute($query, &mut *c).await?;)+
                    diesel::QueryResult::Ok(())
                }
                .await
            }
        }
    };
}
pub(crate) use execute_together;

impl Db {
    /// Opens a pool for `url` (`sqlite://PATH` or `postgres://...`), with the default deadline.
    pub async fn connect(url: &str, max_size: usize) -> anyhow::Result<Self> {
        Self::connect_with_timeout(url, max_size, DEFAULT_TIMEOUT).await
    }

    /// Opens a pool for `url` whose calls each answer within `timeout` (see the module doc).
    pub async fn connect_with_timeout(
        url: &str,
        max_size: usize,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let timeout = timeout.max(Duration::from_millis(1));
        let busy_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        let postgres = url.starts_with("postgres://") || url.starts_with("postgresql://");
        let sqlite_writer = Arc::default();
        let (pool, sqlite_file, checkpointer) = if postgres {
            let pool = pg_pool(url, max_size)?;
            let pool = first_connection(pool, "cannot connect to PostgreSQL").await?;
            (DbPool::Pg(pool), None, None)
        } else {
            let path = sqlite_path(url)?;
            let setup: SetupCallback<SqliteConn> =
                Box::new(move |path| Box::pin(setup_sqlite(path.to_owned(), busy_ms)));
            let pool = build_pool(&path, setup, max_size)?;
            let pool = first_connection(pool, "cannot open the SQLite database").await?;
            let id = file_id(&path).context("cannot read the SQLite database file")?;
            let checkpointer = checkpoint::Checkpointer::start(&path, Arc::clone(&sqlite_writer))
                .context("cannot start checkpointing the SQLite database")?;
            (
                DbPool::Sqlite(pool),
                Some(Arc::new(SqliteFile { path, id })),
                Some(Arc::new(checkpointer)),
            )
        };
        Ok(Self {
            pool,
            runtime: tokio::runtime::Handle::current(),
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            pg_url: Arc::from(if postgres { url } else { "" }),
            sqlite_file,
            worker_pools: Arc::default(),
            sqlite_writer,
            timeout,
            _checkpointer: checkpointer,
        })
    }

    pub fn backend(&self) -> Backend {
        match self.pool {
            DbPool::Pg(_) => Backend::Postgres,
            DbPool::Sqlite(_) => Backend::Sqlite,
        }
    }

    async fn checkout(pool: &DbPool) -> Result<Conn> {
        let busy = |err: deadpool::managed::PoolError<_>| {
            tracing::warn!(error = %err, "no database connection available");
            Error::ServiceUnavailable {
                retry_after_secs: 1,
            }
        };
        Ok(Conn(match pool {
            DbPool::Pg(pool) => ConnInner::Pg(pool.get().await.map_err(busy)?),
            DbPool::Sqlite(pool) => ConnInner::Sqlite(pool.get().await.map_err(busy)?),
        }))
    }

    /// Runs `work` with a connection, as its own task (see the module doc).
    pub async fn run<R, F>(&self, work: F) -> Result<R>
    where
        R: Send + 'static,
        F: for<'c> FnOnce(&'c mut Conn) -> BoxFuture<'c, Result<R>> + Send + 'static,
    {
        self.call(Unit::Read, self.timeout, work).await
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
    async fn call<R, F>(&self, unit: Unit, deadline: Duration, work: F) -> Result<R>
    where
        R: Send + 'static,
        F: for<'c> FnOnce(&'c mut Conn) -> BoxFuture<'c, Result<R>> + Send + 'static,
    {
        let until = tokio::time::Instant::now() + deadline;
        let turn = match unit {
            Unit::Read => None,
            Unit::Write | Unit::Transaction => tokio::time::timeout_at(until, self.writer_turn())
                .await
                .map_err(|_| past_deadline(deadline))?,
        };
        let (pool, place) = self.route();
        let preemptible = matches!(place, Place::Async(_));
        let task = Self::spawn(place, async move {
            let _turn = turn;
            if tokio::time::Instant::now() >= until {
                return Err(past_deadline(deadline));
            }
            let outcome = tokio::time::timeout_at(until, Self::guarded(&pool, unit, work))
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
    /// [`Unit::Transaction`]). The connection goes back to the pool only when the work
    /// ended as expected (successfully or with an error of the contract); otherwise, and
    /// when this future is dropped half-way, it is closed.
    async fn guarded<R, F>(pool: &DbPool, unit: Unit, work: F) -> Result<R>
    where
        F: for<'c> FnOnce(&'c mut Conn) -> BoxFuture<'c, Result<R>>,
    {
        let mut guard = Guarded(Some(Self::checkout(pool).await?));
        let conn = guard.conn();
        let outcome = if let Unit::Transaction = unit {
            let begin = match conn.0 {
                ConnInner::Pg(_) => "BEGIN",
                ConnInner::Sqlite(_) => "BEGIN IMMEDIATE",
            };
            conn.batch(begin).await?;
            let outcome = match work(conn).await {
                Ok(value) => conn.batch("COMMIT").await.map(|()| value),
                Err(err) => Err(err),
            };
            if outcome.is_err() && conn.batch("ROLLBACK").await.is_err() {
                return outcome;
            }
            outcome
        } else {
            work(conn).await
        };
        if let Err(Error::Internal(_) | Error::ServiceUnavailable { .. }) = outcome {
            return outcome;
        }
        guard.release();
        outcome
    }

    /// On SQLite, waits for this process's turn to write. It is awaited before the work
    /// takes a blocking thread, so queued writers never hold threads that readers need.
    async fn writer_turn(&self) -> Option<OwnedMutexGuard<()>> {
        match self.pool {
            DbPool::Pg(_) => None,
            DbPool::Sqlite(_) => Some(Arc::clone(&self.sqlite_writer).lock_owned().await),
        }
    }

    /// Makes the calling thread, an HTTP worker with its own single-threaded runtime, batch
    /// its session lookups (see `lookups`) and, on PostgreSQL, gives it a pool of `size`
    /// connections (opened as needed), used by all work that this `Db` starts on this
    /// thread. Does nothing outside a runtime.
    pub fn adopt_worker_thread(&self, size: usize) -> anyhow::Result<()> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Ok(());
        }
        self.batch_lookups_on_this_thread();
        let DbPool::Pg(_) = &self.pool else {
            return Ok(());
        };
        let pool = pg_pool(&self.pg_url, size)?;
        self.worker_pools
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(pool.clone());
        WORKER_POOL.set(Some((self.id, pool)));
        Ok(())
    }

    /// Where work started here runs: with this thread's own pool on its own runtime on an
    /// HTTP worker that adopted one, else with the shared pool on the shared runtime.
    fn route(&self) -> (DbPool, Place) {
        match self
            .worker_pool()
            .zip(tokio::runtime::Handle::try_current().ok())
        {
            Some((pool, runtime)) => (DbPool::Pg(pool), Place::Async(runtime)),
            None => {
                let place = match self.pool {
                    DbPool::Pg(_) => Place::Async(self.runtime.clone()),
                    DbPool::Sqlite(_) => Place::Blocking(self.runtime.clone()),
                };
                (self.pool.clone(), place)
            }
        }
    }

    /// This thread's own PostgreSQL pool, if it is an HTTP worker that adopted one.
    fn worker_pool(&self) -> Option<Pool<AsyncPgConnection>> {
        WORKER_POOL.with_borrow(|own| match own {
            Some((id, pool)) if *id == self.id => Some(pool.clone()),
            _ => None,
        })
    }

    /// Runs `work` as a task of its own (see the module doc).
    async fn spawn<R: Send + 'static>(
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

    /// Applies pending migrations for the backend.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        let migration_error =
            |e: Box<dyn std::error::Error + Send + Sync>| anyhow::anyhow!("migration failed: {e}");
        match &self.pool {
            DbPool::Pg(pool) => {
                let mut lock = AsyncPgConnection::establish(&self.pg_url).await?;
                for attempt in 1.. {
                    match lock.batch_execute(MIGRATION_LOCK_TABLE).await {
                        Ok(()) => break,
                        Err(_) if attempt < 5 => {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                        Err(err) => return Err(err.into()),
                    }
                }
                lock.batch_execute(MIGRATION_LOCK).await?;
                let conn = Object::take(pool.get().await?);
                let mut harness = AsyncMigrationHarness::new(conn);
                let result = harness.run_pending_migrations(PG_MIGRATIONS).map(|_| ());
                lock.batch_execute("COMMIT").await?;
                result.map_err(migration_error)
            }
            DbPool::Sqlite(pool) => {
                let conn = Object::take(pool.get().await?);
                let mut harness = AsyncMigrationHarness::new(conn);
                harness
                    .run_pending_migrations(SQLITE_MIGRATIONS)
                    .map(|_| ())
                    .map_err(migration_error)
            }
        }
    }

    /// Whether the database answers, for readiness. On SQLite that also means its file is
    /// still the one opened at start: an open connection goes on working on a deleted file
    /// (whose writes are then lost), and a new one would create an empty database in its place.
    pub async fn ping(&self) -> Result<()> {
        if let Some(file) = self.sqlite_file.clone() {
            let same =
                tokio::task::spawn_blocking(move || file_id(&file.path).map(|id| id == file.id))
                    .await
                    .map_err(Error::internal)?
                    .map_err(|err| {
                        Error::internal(
                            anyhow::Error::new(err).context("the SQLite database file is gone"),
                        )
                    })?;
            if !same {
                return Err(Error::internal(anyhow::anyhow!(
                    "the SQLite database file was replaced"
                )));
            }
        }
        let deadline = self.timeout.min(READY_DEADLINE);
        self.call(Unit::Read, deadline, |conn| {
            Box::pin(conn.batch("SELECT 1"))
        })
        .await
    }

    /// The figures of the shared pool and every worker pool together.
    pub fn stats(&self) -> PoolStats {
        let shared = match &self.pool {
            DbPool::Pg(pool) => pool.status(),
            DbPool::Sqlite(pool) => pool.status(),
        };
        let workers = self
            .worker_pools
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(Pool::status)
            .collect::<Vec<_>>();
        std::iter::once(shared)
            .chain(workers)
            .fold(PoolStats::default(), |sum, status| PoolStats {
                size: sum.size + status.size,
                idle: sum.idle + status.available,
                waiting: sum.waiting + status.waiting,
                max: sum.max + status.max_size,
            })
    }
}

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

/// Named locks that serialise work across instances: on PostgreSQL a row of the `locks`
/// table locked `FOR UPDATE` until the transaction ends (plain SQL that PostgreSQL-compatible
/// distributed engines run too, unlike advisory locks); on SQLite the write transaction
/// already holds the database lock.
#[derive(Debug, Clone, Copy)]
pub enum Lock {
    KeyGeneration,
    AdminBootstrap,
}

impl Lock {
    /// The lock's row in `locks` (created by migration 000007).
    fn name(self) -> &'static str {
        match self {
            Self::KeyGeneration => "key_generation",
            Self::AdminBootstrap => "admin_bootstrap",
        }
    }
}

impl Conn {
    async fn batch(&mut self, sql: &str) -> Result<()> {
        run!(self, |c| c.batch_execute(sql).await.map_err(Error::from))
    }

    /// Takes `lock` until the transaction ends.
    pub async fn lock(&mut self, lock: Lock) -> Result<()> {
        match &mut self.0 {
            ConnInner::Pg(c) => {
                c.batch_execute(&format!(
                    "SELECT name FROM locks WHERE name = '{}' FOR UPDATE",
                    lock.name()
                ))
                .await?
            }
            ConnInner::Sqlite(_) => {}
        }
        Ok(())
    }
}

/// What a unit of database work is: the writer turn it takes on SQLite, and whether it
/// is wrapped in a transaction.
#[derive(Debug, Clone, Copy)]
enum Unit {
    Read,
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

/// A LIFO pool: the most recently used connection is reused first, and a dropped request
/// never queues behind a stale one. Connections are opened as needed.
fn build_pool<C>(url: &str, setup: SetupCallback<C>, max_size: usize) -> anyhow::Result<Pool<C>>
where
    C: AsyncConnection + 'static,
    Manager<C>:
        deadpool::managed::Manager<Type = C, Error = diesel_async::pooled_connection::PoolError>,
{
    let mut config = ManagerConfig::<C>::default();
    config.recycling_method = RecyclingMethod::Fast;
    config.custom_setup = setup;
    let timeouts = Timeouts {
        wait: Some(Duration::from_secs(5)),
        create: Some(Duration::from_secs(5)),
        recycle: Some(Duration::from_secs(5)),
    };
    Ok(Pool::builder(Manager::new_with_config(url, config))
        .max_size(max_size.max(1))
        .queue_mode(QueueMode::Lifo)
        .timeouts(timeouts)
        .runtime(Runtime::Tokio1)
        .build()?)
}

/// Opens the pool's first connection now, so that a bad URL fails at start.
async fn first_connection<C>(pool: Pool<C>, failure: &str) -> anyhow::Result<Pool<C>>
where
    C: AsyncConnection + 'static,
    Manager<C>:
        deadpool::managed::Manager<Type = C, Error = diesel_async::pooled_connection::PoolError>,
{
    drop(
        pool.get()
            .await
            .map_err(|e| anyhow::anyhow!("{failure}: {e}"))?,
    );
    Ok(pool)
}

fn pg_pool(url: &str, max_size: usize) -> anyhow::Result<Pool<AsyncPgConnection>> {
    let setup: SetupCallback<AsyncPgConnection> =
        Box::new(|url| Box::pin(setup_pg(url.to_owned())));
    build_pool(url, setup, max_size)
}

/// A SQLite database file and its identity when opened.
struct SqliteFile {
    path: String,
    id: FileId,
}

type FileId = (u64, u64);

/// Device and inode, where the platform has them: a file created at the same path is not the
/// database that was opened.
fn file_id(path: &str) -> std::io::Result<FileId> {
    let meta = std::fs::metadata(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Ok((meta.dev(), meta.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        Ok((0, 0))
    }
}

/// `sqlite://doorman.db` → `doorman.db`; `sqlite:///var/lib/x.db` → `/var/lib/x.db`.
fn sqlite_path(url: &str) -> anyhow::Result<String> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    anyhow::ensure!(
        !path.is_empty() && !path.contains(":memory:"),
        "DATABASE_URL needs a SQLite file path"
    );
    Ok(path.to_owned())
}

async fn setup_pg(url: String) -> diesel::ConnectionResult<AsyncPgConnection> {
    let mut conn = AsyncPgConnection::establish(&url).await?;
    conn.batch_execute(
        "SET statement_timeout = '15s'; SET lock_timeout = '5s'; \
         SET idle_in_transaction_session_timeout = '30s'; SET TIME ZONE 'UTC'",
    )
    .await
    .map_err(ConnectionError::CouldntSetupConfiguration)?;
    Ok(conn)
}

/// `busy_ms` is the deadline of a call: waiting for a lock held elsewhere (another
/// process) never outlasts it.
async fn setup_sqlite(path: String, busy_ms: u64) -> diesel::ConnectionResult<SqliteConn> {
    let mut conn = SqliteConn::establish(&path).await?;
    conn.batch_execute(&format!(
        "PRAGMA busy_timeout = {busy_ms}; PRAGMA journal_mode = WAL; \
         PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
         PRAGMA cache_size = -512; PRAGMA wal_autocheckpoint = 10000;"
    ))
    .await
    .map_err(ConnectionError::CouldntSetupConfiguration)?;
    conn.spawn_blocking(users::register_lower)
        .await
        .map_err(ConnectionError::CouldntSetupConfiguration)?;
    Ok(conn)
}

/// A failure that says the database is unavailable for now (unreachable, restarting,
/// locked by another process, or out of disk) is `503 service_unavailable`, logged with
/// its cause; any other is internal.
impl From<DieselError> for Error {
    fn from(err: DieselError) -> Self {
        match unavailable(&err) {
            Some(cause) => {
                tracing::warn!(error = %err, cause, "the database is unavailable");
                Error::ServiceUnavailable {
                    retry_after_secs: 1,
                }
            }
            None => Error::internal(err),
        }
    }
}

/// Why `err` means the database is unavailable for now, if it does. PostgreSQL's reasons
/// are its messages for SQLSTATE 57P01–57P03 and 55P03 (diesel keeps the message, not the
/// code); SQLite's are SQLITE_FULL and SQLITE_BUSY.
fn unavailable(err: &DieselError) -> Option<&'static str> {
    let DieselError::DatabaseError(kind, info) = err else {
        return None;
    };
    if let DatabaseErrorKind::UnableToSendCommand | DatabaseErrorKind::ClosedConnection = kind {
        return Some("the connection to the database failed");
    }
    let message = info.message();
    let causes = [
        (
            "database or disk is full",
            "the disk holding the database is full",
        ),
        (
            "database is locked",
            "the database is locked by another connection",
        ),
        (
            "database table is locked",
            "the database is locked by another connection",
        ),
        (
            "terminating connection due to",
            "the database server is shutting down",
        ),
        (
            "the database system is",
            "the database server is starting or stopping",
        ),
        (
            "canceling statement due to lock timeout",
            "a lock was held too long",
        ),
    ];
    causes
        .into_iter()
        .find(|(start, _)| message.starts_with(start))
        .map(|(_, cause)| cause)
}

fn past_deadline(deadline: Duration) -> Error {
    tracing::warn!(
        deadline_ms = deadline.as_millis(),
        "the database did not answer within the deadline"
    );
    Error::ServiceUnavailable {
        retry_after_secs: 1,
    }
}

/// SQLite reports some writes that failed for want of space (growing the WAL index, say) as
/// `SQLITE_IOERR` ("disk I/O error") rather than `SQLITE_FULL`: with no space left on the
/// database's file system, such an error is the full disk, and temporary.
fn disk_full(err: anyhow::Error, path: &str) -> Error {
    let io_error = err.downcast_ref::<DieselError>().is_some_and(
        |e| matches!(e, DieselError::DatabaseError(_, info) if info.message() == "disk I/O error"),
    );
    if io_error && no_space_left(path) {
        tracing::warn!(error = %err, cause = "the disk holding the database is full", "the database is unavailable");
        return Error::ServiceUnavailable {
            retry_after_secs: 1,
        };
    }
    Error::Internal(err)
}

/// Whether the file system holding `path` has no space left for an unprivileged writer.
fn no_space_left(path: &str) -> bool {
    #[cfg(unix)]
    {
        let dir = std::path::Path::new(path)
            .parent()
            .filter(|dir| !dir.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        let Ok(dir) = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()) else {
            return false;
        };
        let mut stats = std::mem::MaybeUninit::<libc::statvfs>::uninit();
        #[expect(
            unsafe_code,
            reason = "statvfs only writes the struct it is given; std has no wrapper"
        )]
        // SAFETY: `dir` is a NUL-terminated path and `stats` is valid for writes.
        let done = unsafe { libc::statvfs(dir.as_ptr(), stats.as_mut_ptr()) } == 0;
        #[expect(unsafe_code, reason = "initialised by the successful statvfs above")]
        // SAFETY: statvfs returned 0, so it filled `stats`.
        let stats = done.then(|| unsafe { stats.assume_init() });
        // Less than a page or two of SQLite's is as good as none.
        stats.is_some_and(|s| s.f_bavail.saturating_mul(s.f_frsize) < 64 * 1024)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        false
    }
}

/// The unique constraint a failed insert or update broke, if that is why it failed.
/// PostgreSQL names the index; SQLite names the column or the index in its message.
pub(crate) fn unique_violation(err: &DieselError) -> Option<String> {
    match err {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
            Some(info.constraint_name().unwrap_or(info.message()).to_owned())
        }
        _ => None,
    }
}
