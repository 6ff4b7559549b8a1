//! The store: orders, their history, timers, outbox and customers (matched to incoming orders,
//! and the customer book staff search, create and merge) in SQLite or PostgreSQL,
//! through one code path (`sqlx::Any`) and one schema (migrations embedded from `migrations/`).
//!
//! The unit of work is a [`Tx`]: read the order ([`Tx::order_for_update`]), let the engine
//! decide, write the [`Decision`](crate::engine::Decision) ([`Tx::update_order_from`]), commit.
//! Every write checks the order's `version`; a write against a stale version, and a database
//! that reports contention, both return [`StoreError::Conflict`]: drop the `Tx`, read again,
//! decide again.
//!
//! Concurrency, per backend:
//! - SQLite: [`Store::begin`] takes this process's turn to write (a fair queue, so writers are
//!   served in the order they came, not in SQLite's sleeping busy handler), then issues
//!   `BEGIN IMMEDIATE`, so a `Tx` holds the database's single write lock from its first
//!   statement to commit or drop. Writers wait up to 5 s (then `Conflict`); other processes on
//!   the same file meet in `busy_timeout`; readers outside a `Tx` (WAL) never wait.
//!   Keep transactions short, and never await another `Tx` while holding one. With
//!   `sqlite::memory:` the pool has one connection: while a `Tx` is open, every other call
//!   waits for it.
//! - PostgreSQL: `READ COMMITTED`; [`Tx::order_for_update`] locks the order row
//!   (`FOR UPDATE`), so a second transaction on the same order waits, then reads the new
//!   version. [`Tx::due_timers`] uses `FOR UPDATE SKIP LOCKED`, so several processes never
//!   take the same timer.
//!
//! After any error inside a `Tx`, drop it: on PostgreSQL the transaction is aborted. A
//! connection that comes back to the pool with a transaction still counted open on it (SQLite
//! rolled it back by itself and the `ROLLBACK` failed) is closed, never reused; see `health.rs`,
//! which also holds [`Store::check_writable`].

use orderly_engine::{engine, order};

mod baseline;
mod batch;
mod customer_book;
mod customers;
mod encode;
mod error;
mod grid;
mod group_commit;
mod health;
mod history;
mod inputs;
mod orders;
mod outbox;
mod readers;
mod replay;
mod schema;
mod sessions;
mod status_counts;
mod timers;
mod tx;
mod workflows;

pub use batch::{InputWrite, OrderWrite};
pub use customer_book::{CustomerDetail, CustomerOrder, CustomerSummary};
pub use customers::{CustomerMatch, MatchedCustomer};
pub use error::StoreError;
pub use grid::{GridPage, GridQuery, GridRow};
pub use group_commit::{
    Checkpoint, Checkpointer, GroupCommit, WalSync, CHECKPOINT_AFTER, CHECKPOINT_EVERY, WAL_FRAMES_BOUND,
};
pub use health::{PROBE_FRESH, WRITE_FAILURE_MEMORY};
pub use history::StoredHistory;
pub use orders::{generated_number, OrderKey};
pub use outbox::{Attempt, Deliverable, OutboxQuery, StoredOutbox, OUTBOX_STATES};
pub use replay::{RecordedOrder, RecordedQuery};
pub use sessions::StoredSession;
pub use status_counts::StatusRename;
pub use timers::StoredTimer;
pub use tx::{Savepoint, Tx};
pub use workflows::WorkflowVersion;

use sqlx::any::AnyPoolOptions;
use sqlx::AnyPool;
use sqlx::{Any, Transaction};
use std::sync::Arc;
use std::time::Duration;

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite, a file (or memory).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// How long a SQLite writer waits for the write lock (`busy_timeout`), in this process and
/// behind others.
const SQLITE_BUSY: std::time::Duration = std::time::Duration::from_secs(5);

