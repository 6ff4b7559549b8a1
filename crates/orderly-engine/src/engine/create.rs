//! Order creation: the channel's required fields, its initial status by mode, payment method
//! and outcome, the lines, auto-pick, entering and `on created` actions, auto-invoice and
//! automatic transitions.

use super::run::{Effects, Run};
use super::{Decision, Hooks, Problem, Rejection, RejectionCode, Step};
use crate::limits;
use crate::model::{Channel, ChannelRule, FieldRef, PaymentOutcome, StatusId, Type, Workflow};
use crate::order::{Address, Customer, Fulfillment, Line, Order, Payment, Time};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

/// A new order as a channel sends it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewOrder {
    /// The channel (`website`, `pos`, ...).
    #[cfg_attr(feature = "openapi", schema(max_length = 100))]
    pub channel: String,
    /// The workflow, when more than one workflow has this channel.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 100))]
    pub workflow: Option<String>,
    /// The order number; the store gives one when missing. Orders are named by it exactly as
    /// given; it may not start with `id:` (how ids are written), nor be `ORD` and digits only
    /// (the store's own numbers).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 64))]
    pub number: Option<String>,
    /// The channel's own id: the same id from the same channel again gives the first order back.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub external_id: Option<String>,
    /// The channel's mode (`carry`, `delivery`, `layaway`, `present`, `phone`).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 100))]
    pub mode: Option<String>,
    /// The customer.
    #[serde(default)]
    pub customer: CustomerInput,
    /// Where it ships.
    #[serde(default)]
    pub shipping_address: Option<Address>,
    /// Who pays.
    #[serde(default)]
    pub billing_address: Option<Address>,
    /// The payment taken at checkout, if any.
    #[serde(default)]
    pub payment: Option<PaymentInput>,
    /// The lines.
    #[serde(default)]
    pub lines: Vec<LineInput>,
    /// Attribute values.
    #[serde(default)]
    pub attributes: BTreeMap<String, serde_json::Value>,
    /// Who creates it.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub actor: Option<String>,
    /// The number the store set aside for an order that came without one (`ORD000042`), so
    /// that hooks and messages at creation see it. Set by the service; never read from a
    /// request.
    #[serde(skip)]
    pub assigned_number: Option<String>,
}

/// The customer of a new order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields, default)]
pub struct CustomerInput {
    /// Email.
    #[cfg_attr(feature = "openapi", schema(max_length = 254))]
    pub email: String,
    /// First name.
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub first_name: String,
    /// Last name.
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub last_name: String,
    /// Company.
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub company: String,
    /// Phone.
    #[cfg_attr(feature = "openapi", schema(max_length = 64))]
    pub phone: String,
    /// Checked out without an account.
    pub guest: bool,
}

impl CustomerInput {
    /// The customer as the channel gave it, linked to no record yet (`is_new`: whether the
    /// order creates its customer).
    pub fn as_given(&self, is_new: bool) -> Customer {
        Customer {
            id: None,
            email: self.email.clone(),
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            company: self.company.clone(),
            phone: self.phone.clone(),
            is_guest: self.guest,
            is_new,
        }
    }
}

/// The payment of a new order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PaymentInput {
    /// The method code.
    #[cfg_attr(feature = "openapi", schema(max_length = 100))]
    pub method: String,
    /// The outcome.
    pub outcome: PaymentOutcome,
    /// The amount (default: the order's total): zero or more, at most 999,999,999,999.9999, at
    /// most 4 decimals.
    #[serde(default, deserialize_with = "super::decimal::de_opt")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<super::decimal::MoneyInput>))]
    pub amount: Option<Decimal>,
    /// The gateway's reference.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub reference: Option<String>,
}

/// A line of a new order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LineInput {
    /// Stock keeping unit.
    #[cfg_attr(feature = "openapi", schema(max_length = 100))]
    pub sku: String,
    /// Description.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 2000))]
    pub description: String,
    /// Vendor.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub vendor: String,
    /// Quantity: a whole number of units, 1 to 1,000,000,000.
    #[serde(deserialize_with = "super::decimal::de")]
    #[cfg_attr(feature = "openapi", schema(value_type = super::decimal::QuantityInput))]
    pub qty: Decimal,
    /// Price per unit: zero or more, at most 999,999,999,999.9999, at most 4 decimals.
    #[serde(deserialize_with = "super::decimal::de")]
    #[cfg_attr(feature = "openapi", schema(value_type = super::decimal::MoneyInput))]
    pub unit_price: Decimal,
    /// How it is sourced (default stock).
    #[serde(default = "stock")]
    pub fulfillment: Fulfillment,
    /// Whether all of it is in stock (default: no).
    #[serde(default)]
    pub in_stock: Option<bool>,
    /// How much of it is in stock (instead of `in_stock`): a whole number, 0 to 1,000,000,000.
    #[serde(default, deserialize_with = "super::decimal::de_opt")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<super::decimal::StockInput>))]
    pub in_stock_qty: Option<Decimal>,
}

