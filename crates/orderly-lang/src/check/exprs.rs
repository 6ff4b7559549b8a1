//! Guard expressions: names resolved against the schema and the declarations, types checked,
//! compiled into the typed tree the engine evaluates.

use super::decls::Decls;
use super::durations::DurationError;
use super::{parse_duration, Checker};
use crate::diagnostics::{suggestion, Code, Diagnostic, Span};
use crate::model::{self, ArithOp, CmpOp, Codes, EventDef, ExprKind, FieldRef, Type, Value};
use crate::schema;
use crate::syntax::ast::{self, Aggregate, BinOp, Name};
use rust_decimal::Decimal;
use std::str::FromStr;

/// What an expression may refer to where it stands.
#[derive(Clone, Copy)]
pub(super) struct Scope<'a> {
    /// The event whose data `event.*` reads; `None` where there is no event.
    pub(super) event: Option<&'a EventDef>,
    /// Where the expression stands, for "not available here" messages (`automatic transitions`).
    pub(super) place: &'static str,
    /// Inside an aggregate over lines: `line.*` is available.
    pub(super) in_lines: bool,
}

impl<'a> Scope<'a> {
    pub(super) fn new(event: Option<&'a EventDef>, place: &'static str) -> Self {
        Scope { event, place, in_lines: false }
    }
}

/// The diagnostic for a duration that does not parse.
pub(super) fn duration_error(text: &str, error: &DurationError, span: Span) -> Diagnostic {
    match error {
        DurationError::Unit(unit) => {
            let number: String = text.chars().take_while(char::is_ascii_digit).collect();
            let alias = match unit.as_str() {
                "sec" | "secs" | "second" | "seconds" => Some("s"),
                "min" | "mins" | "minute" | "minutes" => Some("m"),
                "hr" | "hrs" | "hour" | "hours" => Some("h"),
                "day" | "days" => Some("d"),
                "wk" | "week" | "weeks" => Some("w"),
                _ => None,
            };
            let help = match alias {
                Some(u) => format!("did you mean `{number}{u}`?"),
                None => "use s, m, h, d or w, e.g. `90s`, `15m`, `48h`, `7d`, `2w`".to_string(),
            };
            Diagnostic::error(Code::InvalidDuration, format!("invalid duration `{text}`"), span)
                .with_label(format!("`{unit}` is not a unit of time"))
                .with_help(help)
        }
        DurationError::Zero => {
            Diagnostic::error(Code::InvalidDuration, format!("invalid duration `{text}`"), span)
                .with_label("a duration must be longer than zero")
                .with_help("e.g. `15m`")
        }
        DurationError::TooLong => {
            Diagnostic::error(Code::InvalidDuration, format!("invalid duration `{text}`"), span)
                .with_label("longer than 100 years")
                .with_help("e.g. `30d`")
        }
        DurationError::Order => {
            Diagnostic::error(Code::InvalidDuration, format!("invalid duration `{text}`"), span)
                .with_label("the units go from the largest to the smallest, each once")
                .with_help("e.g. `1d12h`")
        }
    }
}

/// `a status`, `an order mode`.
fn with_article(noun: &str) -> String {
    let article = if noun.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
    format!("{article} {noun}")
}

fn code_set_name(codes: Codes) -> &'static str {
    match codes {
        Codes::Fulfillment => "line fulfillment method",
        Codes::Outcomes => "payment outcome",
        Codes::Methods => "payment method",
        Codes::Channels => "channel",
        Codes::Modes => "order mode",
        Codes::Statuses => "status",
        Codes::Phases => "phase",
    }
}

/// Checks that a literal compared with a coded field is one of its codes.
fn check_code(ch: &mut Checker<'_>, d: &Decls, codes: Codes, literal: &str, span: Span) {
    let values = d.codes(codes);
    if values.contains(&literal) {
        return;
    }
    let what = code_set_name(codes);
    let help = suggestion(literal, values.iter().copied()).unwrap_or_else(|| {
        if values.is_empty() {
            format!("this workflow names no {what}")
        } else {
            format!(
                "the {what}s are {}",
                values.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", ")
            )
        }
    });
    // Payment methods are open: a merchant may take one the shipped list lacks.
    let diag = if codes == Codes::Methods {
        Diagnostic::warning(
            Code::UnknownCode,
            format!("`{literal}` is not a payment method any channel here accepts"),
            span,
        )
    } else {
        Diagnostic::error(Code::UnknownCode, format!("`{literal}` is not {}", with_article(what)), span)
    };
    ch.report(diag.with_label(format!("expected {}", with_article(what))).with_help(help));
}

