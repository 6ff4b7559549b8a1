//! Many decided inputs written in one transaction with a few set-based statements per table:
//! what the service's writer commits at once (group commit).
//!
//! A batch is a list of inputs, each already decided on the order as it stood before it (the
//! writer chains two inputs for one order), and one final state per order. The writes, whatever
//! the batch's size: one `UPDATE orders ... FROM (VALUES ...)` checking every order's version,
//! one multi-row `INSERT` each into `order_history`, `order_inputs`, `outbox` and `timers`, one
//! `DELETE` for the timers the inputs cancel, one `INSERT` of idempotency keys; only an order
//! whose lines, shipments or fulfillment actions changed costs statements of its own.
//!
//! The statements every batch runs (versions, the orders whose version alone moves, history,
//! inputs) take their rows as one bound JSON array (`json_each` on SQLite,
//! `jsonb_array_elements` on PostgreSQL): their text is the same whatever the batch's size, so
//! each is prepared once per connection and cached, where a `VALUES` list of N rows would be a
//! new statement to parse and plan for every N. The rarer ones bind a `VALUES` list, in chunks
//! under the databases' limits on bound parameters (SQLite 32,766, PostgreSQL 65,535).

use super::encode::{self, get_i64, get_json, get_str};
use super::{history, inputs, orders, outbox, timers, Backend, StoreError, StoredHistory, Tx};
use crate::engine::{HistoryEntry, OutboxMessage, TimerCancel, TimerStart};
use crate::order::{Order, OrderId, Time};
use orderly_engine::replay::{Input, Outcome};
use std::collections::HashMap;

/// Rows per multi-row statement: the widest row binds 18 values, so a chunk stays far under
/// both databases' limits on parameters.
pub(crate) const CHUNK: usize = 500;

/// One order a batch changes.
#[derive(Debug, Clone, Copy)]
pub struct OrderWrite<'a> {
    /// The order as stored when the batch began: its version is checked, and its lines,
    /// shipments and fulfillment actions are compared with `after`'s.
    pub before: &'a Order,
    /// The order once every input of the batch for it is applied.
    pub after: &'a Order,
    /// The version it gets: `before.version` plus the inputs applied to it.
    pub version: i64,
    /// The workflow version the last input ran under.
    pub workflow_version: i64,
    /// Its `updated_at`.
    pub at: Time,
}

/// One input a batch applies, in the order applied.
#[derive(Debug, Clone, Copy)]
pub struct InputWrite<'a> {
    /// Its order.
    pub order: OrderId,
    /// When it was applied.
    pub at: Time,
    /// The workflow version it ran under.
    pub workflow_version: i64,
    /// The history rows it appends.
    pub history: &'a [HistoryEntry],
    /// The timers it cancels: those stored before it (the batch's earlier inputs included).
    pub timer_cancels: &'a [TimerCancel],
    /// The timers it starts.
    pub timer_starts: &'a [TimerStart],
    /// The messages it queues.
    pub outbox: &'a [OutboxMessage],
    /// The input as recorded for replay, and what it came to.
    pub input: &'a Input,
    /// What it came to.
    pub outcome: &'a Outcome,
}

/// `(?, ?, ...), (?, ?, ...)`: `rows` rows of `cols` placeholders, numbered from `$1`.
pub(crate) fn placeholders(rows: usize, cols: usize) -> String {
    let mut sql = String::with_capacity(rows * cols * 5);
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..cols {
            if c > 0 {
                sql.push_str(", ");
            }
            sql.push('$');
            sql.push_str(&(r * cols + c + 1).to_string());
        }
        sql.push(')');
    }
    sql
}

impl Tx {
    /// The versions of these orders as this transaction sees them; on PostgreSQL each row is
    /// locked (`FOR UPDATE`) in the order of the ids, so that batches of several processes
    /// never wait on each other in a circle. An id with no order is missing from the answer.
    pub async fn lock_versions(&mut self, ids: &[OrderId]) -> Result<HashMap<OrderId, i64>, StoreError> {
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let list = serde_json::to_string(&ids).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut versions = HashMap::with_capacity(ids.len());
        match self.backend() {
            // One row, the pairs as a JSON array: rows would come back one by one across sqlx's
            // connection thread.
            Backend::Sqlite => {
                let sql = "SELECT json_group_array(json_array(id, version)) AS pairs FROM orders \
                           WHERE id IN (SELECT value FROM json_each($1))";
                let row = sqlx::query(sql).bind(list).fetch_one(self.conn()).await?;
                let pairs: Vec<(OrderId, i64)> = serde_json::from_str(&get_str(&row, "pairs")?)
                    .map_err(|e| StoreError::Corrupt(format!("order versions: {e}")))?;
                versions.extend(pairs);
            }
            Backend::Postgres => {
                let sql = "SELECT id, version FROM orders WHERE id IN \
                           (SELECT e::bigint FROM jsonb_array_elements_text($1::jsonb) AS e) ORDER BY id FOR UPDATE";
                for row in sqlx::query(sql).bind(list).fetch_all(self.conn()).await? {
                    versions.insert(get_i64(&row, "id")?, get_i64(&row, "version")?);
                }
            }
        }
        Ok(versions)
    }

