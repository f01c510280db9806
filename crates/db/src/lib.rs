//! Database access shared by every service: connection pools for SQLite and
//! PostgreSQL behind one type, and the migration runner.
//!
//! This crate owns no tables. Each service crate owns its own tables and
//! migrations (one SQL file per backend) and passes them to [`Db::migrate`];
//! no service reads another service's tables.

use std::borrow::Cow;
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, Executor};

pub use sqlx;
pub use sqlx::any::AnyRow;
pub use sqlx::Row;

/// Column getters that read a missing or NULL value as the type's default
/// (or `None`), for row mapping code in every service.
pub mod row {
    use super::{AnyRow, Row};

    pub fn get_s(r: &AnyRow, c: &str) -> String {
        r.try_get::<String, _>(c).unwrap_or_default()
    }
    pub fn get_os(r: &AnyRow, c: &str) -> Option<String> {
        r.try_get::<Option<String>, _>(c).ok().flatten()
    }
    pub fn get_i(r: &AnyRow, c: &str) -> i64 {
        r.try_get::<i64, _>(c).unwrap_or_default()
    }
    pub fn get_oi(r: &AnyRow, c: &str) -> Option<i64> {
        r.try_get::<Option<i64>, _>(c).ok().flatten()
    }
}

/// The SQL engine behind a [`Db`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// One migration of one service: the same change written for each backend.
pub struct MigrationSet {
    /// Globally unique; each service uses its own range (identity 1000-1999, ...).
    pub version: i64,
    pub description: &'static str,
    pub sqlite: &'static str,
    pub postgres: &'static str,
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("a row with the same unique key already exists")]
    Conflict,
    #[error("referenced row does not exist")]
    ForeignKey,
    #[error(transparent)]
    Other(#[from] sqlx::Error),
}

impl DbError {
    pub fn from_sqlx(e: sqlx::Error) -> DbError {
        if let sqlx::Error::Database(d) = &e {
            match d.kind() {
                sqlx::error::ErrorKind::UniqueViolation => return DbError::Conflict,
                sqlx::error::ErrorKind::ForeignKeyViolation => return DbError::ForeignKey,
                _ => {}
            }
        }
        DbError::Other(e)
    }
}

pub type DbResult<T> = Result<T, DbError>;

/// WAL for concurrent readers, FULL sync so an acknowledged write survives
/// a crash, and a busy timeout instead of immediate SQLITE_BUSY errors. Each
/// connection keeps a page cache of up to 8 MiB; pages beyond it come from
/// the kernel's page cache. (A memory map would share those pages, but every
/// connection maps the file anew and each mapping counts in the resident
/// memory again.)
const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=10000; \
     PRAGMA foreign_keys=ON; PRAGMA cache_size=-8192; PRAGMA mmap_size=0;";

/// SQLite's readers each run on a thread of their own: more of them than
/// twice the cores only add threads and page caches.
fn sqlite_readers(max_connections: u32) -> u32 {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get() as u32);
    max_connections.min(2 * cores).max(2)
}

/// Pools for one database. SQLite allows one writer at a time, so writes go
/// through a single-connection pool and never fail with SQLITE_BUSY on a lock
/// upgrade; on PostgreSQL both pools are the same.
#[derive(Clone, Debug)]
pub struct Db {
    reader: AnyPool,
    writer: AnyPool,
    backend: Backend,
}

impl Db {
    /// Connects to `url` (`sqlite:///path/to/file.db`, `sqlite::memory:`,
    /// `postgres://user:pass@host:port/db`). SQLite files are created if missing.
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Db> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            anyhow::bail!("database.url must start with sqlite: or postgres:, got {url:?}");
        };
        match backend {
            Backend::Sqlite => {
                let url = if url.contains('?') || url.contains(":memory:") {
                    url.to_string()
                } else {
                    format!("{url}?mode=rwc")
                };
                let opts = AnyConnectOptions::from_str(&url)?;
                let writer = AnyPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(30))
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute(SQLITE_PRAGMAS).await?;
                            Ok(())
                        })
                    })
                    .connect_with(opts.clone())
                    .await?;
                let reader = AnyPoolOptions::new()
                    .max_connections(sqlite_readers(max_connections))
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute(SQLITE_PRAGMAS).await?;
                            Ok(())
                        })
                    })
                    .connect_with(opts)
                    .await?;
                Ok(Db { reader, writer, backend })
            }
            Backend::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(max_connections)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect(url)
                    .await?;
                Ok(Db { reader: pool.clone(), writer: pool, backend })
            }
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Pool for queries that only read.
    pub fn reader(&self) -> &AnyPool {
        &self.reader
    }

    /// Pool for transactions that write.
    pub fn writer(&self) -> &AnyPool {
        &self.writer
    }

    /// Applies the migrations not yet applied. Migrations of other services
    /// already in the database are left alone.
    pub async fn migrate(&self, sets: &[&[MigrationSet]]) -> anyhow::Result<()> {
        let migrations: Vec<Migration> = sets
            .iter()
            .flat_map(|s| s.iter())
            .map(|m| {
                let sql = match self.backend {
                    Backend::Sqlite => m.sqlite,
                    Backend::Postgres => m.postgres,
                };
                Migration::new(
                    m.version,
                    Cow::Borrowed(m.description),
                    MigrationType::Simple,
                    Cow::Borrowed(sql),
                    false,
                )
            })
            .collect();
        let mut migrator = Migrator { migrations: Cow::Owned(migrations), ..Migrator::DEFAULT };
        migrator.set_ignore_missing(true);
        migrator.run(&self.writer).await?;
        Ok(())
    }

    /// True when the database answers a trivial query.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.reader).await.is_ok()
    }

    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
}
