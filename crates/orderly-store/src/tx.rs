//! [`Tx`]: one unit of work. Reads and writes of orders, customers and timers are added to it
//! by their own modules; this one holds the transaction, locks and idempotency keys.
//!
//! A transaction runs on a connection of the pool, or on the one a writer keeps between its
//! transactions ([`super::Store::keeping_connection`]): that one goes back to the writer's
//! slot after a commit, skipping the pool's round trip to the connection on its way back (and,
//! on PostgreSQL, the one before its next use); after a rollback or a failed commit it goes
//! back to the pool instead, whose checks flush the rollback and close it if it is unusable.

use super::encode::get_json;
use super::health::WriteHealth;
use super::{Backend, StoreError, StoredHistory};
use crate::order::OrderId;
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, Database, TransactionManager};
use std::sync::Arc;
use tokio::sync::OwnedMutexGuard;

/// How transactions are begun, committed and rolled back on a connection.
type Manager = <Any as Database>::TransactionManager;

/// A writer's connection, kept between its transactions (`None` until one is opened, and
/// after one failed).
pub(crate) type Slot = Arc<tokio::sync::Mutex<Option<PoolConnection<Any>>>>;

/// Where a transaction's connection goes when it ends well: the writer's slot (held for the
/// whole transaction, so another transaction of the same store waits its turn instead of the
/// pool's), unless the pool has been closed meanwhile.
struct Keep {
    slot: OwnedMutexGuard<Option<PoolConnection<Any>>>,
    pool: AnyPool,
}

/// A transaction. Dropping it without [`Tx::commit`] rolls everything back.
pub struct Tx {
    /// The connection, in a transaction until `open` is false.
    conn: Option<PoolConnection<Any>>,
    open: bool,
    keep: Option<Keep>,
    backend: Backend,
    /// History rows written in this transaction, each with its order, in the order written.
    written: Vec<(OrderId, StoredHistory)>,
    /// Told how the commit went.
    health: Arc<WriteHealth>,
    /// SQLite: this process's turn to write, given back when the transaction ends (declared
    /// last, so it is released after the transaction's rollback or commit).
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

/// Where a transaction stood at [`Tx::savepoint`].
#[derive(Debug)]
#[must_use = "a savepoint is released or rolled back to"]
pub struct Savepoint {
    /// How many history rows the transaction had written.
    written: usize,
}

impl std::fmt::Debug for Tx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tx").field("backend", &self.backend).finish_non_exhaustive()
    }
}

impl super::Store {
    /// The result saved under this idempotency key for this order, if any (read outside any
    /// write; the writer checks again in its transaction).
    pub async fn idempotent_result(
        &self,
        order: OrderId,
        key: &str,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        let row =
            sqlx::query("SELECT result FROM idempotency_keys WHERE order_id = $1 AND idempotency_key = $2")
                .bind(order)
                .bind(key)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|row| get_json(&row, "result")).transpose()
    }
}

impl Tx {
    /// Begins a transaction with `statement` on `conn`; `keep` is the writer's slot it came
    /// from (and returns to after a commit). A connection lost since its last use
    /// ([`super::error::connection_lost`]: only a kept one skips the pool's check) is closed,
    /// and the transaction begun once more on one of the pool (`pool`), which checks it.
    pub(super) async fn begin(
        conn: PoolConnection<Any>,
        statement: &'static str,
        keep: Option<(OwnedMutexGuard<Option<PoolConnection<Any>>>, AnyPool)>,
        backend: Backend,
        health: Arc<WriteHealth>,
        turn: Option<tokio::sync::OwnedMutexGuard<()>>,
    ) -> Result<Tx, sqlx::Error> {
        let mut conn = conn;
        if let Err(e) = Manager::begin(&mut conn, Some(statement.into())).await {
            let Some((_, pool)) = keep.as_ref().filter(|_| super::error::connection_lost(&e)) else {
                return Err(e);
            };
            conn.close_on_drop();
            drop(conn);
            conn = pool.acquire().await?;
            Manager::begin(&mut conn, Some(statement.into())).await?;
        }
        let keep = keep.map(|(slot, pool)| Keep { slot, pool });
        Ok(Tx { conn: Some(conn), open: true, keep, backend, written: Vec::new(), health, _turn: turn })
    }