    /// The results saved under these idempotency keys, by order and key (those not saved are
    /// missing from the answer).
    pub async fn idempotent_results(
        &mut self,
        keys: &[(OrderId, &str)],
    ) -> Result<HashMap<(OrderId, String), serde_json::Value>, StoreError> {
        let mut found = HashMap::new();
        for chunk in keys.chunks(CHUNK) {
            let terms = (0..chunk.len())
                .map(|i| format!("(order_id = ${} AND idempotency_key = ${})", 2 * i + 1, 2 * i + 2))
                .collect::<Vec<_>>()
                .join(" OR ");
            let sql = format!("SELECT order_id, idempotency_key, result FROM idempotency_keys WHERE {terms}");
            let mut q = sqlx::query(&sql);
            for (order, key) in chunk {
                q = q.bind(*order).bind(*key);
            }
            for row in q.fetch_all(self.conn()).await? {
                let key = (get_i64(&row, "order_id")?, get_str(&row, "idempotency_key")?);
                found.insert(key, get_json(&row, "result")?);
            }
        }
        Ok(found)
    }

    /// Writes a batch: every order's row (checked against `before.version`: a version that
    /// moved is [`StoreError::Conflict`], and the caller drops the transaction), the parts
    /// that changed, and every input's history, timers, messages and record. Returns each
    /// input's history rows as stored (with their ids), in the order of `inputs`.
    pub async fn write_batch(
        &mut self,
        orders: &[OrderWrite<'_>],
        inputs: &[InputWrite<'_>],
    ) -> Result<Vec<Vec<StoredHistory>>, StoreError> {
        // History: one statement for every input's rows; the answer splits them back.
        let rows: Vec<(OrderId, &HistoryEntry, i64)> = inputs
            .iter()
            .flat_map(|i| i.history.iter().map(move |h| (i.order, h, i.workflow_version)))
            .collect();
        let (same, changed): (Vec<OrderWrite<'_>>, Vec<OrderWrite<'_>>) =
            orders.iter().partition(|w| orders::same_row(w.before, w.after));
        self.update_rows(&changed).await?;
        for o in orders {
            orders::write_changed_parts(self.conn(), o.after.id, o.before, o.after).await?;
        }
        let stored = match self.backend() {
            Backend::Sqlite => self.sqlite_versions_inputs_history(&same, inputs, &rows).await?,
            Backend::Postgres => {
                self.update_versions(&same).await?;
                self.insert_inputs(inputs).await?;
                history::insert_rows(self.conn(), Backend::Postgres, &rows).await?
            }
        };
        let mut stored = stored.into_iter();
        let mut written = Vec::with_capacity(inputs.len());
        for i in inputs {
            let mine: Vec<StoredHistory> = stored.by_ref().take(i.history.len()).collect();
            self.wrote(i.order, mine.clone());
            written.push(mine);
        }
        self.write_timers(inputs).await?;
        self.insert_outbox(inputs).await?;
        Ok(written)
    }

    /// Saves the results of inputs applied under idempotency keys: `(order, key, result, when)`.
    /// A key saved already is [`StoreError::Conflict`] (see [`Tx::save_idempotent_result`]).
    pub async fn save_idempotent_results(
        &mut self,
        results: &[(OrderId, &str, serde_json::Value, Time)],
    ) -> Result<(), StoreError> {
        for chunk in results.chunks(CHUNK) {
            let sql = format!(
                "INSERT INTO idempotency_keys (order_id, idempotency_key, result, created_at) VALUES {}",
                placeholders(chunk.len(), 4)
            );
            let mut q = sqlx::query(&sql);
            for (order, key, result, at) in chunk {
                q = q
                    .bind(*order)
                    .bind(*key)
                    .bind(encode::json("idempotent result", result)?)
                    .bind(encode::time(*at));
            }
            match q.execute(self.conn()).await {
                Ok(_) => {}
                Err(e) => {
                    return Err(match StoreError::from(e) {
                        StoreError::Duplicate(_) => StoreError::Conflict,
                        e => e,
                    })
                }
            }
        }
        Ok(())
    }

    /// One `UPDATE ... FROM (VALUES ...)` for the orders whose row changed and one for those
    /// whose changes only moved the version (a note, an event that stays and sets nothing:
    /// then the body and the indexed columns are left alone), each row checked against the
    /// version it had.
    pub(crate) async fn update_orders(&mut self, orders: &[OrderWrite<'_>]) -> Result<(), StoreError> {
        let (same, changed): (Vec<OrderWrite<'_>>, Vec<OrderWrite<'_>>) =
            orders.iter().partition(|w| orders::same_row(w.before, w.after));
        self.update_versions(&same).await?;
        self.update_rows(&changed).await
    }

    /// SQLite: the statements every batch runs, in one round trip to the connection's thread
    /// (each is one: sqlx runs SQLite on a thread of its own): the orders whose version alone
    /// moves, the inputs, the history rows, and what the checks need back (how many orders were
    /// updated; how many history rows were written and the last one's id).
    async fn sqlite_versions_inputs_history(
        &mut self,
        same: &[OrderWrite<'_>],
        inputs: &[InputWrite<'_>],
        history_rows: &[(OrderId, &HistoryEntry, i64)],
    ) -> Result<Vec<StoredHistory>, StoreError> {
        static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
            format!(
                "{}; SELECT changes() AS updated; {}; {}",
                SQLITE_VERSIONS,
                inputs::SQLITE_INSERT.replace("$1", "$2"),
                history::sqlite_insert_counted("$3"),
            )
        });
        let rows: Vec<inputs::Row<'_>> = inputs.iter().map(input_row).collect();
        let found = sqlx::query(&SQL)
            .bind(versions_json(same)?)
            .bind(inputs::json_rows(&rows)?)
            .bind(history::json_rows(history_rows)?)
            .fetch_all(self.conn())
            .await?;
        let [updated, written] = found.as_slice() else {
            return Err(StoreError::Corrupt(format!(
                "a batch's writes answered {} rows, not 2",
                found.len()
            )));
        };
        if get_i64(updated, "updated")? != same.len() as i64 {
            return Err(StoreError::Conflict);
        }
        if history_rows.is_empty() {
            return Ok(Vec::new());
        }
        history::sqlite_stored(written, history_rows)
    }

    /// The orders whose changes only moved the version: one statement, the rows bound as one
    /// JSON array, each checked against the version it had.
    async fn update_versions(&mut self, same: &[OrderWrite<'_>]) -> Result<(), StoreError> {
        if !same.is_empty() {
            let sql = match self.backend() {
                Backend::Sqlite => SQLITE_VERSIONS,
                Backend::Postgres => {
                    "UPDATE orders SET workflow_version = v.wv, version = v.nv, updated_at = v.at FROM \
                     (SELECT (e->>0)::bigint AS id, (e->>1)::bigint AS wv, (e->>2)::bigint AS nv, e->>3 AS at, \
                     (e->>4)::bigint AS ov FROM jsonb_array_elements($1::jsonb) AS e) AS v \
                     WHERE orders.id = v.id AND orders.version = v.ov"
                }
            };
            let done = sqlx::query(sql).bind(versions_json(same)?).execute(self.conn()).await?;
            if done.rows_affected() != same.len() as u64 {
                return Err(StoreError::Conflict);
            }
        }
        Ok(())
    }

    /// The orders whose row changed: `UPDATE ... FROM (VALUES ...)` in chunks, each row checked
    /// against the version it had.
    async fn update_rows(&mut self, changed: &[OrderWrite<'_>]) -> Result<(), StoreError> {
        for chunk in changed.chunks(CHUNK) {
            let sql = format!(
                "UPDATE orders SET workflow = v.column2, workflow_version = v.column3, channel = v.column4, \
                 mode = v.column5, external_id = v.column6, status = v.column7, status_since = v.column8, \
                 customer_id = v.column9, body = v.column10, flags = v.column11, queue = v.column12, \
                 assignee = v.column13, version = v.column14, lock_holder = v.column15, \
                 lock_expires_at = v.column16, updated_at = v.column17 \
                 FROM (VALUES {}) AS v WHERE orders.id = v.column1 AND orders.version = v.column18",
                placeholders(chunk.len(), 18)
            );
            let mut q = sqlx::query(&sql);
            for w in chunk {
                let o = w.after;
                q = q
                    .bind(o.id)
                    .bind(o.workflow.as_str())
                    .bind(w.workflow_version)
                    .bind(o.channel.as_str())
                    .bind(o.mode.as_deref())
                    .bind(o.external_id.as_deref())
                    .bind(o.status.as_str())
                    .bind(encode::time(o.status_since))
                    .bind(o.customer.id)
                    .bind(orders::body(o)?)
                    .bind(encode::flags(&o.flags))
                    .bind(o.queue.as_deref())
                    .bind(o.assignee.as_deref())
                    .bind(w.version)
                    .bind(o.lock.as_ref().map(|l| l.holder.as_str()))
                    .bind(o.lock.as_ref().map(|l| encode::time(l.expires_at)))
                    .bind(encode::time(w.at))
                    .bind(w.before.version);
            }
            let done = q.execute(self.conn()).await?;
            if done.rows_affected() != chunk.len() as u64 {
                return Err(StoreError::Conflict);
            }
        }
        Ok(())
    }

    /// The inputs' timer changes, in their order: a cancel takes the matching timers stored
    /// before the batch (one `DELETE`) and those an earlier input of the batch started (never
    /// written); the starts left are written together.
    async fn write_timers(&mut self, inputs: &[InputWrite<'_>]) -> Result<(), StoreError> {
        let mut cancels: Vec<(OrderId, &TimerCancel)> = Vec::new();
        let mut starts: Vec<(OrderId, &TimerStart, Time)> = Vec::new();
        for i in inputs {
            for c in i.timer_cancels {
                starts.retain(|(o, t, _)| {
                    *o != i.order
                        || match c {
                            TimerCancel::Status(s) => &t.status != s,
                            TimerCancel::Name(n) => &t.name != n,
                        }
                });
                cancels.push((i.order, c));
            }
            starts.extend(i.timer_starts.iter().map(|t| (i.order, t, i.at)));
        }
        timers::delete_matching(self.conn(), &cancels).await?;
        timers::insert_rows(self.conn(), &starts).await
    }

    async fn insert_outbox(&mut self, inputs: &[InputWrite<'_>]) -> Result<(), StoreError> {
        let messages: Vec<(OrderId, &OutboxMessage, Time)> =
            inputs.iter().flat_map(|i| i.outbox.iter().map(move |m| (i.order, m, i.at))).collect();
        outbox::insert_rows(self.conn(), &messages).await
    }

    async fn insert_inputs(&mut self, inputs: &[InputWrite<'_>]) -> Result<(), StoreError> {
        let rows: Vec<inputs::Row<'_>> = inputs.iter().map(input_row).collect();
        let backend = self.backend();
        inputs::insert_rows(self.conn(), backend, &rows).await
    }
}

/// SQLite's update of the orders whose version alone moves, bound as one JSON array (`$1`,
/// from [`versions_json`]).
const SQLITE_VERSIONS: &str = "UPDATE orders SET workflow_version = v.wv, version = v.nv, updated_at = v.at \
     FROM (SELECT value ->> 0 AS id, value ->> 1 AS wv, value ->> 2 AS nv, value ->> 3 AS at, value ->> 4 AS ov \
     FROM json_each($1)) AS v WHERE orders.id = v.id AND orders.version = v.ov";

/// The orders whose version alone moves, as the one JSON array the update binds.
fn versions_json(same: &[OrderWrite<'_>]) -> Result<String, StoreError> {
    let rows: Vec<serde_json::Value> = same
        .iter()
        .map(|w| {
            serde_json::json!([
                w.after.id,
                w.workflow_version,
                w.version,
                encode::time(w.at),
                w.before.version
            ])
        })
        .collect();
    serde_json::to_string(&rows).map_err(|e| StoreError::Corrupt(format!("a batch's rows: {e}")))
}

fn input_row<'a>(i: &InputWrite<'a>) -> inputs::Row<'a> {
    inputs::Row {
        order: i.order,
        at: i.at,
        input: i.input,
        outcome: i.outcome,
        workflow_version: i.workflow_version,
    }
}

#[cfg(test)]
mod tests {
    use super::placeholders;

    #[test]
    fn placeholders_number_rows_then_columns() {
        assert_eq!(placeholders(2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(placeholders(1, 1), "($1)");
    }
}