/// The literal text of an expression, when it is a code or a text literal.
fn literal_text(e: &ast::Expr) -> Option<&str> {
    match &e.kind {
        ast::ExprKind::Code(c) | ast::ExprKind::Text(c) => Some(c),
        _ => None,
    }
}

fn comparable(a: Type, b: Type) -> bool {
    a == b || (a.is_numeric() && b.is_numeric()) || (a.is_textual() && b.is_textual())
}

fn ordered(t: Type) -> bool {
    t.is_numeric() || matches!(t, Type::Duration | Type::Time)
}

fn mismatch_help(a: Type, b: Type) -> String {
    match (a, b) {
        (x, y) if x.is_numeric() && y.is_textual() || y.is_numeric() && x.is_textual() => {
            "write amounts and numbers without quotes, e.g. `order.total >= 100.00`".into()
        }
        (Type::Duration, _) | (_, Type::Duration) => {
            "durations compare with durations, e.g. `order.time_in_status > 30m`".into()
        }
        (Type::Bool, _) | (_, Type::Bool) => {
            "yes/no fields are conditions on their own: write `flags.x` or `not flags.x`".into()
        }
        _ => "compare values of the same kind".into(),
    }
}

/// Compiles one expression; `None` after reporting an error in it.
pub(super) fn expr(ch: &mut Checker<'_>, d: &Decls, e: &ast::Expr, scope: Scope<'_>) -> Option<model::Expr> {
    let mk = |kind, ty| Some(model::Expr { kind, ty, span: e.span });
    match &e.kind {
        ast::ExprKind::Bool(b) => mk(ExprKind::Const(Value::Bool(*b)), Type::Bool),
        ast::ExprKind::Number(text) => match Decimal::from_str(text) {
            Ok(n) => mk(ExprKind::Const(Value::Number(n)), Type::Number),
            Err(_) => {
                ch.report(
                    Diagnostic::error(Code::InvalidNumber, format!("`{text}` is too large a number"), e.span)
                        .with_label("out of range")
                        .with_help("numbers hold up to 28 significant digits"),
                );
                None
            }
        },
        ast::ExprKind::Text(t) | ast::ExprKind::Code(t) => {
            mk(ExprKind::Const(Value::Text(t.clone())), Type::Text)
        }
        ast::ExprKind::Duration(text) => match parse_duration(text) {
            Ok(dur) => mk(ExprKind::Const(Value::Duration(dur)), Type::Duration),
            Err(err) => {
                ch.report(duration_error(text, &err, e.span));
                None
            }
        },
        ast::ExprKind::Path(written) => {
            let (field, ty) = path(ch, d, written, scope)?;
            mk(ExprKind::Field(field), ty)
        }
        ast::ExprKind::Not(inner) => {
            let inner = expect_bool(ch, d, inner, scope, "`not`")?;
            mk(ExprKind::Not(Box::new(inner)), Type::Bool)
        }
        ast::ExprKind::Neg(inner) => {
            let i = expr(ch, d, inner, scope)?;
            if !i.ty.is_numeric() {
                ch.report(
                    Diagnostic::error(
                        Code::TypeMismatch,
                        format!("cannot negate {}", i.ty.describe()),
                        inner.span,
                    )
                    .with_label(format!("this is {}", i.ty.describe()))
                    .with_help("only numbers and amounts can be negative"),
                );
                return None;
            }
            let ty = i.ty;
            mk(ExprKind::Neg(Box::new(i)), ty)
        }
        ast::ExprKind::Binary(op @ (BinOp::And | BinOp::Or), l, r) => {
            let what = if *op == BinOp::And { "`and`" } else { "`or`" };
            let l = expect_bool(ch, d, l, scope, what);
            let r = expect_bool(ch, d, r, scope, what);
            let (l, r) = (Box::new(l?), Box::new(r?));
            mk(if *op == BinOp::And { ExprKind::And(l, r) } else { ExprKind::Or(l, r) }, Type::Bool)
        }
        ast::ExprKind::Binary(op @ (BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div), l, r) => {
            let (lc, rc) = (expr(ch, d, l, scope), expr(ch, d, r, scope));
            let (lc, rc) = (lc?, rc?);
            for side in [&lc, &rc] {
                if !side.ty.is_numeric() {
                    ch.report(
                        Diagnostic::error(
                            Code::TypeMismatch,
                            format!("cannot use `{}` on {}", op.symbol(), side.ty.describe()),
                            side.span,
                        )
                        .with_label(format!("this is {}", side.ty.describe()))
                        .with_help("arithmetic works on numbers and amounts of money"),
                    );
                    return None;
                }
            }
            let ty = if lc.ty == Type::Money || rc.ty == Type::Money { Type::Money } else { Type::Number };
            let op = match op {
                BinOp::Add => ArithOp::Add,
                BinOp::Sub => ArithOp::Sub,
                BinOp::Mul => ArithOp::Mul,
                _ => ArithOp::Div,
            };
            mk(ExprKind::Arith(op, Box::new(lc), Box::new(rc)), ty)
        }
        ast::ExprKind::Binary(op, l, r) => {
            let (lc, rc) = (expr(ch, d, l, scope), expr(ch, d, r, scope));
            let (lc, rc) = (lc?, rc?);
            let cmp = match op {
                BinOp::Eq => CmpOp::Eq,
                BinOp::Ne => CmpOp::Ne,
                BinOp::Lt => CmpOp::Lt,
                BinOp::Le => CmpOp::Le,
                BinOp::Gt => CmpOp::Gt,
                _ => CmpOp::Ge,
            };
            if !comparable(lc.ty, rc.ty) {
                ch.report(
                    Diagnostic::error(
                        Code::TypeMismatch,
                        format!("cannot compare {} with {}", lc.ty.describe(), rc.ty.describe()),
                        r.span,
                    )
                    .with_label(format!("this is {}", rc.ty.describe()))
                    .with_note(l.span, format!("this is {}", lc.ty.describe()))
                    .with_help(mismatch_help(lc.ty, rc.ty)),
                );
                return None;
            }
            if !matches!(cmp, CmpOp::Eq | CmpOp::Ne) && !ordered(lc.ty) {
                ch.report(
                    Diagnostic::error(
                        Code::TypeMismatch,
                        format!("`{}` does not apply to {}", op.symbol(), lc.ty.describe()),
                        e.span,
                    )
                    .with_label("cannot be ordered")
                    .with_help("use `==` or `!=`, or `in [..]` for several values"),
                );
                return None;
            }
            code_checks(ch, d, &lc, r);
            code_checks(ch, d, &rc, l);
            mk(ExprKind::Cmp(cmp, Box::new(lc), Box::new(rc)), Type::Bool)
        }
        ast::ExprKind::In { value, list, negated } => {
            let v = expr(ch, d, value, scope)?;
            let mut items = Vec::new();
            let mut ok = true;
            for item in list {
                match expr(ch, d, item, scope) {
                    Some(c) if comparable(v.ty, c.ty) => {
                        code_checks(ch, d, &v, item);
                        items.push(c);
                    }
                    Some(c) => {
                        ch.report(
                            Diagnostic::error(
                                Code::TypeMismatch,
                                format!("cannot compare {} with {}", v.ty.describe(), c.ty.describe()),
                                item.span,
                            )
                            .with_label(format!("this is {}", c.ty.describe()))
                            .with_note(value.span, format!("this is {}", v.ty.describe()))
                            .with_help(mismatch_help(v.ty, c.ty)),
                        );
                        ok = false;
                    }
                    None => ok = false,
                }
            }
            if !ok {
                return None;
            }
            mk(ExprKind::In(Box::new(v), items, *negated), Type::Bool)
        }
        ast::ExprKind::TextTest { value, test, patterns } => {
            let v = expr(ch, d, value, scope)?;
            let mut ok = true;
            if !v.ty.is_textual() {
                ch.report(
                    Diagnostic::error(
                        Code::TypeMismatch,
                        format!("`{}` tests text, not {}", test.words(), v.ty.describe()),
                        value.span,
                    )
                    .with_label(format!("this is {}", v.ty.describe()))
                    .with_help("compare amounts and numbers with `==`, `<`, `>`; text tests are for texts such as `line.sku`"),
                );
                ok = false;
            }
            let mut items = Vec::new();
            for item in patterns {
                match expr(ch, d, item, scope) {
                    Some(c) if c.ty.is_textual() => items.push(c),
                    Some(c) => {
                        ch.report(
                            Diagnostic::error(
                                Code::TypeMismatch,
                                format!("`{}` takes text, not {}", test.words(), c.ty.describe()),
                                item.span,
                            )
                            .with_label(format!("this is {}", c.ty.describe()))
                            .with_help("write the text in quotes, e.g. `line.sku starts with \"BIKE-\"`"),
                        );
                        ok = false;
                    }
                    None => ok = false,
                }
            }
            if !ok {
                return None;
            }
            mk(ExprKind::TextTest(*test, Box::new(v), items), Type::Bool)
        }
        ast::ExprKind::Aggregate(kind, inner) => aggregate(ch, d, e, *kind, inner.as_deref(), scope),
        ast::ExprKind::Hook(h) => {
            ch.hook_ref(h);
            mk(ExprKind::Hook(h.text.clone()), Type::Bool)
        }
    }
}

