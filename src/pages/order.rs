//! The console's order page at `/orders/{key}` and what staff do on it (issue 14).
//!
//! The page shows what the API's `GET /v1/orders/{key}` answers (`http::view::OrderView`, the
//! same reads): status and phase with since when, customer and addresses, lines with
//! fulfillment, stock, picked and shipped quantities, money, shipments with tracking links,
//! fulfillment actions, flags, attributes, the lock, and the history as a timeline with each
//! row's workflow version and actor. Needs `orders:read`.
//!
//! Then the forms, each a `POST` under `/orders/{key}/` with the page's form token, answered
//! with a redirect back to the page (`?done=`), or the page again with the refusal and why:
//! - `event`: the events the order's status takes, each a form for its declared data; an event
//!   a guard (or the lock) would refuse shows why before it is sent (`events:write`);
//! - `lock`: lock, unlock, or (admin) break another's lock (`orders:write`);
//! - `assign`: to me, back to the queue, or to a named queue (`orders:write`);
//! - `actions` and `actions/{n}`: add a fulfillment action from the workflow's list, or edit one
//!   (`orders:write`);
//! - `email`: write to the customer or anyone, sent through the outbox (`orders:write`).
//!
//! Everything goes through the same `Service` methods as the API, with the staff member's name
//! as the actor.

use super::extract::{PageForm, PagePath};
use super::render;
use super::session::{Refusal, Staff};
use super::simulate::{self, Refused};
use super::studio::staff_ctx;
use crate::config::Scope;
use crate::engine::{AssignInput, EmailInput, EventInput, FulfillmentActionInput};
use crate::http::error::{ApiError, ErrorCode};
use crate::http::view::OrderView;
use crate::http::AppState;
use crate::model::Type;
use crate::service::ServiceError;
use crate::store::OrderKey;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// What a form did, by a fixed word in `?done=` (a link cannot make the page say anything else).
const DONE: &[(&str, &str)] = &[
    ("created", "The order is created."),
    ("event", "The event was applied."),
    ("locked", "You hold the lock now: others cannot change the order until you unlock it."),
    ("unlocked", "The lock is released."),
    ("broken", "The lock was broken."),
    ("assigned", "The assignment is saved."),
    ("action", "The fulfillment action is saved."),
    ("emailed", "The email is queued; the outbox sends it."),
    ("linked", "The order is linked to the customer."),
];

#[derive(Debug, Default, Deserialize)]
pub(crate) struct PageQuery {
    #[serde(default)]
    done: Option<String>,
}

/// A refusal as the page shows it: what was tried, the sentence, guard by guard why.
#[derive(Debug, Serialize)]
struct Problem {
    what: String,
    code: String,
    message: String,
    reasons: Vec<String>,
    /// The form it came from, and what was typed in it.
    form: String,
    typed: BTreeMap<String, String>,
}

fn unavailable(e: crate::store::StoreError) -> Refusal {
    Refusal::unavailable(false, "the order page could not read the order", &e)
}

fn missing() -> Refusal {
    Refusal::new(false, ErrorCode::NotFound, "There is no such order.")
}

/// An event the page offers: the studio's choice (allowed, or why not) for the events the
/// status takes.
#[derive(Debug, Serialize)]
struct EventForm {
    name: String,
    label: String,
    allowed: bool,
    why: Option<Refused>,
    fields: Vec<Field>,
    /// A shipment or a receipt: quantities per line (empty: everything still open).
    per_line: bool,
}

#[derive(Debug, Serialize)]
struct Field {
    name: String,
    kind: &'static str,
    required: bool,
}

/// `GET /orders/{key}`: an order number as written, or `id:N`.
pub(crate) async fn page(
    State(state): State<Arc<AppState>>,
    staff: Staff,
    PagePath(key): PagePath<String>,
    Query(q): Query<PageQuery>,
) -> Result<Response, Refusal> {
    staff.require(Scope::OrdersRead, false)?;
    let key = OrderKey::parse(&key).ok_or_else(missing)?;
    let done = q.done.as_deref().and_then(|d| DONE.iter().find(|(k, _)| *k == d)).map(|(_, m)| *m);
    show(&state, &staff, &key, StatusCode::OK, done, None).await
}

