//! Orders per workflow and status (what a reload checks a new workflow version against, and
//! what the "orders by status" gauge shows), the newest change to any order (the board's live
//! updates), and moving the orders of a renamed status.

use super::encode::{self, get_i64, get_str};
use super::{Store, StoreError};
use crate::order::Time;
use orderly_engine::replay::{Input, Outcome};

/// How often a rename that met a concurrent writer is retried.
const ATTEMPTS: usize = 5;

/// Orders of one workflow that move from a status a new version removed to the status its
/// `renamed OLD -> NEW` line names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusRename {
    /// The workflow's name.
    pub workflow: String,
    /// The old status code (no longer declared).
    pub from: String,
    /// The new status code.
    pub to: String,
    /// The version that declares the rename: the orders and their history rows name it.
    pub workflow_version: i64,
}

impl Store {
    /// The newest change to any order, as `(input, at)`: the id and the time of the last input
    /// recorded (`order_inputs`: every change to an order records one, in its transaction), or
    /// `None` with none. What the board's live updates watch: one read at the end of the
    /// primary key, whichever process made the change.
    pub async fn last_order_change(&self) -> Result<Option<(i64, String)>, StoreError> {
        let row = sqlx::query("SELECT id, at FROM order_inputs ORDER BY id DESC LIMIT 1")
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| Ok((get_i64(&row, "id")?, get_str(&row, "at")?))).transpose()
    }

    /// How many orders are in each status of each workflow: `(workflow, status, count)`, only
    /// pairs with orders, sorted by workflow and status. One `GROUP BY` over the
    /// `(workflow, status)` index.
    pub async fn status_counts(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT workflow, status, COUNT(*) AS n FROM orders GROUP BY workflow, status \
             ORDER BY workflow, status",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((get_str(row, "workflow")?, get_str(row, "status")?, get_i64(row, "n")?)))
            .collect()
    }

    /// Moves the orders of every rename to its new status, in one transaction: each order gets
    /// the new status (its `status_since` is kept: it has been there all along, under another
    /// name), the rename's workflow version and its own version plus one (so a concurrent
    /// writer that read it before retries on the new state); its timers tied to the old status
    /// are tied to the new one; and it gets one `status_renamed` history row (from, to, at
    /// `at`). Returns how many orders moved. Set-based: three statements per rename, whatever
    /// the number of orders.
    pub async fn rename_statuses(&self, renames: &[StatusRename], at: Time) -> Result<u64, StoreError> {
        if renames.is_empty() {
            return Ok(0);
        }
        let mut last = StoreError::Conflict;
        for _ in 0..ATTEMPTS {
            match self.try_rename_statuses(renames, at).await {
                Ok(moved) => return Ok(moved),
                Err(StoreError::Conflict) => last = StoreError::Conflict,
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    async fn try_rename_statuses(&self, renames: &[StatusRename], at: Time) -> Result<u64, StoreError> {
        let at = encode::time(at);
        let mut tx = self.begin().await?;
        let mut moved = 0;
        for r in renames {
            // Timers and history first: both find the orders by their old status.
            sqlx::query(
                "UPDATE timers SET status = $1 WHERE status = $2 \
                 AND order_id IN (SELECT id FROM orders WHERE workflow = $3 AND status = $2)",
            )
            .bind(r.to.as_str())
            .bind(r.from.as_str())
            .bind(r.workflow.as_str())
            .execute(tx.conn())
            .await?;
            let detail = encode::json(
                "history detail",
                &serde_json::json!({"renamed": {"from": r.from, "to": r.to}, "workflow_version": r.workflow_version}),
            )?;
            sqlx::query(
                "INSERT INTO order_history \
                 (order_id, at, kind, event, from_status, to_status, actor, workflow_version, detail) \
                 SELECT id, $1, $2, NULL, $3, $4, NULL, $5, $6 FROM orders WHERE workflow = $7 AND status = $3",
            )
            .bind(at.as_str())
            .bind("status_renamed")
            .bind(r.from.as_str())
            .bind(r.to.as_str())
            .bind(r.workflow_version)
            .bind(detail)
            .bind(r.workflow.as_str())
            .execute(tx.conn())
            .await?;
            // The rename moves each order's version on: it is one of the order's inputs, so that
            // replay can follow the order's statuses and count its inputs.
            let input = Input::Rename { from: r.from.clone(), to: r.to.clone() };
            sqlx::query(
                "INSERT INTO order_inputs (order_id, at, kind, workflow_version, input, outcome) \
                 SELECT id, $1, $2, $3, $4, $5 FROM orders WHERE workflow = $6 AND status = $7",
            )
            .bind(at.as_str())
            .bind(input.kind())
            .bind(r.workflow_version)
            .bind(encode::json("recorded input", &input)?)
            .bind(encode::json("recorded outcome", &Outcome::unchanged(&r.to))?)
            .bind(r.workflow.as_str())
            .bind(r.from.as_str())
            .execute(tx.conn())
            .await?;
            let done = sqlx::query(
                "UPDATE orders SET status = $1, workflow_version = $2, version = version + 1, updated_at = $3 \
                 WHERE workflow = $4 AND status = $5",
            )
            .bind(r.to.as_str())
            .bind(r.workflow_version)
            .bind(at.as_str())
            .bind(r.workflow.as_str())
            .bind(r.from.as_str())
            .execute(tx.conn())
            .await?;
            moved += done.rows_affected();
        }
        tx.commit().await?;
        Ok(moved)
    }
}
