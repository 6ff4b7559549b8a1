//! What a script sees: the order, its lines and the event as rhai values, and the way back from
//! rhai values to JSON.
//!
//! `order` and each of its `lines` are read-only views over one copy of the order taken for the
//! call: a property is turned into a rhai value only when the script reads it, so a guard that
//! looks at two fields of ten lines does not pay for the whole order. They behave like maps for
//! reading (`order.total`, `order["total"]`); a property the field catalogue (`crate::schema`)
//! does not have is an error naming it, never a silent `()`. The customer, addresses, payment,
//! shipments and fulfillment actions are maps with every catalogued field. Views turn into JSON
//! objects with every field when put into a payload. Money and quantities are `Decimal`s; times
//! are RFC 3339 text.

use crate::engine::EventInput;
use crate::order::{read_shipment_line, read_to_json, Order, Time};
use crate::schema::{
    ActionField, AddressField, CustomerField, LineField, OrderField, PaymentField, ShipmentField,
    ShipmentLineField, Table,
};
use rhai::{Array, Dynamic, Engine, EvalAltResult, ImmutableString, Map};
use rust_decimal::Decimal;
use std::str::FromStr;
use std::sync::Arc;

/// `order` in a script: a read-only view of the order copied for this call.
#[derive(Debug, Clone)]
pub(crate) struct HookOrder(Arc<Order>, Time);

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

impl HookOrder {
    /// A view of a copy of `order` at `now` (the last copy again when the order is unchanged).
    pub(crate) fn new(order: &Order, now: Time) -> Self {
        LAST.with(|last| {
            let mut last = last.borrow_mut();
            if let Some(copy) = last.as_ref().filter(|copy| ***copy == *order) {
                return HookOrder(copy.clone(), now);
            }
            let copy = Arc::new(order.clone());
            *last = Some(copy.clone());
            HookOrder(copy, now)
        })
    }

    /// Catalogued field `f`.
    pub(crate) fn field(&self, f: OrderField) -> Dynamic {
        match f {
            // Lines are views too: a guard over ten lines copies nothing.
            OrderField::Lines => Dynamic::from_array(
                (0..self.0.lines.len())
                    .map(|index| Dynamic::from(LineView { order: self.0.clone(), index }))
                    .collect(),
            ),
            other => dynamic(self.0.read(other, self.1)),
        }
    }
    /// Every field as JSON, for payloads: the catalogue's JSON, as payloads and templates see it.
    pub(crate) fn to_json(&self) -> Result<serde_json::Value, String> {
        Ok(self.0.to_catalogue_json(self.1))
    }
}

impl LineView {
    /// Catalogued field `f`.
    pub(crate) fn field(&self, f: LineField) -> Dynamic {
        dynamic(self.line().read(f))
    }

    fn line(&self) -> &crate::order::Line {
        #[expect(
            clippy::indexing_slicing,
            reason = "a LineView is only made for an index in 0..order.lines.len() of the order it holds, which it never changes"
        )]
        &self.order.lines[self.index]
    }
    /// Every field as JSON, for payloads.
    pub(crate) fn to_json(&self) -> Result<serde_json::Value, String> {
        Ok(read_to_json(crate::order::Read::Lines(std::slice::from_ref(self.line())))
            .as_array()
            .and_then(|a| a.first().cloned())
            .unwrap_or_default())
    }
}