/// The page, with a message of what was done or a refusal.
async fn show(
    state: &Arc<AppState>,
    staff: &Staff,
    key: &OrderKey,
    status: StatusCode,
    done: Option<&str>,
    problem: Option<Problem>,
) -> Result<Response, Refusal> {
    let store = state.service.store();
    let (order, history) = store.order_with_history(key).await.map_err(unavailable)?.ok_or_else(missing)?;
    let registry = state.service.registry();
    let active = registry.get(&order.workflow);
    let workflow = active.map(|a| &*a.workflow);
    let now = state.service.now();
    let lock = order.lock_at(now).cloned();
    let events: Vec<EventForm> = match workflow {
        Some(w) => {
            let taken = crate::http::view::allowed_events(Some(w), &order.status);
            let hooks = state.service.hooks();
            let choices =
                crate::service::off_async_workers(|| simulate::choices(w, &order, now, &*hooks, &staff.name));
            choices
                .into_iter()
                .filter(|c| taken.contains(&c.name))
                .map(|c| {
                    let def = w.events.iter().find(|e| e.name == c.name);
                    let fields = def
                        .map(|e| {
                            e.fields
                                .iter()
                                .map(|f| Field {
                                    name: f.name.clone(),
                                    kind: match f.ty {
                                        Type::Bool => "bool",
                                        Type::Money | Type::Number => "number",
                                        _ => "text",
                                    },
                                    required: !f.optional,
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    EventForm {
                        label: def.and_then(|e| e.description.clone()).unwrap_or_default(),
                        name: c.name,
                        allowed: c.allowed,
                        why: c.why,
                        fields,
                        per_line: def.is_some_and(|e| {
                            matches!(
                                e.kind,
                                crate::model::EventKind::Shipment | crate::model::EventKind::Receipt
                            )
                        }),
                    }
                })
                .collect()
        }
        None => Vec::new(),
    };
    let (actions, hidden) =
        workflow.map(|w| (w.fulfillment_actions.clone(), w.hidden_actions.clone())).unwrap_or_default();
    let email_body = email_draft(&order);
    let summaries: Vec<String> = history.iter().map(|h| summary(&h.entry.kind, &h.entry.detail)).collect();
    let view = OrderView::new(order, workflow, history, now);
    // Attribute values as text (a JSON number would reach the template as serde_json's inner
    // representation, not as a number).
    let attributes: Vec<(String, String)> = view
        .attributes
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_string)))
        .collect();
    let ctx = minijinja::context! {
        staff => staff_ctx(staff),
        order => view,
        attributes => attributes,
        summaries => summaries,
        events => events,
        lock_mine => lock.as_ref().is_some_and(|l| l.holder == staff.name),
        lock_other => lock.as_ref().filter(|l| l.holder != staff.name).map(|l| l.holder.clone()),
        can_break => staff.allows(Scope::Admin),
        can_write => staff.allows(Scope::OrdersWrite),
        can_send => staff.allows(Scope::EventsWrite),
        action_names => actions,
        hidden_actions => hidden,
        email_body => email_body,
        done => done,
        problem => problem,
    };
    Ok(render::page(status, "order.html", ctx))
}

/// What a history row's detail says, in a few words (the API has the whole detail).
fn summary(kind: &str, d: &serde_json::Value) -> String {
    let text = |k: &str| d.get(k).and_then(serde_json::Value::as_str).unwrap_or_default().to_string();
    let time =
        |k: &str| text(k).get(..16).map(|t| format!("{} UTC", t.replace('T', " "))).unwrap_or_default();
    match kind {
        "assigned" => {
            let mut parts = Vec::new();
            if let Some(q) = d.get("queue") {
                parts.push(format!("queue {}", q.as_str().unwrap_or("none")));
            }
            if let Some(a) = d.get("assignee") {
                parts.push(format!(
                    "assigned to {}",
                    a.as_str().filter(|a| !a.is_empty()).unwrap_or("nobody")
                ));
            }
            parts.join(", ")
        }
        "emailed" => format!("to {}: {}", text("to"), text("subject")),
        "customer_linked" => d
            .get("customer_id")
            .and_then(serde_json::Value::as_i64)
            .map(|c| format!("customer #{c}"))
            .unwrap_or_default(),
        "locked" => format!("until {}", time("expires_at")),
        "lock_broken" => format!("{}'s lock, broken by {}", text("holder"), text("by")),
        "fulfillment_action" => {
            let extent = if d.get("complete").and_then(serde_json::Value::as_bool) == Some(false) {
                "partial"
            } else {
                "complete"
            };
            format!("{} ({extent})", text("name"))
        }
        "outbox" => format!("{} to {}", text("kind"), text("target")),
        "flag" => match (d.get("set").and_then(|v| v.as_str()), d.get("cleared").and_then(|v| v.as_str())) {
            (Some(f), _) => format!("set {f}"),
            (_, Some(f)) => format!("cleared {f}"),
            _ => String::new(),
        },
        "note" => text("note"),
        _ => String::new(),
    }
}

/// The body the email form starts with: a greeting and the tracking numbers.
fn email_draft(order: &crate::order::Order) -> String {
    let name = order.customer.first_name.trim();
    let mut body = if name.is_empty() { "Hello,\n\n".to_string() } else { format!("Hello {name},\n\n") };
    if order.shipments.is_empty() {
        body.push_str(&format!("About your order {}: \n", order.number));
    } else {
        body.push_str(&format!("Your order {} has shipped:\n", order.number));
        for s in &order.shipments {
            let link = render::tracking_url(&s.carrier, &s.tracking_number);
            body.push_str(&format!(
                "- {} {}{}\n",
                s.carrier,
                s.tracking_number,
                link.map(|l| format!(" ({l})")).unwrap_or_default()
            ));
        }
    }
    body.push_str("\nThank you.\n");
    body
}

/// Back to the order's page (by its id), saying what was done.
fn back(applied: &crate::service::Applied, done: &str) -> Response {
    Redirect::to(&format!("/orders/id:{}?done={done}", applied.order.id)).into_response()
}

/// Checks the scope and the form token of a form that changes the order.
fn allowed(staff: &Staff, scope: Scope, headers: &HeaderMap, csrf: Option<&str>) -> Result<(), Refusal> {
    staff.require(scope, false)?;
    staff.check_form_token(headers, csrf, false)
}

/// The page again, saying why `what` was refused (the status the API would answer).
async fn refused(
    state: &Arc<AppState>,
    staff: &Staff,
    key: &OrderKey,
    what: &str,
    e: ServiceError,
) -> Result<Response, Refusal> {
    refused_keeping(state, staff, key, what, e, "", BTreeMap::new()).await
}

/// [`refused`], with what the user typed in the form `form` (`email`, `event:NAME`) filled
/// back in, so nothing typed is lost.
async fn refused_keeping(
    state: &Arc<AppState>,
    staff: &Staff,
    key: &OrderKey,
    what: &str,
    e: ServiceError,
    form: &str,
    typed: BTreeMap<String, String>,
) -> Result<Response, Refusal> {
    let (code, message, reasons) = match &e {
        ServiceError::Rejected(r) => {
            let refused = Refused::from(r);
            (ApiError::from(e).code, refused.message, refused.reasons)
        }
        ServiceError::NotFound(_) => return Err(missing()),
        _ => {
            let api = ApiError::from(e);
            let message = api.message.clone();
            (api.code, message, Vec::new())
        }
    };
    let problem = Problem {
        what: what.to_string(),
        code: code.to_string(),
        message,
        reasons,
        form: form.to_string(),
        typed,
    };
    show(state, staff, key, code.status(), None, Some(problem)).await
}

fn key_of(raw: &str) -> Result<OrderKey, Refusal> {
    OrderKey::parse(raw).ok_or_else(missing)
}

/// A form's text, trimmed; empty is none.
fn text(v: &Option<String>) -> Option<String> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)
}

