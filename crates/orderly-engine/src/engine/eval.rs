//! Guards evaluated natively on the compiled tree, and explained when they fail.

use super::{EventInput, Hooks};
use crate::model::{self, Aggregate, ArithOp, CmpOp, ExprKind, FieldRef, Type, Workflow};
use crate::order::{Line, Order, Read, Time};
use rust_decimal::Decimal;
use std::borrow::Cow;
use std::str::FromStr;
use std::time::Duration;

/// A value a guard computes with. Text borrows from the order or the workflow where it can,
/// so evaluating a guard allocates nothing in the common case.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// Nothing there (a missing field or attribute).
    Null,
    /// Yes or no.
    Bool(bool),
    /// A number or amount.
    Number(Decimal),
    /// Text or a code.
    Text(Cow<'a, str>),
    /// A length of time.
    Duration(Duration),
    /// A moment.
    Time(Time),
}

impl Value<'_> {
    /// The same value, owning its text.
    pub(crate) fn into_owned(self) -> Value<'static> {
        match self {
            Value::Null => Value::Null,
            Value::Bool(b) => Value::Bool(b),
            Value::Number(n) => Value::Number(n),
            Value::Text(t) => Value::Text(Cow::Owned(t.into_owned())),
            Value::Duration(d) => Value::Duration(d),
            Value::Time(t) => Value::Time(t),
        }
    }
}

impl std::fmt::Display for Value<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Null => f.write_str("empty"),
            Value::Bool(b) => write!(f, "{}", if *b { "true" } else { "false" }),
            Value::Number(n) => write!(f, "{n}"),
            Value::Text(t) => write!(f, "\"{t}\""),
            Value::Duration(d) => write!(f, "{}", crate::engine::data::format_duration(*d)),
            Value::Time(t) => write!(f, "{}", t.format("%Y-%m-%d %H:%M:%S UTC")),
        }
    }
}

/// What a guard reads: the order, the event (when there is one), the line being gone through.
pub(crate) struct Ctx<'a> {
    pub(crate) workflow: &'a Workflow,
    pub(crate) order: &'a Order,
    pub(crate) event: Option<&'a EventInput>,
    pub(crate) now: Time,
    pub(crate) hooks: &'a dyn Hooks,
    pub(crate) line: Option<&'a Line>,
}

fn text(s: &str) -> Value<'_> {
    Value::Text(Cow::Borrowed(s))
}

fn decimal_of(v: &serde_json::Value) -> Option<Decimal> {
    match v {
        serde_json::Value::String(s) => Decimal::from_str(s.trim()).ok(),
        // Whole numbers without going through text (what most amounts in event data are).
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) if i != 0 || !n.to_string().starts_with('-') => Some(Decimal::from(i)),
            _ => Decimal::from_str(&n.to_string()).ok(),
        },
        _ => None,
    }
}

/// A JSON value read as a value of the declared type.
pub(crate) fn typed(v: Option<&serde_json::Value>, ty: Type) -> Value<'_> {
    let Some(v) = v else { return Value::Null };
    match ty {
        Type::Bool => v.as_bool().map_or(Value::Null, Value::Bool),
        Type::Money | Type::Number => decimal_of(v).map_or(Value::Null, Value::Number),
        Type::Text | Type::Code(_) => v.as_str().map_or(Value::Null, text),
        Type::Duration => match v {
            serde_json::Value::String(s) => {
                crate::check::parse_duration(s).map_or(Value::Null, Value::Duration)
            }
            other => other.as_u64().map_or(Value::Null, |s| Value::Duration(Duration::from_secs(s))),
        },
        Type::Time => v
            .as_str()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map_or(Value::Null, |t| Value::Time(t.with_timezone(&chrono::Utc))),
    }
}

