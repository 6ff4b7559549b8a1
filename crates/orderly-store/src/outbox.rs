//! The outbox: messages for other systems, written in the same transaction as the decision that
//! sends them and delivered after commit by the worker in `src/delivery`.
//!
//! A message is `pending` until delivered, then `sent`, or `dead` when delivery gave up. A
//! worker takes due messages with [`Store::claim_outbox`]: in one short transaction it selects
//! `pending` rows due now (PostgreSQL: `FOR UPDATE SKIP LOCKED`, so two processes never take the
//! same row; SQLite: `BEGIN IMMEDIATE` serializes the claim), counts the attempt and pushes
//! `next_attempt_at` one lease ahead, then commits. A process that dies while sending leaves
//! the message `pending`, due again when the lease runs out. The outcome is then recorded with
//! [`Store::outbox_sent`], [`Store::outbox_retry`] or [`Tx::outbox_dead`], each with a
//! `delivery` row in the order's history (history rows are rows of their own: the order's
//! version does not move).

use super::batch::{placeholders, CHUNK};
use super::encode::{self, get_i64, get_json, get_opt_str, get_opt_time, get_str, get_time};
use super::{Backend, Store, StoreError, Tx};
use crate::engine::OutboxMessage;
use crate::order::{OrderId, Time};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

/// A stored outbox message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredOutbox {
    /// The row's id (increasing in the order messages were queued).
    pub id: i64,
    /// The order that sent it.
    pub order_id: OrderId,
    /// `pending` until delivered, then `sent` or `dead`.
    pub state: String,
    /// Delivery attempts so far (a claimed message counts the attempt being made).
    pub attempts: i64,
    /// When it was queued.
    pub created_at: Time,
    /// When delivery should next be tried (while claimed: when the claim's lease runs out).
    pub next_attempt_at: Time,
    /// What went wrong on the last failed attempt.
    pub last_error: Option<String>,
    /// The HTTP status of the last attempt that got an answer.
    pub last_status: Option<i64>,
    /// When it was delivered.
    pub sent_at: Option<Time>,
    /// What the last attempt sent: a webhook's body (`{"body": ...}`, built by its payload hook
    /// when it has one), an email's `{"to", "subject", "text"}`. `None` before any attempt got
    /// that far.
    pub sent: Option<serde_json::Value>,
    /// The message.
    #[serde(flatten)]
    pub message: OutboxMessage,
}

/// The states a message can be in.
pub const OUTBOX_STATES: [&str; 3] = ["pending", "sent", "dead"];

const COLUMNS: &str =
    "id, order_id, kind, target, template, subject, hook, event, payload, state, attempts, \
                       created_at, next_attempt_at, last_error, last_status, sent_at, sent";

fn decode(row: &AnyRow) -> Result<StoredOutbox, StoreError> {
    Ok(StoredOutbox {
        id: get_i64(row, "id")?,
        order_id: get_i64(row, "order_id")?,
        state: get_str(row, "state")?,
        attempts: get_i64(row, "attempts")?,
        created_at: get_time(row, "created_at")?,
        next_attempt_at: get_time(row, "next_attempt_at")?,
        last_error: get_opt_str(row, "last_error")?,
        last_status: row
            .try_get::<Option<i64>, _>("last_status")
            .map_err(|e| StoreError::Corrupt(format!("column `last_status`: {e}")))?,
        sent_at: get_opt_time(row, "sent_at")?,
        sent: get_opt_str(row, "sent")?
            .map(|text| serde_json::from_str(&text))
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("column `sent`: {e}")))?,
        message: OutboxMessage {
            kind: get_str(row, "kind")?
                .parse()
                .map_err(|_| StoreError::Corrupt("column `kind`: not `webhook` or `email`".into()))?,
            target: get_str(row, "target")?,
            template: get_opt_str(row, "template")?,
            subject: get_opt_str(row, "subject")?,
            hook: get_opt_str(row, "hook")?,
            event: get_opt_str(row, "event")?,
            payload: get_json(row, "payload")?,
        },
    })
}

/// Queues messages for an order, due now.
pub(crate) async fn insert(
    conn: &mut AnyConnection,
    order: OrderId,
    messages: &[OutboxMessage],
    now: Time,
) -> Result<(), StoreError> {
    let messages: Vec<(OrderId, &OutboxMessage, Time)> = messages.iter().map(|m| (order, m, now)).collect();
    insert_rows(conn, &messages).await
}

