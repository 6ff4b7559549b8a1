//! The console's customer book (AIMsi's Find Cust and Create Cust): `/customers` searches by
//! email, name, company or postal code; opened from an order (`?order=`), each customer found
//! can be linked to it. `/customers/{id}` shows a customer with their orders, and merges a
//! possible duplicate into them. `/customers/new` creates one, and links the order it was
//! opened from. Reads need `orders:read`, changes `orders:write`; each goes through the same
//! service calls as `/v1/customers`, with the staff member as the actor.

use super::extract::{PageForm, PagePath};
use super::render;
use super::session::{Refusal, Staff};
use super::studio::staff_ctx;
use crate::config::Scope;
use crate::http::error::{ApiError, ErrorCode};
use crate::http::AppState;
use crate::service::{NewCustomer, ServiceError};
use crate::store::OrderKey;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::sync::Arc;

fn refusal(e: ServiceError) -> Refusal {
    let api = ApiError::from(e);
    let mut message = api.message.clone();
    if let Some(problems) = api.details.get("problems").and_then(|p| p.as_array()) {
        let list: Vec<String> = problems
            .iter()
            .filter_map(|p| Some(format!("{} {}", p.get("field")?.as_str()?, p.get("problem")?.as_str()?)))
            .collect();
        if !list.is_empty() {
            message = format!("{message}: {}", list.join("; "));
        }
    }
    Refusal::new(false, api.code, message)
}

