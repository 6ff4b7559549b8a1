//! Orders: the `orders` row (searchable fields as columns, the rest of the snapshot as a JSON
//! `body`) plus its lines, shipments and fulfillment actions; reading one back whole, and
//! writing a [`Decision`] with everything it carries.

use super::batch::OrderWrite;
use super::encode::{
    self, get_bool, get_decimal, get_flags, get_i64, get_json, get_opt_str, get_opt_time, get_str, get_time,
    get_u32,
};
use super::{history, outbox, timers, Backend, Store, StoreError, Tx};
use crate::engine::Decision;
use crate::order::{
    Address, Customer, Fulfillment, FulfillmentAction, Line, Lock, Order, OrderId, Payment, Shipment, Time,
    ID_PREFIX,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::AnyConnection;
use std::collections::BTreeMap;

/// The columns of `orders` an [`Order`] is read from.
macro_rules! order_columns {
    () => {
        "id, number, workflow, workflow_version, channel, mode, external_id, status, status_since, \
         body, flags, queue, assignee, version, lock_holder, lock_expires_at, created_at"
    };
}

/// The number of an order that came without one: `ORD` and its id. No channel's number has
/// this form ([`crate::order::number_problem`]), so it is never taken before the order is made.
pub fn generated_number(id: OrderId) -> String {
    format!("ORD{id:06}")
}

/// How a request names an order, in one unambiguous scheme: by its **number**, exactly as
/// given (no trimming, no reading of digits or signs), or by its internal id written `id:N`
/// (`N` plain digits). No order number may start with `id:` (in any case; creation refuses
/// one: [`crate::order::number_problem`]), so the two can never name different orders.
///
/// Paths and query parameters are read with [`OrderKey::parse`]. In code, a string converts to
/// a number and an [`OrderId`] to an id (`service.apply_event(&order.number, ..)`,
/// `service.apply_event(order.id, ..)`): the type says which it is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OrderKey {
    /// The order's number (`ORD000042`, or the channel's own), compared exactly.
    Number(String),
    /// The store's id.
    Id(OrderId),
}

impl OrderKey {
    /// Reads a key as a request writes it: `id:` and 1 to 18 plain digits is an id; anything
    /// else not starting with `id:` is a number, exactly as written. `None` for text that starts
    /// with `id:` but is no id (`id:`, `id:+5`, `id:x`): it names no order, since no number may
    /// start with `id:`.
    pub fn parse(text: &str) -> Option<OrderKey> {
        match text.strip_prefix(ID_PREFIX) {
            Some(digits) => {
                let plain = (1..=18).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
                plain.then(|| digits.parse::<OrderId>().ok()).flatten().map(OrderKey::Id)
            }
            _ => Some(OrderKey::Number(text.to_string())),
        }
    }
}

impl std::fmt::Display for OrderKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OrderKey::Number(n) => f.write_str(n),
            OrderKey::Id(id) => write!(f, "{ID_PREFIX}{id}"),
        }
    }
}

impl From<&str> for OrderKey {
    fn from(number: &str) -> Self {
        OrderKey::Number(number.to_string())
    }
}

impl From<&String> for OrderKey {
    fn from(number: &String) -> Self {
        OrderKey::Number(number.clone())
    }
}

impl From<String> for OrderKey {
    fn from(number: String) -> Self {
        OrderKey::Number(number)
    }
}

impl From<OrderId> for OrderKey {
    fn from(id: OrderId) -> Self {
        OrderKey::Id(id)
    }
}

impl From<&OrderKey> for OrderKey {
    fn from(key: &OrderKey) -> Self {
        key.clone()
    }
}

/// The part of the snapshot kept as JSON in `orders.body`, as written.
#[derive(Serialize)]
struct BodyOut<'a> {
    customer: &'a Customer,
    shipping: &'a Address,
    billing: &'a Address,
    payment: &'a Option<Payment>,
    amount_paid: Decimal,
    shipping_amount: Decimal,
    attributes: &'a BTreeMap<String, serde_json::Value>,
    invoiced: bool,
    related_order: Option<OrderId>,
    /// How many shipments and fulfillment actions the order has: a read skips the query for
    /// a part that is empty.
    shipment_count: usize,
    action_count: usize,
}

/// The part of the snapshot kept as JSON in `orders.body`, as read.
#[derive(Deserialize)]
struct BodyIn {
    customer: Customer,
    shipping: Address,
    billing: Address,
    payment: Option<Payment>,
    amount_paid: Decimal,
    shipping_amount: Decimal,
    attributes: BTreeMap<String, serde_json::Value>,
    invoiced: bool,
    related_order: Option<OrderId>,
    #[serde(default = "unknown_count")]
    shipment_count: usize,
    #[serde(default = "unknown_count")]
    action_count: usize,
}

/// A body written before the counts were kept: read the parts.
fn unknown_count() -> usize {
    usize::MAX
}

pub(crate) fn body(o: &Order) -> Result<String, StoreError> {
    encode::json(
        "order body",
        &BodyOut {
            customer: &o.customer,
            shipping: &o.shipping,
            billing: &o.billing,
            payment: &o.payment,
            amount_paid: o.amount_paid,
            shipping_amount: o.shipping_amount,
            attributes: &o.attributes,
            invoiced: o.invoiced,
            related_order: o.related_order,
            shipment_count: o.shipments.len(),
            action_count: o.fulfillment_actions.len(),
        },
    )
}

