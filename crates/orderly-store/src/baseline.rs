//! The bare SQL of one event, for benchmarks: the least any engine must do to apply an event
//! under a row lock (read the order's version, update the order, append a history row, commit).
//! The store bench compares the full engine path with it.

use super::{encode, Backend, Store, StoreError};
use crate::order::{OrderId, Time};

impl Store {
    /// Runs the bare event transaction on order `id`: `SELECT version ... [FOR UPDATE]`,
    /// `UPDATE orders`, `INSERT INTO order_history`, commit.
    pub async fn baseline_event(&self, id: OrderId, now: Time) -> Result<(), StoreError> {
        let mut tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        let select = match self.backend {
            Backend::Sqlite => "SELECT version FROM orders WHERE id = $1",
            Backend::Postgres => "SELECT version FROM orders WHERE id = $1 FOR UPDATE",
        };
        let version: i64 = sqlx::query_scalar(select).bind(id).fetch_one(&mut *tx).await?;
        let at = encode::time(now);
        sqlx::query("UPDATE orders SET version = $1, updated_at = $2 WHERE id = $3 AND version = $4")
            .bind(version + 1)
            .bind(&at)
            .bind(id)
            .bind(version)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO order_history (order_id, at, kind, event, from_status, to_status, actor, workflow_version, detail) \
             VALUES ($1, $2, 'event', 'note', NULL, NULL, NULL, 1, '{}')",
        )
        .bind(id)
        .bind(&at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