/// Settings every SQLite connection gets, in this order (`busy_timeout` first, so that switching
/// to WAL waits for other connections instead of failing).
///
/// The page cache is 512 KiB a connection instead of SQLite's 2 MB: the pool's eight each
/// filled theirs under reads of many orders, 16 MB of the server's memory for pages the
/// operating system caches anyway (measured: RSS after reads of 10,000 orders at 64
/// connections 49.2 MiB against 61.4, reads a second unchanged, 6,415 against 6,144;
/// docs/benchmarks.md, issue 15's ninth stop). The writer's connection keeps SQLite's default
/// ([`WRITER_CACHE`]).
const SQLITE_PRAGMAS: &[&str] = &[
    "PRAGMA busy_timeout = 5000",
    "PRAGMA journal_mode = WAL",
    "PRAGMA foreign_keys = ON",
    "PRAGMA cache_size = -512",
];

/// The page cache of a writer's own connection ([`Store::syncing_pool`]): SQLite's default,
/// 2 MB, for the index pages every batch goes through.
pub(crate) const WRITER_CACHE: &str = "PRAGMA cache_size = -2000";

/// How hard SQLite works to keep a commit through a power failure (`PRAGMA synchronous`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// Every commit is on the disk before it is acknowledged (an `fsync` of the WAL per
    /// commit): what an acknowledgement means in orderly. The default.
    #[default]
    Full,
    /// The WAL is synced at checkpoints only: faster, and the database stays consistent, but
    /// the last commits before a power failure or an operating-system crash can be lost (a
    /// crash of orderly alone loses nothing). For data that can be sent again.
    Normal,
}

impl Synchronous {
    /// The setting's name in the configuration (`full`, `normal`).
    pub fn name(self) -> &'static str {
        match self {
            Synchronous::Full => "full",
            Synchronous::Normal => "normal",
        }
    }

    /// The setting named `text` (`full` or `normal`, any case).
    pub fn parse(text: &str) -> Option<Synchronous> {
        match text.trim().to_ascii_lowercase().as_str() {
            "full" => Some(Synchronous::Full),
            "normal" => Some(Synchronous::Normal),
            _ => None,
        }
    }

    fn pragma(self) -> &'static str {
        match self {
            Synchronous::Full => "PRAGMA synchronous = FULL",
            Synchronous::Normal => "PRAGMA synchronous = NORMAL",
        }
    }
}

/// Connections per pool for a SQLite file and for PostgreSQL.
const SQLITE_POOL: u32 = 8;
const POSTGRES_POOL: u32 = 10;

/// How long a caller waits for a connection by default (sqlx's own default is 30 s): past it,
/// [`StoreError::Unavailable`], which the API answers `503 database_unavailable`.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// How a [`Store`] connects, beyond its URL.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// How long a caller waits for a connection from the pool, connecting included (a database
    /// that refuses connections is retried until then): [`ACQUIRE_TIMEOUT`] by default.
    pub acquire_timeout: Duration,
    /// More statements every SQLite connection runs after the store's own settings, each a
    /// whole `PRAGMA` (`PRAGMA max_page_count = 300` caps the file's size: what tests fill the
    /// database with). Ignored on PostgreSQL. Trusted text: never build one from user input.
    pub sqlite_pragmas: Vec<String>,
    /// SQLite's `synchronous`: [`Synchronous::Full`] by default, so that an acknowledged write
    /// survives a power failure. Ignored on PostgreSQL (whose own `synchronous_commit` rules).
    pub synchronous: Synchronous,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            acquire_timeout: ACQUIRE_TIMEOUT,
            sqlite_pragmas: Vec::new(),
            synchronous: Synchronous::Full,
        }
    }
}