/// When `field` is coded and `other` is a literal, checks the literal is one of the codes.
fn code_checks(ch: &mut Checker<'_>, d: &Decls, field: &model::Expr, other: &ast::Expr) {
    if let (Type::Code(codes), Some(text)) = (field.ty, literal_text(other)) {
        check_code(ch, d, codes, text, other.span);
    }
}

fn expect_bool(
    ch: &mut Checker<'_>,
    d: &Decls,
    e: &ast::Expr,
    scope: Scope<'_>,
    what: &str,
) -> Option<model::Expr> {
    let c = expr(ch, d, e, scope)?;
    if c.ty != Type::Bool {
        // A bare name that is a flag or a yes/no attribute: the path is what was meant.
        let meant = match &e.kind {
            ast::ExprKind::Code(name) if d.flags.iter().any(|f| f.name == *name) => {
                Some(format!("flags.{name}"))
            }
            ast::ExprKind::Code(name)
                if d.attributes.iter().any(|a| a.name == *name && a.ty == Type::Bool) =>
            {
                Some(format!("attributes.{name}"))
            }
            _ => None,
        };
        let help = match &meant {
            Some(path) => format!("did you mean `{path}`? flags and attributes are read through their path"),
            None => "compare it with something, e.g. `order.total > 0`".to_string(),
        };
        ch.report(
            Diagnostic::error(
                Code::TypeMismatch,
                format!("{what} needs a condition, not {}", c.ty.describe()),
                e.span,
            )
            .with_label(format!("this is {}", c.ty.describe()))
            .with_help(help),
        );
        return None;
    }
    Some(c)
}

