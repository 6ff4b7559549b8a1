//! The outbox: messages for other systems, written in the same transaction as the decision that
//! sends them and delivered after commit (state `pending` until then).

use super::encode::{self, get_i64, get_json, get_opt_str, get_str, get_time};
use super::{Store, StoreError};
use crate::engine::OutboxMessage;
use crate::order::{OrderId, Time};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::AnyConnection;

/// A stored outbox message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredOutbox {
    /// The row's id (increasing in the order messages were queued).
    pub id: i64,
    /// The order that sent it.
    pub order_id: OrderId,
    /// `pending` until delivered.
    pub state: String,
    /// Delivery attempts so far.
    pub attempts: i64,
    /// When it was queued.
    pub created_at: Time,
    /// When delivery should next be tried.
    pub next_attempt_at: Time,
    /// The message.
    #[serde(flatten)]
    pub message: OutboxMessage,
}

const COLUMNS: &str = "id, order_id, kind, target, template, subject, hook, payload, state, attempts, \
                       created_at, next_attempt_at";

fn decode(row: &AnyRow) -> Result<StoredOutbox, StoreError> {
    Ok(StoredOutbox {
        id: get_i64(row, "id")?,
        order_id: get_i64(row, "order_id")?,
        state: get_str(row, "state")?,
        attempts: get_i64(row, "attempts")?,
        created_at: get_time(row, "created_at")?,
        next_attempt_at: get_time(row, "next_attempt_at")?,
        message: OutboxMessage {
            kind: get_str(row, "kind")?,
            target: get_str(row, "target")?,
            template: get_opt_str(row, "template")?,
            subject: get_opt_str(row, "subject")?,
            hook: get_opt_str(row, "hook")?,
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
    for m in messages {
        sqlx::query(
            "INSERT INTO outbox (order_id, kind, target, template, subject, hook, payload, state, attempts, \
             created_at, next_attempt_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', 0, $8, $9)",
        )
        .bind(order)
        .bind(m.kind.as_str())
        .bind(m.target.as_str())
        .bind(m.template.as_deref())
        .bind(m.subject.as_deref())
        .bind(m.hook.as_deref())
        .bind(encode::json("outbox payload", &m.payload)?)
        .bind(encode::time(now))
        .bind(encode::time(now))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
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
}