/// `POST /orders/{key}/event`: `event`, and `data.FIELD` for each field filled in.
pub(crate) async fn event(
    State(state): State<Arc<AppState>>,
    staff: Staff,
    headers: HeaderMap,
    PagePath(raw): PagePath<String>,
    PageForm(form): PageForm<Vec<(String, String)>>,
) -> Result<Response, Refusal> {
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    allowed(&staff, Scope::EventsWrite, &headers, get("csrf").as_deref())?;
    let key = key_of(&raw)?;
    let name = get("event").unwrap_or_default();
    let mut data = serde_json::Map::new();
    // `lines.N`: a quantity for line N of a shipment or a receipt. Every box empty means
    // everything still open; a box with 0 leaves its line out, and boxes that are all 0 are
    // refused (they must not mean "everything").
    let filled: Vec<(&str, &str)> = form
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("lines.")?, v.trim())))
        .filter(|(_, v)| !v.is_empty())
        .collect();
    if !filled.is_empty() {
        let zero = |q: &str| q.parse::<rust_decimal::Decimal>().is_ok_and(|d| d.is_zero());
        let per_line: Vec<serde_json::Value> = filled
            .iter()
            .filter(|(_, q)| !zero(q))
            .map(|(n, q)| {
                let line = n.parse::<u64>().map_or_else(|_| serde_json::json!(n), |n| serde_json::json!(n));
                serde_json::json!({ "line": line, "qty": q })
            })
            .collect();
        if per_line.is_empty() {
            let e = ServiceError::Rejected(crate::engine::Rejection::new(
                crate::engine::RejectionCode::InvalidData,
                "every quantity given is 0: give a quantity for at least one line, or leave every box empty for everything still open",
            ));
            let typed = form.iter().filter(|(k, _)| k != "csrf").cloned().collect();
            let what = format!("Event `{name}`");
            return refused_keeping(&state, &staff, &key, &what, e, &format!("event:{name}"), typed).await;
        }
        data.insert("lines".into(), serde_json::Value::Array(per_line));
    }
    for (k, v) in &form {
        let Some(field) = k.strip_prefix("data.") else { continue };
        let v = v.trim();
        if v.is_empty() {
            continue;
        }
        let value = match v {
            "true" => serde_json::Value::Bool(true),
            "false" => serde_json::Value::Bool(false),
            _ => serde_json::Value::String(v.to_string()),
        };
        data.insert(field.to_string(), value);
    }
    let input = EventInput { name: name.clone(), data, actor: Some(staff.name.clone()) };
    match state.service.apply_event(&key, &input, None).await {
        Ok(a) => Ok(back(&a, "event")),
        Err(e) => {
            let typed = form.iter().filter(|(k, _)| k != "csrf").cloned().collect();
            let what = format!("Event `{name}`");
            refused_keeping(&state, &staff, &key, &what, e, &format!("event:{name}"), typed).await
        }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct LockForm {
    #[serde(default)]
    csrf: Option<String>,
    /// `lock`, `unlock` or `break`.
    #[serde(default)]
    action: String,
}

/// `POST /orders/{key}/lock`: take it for the workflow's `lock_lease`, release it, or break it.
pub(crate) async fn lock(
    State(state): State<Arc<AppState>>,
    staff: Staff,
    headers: HeaderMap,
    PagePath(raw): PagePath<String>,
    PageForm(form): PageForm<LockForm>,
) -> Result<Response, Refusal> {
    allowed(&staff, Scope::OrdersWrite, &headers, form.csrf.as_deref())?;
    let key = key_of(&raw)?;
    let (result, done) = match form.action.as_str() {
        "lock" => {
            let lease = crate::http::locks::default_lease(&state, &key).await.map_err(|e| match e.code {
                ErrorCode::NotFound => missing(),
                _ => Refusal::new(false, e.code, e.message),
            })?;
            let ttl = chrono::Duration::seconds(i64::try_from(lease).unwrap_or(900));
            (state.service.lock(&key, &staff.name, ttl).await, "locked")
        }
        "unlock" => (state.service.unlock(&key, &staff.name).await, "unlocked"),
        "break" => {
            staff.require(Scope::Admin, false)?;
            (state.service.break_lock(&key, &staff.name).await, "broken")
        }
        other => {
            let m = format!(
                "`{}` is not lock, unlock or break",
                crate::limits::shown(other, crate::limits::MAX_SHOWN)
            );
            return Err(Refusal::new(false, ErrorCode::InvalidBody, m));
        }
    };
    match result {
        Ok(a) => Ok(back(&a, done)),
        Err(e) => refused(&state, &staff, &key, "The lock", e).await,
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct AssignForm {
    #[serde(default)]
    csrf: Option<String>,
    /// `me`, `unassign` (back to the queue) or `queue` (to the queue `queue` names).
    #[serde(default)]
    to: String,
    #[serde(default)]
    queue: Option<String>,
}

/// `POST /orders/{key}/assign`.
pub(crate) async fn assign(
    State(state): State<Arc<AppState>>,
    staff: Staff,
    headers: HeaderMap,
    PagePath(raw): PagePath<String>,
    PageForm(form): PageForm<AssignForm>,
) -> Result<Response, Refusal> {
    allowed(&staff, Scope::OrdersWrite, &headers, form.csrf.as_deref())?;
    let key = key_of(&raw)?;
    let actor = Some(staff.name.clone());
    let input = match form.to.as_str() {
        "me" => AssignInput { queue: None, assignee: Some(staff.name.clone()), actor },
        "unassign" => AssignInput { queue: None, assignee: Some(String::new()), actor },
        "queue" => {
            let Some(queue) = text(&form.queue) else {
                let e = ServiceError::Rejected(crate::engine::Rejection::new(
                    crate::engine::RejectionCode::InvalidData,
                    "name the queue to move the order to",
                ));
                return refused(&state, &staff, &key, "The assignment", e).await;
            };
            AssignInput { queue: Some(queue), assignee: Some(String::new()), actor }
        }
        other => {
            let m = format!(
                "`{}` is not me, unassign or queue",
                crate::limits::shown(other, crate::limits::MAX_SHOWN)
            );
            return Err(Refusal::new(false, ErrorCode::InvalidBody, m));
        }
    };
    match state.service.assign(&key, &input).await {
        Ok(a) => Ok(back(&a, "assigned")),
        Err(e) => refused(&state, &staff, &key, "The assignment", e).await,
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct ActionForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    name: Option<String>,
    /// `complete` or `partial`.
    #[serde(default)]
    extent: Option<String>,
    #[serde(default)]
    notify: Option<String>,
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    contact: Option<String>,
    /// `yes` or `no`: whether the customer sees it.
    #[serde(default)]
    visible: Option<String>,
}

impl ActionForm {
    /// What the form's choices say is not one of their values.
    fn problem(&self) -> Option<String> {
        match (text(&self.extent).as_deref(), text(&self.visible).as_deref()) {
            (Some(e), _) if e != "complete" && e != "partial" => Some(format!(
                "`{}` is not complete or partial",
                crate::limits::shown(e, crate::limits::MAX_SHOWN)
            )),
            (_, Some(v)) if v != "yes" && v != "no" => {
                Some(format!("`{}` is not yes or no", crate::limits::shown(v, crate::limits::MAX_SHOWN)))
            }
            _ => None,
        }
    }

    fn input(&self, actor: &str) -> FulfillmentActionInput {
        FulfillmentActionInput {
            name: text(&self.name),
            complete: text(&self.extent).map(|e| e != "partial"),
            notify: self.notify.as_deref().map(|s| s.trim().to_string()),
            note: self.note.as_deref().map(|s| s.trim().to_string()),
            contact: text(&self.contact),
            visible: text(&self.visible).map(|v| v == "yes"),
            actor: Some(actor.to_string()),
        }
    }
}

/// `POST /orders/{key}/actions`: a fulfillment action from the workflow's list.
pub(crate) async fn add_action(
    State(state): State<Arc<AppState>>,
    staff: Staff,
    headers: HeaderMap,
    PagePath(raw): PagePath<String>,
    PageForm(form): PageForm<ActionForm>,
) -> Result<Response, Refusal> {
    allowed(&staff, Scope::OrdersWrite, &headers, form.csrf.as_deref())?;
    let key = key_of(&raw)?;
    if let Some(problem) = form.problem() {
        return Err(Refusal::new(false, ErrorCode::InvalidBody, problem));
    }
    match state.service.add_fulfillment_action(&key, &form.input(&staff.name)).await {
        Ok(a) => Ok(back(&a, "action")),
        Err(e) => refused(&state, &staff, &key, "The fulfillment action", e).await,
    }
}

/// `POST /orders/{key}/actions/{n}`: changes fulfillment action `n`.
pub(crate) async fn edit_action(
    State(state): State<Arc<AppState>>,
    staff: Staff,
    headers: HeaderMap,
    PagePath((raw, n)): PagePath<(String, u32)>,
    PageForm(form): PageForm<ActionForm>,
) -> Result<Response, Refusal> {
    allowed(&staff, Scope::OrdersWrite, &headers, form.csrf.as_deref())?;
    let key = key_of(&raw)?;
    if let Some(problem) = form.problem() {
        return Err(Refusal::new(false, ErrorCode::InvalidBody, problem));
    }
    match state.service.edit_fulfillment_action(&key, n, &form.input(&staff.name)).await {
        Ok(a) => Ok(back(&a, "action")),
        Err(e) => refused(&state, &staff, &key, &format!("Fulfillment action {n}"), e).await,
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct EmailForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    to: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    body: String,
}

/// `POST /orders/{key}/email`: a free-form email, through the outbox.
pub(crate) async fn email(
    State(state): State<Arc<AppState>>,
    staff: Staff,
    headers: HeaderMap,
    PagePath(raw): PagePath<String>,
    PageForm(form): PageForm<EmailForm>,
) -> Result<Response, Refusal> {
    allowed(&staff, Scope::OrdersWrite, &headers, form.csrf.as_deref())?;
    let key = key_of(&raw)?;
    let input =
        EmailInput { to: form.to, subject: form.subject, body: form.body, actor: Some(staff.name.clone()) };
    match state.service.email(&key, &input).await {
        Ok(a) => Ok(back(&a, "emailed")),
        Err(e) => {
            let typed = BTreeMap::from([
                ("to".to_string(), input.to),
                ("subject".to_string(), input.subject),
                ("body".to_string(), input.body),
            ]);
            refused_keeping(&state, &staff, &key, "The email", e, "email", typed).await
        }
    }
}