    /// The connection the transaction runs on.
    pub(crate) fn conn(&mut self) -> &mut AnyConnection {
        match &mut self.conn {
            Some(conn) => conn,
            // Only `commit` and `drop` take it, and both consume the transaction.
            None => unreachable!("a transaction's connection is there until it ends"),
        }
    }

    pub(crate) fn backend(&self) -> Backend {
        self.backend
    }

    /// Remembers history rows written for `order` in this transaction.
    pub(crate) fn wrote(&mut self, order: OrderId, rows: Vec<StoredHistory>) {
        self.written.extend(rows.into_iter().map(|row| (order, row)));
    }

    /// The history rows written for `order` in this transaction so far, in the order written
    /// (what an answer shows of the change, without reading anything back after the commit).
    /// Rows of other orders the transaction wrote (a related order a hook made) are not its.
    pub fn written_history(&self, order: OrderId) -> Vec<StoredHistory> {
        self.written.iter().filter(|(o, _)| *o == order).map(|(_, row)| row.clone()).collect()
    }

    /// Marks where the transaction stands, so that what one input writes after it can be undone
    /// alone ([`Tx::roll_back_to`]) or kept ([`Tx::release`]), the rest of the transaction going
    /// on either way (the writer's batch: one creation's failure does not fail the others). One
    /// at a time: release or roll back a mark before taking the next.
    pub async fn savepoint(&mut self) -> Result<Savepoint, StoreError> {
        sqlx::query("SAVEPOINT orderly_input").execute(self.conn()).await?;
        Ok(Savepoint { written: self.written.len() })
    }

    /// Keeps what was written since `mark`.
    pub async fn release(&mut self, mark: Savepoint) -> Result<(), StoreError> {
        let _ = mark;
        sqlx::query("RELEASE SAVEPOINT orderly_input").execute(self.conn()).await?;
        Ok(())
    }

    /// Undoes what was written since `mark` (also after a statement failed: on PostgreSQL the
    /// transaction is usable again).
    pub async fn roll_back_to(&mut self, mark: Savepoint) -> Result<(), StoreError> {
        sqlx::query("ROLLBACK TO SAVEPOINT orderly_input").execute(self.conn()).await?;
        sqlx::query("RELEASE SAVEPOINT orderly_input").execute(self.conn()).await?;
        self.written.truncate(mark.written);
        Ok(())
    }

    /// Commits everything written in this transaction. A commit that goes through tells the
    /// store that writes work; one that fails with the database unavailable is remembered
    /// ([`super::Store::check_writable`]).
    pub async fn commit(mut self) -> Result<(), StoreError> {
        match Manager::commit(self.conn()).await {
            Ok(()) => {
                self.open = false;
                self.health.committed();
                Ok(())
            }
            Err(e) => {
                let e = StoreError::from(e);
                self.health.failed(&e);
                Err(e)
            }
        }
    }
}