/// Closes `pool` and every connection it opened. sqlx's `close` waits for the connections in
/// use to come back, but one that comes back while it waits for the last of them is left idle
/// and open (sqlx 0.8.6, `PoolInner::close`): a SQLite file is then still open, its WAL not
/// checkpointed. Closing again closes what was left idle; connections come back on their own
/// tasks, so it closes again, with a pause between, until none is left.
async fn close_fully(pool: &AnyPool) {
    // Each connection left closes on a task of its own: on a loaded machine that can take a
    // while, so up to 5 s (the close of a pool with nothing left returns at once).
    for _ in 0..2500 {
        pool.close().await;
        if pool.size() == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    tracing::warn!(open = pool.size(), "the pool was closed, but some of its connections are still open");
}

/// A pool opened by [`Store::with_own_pool`], with the connections its store holds out of it.
type OwnPool = (AnyPool, Arc<readers::Held>);

/// The connection pool, with the backend it talks to. Cheap to clone (the pool is shared).
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// The last write that failed with the database unavailable (shared by clones).
    health: Arc<health::WriteHealth>,
    /// SQLite: whose turn it is to write (shared by clones). Writers of this process queue here,
    /// first come first served, instead of in SQLite's busy handler, which sleeps and retries
    /// (up to 100 ms a time) and so lets a late writer overtake one that waited long.
    writer: Arc<tokio::sync::Mutex<()>>,
    /// How to open another pool to the same database ([`Store::with_own_pool`]); `None` for an
    /// in-memory database and a read-only store.
    source: Option<Arc<(String, ConnectOptions)>>,
    /// Whether the pool was opened by [`Store::with_own_pool`] (and is closed by
    /// [`Store::close_own_pool`]).
    own_pool: bool,
    /// The pools opened by [`Store::with_own_pool`] from this store or its clones, still open
    /// (shared by clones): [`Store::close`] closes them too, so that once it returns this
    /// process no longer touches the database (SQLite's last connection has checkpointed).
    own_pools: Arc<std::sync::Mutex<Vec<OwnPool>>>,
    /// Connections of this pool held for deciding reads (`readers.rs`), and the writer's.
    held: Arc<readers::Held>,
    /// Whether transactions keep their connection between them ([`Store::keeping_connection`]).
    keeps: bool,
}