fn stock() -> Fulfillment {
    Fulfillment::Stock
}

/// The channel's required fields the order lacks, read through the field catalogue as guards
/// read them (an empty text counts as missing). The order is as built from the input, with
/// the channel's own number only (not one the store assigns).
fn missing(channel: &Channel, order: &Order, payment: Option<&PaymentInput>, now: Time) -> Vec<Problem> {
    let mut out = Vec::new();
    let paid = payment.map(|p| (p.method.as_str(), p.outcome));
    for req in channel.required.iter().filter(|r| r.applies(order.mode.as_deref(), paid)) {
        let f = &req.field;
        let path = match f {
            FieldRef::Shipping(n) => format!("shipping_address.{}", n.name()),
            FieldRef::Billing(n) => format!("billing_address.{}", n.name()),
            other => other.path(),
        };
        let present = match super::eval::order_field(order, f, Type::Text, now) {
            super::Value::Null => false,
            super::Value::Text(t) => !t.trim().is_empty(),
            _ => true,
        };
        if !present {
            out.push(Problem { field: path, problem: format!("is required by channel `{}`", channel.code) });
        }
    }
    out
}

/// The free-text fields of a new order that are longer than the service keeps
/// ([`crate::limits`]).
fn text_problems(input: &NewOrder) -> Vec<Problem> {
    use limits::{MAX_CODE, MAX_EMAIL, MAX_NAME, MAX_NUMBER, MAX_PHONE, MAX_TEXT};
    let mut fields: Vec<(String, &str, usize)> = vec![
        ("channel".into(), &input.channel, MAX_CODE),
        ("workflow".into(), input.workflow.as_deref().unwrap_or_default(), MAX_CODE),
        ("number".into(), input.number.as_deref().unwrap_or_default(), MAX_NUMBER),
        ("external_id".into(), input.external_id.as_deref().unwrap_or_default(), MAX_NAME),
        ("mode".into(), input.mode.as_deref().unwrap_or_default(), MAX_CODE),
        ("actor".into(), input.actor.as_deref().unwrap_or_default(), MAX_NAME),
    ];
    let c = &input.customer;
    fields.extend([
        ("customer.email".into(), c.email.as_str(), MAX_EMAIL),
        ("customer.first_name".into(), c.first_name.as_str(), MAX_NAME),
        ("customer.last_name".into(), c.last_name.as_str(), MAX_NAME),
        ("customer.company".into(), c.company.as_str(), MAX_NAME),
        ("customer.phone".into(), c.phone.as_str(), MAX_PHONE),
    ]);
    for (name, address) in
        [("shipping_address", &input.shipping_address), ("billing_address", &input.billing_address)]
    {
        let Some(a) = address else { continue };
        fields.extend([
            (format!("{name}.first_name"), a.first_name.as_str(), MAX_NAME),
            (format!("{name}.last_name"), a.last_name.as_str(), MAX_NAME),
            (format!("{name}.company"), a.company.as_str(), MAX_NAME),
            (format!("{name}.address"), a.address.as_str(), MAX_NAME),
            (format!("{name}.address2"), a.address2.as_str(), MAX_NAME),
            (format!("{name}.city"), a.city.as_str(), MAX_NAME),
            (format!("{name}.state"), a.state.as_str(), MAX_NAME),
            (format!("{name}.zip"), a.zip.as_str(), MAX_NAME),
            (format!("{name}.country"), a.country.as_str(), MAX_NAME),
            (format!("{name}.phone"), a.phone.as_str(), MAX_PHONE),
            (format!("{name}.email"), a.email.as_str(), MAX_EMAIL),
        ]);
    }
    if let Some(p) = &input.payment {
        fields.push(("payment.method".into(), p.method.as_str(), MAX_CODE));
        fields.push(("payment.reference".into(), p.reference.as_deref().unwrap_or_default(), MAX_NAME));
    }
    for (i, l) in input.lines.iter().enumerate() {
        fields.extend([
            (format!("lines[{i}].sku"), l.sku.as_str(), MAX_CODE),
            (format!("lines[{i}].description"), l.description.as_str(), MAX_TEXT),
            (format!("lines[{i}].vendor"), l.vendor.as_str(), MAX_NAME),
        ]);
    }
    for (name, value) in &input.attributes {
        if let Some(text) = value.as_str() {
            fields.push((format!("attributes.{name}"), text, MAX_TEXT));
        }
    }
    fields
        .into_iter()
        .filter_map(|(field, text, max)| {
            limits::text_problem(text, max).map(|problem| Problem { field, problem })
        })
        .collect()
}

