//! What a script sees: the order, its lines and the event as rhai values, and the way back from
//! rhai values to JSON.
//!
//! `order` and each of its `lines` are read-only views over one copy of the order taken for the
//! call: a property is turned into a rhai value only when the script reads it, so a guard that
//! looks at two fields of ten lines does not pay for the whole order. They behave like maps for
//! reading (`order.total`, `order["total"]`, an unknown property is `()`), and turn into JSON
//! objects with every field when put into a payload. Money and quantities are `Decimal`s; times
//! are RFC 3339 text.

use crate::engine::EventInput;
use crate::order::{Address, Customer, FulfillmentAction, Order, Payment, Shipment, Time};
use rhai::{Array, Dynamic, Engine, ImmutableString, Map};
use rust_decimal::Decimal;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

/// The fields of `order`, in the order the docs and JSON list them.
pub(crate) const ORDER_FIELDS: &[&str] = &[
    "id",
    "number",
    "workflow",
    "workflow_version",
    "status",
    "phase",
    "channel",
    "mode",
    "external_id",
    "created_at",
    "status_since",
    "customer",
    "shipping",
    "billing",
    "payment",
    "amount_paid",
    "balance_due",
    "total",
    "subtotal",
    "shipping_amount",
    "lines",
    "flags",
    "attributes",
    "queue",
    "assignee",
    "invoiced",
    "related_order",
    "shipments",
    "fulfillment_actions",
];

/// The fields of each of `order.lines`.
pub(crate) const LINE_FIELDS: &[&str] = &[
    "n",
    "sku",
    "description",
    "vendor",
    "qty",
    "unit_price",
    "total",
    "fulfillment",
    "in_stock",
    "in_stock_qty",
    "picked_qty",
    "shipped_qty",
    "invoiced_qty",
];

/// `order` in a script: a read-only view of the order copied for this call.
#[derive(Debug, Clone)]
pub(crate) struct OrderView(Arc<Order>);

/// One of `order.lines`: the order and the line's index.
#[derive(Debug, Clone)]
pub(crate) struct LineView {
    order: Arc<Order>,
    index: usize,
}

thread_local! {
    /// The copy of the order the last call on this thread made: the engine often asks several
    /// hooks about the same snapshot in one decision (three sourcing guards, a guard and its
    /// explanation), and comparing is cheaper than copying.
    static LAST: std::cell::RefCell<Option<Arc<Order>>> = const { std::cell::RefCell::new(None) };
}

impl OrderView {
    /// A view of a copy of `order` (the last copy again when the order is unchanged).
    pub(crate) fn new(order: &Order) -> Self {
        LAST.with(|last| {
            let mut last = last.borrow_mut();
            if let Some(copy) = last.as_ref().filter(|copy| ***copy == *order) {
                return OrderView(copy.clone());
            }
            let copy = Arc::new(order.clone());
            *last = Some(copy.clone());
            OrderView(copy)
        })
    }

    /// The field `name`, or `()` when the order has no such field.
    pub(crate) fn field(&self, name: &str) -> Dynamic {
        let o = &*self.0;
        match name {
            "id" => Dynamic::from_int(o.id),
            "number" => text(&o.number),
            "workflow" => text(&o.workflow),
            "workflow_version" => Dynamic::from_int(o.workflow_version),
            "status" => text(&o.status),
            "phase" => opt_text(o.phase.as_deref()),
            "channel" => text(&o.channel),
            "mode" => opt_text(o.mode.as_deref()),
            "external_id" => opt_text(o.external_id.as_deref()),
            "created_at" => time(o.created_at),
            "status_since" => time(o.status_since),
            "customer" => customer(&o.customer),
            "shipping" => address(&o.shipping),
            "billing" => address(&o.billing),
            "payment" => o.payment.as_ref().map_or(Dynamic::UNIT, payment),
            "amount_paid" => Dynamic::from_decimal(o.amount_paid),
            "balance_due" => Dynamic::from_decimal(o.balance_due()),
            "total" => Dynamic::from_decimal(o.total()),
            "subtotal" => Dynamic::from_decimal(o.subtotal()),
            "shipping_amount" => Dynamic::from_decimal(o.shipping_amount),
            "lines" => Dynamic::from_array(
                (0..o.lines.len())
                    .map(|index| Dynamic::from(LineView { order: self.0.clone(), index }))
                    .collect(),
            ),
            "flags" => Dynamic::from_array(o.flags.iter().map(|f| text(f)).collect()),
            "attributes" => Dynamic::from_map(
                o.attributes.iter().map(|(k, v)| (k.as_str().into(), from_json(v))).collect(),
            ),
            "queue" => opt_text(o.queue.as_deref()),
            "assignee" => opt_text(o.assignee.as_deref()),
            "invoiced" => Dynamic::from_bool(o.invoiced),
            "related_order" => o.related_order.map_or(Dynamic::UNIT, Dynamic::from_int),
            "shipments" => Dynamic::from_array(o.shipments.iter().map(shipment).collect()),
            "fulfillment_actions" => {
                Dynamic::from_array(o.fulfillment_actions.iter().map(fulfillment_action).collect())
            }
            _ => Dynamic::UNIT,
        }
    }

