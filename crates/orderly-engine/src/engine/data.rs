//! Event data: checked against the event's declared fields, and the built-in effects of
//! payment, shipment and receipt events on the order.

use super::eval::{typed, Value};
use super::{EventInput, HistoryEntry, Problem, Rejection, RejectionCode};
use crate::limits;
use crate::model::{EventDef, EventKind, PaymentOutcome, Type};
use crate::order::{Order, Payment, Shipment, Time};
use rust_decimal::Decimal;
use serde_json::json;

pub(crate) use crate::check::format_duration;

/// Fields of a shipment or receipt that carry per-line quantities.
const LINE_FIELDS: &[&str] = &["lines", "everything"];

/// Checks the event's data: every required field present, every field of its type, nothing
/// undeclared.
pub(crate) fn validate(def: &EventDef, input: &EventInput) -> Result<(), Rejection> {
    let mut problems = Vec::new();
    for f in &def.fields {
        match input.data.get(&f.name) {
            None | Some(serde_json::Value::Null) if !f.optional => {
                problems.push(Problem {
                    field: format!("data.{}", f.name),
                    problem: format!("is missing ({})", f.ty.describe()),
                });
            }
            None | Some(serde_json::Value::Null) => {}
            Some(v) => {
                if typed(Some(v), f.ty) == Value::Null {
                    problems.push(Problem {
                        field: format!("data.{}", f.name),
                        problem: format!(
                            "must be {}, not {}",
                            describe_expected(f.ty),
                            limits::shown(&v.to_string(), limits::MAX_SHOWN)
                        ),
                    });
                } else if let Some(problem) = v
                    .as_str()
                    .filter(|_| matches!(f.ty, Type::Text | Type::Code(_)))
                    .and_then(|t| limits::text_problem(t, limits::MAX_TEXT))
                {
                    problems.push(Problem { field: format!("data.{}", f.name), problem });
                } else if let (Type::Money, Value::Number(amount)) = (f.ty, typed(Some(v), f.ty)) {
                    if let Some(problem) = limits::money_problem(amount) {
                        problems.push(Problem { field: format!("data.{}", f.name), problem });
                    }
                } else if let (Type::Code(crate::model::Codes::Outcomes), Some(s)) = (f.ty, v.as_str()) {
                    if PaymentOutcome::from_code(s).is_none() {
                        problems.push(Problem {
                            field: format!("data.{}", f.name),
                            problem: "must be one of approved, declined, pending, invalid".into(),
                        });
                    }
                }
            }
        }
    }
    let takes_lines = matches!(def.kind, EventKind::Shipment | EventKind::Receipt);
    if takes_lines {
        problems.extend(line_list_problems(input));
    }
    for key in input.data.keys() {
        let declared = def.fields.iter().any(|f| &f.name == key);
        let structured = takes_lines && LINE_FIELDS.contains(&key.as_str());
        if !declared && !structured {
            let known: Vec<&str> = def.fields.iter().map(|f| f.name.as_str()).collect();
            let hint = crate::diagnostics::did_you_mean(key, known.iter().copied())
                .map(|k| format!("; did you mean `{k}`?"))
                .unwrap_or_default();
            problems.push(Problem {
                field: format!("data.{key}"),
                problem: format!("is not a field of event `{}`{hint}", def.name),
            });
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        let mut r = Rejection::new(
            RejectionCode::InvalidData,
            format!("the data of event `{}` is not valid", def.name),
        );
        r.problems = problems;
        Err(r)
    }
}

/// The shape of a shipment's or receipt's `lines` and `everything`, checked before anything
/// reads them (and before the request is kept with an idempotency key): `lines` a list of at
/// most `MAX_LINES` objects of `line`, `sku` (a code) and `qty`, nothing else; `everything`
/// true or false.
fn line_list_problems(input: &EventInput) -> Vec<Problem> {
    let mut problems = Vec::new();
    if let Some(e) = input.data.get("everything").filter(|e| !e.is_boolean() && !e.is_null()) {
        problems.push(Problem {
            field: "data.everything".into(),
            problem: format!(
                "must be true or false, not {}",
                limits::shown(&e.to_string(), limits::MAX_SHOWN)
            ),
        });
    }
    let Some(lines) = input.data.get("lines").filter(|l| !l.is_null()) else { return problems };
    let Some(items) = lines.as_array() else {
        problems.push(Problem {
            field: "data.lines".into(),
            problem: "must be a list of {line or sku, qty}".into(),
        });
        return problems;
    };
    if items.len() > limits::MAX_LINES {
        problems.push(Problem {
            field: "data.lines".into(),
            problem: format!("lists at most {} lines, not {}", limits::MAX_LINES, items.len()),
        });
        return problems;
    }
    for (i, item) in items.iter().enumerate() {
        let Some(fields) = item.as_object() else {
            problems.push(Problem {
                field: format!("data.lines[{i}]"),
                problem: "must be {line or sku, qty}".into(),
            });
            continue;
        };
        for (key, value) in fields {
            let problem = match key.as_str() {
                "line" | "qty" => None,
                "sku" => match value.as_str() {
                    Some(sku) => limits::text_problem(sku, limits::MAX_CODE),
                    None => Some("must be text".into()),
                },
                _ => Some("is not a field of a line: a line has `line` or `sku`, and `qty`".into()),
            };
            if let Some(problem) = problem {
                problems.push(Problem { field: format!("data.lines[{i}].{key}"), problem });
            }
        }
    }
    problems
}

fn describe_expected(ty: Type) -> &'static str {
    match ty {
        Type::Bool => "true or false",
        Type::Money => "an amount (a number or a decimal string such as \"19.99\")",
        Type::Number => "a number",
        Type::Text | Type::Code(_) => "text",
        Type::Duration => "a duration such as \"15m\"",
        Type::Time => "a time in RFC 3339 form such as \"2026-01-31T12:00:00Z\"",
    }
}

