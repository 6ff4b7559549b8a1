//! What a step expects, compared with what it did: one checker per key of [`Expect`], each
//! listed once in [`CHECKS`], in the order their differences are reported. A new expectation is
//! a field of `Expect`, its checker here and its row in the table.

use super::format::{self, ActionExpect, Expect, OutboxExpect, PaymentExpect, ShipmentExpect};
use super::run::Observed;
use crate::engine::{MessageKind, OutboxMessage};
use crate::model::Type;
use crate::order::{FulfillmentAction, Line, Order, Shipment};
use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// Differences go here, each as `key: expected ..., got ...`.
type Differences = Vec<String>;

/// A checker: one kind of expectation against what the step did.
#[derive(Clone, Copy)]
enum Checker {
    /// Reads the refusal; runs whether or not there is an order.
    Refusal(fn(&Expect, &Observed<'_>, &mut Differences)),
    /// Reads the order; runs only when there is one.
    Order(fn(&Expect, &Observed<'_>, &Order, &mut Differences)),
}

/// Every expectation key and its checker. The refusal's keys come first: they decide how to
/// read the rest.
const CHECKS: &[(&str, Checker)] = &[
    ("rejected", Checker::Refusal(rejected)),
    ("message", Checker::Refusal(message)),
    ("problems", Checker::Refusal(problems)),
    ("allowed_events", Checker::Refusal(allowed_events)),
    ("status", Checker::Order(status)),
    ("customer_sees", Checker::Order(customer_sees)),
    ("steps", Checker::Order(steps)),
    ("flags", Checker::Order(flags)),
    ("has_flags", Checker::Order(has_flags)),
    ("lacks_flags", Checker::Order(lacks_flags)),
    ("queue", Checker::Order(queue)),
    ("assignee", Checker::Order(assignee)),
    ("attributes", Checker::Order(attributes)),
    ("fulfillment_actions", Checker::Order(fulfillment_actions)),
    ("visible_actions", Checker::Order(visible_actions)),
    ("outbox", Checker::Order(outbox)),
    ("webhooks", Checker::Order(webhooks)),
    ("emails", Checker::Order(emails)),
    ("timers", Checker::Order(timers)),
    ("fired", Checker::Order(fired)),
    ("notes", Checker::Order(notes)),
    ("invoiced", Checker::Order(invoiced)),
    ("picked", Checker::Order(picked)),
    ("shipped", Checker::Order(shipped)),
    ("invoiced_units", Checker::Order(invoiced_units)),
    ("in_stock", Checker::Order(in_stock)),
    ("shipments", Checker::Order(shipments)),
    ("amount_paid", Checker::Order(amount_paid)),
    ("balance_due", Checker::Order(balance_due)),
    ("total", Checker::Order(total)),
    ("shipping_amount", Checker::Order(shipping_amount)),
    ("payment", Checker::Order(payment)),
    ("customer_is_new", Checker::Order(customer_is_new)),
    ("customer_is_guest", Checker::Order(customer_is_guest)),
    ("locked_by", Checker::Order(locked_by)),
    ("replayed", Checker::Order(replayed)),
];

/// Each expectation that does not hold, as `key: expected ..., got ...`.
pub(super) fn differences(e: &Expect, obs: &Observed<'_>) -> Differences {
    let mut d = Vec::new();
    for (_, checker) in CHECKS {
        if let Checker::Refusal(check) = checker {
            check(e, obs, &mut d);
        }
    }
    let Some(o) = obs.order else {
        if !e.only_rejection_keys() {
            d.push("the order was not created, so nothing else can be compared".into());
        }
        return d;
    };
    for (_, checker) in CHECKS {
        if let Checker::Order(check) = checker {
            check(e, obs, o, &mut d);
        }
    }
    d
}

// ---------------------------------------------------------------- the refusal

fn rejected(e: &Expect, obs: &Observed<'_>, d: &mut Differences) {
    match (&e.rejected, &obs.refusal) {
        (Some(code), Some(r)) if *code != r.code => {
            d.push(format!("rejected: expected `{code}`, got `{}`", r.code));
        }
        (Some(code), None) => {
            let what = match obs.order {
                Some(o) if !obs.steps.is_empty() => format!(" (status went to `{}`)", o.status),
                Some(o) => format!(" (status `{}`)", o.status),
                None => String::new(),
            };
            d.push(format!("rejected: expected `{code}`, but the step went through{what}"));
        }
        (None, Some(r)) => d.push(format!("the step was refused ({}), but no refusal was expected", r.code)),
        _ => {}
    }
    if e.rejected.is_some() && obs.refusal.is_some() && !obs.changed.is_empty() {
        d.push(format!("the step was refused, yet the order changed: {}", obs.changed.join(", ")));
    }
}

fn message(e: &Expect, obs: &Observed<'_>, d: &mut Differences) {
    let Some(m) = &e.message else { return };
    match &obs.refusal {
        Some(r) if r.text.contains(m.as_str()) => {}
        Some(r) => d.push(format!("message: expected it to contain \"{m}\", got \"{}\"", r.text)),
        None => d.push(format!("message: expected a refusal containing \"{m}\", but nothing was refused")),
    }
}

fn problems(e: &Expect, obs: &Observed<'_>, d: &mut Differences) {
    let Some(p) = &e.problems else { return };
    match &obs.refusal {
        Some(r) if sorted(p) == sorted(&r.problems) => {}
        Some(r) => {
            d.push(format!("problems: expected {}, got {}", list(&sorted(p)), list(&sorted(&r.problems))))
        }
        None => d.push(format!("problems: expected {}, but nothing was refused", list(p))),
    }
}

fn allowed_events(e: &Expect, obs: &Observed<'_>, d: &mut Differences) {
    let Some(a) = &e.allowed_events else { return };
    match &obs.refusal {
        Some(r) if sorted(a) == sorted(&r.allowed_events) => {}
        Some(r) => d.push(format!(
            "allowed_events: expected {}, got {}",
            list(&sorted(a)),
            list(&sorted(&r.allowed_events))
        )),
        None => d.push(format!("allowed_events: expected {}, but nothing was refused", list(a))),
    }
}

// ---------------------------------------------------------------- status and steps

fn status(e: &Expect, _: &Observed<'_>, o: &Order, d: &mut Differences) {
    if let Some(s) = e.status.as_ref().filter(|s| **s != o.status) {
        d.push(format!("status: expected `{s}`, got `{}`", o.status));
    }
}

fn customer_sees(e: &Expect, obs: &Observed<'_>, o: &Order, d: &mut Differences) {
    let Some(s) = &e.customer_sees else { return };
    let actual = obs
        .workflow
        .and_then(|w| w.statuses.iter().find(|x| x.code == o.status))
        .map(|x| x.customer_label.clone())
        .unwrap_or_default();
    if *s != actual {
        d.push(format!("customer_sees: expected \"{s}\", got \"{actual}\""));
    }
}

fn steps(e: &Expect, obs: &Observed<'_>, _: &Order, d: &mut Differences) {
    if let Some(steps) = e.steps.as_ref().filter(|s| **s != obs.steps) {
        d.push(format!("steps: expected {}, got {}", list(steps), list(&obs.steps)));
    }
}

// ---------------------------------------------------------------- flags, queue, attributes

/// The order's flags, in order.
fn flag_list(o: &Order) -> Vec<String> {
    o.flags.iter().cloned().collect()
}

fn flags(e: &Expect, _: &Observed<'_>, o: &Order, d: &mut Differences) {
    let Some(f) = &e.flags else { return };
    let got = flag_list(o);
    if sorted(f) != got {
        d.push(format!("flags: expected {}, got {}", list(&sorted(f)), list(&got)));
    }
}

fn has_flags(e: &Expect, _: &Observed<'_>, o: &Order, d: &mut Differences) {
    for f in e.has_flags.iter().flatten().filter(|f| !o.flags.contains(*f)) {
        d.push(format!("has_flags: expected flag `{f}`, got flags {}", list(&flag_list(o))));
    }
}

fn lacks_flags(e: &Expect, _: &Observed<'_>, o: &Order, d: &mut Differences) {
    for f in e.lacks_flags.iter().flatten().filter(|f| o.flags.contains(*f)) {
        d.push(format!("lacks_flags: expected no flag `{f}`, got flags {}", list(&flag_list(o))));
    }
}

fn queue(e: &Expect, _: &Observed<'_>, o: &Order, d: &mut Differences) {
    let Some(q) = &e.queue else { return };
    let actual = o.queue.clone().unwrap_or_default();
    if *q != actual {
        d.push(format!("queue: expected {}, got {}", none_if_empty(q), none_if_empty(&actual)));
    }
}

fn assignee(e: &Expect, _: &Observed<'_>, o: &Order, d: &mut Differences) {
    let Some(a) = &e.assignee else { return };
    let actual = o.assignee.clone().unwrap_or_default();
    if *a != actual {
        d.push(format!("assignee: expected {}, got {}", none_if_empty(a), none_if_empty(&actual)));
    }
}

fn attributes(e: &Expect, obs: &Observed<'_>, o: &Order, d: &mut Differences) {
    for (name, want) in e.attributes.iter().flatten() {
        let ty = obs
            .workflow
            .and_then(|w| w.attributes.iter().find(|a| &a.name == name))
            .map_or(Type::Text, |a| a.ty);
        let got = o.attributes.get(name);
        if !same_value(want, got, ty) {
            d.push(format!(
                "attributes.{name}: expected {}, got {}",
                show_json(&format::to_json(want)),
                got.map_or_else(|| "nothing (not set)".to_string(), show_json)
            ));
        }
    }
}

// ---------------------------------------------------------------- fulfillment actions

fn fulfillment_actions(e: &Expect, _: &Observed<'_>, o: &Order, d: &mut Differences) {
    let Some(want) = &e.fulfillment_actions else { return };
    let same = want.len() == o.fulfillment_actions.len()
        && want.iter().zip(&o.fulfillment_actions).all(|(w, a)| {
            w.name == a.name
                && w.complete.is_none_or(|c| c == a.complete)
                && w.visible.is_none_or(|v| v == a.visible)
                && w.notify.as_ref().is_none_or(|n| *n == a.notify)
                && w.note.as_ref().is_none_or(|n| *n == a.note)
                && w.contact.as_ref().is_none_or(|c| *c == a.contact)
        });
    if !same {
        let want: Vec<String> = want.iter().map(|w| show_action_expect(w)).collect();
        let got: Vec<String> = o.fulfillment_actions.iter().map(show_action).collect();
        d.push(format!("fulfillment_actions: expected {}, got {}", list(&want), list(&got)));
    }
}

fn visible_actions(e: &Expect, _: &Observed<'_>, o: &Order, d: &mut Differences) {
    let Some(want) = &e.visible_actions else { return };
    let got: Vec<String> =
        o.fulfillment_actions.iter().filter(|a| a.visible).map(|a| a.name.clone()).collect();
    if *want != got {
        d.push(format!("visible_actions: expected {}, got {}", list(want), list(&got)));
    }
}

// ---------------------------------------------------------------- messages, timers, notes

fn outbox(e: &Expect, obs: &Observed<'_>, _: &Order, d: &mut Differences) {
    let Some(want) = &e.outbox else { return };
    let same = want.len() == obs.outbox.len()
        && want.iter().zip(&obs.outbox).all(|(w, m)| match w {
            OutboxExpect::Webhook(t) => m.kind == MessageKind::Webhook && m.target == *t,
            OutboxExpect::Email { template, to } => {
                m.kind == MessageKind::Email
                    && m.template.as_deref() == Some(template.as_str())
                    && to.as_ref().is_none_or(|to| *to == m.target)
            }
        });
    if !same {
        let want: Vec<String> = want.iter().map(ToString::to_string).collect();
        let got: Vec<String> = obs.outbox.iter().map(show_message).collect();
        d.push(format!("outbox: expected {}, got {}", list(&want), list(&got)));
    }
}

fn webhooks(e: &Expect, obs: &Observed<'_>, _: &Order, d: &mut Differences) {
    if let Some(want) = &e.webhooks {
        super::leaves::check_webhooks(want, &obs.leaving, d);
    }
}

fn emails(e: &Expect, obs: &Observed<'_>, _: &Order, d: &mut Differences) {
    if let Some(want) = &e.emails {
        super::leaves::check_emails(want, &obs.leaving, d);
    }
}

fn timers(e: &Expect, obs: &Observed<'_>, _: &Order, d: &mut Differences) {
    let Some(t) = &e.timers else { return };
    if sorted(t) != sorted(&obs.timers) {
        d.push(format!("timers: expected {}, got {}", list(&sorted(t)), list(&sorted(&obs.timers))));
    }
}

fn fired(e: &Expect, obs: &Observed<'_>, _: &Order, d: &mut Differences) {
    if let Some(f) = e.fired.as_ref().filter(|f| **f != obs.fired) {
        d.push(format!("fired: expected {}, got {}", list(f), list(&obs.fired)));
    }
}

fn notes(e: &Expect, obs: &Observed<'_>, _: &Order, d: &mut Differences) {
    let Some(n) = &e.notes else { return };
    let same = n.len() == obs.notes.len() && n.iter().zip(&obs.notes).all(|(w, g)| g.contains(w.as_str()));
    if !same {
        d.push(format!("notes: expected {}, got {}", list(n), list(&obs.notes)));
    }
}

// ---------------------------------------------------------------- quantities and shipments

fn invoiced(e: &Expect, _: &Observed<'_>, o: &Order, d: &mut Differences) {
    if let Some(i) = e.invoiced.filter(|i| *i != o.invoiced) {
        d.push(format!("invoiced: expected {i}, got {}", o.invoiced));
    }
}

/// Units per SKU (the lines with that SKU added up) against `want`, under `key`.
fn per_sku(
    key: &str,
    want: Option<&BTreeMap<String, Decimal>>,
    units: fn(&Line) -> Decimal,
    o: &Order,
    d: &mut Differences,
) {
    for (sku, q) in want.into_iter().flatten() {
        let lines: Vec<&Line> = o.lines.iter().filter(|l| &l.sku == sku).collect();
        if lines.is_empty() {
            let skus: Vec<String> = o.lines.iter().map(|l| l.sku.clone()).collect();
            d.push(format!("{key}.{sku}: the order has no line with SKU `{sku}` (it has {})", list(&skus)));
            continue;
        }
        let got: Decimal = lines.iter().map(|l| units(l)).sum();
        if got != *q {
            d.push(format!("{key}.{sku}: expected {}, got {}", qty(*q), qty(got)));
        }
    }
}

fn picked(e: &Expect, _: &Observed<'_>, o: &Order, d: &mut Differences) {
    per_sku("picked", e.picked.as_ref(), |l| l.picked_qty, o, d);
}

fn shipped(e: &Expect, _: &Observed<'_>, o: &Order, d: &mut Differences) {
    per_sku("shipped", e.shipped.as_ref(), |l| l.shipped_qty, o, d);
}

fn invoiced_units(e: &Expect, _: &Observed<'_>, o: &Order, d: &mut Differences) {
    per_sku("invoiced_units", e.invoiced_units.as_ref(), |l| l.invoiced_qty, o, d);
}

fn in_stock(e: &Expect, _: &Observed<'_>, o: &Order, d: &mut Differences) {
    per_sku("in_stock", e.in_stock.as_ref(), |l| l.in_stock_qty, o, d);
}

fn shipments(e: &Expect, _: &Observed<'_>, o: &Order, d: &mut Differences) {
    let Some(want) = &e.shipments else { return };
    let same = want.len() == o.shipments.len()
        && want.iter().zip(&o.shipments).all(|(w, s)| shipment_matches(w, s, o));
    if !same {
        let want: Vec<String> = want.iter().map(show_shipment_expect).collect();
        let got: Vec<String> = o.shipments.iter().map(|s| show_shipment(o, s)).collect();
        d.push(format!("shipments: expected {}, got {}", list(&want), list(&got)));
    }
}

/// Whether shipment `s` has what `w` names (its lines compared as units per SKU).
fn shipment_matches(w: &ShipmentExpect, s: &Shipment, o: &Order) -> bool {
    w.carrier.as_ref().is_none_or(|c| *c == s.carrier)
        && w.tracking_number.as_ref().is_none_or(|t| *t == s.tracking_number)
        && w.amount.is_none_or(|a| a == s.amount)
        && w.lines.as_ref().is_none_or(|lines| {
            let mut by_sku: BTreeMap<String, Decimal> = BTreeMap::new();
            for (n, q) in &s.lines {
                if let Some(l) = o.lines.iter().find(|l| l.n == *n) {
                    *by_sku.entry(l.sku.clone()).or_default() += *q;
                }
            }
            by_sku.len() == lines.len() && lines.iter().all(|(k, v)| by_sku.get(k) == Some(v))
        })
}

// ---------------------------------------------------------------- money and payment

/// An amount against the one expected, under `key`.
fn money(key: &str, want: Option<Decimal>, got: Decimal, d: &mut Differences) {
    if let Some(w) = want.filter(|w| *w != got) {
        d.push(format!("{key}: expected {w}, got {got}"));
    }
}

fn amount_paid(e: &Expect, _: &Observed<'_>, o: &Order, d: &mut Differences) {
    money("amount_paid", e.amount_paid, o.amount_paid, d);
}

fn balance_due(e: &Expect, _: &Observed<'_>, o: &Order, d: &mut Differences) {
    money("balance_due", e.balance_due, o.balance_due(), d);
}

fn total(e: &Expect, _: &Observed<'_>, o: &Order, d: &mut Differences) {
    money("total", e.total, o.total(), d);
}

fn shipping_amount(e: &Expect, _: &Observed<'_>, o: &Order, d: &mut Differences) {
    money("shipping_amount", e.shipping_amount, o.shipping_amount, d);
}

fn payment(e: &Expect, _: &Observed<'_>, o: &Order, d: &mut Differences) {
    let Some(p) = &e.payment else { return };
    let Some(got) = &o.payment else {
        d.push("payment: expected a payment, got none".into());
        return;
    };
    let same = p.method.as_ref().is_none_or(|m| *m == got.method)
        && p.outcome.as_ref().is_none_or(|x| x == got.outcome.code())
        && p.amount.is_none_or(|a| a == got.amount)
        && p.reference.as_ref().is_none_or(|r| *r == got.reference);
    if !same {
        d.push(format!(
            "payment: expected {}, got method {} outcome {} amount {} reference \"{}\"",
            show_payment_expect(p),
            got.method,
            got.outcome.code(),
            got.amount,
            got.reference
        ));
    }
}

// ---------------------------------------------------------------- customer, lock, replay

fn customer_is_new(e: &Expect, _: &Observed<'_>, o: &Order, d: &mut Differences) {
    if let Some(n) = e.customer_is_new.filter(|n| *n != o.customer.is_new) {
        d.push(format!("customer_is_new: expected {n}, got {}", o.customer.is_new));
    }
}

fn customer_is_guest(e: &Expect, _: &Observed<'_>, o: &Order, d: &mut Differences) {
    if let Some(g) = e.customer_is_guest.filter(|g| *g != o.customer.is_guest) {
        d.push(format!("customer_is_guest: expected {g}, got {}", o.customer.is_guest));
    }
}

fn locked_by(e: &Expect, obs: &Observed<'_>, o: &Order, d: &mut Differences) {
    let Some(l) = &e.locked_by else { return };
    let got = o.lock_at(obs.now).map(|l| l.holder.clone()).unwrap_or_default();
    if *l != got {
        d.push(format!("locked_by: expected {}, got {}", none_if_empty(l), none_if_empty(&got)));
    }
}

fn replayed(e: &Expect, obs: &Observed<'_>, _: &Order, d: &mut Differences) {
    let Some(r) = e.replayed else { return };
    match obs.replayed {
        Some(got) if got == r => {}
        Some(got) => d.push(format!("replayed: expected {r}, got {got}")),
        None => d.push(format!("replayed: expected {r}, but the step was not an event that went through")),
    }
}

// ---------------------------------------------------------------- showing values

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "[]".into()
    } else {
        format!("[{}]", items.iter().map(|i| format!("\"{i}\"")).collect::<Vec<_>>().join(", "))
    }
}

fn sorted(items: &[String]) -> Vec<String> {
    let mut v = items.to_vec();
    v.sort();
    v
}

fn qty(d: Decimal) -> String {
    d.normalize().to_string()
}

fn none_if_empty(s: &str) -> String {
    if s.is_empty() {
        "none".into()
    } else {
        format!("`{s}`")
    }
}

fn same_value(want: &toml::Value, got: Option<&serde_json::Value>, ty: Type) -> bool {
    let want = format::to_json(want);
    let Some(got) = got.filter(|g| !g.is_null()) else {
        return matches!(&want, serde_json::Value::String(s) if s.is_empty());
    };
    if *got == want {
        return true;
    }
    if matches!(ty, Type::Money | Type::Number) {
        let num = |v: &serde_json::Value| match v {
            serde_json::Value::String(s) => s.trim().parse::<Decimal>().ok(),
            serde_json::Value::Number(n) => n.to_string().parse::<Decimal>().ok(),
            _ => None,
        };
        if let (Some(a), Some(b)) = (num(got), num(&want)) {
            return a == b;
        }
    }
    false
}

fn show_json(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => format!("\"{s}\""),
        other => other.to_string(),
    }
}

fn show_action(a: &FulfillmentAction) -> String {
    let mut parts = vec![if a.complete { "complete" } else { "partial" }];
    if !a.visible {
        parts.push("hidden");
    }
    let mut s = format!("{} ({})", a.name, parts.join(", "));
    for (k, v) in [("notify", &a.notify), ("note", &a.note), ("contact", &a.contact)] {
        if !v.is_empty() {
            s.push_str(&format!(" {k}: {v}"));
        }
    }
    s
}

fn show_action_expect(a: &ActionExpect) -> String {
    let mut parts = Vec::new();
    if let Some(c) = a.complete {
        parts.push(if c { "complete" } else { "partial" });
    }
    if let Some(v) = a.visible {
        parts.push(if v { "visible" } else { "hidden" });
    }
    let mut s = if parts.is_empty() { a.name.clone() } else { format!("{} ({})", a.name, parts.join(", ")) };
    for (k, v) in [("notify", &a.notify), ("note", &a.note), ("contact", &a.contact)] {
        if let Some(v) = v {
            s.push_str(&format!(" {k}: {v}"));
        }
    }
    s
}

fn show_message(m: &OutboxMessage) -> String {
    match (m.kind.as_str(), &m.template) {
        ("email", Some(t)) => format!("email:{t} to {}", m.target),
        (kind, _) => format!("{kind}:{}", m.target),
    }
}

fn show_shipment(o: &Order, s: &Shipment) -> String {
    let lines: Vec<String> = s
        .lines
        .iter()
        .map(|(n, q)| {
            let sku =
                o.lines.iter().find(|l| l.n == *n).map_or_else(|| format!("line {n}"), |l| l.sku.clone());
            format!("{sku} x {}", qty(*q))
        })
        .collect();
    format!("{} {} amount {} {}", s.carrier, s.tracking_number, s.amount, lines.join(", "))
}

fn show_shipment_expect(w: &ShipmentExpect) -> String {
    let mut parts = Vec::new();
    if let Some(c) = &w.carrier {
        parts.push(c.clone());
    }
    if let Some(t) = &w.tracking_number {
        parts.push(t.clone());
    }
    if let Some(a) = w.amount {
        parts.push(format!("amount {}", a));
    }
    if let Some(l) = &w.lines {
        parts.push(l.iter().map(|(k, v)| format!("{k} x {}", qty(*v))).collect::<Vec<_>>().join(", "));
    }
    parts.join(" ")
}

fn show_payment_expect(p: &PaymentExpect) -> String {
    let mut want = Vec::new();
    if let Some(m) = &p.method {
        want.push(format!("method {m}"));
    }
    if let Some(x) = &p.outcome {
        want.push(format!("outcome {x}"));
    }
    if let Some(a) = p.amount {
        want.push(format!("amount {a}"));
    }
    if let Some(r) = &p.reference {
        want.push(format!("reference {r}"));
    }
    want.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every key a scenario's `expect` takes has exactly one checker, and every checker is a key:
    /// an expectation added to [`Expect`] without its row here fails.
    #[test]
    fn every_expectation_key_has_one_checker() {
        let err = toml::from_str::<Expect>("no_such_key = 1").expect_err("an unknown key").to_string();
        let (_, listed) = err.split_once("expected one of").unwrap_or_else(|| panic!("{err}"));
        let mut keys: Vec<&str> = listed.split('`').skip(1).step_by(2).collect();
        keys.sort_unstable();
        let mut rows: Vec<&str> = CHECKS.iter().map(|(name, _)| *name).collect();
        rows.sort_unstable();
        assert_eq!(rows, keys);
    }

    /// The refusal's checkers come first: whether the step was refused decides how to read the
    /// rest.
    #[test]
    fn the_refusal_is_checked_first() {
        let first_order = CHECKS.iter().position(|(_, c)| matches!(c, Checker::Order(_)));
        let last_refusal = CHECKS.iter().rposition(|(_, c)| matches!(c, Checker::Refusal(_)));
        assert!(last_refusal < first_order, "{last_refusal:?} {first_order:?}");
    }
}