    /// Every field as JSON, for payloads.
    pub(crate) fn to_json(&self) -> Result<serde_json::Value, String> {
        fields_to_json(ORDER_FIELDS, |f| self.field(f))
    }
}

impl LineView {
    /// The field `name`, or `()` when a line has no such field.
    pub(crate) fn field(&self, name: &str) -> Dynamic {
        let l = &self.order.lines[self.index];
        match name {
            "n" => Dynamic::from_int(l.n.into()),
            "sku" => text(&l.sku),
            "description" => text(&l.description),
            "vendor" => text(&l.vendor),
            "qty" => Dynamic::from_decimal(l.qty),
            "unit_price" => Dynamic::from_decimal(l.unit_price),
            "total" => Dynamic::from_decimal(l.total()),
            "fulfillment" => fulfillment_code(l.fulfillment),
            "in_stock" => Dynamic::from_bool(l.in_stock()),
            "in_stock_qty" => Dynamic::from_decimal(l.in_stock_qty),
            "picked_qty" => Dynamic::from_decimal(l.picked_qty),
            "shipped_qty" => Dynamic::from_decimal(l.shipped_qty),
            "invoiced_qty" => Dynamic::from_decimal(l.invoiced_qty),
            _ => Dynamic::UNIT,
        }
    }

    /// Every field as JSON, for payloads.
    pub(crate) fn to_json(&self) -> Result<serde_json::Value, String> {
        fields_to_json(LINE_FIELDS, |f| self.field(f))
    }
}

/// Registers the view types, their properties (`order.total`) and indexers (`order["total"]`).
pub(crate) fn register(engine: &mut Engine) {
    engine.register_type_with_name::<OrderView>("Order");
    engine.register_type_with_name::<LineView>("Line");
    for &name in ORDER_FIELDS {
        engine.register_get(name, move |o: &mut OrderView| o.field(name));
    }
    for &name in LINE_FIELDS {
        engine.register_get(name, move |l: &mut LineView| l.field(name));
    }
    engine.register_indexer_get(|o: &mut OrderView, name: &str| o.field(name));
    engine.register_indexer_get(|l: &mut LineView, name: &str| l.field(name));
    engine.register_fn("to_string", |o: &mut OrderView| json_text(o.to_json()));
    engine.register_fn("to_debug", |o: &mut OrderView| json_text(o.to_json()));
    engine.register_fn("to_string", |l: &mut LineView| json_text(l.to_json()));
    engine.register_fn("to_debug", |l: &mut LineView| json_text(l.to_json()));
}

fn json_text(v: Result<serde_json::Value, String>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|e| e)
}

fn fields_to_json(names: &[&str], field: impl Fn(&str) -> Dynamic) -> Result<serde_json::Value, String> {
    let mut out = serde_json::Map::new();
    for &name in names {
        out.insert(name.to_string(), to_json(&field(name))?);
    }
    Ok(serde_json::Value::Object(out))
}

/// `event` in a script: `#{name, data}`, or `()` when the hook runs without an event.
pub(crate) fn event(event: Option<&EventInput>) -> Dynamic {
    let Some(e) = event else { return Dynamic::UNIT };
    let mut m = Map::new();
    m.insert("name".into(), text(&e.name));
    m.insert(
        "data".into(),
        Dynamic::from_map(e.data.iter().map(|(k, v)| (k.as_str().into(), from_json(v))).collect()),
    );
    Dynamic::from_map(m)
}

/// `now` in a script: RFC 3339 text.
pub(crate) fn time(t: Time) -> Dynamic {
    Dynamic::from(ImmutableString::from(t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)))
}

fn text(s: &str) -> Dynamic {
    Dynamic::from(ImmutableString::from(s))
}

fn opt_text(s: Option<&str>) -> Dynamic {
    s.map_or(Dynamic::UNIT, text)
}

/// The three fulfillment codes are shared strings: reading `line.fulfillment` allocates nothing.
fn fulfillment_code(f: crate::order::Fulfillment) -> Dynamic {
    static CODES: OnceLock<[ImmutableString; 3]> = OnceLock::new();
    let codes = CODES.get_or_init(|| ["stock".into(), "dropship".into(), "jit".into()]);
    let i = match f {
        crate::order::Fulfillment::Stock => 0,
        crate::order::Fulfillment::Dropship => 1,
        crate::order::Fulfillment::Jit => 2,
    };
    Dynamic::from(codes[i].clone())
}

fn map<const N: usize>(entries: [(&str, Dynamic); N]) -> Dynamic {
    Dynamic::from_map(entries.into_iter().map(|(k, v)| (k.into(), v)).collect())
}

fn customer(c: &Customer) -> Dynamic {
    map([
        ("email", text(&c.email)),
        ("first_name", text(&c.first_name)),
        ("last_name", text(&c.last_name)),
        ("company", text(&c.company)),
        ("phone", text(&c.phone)),
        ("is_guest", Dynamic::from_bool(c.is_guest)),
        ("is_new", Dynamic::from_bool(c.is_new)),
    ])
}