impl Store {
    /// Connects and brings the schema up to date.
    ///
    /// URLs: `sqlite://path` (the file is created if missing), `sqlite::memory:` (a private
    /// database held by a single connection, so every query sees it), `postgres://...` (or
    /// `postgresql://`). SQLite connections run in WAL mode with `synchronous = FULL` (see
    /// [`Synchronous`]), `foreign_keys = ON` and `busy_timeout = 5000`.
    ///
    /// A database that does not answer within [`ACQUIRE_TIMEOUT`] is
    /// [`StoreError::Unavailable`].
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        Self::connect_with(url, ConnectOptions::default()).await
    }

    /// [`Store::connect`] with options.
    pub async fn connect_with(url: &str, settings: ConnectOptions) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let (backend, url, memory) = parse_url(url)?;
        let size = match backend {
            Backend::Sqlite if memory => 1,
            Backend::Sqlite => SQLITE_POOL,
            Backend::Postgres => POSTGRES_POOL,
        };
        let pool = open_pool(backend, &url, memory, size, &settings).await?;
        schema::migrator(backend).await?.run(&pool).await?;
        // An in-memory database lives in its one connection: no second pool can reach it.
        let source = (!memory).then(|| Arc::new((url, settings)));
        Ok(Store {
            pool,
            backend,
            health: Arc::default(),
            writer: Arc::default(),
            source,
            own_pool: false,
            own_pools: Arc::default(),
            held: Arc::default(),
            keeps: false,
        })
    }

    /// This store with a pool of its own of `connections` connections to the same database,
    /// opened now, on the caller's runtime (for the service's writer, which runs on a thread
    /// of its own: its connections never wait in the readers' queue, and PostgreSQL's sockets
    /// stay with the runtime that drives them). Health and SQLite's write turn are shared with
    /// this store. An in-memory SQLite database (one connection holds it) gives this store back.
    pub async fn with_own_pool(&self, connections: u32) -> Result<Store, StoreError> {
        let Some(source) = &self.source else { return Ok(self.clone()) };
        let (url, settings) = &**source;
        let pool = open_pool(self.backend, url, false, connections.max(1), settings).await?;
        Ok(self.sharing_all_but(pool))
    }

    /// This store on a pool of its own (`pool`, to the same database): health and SQLite's
    /// write turn shared.
    fn sharing_all_but(&self, pool: AnyPool) -> Store {
        let held = Arc::<readers::Held>::default();
        let mut own_pools = self.own_pools.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        own_pools.retain(|(p, _)| !p.is_closed());
        own_pools.push((pool.clone(), held.clone()));
        Store {
            pool,
            backend: self.backend,
            health: self.health.clone(),
            writer: self.writer.clone(),
            source: self.source.clone(),
            own_pool: true,
            own_pools: self.own_pools.clone(),
            held,
            keeps: false,
        }
    }

    /// This store, its transactions keeping their connection between them (a writer's, which
    /// runs one transaction after another): after a commit the connection waits in the store
    /// instead of going back to the pool, and the next [`Store::begin`] takes it from there,
    /// skipping the pool's round trip to the connection on its way back and, on PostgreSQL,
    /// the one before its use (a kept connection the server cut meanwhile is replaced by one
    /// of the pool, which checks it). Transactions of this store and its clones take turns on
    /// it. Not for a store without a pool of its own (an in-memory database's one connection
    /// is everyone's): that one is returned as it is.
    pub fn keeping_connection(mut self) -> Store {
        self.keeps = self.own_pool;
        self
    }

    /// Closes a pool opened by [`Store::with_own_pool`]; a store that shares its pool is left
    /// alone (its owner closes it).
    pub async fn close_own_pool(&self) {
        if self.own_pool {
            self.close_pool().await;
        }
    }

    /// The database this store talks to.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Starts a write transaction (SQLite: `BEGIN IMMEDIATE`, which waits for the write lock
    /// up to the busy timeout, then fails with [`StoreError::Conflict`]).
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        let turn = self.write_turn().await?;
        let statement = match self.backend {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        };
        let tx = async {
            let (conn, keep) = if self.keeps {
                let mut slot = self.held.writer.clone().lock_owned().await;
                let conn = match slot.take() {
                    Some(conn) => conn,
                    None => self.pool.acquire().await?,
                };
                (conn, Some((slot, self.pool.clone())))
            } else {
                (self.pool.acquire().await?, None)
            };
            Tx::begin(conn, statement, keep, self.backend, self.health.clone(), turn).await
        };
        tx.await.map_err(|e| {
            let e = StoreError::from(e);
            self.health.failed(&e);
            e
        })
    }

    /// Checks that the database answers (`SELECT 1`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Connections in the pool: (open, idle).
    pub fn pool_stats(&self) -> (u32, usize) {
        (self.pool.size(), self.pool.num_idle())
    }

    /// Closes the pool, and every pool of its own opened from it ([`Store::with_own_pool`],
    /// the service's writer's): waits for connections in use to come back, then closes them
    /// all. Once it returns, this process no longer touches the database.
    pub async fn close(&self) {
        self.close_pool().await;
        let own: Vec<_> =
            self.own_pools.lock().unwrap_or_else(std::sync::PoisonError::into_inner).drain(..).collect();
        for (pool, held) in own {
            let closing = pool.close();
            held.release_all();
            closing.await;
            close_fully(&pool).await;
        }
    }

    /// Closes this store's own pool to its last connection, the held readers with it.
    async fn close_pool(&self) {
        // Marks the pool closed at once; then the held readers go back and are closed with it.
        let closing = self.pool.close();
        self.held.release_all();
        closing.await;
        close_fully(&self.pool).await;
    }

    /// Whether [`Store::close`] was called (on this store, or on one sharing its pool).
    pub fn is_closed(&self) -> bool {
        self.pool.is_closed()
    }

    /// SQLite: waits for this process's turn to write (as long as the busy timeout, then
    /// [`StoreError::Conflict`], as SQLite would); held until the transaction ends. Other
    /// processes on the same file still meet in SQLite's busy handler. PostgreSQL: no turn.
    async fn write_turn(&self) -> Result<Option<tokio::sync::OwnedMutexGuard<()>>, StoreError> {
        match self.backend {
            Backend::Sqlite => tokio::time::timeout(SQLITE_BUSY, self.writer.clone().lock_owned())
                .await
                .map(Some)
                .map_err(|_| StoreError::Conflict),
            Backend::Postgres => Ok(None),
        }
    }

    /// A read-only transaction that sees one snapshot (SQLite: a deferred transaction, which
    /// in WAL mode reads one snapshot; PostgreSQL: `REPEATABLE READ`).
    async fn read(&self) -> Result<Transaction<'static, Any>, StoreError> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin().await?,
            Backend::Postgres => {
                self.pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await?
            }
        })
    }
}