/// The order row, without lines, shipments and fulfillment actions; and how many shipments
/// and fulfillment actions it has.
fn decode(row: &AnyRow) -> Result<(Order, usize, usize), StoreError> {
    let id = get_i64(row, "id")?;
    let body: BodyIn = get_json(row, "body").map_err(|e| StoreError::Corrupt(format!("order {id}: {e}")))?;
    let lock = match (get_opt_str(row, "lock_holder")?, get_opt_time(row, "lock_expires_at")?) {
        (Some(holder), Some(expires_at)) => Some(Lock { holder, expires_at }),
        (None, None) => None,
        _ => {
            return Err(StoreError::Corrupt(format!("order {id}: lock holder without expiry or the reverse")))
        }
    };
    let order = Order {
        id,
        number: get_opt_str(row, "number")?
            .ok_or_else(|| StoreError::Corrupt(format!("order {id} has no number")))?,
        workflow: get_str(row, "workflow")?,
        workflow_version: get_i64(row, "workflow_version")?,
        channel: get_str(row, "channel")?,
        mode: get_opt_str(row, "mode")?,
        external_id: get_opt_str(row, "external_id")?,
        status: get_str(row, "status")?,
        phase: None,
        status_since: get_time(row, "status_since")?,
        created_at: get_time(row, "created_at")?,
        customer: std::sync::Arc::new(body.customer),
        shipping: std::sync::Arc::new(body.shipping),
        billing: std::sync::Arc::new(body.billing),
        payment: body.payment,
        amount_paid: body.amount_paid,
        shipping_amount: body.shipping_amount,
        lines: Vec::new(),
        flags: get_flags(row, "flags")?,
        attributes: body.attributes,
        queue: get_opt_str(row, "queue")?,
        assignee: get_opt_str(row, "assignee")?,
        invoiced: body.invoiced,
        related_order: body.related_order,
        shipments: Vec::new(),
        fulfillment_actions: Vec::new(),
        lock,
        version: get_i64(row, "version")?,
    };
    Ok((order, body.shipment_count, body.action_count))
}

fn decode_line(row: &AnyRow) -> Result<Line, StoreError> {
    let code = get_str(row, "fulfillment")?;
    Ok(Line {
        n: get_u32(row, "n")?,
        sku: get_str(row, "sku")?,
        description: get_str(row, "description")?,
        vendor: get_str(row, "vendor")?,
        qty: get_decimal(row, "qty")?,
        unit_price: get_decimal(row, "unit_price")?,
        fulfillment: Fulfillment::from_code(&code)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown fulfillment `{code}`")))?,
        in_stock_qty: get_decimal(row, "in_stock_qty")?,
        picked_qty: get_decimal(row, "picked_qty")?,
        shipped_qty: get_decimal(row, "shipped_qty")?,
        invoiced_qty: get_decimal(row, "invoiced_qty")?,
    })
}

fn decode_shipment(row: &AnyRow) -> Result<Shipment, StoreError> {
    Ok(Shipment {
        carrier: get_str(row, "carrier")?,
        tracking_number: get_str(row, "tracking_number")?,
        amount: get_decimal(row, "amount")?,
        lines: get_json(row, "lines")?,
        at: get_time(row, "at")?,
    })
}

fn decode_action(row: &AnyRow) -> Result<FulfillmentAction, StoreError> {
    Ok(FulfillmentAction {
        n: get_u32(row, "n")?,
        name: get_str(row, "name")?,
        complete: get_bool(row, "complete")?,
        notify: get_str(row, "notify")?,
        note: get_str(row, "note")?,
        contact: get_str(row, "contact")?,
        visible: get_bool(row, "visible")?,
        at: get_time(row, "at")?,
        updated_at: get_time(row, "updated_at")?,
    })
}

/// Completes an order row with its lines, shipments and fulfillment actions.
async fn complete(conn: &mut AnyConnection, row: Option<AnyRow>) -> Result<Option<Order>, StoreError> {
    let Some(row) = row else { return Ok(None) };
    let (mut order, shipments, actions) = decode(&row)?;
    let rows = sqlx::query(
        "SELECT n, sku, description, vendor, qty, unit_price, fulfillment, in_stock_qty, picked_qty, \
         shipped_qty, invoiced_qty FROM order_lines WHERE order_id = $1 ORDER BY n",
    )
    .bind(order.id)
    .fetch_all(&mut *conn)
    .await?;
    order.lines = rows.iter().map(decode_line).collect::<Result<_, _>>()?;
    complete_rest(conn, order, shipments, actions).await.map(Some)
}

