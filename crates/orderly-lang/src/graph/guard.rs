//! Guards in a few words, for edge labels: `auto: all shipped`, `⏱ after 14d when mode ≠ layaway`.
//!
//! Field paths lose their `order.` root and underscores (`order.all_shipped` → `all shipped`), other
//! roots are kept as a word (`payment method`, `flag hold`), comparisons use `=`, `≠`, `≤`, `≥`,
//! hooks drop `.rhai`. Parentheses only where precedence needs them. Long guards are cut at a
//! word and end with `…`; the node's or edge's `<title>` (shown on hover) carries the whole
//! label. The engine's `show_guard` prints guards as written; this is for pictures only.

use crate::model::{ArithOp, CmpOp, Expr, ExprKind, FieldRef, Value};
use crate::syntax::ast::TextTest;

/// The longest label part a guard may take, in characters (the ellipsis included).
pub(super) const MAX_GUARD: usize = 36;

/// `guard` in a few words, cut to [`MAX_GUARD`] characters.
pub(super) fn short(guard: &Expr) -> String {
    clip(&full(guard), MAX_GUARD)
}

/// `guard` in a few words, however long.
pub(super) fn full(guard: &Expr) -> String {
    words(guard, 0)
}

/// `text` cut to `max` characters, at a word when one ends late enough, with `…`.
pub(super) fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let keep: String = text.chars().take(max.saturating_sub(1)).collect();
    let cut = match keep.rfind(' ') {
        Some(space) if space >= keep.len() / 2 => keep.get(..space).unwrap_or(&keep),
        _ => &keep,
    };
    format!("{}…", cut.trim_end_matches([' ', '(', ',', '[']))
}

/// Binding strength: higher binds tighter (as the language's precedence).
fn strength(e: &Expr) -> u8 {
    match &e.kind {
        ExprKind::Or(..) => 1,
        ExprKind::And(..) => 2,
        ExprKind::Not(_) => 3,
        ExprKind::Cmp(..) | ExprKind::In(..) | ExprKind::TextTest(..) => 4,
        ExprKind::Arith(ArithOp::Add | ArithOp::Sub, ..) => 5,
        ExprKind::Arith(..) => 6,
        ExprKind::Neg(_) => 7,
        _ => 8,
    }
}

/// `e` in words, in parentheses when it binds looser than `min`.
fn words(e: &Expr, min: u8) -> String {
    let own = strength(e);
    let text = match &e.kind {
        ExprKind::Const(v) => value(v),
        ExprKind::Field(f) => field(f),
        ExprKind::Not(x) => format!("not {}", words(x, own)),
        ExprKind::Neg(x) => format!("-{}", words(x, own)),
        ExprKind::And(a, b) => format!("{} and {}", words(a, own), words(b, own + 1)),
        ExprKind::Or(a, b) => format!("{} or {}", words(a, own), words(b, own + 1)),
        ExprKind::Cmp(op, a, b) => {
            let op = match op {
                CmpOp::Eq => "=",
                CmpOp::Ne => "≠",
                CmpOp::Lt => "<",
                CmpOp::Le => "≤",
                CmpOp::Gt => ">",
                CmpOp::Ge => "≥",
            };
            format!("{} {op} {}", words(a, own + 1), words(b, own + 1))
        }
        ExprKind::Arith(op, a, b) => {
            let op = match op {
                ArithOp::Add => "+",
                ArithOp::Sub => "-",
                ArithOp::Mul => "×",
                ArithOp::Div => "/",
            };
            format!("{} {op} {}", words(a, own), words(b, own + 1))
        }
        ExprKind::In(v, list, negated) => {
            format!("{} {}in [{}]", words(v, own + 1), if *negated { "not " } else { "" }, items(list))
        }
        ExprKind::TextTest(test, v, patterns) => {
            let test = match test {
                TextTest::StartsWith => "starts with",
                TextTest::EndsWith => "ends with",
                TextTest::Contains => "contains",
            };
            match patterns.as_slice() {
                [one] => format!("{} {test} {}", words(v, own + 1), words(one, own + 1)),
                many => format!("{} {test} [{}]", words(v, own + 1), items(many)),
            }
        }
        ExprKind::Aggregate(kind, inner) => {
            let word = kind.words();
            match inner {
                Some(i) => format!("{word}({})", words(i, 0)),
                None => word.to_string(),
            }
        }
        ExprKind::Hook(h) => format!("hook {}", h.replace(".rhai", "")),
    };
    if own < min {
        format!("({text})")
    } else {
        text
    }
}

fn items(list: &[Expr]) -> String {
    list.iter().map(|e| words(e, 0)).collect::<Vec<_>>().join(", ")
}

fn value(v: &Value) -> String {
    match v {
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Duration(d) => crate::check::format_duration(*d),
        // Codes (`stock`, `layaway`) bare, other texts quoted.
        Value::Text(t) if !t.is_empty() && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
            t.clone()
        }
        Value::Text(t) => format!("\"{t}\""),
    }
}

fn field(f: &FieldRef) -> String {
    let spaced = |name: &str| name.replace('_', " ");
    match f {
        FieldRef::Order(x) => spaced(x.name()),
        FieldRef::Line(x) => spaced(x.name()),
        FieldRef::Event(n) => spaced(n),
        FieldRef::Attribute(n) => spaced(n),
        FieldRef::Flag(n) => format!("flag {}", spaced(n)),
        FieldRef::Payment(x) => format!("payment {}", spaced(x.name())),
        FieldRef::Customer(x) => format!("customer {}", spaced(x.name())),
        FieldRef::Shipping(x) => format!("shipping {}", spaced(x.name())),
        FieldRef::Billing(x) => format!("billing {}", spaced(x.name())),
    }
}