impl Drop for Tx {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else { return };
        if self.open {
            // Queued on the connection; the pool's checks on its way back flush it (and close
            // a connection whose state they cannot tell).
            Manager::start_rollback(&mut conn);
            return;
        }
        if let Some(keep) = &mut self.keep {
            if !keep.pool.is_closed() {
                *keep.slot = Some(conn);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Store;
    use std::time::Duration;

    /// The stores to try: a SQLite file, and PostgreSQL when `ORDERLY_TEST_POSTGRES_URL` is set
    /// (with `application_name` set to `name`, to find its connections).
    async fn stores(name: &str) -> Vec<(Store, Option<std::path::PathBuf>)> {
        let dir = std::env::temp_dir().join(format!("orderly-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut all = vec![(
            Store::connect(&format!("sqlite://{}", dir.join("k.db").display())).await.unwrap(),
            Some(dir),
        )];
        if let Some(url) = crate::test_postgres_url(name) {
            all.push((Store::connect(&url).await.unwrap(), None));
        }
        all
    }

    async fn count(store: &Store, table: &str) -> i64 {
        sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}")).fetch_one(&store.pool).await.unwrap()
    }

    /// A writer's store keeps its connection after a commit (out of its pool of one, which
    /// would otherwise be empty for the next transaction: it is not), gives it back to the pool
    /// after a rollback, lets transactions of its clones take turns on it without waiting on
    /// each other for ever, and closes it with the store that opened it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_writers_connection_is_kept_between_transactions_and_closed_with_the_store() {
        let table = format!("kept_{}", std::process::id());
        for (store, dir) in stores("kept").await {
            sqlx::query(&format!("CREATE TABLE {table} (n INTEGER)")).execute(&store.pool).await.unwrap();
            let writer = store.with_own_pool(1).await.unwrap().keeping_connection();
            let insert = format!("INSERT INTO {table} (n) VALUES (1)");
            let mut tx = writer.begin().await.unwrap();
            sqlx::query(&insert).execute(tx.conn()).await.unwrap();
            tx.commit().await.unwrap();
            assert!(writer.held.writer.lock().await.is_some(), "kept after the commit");
            assert_eq!(writer.pool_stats(), (1, 0), "out of the pool");

            let mut tx = writer.begin().await.unwrap();
            sqlx::query(&insert).execute(tx.conn()).await.unwrap();
            drop(tx);
            assert!(writer.held.writer.lock().await.is_none(), "back to the pool after a rollback");
            assert_eq!(count(&store, &table).await, 1, "the rollback undid its insert");

            let mut turns = tokio::task::JoinSet::new();
            for _ in 0..4 {
                let (writer, insert) = (writer.clone(), insert.clone());
                turns.spawn(async move {
                    for _ in 0..10 {
                        let mut tx = writer.begin().await.unwrap();
                        sqlx::query(&insert).execute(tx.conn()).await.unwrap();
                        tx.commit().await.unwrap();
                    }
                });
            }
            let all = async {
                while let Some(done) = turns.join_next().await {
                    done.unwrap();
                }
            };
            tokio::time::timeout(Duration::from_secs(30), all).await.expect("the transactions took turns");
            assert_eq!(count(&store, &table).await, 41);
            assert_eq!(writer.pool_stats(), (1, 0), "kept again");

            sqlx::query(&format!("DROP TABLE {table}")).execute(&store.pool).await.unwrap();
            tokio::time::timeout(Duration::from_secs(4), store.close())
                .await
                .expect("the close waited for nothing");
            assert_eq!(writer.pool_stats().0, 0, "the kept connection was closed");
            assert!(writer.held.writer.lock().await.is_none());
            if let Some(dir) = dir {
                std::fs::remove_dir_all(dir).ok();
            }
        }
    }

    /// A kept connection skips the pool's checks; on PostgreSQL, when the server cut it
    /// meanwhile, the next transaction begins on one of the pool instead, and is kept after.
    #[tokio::test]
    async fn a_kept_connection_the_server_cut_is_replaced() {
        let Some(url) = crate::test_postgres_url(&format!("orderly_kept_{}", std::process::id())) else {
            return;
        };
        let store = Store::connect(&url).await.unwrap();
        let writer = store.with_own_pool(1).await.unwrap().keeping_connection();
        writer.begin().await.unwrap().commit().await.unwrap();
        async fn pid(tx: &mut super::Tx) -> i32 {
            sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(tx.conn()).await.unwrap()
        }
        let mut tx = writer.begin().await.unwrap();
        let first = pid(&mut tx).await;
        tx.commit().await.unwrap();
        let cut: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
            .bind(first)
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert!(cut, "the kept connection was cut");
        for _ in 0..3 {
            let mut tx = writer.begin().await.expect("begun on another connection");
            assert_ne!(pid(&mut tx).await, first);
            tx.commit().await.unwrap();
        }
        assert!(writer.held.writer.lock().await.is_some(), "the new one is kept");
        store.close().await;
    }
}
