-- orderly schema, SQLite flavour. Keep in step with ../postgres/0001_schema.sql: only the identity
-- columns differ. Encoding: ids and counters BIGINT, booleans BIGINT 0/1, decimals TEXT,
-- times TEXT (fixed-width UTC, `2024-05-01T09:30:00.000000Z`, so they sort as text), JSON TEXT.

CREATE TABLE workflow_versions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    version BIGINT NOT NULL,
    hash TEXT NOT NULL,
    source TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (name, hash),
    UNIQUE (name, version)
);

CREATE TABLE customers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT NOT NULL,
    email_norm TEXT NOT NULL,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    name_norm TEXT NOT NULL,
    company TEXT NOT NULL,
    company_norm TEXT NOT NULL,
    phone TEXT NOT NULL,
    zip_norm TEXT NOT NULL,
    is_guest BIGINT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX customers_email_norm ON customers (email_norm);
CREATE INDEX customers_name_norm ON customers (name_norm);

CREATE TABLE orders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    number TEXT UNIQUE,
    workflow TEXT NOT NULL,
    workflow_version BIGINT NOT NULL,
    channel TEXT NOT NULL,
    mode TEXT,
    external_id TEXT,
    status TEXT NOT NULL,
    status_since TEXT NOT NULL,
    customer_id BIGINT REFERENCES customers (id),
    body TEXT NOT NULL,
    flags TEXT NOT NULL,
    queue TEXT,
    assignee TEXT,
    version BIGINT NOT NULL,
    lock_holder TEXT,
    lock_expires_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (channel, external_id)
);
CREATE INDEX orders_status ON orders (status);
CREATE INDEX orders_channel ON orders (channel);
CREATE INDEX orders_updated_at ON orders (updated_at);
CREATE INDEX orders_workflow_status ON orders (workflow, status);
CREATE INDEX orders_customer ON orders (customer_id);

CREATE TABLE order_lines (
    order_id BIGINT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    n BIGINT NOT NULL,
    sku TEXT NOT NULL,
    description TEXT NOT NULL,
    vendor TEXT NOT NULL,
    qty TEXT NOT NULL,
    unit_price TEXT NOT NULL,
    fulfillment TEXT NOT NULL,
    in_stock_qty TEXT NOT NULL,
    picked_qty TEXT NOT NULL,
    shipped_qty TEXT NOT NULL,
    invoiced_qty TEXT NOT NULL,
    PRIMARY KEY (order_id, n)
);

CREATE TABLE shipments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id BIGINT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    carrier TEXT NOT NULL,
    tracking_number TEXT NOT NULL,
    amount TEXT NOT NULL,
    lines TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX shipments_order ON shipments (order_id, id);

CREATE TABLE order_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id BIGINT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    event TEXT,
    from_status TEXT,
    to_status TEXT,
    actor TEXT,
    workflow_version BIGINT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX order_history_order ON order_history (order_id, id);

CREATE TABLE fulfillment_actions (
    order_id BIGINT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    n BIGINT NOT NULL,
    name TEXT NOT NULL,
    complete BIGINT NOT NULL,
    notify TEXT NOT NULL,
    note TEXT NOT NULL,
    contact TEXT NOT NULL,
    visible BIGINT NOT NULL,
    at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (order_id, n)
);

CREATE TABLE timers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id BIGINT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    due_at TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX timers_due_at ON timers (due_at);
CREATE INDEX timers_order ON timers (order_id);

CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id BIGINT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    target TEXT NOT NULL,
    template TEXT,
    subject TEXT,
    hook TEXT,
    payload TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    next_attempt_at TEXT NOT NULL
);
CREATE INDEX outbox_state_next ON outbox (state, next_attempt_at);
CREATE INDEX outbox_order ON outbox (order_id, id);

CREATE TABLE idempotency_keys (
    order_id BIGINT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    idempotency_key TEXT NOT NULL,
    result TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (order_id, idempotency_key)
);
