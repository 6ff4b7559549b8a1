//! An order's history: appended with every decision, read back in order.

use super::encode::{self, get_i64, get_json, get_opt_str, get_str, get_time};
use super::{Store, StoreError};
use crate::engine::HistoryEntry;
use crate::order::OrderId;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::AnyConnection;

/// A stored history row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoredHistory {
    /// The row's id (increasing in the order rows were written).
    pub id: i64,
    /// The workflow version the decision that wrote it ran under.
    pub workflow_version: i64,
    /// The entry itself.
    #[serde(flatten)]
    pub entry: HistoryEntry,
}

/// Appends entries to an order's history; returns them as stored (with their ids), so that
/// an answer can be built from what was written without reading it back.
pub(crate) async fn insert(
    conn: &mut AnyConnection,
    order: OrderId,
    entries: &[HistoryEntry],
    workflow_version: i64,
) -> Result<Vec<StoredHistory>, StoreError> {
    let rows: Vec<(OrderId, &HistoryEntry, i64)> =
        entries.iter().map(|h| (order, h, workflow_version)).collect();
    insert_rows(conn, &rows).await
}

/// Appends history rows, each `(order, entry, workflow version)`, of one or many orders;
/// returns them as stored, in the order given.
pub(crate) async fn insert_rows(
    conn: &mut AnyConnection,
    rows: &[(OrderId, &HistoryEntry, i64)],
) -> Result<Vec<StoredHistory>, StoreError> {
    let mut stored = Vec::with_capacity(rows.len());
    // One statement per chunk of rows: a round trip per row would dominate short transactions.
    for chunk in rows.chunks(500) {
        let mut sql = String::from(
            "INSERT INTO order_history (order_id, at, kind, event, from_status, to_status, actor, workflow_version, detail) VALUES ",
        );
        for i in 0..chunk.len() {
            let b = i * 9;
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!(
                "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                b + 1,
                b + 2,
                b + 3,
                b + 4,
                b + 5,
                b + 6,
                b + 7,
                b + 8,
                b + 9
            ));
        }
        sql.push_str(" RETURNING id");
        let mut q = sqlx::query(&sql);
        for (order, h, workflow_version) in chunk {
            q = q
                .bind(*order)
                .bind(encode::time(h.at))
                .bind(h.kind.as_str())
                .bind(h.event.as_deref())
                .bind(h.from_status.as_deref())
                .bind(h.to_status.as_deref())
                .bind(h.actor.as_deref())
                .bind(*workflow_version)
                .bind(encode::json("history detail", &h.detail)?);
        }
        // One sequence hands out the ids in the order the rows are written: sorted, they
        // pair with the chunk's entries.
        let mut ids: Vec<i64> =
            q.fetch_all(&mut *conn).await?.iter().map(|r| get_i64(r, "id")).collect::<Result<_, _>>()?;
        ids.sort_unstable();
        if ids.len() != chunk.len() {
            return Err(StoreError::Corrupt(format!(
                "{} history rows written, {} ids returned",
                chunk.len(),
                ids.len()
            )));
        }
        stored.extend(ids.into_iter().zip(chunk).map(|(id, (_, entry, workflow_version))| StoredHistory {
            id,
            workflow_version: *workflow_version,
            entry: (*entry).clone(),
        }));
    }
    Ok(stored)
}

fn decode(row: &AnyRow) -> Result<StoredHistory, StoreError> {
    Ok(StoredHistory {
        id: get_i64(row, "id")?,
        workflow_version: get_i64(row, "workflow_version")?,
        entry: HistoryEntry {
            at: get_time(row, "at")?,
            kind: get_str(row, "kind")?,
            event: get_opt_str(row, "event")?,
            from_status: get_opt_str(row, "from_status")?,
            to_status: get_opt_str(row, "to_status")?,
            actor: get_opt_str(row, "actor")?,
            detail: get_json(row, "detail")?,
        },
    })
}

const SELECT: &str = "SELECT id, at, kind, event, from_status, to_status, actor, workflow_version, detail \
                      FROM order_history WHERE order_id = $1 ORDER BY id";

impl Store {
    /// An order's history, oldest first (empty for an unknown order).
    pub async fn history(&self, id: OrderId) -> Result<Vec<StoredHistory>, StoreError> {
        let rows = sqlx::query(SELECT).bind(id).fetch_all(&self.pool).await?;
        rows.iter().map(decode).collect()
    }
}

impl super::Tx {
    /// An order's history as this transaction sees it (its own rows included), oldest first.
    pub async fn history(&mut self, id: OrderId) -> Result<Vec<StoredHistory>, StoreError> {
        let rows = sqlx::query(SELECT).bind(id).fetch_all(self.conn()).await?;
        rows.iter().map(decode).collect()
    }
}