/// Queues messages `(order, message, queued at)` of one or many orders, in one statement per
/// chunk, in the order given (their ids follow it, and delivery takes them in that order).
pub(crate) async fn insert_rows(
    conn: &mut AnyConnection,
    messages: &[(OrderId, &OutboxMessage, Time)],
) -> Result<(), StoreError> {
    for chunk in messages.chunks(CHUNK) {
        let sql = format!(
            "INSERT INTO outbox (order_id, kind, target, template, subject, hook, event, payload, state, \
             attempts, created_at, next_attempt_at) SELECT column1, column2, column3, column4, column5, \
             column6, column7, column8, 'pending', 0, column9, column9 FROM (VALUES {}) AS v",
            placeholders(chunk.len(), 9)
        );
        let mut q = sqlx::query(&sql);
        for (order, m, at) in chunk {
            q = q
                .bind(*order)
                .bind(m.kind.as_str())
                .bind(m.target.as_str())
                .bind(m.template.as_deref())
                .bind(m.subject.as_deref())
                .bind(m.hook.as_deref())
                .bind(m.event.as_deref())
                .bind(encode::json("outbox payload", &m.payload)?)
                .bind(encode::time(*at));
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Which messages a worker may take: webhooks to these targets, and emails when it can send
/// them. Others stay `pending` (visible in the API) and keep their attempts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deliverable {
    /// The webhook targets configured.
    pub webhooks: Vec<String>,
    /// Whether emails can be sent (`[email]` is configured).
    pub email: bool,
}

impl Deliverable {
    /// Nothing can be delivered.
    pub(crate) fn is_empty(&self) -> bool {
        self.webhooks.is_empty() && !self.email
    }

    /// The SQL condition, with placeholders numbered from `$first`, and the values to bind.
    fn condition(&self, first: usize) -> (String, Vec<String>) {
        let mut parts = Vec::new();
        let mut values = Vec::new();
        if !self.webhooks.is_empty() {
            let marks: Vec<String> = (0..self.webhooks.len()).map(|i| format!("${}", first + i)).collect();
            parts.push(format!("(kind = 'webhook' AND target IN ({}))", marks.join(", ")));
            values.extend(self.webhooks.iter().cloned());
        }
        if self.email {
            parts.push("kind = 'email'".to_string());
        }
        (format!("({})", parts.join(" OR ")), values)
    }
}

/// How one delivery attempt ended, for the order's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attempt {
    /// The attempt's number (1 for the first).
    pub attempt: i64,
    /// `sent`, `retry` or `dead`.
    pub outcome: &'static str,
    /// The HTTP status, when the target answered.
    pub status: Option<i64>,
    /// What went wrong (an error, or the start of the answer's body).
    pub error: Option<String>,
    /// What this attempt sent (see [`StoredOutbox::sent`]).
    pub sent: Option<serde_json::Value>,
}

/// Appends a `delivery` row to the message's order's history, under the order's workflow
/// version, without touching the order row.
async fn delivery_history(
    conn: &mut AnyConnection,
    message: &StoredOutbox,
    attempt: &Attempt,
    actor: Option<&str>,
    now: Time,
) -> Result<(), StoreError> {
    let detail = serde_json::json!({
        "message_id": message.id,
        "kind": message.message.kind,
        "target": message.message.target,
        "attempt": attempt.attempt,
        "outcome": attempt.outcome,
        "status": attempt.status,
        "error": attempt.error,
        "sent": attempt.sent,
    });
    sqlx::query(
        "INSERT INTO order_history (order_id, at, kind, event, from_status, to_status, actor, workflow_version, detail) \
         SELECT id, $1, 'delivery', NULL, NULL, NULL, $2, workflow_version, $3 FROM orders WHERE id = $4",
    )
    .bind(encode::time(now))
    .bind(actor.unwrap_or("delivery"))
    .bind(encode::json("history detail", &detail)?)
    .bind(message.order_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// What [`Store::outbox_page`] lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboxQuery {
    /// Only messages in this state.
    pub state: Option<String>,
    /// Only this order's messages.
    pub order: Option<OrderId>,
    /// Only messages with an id below this (the previous page's cursor).
    pub before: Option<i64>,
    /// Rows per page.
    pub limit: u32,
}

impl Store {
    /// Outbox messages, oldest first: one order's (`Some`), or all.
    pub async fn outbox(&self, order: Option<OrderId>) -> Result<Vec<StoredOutbox>, StoreError> {
        let rows = match order {
            Some(id) => {
                sqlx::query(&format!("SELECT {COLUMNS} FROM outbox WHERE order_id = $1 ORDER BY id"))
                    .bind(id)
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                sqlx::query(&format!("SELECT {COLUMNS} FROM outbox ORDER BY id"))
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.iter().map(decode).collect()
    }

    /// One message.
    pub async fn outbox_message(&self, id: i64) -> Result<Option<StoredOutbox>, StoreError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM outbox WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(decode).transpose()
    }

    /// A page of messages, newest first, and the cursor of the next page (`None` on the last).
    pub async fn outbox_page(&self, q: &OutboxQuery) -> Result<(Vec<StoredOutbox>, Option<i64>), StoreError> {
        let mut sql = format!("SELECT {COLUMNS} FROM outbox WHERE 1 = 1");
        let mut n = 0;
        let mut mark = || {
            n += 1;
            format!("${n}")
        };
        if q.state.is_some() {
            sql.push_str(&format!(" AND state = {}", mark()));
        }
        if q.order.is_some() {
            sql.push_str(&format!(" AND order_id = {}", mark()));
        }
        if q.before.is_some() {
            sql.push_str(&format!(" AND id < {}", mark()));
        }
        sql.push_str(&format!(" ORDER BY id DESC LIMIT {}", mark()));
        let mut query = sqlx::query(&sql);
        if let Some(s) = &q.state {
            query = query.bind(s.as_str());
        }
        if let Some(o) = q.order {
            query = query.bind(o);
        }
        if let Some(b) = q.before {
            query = query.bind(b);
        }
        let limit = i64::from(q.limit.max(1));
        let rows = query.bind(limit + 1).fetch_all(&self.pool).await?;
        let mut messages = rows.iter().map(decode).collect::<Result<Vec<_>, _>>()?;
        let next = if messages.len() as i64 > limit {
            messages.truncate(limit as usize);
            messages.last().map(|m| m.id)
        } else {
            None
        };
        Ok((messages, next))
    }

    /// Messages per state, for the metrics.
    pub async fn outbox_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM outbox GROUP BY state ORDER BY state")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok((get_str(r, "state")?, get_i64(r, "n")?))).collect()
    }

    /// Takes up to `limit` messages due at `now` that `what` allows, oldest due first: counts
    /// the attempt and moves `next_attempt_at` to `now + lease`, in one committed transaction.
    /// The messages come back as claimed (`attempts` is the attempt being made).
    pub async fn claim_outbox(
        &self,
        what: &Deliverable,
        now: Time,
        lease: chrono::Duration,
        limit: i64,
    ) -> Result<Vec<StoredOutbox>, StoreError> {
        if what.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.begin().await?;
        let (condition, values) = what.condition(3);
        let lock = match tx.backend() {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM outbox WHERE state = 'pending' AND next_attempt_at <= $1 AND {condition} \
             ORDER BY next_attempt_at, id LIMIT $2{lock}"
        );
        let mut query = sqlx::query(&sql).bind(encode::time(now)).bind(limit);
        for v in &values {
            query = query.bind(v.as_str());
        }
        let rows = query.fetch_all(tx.conn()).await?;
        let mut claimed = rows.iter().map(decode).collect::<Result<Vec<_>, _>>()?;
        let until = now + lease;
        for m in &mut claimed {
            m.attempts += 1;
            m.next_attempt_at = until;
            sqlx::query(
                "UPDATE outbox SET attempts = $1, next_attempt_at = $2, updated_at = $3 WHERE id = $4",
            )
            .bind(m.attempts)
            .bind(encode::time(until))
            .bind(encode::time(now))
            .bind(m.id)
            .execute(tx.conn())
            .await?;
        }
        tx.commit().await?;
        Ok(claimed)
    }

    /// Records a delivered message (`sent`), with its history row. False when it was no longer
    /// pending (a retry through the API reset it, say): nothing is written then.
    pub async fn outbox_sent(
        &self,
        message: &StoredOutbox,
        status: Option<i64>,
        sent: Option<&serde_json::Value>,
        now: Time,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE outbox SET state = 'sent', sent_at = $1, last_status = $2, last_error = NULL, updated_at = $3, \
             sent = $4 WHERE id = $5 AND state = 'pending'",
        )
        .bind(encode::time(now))
        .bind(status)
        .bind(encode::time(now))
        .bind(sent.map(|v| encode::json("sent", v)).transpose()?)
        .bind(message.id)
        .execute(tx.conn())
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        let attempt =
            Attempt { attempt: message.attempts, outcome: "sent", status, error: None, sent: sent.cloned() };
        delivery_history(tx.conn(), message, &attempt, None, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Records a failed attempt to try again at `next`, with its history row. False (nothing
    /// written) when the message is no longer at this attempt: another worker took it after
    /// this one's lease ran out, or the API reset it.
    pub async fn outbox_retry(
        &self,
        message: &StoredOutbox,
        status: Option<i64>,
        error: &str,
        sent: Option<&serde_json::Value>,
        next: Time,
        now: Time,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE outbox SET next_attempt_at = $1, last_status = $2, last_error = $3, updated_at = $4, sent = $5 \
             WHERE id = $6 AND state = 'pending' AND attempts = $7",
        )
        .bind(encode::time(next))
        .bind(status)
        .bind(error)
        .bind(encode::time(now))
        .bind(sent.map(|v| encode::json("sent", v)).transpose()?)
        .bind(message.id)
        .bind(message.attempts)
        .execute(tx.conn())
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        let attempt = Attempt {
            attempt: message.attempts,
            outcome: "retry",
            status,
            error: Some(error.into()),
            sent: sent.cloned(),
        };
        delivery_history(tx.conn(), message, &attempt, None, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Makes a `dead` or `pending` message due now with its attempts reset (the admin's retry),
    /// noting it in the order's history. `Ok(None)` for an unknown message; `Ok(Some(m))` with
    /// `m.state == "sent"` when it was delivered already (nothing changes then).
    pub async fn outbox_requeue(
        &self,
        id: i64,
        actor: Option<&str>,
        now: Time,
    ) -> Result<Option<StoredOutbox>, StoreError> {
        let mut tx = self.begin().await?;
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM outbox WHERE id = $1"))
            .bind(id)
            .fetch_optional(tx.conn())
            .await?;
        let Some(message) = row.as_ref().map(decode).transpose()? else { return Ok(None) };
        if message.state == "sent" {
            return Ok(Some(message));
        }
        sqlx::query(
            "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = $1, updated_at = $2 WHERE id = $3",
        )
        .bind(encode::time(now))
        .bind(encode::time(now))
        .bind(id)
        .execute(tx.conn())
        .await?;
        let attempt = Attempt { attempt: 0, outcome: "requeued", status: None, error: None, sent: None };
        delivery_history(tx.conn(), &message, &attempt, Some(actor.unwrap_or("admin")), now).await?;
        tx.commit().await?;
        let mut message = message;
        message.state = "pending".into();
        message.attempts = 0;
        message.next_attempt_at = now;
        Ok(Some(message))
    }
}

impl Tx {
    /// Records a message delivery gave up on (`dead`), with its history row, inside the
    /// transaction that also flags the order. False (nothing written) when it was no longer
    /// pending.
    pub async fn outbox_dead(
        &mut self,
        message: &StoredOutbox,
        status: Option<i64>,
        error: &str,
        sent: Option<&serde_json::Value>,
        now: Time,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE outbox SET state = 'dead', last_status = $1, last_error = $2, updated_at = $3, sent = $4 \
             WHERE id = $5 AND state = 'pending'",
        )
        .bind(status)
        .bind(error)
        .bind(encode::time(now))
        .bind(sent.map(|v| encode::json("sent", v)).transpose()?)
        .bind(message.id)
        .execute(self.conn())
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        let attempt = Attempt {
            attempt: message.attempts,
            outcome: "dead",
            status,
            error: Some(error.into()),
            sent: sent.cloned(),
        };
        delivery_history(self.conn(), message, &attempt, None, now).await?;
        Ok(true)
    }
}