/// A catalogued value as a guard sees it: records and lists are not comparable values (the
/// checker never lets a guard read one).
fn value(r: Read<'_>) -> Value<'_> {
    match r {
        Read::Text(t) => text(t),
        Read::Decimal(d) => Value::Number(d),
        Read::Int(i) => Value::Number(Decimal::from(i)),
        Read::Bool(b) => Value::Bool(b),
        Read::Time(t) => Value::Time(t),
        Read::Duration(d) => Value::Duration(d),
        Read::Null
        | Read::Customer(_)
        | Read::Address(_)
        | Read::Payment(_)
        | Read::Lines(_)
        | Read::Shipments(_)
        | Read::ShipmentLines(_)
        | Read::Actions(_)
        | Read::Flags(_)
        | Read::Attributes(_) => Value::Null,
    }
}

/// Reads a field reference of the order (not `event.*` nor `line.*`, which need a context),
/// through the catalogue's readers: what guards and channel requirements see.
pub(crate) fn order_field<'a>(o: &'a Order, f: &FieldRef, ty: Type, now: Time) -> Value<'a> {
    match f {
        FieldRef::Order(f) => value(o.read(*f, now)),
        FieldRef::Payment(f) => o.payment.as_ref().map_or(Value::Null, |p| value(p.read(*f))),
        FieldRef::Customer(f) => value(o.customer.read(*f)),
        FieldRef::Shipping(f) => value(o.shipping.read(*f)),
        FieldRef::Billing(f) => value(o.billing.read(*f)),
        FieldRef::Attribute(n) => typed(o.attributes.get(n), ty),
        FieldRef::Flag(n) => Value::Bool(o.flags.contains(n)),
        FieldRef::Event(_) | FieldRef::Line(_) => Value::Null,
    }
}

/// A line's field as a guard inside an aggregate reads it.
#[cfg(test)]
pub(crate) fn evaluate_line_field(l: &Line, f: crate::schema::LineField, _ty: Type) -> Value<'_> {
    value(l.read(f))
}

fn field<'a>(ctx: &Ctx<'a>, f: &FieldRef, ty: Type) -> Value<'a> {
    match f {
        FieldRef::Event(n) => match (ctx.event, n.as_str()) {
            (_, "time") => Value::Time(ctx.now),
            (Some(e), _) => typed(e.data.get(n), ty),
            (None, _) => Value::Null,
        },
        FieldRef::Line(f) => ctx.line.map_or(Value::Null, |l| value(l.read(*f))),
        // The phase is the workflow's: a stored order does not carry it.
        FieldRef::Order(crate::schema::OrderField::Phase) => ctx
            .workflow
            .status(&ctx.order.status)
            .and_then(|s| ctx.workflow.phase_of(s))
            .map_or(Value::Null, |p| text(&p.code)),
        other => order_field(ctx.order, other, ty, ctx.now),
    }
}

