-- Delivery of outbox messages (webhooks, emails) by the worker in `orderly serve`. Keep in step
-- with ../postgres/0002_delivery.sql. A message is `pending` (due at `next_attempt_at`; a worker
-- that claims it pushes `next_attempt_at` one lease ahead), then `sent` or `dead`.

ALTER TABLE outbox ADD COLUMN last_error TEXT;
ALTER TABLE outbox ADD COLUMN last_status BIGINT;
ALTER TABLE outbox ADD COLUMN sent_at TEXT;
ALTER TABLE outbox ADD COLUMN updated_at TEXT;
CREATE INDEX outbox_state_id ON outbox (state, id);