/// Compiles a guard: an expression that must be a condition.
pub(super) fn guard(ch: &mut Checker<'_>, d: &Decls, e: &ast::Expr, scope: Scope<'_>) -> Option<model::Expr> {
    expect_bool(ch, d, e, scope, "a guard")
}

fn aggregate(
    ch: &mut Checker<'_>,
    d: &Decls,
    e: &ast::Expr,
    kind: Aggregate,
    inner: Option<&ast::Expr>,
    scope: Scope<'_>,
) -> Option<model::Expr> {
    let word = kind.words();
    if scope.in_lines {
        ch.report(
            Diagnostic::error(
                Code::NestedAggregate,
                format!("`{word}` inside another aggregate over lines"),
                e.span,
            )
            .with_label("lines are already being gone through here")
            .with_help("write the condition on `line.*` directly"),
        );
        return None;
    }
    let inner_scope = Scope { in_lines: true, ..scope };
    let compiled = match (kind, inner) {
        (Aggregate::All | Aggregate::Any, None) | (Aggregate::Sum, None) => {
            let example =
                if kind == Aggregate::Sum { "sum lines(line.qty)" } else { "all lines(line.is_shipped)" };
            ch.report(
                Diagnostic::error(
                    Code::MissingCondition,
                    format!(
                        "`{word}` needs {}",
                        if kind == Aggregate::Sum { "a value" } else { "a condition" }
                    ),
                    e.span,
                )
                .with_label("nothing in parentheses")
                .with_help(format!("e.g. `{example}`")),
            );
            return None;
        }
        (Aggregate::Count, None) => None,
        (Aggregate::Sum, Some(i)) => {
            let c = expr(ch, d, i, inner_scope)?;
            if !c.ty.is_numeric() {
                ch.report(
                    Diagnostic::error(
                        Code::TypeMismatch,
                        format!("cannot add up {}", c.ty.describe()),
                        i.span,
                    )
                    .with_label(format!("this is {}", c.ty.describe()))
                    .with_help("e.g. `sum lines(line.qty * line.unit_price)`"),
                );
                return None;
            }
            Some(c)
        }
        (_, Some(i)) => {
            let what = match kind {
                Aggregate::All => "`all lines`",
                Aggregate::Any => "`any line`",
                Aggregate::Count => "`count lines`",
                Aggregate::Sum => "`sum lines`",
            };
            Some(expect_bool(ch, d, i, inner_scope, what)?)
        }
    };
    let ty = match kind {
        Aggregate::All | Aggregate::Any => Type::Bool,
        Aggregate::Count => Type::Number,
        Aggregate::Sum => compiled.as_ref().map_or(Type::Number, |c| c.ty),
    };
    Some(model::Expr { kind: ExprKind::Aggregate(kind, compiled.map(Box::new)), ty, span: e.span })
}

