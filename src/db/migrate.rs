//! The embedded migrations, applied at start, one instance at a time.

use super::*;

pub(super) const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

pub(super) const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// Serialises migrations of instances that start together on one PostgreSQL database: a
/// row locked `FOR UPDATE` by a connection of its own while another migrates. Its table
/// cannot come from a migration, since it guards them; two instances creating it at once
/// can collide in the catalog, hence the retries.
pub(super) const MIGRATION_LOCK_TABLE: &str = "CREATE TABLE IF NOT EXISTS doorman_migration_lock \
     (id INT PRIMARY KEY); \
     INSERT INTO doorman_migration_lock (id) VALUES (1) ON CONFLICT DO NOTHING";

pub(super) const MIGRATION_LOCK: &str =
    "BEGIN; SELECT id FROM doorman_migration_lock WHERE id = 1 FOR UPDATE";

/// Refreshes SQLite's planner statistics where they are missing or stale, sampling at most
/// 400 rows an index, as SQLite advises a long-lived application to do at start and then
/// daily. Without them SQLite takes any index on an equality for a selective one: after
/// migration 000023 added `(is_active, created_at, id)`, a search with `is_active=true`
/// walked its 980,000 active users instead of the 50,000 the trigram table matched
/// (p50 95 -> 306 ms at a million users, bench/RESULTS.md (i)).
pub(super) const SQLITE_OPTIMIZE: &str = "PRAGMA analysis_limit = 400; PRAGMA optimize = 0x10002";

impl Db {
    /// On SQLite, refreshes the planner's statistics (`PRAGMA optimize`, sampled), at its writer
    /// turn; PostgreSQL's autovacuum keeps its own (nothing to do there).
    pub async fn optimize(&self) -> Result<()> {
        match self.pool {
            DbPool::Pg(_) => Ok(()),
            DbPool::Sqlite(_) => self.write(|c| Box::pin(c.batch(SQLITE_OPTIMIZE))).await,
        }
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
                    .map_err(migration_error)?;
                // Statistics for what the migrations created.
                Ok(self.optimize().await?)
            }
        }
    }
}