/// The order a customer page was opened from (`id:N` or a number), checked to exist.
async fn order_of(state: &AppState, raw: Option<&str>) -> Result<Option<crate::order::Order>, Refusal> {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else { return Ok(None) };
    let missing = || Refusal::new(false, ErrorCode::NotFound, "There is no such order.");
    let key = OrderKey::parse(raw).ok_or_else(missing)?;
    state.service.order(&key).await.map(Some).map_err(|e| match e {
        ServiceError::NotFound(_) => missing(),
        other => refusal(other),
    })
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct SearchQuery {
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    order: Option<String>,
}

/// `GET /customers[?q=&order=]`.
pub(crate) async fn search(
    State(state): State<Arc<AppState>>,
    staff: Staff,
    Query(query): Query<SearchQuery>,
) -> Result<Response, Refusal> {
    staff.require(Scope::OrdersRead, false)?;
    let order = order_of(&state, query.order.as_deref()).await?;
    // Opened from an order without a query: look for its customer's email.
    let q = match (query.q.as_deref().map(str::trim), &order) {
        (Some(q), _) => q.to_string(),
        (None, Some(o)) => o.customer.email.clone(),
        (None, None) => String::new(),
    };
    let found = if q.is_empty() {
        Vec::new()
    } else {
        state.service.search_customers(&q, 50).await.map_err(refusal)?
    };
    let ctx = minijinja::context! {
        staff => staff_ctx(&staff),
        q => q,
        searched => !q.is_empty(),
        customers => found,
        order => order.as_ref().map(|o| minijinja::context! {
            id => o.id, number => o.number, customer_id => o.customer.id,
            email => o.customer.email, name => format!("{} {}", o.customer.first_name, o.customer.last_name).trim().to_string(),
        }),
        can_write => staff.allows(Scope::OrdersWrite),
    };
    Ok(render::page(StatusCode::OK, "customers.html", ctx))
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct LinkForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    order: String,
    #[serde(default)]
    customer: i64,
}

/// `POST /customers/link`: links the order to the customer.
pub(crate) async fn link(
    State(state): State<Arc<AppState>>,
    staff: Staff,
    headers: HeaderMap,
    PageForm(form): PageForm<LinkForm>,
) -> Result<Response, Refusal> {
    staff.require(Scope::OrdersWrite, false)?;
    staff.check_form_token(&headers, form.csrf.as_deref(), false)?;
    let order = order_of(&state, Some(&form.order))
        .await?
        .ok_or_else(|| Refusal::new(false, ErrorCode::NotFound, "There is no such order."))?;
    let applied =
        state.service.link_customer(order.id, form.customer, Some(&staff.name)).await.map_err(refusal)?;
    Ok(Redirect::to(&format!("/orders/id:{}?done=linked", applied.order.id)).into_response())
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct DetailQuery {
    #[serde(default)]
    done: Option<String>,
}

/// `GET /customers/{id}`: a customer with their orders.
pub(crate) async fn detail(
    State(state): State<Arc<AppState>>,
    staff: Staff,
    PagePath(id): PagePath<i64>,
    Query(q): Query<DetailQuery>,
) -> Result<Response, Refusal> {
    staff.require(Scope::OrdersRead, false)?;
    let detail = state.service.customer(id).await.map_err(refusal)?;
    // Customers that look like this one (same email, or same name): candidates to merge.
    let c = &detail.customer;
    let probe =
        if c.email.trim().is_empty() { format!("{} {}", c.first_name, c.last_name) } else { c.email.clone() };
    let mut alike = state.service.search_customers(probe.trim(), 20).await.unwrap_or_default();
    alike.retain(|o| o.id != id);
    let ctx = minijinja::context! {
        staff => staff_ctx(&staff),
        customer => detail.customer,
        orders => detail.orders,
        alike => alike,
        merged => q.done.as_deref() == Some("merged"),
        created => q.done.as_deref() == Some("created"),
        can_write => staff.allows(Scope::OrdersWrite),
    };
    Ok(render::page(StatusCode::OK, "customer.html", ctx))
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct MergeForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    from: i64,
}

/// `POST /customers/{id}/merge`: moves every order of `from` to this customer.
pub(crate) async fn merge(
    State(state): State<Arc<AppState>>,
    staff: Staff,
    headers: HeaderMap,
    PagePath(id): PagePath<i64>,
    PageForm(form): PageForm<MergeForm>,
) -> Result<Response, Refusal> {
    staff.require(Scope::OrdersWrite, false)?;
    staff.check_form_token(&headers, form.csrf.as_deref(), false)?;
    state.service.merge_customers(id, form.from, Some(&staff.name)).await.map_err(refusal)?;
    Ok(Redirect::to(&format!("/customers/{id}?done=merged")).into_response())
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct NewQuery {
    #[serde(default)]
    order: Option<String>,
}

/// `GET /customers/new[?order=]`: the form, filled from the order it was opened from.
pub(crate) async fn new_form(
    State(state): State<Arc<AppState>>,
    staff: Staff,
    Query(q): Query<NewQuery>,
) -> Result<Response, Refusal> {
    staff.require(Scope::OrdersWrite, false)?;
    let order = order_of(&state, q.order.as_deref()).await?;
    let ctx = minijinja::context! {
        staff => staff_ctx(&staff),
        order => order.as_ref().map(|o| minijinja::context! { id => o.id, number => o.number }),
        values => order.as_ref().map(|o| minijinja::context! {
            email => o.customer.email, first_name => o.customer.first_name, last_name => o.customer.last_name,
            company => o.customer.company, phone => o.customer.phone,
            zip => if o.billing.zip.is_empty() { o.shipping.zip.clone() } else { o.billing.zip.clone() },
        }),
    };
    Ok(render::page(StatusCode::OK, "customer_new.html", ctx))
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct NewForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    order: Option<String>,
    #[serde(default)]
    email: String,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    company: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    zip: String,
}

/// `POST /customers/new`: creates the customer; opened from an order, links it too.
pub(crate) async fn create(
    State(state): State<Arc<AppState>>,
    staff: Staff,
    headers: HeaderMap,
    PageForm(form): PageForm<NewForm>,
) -> Result<Response, Refusal> {
    staff.require(Scope::OrdersWrite, false)?;
    staff.check_form_token(&headers, form.csrf.as_deref(), false)?;
    let order = order_of(&state, form.order.as_deref()).await?;
    // Another holder's lock refuses the link: then nothing is created either.
    if let Some(lock) = order
        .as_ref()
        .and_then(|o| o.lock_at(state.service.now()).filter(|l| l.holder != staff.name).map(|l| (o, l)))
    {
        return Err(refusal(ServiceError::Rejected(crate::engine::locked_rejection(lock.0, lock.1))));
    }
    let input = NewCustomer {
        email: form.email.trim().to_string(),
        first_name: form.first_name.trim().to_string(),
        last_name: form.last_name.trim().to_string(),
        company: form.company.trim().to_string(),
        phone: form.phone.trim().to_string(),
        zip: form.zip.trim().to_string(),
    };
    let created = state.service.create_customer(&input).await.map_err(refusal)?;
    match order {
        Some(o) => {
            let applied =
                state.service.link_customer(o.id, created.id, Some(&staff.name)).await.map_err(refusal)?;
            Ok(Redirect::to(&format!("/orders/id:{}?done=linked", applied.order.id)).into_response())
        }
        None => Ok(Redirect::to(&format!("/customers/{}?done=created", created.id)).into_response()),
    }
}