/// Checks the input: the lines, the attributes.
fn problems(w: &Workflow, input: &NewOrder) -> Vec<Problem> {
    let mut out = Vec::new();
    if let Some(problem) = input.number.as_deref().and_then(crate::order::number_problem) {
        out.push(Problem { field: "number".into(), problem: problem.into() });
    }
    out.extend(text_problems(input));
    if input.lines.is_empty() {
        out.push(Problem { field: "lines".into(), problem: "an order needs at least one line".into() });
    }
    if input.lines.len() > limits::MAX_LINES {
        out.push(Problem {
            field: "lines".into(),
            problem: format!("an order has at most {} lines, not {}", limits::MAX_LINES, input.lines.len()),
        });
    }
    // Every line's total and their sum, checked: `None` once one is not an amount.
    let mut subtotal = Some(Decimal::ZERO);
    for (i, l) in input.lines.iter().enumerate() {
        let mut problem = |field: &str, problem: String| {
            out.push(Problem { field: format!("lines[{i}]{field}"), problem });
        };
        if l.sku.trim().is_empty() {
            problem(".sku", "is empty".into());
        }
        let qty = limits::qty_problem(l.qty, 1);
        let price = if l.unit_price < Decimal::ZERO {
            Some("cannot be negative".to_string())
        } else {
            limits::money_problem(l.unit_price)
        };
        let both = qty.is_none() && price.is_none();
        if let Some(p) = qty {
            problem(".qty", p);
        }
        if let Some(p) = price {
            problem(".unit_price", p);
        }
        if let Some(p) = l.in_stock_qty.and_then(|q| limits::qty_problem(q, 0)) {
            problem(".in_stock_qty", p);
        }
        match limits::money_mul(l.qty, l.unit_price) {
            Some(total) => subtotal = subtotal.and_then(|s| limits::money_add(s, total)),
            None if both => {
                problem(
                    "",
                    format!(
                        "qty × unit_price is more than the largest amount, {} (qty {}, unit_price {})",
                        limits::max_money(),
                        l.qty,
                        l.unit_price
                    ),
                );
                subtotal = None;
            }
            None => subtotal = None,
        }
    }
    let lines_ok = out.iter().all(|p| !p.field.starts_with("lines"));
    if subtotal.is_none() && lines_ok {
        out.push(Problem {
            field: "lines".into(),
            problem: format!("the lines add up to more than the largest amount, {}", limits::max_money()),
        });
    }
    if let Some(a) = input.payment.as_ref().and_then(|p| p.amount) {
        let problem =
            if a < Decimal::ZERO { Some("cannot be negative".into()) } else { limits::money_problem(a) };
        if let Some(problem) = problem {
            out.push(Problem { field: "payment.amount".into(), problem });
        }
    }
    for (name, value) in &input.attributes {
        match w.attributes.iter().find(|a| &a.name == name) {
            None => out.push(Problem {
                field: format!("attributes.{name}"),
                problem: format!("is not an attribute of workflow `{}`", w.name),
            }),
            Some(a) if !value.is_null() && super::eval::typed(Some(value), a.ty) == super::Value::Null => {
                out.push(Problem {
                    field: format!("attributes.{name}"),
                    problem: format!("must be {}", a.ty.describe()),
                });
            }
            Some(a) if a.ty == Type::Money => {
                if let super::Value::Number(amount) = super::eval::typed(Some(value), a.ty) {
                    if let Some(problem) = limits::money_problem(amount) {
                        out.push(Problem { field: format!("attributes.{name}"), problem });
                    }
                }
            }
            Some(_) => {}
        }
    }
    out
}