fn compare(op: CmpOp, a: &Value<'_>, b: &Value<'_>) -> bool {
    use std::cmp::Ordering;
    let ord: Option<Ordering> = match (a, b) {
        (Value::Number(x), Value::Number(y)) => Some(x.cmp(y)),
        (Value::Text(x), Value::Text(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::Duration(x), Value::Duration(y)) => Some(x.cmp(y)),
        (Value::Time(x), Value::Time(y)) => Some(x.cmp(y)),
        (Value::Null, Value::Null) => Some(Ordering::Equal),
        _ => None,
    };
    match (op, ord) {
        (CmpOp::Eq, o) => o == Some(Ordering::Equal),
        (CmpOp::Ne, o) => o != Some(Ordering::Equal),
        (_, None) => false, // an empty value is neither more nor less than anything
        (CmpOp::Lt, Some(o)) => o == Ordering::Less,
        (CmpOp::Le, Some(o)) => o != Ordering::Greater,
        (CmpOp::Gt, Some(o)) => o == Ordering::Greater,
        (CmpOp::Ge, Some(o)) => o != Ordering::Less,
    }
}

/// Evaluates an expression. `Err` only when a hook fails.
pub(crate) fn eval<'a>(e: &'a model::Expr, ctx: &Ctx<'a>) -> Result<Value<'a>, String> {
    Ok(match &e.kind {
        ExprKind::Const(c) => match c {
            model::Value::Bool(b) => Value::Bool(*b),
            model::Value::Number(n) => Value::Number(*n),
            model::Value::Text(t) => Value::Text(Cow::Borrowed(t)),
            model::Value::Duration(d) => Value::Duration(*d),
        },
        ExprKind::Field(f) => field(ctx, f, e.ty),
        ExprKind::Not(x) => Value::Bool(!truthy(&eval(x, ctx)?)),
        ExprKind::Neg(x) => match eval(x, ctx)? {
            Value::Number(n) => Value::Number(-n),
            _ => Value::Null,
        },
        ExprKind::And(a, b) => Value::Bool(truthy(&eval(a, ctx)?) && truthy(&eval(b, ctx)?)),
        ExprKind::Or(a, b) => Value::Bool(truthy(&eval(a, ctx)?) || truthy(&eval(b, ctx)?)),
        ExprKind::Cmp(op, a, b) => Value::Bool(compare(*op, &eval(a, ctx)?, &eval(b, ctx)?)),
        ExprKind::Arith(op, a, b) => match (eval(a, ctx)?, eval(b, ctx)?) {
            (Value::Number(x), Value::Number(y)) => match op {
                ArithOp::Add => x.checked_add(y),
                ArithOp::Sub => x.checked_sub(y),
                ArithOp::Mul => x.checked_mul(y),
                ArithOp::Div => x.checked_div(y),
            }
            .map_or(Value::Null, Value::Number),
            _ => Value::Null,
        },
        ExprKind::In(v, list, negated) => {
            let v = eval(v, ctx)?;
            let mut found = false;
            for item in list {
                if compare(CmpOp::Eq, &v, &eval(item, ctx)?) {
                    found = true;
                    break;
                }
            }
            Value::Bool(found != *negated)
        }
        ExprKind::TextTest(test, v, patterns) => {
            // A value that is not set passes no text test.
            let Value::Text(text) = eval(v, ctx)? else { return Ok(Value::Bool(false)) };
            let mut holds = false;
            for p in patterns {
                if let Value::Text(pattern) = eval(p, ctx)? {
                    if test.holds(&text, &pattern) {
                        holds = true;
                        break;
                    }
                }
            }
            Value::Bool(holds)
        }
        ExprKind::Aggregate(kind, inner) => aggregate(*kind, inner.as_deref(), ctx)?,
        ExprKind::Hook(h) => Value::Bool(ctx.hooks.guard(h, ctx.order, ctx.event, ctx.now)?),
    })
}

fn aggregate<'a>(
    kind: Aggregate,
    inner: Option<&'a model::Expr>,
    ctx: &Ctx<'a>,
) -> Result<Value<'a>, String> {
    let on_line = |l: &'a Line| -> Result<Value<'a>, String> {
        let lctx = Ctx { line: Some(l), ..*ctx };
        inner.map_or(Ok(Value::Bool(true)), |e| eval(e, &lctx))
    };
    let lines = &ctx.order.lines;
    Ok(match kind {
        Aggregate::All => {
            let mut all = true;
            for l in lines {
                if !truthy(&on_line(l)?) {
                    all = false;
                    break;
                }
            }
            Value::Bool(all)
        }
        Aggregate::Any => {
            let mut any = false;
            for l in lines {
                if truthy(&on_line(l)?) {
                    any = true;
                    break;
                }
            }
            Value::Bool(any)
        }
        Aggregate::Count => {
            let mut n = 0u32;
            for l in lines {
                if truthy(&on_line(l)?) {
                    n += 1;
                }
            }
            Value::Number(Decimal::from(n))
        }
        Aggregate::Sum => {
            // Checked like `+` in a guard: a sum past the largest decimal is no value.
            let mut total = Some(Decimal::ZERO);
            for l in lines {
                if let Value::Number(x) = on_line(l)? {
                    total = total.and_then(|t| t.checked_add(x));
                }
            }
            total.map_or(Value::Null, Value::Number)
        }
    })
}

fn truthy(v: &Value<'_>) -> bool {
    matches!(v, Value::Bool(true))
}

/// Evaluates a guard on an order (and an event), for tools and tests.
pub fn evaluate(
    workflow: &Workflow,
    guard: &model::Expr,
    order: &Order,
    event: Option<&EventInput>,
    now: Time,
    hooks: &dyn Hooks,
) -> Result<Value<'static>, String> {
    eval(guard, &Ctx { workflow, order, event, now, hooks, line: None }).map(Value::into_owned)
}