fn address(a: &Address) -> Dynamic {
    map([
        ("first_name", text(&a.first_name)),
        ("last_name", text(&a.last_name)),
        ("company", text(&a.company)),
        ("address", text(&a.address)),
        ("address2", text(&a.address2)),
        ("city", text(&a.city)),
        ("state", text(&a.state)),
        ("zip", text(&a.zip)),
        ("country", text(&a.country)),
        ("phone", text(&a.phone)),
        ("email", text(&a.email)),
    ])
}

fn payment(p: &Payment) -> Dynamic {
    map([
        ("method", text(&p.method)),
        ("outcome", text(p.outcome.code())),
        ("amount", Dynamic::from_decimal(p.amount)),
        ("reference", text(&p.reference)),
    ])
}

fn shipment(s: &Shipment) -> Dynamic {
    let lines = s
        .lines
        .iter()
        .map(|(n, qty)| map([("n", Dynamic::from_int((*n).into())), ("qty", Dynamic::from_decimal(*qty))]))
        .collect();
    map([
        ("carrier", text(&s.carrier)),
        ("tracking_number", text(&s.tracking_number)),
        ("amount", Dynamic::from_decimal(s.amount)),
        ("lines", Dynamic::from_array(lines)),
        ("at", time(s.at)),
    ])
}

fn fulfillment_action(a: &FulfillmentAction) -> Dynamic {
    map([
        ("n", Dynamic::from_int(a.n.into())),
        ("name", text(&a.name)),
        ("complete", Dynamic::from_bool(a.complete)),
        ("notify", text(&a.notify)),
        ("note", text(&a.note)),
        ("contact", text(&a.contact)),
        ("visible", Dynamic::from_bool(a.visible)),
        ("at", time(a.at)),
        ("updated_at", time(a.updated_at)),
    ])
}

/// A JSON value as a rhai value: whole numbers are integers, other numbers decimals, objects
/// maps. Text stays text, even when it holds a number (money attributes are stored as text: a
/// script reads them with `decimal(...)`).
pub(crate) fn from_json(v: &serde_json::Value) -> Dynamic {
    match v {
        serde_json::Value::Null => Dynamic::UNIT,
        serde_json::Value::Bool(b) => Dynamic::from_bool(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Dynamic::from_int(i),
            None => {
                let s = n.to_string();
                Decimal::from_str(&s)
                    .or_else(|_| Decimal::from_scientific(&s))
                    .map_or_else(|_| text(&s), Dynamic::from_decimal)
            }
        },
        serde_json::Value::String(s) => text(s),
        serde_json::Value::Array(items) => Dynamic::from_array(items.iter().map(from_json).collect()),
        serde_json::Value::Object(m) => {
            Dynamic::from_map(m.iter().map(|(k, v)| (k.as_str().into(), from_json(v))).collect())
        }
    }
}

/// A rhai value as JSON: decimals become strings (exact), views become objects with every
/// field. Effects, function pointers and other values cannot be JSON: an error names the type.
pub(crate) fn to_json(v: &Dynamic) -> Result<serde_json::Value, String> {
    use serde_json::Value as J;
    if v.is_unit() {
        return Ok(J::Null);
    }
    if let Ok(b) = v.as_bool() {
        return Ok(J::Bool(b));
    }
    if let Ok(i) = v.as_int() {
        return Ok(J::from(i));
    }
    if let Some(d) = v.read_lock::<Decimal>() {
        return Ok(J::String(d.to_string()));
    }
    if let Some(s) = v.read_lock::<ImmutableString>() {
        return Ok(J::String(s.to_string()));
    }
    if let Ok(c) = v.as_char() {
        return Ok(J::String(c.to_string()));
    }
    if let Some(a) = v.read_lock::<Array>() {
        return a.iter().map(to_json).collect::<Result<Vec<_>, _>>().map(J::Array);
    }
    if let Some(m) = v.read_lock::<Map>() {
        let mut out = serde_json::Map::new();
        for (k, v) in m.iter() {
            out.insert(k.to_string(), to_json(v)?);
        }
        return Ok(J::Object(out));
    }
    if let Some(o) = v.read_lock::<OrderView>() {
        return o.to_json();
    }
    if let Some(l) = v.read_lock::<LineView>() {
        return l.to_json();
    }
    if v.is::<super::api::EffectValue>() {
        return Err("an effect cannot be part of a payload or a value: return it from an action hook".into());
    }
    let name = v.type_name();
    Err(format!("a value of type `{}` cannot be turned into JSON", name.rsplit("::").next().unwrap_or(name)))
}

/// A rhai value's kind, for messages: `a number`, `a string`, `()`.
pub(crate) fn describe(v: &Dynamic) -> String {
    if v.is_unit() {
        "() (nothing)".into()
    } else if v.is_bool() {
        "a bool".into()
    } else if v.is_int() || v.is::<Decimal>() {
        "a number".into()
    } else if v.is_string() || v.is_char() {
        "a string".into()
    } else if v.is_array() {
        "an array".into()
    } else if v.is_map() || v.is::<OrderView>() || v.is::<LineView>() {
        "a map".into()
    } else {
        format!("a value of type `{}`", v.type_name())
    }
}