fn decimal(v: &serde_json::Value) -> Option<Decimal> {
    match typed(Some(v), Type::Number) {
        Value::Number(n) => Some(n),
        _ => None,
    }
}

/// Per-line quantities of a shipment or receipt: `lines: [{line | sku, qty}]`; without `lines`
/// (or with `everything: true`), everything still open.
fn quantities(
    order: &Order,
    input: &EventInput,
    open: impl Fn(&crate::order::Line) -> Decimal,
) -> Result<Vec<(usize, Decimal)>, Vec<Problem>> {
    let everything = input.data.get("everything").and_then(serde_json::Value::as_bool).unwrap_or(false);
    let Some(lines) = input.data.get("lines").filter(|_| !everything) else {
        return Ok(order
            .lines
            .iter()
            .enumerate()
            .map(|(i, l)| (i, open(l)))
            .filter(|(_, q)| *q > Decimal::ZERO)
            .collect());
    };
    let Some(items) = lines.as_array() else {
        return Err(vec![Problem {
            field: "data.lines".into(),
            problem: "must be a list of {line or sku, qty}".into(),
        }]);
    };
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = format!("data.lines[{i}]");
        let index = match (
            item.get("line").and_then(serde_json::Value::as_u64),
            item.get("sku").and_then(serde_json::Value::as_str),
        ) {
            (Some(n), _) => order.lines.iter().position(|l| u64::from(l.n) == n),
            (None, Some(sku)) => order.lines.iter().position(|l| l.sku == sku),
            (None, None) => {
                problems.push(Problem { field: at, problem: "needs `line` (its number) or `sku`".into() });
                continue;
            }
        };
        let Some(index) = index else {
            problems.push(Problem { field: at, problem: "names no line of this order".into() });
            continue;
        };
        match item.get("qty").and_then(decimal) {
            Some(q) => match limits::qty_problem(q, 1) {
                None => out.push((index, q.normalize())),
                Some(problem) => problems.push(Problem { field: format!("{at}.qty"), problem }),
            },
            None => problems.push(Problem {
                field: format!("{at}.qty"),
                problem: format!("must be a whole number of units from 1 to {}", limits::MAX_QTY),
            }),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

fn text_field(input: &EventInput, name: &str) -> String {
    input.data.get(name).and_then(serde_json::Value::as_str).unwrap_or_default().to_string()
}

/// Applies the built-in effect of a payment, shipment or receipt event to the order.
pub(crate) fn apply_kind(
    order: &mut Order,
    def: &EventDef,
    input: &EventInput,
    now: Time,
    history: &mut Vec<HistoryEntry>,
) -> Result<(), Rejection> {
    let entry = |kind: &str, detail: serde_json::Value| HistoryEntry {
        at: now,
        kind: kind.into(),
        event: Some(def.name.clone()),
        from_status: None,
        to_status: None,
        actor: input.actor.clone(),
        detail,
    };
    let invalid = |problems: Vec<Problem>| {
        let mut r = Rejection::new(
            RejectionCode::InvalidData,
            format!("the data of event `{}` is not valid", def.name),
        );
        r.problems = problems;
        r
    };
    match def.kind {
        EventKind::Plain => {}
        EventKind::Payment => {
            let outcome = input
                .data
                .get("outcome")
                .and_then(serde_json::Value::as_str)
                .and_then(PaymentOutcome::from_code)
                .unwrap_or(PaymentOutcome::Approved);
            let method = input
                .data
                .get("method")
                .and_then(serde_json::Value::as_str)
                .map(str::to_string)
                .or_else(|| order.payment.as_ref().map(|p| p.method.clone()))
                .unwrap_or_default();
            let amount = input.data.get("amount").and_then(decimal).unwrap_or_else(|| order.balance_due());
            if amount < Decimal::ZERO {
                return Err(invalid(vec![Problem {
                    field: "data.amount".into(),
                    problem: "cannot be negative".into(),
                }]));
            }
            if outcome == PaymentOutcome::Approved {
                order.amount_paid = limits::money_add(order.amount_paid, amount).ok_or_else(|| {
                    invalid(vec![Problem {
                        field: "data.amount".into(),
                        problem: format!(
                            "brings the amount paid past the largest amount, {} (paid so far: {})",
                            limits::max_money(),
                            order.amount_paid
                        ),
                    }])
                })?;
            }
            order.payment = Some(Payment {
                method: method.clone(),
                outcome,
                amount,
                reference: text_field(input, "reference"),
            });
            history.push(entry(
                "payment",
                json!({"method": method, "outcome": outcome.code(), "amount": amount.to_string()}),
            ));
        }
        EventKind::Shipment => {
            let listed =
                quantities(order, input, |l| l.qty.saturating_sub(l.shipped_qty)).map_err(invalid)?;
            // Entries naming the same line add up before the check (checked: each is at most
            // `MAX_QTY`, so a sum past it ships more than any line has).
            let mut qty: Vec<(usize, Decimal)> = Vec::with_capacity(listed.len());
            for (i, q) in listed {
                match qty.iter_mut().find(|(j, _)| *j == i) {
                    Some((_, sum)) => *sum = sum.saturating_add(q),
                    None => qty.push((i, q)),
                }
            }
            qty.sort_by_key(|(i, _)| *i);
            // `quantities` names lines by their index in `order.lines`.
            let mut over = Vec::new();
            for (l, q) in qty.iter().filter_map(|(i, q)| Some((order.lines.get(*i)?, q))) {
                if l.shipped_qty.checked_add(*q).is_none_or(|shipped| shipped > l.qty) {
                    over.push(Problem {
                        field: format!("line {} ({})", l.n, l.sku),
                        problem: format!("ships {q} but only {} of {} remain", l.qty - l.shipped_qty, l.qty),
                    });
                }
            }
            if !over.is_empty() {
                let mut r = Rejection::new(
                    RejectionCode::OverShipment,
                    "a shipment cannot ship more than was ordered",
                );
                r.problems = over;
                return Err(r);
            }
            if qty.is_empty() {
                return Err(invalid(vec![Problem {
                    field: "data.lines".into(),
                    problem: "nothing is left to ship".into(),
                }]));
            }
            for (i, q) in &qty {
                // At most the line's quantity, as checked above.
                if let Some(l) = order.lines.get_mut(*i) {
                    l.shipped_qty = l.shipped_qty.saturating_add(*q).min(l.qty);
                }
            }
            let amount = input.data.get("amount").and_then(decimal).unwrap_or_default();
            if amount < Decimal::ZERO {
                return Err(invalid(vec![Problem {
                    field: "data.amount".into(),
                    problem: "cannot be negative".into(),
                }]));
            }
            // Shipping, and the order's total with it, stay amounts.
            let shipping = limits::money_add(order.shipping_amount, amount)
                .filter(|s| limits::money_add(order.subtotal(), *s).is_some());
            order.shipping_amount = shipping.ok_or_else(|| {
                invalid(vec![Problem {
                    field: "data.amount".into(),
                    problem: format!(
                        "brings the order's total past the largest amount, {} (subtotal {}, shipping so far {})",
                        limits::max_money(),
                        order.subtotal(),
                        order.shipping_amount
                    ),
                }])
            })?;
            let shipment = Shipment {
                carrier: text_field(input, "carrier"),
                tracking_number: text_field(input, "tracking_number"),
                amount,
                lines: qty.iter().filter_map(|(i, q)| Some((order.lines.get(*i)?.n, *q))).collect(),
                at: now,
            };
            history.push(entry(
                "shipment",
                json!({
                    "carrier": shipment.carrier,
                    "tracking_number": shipment.tracking_number,
                    "amount": amount.to_string(),
                    "lines": shipment.lines.iter().map(|(n, q)| json!({"line": n, "qty": q.to_string()})).collect::<Vec<_>>(),
                }),
            ));
            order.shipments.push(shipment);
        }
        EventKind::Receipt => {
            let qty = quantities(order, input, |l| l.qty.saturating_sub(l.in_stock_qty).max(Decimal::ZERO))
                .map_err(invalid)?;
            // `quantities` names lines by their index in `order.lines`.
            for (i, q) in &qty {
                if let Some(l) = order.lines.get_mut(*i) {
                    l.in_stock_qty = l.in_stock_qty.saturating_add(*q).min(l.qty);
                }
            }
            let lines: Vec<_> = qty
                .iter()
                .filter_map(|(i, q)| Some(json!({"line": order.lines.get(*i)?.n, "qty": q.to_string()})))
                .collect();
            history.push(entry("receipt", json!({ "lines": lines })));
        }
    }
    Ok(())
}