/// The expression as text, as it could be written in a workflow.
pub fn show(e: &model::Expr) -> String {
    match &e.kind {
        ExprKind::Const(model::Value::Text(t)) => format!("\"{t}\""),
        ExprKind::Const(model::Value::Number(n)) => n.to_string(),
        ExprKind::Const(model::Value::Bool(b)) => b.to_string(),
        ExprKind::Const(model::Value::Duration(d)) => super::data::format_duration(*d),
        ExprKind::Field(f) => f.path(),
        ExprKind::Not(x) => format!("not {}", show_tight(x)),
        ExprKind::Neg(x) => format!("-{}", show_tight(x)),
        ExprKind::And(a, b) => format!("{} and {}", show(a), show(b)),
        ExprKind::Or(a, b) => format!("{} or {}", show(a), show(b)),
        ExprKind::Cmp(op, a, b) => {
            let op = match op {
                CmpOp::Eq => "==",
                CmpOp::Ne => "!=",
                CmpOp::Lt => "<",
                CmpOp::Le => "<=",
                CmpOp::Gt => ">",
                CmpOp::Ge => ">=",
            };
            format!("{} {op} {}", show_tight(a), show_tight(b))
        }
        ExprKind::Arith(op, a, b) => {
            let op = match op {
                ArithOp::Add => "+",
                ArithOp::Sub => "-",
                ArithOp::Mul => "*",
                ArithOp::Div => "/",
            };
            format!("{} {op} {}", show_tight(a), show_tight(b))
        }
        ExprKind::In(v, list, negated) => {
            format!("{} {}in {}", show_tight(v), if *negated { "not " } else { "" }, show_list(list))
        }
        ExprKind::TextTest(test, v, patterns) => match patterns.as_slice() {
            [one] => format!("{} {} {}", show_tight(v), test.words(), show_tight(one)),
            many => format!("{} {} {}", show_tight(v), test.words(), show_list(many)),
        },
        ExprKind::Aggregate(kind, inner) => {
            let word = kind.words();
            match inner {
                Some(i) => format!("{word}({})", show(i)),
                None => word.to_string(),
            }
        }
        ExprKind::Hook(h) => format!("hook \"{h}\""),
    }
}

/// `[a, b, c]`, as written.
fn show_list(items: &[model::Expr]) -> String {
    format!("[{}]", items.iter().map(show).collect::<Vec<_>>().join(", "))
}

fn show_tight(e: &model::Expr) -> String {
    match &e.kind {
        ExprKind::And(..)
        | ExprKind::Or(..)
        | ExprKind::Cmp(..)
        | ExprKind::In(..)
        | ExprKind::TextTest(..)
        | ExprKind::Arith(..) => {
            format!("({})", show(e))
        }
        _ => show(e),
    }
}

/// Why a guard is false: the smallest failing part, with the values it saw.
pub fn explain(
    workflow: &Workflow,
    guard: &model::Expr,
    order: &Order,
    event: Option<&EventInput>,
    now: Time,
    hooks: &dyn Hooks,
) -> String {
    let ctx = Ctx { workflow, order, event, now, hooks, line: None };
    why_false(guard, &ctx)
}

pub(crate) fn why_false(e: &model::Expr, ctx: &Ctx<'_>) -> String {
    match &e.kind {
        ExprKind::And(a, b) => match eval(a, ctx) {
            Ok(v) if !truthy(&v) => why_false(a, ctx),
            Err(err) => err,
            _ => why_false(b, ctx),
        },
        ExprKind::Cmp(_, a, b) => {
            let va = eval(a, ctx).unwrap_or(Value::Null);
            let vb = eval(b, ctx).unwrap_or(Value::Null);
            let mut parts = Vec::new();
            if !matches!(a.kind, ExprKind::Const(_)) {
                parts.push(format!("{} is {va}", show(a)));
            }
            if !matches!(b.kind, ExprKind::Const(_)) {
                parts.push(format!("{} is {vb}", show(b)));
            }
            if parts.is_empty() {
                format!("`{}` is false", show(e))
            } else {
                format!("`{}` is false: {}", show(e), parts.join(", "))
            }
        }
        ExprKind::In(v, ..) | ExprKind::TextTest(_, v, _) => {
            let value = eval(v, ctx).unwrap_or(Value::Null);
            format!("`{}` is false: {} is {value}", show(e), show(v))
        }
        ExprKind::Hook(h) => match eval(e, ctx) {
            Err(err) => err,
            _ => format!("hook `{h}` answered no"),
        },
        ExprKind::Aggregate(Aggregate::All, Some(inner)) => {
            let failing = ctx.order.lines.iter().find(|l| {
                let lctx = Ctx { line: Some(l), ..*ctx };
                !truthy(&eval(inner, &lctx).unwrap_or(Value::Null))
            });
            match failing {
                Some(l) => {
                    let lctx = Ctx { line: Some(l), ..*ctx };
                    format!("`{}` is false: line {} ({}): {}", show(e), l.n, l.sku, why_false(inner, &lctx))
                }
                None => format!("`{}` is false", show(e)),
            }
        }
        _ => format!("`{}` is false", show(e)),
    }
}