/// A pool of `size` connections with the store's settings (SQLite's pragmas on each new
/// connection; a connection whose transaction state is unknown is closed on release).
async fn open_pool(
    backend: Backend,
    url: &str,
    memory: bool,
    size: u32,
    settings: &ConnectOptions,
) -> Result<AnyPool, StoreError> {
    let options = AnyPoolOptions::new().max_connections(size);
    let options =
        if memory { options.min_connections(1).idle_timeout(None).max_lifetime(None) } else { options };
    let options = options
        .acquire_timeout(settings.acquire_timeout)
        // A SQLite connection is a file in this process: a ping before each use (a round trip
        // to its thread) finds nothing out. A PostgreSQL one may have been cut meanwhile.
        .test_before_acquire(backend == Backend::Postgres)
        .after_release(move |conn, _meta| Box::pin(health::reusable(conn, backend)));
    let sync = settings.synchronous.pragma();
    let extra = Arc::new(settings.sqlite_pragmas.clone());
    let options = match backend {
        Backend::Sqlite => options.after_connect(move |conn, _meta| {
            let extra = extra.clone();
            Box::pin(async move {
                let ours = SQLITE_PRAGMAS.iter().copied().chain([sync]);
                for pragma in ours.chain(extra.iter().map(String::as_str)) {
                    sqlx::query(pragma).execute(&mut *conn).await?;
                }
                Ok(())
            })
        }),
        Backend::Postgres => options,
    };
    options.connect(url).await.map_err(|e| match e {
        sqlx::Error::Configuration(e) => StoreError::BadUrl(e.to_string()),
        e => StoreError::from(e),
    })
}

/// The backend, the URL to connect to, and whether it is an in-memory SQLite database.
fn parse_url(url: &str) -> Result<(Backend, String, bool), StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok((Backend::Postgres, url.to_string(), false));
    }
    if let Some(rest) = url.strip_prefix("sqlite:") {
        if rest.trim_start_matches('/').is_empty() {
            return Err(StoreError::BadUrl(format!("`{url}` names no database file")));
        }
        let memory = rest.contains(":memory:") || rest.contains("mode=memory");
        if memory || rest.contains("mode=") {
            return Ok((Backend::Sqlite, url.to_string(), memory));
        }
        let separator = if rest.contains('?') { '&' } else { '?' };
        return Ok((Backend::Sqlite, format!("{url}{separator}mode=rwc"), false));
    }
    Err(StoreError::BadUrl(format!(
        "`{url}`: expected `sqlite://PATH`, `sqlite::memory:` or `postgres://...`"
    )))
}

