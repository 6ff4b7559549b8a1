//! The console's New order screen at `/orders/new` (CORESense's Sales Order Interface, for
//! phone orders): pick the channel (and so the workflow); the form then asks for the customer,
//! the addresses, the payment, the lines and the workflow's attributes, marks what the channel
//! requires, and *Preview* shows the status the order will start in (or why it would be
//! refused) before anything is saved: the engine decides on the form's order and nothing is
//! written. *Create* creates it through the same service call as `POST /v1/orders`, with the
//! staff member as the actor (`orders:write`).

use super::extract::PageForm;
use super::render;
use super::session::{Refusal, Staff};
use super::simulate::Refused;
use super::studio::staff_ctx;
use crate::config::Scope;
use crate::engine::NewOrder;
use crate::http::error::{ApiError, ErrorCode};
use crate::http::AppState;
use crate::service::ServiceError;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A channel the screen offers.
#[derive(Debug, Serialize)]
struct ChannelChoice {
    workflow: String,
    code: String,
    label: String,
}

/// What the form shows for the chosen channel.
#[derive(Debug, Serialize)]
struct ChannelForm {
    workflow: String,
    code: String,
    label: String,
    modes: Vec<String>,
    methods: Vec<String>,
    /// Field paths the channel requires of every order.
    required: Vec<String>,
    /// Field paths it requires of some orders (by mode or payment).
    sometimes: Vec<String>,
    attributes: Vec<(String, &'static str)>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Chosen {
    #[serde(default)]
    workflow: Option<String>,
    #[serde(default)]
    channel: Option<String>,
}

fn channel_form(state: &AppState, workflow: &str, channel: &str) -> Option<ChannelForm> {
    let registry = state.service.registry();
    let a = registry.get(workflow)?;
    let w = &a.workflow;
    let c = w.channels.iter().find(|c| c.code == channel)?;
    let mut modes: Vec<String> = c.rules.iter().flat_map(|r| r.modes.clone().unwrap_or_default()).collect();
    modes.sort();
    modes.dedup();
    let mut methods: Vec<String> =
        c.rules.iter().flat_map(|r| r.methods.clone().unwrap_or_default()).collect();
    methods.sort();
    methods.dedup();
    let (always, some): (Vec<_>, Vec<_>) = c.required.iter().partition(|r| r.only.is_none());
    Some(ChannelForm {
        workflow: w.name.clone(),
        code: c.code.clone(),
        label: c.label.clone(),
        modes,
        methods,
        required: always.iter().map(|r| r.field.path()).collect(),
        sometimes: some.iter().map(|r| r.field.path()).collect(),
        attributes: w.attributes.iter().map(|a| (a.name.clone(), a.ty.describe())).collect(),
    })
}

fn choices(state: &AppState) -> Vec<ChannelChoice> {
    let registry = state.service.registry();
    registry
        .all()
        .flat_map(|a| {
            a.workflow.channels.iter().map(|c| ChannelChoice {
                workflow: a.workflow.name.clone(),
                code: c.code.clone(),
                label: c.label.clone(),
            })
        })
        .collect()
}

/// The outcome of a preview or a refused creation, for the page.
#[derive(Debug, Default, Serialize)]
struct Outcome {
    /// The status it would start in: code and label.
    status: Option<(String, String)>,
    /// The statuses it passes through to get there.
    path: Vec<String>,
    flags: Vec<String>,
    refused: Option<Refused>,
}

fn page(
    state: &AppState,
    staff: &Staff,
    status: StatusCode,
    form: Option<ChannelForm>,
    values: &BTreeMap<String, String>,
    outcome: Option<Outcome>,
) -> Response {
    let ctx = minijinja::context! {
        staff => staff_ctx(staff),
        choices => choices(state),
        form => form,
        values => values,
        outcome => outcome,
    };
    render::page(status, "new_order.html", ctx)
}

/// `GET /orders/new`: the channels, or the form for the chosen one.
pub(crate) async fn form(
    State(state): State<Arc<AppState>>,
    staff: Staff,
    Query(chosen): Query<Chosen>,
) -> Result<Response, Refusal> {
    staff.require(Scope::OrdersWrite, false)?;
    let form = match (chosen.workflow.as_deref(), chosen.channel.as_deref()) {
        (Some(w), Some(c)) => Some(channel_form(&state, w, c).ok_or_else(|| {
            Refusal::new(false, ErrorCode::NotFound, "No active workflow has this channel.")
        })?),
        _ => None,
    };
    Ok(page(&state, &staff, StatusCode::OK, form, &BTreeMap::new(), None))
}

/// Parses the lines box: one line per order line, `SKU, quantity, unit price, description`
/// (the description may be left out), commas between. A line without its quantity and price
/// is refused, naming the line (counted from 1).
fn lines(text: &str) -> Result<Vec<Value>, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
        .map(|(i, l)| {
            let mut parts = l.splitn(4, ',').map(str::trim);
            let (Some(sku), Some(qty), Some(price)) = (parts.next(), parts.next(), parts.next()) else {
                return Err(format!(
                    "line {}: `{}` needs a SKU, a quantity and a unit price, with commas between",
                    i + 1,
                    crate::limits::shown(l, crate::limits::MAX_SHOWN)
                ));
            };
            let description = parts.next().unwrap_or_default();
            let qty = qty.parse::<u64>().map_or_else(|_| json!(qty), |n| json!(n));
            Ok(json!({"sku": sku, "qty": qty, "unit_price": price, "description": description}))
        })
        .collect()
}