/// Adds an order's shipments and fulfillment actions (read only when the row counts some).
async fn complete_rest(
    conn: &mut AnyConnection,
    mut order: Order,
    shipments: usize,
    actions: usize,
) -> Result<Order, StoreError> {
    if shipments > 0 {
        let rows = sqlx::query(
            "SELECT carrier, tracking_number, amount, lines, at FROM shipments WHERE order_id = $1 ORDER BY id",
        )
        .bind(order.id)
        .fetch_all(&mut *conn)
        .await?;
        order.shipments = rows.iter().map(decode_shipment).collect::<Result<_, _>>()?;
    }
    if actions > 0 {
        let rows = sqlx::query(
            "SELECT n, name, complete, notify, note, contact, visible, at, updated_at \
             FROM fulfillment_actions WHERE order_id = $1 ORDER BY n",
        )
        .bind(order.id)
        .fetch_all(&mut *conn)
        .await?;
        order.fulfillment_actions = rows.iter().map(decode_action).collect::<Result<_, _>>()?;
    }
    Ok(order)
}

/// The lines of an order as one JSON column (`lines_json`: an array of arrays, in the order
/// of [`decode_lines_json`]), aggregated in the database.
macro_rules! lines_json {
    (sqlite) => {
        "(SELECT json_group_array(json_array(n, sku, description, vendor, qty, unit_price, fulfillment, \
         in_stock_qty, picked_qty, shipped_qty, invoiced_qty) ORDER BY n) FROM order_lines \
         WHERE order_id = orders.id) AS lines_json"
    };
    (postgres) => {
        "(SELECT json_agg(json_build_array(n, sku, description, vendor, qty, unit_price, fulfillment, \
         in_stock_qty, picked_qty, shipped_qty, invoiced_qty) ORDER BY n)::text FROM order_lines \
         WHERE order_id = orders.id) AS lines_json"
    };
}

/// An order's shipments and fulfillment actions as JSON columns (`shipments_json`,
/// `actions_json`: arrays of arrays, in the order of [`decode_shipments_json`] and
/// [`decode_actions_json`]), aggregated in the database beside the row and its lines.
macro_rules! parts_json {
    (sqlite) => {
        "(SELECT json_group_array(json_array(carrier, tracking_number, amount, json(lines), at) ORDER BY id) \
         FROM shipments WHERE order_id = orders.id) AS shipments_json, \
         (SELECT json_group_array(json_array(n, name, complete, notify, note, contact, visible, at, updated_at) \
         ORDER BY n) FROM fulfillment_actions WHERE order_id = orders.id) AS actions_json"
    };
    (postgres) => {
        "(SELECT json_agg(json_build_array(carrier, tracking_number, amount, lines::json, at) ORDER BY id)::text \
         FROM shipments WHERE order_id = orders.id) AS shipments_json, \
         (SELECT json_agg(json_build_array(n, name, complete, notify, note, contact, visible, at, updated_at) \
         ORDER BY n)::text FROM fulfillment_actions WHERE order_id = orders.id) AS actions_json"
    };
}

/// An order's history as one JSON column (`history_json`, in the order of
/// [`history::decode_json`]), oldest first.
macro_rules! history_json {
    (sqlite) => {
        "(SELECT json_group_array(json_array(id, at, kind, event, from_status, to_status, actor, \
         workflow_version, json(detail)) ORDER BY id) FROM order_history WHERE order_id = orders.id) AS history_json"
    };
    (postgres) => {
        "(SELECT json_agg(json_build_array(id, at, kind, event, from_status, to_status, actor, \
         workflow_version, detail::json) ORDER BY id)::text FROM order_history WHERE order_id = orders.id) \
         AS history_json"
    };
}

/// The `SELECT` of a whole order on one backend (`sqlite`, `postgres`), by `id` or `number`
/// (`$1`), with more columns after the parts (`history_json`).
macro_rules! whole {
    ($db:ident, $key:literal $(, $more:ident)?) => {
        concat!(
            "SELECT ", order_columns!(), ", ", lines_json!($db), ", ", parts_json!($db),
            $(", ", $more!($db),)? " FROM orders WHERE ", $key, " = $1"
        )
    };
}

/// A whole order in one statement (so from one snapshot, on either backend): the row, its
/// lines, shipments and fulfillment actions, and in the last two of each backend its history
/// too. By id (`$1`) or by number ([`whole_sql`] picks).
const WHOLE: [[&str; 4]; 2] = [
    [
        whole!(sqlite, "id"),
        whole!(sqlite, "number"),
        whole!(sqlite, "id", history_json),
        whole!(sqlite, "number", history_json),
    ],
    [
        whole!(postgres, "id"),
        whole!(postgres, "number"),
        whole!(postgres, "id", history_json),
        whole!(postgres, "number", history_json),
    ],
];

/// The statement of [`WHOLE`] for this backend, key and whether the history comes too.
fn whole_sql(backend: Backend, key: &OrderKey, with_history: bool) -> &'static str {
    let b = usize::from(backend == Backend::Postgres);
    let k = usize::from(matches!(key, OrderKey::Number(_))) + 2 * usize::from(with_history);
    WHOLE.get(b).and_then(|w| w.get(k)).copied().unwrap_or_default()
}

/// The statement of [`WHOLE`] for `key`, bound.
fn whole_query<'q>(
    backend: Backend,
    key: &'q OrderKey,
    with_history: bool,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    let query = sqlx::query(whole_sql(backend, key, with_history));
    match key {
        OrderKey::Id(id) => query.bind(*id),
        OrderKey::Number(n) => query.bind(n.as_str()),
    }
}