/// Registers the view types, their properties (`order.total`) and indexers (`order["total"]`).
/// A property the catalogue does not have is an error that names it and the likely one.
pub(crate) fn register(engine: &mut Engine) {
    engine.register_type_with_name::<HookOrder>("Order");
    engine.register_type_with_name::<LineView>("Line");
    for &f in OrderField::ALL {
        engine.register_get(f.name(), move |o: &mut HookOrder| o.field(f));
    }
    for &f in LineField::ALL {
        engine.register_get(f.name(), move |l: &mut LineView| l.field(f));
    }
    engine.register_indexer_get(|o: &mut HookOrder, name: &str| -> Result<Dynamic, Box<EvalAltResult>> {
        OrderField::from_name(name).map(|f| o.field(f)).ok_or_else(|| unknown("order", Table::Order, name))
    });
    engine.register_indexer_get(|l: &mut LineView, name: &str| -> Result<Dynamic, Box<EvalAltResult>> {
        LineField::from_name(name).map(|f| l.field(f)).ok_or_else(|| unknown("a line", Table::Line, name))
    });
    engine.register_fn("to_string", |o: &mut HookOrder| json_text(o.to_json()));
    engine.register_fn("to_debug", |o: &mut HookOrder| json_text(o.to_json()));
    engine.register_fn("to_string", |l: &mut LineView| json_text(l.to_json()));
    engine.register_fn("to_debug", |l: &mut LineView| json_text(l.to_json()));
}

/// The error for a property a view does not have: `order has no property `totl`; did you mean `total`?`.
fn unknown(what: &str, table: Table, name: &str) -> Box<EvalAltResult> {
    let names = table.names();
    let hint = crate::diagnostics::did_you_mean(name, names.iter().copied())
        .map(|s| format!("; did you mean `{s}`?"))
        .unwrap_or_else(|| format!(" (it has: {})", names.join(", ")));
    format!("{what} has no property `{name}`{hint}").into()
}

fn json_text(v: Result<serde_json::Value, String>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|e| e)
}

/// A catalogued value as a rhai value: records are maps with every catalogued field.
fn dynamic(r: crate::order::Read<'_>) -> Dynamic {
    use crate::order::Read;
    fn record<F: Copy>(all: &[F], read: impl Fn(F) -> (&'static str, Dynamic)) -> Dynamic {
        Dynamic::from_map(all.iter().map(|f| read(*f)).map(|(k, v)| (k.into(), v)).collect())
    }
    match r {
        Read::Null => Dynamic::UNIT,
        Read::Text(t) => text(t),
        Read::Int(i) => Dynamic::from_int(i),
        Read::Decimal(d) => Dynamic::from_decimal(d),
        Read::Bool(b) => Dynamic::from_bool(b),
        Read::Time(t) => time(t),
        Read::Duration(d) => text(&crate::check::format_duration(d)),
        Read::Customer(c) => record(CustomerField::ALL, |f| (f.name(), dynamic(c.read(f)))),
        Read::Address(a) => record(AddressField::ALL, |f| (f.name(), dynamic(a.read(f)))),
        Read::Payment(p) => record(PaymentField::ALL, |f| (f.name(), dynamic(p.read(f)))),
        // Only through `OrderField::Lines`, which gives views instead.
        Read::Lines(lines) => Dynamic::from_array(
            lines.iter().map(|l| record(LineField::ALL, |f| (f.name(), dynamic(l.read(f))))).collect(),
        ),
        Read::Shipments(s) => Dynamic::from_array(
            s.iter().map(|s| record(ShipmentField::ALL, |f| (f.name(), dynamic(s.read(f))))).collect(),
        ),
        Read::ShipmentLines(lines) => Dynamic::from_array(
            lines
                .iter()
                .map(|l| record(ShipmentLineField::ALL, |f| (f.name(), dynamic(read_shipment_line(l, f)))))
                .collect(),
        ),
        Read::Actions(a) => Dynamic::from_array(
            a.iter().map(|a| record(ActionField::ALL, |f| (f.name(), dynamic(a.read(f))))).collect(),
        ),
        Read::Flags(flags) => Dynamic::from_array(flags.iter().map(|f| text(f)).collect()),
        Read::Attributes(a) => {
            Dynamic::from_map(a.iter().map(|(k, v)| (k.as_str().into(), from_json(v))).collect())
        }
    }
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
    if let Some(o) = v.read_lock::<HookOrder>() {
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
    } else if v.is_map() || v.is::<HookOrder>() || v.is::<LineView>() {
        "a map".into()
    } else {
        format!("a value of type `{}`", v.type_name())
    }
}
