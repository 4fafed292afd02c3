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
//!   two per query. A short read ([`Db::short_read`]) started on an HTTP worker runs on
//!   that worker's own thread instead, in one read transaction.
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

// The machinery, one concern a file: opening pools (`pool`), running work under its
// deadline (`exec`, with the `transaction!`/`with_conn!`/`write!` API below), migrations
// (`migrate`), and what errors mean (`errors`). Their items are re-imported here, so each
// file sees the others' through `use super::*`.
mod errors;
mod exec;
mod migrate;
mod pool;

use errors::*;
use exec::*;
use pool::*;

#[doc(hidden)]
pub use exec::OnThisThread;

// Repositories, one per resource.
pub mod audit;
mod checkpoint;
pub mod keys;
pub mod known_devices;
pub mod login_throttles;
mod lookups;
pub mod mfa;
pub mod passkeys;
pub mod password_resets;
mod prepared;
mod query;
pub mod retention;
pub mod schema;
pub mod sessions;
pub mod tasks;
pub mod types;
mod url;
pub mod user_counts;
pub mod users;
pub mod webhooks;

pub use url::DatabaseUrl;

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
    /// The webhook outbox's subscriptions and worker bell (see `webhooks`).
    outbox: Arc<webhooks::Outbox>,
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

/// Changes to kept counts (`audit::Counted`, `user_counts::Counted`) as a unit of work
/// writes them before it commits: one per key, in key (`order`) order, none of zero.
fn merged<T>(
    mut changes: Vec<T>,
    order: impl Fn(&T, &T) -> std::cmp::Ordering,
    amount: impl Fn(&mut T) -> &mut i64,
) -> Vec<T> {
    changes.sort_by(&order);
    changes.dedup_by(|later, kept| {
        let same = order(later, kept).is_eq();
        if same {
            let more = *amount(later);
            *amount(kept) += more;
        }
        same
    });
    changes.retain_mut(|change| *amount(change) != 0);
    changes
}

/// A pooled connection of either backend, with what its unit of work leaves for its end.
/// Repositories take `&mut Conn`.
pub struct Conn(ConnInner, Pending);

/// What a unit of work leaves for its end: the webhook deliveries it queued, handed to the
/// outbox's worker once it has committed; and the audit counts its events
/// change and the user counts its users change, written right before it commits
/// (`audit::write_counts`, `user_counts::write`).
pub(crate) struct Pending {
    outbox: Arc<webhooks::Outbox>,
    queued: Vec<crate::domain::DeliveryId>,
    counts: Vec<audit::Counted>,
    users: Vec<user_counts::Counted>,
}

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

/// The transaction API that services use: `db::transaction!(ctx.db, |tx| { steps })` runs
/// the steps in one transaction, as a task of its own ([`Db::transaction`]), and evaluates
/// to a future of their result. `db::with_conn!` runs them on a connection without a transaction
/// ([`Db::run`]); `db::write!` is for work whose writes are single statements
/// ([`Db::write`]). The steps are a plain `async` block: `?` returns from it, and what it
/// captures is moved in.
///
/// ```ignore
/// let user = db::transaction!(ctx.db, |tx| {
///     let (target, admins) = lock_target(tx, id).await?;
///     policy::may(&actor.user, Action::SetActive, &target)?;
///     keep_an_admin(&target, admins, false)?;
///     let user = db::users::update(tx, id, &changes, None, now).await?;
///     db::sessions::revoke_all(tx, id, None, now).await?;
///     db::audit::insert(tx, &event).await?;
///     Ok(user)
/// })
/// .await?;
/// ```
macro_rules! transaction {
    ($db:expr, |$tx:ident| $steps:block) => {
        $db.transaction(move |$tx| Box::pin(async move $steps))
    };
}
pub(crate) use transaction;

/// Runs steps on a pooled connection without a transaction; see [`transaction!`].
macro_rules! with_conn {
    ($db:expr, |$c:ident| $steps:block) => {
        $db.run(move |$c| Box::pin(async move $steps))
    };
}
pub(crate) use with_conn;

/// Runs a short read on a pooled connection ([`Db::short_read`]); see [`transaction!`].
macro_rules! short_read {
    ($db:expr, |$c:ident| $steps:block) => {
        $db.short_read(move |$c| Box::pin(async move $steps))
    };
}
pub(crate) use short_read;

/// Runs reads that must see one snapshot ([`Db::snapshot_read`]); see [`transaction!`].
macro_rules! snapshot_read {
    ($db:expr, |$c:ident| $steps:block) => {
        $db.snapshot_read(move |$c| Box::pin(async move $steps))
    };
}
pub(crate) use snapshot_read;

/// Runs steps whose writes are single statements; see [`transaction!`].
macro_rules! write {
    ($db:expr, |$c:ident| $steps:block) => {
        $db.write(move |$c| Box::pin(async move $steps))
    };
}
pub(crate) use write;

impl Db {
    pub fn outbox(&self) -> &Arc<webhooks::Outbox> {
        &self.outbox
    }

    pub fn backend(&self) -> Backend {
        match self.pool {
            DbPool::Pg(_) => Backend::Postgres,
            DbPool::Sqlite(_) => Backend::Sqlite,
        }
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
