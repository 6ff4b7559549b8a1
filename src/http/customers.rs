//! Customers (issue 14: the console's Find Cust and Create Cust, from AIMsi's Import E-Commerce
//! Orders screen): `GET /v1/customers` (search), `GET /v1/customers/{id}` (one, with its
//! orders), `POST /v1/customers` (create), `POST /v1/orders/{id}/customer` (link an order to a
//! customer, clearing `possible_duplicate`) and `POST /v1/customers/{id}/merge` (merge another
//! customer into this one). Reads need `orders:read`, changes `orders:write`, as for orders:
//! customers are what orders are placed by. The work is the service's (`service/customers.rs`).

use super::auth::{scope, Authorized};
use super::error::{ApiError, Body, ErrorCode, PathArgs, QueryArgs};
use super::orders::view_of_applied;
use super::view::OrderView;
use super::{trace_order, AppState};
use crate::engine::Problem;
use crate::limits;
use crate::service::{query_problem, Merged, NewCustomer, DEFAULT_SEARCH_LIMIT, MAX_SEARCH_LIMIT};
use crate::store::{CustomerDetail, CustomerSummary};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// What to search for.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct SearchParams {
    /// Text the email, the name (first, last, or both), or the company contains, or the postal
    /// code starts with; compared trimmed and lowercased (postal codes without spaces), `%` and
    /// `_` as plain characters. Empty or absent: the newest customers.
    #[param(max_length = 200)]
    q: Option<String>,
    /// How many customers at most, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
}

/// Customers found.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct CustomerList {
    /// Those whose email is the query first, then the newest.
    customers: Vec<CustomerSummary>,
}