/// A whole order read with a statement of [`WHOLE`], with its history when the statement read
/// it (empty otherwise).
fn decode_whole(
    row: &AnyRow,
    with_history: bool,
) -> Result<(Order, Vec<history::StoredHistory>), StoreError> {
    let (mut order, _, _) = decode(row)?;
    let id = order.id;
    order.lines = decode_lines_json(id, get_opt_str(row, "lines_json")?)?;
    order.shipments = decode_shipments_json(id, get_opt_str(row, "shipments_json")?)?;
    order.fulfillment_actions = decode_actions_json(id, get_opt_str(row, "actions_json")?)?;
    let history =
        if with_history { history::decode_json(id, get_opt_str(row, "history_json")?)? } else { Vec::new() };
    Ok((order, history))
}

/// One shipment as `shipments_json` holds it: carrier, tracking number, amount (text), the
/// lines shipped, when (text).
type ShipmentJson = (String, String, String, Vec<(u32, Decimal)>, String);

/// The shipments of `shipments_json` (`None`: PostgreSQL's aggregate of no rows).
fn decode_shipments_json(order: OrderId, text: Option<String>) -> Result<Vec<Shipment>, StoreError> {
    let Some(text) = text else { return Ok(Vec::new()) };
    let rows: Vec<ShipmentJson> = serde_json::from_str(&text)
        .map_err(|e| StoreError::Corrupt(format!("order {order}: its shipments: {e}")))?;
    rows.into_iter()
        .map(|(carrier, tracking_number, amount, lines, at)| {
            Ok(Shipment {
                amount: Decimal::from_str_exact(&amount).map_err(|e| {
                    StoreError::Corrupt(format!(
                        "order {order}: a shipment's amount `{amount}` is not a decimal: {e}"
                    ))
                })?,
                at: encode::json_time(order, "a shipment's time", &at)?,
                carrier,
                tracking_number,
                lines,
            })
        })
        .collect()
}

/// One fulfillment action as `actions_json` holds it: n, name, complete (0/1), notify, note,
/// contact, visible (0/1), when added and when last changed (text).
type ActionJson = (u32, String, i64, String, String, String, i64, String, String);

/// The fulfillment actions of `actions_json` (`None`: PostgreSQL's aggregate of no rows).
fn decode_actions_json(order: OrderId, text: Option<String>) -> Result<Vec<FulfillmentAction>, StoreError> {
    let Some(text) = text else { return Ok(Vec::new()) };
    let rows: Vec<ActionJson> = serde_json::from_str(&text)
        .map_err(|e| StoreError::Corrupt(format!("order {order}: its fulfillment actions: {e}")))?;
    let boolean = |n: u32, what: &str, v: i64| {
        encode::boolean_of(v).ok_or_else(|| {
            StoreError::Corrupt(format!("order {order}, action {n}: {what} `{v}` is not 0 or 1"))
        })
    };
    rows.into_iter()
        .map(|(n, name, complete, notify, note, contact, visible, at, updated_at)| {
            Ok(FulfillmentAction {
                complete: boolean(n, "complete", complete)?,
                visible: boolean(n, "visible", visible)?,
                at: encode::json_time(order, "an action's time", &at)?,
                updated_at: encode::json_time(order, "an action's change time", &updated_at)?,
                n,
                name,
                notify,
                note,
                contact,
            })
        })
        .collect()
}

/// An order row and its lines in one statement, by id or by number, per backend.
const SNAPSHOT_BY_ID: [&str; 2] = [
    concat!("SELECT ", order_columns!(), ", ", lines_json!(sqlite), " FROM orders WHERE id = $1"),
    concat!("SELECT ", order_columns!(), ", ", lines_json!(postgres), " FROM orders WHERE id = $1"),
];
const SNAPSHOT_BY_NUMBER: [&str; 2] = [
    concat!("SELECT ", order_columns!(), ", ", lines_json!(sqlite), " FROM orders WHERE number = $1"),
    concat!("SELECT ", order_columns!(), ", ", lines_json!(postgres), " FROM orders WHERE number = $1"),
];

/// One line as `lines_json` holds it: n, sku, description, vendor, then the decimals and the
/// fulfillment as stored (text).
type LineJson = (u32, String, String, String, String, String, String, String, String, String, String);

/// The lines of `lines_json` (`None`: PostgreSQL's aggregate of no rows).
fn decode_lines_json(order: OrderId, text: Option<String>) -> Result<Vec<Line>, StoreError> {
    let Some(text) = text else { return Ok(Vec::new()) };
    let rows: Vec<LineJson> = serde_json::from_str(&text)
        .map_err(|e| StoreError::Corrupt(format!("order {order}: its lines: {e}")))?;
    rows.into_iter()
        .map(
            |(
                n,
                sku,
                description,
                vendor,
                qty,
                unit_price,
                fulfillment,
                in_stock,
                picked,
                shipped,
                invoiced,
            )| {
                let decimal = |column: &str, text: &str| {
                    Decimal::from_str_exact(text).map_err(|e| {
                        StoreError::Corrupt(format!(
                            "order {order}, line {n}: {column} `{text}` is not a decimal: {e}"
                        ))
                    })
                };
                Ok(Line {
                    n,
                    qty: decimal("qty", &qty)?,
                    unit_price: decimal("unit_price", &unit_price)?,
                    fulfillment: Fulfillment::from_code(&fulfillment)
                        .ok_or_else(|| StoreError::Corrupt(format!("unknown fulfillment `{fulfillment}`")))?,
                    in_stock_qty: decimal("in_stock_qty", &in_stock)?,
                    picked_qty: decimal("picked_qty", &picked)?,
                    shipped_qty: decimal("shipped_qty", &shipped)?,
                    invoiced_qty: decimal("invoiced_qty", &invoiced)?,
                    sku,
                    description,
                    vendor,
                })
            },
        )
        .collect()
}

