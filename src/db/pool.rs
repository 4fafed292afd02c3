//! Opening the pools: PostgreSQL and SQLite connections, their per-connection settings,
//! the per-worker pools, readiness and pool statistics.

use super::*;

/// A LIFO pool: the most recently used connection is reused first, and a dropped request
/// never queues behind a stale one. Connections are opened as needed.
pub(super) fn build_pool<C>(
    url: &str,
    setup: SetupCallback<C>,
    max_size: usize,
) -> anyhow::Result<Pool<C>>
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
pub(super) async fn first_connection<C>(pool: Pool<C>, failure: &str) -> anyhow::Result<Pool<C>>
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

pub(super) fn pg_pool(url: &str, max_size: usize) -> anyhow::Result<Pool<AsyncPgConnection>> {
    let setup: SetupCallback<AsyncPgConnection> =
        Box::new(|url| Box::pin(setup_pg(url.to_owned())));
    build_pool(url, setup, max_size)
}

/// Device and inode, where the platform has them: a file created at the same path is not the
/// database that was opened.
pub(super) fn file_id(path: &str) -> std::io::Result<FileId> {
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

/// A SQLite file to open behind a pool: a path, never `:memory:` (one database per
/// connection).
fn sqlite_path(path: &str) -> anyhow::Result<String> {
    anyhow::ensure!(
        !path.is_empty() && !path.contains(":memory:"),
        "DATABASE_URL needs a SQLite file path"
    );
    Ok(path.to_owned())
}

pub(super) async fn setup_pg(url: String) -> diesel::ConnectionResult<AsyncPgConnection> {
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
pub(super) async fn setup_sqlite(
    path: String,
    busy_ms: u64,
) -> diesel::ConnectionResult<SqliteConn> {
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

/// A SQLite database file and its identity when opened.
pub(super) struct SqliteFile {
    pub(super) path: String,
    pub(super) id: FileId,
}

pub(super) type FileId = (u64, u64);

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
        Self::open(&DatabaseUrl::parse(url)?, max_size, timeout).await
    }

    /// Opens a pool for `url` whose calls each answer within `timeout` (see the module doc).
    pub async fn open(
        url: &DatabaseUrl,
        max_size: usize,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let timeout = timeout.max(Duration::from_millis(1));
        let busy_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        let sqlite_writer = Arc::default();
        let (pool, sqlite_file, checkpointer) = match url {
            DatabaseUrl::Postgres(url) => {
                let pool = pg_pool(url, max_size)?;
                let pool = first_connection(pool, "cannot connect to PostgreSQL").await?;
                (DbPool::Pg(pool), None, None)
            }
            DatabaseUrl::Sqlite(path) => {
                let path = sqlite_path(path)?;
                let setup: SetupCallback<SqliteConn> =
                    Box::new(move |path| Box::pin(setup_sqlite(path.to_owned(), busy_ms)));
                let pool = build_pool(&path, setup, max_size)?;
                let pool = first_connection(pool, "cannot open the SQLite database").await?;
                let id = file_id(&path).context("cannot read the SQLite database file")?;
                let checkpointer =
                    checkpoint::Checkpointer::start(&path, Arc::clone(&sqlite_writer))
                        .context("cannot start checkpointing the SQLite database")?;
                (
                    DbPool::Sqlite(pool),
                    Some(Arc::new(SqliteFile { path, id })),
                    Some(Arc::new(checkpointer)),
                )
            }
        };
        Ok(Self {
            pool,
            runtime: tokio::runtime::Handle::current(),
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            pg_url: Arc::from(match url {
                DatabaseUrl::Postgres(url) => url.as_str(),
                DatabaseUrl::Sqlite(_) => "",
            }),
            sqlite_file,
            worker_pools: Arc::default(),
            sqlite_writer,
            timeout,
            outbox: Arc::default(),
            _checkpointer: checkpointer,
        })
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
    pub(super) fn route(&self) -> (DbPool, Place) {
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
    pub(super) fn worker_pool(&self) -> Option<Pool<AsyncPgConnection>> {
        WORKER_POOL.with_borrow(|own| match own {
            Some((id, pool)) if *id == self.id => Some(pool.clone()),
            _ => None,
        })
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