/// The order as built from the input, before a status is chosen: the lines, the payment and
/// what it paid, the attributes, the matched customer.
fn build(
    w: &Workflow,
    channel_code: &str,
    input: &NewOrder,
    customer: Customer,
    possible_duplicate: bool,
    now: Time,
) -> Order {
    let lines: Vec<Line> = input
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| Line {
            n: i as u32 + 1,
            sku: l.sku.trim().to_string(),
            description: l.description.clone(),
            vendor: l.vendor.clone(),
            // Whole numbers of units, kept as such (`1`, never `1.0`).
            qty: l.qty.normalize(),
            unit_price: l.unit_price,
            fulfillment: l.fulfillment,
            in_stock_qty: l
                .in_stock_qty
                .unwrap_or(if l.in_stock == Some(true) { l.qty } else { Decimal::ZERO })
                .min(l.qty)
                .normalize(),
            picked_qty: Decimal::ZERO,
            shipped_qty: Decimal::ZERO,
            invoiced_qty: Decimal::ZERO,
        })
        .collect();
    // Checked; an order whose lines are past the limits is refused by `problems`.
    let subtotal = lines
        .iter()
        .try_fold(Decimal::ZERO, |sum, l| limits::money_add(sum, limits::money_mul(l.qty, l.unit_price)?))
        .unwrap_or_default();
    let payment = input.payment.as_ref().map(|p| Payment {
        method: p.method.clone(),
        outcome: p.outcome,
        amount: p.amount.unwrap_or(subtotal),
        reference: p.reference.clone().unwrap_or_default(),
    });
    let amount_paid = payment
        .as_ref()
        .filter(|p| p.outcome == PaymentOutcome::Approved)
        .map_or(Decimal::ZERO, |p| p.amount);
    let mut attributes = BTreeMap::new();
    for (name, value) in &input.attributes {
        let ty = w.attributes.iter().find(|a| &a.name == name).map_or(Type::Text, |a| a.ty);
        let value = match (ty, value) {
            (Type::Money | Type::Number, serde_json::Value::Number(n)) => json!(n.to_string()),
            _ => value.clone(),
        };
        attributes.insert(name.clone(), value);
    }
    let mut flags = BTreeSet::new();
    if possible_duplicate {
        flags.insert("possible_duplicate".to_string());
    }
    Order {
        id: 0,
        number: input.number.clone().unwrap_or_default(),
        workflow: w.name.clone(),
        workflow_version: 0,
        channel: channel_code.to_string(),
        mode: input.mode.clone(),
        external_id: input.external_id.clone(),
        status: String::new(),
        phase: None,
        status_since: now,
        created_at: now,
        customer: std::sync::Arc::new(customer),
        shipping: std::sync::Arc::new(input.shipping_address.clone().unwrap_or_default()),
        billing: std::sync::Arc::new(input.billing_address.clone().unwrap_or_default()),
        payment,
        amount_paid,
        shipping_amount: Decimal::ZERO,
        lines,
        flags,
        attributes,
        queue: None,
        assignee: None,
        invoiced: false,
        related_order: None,
        shipments: Vec::new(),
        fulfillment_actions: Vec::new(),
        lock: None,
        version: 0,
    }
}

/// The channel rule that takes an order, if any, with its index.
fn rule_for<'c>(
    channel: &'c Channel,
    mode: Option<&str>,
    payment: Option<&PaymentInput>,
) -> Option<(usize, &'c ChannelRule)> {
    channel.rule_for(mode, payment.map(|p| (p.method.as_str(), p.outcome)))
}

/// Creates an order: `customer` is the store's match for the input's customer, and
/// `possible_duplicate` whether that match was only near.
pub fn create(
    w: &Workflow,
    input: &NewOrder,
    customer: Customer,
    possible_duplicate: bool,
    now: Time,
    hooks: &dyn Hooks,
) -> Result<Decision, Rejection> {
    let (run, _, start_code) = created(w, input, customer, possible_duplicate, now, hooks, None)?;
    let mut d = run.into_decision();
    d.steps.insert(0, Step { event: None, from: String::new(), to: start_code, line: 0 });
    Ok(d)
}

