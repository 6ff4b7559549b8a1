//! The inputs an order received, kept whole with what each came to (`order_inputs`), written in
//! the input's own transaction: what `orderly replay` applies again to another version of the
//! workflow ([`crate::replay`] reads them back).

use super::encode;
use super::{StoreError, Tx};
use crate::order::{OrderId, Time};
use orderly_engine::replay::{Input, Outcome};

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
        sqlx::query(
            "INSERT INTO order_inputs (order_id, at, kind, workflow_version, input, outcome) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(order)
        .bind(encode::time(at))
        .bind(input.kind())
        .bind(workflow_version)
        .bind(encode::json("recorded input", input)?)
        .bind(encode::json("recorded outcome", outcome)?)
        .execute(self.conn())
        .await?;
        Ok(())
    }
}
