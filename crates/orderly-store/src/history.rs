//! An order's history: appended with every decision, read back in order.

use super::encode::{self, get_i64, get_json, get_opt_str, get_str, get_time};
use super::{Backend, Store, StoreError};
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
    backend: Backend,
    order: OrderId,
    entries: &[HistoryEntry],
    workflow_version: i64,
) -> Result<Vec<StoredHistory>, StoreError> {
    let rows: Vec<(OrderId, &HistoryEntry, i64)> =
        entries.iter().map(|h| (order, h, workflow_version)).collect();
    insert_rows(conn, backend, &rows).await
}

/// Appends history rows `(order, entry, workflow version)` of one or many orders in one
/// statement, whatever their number: the rows go as one bound JSON array (`json_each`,
/// `jsonb_array_elements`), so the statement's text never changes and is prepared once.
/// Returns them as stored (with their ids), in the order given.
///
/// On SQLite the caller holds the write lock (every `Tx` does: `BEGIN IMMEDIATE`).
pub(crate) async fn insert_rows(
    conn: &mut AnyConnection,
    backend: Backend,
    rows: &[(OrderId, &HistoryEntry, i64)],
) -> Result<Vec<StoredHistory>, StoreError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let values = json_rows(rows)?;
    if backend == Backend::Sqlite {
        static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| sqlite_insert_counted("$1"));
        // `fetch_all`, as the writer's batch does: through sqlx's `Any` driver, `fetch_one` on
        // this query of two statements failed (the rows of every statement come with `fetch_all`).
        let found = sqlx::query(&SQL).bind(values).fetch_all(&mut *conn).await?;
        let [counted] = found.as_slice() else {
            return Err(StoreError::Corrupt(format!(
                "a history insert answered {} rows, not 1",
                found.len()
            )));
        };
        return sqlite_stored(counted, rows);
    }
    let found = sqlx::query(
        "INSERT INTO order_history (order_id, at, kind, event, from_status, to_status, actor, \
         workflow_version, detail) SELECT (e->>0)::bigint, e->>1, e->>2, e->>3, e->>4, e->>5, e->>6, \
         (e->>7)::bigint, e->>8 FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS t(e, n) \
         ORDER BY n RETURNING id",
    )
    .bind(values)
    .fetch_all(&mut *conn)
    .await?;
    // One sequence hands out the ids in the order the rows are written: sorted, they pair
    // with the rows.
    let mut ids: Vec<i64> = found.iter().map(|r| get_i64(r, "id")).collect::<Result<_, _>>()?;
    ids.sort_unstable();
    if ids.len() != rows.len() {
        return Err(StoreError::Corrupt(format!(
            "{} history rows written, {} ids returned",
            rows.len(),
            ids.len()
        )));
    }
    Ok(stored(ids, rows))
}

/// SQLite's insert of history rows, the rows bound as one JSON array at `param` (from
/// [`json_rows`]), followed by what [`sqlite_stored`] needs back: how many rows were written
/// and the last one's id. (No `RETURNING`: its rows would come back one by one across sqlx's
/// connection thread, the writer woken for each; and sqlx's `Any` driver does not pass SQLite's
/// last insert id on.)
pub(crate) fn sqlite_insert_counted(param: &str) -> String {
    format!(
        "{}; SELECT changes() AS written, last_insert_rowid() AS last",
        SQLITE_INSERT.replace("$1", param)
    )
}

/// The rows [`sqlite_insert_counted`] wrote, as stored, from the row it answered. The
/// transaction holds SQLite's one write lock and the rows were inserted in the order given,
/// each taking the next id of the table's AUTOINCREMENT sequence: the ids are the
/// `rows.len()` up to the last one inserted.
pub(crate) fn sqlite_stored(
    counted: &AnyRow,
    rows: &[(OrderId, &HistoryEntry, i64)],
) -> Result<Vec<StoredHistory>, StoreError> {
    let written = get_i64(counted, "written")?;
    let last = get_i64(counted, "last")?;
    let n = rows.len() as i64;
    if written != n || last < n {
        return Err(StoreError::Corrupt(format!(
            "{n} history rows given, {written} written, last id {last}"
        )));
    }
    Ok(stored((last - n + 1..=last).collect(), rows))
}

/// SQLite's insert of history rows, bound as one JSON array (`$1`, from [`json_rows`]).
const SQLITE_INSERT: &str = "INSERT INTO order_history (order_id, at, kind, event, from_status, \
     to_status, actor, workflow_version, detail) SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, \
     value ->> 4, value ->> 5, value ->> 6, value ->> 7, value ->> 8 FROM json_each($1) ORDER BY key";

/// History rows as the one JSON array the inserts bind.
pub(crate) fn json_rows(rows: &[(OrderId, &HistoryEntry, i64)]) -> Result<String, StoreError> {
    let values = rows
        .iter()
        .map(|(order, h, workflow_version)| {
            Ok(serde_json::json!([
                order,
                encode::time(h.at),
                h.kind,
                h.event,
                h.from_status,
                h.to_status,
                h.actor,
                workflow_version,
                encode::json("history detail", &h.detail)?,
            ]))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    serde_json::to_string(&values).map_err(|e| StoreError::Corrupt(format!("history rows: {e}")))
}

/// The rows as stored, with their ids.
fn stored(ids: Vec<i64>, rows: &[(OrderId, &HistoryEntry, i64)]) -> Vec<StoredHistory> {
    ids.into_iter()
        .zip(rows)
        .map(|(id, (_, entry, workflow_version))| StoredHistory {
            id,
            workflow_version: *workflow_version,
            entry: (*entry).clone(),
        })
        .collect()
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

/// One history row as `history_json` holds it (`orders.rs`, a whole order read in one
/// statement): id, at (text), kind, event, from, to, actor, workflow version, detail.
type RowJson = (
    i64,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    i64,
    serde_json::Value,
);

/// The history rows of `history_json`, oldest first (`None`: PostgreSQL's aggregate of no rows).
pub(crate) fn decode_json(order: OrderId, text: Option<String>) -> Result<Vec<StoredHistory>, StoreError> {
    let Some(text) = text else { return Ok(Vec::new()) };
    let rows: Vec<RowJson> = serde_json::from_str(&text)
        .map_err(|e| StoreError::Corrupt(format!("order {order}: its history: {e}")))?;
    rows.into_iter()
        .map(|(id, at, kind, event, from_status, to_status, actor, workflow_version, detail)| {
            Ok(StoredHistory {
                id,
                workflow_version,
                entry: HistoryEntry {
                    at: encode::json_time(order, "a history row's time", &at)?,
                    kind,
                    event,
                    from_status,
                    to_status,
                    actor,
                    detail,
                },
            })
        })
        .collect()
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
