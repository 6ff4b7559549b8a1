-- Every input an order receives, kept whole so that `orderly replay` can apply it again to
-- another version of the workflow (crates/orderly-store/src/inputs.rs): the creation with the
-- order as the channel sent it and the customer it was linked to, each event with its data and
-- actor, timers fired, locks, fulfillment-action edits, failed deliveries and status renames,
-- each with the time it was applied and what it came to (status, steps, messages, timers).
-- Written in the input's own transaction. Orders created before this migration have no rows:
-- replay reports them as recorded before inputs were kept. Keep in step with
-- ../postgres/0006_order_inputs.sql.

CREATE TABLE order_inputs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id BIGINT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    workflow_version BIGINT NOT NULL,
    input TEXT NOT NULL,
    outcome TEXT NOT NULL
);
CREATE INDEX order_inputs_order ON order_inputs (order_id, id);
