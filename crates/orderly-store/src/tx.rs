//! [`Tx`]: one unit of work. Reads and writes of orders, customers and timers are added to it
//! by their own modules; this one holds the transaction, locks and idempotency keys.

use super::encode::{self, get_json};
use super::health::WriteHealth;
use super::{history, Backend, StoreError, StoredHistory};
use crate::engine::HistoryEntry;
use crate::order::{Lock, OrderId, Time};
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

    /// Sets (`Some`) or releases (`None`) the order's lock and appends `history`, if the order
    /// is still at `expected_version` (else [`StoreError::Conflict`]). The version goes up by
    /// one; `updated_at` becomes `history.at`.
    pub async fn set_lock(
        &mut self,
        id: OrderId,
        expected_version: i64,
        lock: Option<&Lock>,
        history: &HistoryEntry,
        workflow_version: i64,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE orders SET lock_holder = $1, lock_expires_at = $2, version = $3, updated_at = $4 \
             WHERE id = $5 AND version = $6",
        )
        .bind(lock.map(|l| l.holder.clone()))
        .bind(lock.map(|l| encode::time(l.expires_at)))
        .bind(expected_version + 1)
        .bind(encode::time(history.at))
        .bind(id)
        .bind(expected_version)
        .execute(self.conn())
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict);
        }
        let rows = history::insert(self.conn(), id, std::slice::from_ref(history), workflow_version).await?;
        self.wrote(id, rows);
        Ok(())
    }

    /// The result saved under this idempotency key for this order, if any.
    pub async fn idempotent_result(
        &mut self,
        order: OrderId,
        key: &str,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        let row =
            sqlx::query("SELECT result FROM idempotency_keys WHERE order_id = $1 AND idempotency_key = $2")
                .bind(order)
                .bind(key)
                .fetch_optional(self.conn())
                .await?;
        row.map(|row| get_json(&row, "result")).transpose()
    }

    /// Saves the result of the event applied under this key. A key saved already (by a
    /// concurrent transaction that committed first) is a [`StoreError::Conflict`]: retry, and
    /// [`Tx::idempotent_result`] will return the first result.
    pub async fn save_idempotent_result(
        &mut self,
        order: OrderId,
        key: &str,
        result: &serde_json::Value,
        now: Time,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "INSERT INTO idempotency_keys (order_id, idempotency_key, result, created_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(order)
        .bind(key)
        .bind(encode::json("idempotent result", result)?)
        .bind(encode::time(now))
        .execute(self.conn())
        .await;
        match done {
            Ok(_) => Ok(()),
            Err(e) => match StoreError::from(e) {
                StoreError::Duplicate(_) => Err(StoreError::Conflict),
                e => Err(e),
            },
        }
    }
}