/// The order with this id.
async fn by_id(conn: &mut AnyConnection, id: OrderId, for_update: bool) -> Result<Option<Order>, StoreError> {
    let sql = if for_update {
        concat!("SELECT ", order_columns!(), " FROM orders WHERE id = $1 FOR UPDATE")
    } else {
        concat!("SELECT ", order_columns!(), " FROM orders WHERE id = $1")
    };
    let row = sqlx::query(sql).bind(id).fetch_optional(&mut *conn).await?;
    complete(conn, row).await
}

/// The id the next order gets. PostgreSQL takes it from the identity's sequence (a rolled-back
/// transaction leaves a gap, as identities do); SQLite reads its `AUTOINCREMENT` counter,
/// which no other writer can move while this transaction holds the write lock.
async fn reserve_id(conn: &mut AnyConnection, backend: super::Backend) -> Result<OrderId, StoreError> {
    let sql = match backend {
        super::Backend::Postgres => "SELECT nextval(pg_get_serial_sequence('orders', 'id'))",
        super::Backend::Sqlite => {
            "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'orders'), 0), \
             COALESCE((SELECT MAX(id) FROM orders), 0)) + 1"
        }
    };
    Ok(sqlx::query_scalar::<_, i64>(sql).fetch_one(&mut *conn).await?)
}

/// Writes an order's lines, shipments and fulfillment actions, replacing what was stored
/// (`fresh`: nothing was).
async fn replace_parts(
    conn: &mut AnyConnection,
    id: OrderId,
    o: &Order,
    fresh: bool,
) -> Result<(), StoreError> {
    if !fresh {
        for sql in [
            "DELETE FROM order_lines WHERE order_id = $1",
            "DELETE FROM shipments WHERE order_id = $1",
            "DELETE FROM fulfillment_actions WHERE order_id = $1",
        ] {
            sqlx::query(sql).bind(id).execute(&mut *conn).await?;
        }
    }
    insert_lines(conn, id, &o.lines).await?;
    insert_shipments(conn, id, &o.shipments).await?;
    insert_actions(conn, id, &o.fulfillment_actions).await
}

/// Whether everything the `orders` row holds (apart from versions and `updated_at`) is the
/// same in both snapshots.
pub(crate) fn same_row(a: &Order, b: &Order) -> bool {
    a.workflow == b.workflow
        && a.channel == b.channel
        && a.mode == b.mode
        && a.external_id == b.external_id
        && a.status == b.status
        && a.status_since == b.status_since
        // `Arc` of an `Eq` type: the same allocation (an order decided from another shares
        // them) is equal without comparing the fields.
        && a.customer == b.customer
        && a.shipping == b.shipping
        && a.billing == b.billing
        && a.payment == b.payment
        && a.amount_paid == b.amount_paid
        && a.shipping_amount == b.shipping_amount
        && a.attributes == b.attributes
        && a.invoiced == b.invoiced
        && a.related_order == b.related_order
        && a.flags == b.flags
        && a.queue == b.queue
        && a.assignee == b.assignee
        && a.lock == b.lock
        && a.shipments.len() == b.shipments.len()
        && a.fulfillment_actions.len() == b.fulfillment_actions.len()
}

