//! [`Tx`]: one unit of work. Reads and writes of orders, customers and timers are added to it
//! by their own modules; this one holds the transaction, locks and idempotency keys.

use super::encode::get_json;
use super::health::WriteHealth;
use super::{Backend, StoreError, StoredHistory};
use crate::order::OrderId;
use sqlx::AnyConnection;
use sqlx::{Any, Transaction};
use std::sync::Arc;

/// A transaction. Dropping it without [`Tx::commit`] rolls everything back.
pub struct Tx {
    tx: Transaction<'static, Any>,
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
    pub(super) fn new(
        tx: Transaction<'static, Any>,
        backend: Backend,
        health: Arc<WriteHealth>,
        turn: Option<tokio::sync::OwnedMutexGuard<()>>,
    ) -> Tx {
        Tx { tx, backend, written: Vec::new(), health, _turn: turn }
    }

    /// The connection the transaction runs on.
    pub(crate) fn conn(&mut self) -> &mut AnyConnection {
        &mut self.tx
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
    pub async fn commit(self) -> Result<(), StoreError> {
        let health = self.health;
        match self.tx.commit().await {
            Ok(()) => {
                health.committed();
                Ok(())
            }
            Err(e) => {
                let e = StoreError::from(e);
                health.failed(&e);
                Err(e)
            }
        }
    }
}