/// The order the form describes, as `POST /v1/orders` takes it.
fn order_of(values: &BTreeMap<String, String>, actor: &str) -> Result<NewOrder, String> {
    let get = |k: &str| values.get(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    let group = |prefix: &str| -> Map<String, Value> {
        values
            .iter()
            .filter_map(|(k, v)| {
                let field = k.strip_prefix(prefix)?;
                let v = v.trim();
                (!v.is_empty()).then(|| (field.to_string(), Value::String(v.to_string())))
            })
            .collect()
    };
    let mut order = Map::new();
    order.insert("channel".into(), json!(get("channel").unwrap_or_default()));
    order.insert("workflow".into(), json!(get("workflow")));
    for (key, field) in [("number", "number"), ("mode", "mode"), ("external_id", "external_id")] {
        if let Some(v) = get(key) {
            order.insert(field.into(), json!(v));
        }
    }
    let mut customer = group("customer.");
    customer.insert("guest".into(), json!(values.get("customer.guest").is_some_and(|v| v == "yes")));
    order.insert("customer".into(), Value::Object(customer));
    let shipping = group("shipping.");
    if !shipping.is_empty() {
        order.insert("shipping_address".into(), Value::Object(shipping.clone()));
    }
    let billing = group("billing.");
    if !billing.is_empty() {
        order.insert("billing_address".into(), Value::Object(billing));
    } else if values.get("billing_same").is_some_and(|v| v == "yes") && !shipping.is_empty() {
        order.insert("billing_address".into(), Value::Object(shipping));
    }
    if let Some(method) = get("payment.method") {
        let outcome = get("payment.outcome")
            .ok_or("payment: choose the payment's outcome (approved, pending or declined)")?;
        let mut payment = Map::new();
        payment.insert("method".into(), json!(method));
        payment.insert("outcome".into(), json!(outcome));
        if let Some(amount) = get("payment.amount") {
            payment.insert("amount".into(), json!(amount));
        }
        order.insert("payment".into(), Value::Object(payment));
    }
    order.insert("lines".into(), Value::Array(lines(values.get("lines").map_or("", String::as_str))?));
    let attributes = group("attributes.");
    if !attributes.is_empty() {
        order.insert("attributes".into(), Value::Object(attributes));
    }
    order.insert("actor".into(), json!(actor));
    serde_path_to_error::deserialize(Value::Object(order)).map_err(|e| format!("{}: {}", e.path(), e.inner()))
}

/// `POST /orders/new`: `action=preview` shows where the order would start; `action=create`
/// creates it.
pub(crate) async fn submit(
    State(state): State<Arc<AppState>>,
    staff: Staff,
    headers: HeaderMap,
    PageForm(form): PageForm<Vec<(String, String)>>,
) -> Result<Response, Refusal> {
    staff.require(Scope::OrdersWrite, false)?;
    let values: BTreeMap<String, String> = form.into_iter().collect();
    staff.check_form_token(&headers, values.get("csrf").map(String::as_str), false)?;
    let workflow = values.get("workflow").cloned().unwrap_or_default();
    let channel = values.get("channel").cloned().unwrap_or_default();
    let channel_form = channel_form(&state, &workflow, &channel)
        .ok_or_else(|| Refusal::new(false, ErrorCode::NotFound, "No active workflow has this channel."))?;
    let refused = |message: String, reasons: Vec<String>, code: &str| Outcome {
        refused: Some(Refused { code: code.to_string(), message, reasons }),
        ..Outcome::default()
    };
    let input = match order_of(&values, &staff.name) {
        Ok(input) => input,
        Err(why) => {
            let outcome = refused("the form does not make an order".into(), vec![why], "invalid_body");
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            return Ok(page(&state, &staff, status, Some(channel_form), &values, Some(outcome)));
        }
    };
    let from_error = |e: ServiceError| -> (StatusCode, Outcome) {
        match &e {
            ServiceError::Rejected(r) => {
                let shown = Refused::from(r);
                (ApiError::from(e).code.status(), Outcome { refused: Some(shown), ..Outcome::default() })
            }
            _ => {
                let api = ApiError::from(e);
                (api.code.status(), refused(api.message.clone(), Vec::new(), &api.code.to_string()))
            }
        }
    };
    if values.get("action").map(String::as_str) == Some("create") {
        return match state.service.create_order(&input).await {
            Ok(created) => {
                Ok(Redirect::to(&format!("/orders/id:{}?done=created", created.order.id)).into_response())
            }
            Err(e) => {
                let (status, outcome) = from_error(e);
                Ok(page(&state, &staff, status, Some(channel_form), &values, Some(outcome)))
            }
        };
    }
    let (status, outcome) = match state.service.preview_order(&input) {
        Ok((workflow, d)) => {
            let registry = state.service.registry();
            let label = registry
                .get(&workflow)
                .and_then(|a| {
                    a.workflow.statuses.iter().find(|s| s.code == d.order.status).map(|s| s.label.clone())
                })
                .unwrap_or_default();
            let outcome = Outcome {
                status: Some((d.order.status.clone(), label)),
                path: d.steps.iter().map(|s| s.to.clone()).collect(),
                flags: d.order.flags.iter().cloned().collect(),
                refused: None,
            };
            (StatusCode::OK, outcome)
        }
        Err(e) => from_error(e),
    };
    Ok(page(&state, &staff, status, Some(channel_form), &values, Some(outcome)))
}
