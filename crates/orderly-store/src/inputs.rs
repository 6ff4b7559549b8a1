//! The inputs an order received, kept whole with what each came to (`order_inputs`), written in
//! the input's own transaction: what `orderly replay` applies again to another version of the
//! workflow ([`crate::replay`] reads them back).

use super::encode;
use super::{Backend, StoreError, Tx};
use crate::order::{OrderId, Time};
use orderly_engine::replay::{Input, Outcome};
use sqlx::AnyConnection;

/// One input to record: its order, when it was applied, what it was and came to, and the
/// workflow version it ran under.
pub(crate) struct Row<'a> {
    pub(crate) order: OrderId,
    pub(crate) at: Time,
    pub(crate) input: &'a Input,
    pub(crate) outcome: &'a Outcome,
    pub(crate) workflow_version: i64,
}

/// Records inputs of one or many orders in one statement, whatever their number: the rows go
/// as one bound JSON array (`json_each`, `jsonb_array_elements`), so its text never changes and
/// it is prepared once. In the order given.
pub(crate) async fn insert_rows(
    conn: &mut AnyConnection,
    backend: Backend,
    rows: &[Row<'_>],
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let sql = match backend {
        Backend::Sqlite => SQLITE_INSERT,
        Backend::Postgres => {
            "INSERT INTO order_inputs (order_id, at, kind, workflow_version, input, outcome) \
             SELECT (e->>0)::bigint, e->>1, e->>2, (e->>3)::bigint, e->>4, e->>5 \
             FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS t(e, n) ORDER BY n"
        }
    };
    sqlx::query(sql).bind(json_rows(rows)?).execute(&mut *conn).await?;
    Ok(())
}

/// SQLite's insert of inputs, bound as one JSON array (`$1`, from [`json_rows`]).
pub(crate) const SQLITE_INSERT: &str =
    "INSERT INTO order_inputs (order_id, at, kind, workflow_version, input, \
     outcome) SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5 \
     FROM json_each($1) ORDER BY key";

/// Inputs as the one JSON array the inserts bind.
pub(crate) fn json_rows(rows: &[Row<'_>]) -> Result<String, StoreError> {
    let values = rows
        .iter()
        .map(|r| {
            Ok(serde_json::json!([
                r.order,
                encode::time(r.at),
                r.input.kind(),
                r.workflow_version,
                encode::json("recorded input", r.input)?,
                encode::json("recorded outcome", r.outcome)?,
            ]))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    serde_json::to_string(&values).map_err(|e| StoreError::Corrupt(format!("recorded inputs: {e}")))
}

impl Tx {
    /// Records an input applied to `order` at `at` under `workflow_version`, and what it came to.
    pub async fn record_input(
        &mut self,
        order: OrderId,
        at: Time,
        input: &Input,
        outcome: &Outcome,
        workflow_version: i64,
    ) -> Result<(), StoreError> {
        let backend = self.backend();
        insert_rows(self.conn(), backend, &[Row { order, at, input, outcome, workflow_version }]).await
    }
}