/// [`create`] for a replay ([`Run::new_quiet`]): the same decision without history or message
/// payloads; `entered` (a buffer to reuse) starts with the initial status, as the steps do.
pub(crate) fn create_quiet(
    w: &Workflow,
    input: &NewOrder,
    customer: Customer,
    possible_duplicate: bool,
    now: Time,
    hooks: &dyn Hooks,
    entered: Vec<StatusId>,
) -> Result<(Order, Effects), Rejection> {
    let (run, start, _) = created(w, input, customer, possible_duplicate, now, hooks, Some(entered))?;
    let (order, mut effects) = run.into_parts();
    effects.entered.insert(0, start);
    Ok((order, effects))
}

/// The run of a creation, settled, with the initial status (its index and code); a quiet run
/// when `quiet` brings the buffer for the statuses entered.
fn created<'a>(
    w: &'a Workflow,
    input: &NewOrder,
    customer: Customer,
    possible_duplicate: bool,
    now: Time,
    hooks: &'a dyn Hooks,
    quiet: Option<Vec<StatusId>>,
) -> Result<(Run<'a>, StatusId, String), Rejection> {
    let Some(channel) = w.channel(&input.channel) else {
        let mut r = Rejection::new(
            RejectionCode::UnknownChannel,
            format!("workflow `{}` has no channel `{}`", w.name, input.channel),
        );
        r.problems.push(Problem {
            field: "channel".into(),
            problem: format!(
                "must be one of {}",
                w.channels.iter().map(|c| c.code.as_str()).collect::<Vec<_>>().join(", ")
            ),
        });
        return Err(r);
    };
    // Requirements are about what the channel sent: the customer as given, not as matched.
    let sent = input.customer.as_given(customer.is_new);
    let mut order = build(w, &channel.code, input, sent, possible_duplicate, now);
    let mut found = missing(channel, &order, input.payment.as_ref(), now);
    order.customer = std::sync::Arc::new(customer);
    found.extend(problems(w, input));
    if !found.is_empty() {
        let mut r = Rejection::new(
            RejectionCode::InvalidOrder,
            format!("the order cannot be created: {} problem(s)", found.len()),
        );
        r.problems = found;
        return Err(r);
    }
    let Some((rule_index, rule)) = rule_for(channel, input.mode.as_deref(), input.payment.as_ref()) else {
        let what = match (&input.mode, &input.payment) {
            (m, Some(p)) => format!(
                "{}paid by `{}` with payment `{}`",
                m.as_ref().map(|m| format!("in mode `{m}` ")).unwrap_or_default(),
                p.method,
                p.outcome.code()
            ),
            (m, None) => format!(
                "{}with no payment",
                m.as_ref().map(|m| format!("in mode `{m}` ")).unwrap_or_default()
            ),
        };
        return Err(Rejection::new(
            RejectionCode::Refused,
            format!("channel `{}` takes no order {what}", channel.code),
        ));
    };
    let Some(start) = rule.start else {
        let message =
            rule.message.clone().unwrap_or_else(|| format!("channel `{}` refuses this order", channel.code));
        return Err(Rejection::new(RejectionCode::Refused, message));
    };
    // `check` builds no channel rule starting in a status the workflow lacks: this is a
    // workflow put together some other way, refused as the engine refuses its other gaps.
    let Some(start_code) = w.statuses.get(start).map(|s| s.code.clone()) else {
        return Err(Rejection::new(
            RejectionCode::UnknownStatus,
            format!("workflow `{}` has no status number {start}", w.name),
        ));
    };

    order.status = start_code.clone();
    if order.number.is_empty() {
        order.number = input.assigned_number.clone().unwrap_or_default();
    }
    let mut run = match quiet {
        Some(entered) => Run::new_quiet(w, hooks, order, now, input.actor.clone(), entered),
        None => Run::new(w, hooks, order, now, input.actor.clone()),
    };
    if !run.is_quiet() {
        run.history.push(super::HistoryEntry {
            at: now,
            kind: "created".into(),
            event: None,
            from_status: None,
            to_status: Some(start_code.clone()),
            actor: input.actor.clone(),
            detail: json!({"channel": channel.code, "mode": input.mode, "rule": rule_index + 1,
                           "customer_is_new": run.order.customer.is_new, "possible_duplicate": possible_duplicate}),
        });
    }
    if w.settings.auto_pick {
        run.pick(None);
    }
    run.auto_invoice();
    run.enter(start, None)?;
    run.as_new_order();
    let on_create = &w.on_create;
    run.run_actions(on_create, None)?;
    for (_, actions) in w.on_create_from.iter().filter(|(c, _)| *c == channel.code) {
        run.run_actions(actions, None)?;
    }
    run.settle()?;
    Ok((run, start, start_code))
}