/// Writes only what changed between `before` and `o`: changed lines updated in place, new
/// shipments and fulfillment actions appended, changed actions updated. Falls back to replacing
/// everything when the shapes differ.
pub(crate) async fn write_changed_parts(
    conn: &mut AnyConnection,
    id: OrderId,
    before: &Order,
    o: &Order,
) -> Result<(), StoreError> {
    let same_lines =
        before.lines.len() == o.lines.len() && before.lines.iter().zip(&o.lines).all(|(a, b)| a.n == b.n);
    // The shipments after `before`'s, when those are kept as they were.
    let new_shipments = o.shipments.strip_prefix(before.shipments.as_slice());
    // The actions after `before`'s, when those are kept in place (changed or not).
    let new_actions = o
        .fulfillment_actions
        .get(before.fulfillment_actions.len()..)
        .filter(|_| before.fulfillment_actions.iter().zip(&o.fulfillment_actions).all(|(a, b)| a.n == b.n));
    let (true, Some(new_shipments), Some(new_actions)) = (same_lines, new_shipments, new_actions) else {
        return replace_parts(conn, id, o, false).await;
    };
    for (old, new) in before.lines.iter().zip(&o.lines) {
        if old != new {
            sqlx::query(
                "UPDATE order_lines SET sku = $1, description = $2, vendor = $3, qty = $4, unit_price = $5, \
                 fulfillment = $6, in_stock_qty = $7, picked_qty = $8, shipped_qty = $9, invoiced_qty = $10 \
                 WHERE order_id = $11 AND n = $12",
            )
            .bind(new.sku.as_str())
            .bind(new.description.as_str())
            .bind(new.vendor.as_str())
            .bind(encode::decimal(new.qty))
            .bind(encode::decimal(new.unit_price))
            .bind(new.fulfillment.code())
            .bind(encode::decimal(new.in_stock_qty))
            .bind(encode::decimal(new.picked_qty))
            .bind(encode::decimal(new.shipped_qty))
            .bind(encode::decimal(new.invoiced_qty))
            .bind(id)
            .bind(i64::from(new.n))
            .execute(&mut *conn)
            .await?;
        }
    }
    insert_shipments(conn, id, new_shipments).await?;
    for (old, new) in before.fulfillment_actions.iter().zip(&o.fulfillment_actions) {
        if old != new {
            sqlx::query(
                "UPDATE fulfillment_actions SET name = $1, complete = $2, notify = $3, note = $4, contact = $5, \
                 visible = $6, updated_at = $7 WHERE order_id = $8 AND n = $9",
            )
            .bind(new.name.as_str())
            .bind(encode::boolean(new.complete))
            .bind(new.notify.as_str())
            .bind(new.note.as_str())
            .bind(new.contact.as_str())
            .bind(encode::boolean(new.visible))
            .bind(encode::time(new.updated_at))
            .bind(id)
            .bind(i64::from(new.n))
            .execute(&mut *conn)
            .await?;
        }
    }
    insert_actions(conn, id, new_actions).await
}