/// Test support: the PostgreSQL of `ORDERLY_TEST_POSTGRES_URL`, its connections named `name`
/// (`application_name`, to find them in `pg_stat_activity`); `None` when it is not set.
#[cfg(test)]
pub(crate) fn test_postgres_url(name: &str) -> Option<String> {
    let url = std::env::var("ORDERLY_TEST_POSTGRES_URL").ok()?;
    let separator = if url.contains('?') { '&' } else { '?' };
    Some(format!("{url}{separator}application_name={name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let (b, u, m) = parse_url("sqlite://orderly.db").unwrap();
        assert_eq!((b, u.as_str(), m), (Backend::Sqlite, "sqlite://orderly.db?mode=rwc", false));
        let (_, u, _) = parse_url("sqlite://x.db?cache=shared").unwrap();
        assert_eq!(u, "sqlite://x.db?cache=shared&mode=rwc");
        let (_, u, _) = parse_url("sqlite://x.db?mode=ro").unwrap();
        assert_eq!(u, "sqlite://x.db?mode=ro");
        let (b, u, m) = parse_url("sqlite::memory:").unwrap();
        assert_eq!((b, u.as_str(), m), (Backend::Sqlite, "sqlite::memory:", true));
        let (b, _, _) = parse_url("postgres://u@h/db").unwrap();
        assert_eq!(b, Backend::Postgres);
        assert!(matches!(parse_url("mysql://h/db"), Err(StoreError::BadUrl(_))));
        assert!(matches!(parse_url("sqlite://"), Err(StoreError::BadUrl(_))));
    }

    /// Every SQLite connection syncs each commit (`synchronous = FULL`, 2) unless `normal` (1)
    /// was chosen.
    #[tokio::test]
    async fn sqlite_commits_are_durable_by_default() {
        let dir = std::env::temp_dir().join(format!("orderly-sync-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, options, want) in [
            ("full.db", ConnectOptions::default(), 2),
            ("normal.db", ConnectOptions { synchronous: Synchronous::Normal, ..Default::default() }, 1),
        ] {
            let url = format!("sqlite://{}", dir.join(name).display());
            let store = Store::connect_with(&url, options).await.unwrap();
            let got: i64 = sqlx::query_scalar("PRAGMA synchronous").fetch_one(&store.pool).await.unwrap();
            assert_eq!(got, want, "{name}");
            store.close().await;
        }
        std::fs::remove_dir_all(&dir).ok();
    }

    /// Rows that do not decode are reported as corrupt, naming what is wrong, never a panic.
    #[tokio::test]
    async fn corrupt_rows_are_errors() {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        let t = "2024-05-01T09:30:00.000000Z";
        let body = r#"{"customer":{"id":null,"email":"","first_name":"","last_name":"","company":"",
            "phone":"","is_guest":false,"is_new":false},"shipping":{},"billing":{},"payment":null,
            "amount_paid":"0","shipping_amount":"0","attributes":{},"invoiced":false,"related_order":null}"#;
        let insert =
            "INSERT INTO orders (number, workflow, workflow_version, channel, status, status_since, \
                      body, flags, version, created_at, updated_at) \
                      VALUES ($1, 'w', 1, 'web', 'new', $2, $3, '', 1, $4, $5)";
        let id = |n: &str| {
            let store = store.clone();
            let n = n.to_string();
            async move {
                let order = store.find_order(&OrderKey::Number(n)).await;
                order.map(|o| o.map(|o| o.id))
            }
        };
        sqlx::query(insert).bind("1").bind(t).bind(body).bind(t).bind(t).execute(&store.pool).await.unwrap();
        assert!(matches!(id("1").await, Ok(Some(1))), "the good row decodes");

        sqlx::query(insert)
            .bind("2")
            .bind("yesterday")
            .bind(body)
            .bind(t)
            .bind(t)
            .execute(&store.pool)
            .await
            .unwrap();
        sqlx::query(insert).bind("3").bind(t).bind("{}").bind(t).bind(t).execute(&store.pool).await.unwrap();
        sqlx::query(insert).bind("4").bind(t).bind(body).bind(t).bind(t).execute(&store.pool).await.unwrap();
        sqlx::query(
            "INSERT INTO order_lines VALUES (4, 1, 's', 'd', 'v', 'x', '1', 'stock', '1', '0', '0', '0')",
        )
        .execute(&store.pool)
        .await
        .unwrap();
        for (n, needle) in [("2", "status_since"), ("3", "body"), ("4", "qty")] {
            match id(n).await {
                Err(StoreError::Corrupt(message)) => assert!(message.contains(needle), "{message}"),
                other => panic!("order {n}: expected a corrupt row, got {other:?}"),
            }
        }
    }
}