/// Finds customers (Find Cust).
#[utoipa::path(
    get, path = "/v1/customers", tag = "customers", operation_id = "search_customers",
    params(SearchParams),
    responses(
        (status = 200, description = "The customers found, each with how many orders it has", body = CustomerList),
        (status = 400, description = "`bad_query`: `q` over 200 characters, `limit` out of range, an unknown parameter", body = super::error::ErrorBody),
        (status = 403, description = "`forbidden`: the token lacks `orders:read`", body = super::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(super) async fn search(
    State(state): State<Arc<AppState>>,
    _: Authorized<scope::OrdersRead>,
    QueryArgs(p): QueryArgs<SearchParams>,
) -> Result<Json<CustomerList>, ApiError> {
    let bad = |m: String| ApiError::new(ErrorCode::BadQuery, m);
    let limit = p.limit.unwrap_or(DEFAULT_SEARCH_LIMIT);
    if !(1..=MAX_SEARCH_LIMIT).contains(&limit) {
        return Err(bad(format!("`limit` must be between 1 and {MAX_SEARCH_LIMIT}, not {limit}")));
    }
    let q = p.q.unwrap_or_default();
    if let Some(problem) = query_problem(&q) {
        return Err(bad(format!("`q` {problem}")));
    }
    let customers = state.service.search_customers(&q, limit).await?;
    Ok(Json(CustomerList { customers }))
}

/// A customer with its orders.
#[utoipa::path(
    get, path = "/v1/customers/{id}", tag = "customers", operation_id = "get_customer",
    params(("id" = i64, Path, description = "The customer's id")),
    responses(
        (status = 200, description = "The customer, with its newest 100 orders (`customer.orders` counts them all); a customer merged into another has `merged_into`", body = CustomerDetail),
        (status = 404, description = "`customer_not_found`: no customer has this id", body = super::error::ErrorBody),
        (status = 403, description = "`forbidden`: the token lacks `orders:read`", body = super::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(super) async fn get(
    State(state): State<Arc<AppState>>,
    _: Authorized<scope::OrdersRead>,
    PathArgs(id): PathArgs<i64>,
) -> Result<Json<CustomerDetail>, ApiError> {
    Ok(Json(state.service.customer(id).await?))
}

/// Creates a customer (Create Cust).
///
/// The first customer with an email claims it: orders with that email are matched to it.
#[utoipa::path(
    post, path = "/v1/customers", tag = "customers", operation_id = "create_customer",
    request_body(content = NewCustomer, example = json!({
        "email": "gina@example.com", "first_name": "Gina", "last_name": "Ortiz",
        "company": "Valley Youth Band", "phone": "555-0100", "zip": "12207"
    })),
    responses(
        (status = 201, description = "Created", body = CustomerSummary, links(
            ("get_customer" = (operation_id = "get_customer", parameters(("id" = "$response.body#/id")))),
        )),
        (status = 422, description = "`invalid_data`: a field over its length or with control characters, an email that is no address, neither email nor phone, neither a name nor a company (`problems` names each field); `invalid_body`", body = super::error::ErrorBody),
        (status = 403, description = "`forbidden`: the token lacks `orders:write`", body = super::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(super) async fn create(
    State(state): State<Arc<AppState>>,
    _: Authorized<scope::OrdersWrite>,
    Body(input): Body<NewCustomer>,
) -> Result<(StatusCode, Json<CustomerSummary>), ApiError> {
    let created = state.service.create_customer(&input).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// The customer to link an order to.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct LinkRequest {
    /// The customer's id.
    customer_id: i64,
    /// Who links it (a lock holder passes their lock); the token's name by default.
    #[serde(default)]
    #[schema(max_length = 200)]
    actor: Option<String>,
}

/// Refuses an `actor` longer than the service keeps, before anything is read.
fn bounded_actor(actor: Option<&str>) -> Result<(), ApiError> {
    match actor.and_then(|a| limits::text_problem(a, limits::MAX_NAME)) {
        None => Ok(()),
        Some(problem) => {
            Err(ApiError::new(ErrorCode::InvalidBody, "`actor` is longer than the service keeps")
                .with_problems(vec![Problem { field: "actor".into(), problem }]))
        }
    }
}

/// Links an order to an existing customer (Find Cust).
///
/// The order's customer becomes that one and its `possible_duplicate` flag is cleared; the
/// history records a `customer_linked` row (`customer_id`, `previous`) with the actor.
/// Automatic transitions that waited on the flag then run.
#[utoipa::path(
    post, path = "/v1/orders/{id}/customer", tag = "customers", operation_id = "link_customer",
    params(("id" = String, Path, description = "The order's number, exactly as it was given; or its id written `id:` and digits (`id:42`)")),
    request_body(content = LinkRequest, example = json!({"customer_id": 17, "actor": "alice"})),
    responses(
        (status = 200, description = "Linked; the order with its whole history", body = OrderView),
        (status = 404, description = "`not_found`: no such order", body = super::error::ErrorBody),
        (status = 422, description = "`invalid_data`: no customer has `customer_id`, or it was merged into another (the message names it); `workflow_unavailable`, `hook_failed`, `unknown_status`, `invalid_body` (JSON that does not fit; `actor` over 200 characters)", body = super::error::ErrorBody),
        (status = 409, description = "`no_transition`, `automatic_loop`: automatic transitions after the link refused", body = super::error::ErrorBody),
        (status = 423, description = "`locked`: another actor holds the order's lock", body = super::error::ErrorBody),
        (status = 403, description = "`forbidden`: the token lacks `orders:write`, or may not act for `actor`", body = super::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(super) async fn link(
    State(state): State<Arc<AppState>>,
    Authorized(caller, _): Authorized<scope::OrdersWrite>,
    PathArgs(id): PathArgs<String>,
    Body(req): Body<LinkRequest>,
) -> Result<Json<OrderView>, ApiError> {
    trace_order(&id, None);
    let key = super::order_key(&id)?;
    bounded_actor(req.actor.as_deref())?;
    let actor = caller.actor(req.actor)?;
    let applied = state.service.link_customer(&key, req.customer_id, actor.as_deref()).await?;
    Ok(Json(view_of_applied(&state, applied)))
}

/// The customer to merge into this one.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct MergeRequest {
    /// The other customer's id: its orders move to this one, and it is marked merged into it.
    from: i64,
    /// Who merges them (recorded in each moved order's history); the token's name by default.
    #[serde(default)]
    #[schema(max_length = 200)]
    actor: Option<String>,
}

/// Merges another customer into this one (the `possible_duplicate` workflow: the two are the
/// same person).
///
/// Every order of `from` is linked to this customer as `POST /v1/orders/{id}/customer` links
/// one (each order's history records it, its `possible_duplicate` flag clears); then `from` is
/// marked merged into this one (`merged_into`: `GET /v1/customers/{from}` still answers, search
/// and matching skip it) and its email claims pass to this customer, which orders with those
/// emails are matched to from then on. A merge done already is answered again, moving nothing.
/// An order another holder has locked stops the merge there (423): the orders before it are
/// moved and `from` stays as it is; the same request sent again finishes it.
#[utoipa::path(
    post, path = "/v1/customers/{id}/merge", tag = "customers", operation_id = "merge_customers",
    params(("id" = i64, Path, description = "The id of the customer kept")),
    request_body(content = MergeRequest, example = json!({"from": 18, "actor": "alice"})),
    responses(
        (status = 200, description = "Merged: the orders moved; `from` is marked merged into this customer", body = Merged),
        (status = 404, description = "`customer_not_found`: no customer has the id in the path", body = super::error::ErrorBody),
        (status = 409, description = "`no_transition`, `automatic_loop`: an order's automatic transitions after its link refused; the orders before it are moved", body = super::error::ErrorBody),
        (status = 423, description = "`locked`: another actor holds the lock of one of `from`'s orders; the orders before it are moved", body = super::error::ErrorBody),
        (status = 422, description = "`invalid_data`: no customer has `from`, `from` is this customer, this customer was merged into another, or `from` was merged into another; `workflow_unavailable`, `hook_failed`, `unknown_status` (an order's); `invalid_body` (JSON that does not fit; `actor` over 200 characters)", body = super::error::ErrorBody),
        (status = 403, description = "`forbidden`: the token lacks `orders:write`, or may not act for `actor`", body = super::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(super) async fn merge(
    State(state): State<Arc<AppState>>,
    Authorized(caller, _): Authorized<scope::OrdersWrite>,
    PathArgs(id): PathArgs<i64>,
    Body(req): Body<MergeRequest>,
) -> Result<Json<Merged>, ApiError> {
    bounded_actor(req.actor.as_deref())?;
    let actor = caller.actor(req.actor)?;
    Ok(Json(state.service.merge_customers(id, req.from, actor.as_deref()).await?))
}