async fn insert_lines(
    conn: &mut AnyConnection,
    id: OrderId,
    lines: &[crate::order::Line],
) -> Result<(), StoreError> {
    for l in lines {
        sqlx::query(
            "INSERT INTO order_lines (order_id, n, sku, description, vendor, qty, unit_price, fulfillment, \
             in_stock_qty, picked_qty, shipped_qty, invoiced_qty) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(id)
        .bind(i64::from(l.n))
        .bind(l.sku.as_str())
        .bind(l.description.as_str())
        .bind(l.vendor.as_str())
        .bind(encode::decimal(l.qty))
        .bind(encode::decimal(l.unit_price))
        .bind(l.fulfillment.code())
        .bind(encode::decimal(l.in_stock_qty))
        .bind(encode::decimal(l.picked_qty))
        .bind(encode::decimal(l.shipped_qty))
        .bind(encode::decimal(l.invoiced_qty))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

async fn insert_shipments(
    conn: &mut AnyConnection,
    id: OrderId,
    shipments: &[crate::order::Shipment],
) -> Result<(), StoreError> {
    for s in shipments {
        sqlx::query(
            "INSERT INTO shipments (order_id, carrier, tracking_number, amount, lines, at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(s.carrier.as_str())
        .bind(s.tracking_number.as_str())
        .bind(encode::decimal(s.amount))
        .bind(encode::json("shipment lines", &s.lines)?)
        .bind(encode::time(s.at))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

async fn insert_actions(
    conn: &mut AnyConnection,
    id: OrderId,
    actions: &[crate::order::FulfillmentAction],
) -> Result<(), StoreError> {
    for a in actions {
        sqlx::query(
            "INSERT INTO fulfillment_actions (order_id, n, name, complete, notify, note, contact, visible, at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(id)
        .bind(i64::from(a.n))
        .bind(a.name.as_str())
        .bind(encode::boolean(a.complete))
        .bind(a.notify.as_str())
        .bind(a.note.as_str())
        .bind(a.contact.as_str())
        .bind(encode::boolean(a.visible))
        .bind(encode::time(a.at))
        .bind(encode::time(a.updated_at))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

impl Store {
    /// The id of the order `key` names, if there is one.
    pub async fn order_id(&self, key: &OrderKey) -> Result<Option<OrderId>, StoreError> {
        let found: Option<i64> = match key {
            OrderKey::Id(id) => {
                sqlx::query_scalar("SELECT id FROM orders WHERE id = $1")
                    .bind(*id)
                    .fetch_optional(&self.pool)
                    .await?
            }
            OrderKey::Number(n) => {
                sqlx::query_scalar("SELECT id FROM orders WHERE number = $1")
                    .bind(n.as_str())
                    .fetch_optional(&self.pool)
                    .await?
            }
        };
        Ok(found)
    }

    /// The order with this id, read whole in one statement (one snapshot).
    pub async fn order(&self, id: OrderId) -> Result<Option<Order>, StoreError> {
        self.find_order(&OrderKey::Id(id)).await
    }

    /// The order `key` names (see [`OrderKey`]), read whole in one statement (one snapshot).
    pub async fn find_order(&self, key: &OrderKey) -> Result<Option<Order>, StoreError> {
        let row = whole_query(self.backend, key, false).fetch_optional(&self.pool).await?;
        row.map(|row| decode_whole(&row, false).map(|(order, _)| order)).transpose()
    }

    /// The order `key` names and its history, oldest first, read in one statement: the
    /// history is the order's as it stands (what the API's and the console's order views show).
    pub async fn order_with_history(
        &self,
        key: &OrderKey,
    ) -> Result<Option<(Order, Vec<history::StoredHistory>)>, StoreError> {
        let row = whole_query(self.backend, key, true).fetch_optional(&self.pool).await?;
        row.map(|row| decode_whole(&row, true)).transpose()
    }

    /// The order `key` names, read for deciding outside any write, on one of the readers held
    /// for it ([`Store::reader`]): the row with its lines in one statement (the lines aggregated
    /// as JSON in the database), then, only for an order that has some, its shipments and
    /// fulfillment actions, without a transaction. The parts may be newer than the row, never
    /// older; a write of a decision made on it checks the row's version, which every change of
    /// a part moves, so a mixed read is caught there and decided again. (Reading the parts in
    /// the one statement as [`Store::find_order`] does costs every deciding read two lookups
    /// that most orders answer with nothing: measured, 7-10 % fewer events a second.)
    pub async fn order_snapshot(&self, key: &OrderKey) -> Result<Option<Order>, StoreError> {
        let backend = usize::from(self.backend == super::Backend::Postgres);
        let query = || match key {
            OrderKey::Id(id) => {
                sqlx::query(SNAPSHOT_BY_ID.get(backend).copied().unwrap_or_default()).bind(*id)
            }
            OrderKey::Number(n) => {
                sqlx::query(SNAPSHOT_BY_NUMBER.get(backend).copied().unwrap_or_default()).bind(n.as_str())
            }
        };
        let row = match self.reader().await? {
            Some(mut reader) => match query().fetch_optional(reader.conn()).await {
                Ok(row) => row,
                // A held connection skipped the pool's check before use: one the server cut
                // meanwhile (PostgreSQL restarted, an idle connection dropped) fails here. It
                // is closed, and the read tried once more through the pool, which checks.
                Err(e) if super::error::connection_lost(&e) => {
                    reader.failed(&e);
                    query().fetch_optional(&self.pool).await?
                }
                Err(e) => {
                    reader.failed(&e);
                    return Err(e.into());
                }
            },
            None => query().fetch_optional(&self.pool).await?,
        };
        let Some(row) = row else { return Ok(None) };
        let (mut order, shipments, actions) = decode(&row)?;
        order.lines = decode_lines_json(order.id, get_opt_str(&row, "lines_json")?)?;
        if shipments == 0 && actions == 0 {
            return Ok(Some(order));
        }
        let mut conn = self.pool.acquire().await?;
        complete_rest(&mut conn, order, shipments, actions).await.map(Some)
    }

    /// The order with this number, exactly as given (never read as an id).
    pub async fn order_by_number(&self, number: &str) -> Result<Option<Order>, StoreError> {
        self.find_order(&OrderKey::Number(number.to_string())).await
    }

    /// The emails an order with this number was placed with (the customer's, the shipping
    /// and the billing address's), read from the order row alone: what the tracking page
    /// compares before it loads anything else, so a wrong email costs no more than an unknown
    /// number.
    pub async fn order_emails(&self, number: &str) -> Result<Option<[String; 3]>, StoreError> {
        let body: Option<String> = sqlx::query_scalar("SELECT body FROM orders WHERE number = $1")
            .bind(number)
            .fetch_optional(&self.pool)
            .await?;
        let Some(body) = body else { return Ok(None) };
        let v: serde_json::Value =
            serde_json::from_str(&body).map_err(|e| StoreError::Corrupt(format!("order body: {e}")))?;
        let email = |part: &str| {
            v.get(part)
                .and_then(|p| p.get("email"))
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        Ok(Some([email("customer"), email("shipping"), email("billing")]))
    }

    /// How many orders there are.
    pub async fn count_orders(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM orders").fetch_one(&self.pool).await?;
        get_i64(&row, "n")
    }
}

impl Tx {
    /// The order with this id, locked against other writers until this transaction ends
    /// (PostgreSQL: `FOR UPDATE`; SQLite: the `Tx` holds the write lock already).
    pub async fn order_for_update(&mut self, id: OrderId) -> Result<Option<Order>, StoreError> {
        let for_update = self.backend() == Backend::Postgres;
        by_id(self.conn(), id, for_update).await
    }

    /// The order a channel sent with this external id (to spot a repeated create).
    pub async fn order_by_external_id(
        &mut self,
        channel: &str,
        external_id: &str,
    ) -> Result<Option<Order>, StoreError> {
        let conn = self.conn();
        let row = sqlx::query(concat!(
            "SELECT ",
            order_columns!(),
            " FROM orders WHERE channel = $1 AND external_id = $2"
        ))
        .bind(channel)
        .bind(external_id)
        .fetch_optional(&mut *conn)
        .await?;
        complete(conn, row).await
    }

    /// Sets an id aside for the order about to be created in this transaction, so that its
    /// generated number (`ORD000042`) is known before the engine decides: hooks and messages
    /// at creation see it. Give it to [`Tx::insert_order`] as `d.order.id`.
    pub async fn reserve_order_id(&mut self) -> Result<OrderId, StoreError> {
        let backend = self.backend();
        reserve_id(self.conn(), backend).await
    }
}

impl Store {
    /// Sets an order id aside for good, outside any transaction the caller holds: no other
    /// order will get it, whether or not an order is ever written with it (PostgreSQL: the
    /// sequence; SQLite: `sqlite_sequence`, moved in a short transaction of its own). For a
    /// decision made outside the write transaction (with hooks) that must know its number.
    pub async fn reserve_order_id(&self) -> Result<OrderId, StoreError> {
        match self.backend {
            super::Backend::Postgres => {
                let mut conn = self.pool.acquire().await?;
                reserve_id(&mut conn, self.backend).await
            }
            super::Backend::Sqlite => {
                let mut tx = self.begin().await?;
                let id = reserve_id(tx.conn(), self.backend).await?;
                sqlx::query("UPDATE sqlite_sequence SET seq = $1 WHERE name = 'orders'")
                    .bind(id)
                    .execute(tx.conn())
                    .await?;
                sqlx::query("INSERT INTO sqlite_sequence (name, seq) SELECT 'orders', $1 WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'orders')")
                    .bind(id)
                    .execute(tx.conn())
                    .await?;
                tx.commit().await?;
                Ok(id)
            }
        }
    }
}

impl Tx {
    /// Writes a new order from a creation decision: the order (version 1; an empty number
    /// becomes one made from the id, `ORD000042`), its lines, shipments, fulfillment actions,
    /// `d.history` (each row with `workflow_version`), `d.timer_starts` and `d.outbox`. The
    /// order's `workflow_version` becomes `workflow_version`; `d.order.id` and
    /// `d.order.version` are ignored. A taken number, or channel and external id, is
    /// [`StoreError::Duplicate`].
    pub async fn insert_order(
        &mut self,
        d: &Decision,
        workflow_version: i64,
        now: Time,
    ) -> Result<OrderId, StoreError> {
        let o = &d.order;
        let backend = self.backend();
        let conn = self.conn();
        let number = (!o.number.is_empty()).then_some(o.number.as_str());
        // An id set aside with `reserve_order_id` is written as it is; otherwise one is now.
        let id = if o.id > 0 { o.id } else { reserve_id(conn, backend).await? };
        let row = sqlx::query(
            "INSERT INTO orders (id, number, workflow, workflow_version, channel, mode, external_id, status, \
             status_since, customer_id, body, flags, queue, assignee, version, lock_holder, lock_expires_at, \
             created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) \
             RETURNING id",
        )
        .bind(id)
        .bind(number)
        .bind(o.workflow.as_str())
        .bind(workflow_version)
        .bind(o.channel.as_str())
        .bind(o.mode.as_deref())
        .bind(o.external_id.as_deref())
        .bind(o.status.as_str())
        .bind(encode::time(o.status_since))
        .bind(o.customer.id)
        .bind(body(o)?)
        .bind(encode::flags(&o.flags))
        .bind(o.queue.as_deref())
        .bind(o.assignee.as_deref())
        .bind(1_i64)
        .bind(o.lock.as_ref().map(|l| l.holder.as_str()))
        .bind(o.lock.as_ref().map(|l| encode::time(l.expires_at)))
        .bind(encode::time(o.created_at))
        .bind(encode::time(now))
        .fetch_one(&mut *conn)
        .await?;
        let id = get_i64(&row, "id")?;
        if number.is_none() {
            sqlx::query("UPDATE orders SET number = $1 WHERE id = $2")
                .bind(generated_number(id))
                .bind(id)
                .execute(&mut *conn)
                .await?;
        }
        replace_parts(conn, id, o, true).await?;
        let rows = history::insert(conn, backend, id, &d.history, workflow_version).await?;
        timers::start(conn, id, &d.timer_starts, now).await?;
        outbox::insert(conn, id, &d.outbox, now).await?;
        self.wrote(id, rows);
        Ok(id)
    }

    /// Writes a decision about an existing order, read as `before` in this transaction, if the
    /// order is still at `before.version` (else [`StoreError::Conflict`], and nothing is written).
    /// The order row is rewritten (all but id, number and created_at) unless nothing it holds
    /// changed; its version becomes `before.version + 1`, `workflow_version` and `updated_at`
    /// come from the arguments. Of the lines, shipments and fulfillment actions only what
    /// changed is written: changed lines and actions updated in place, new shipments and
    /// actions appended (everything is replaced when the shapes differ). History is appended;
    /// `d.timer_cancels` are applied before `d.timer_starts` are inserted; outbox messages are
    /// queued.
    pub async fn update_order_from(
        &mut self,
        before: &Order,
        d: &Decision,
        workflow_version: i64,
        now: Time,
    ) -> Result<(), StoreError> {
        let o = &d.order;
        // The row as a batch of one writes it: only the version when nothing it holds changed.
        let row = OrderWrite { before, after: o, version: before.version + 1, workflow_version, at: now };
        self.update_orders(std::slice::from_ref(&row)).await?;
        let backend = self.backend();
        let conn = self.conn();
        write_changed_parts(conn, o.id, before, o).await?;
        let rows = history::insert(conn, backend, o.id, &d.history, workflow_version).await?;
        timers::cancel(conn, o.id, &d.timer_cancels).await?;
        timers::start(conn, o.id, &d.timer_starts, now).await?;
        outbox::insert(conn, o.id, &d.outbox, now).await?;
        self.wrote(o.id, rows);
        Ok(())
    }
}