/// Resolves a field path to a field and its type.
pub(super) fn path(
    ch: &mut Checker<'_>,
    d: &Decls,
    written: &Name,
    scope: Scope<'_>,
) -> Option<(FieldRef, Type)> {
    let (full, span) = (written.text.as_str(), written.span);
    // Split by hand: paths are short, and there are many.
    let dot = full.bytes().position(|b| b == b'.').unwrap_or(full.len());
    let (root, rest) = (full.get(..dot)?, full.get(dot + 1..).unwrap_or_default());
    let root_span = Span::new(span.start, span.start + root.len());
    if !schema::ROOTS.contains(&root) {
        let help = suggestion(root, schema::ROOTS.iter().copied())
            .map(|_| {
                let root = crate::diagnostics::did_you_mean(root, schema::ROOTS.iter().copied());
                format!("did you mean `{}.{rest}`?", root.unwrap_or("order"))
            })
            .unwrap_or_else(|| format!("fields start with {}", schema::ROOTS.join(", ")));
        ch.report(
            Diagnostic::error(Code::UnknownField, format!("unknown field `{full}`"), root_span)
                .with_label(format!("`{root}` is not something an order has"))
                .with_help(help),
        );
        return None;
    }
    let dot = rest.bytes().position(|b| b == b'.');
    let name = rest.get(..dot.unwrap_or(rest.len()))?;
    // The field's own name and place, for messages only.
    let field = || Name {
        text: name.to_string(),
        span: Span::new(root_span.end + 1, root_span.end + 1 + name.len()),
    };
    if dot.is_some() {
        ch.report(
            Diagnostic::error(Code::UnknownField, format!("unknown field `{full}`"), span)
                .with_label("fields have two parts")
                .with_help(format!("write `{root}.{name}`")),
        );
        return None;
    }
    match root {
        "attributes" => match d.attribute(name) {
            Some(ty) => Some((FieldRef::Attribute(name.into()), ty)),
            None => {
                ch.unknown(
                    Code::UnknownAttribute,
                    "attribute",
                    &field(),
                    d.attributes.iter().map(|a| a.name.as_str()),
                    || format!("declare it: `attribute {name}: text`"),
                );
                None
            }
        },
        "flags" => {
            if d.flags.iter().any(|f| f.name == name) {
                Some((FieldRef::Flag(name.into()), Type::Bool))
            } else {
                ch.unknown(Code::UnknownFlag, "flag", &field(), d.flag_names(), || {
                    format!("declare it: `flag {name} \"what it means\"`")
                });
                None
            }
        }
        "event" => {
            let Some(event) = scope.event else {
                ch.report(
                    Diagnostic::error(
                        Code::NoEvent,
                        format!("`{full}` is not available in {}", scope.place),
                        span,
                    )
                    .with_label("there is no event here")
                    .with_help("event data is available in `on EVENT ...` transitions"),
                );
                return None;
            };
            if let Some(ty) = schema::lookup(schema::EVENT_BUILTIN, name) {
                return Some((FieldRef::Event(name.into()), ty));
            }
            match event.fields.iter().find(|f| f.name == name) {
                Some(f) => Some((FieldRef::Event(name.into()), f.ty)),
                None => {
                    let candidates = event
                        .fields
                        .iter()
                        .map(|f| f.name.as_str())
                        .chain(schema::EVENT_BUILTIN.iter().map(|(n, _)| *n));
                    let ev = event.name.clone();
                    ch.unknown_field("event", &field(), &format!("event `{ev}`"), candidates, || {
                        format!("declare it: `event {ev} {{ {name}: text }}`")
                    });
                    None
                }
            }
        }
        "line" if !scope.in_lines => {
            ch.report(
                Diagnostic::error(Code::LineOutsideAggregate, format!("`{full}` is only available over lines"), span)
                    .with_label("which line?")
                    .with_help(format!("go through the lines: `all lines({full} ...)`, `any line(...)`, `count lines(...)` or `sum lines(...)`")),
            );
            None
        }
        root_name => {
            schema::table_of(root_name)?;
            match schema::guard_field(root_name, name) {
                Some(found) => Some(found),
                None => {
                    let fields = schema::guard_fields(root_name);
                    ch.unknown_field(
                        root_name,
                        &field(),
                        &format!("`{root_name}`"),
                        fields.iter().copied(),
                        || format!("the fields of `{root_name}` are {}", fields.join(", ")),
                    );
                    None
                }
            }
        }
    }
}
