//! Timers: rows that survive restarts. Started and cancelled with the decisions that cause them,
//! taken when due by whichever process asks first.

use super::batch::{placeholders, CHUNK};
use super::encode::{self, get_i64, get_str, get_time};
use super::{Backend, Store, StoreError, Tx};
use crate::engine::{TimerCancel, TimerStart};
use crate::order::{OrderId, Time};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::AnyConnection;

/// A stored timer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredTimer {
    /// The timer's id.
    pub id: i64,
    /// Its order.
    pub order_id: OrderId,
    /// Its name, as declared in the workflow.
    pub name: String,
    /// The status it belongs to (leaving the status cancels it).
    pub status: String,
    /// When it fires.
    pub due_at: Time,
}

const COLUMNS: &str = "id, order_id, name, status, due_at";

fn decode(row: &AnyRow) -> Result<StoredTimer, StoreError> {
    Ok(StoredTimer {
        id: get_i64(row, "id")?,
        order_id: get_i64(row, "order_id")?,
        name: get_str(row, "name")?,
        status: get_str(row, "status")?,
        due_at: get_time(row, "due_at")?,
    })
}

/// Deletes the order's timers that `cancels` names.
pub(crate) async fn cancel(
    conn: &mut AnyConnection,
    order: OrderId,
    cancels: &[TimerCancel],
) -> Result<(), StoreError> {
    let cancels: Vec<(OrderId, &TimerCancel)> = cancels.iter().map(|c| (order, c)).collect();
    delete_matching(conn, &cancels).await
}

/// Deletes the timers each `(order, cancel)` names, of one or many orders, in one statement per
/// chunk.
pub(crate) async fn delete_matching(
    conn: &mut AnyConnection,
    cancels: &[(OrderId, &TimerCancel)],
) -> Result<(), StoreError> {
    for chunk in cancels.chunks(CHUNK) {
        let terms = chunk
            .iter()
            .enumerate()
            .map(|(i, (_, c))| {
                let column = match c {
                    TimerCancel::Status(_) => "status",
                    TimerCancel::Name(_) => "name",
                };
                format!("(order_id = ${} AND {column} = ${})", 2 * i + 1, 2 * i + 2)
            })
            .collect::<Vec<_>>()
            .join(" OR ");
        let sql = format!("DELETE FROM timers WHERE {terms}");
        let mut q = sqlx::query(&sql);
        for (order, c) in chunk {
            let (TimerCancel::Status(value) | TimerCancel::Name(value)) = c;
            q = q.bind(*order).bind(value.as_str());
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Starts timers for an order.
pub(crate) async fn start(
    conn: &mut AnyConnection,
    order: OrderId,
    starts: &[TimerStart],
    now: Time,
) -> Result<(), StoreError> {
    let starts: Vec<(OrderId, &TimerStart, Time)> = starts.iter().map(|t| (order, t, now)).collect();
    insert_rows(conn, &starts).await
}

/// Starts timers `(order, timer, created at)` of one or many orders, in one statement per chunk.
pub(crate) async fn insert_rows(
    conn: &mut AnyConnection,
    starts: &[(OrderId, &TimerStart, Time)],
) -> Result<(), StoreError> {
    for chunk in starts.chunks(CHUNK) {
        let sql = format!(
            "INSERT INTO timers (order_id, name, status, due_at, created_at) VALUES {}",
            placeholders(chunk.len(), 5)
        );
        let mut q = sqlx::query(&sql);
        for (order, t, at) in chunk {
            q = q
                .bind(*order)
                .bind(t.name.as_str())
                .bind(t.status.as_str())
                .bind(encode::time(t.due_at))
                .bind(encode::time(*at));
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

impl Store {
    /// An order's timers, the next due first.
    pub async fn timers(&self, id: OrderId) -> Result<Vec<StoredTimer>, StoreError> {
        let rows =
            sqlx::query(&format!("SELECT {COLUMNS} FROM timers WHERE order_id = $1 ORDER BY due_at, id"))
                .bind(id)
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(decode).collect()
    }
}

impl Tx {
    /// Up to `limit` timers due at `now`, oldest first. On PostgreSQL they are locked for this
    /// transaction, and timers another transaction holds are skipped, so concurrent workers
    /// take different timers; on SQLite the `Tx` itself excludes other writers.
    pub async fn due_timers(&mut self, now: Time, limit: i64) -> Result<Vec<StoredTimer>, StoreError> {
        let lock = match self.backend() {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        };
        let sql =
            format!("SELECT {COLUMNS} FROM timers WHERE due_at <= $1 ORDER BY due_at, id LIMIT $2{lock}");
        let rows = sqlx::query(&sql).bind(encode::time(now)).bind(limit).fetch_all(self.conn()).await?;
        rows.iter().map(decode).collect()
    }

    /// Moves a timer's due time (a timer that cannot fire now waits instead of blocking the
    /// queue). False if it was gone already.
    pub async fn postpone_timer(&mut self, id: i64, due_at: Time) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE timers SET due_at = $1 WHERE id = $2")
            .bind(encode::time(due_at))
            .bind(id)
            .execute(self.conn())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes a timer (once fired). False if it was gone already.
    pub async fn delete_timer(&mut self, id: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM timers WHERE id = $1").bind(id).execute(self.conn()).await?;
        Ok(done.rows_affected() > 0)
    }
}
