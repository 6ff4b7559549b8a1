//! Orders: `POST /v1/orders` (create from a channel), `GET /v1/orders/{id}` (the order view)
//! and `GET /v1/orders` (the grid, filtered and paged by cursor).

use super::auth::{scope, Authorized};
use super::error::{ApiError, Body, ErrorCode, PathArgs, QueryArgs};
use super::view::OrderView;
use super::{trace_order, AppState};
use crate::engine::NewOrder;
use crate::order::Order;
use crate::store::{GridQuery, GridRow};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The view of a stored order, with its history, under its workflow if active.
pub(super) async fn view_of(state: &AppState, order: Order) -> Result<OrderView, ApiError> {
    let registry = state.service.registry();
    let history = state.service.store().history(order.id).await?;
    let workflow = registry.get(&order.workflow).map(|a| &*a.workflow);
    Ok(OrderView::new(order, workflow, history, state.service.now()))
}

/// The view of a change's answer, from what the change committed (nothing read after it), at
/// the time it was applied (so a replay shows what the first answer showed).
pub(super) fn view_of_applied(state: &AppState, applied: crate::service::Applied) -> OrderView {
    let registry = state.service.registry();
    let workflow = registry.get(&applied.order.workflow).map(|a| &*a.workflow);
    let at = applied.at.unwrap_or_else(|| state.service.now());
    OrderView::new(applied.order, workflow, applied.history, at)
}

/// Creates an order from a channel.
///
/// The channel's rules pick the initial status from the mode and the payment's method and
/// outcome. The same `channel` and `external_id` again returns the first order (200).
#[utoipa::path(
    post, path = "/v1/orders", tag = "orders", operation_id = "create_order",
    request_body(content = NewOrder, example = json!({
        "channel": "website",
        "customer": {"email": "ann@example.com", "first_name": "Ann", "last_name": "Lee"},
        "shipping_address": {"first_name": "Ann", "last_name": "Lee", "address": "12 Elm St", "city": "Albany", "state": "NY", "zip": "12207"},
        "payment": {"method": "check", "outcome": "pending"},
        "lines": [{"sku": "GTR-1", "description": "Acoustic guitar", "qty": 1, "unit_price": "499.00", "in_stock": true}]
    })),
    responses(
        (status = 201, description = "Created", body = OrderView, links(
            ("get_order" = (operation_id = "get_order", parameters(("id" = "$response.body#/number")))),
            ("post_event" = (operation_id = "post_event", parameters(("id" = "$response.body#/number")))),
            ("lock_order" = (operation_id = "lock_order", parameters(("id" = "$response.body#/number")))),
            ("unlock_order" = (operation_id = "unlock_order", parameters(("id" = "$response.body#/number")))),
            ("add_fulfillment_action" = (operation_id = "add_fulfillment_action", parameters(("id" = "$response.body#/number")))),
            ("track_order" = (operation_id = "track_order", parameters(("number" = "$response.body#/number"), ("email" = "$response.body#/customer/email")))),
        )),
        (status = 200, description = "This channel sent this `external_id` before: the first order", body = OrderView),
        (status = 409, description = "`duplicate`: an order with this `number` exists", body = super::error::ErrorBody),
        (status = 422, description = "`invalid_order` (every missing or invalid field in `problems`), `unknown_channel`, `refused` (a channel rule refuses the order), `hook_failed`, `invalid_body`", body = super::error::ErrorBody),
        (status = 403, description = "`forbidden`: the token lacks `orders:write`", body = super::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(super) async fn create(
    State(state): State<Arc<AppState>>,
    Authorized(caller, _): Authorized<scope::OrdersWrite>,
    Body(mut input): Body<NewOrder>,
) -> Result<(StatusCode, Json<OrderView>), ApiError> {
    input.actor = caller.actor(input.actor.take())?;
    let created = state.service.create_order(&input).await?;
    trace_order(&created.order.number, None);
    let status = if created.created { StatusCode::CREATED } else { StatusCode::OK };
    if !created.created {
        return Ok((status, Json(view_of(&state, created.order).await?)));
    }
    // The new order's answer is what its transaction wrote: nothing is read after the commit.
    let registry = state.service.registry();
    let workflow = registry.get(&created.order.workflow).map(|a| &*a.workflow);
    Ok((status, Json(OrderView::new(created.order, workflow, created.history, state.service.now()))))
}

/// The order view: status (code, label, phase), lines, customer, payment, flags, attributes,
/// shipments, fulfillment actions, history, lock and the events it accepts now.
#[utoipa::path(
    get, path = "/v1/orders/{id}", tag = "orders", operation_id = "get_order",
    params(("id" = String, Path, description = "The order's number, exactly as it was given; or its id written `id:` and digits (`id:42`)")),
    responses(
        (status = 200, description = "The order", body = OrderView),
        (status = 404, description = "`not_found`: no order has this number (or id)", body = super::error::ErrorBody),
        (status = 403, description = "`forbidden`: the token lacks `orders:read`", body = super::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(super) async fn get(
    State(state): State<Arc<AppState>>,
    _: Authorized<scope::OrdersRead>,
    PathArgs(id): PathArgs<String>,
) -> Result<Json<OrderView>, ApiError> {
    trace_order(&id, None);
    let key = super::order_key(&id)?;
    let (order, history) =
        state.service.store().order_with_history(&key).await?.ok_or_else(|| ApiError::no_order(&key))?;
    let registry = state.service.registry();
    let workflow = registry.get(&order.workflow).map(|a| &*a.workflow);
    Ok(Json(OrderView::new(order, workflow, history, state.service.now())))
}

/// Filters and paging of the order grid.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct GridParams {
    /// Status codes, comma-separated: orders in any of them. A code no active workflow has is
    /// refused (400, with a did-you-mean).
    status: Option<String>,
    /// A phase code: orders in any status of that phase (empty: any). A phase no active
    /// workflow has is refused (400, with a did-you-mean).
    phase: Option<String>,
    /// A channel code (empty: any).
    channel: Option<String>,
    /// A flag that must be set (empty: any).
    flag: Option<String>,
    /// `true`: only orders whose lock is held; `false`: only free ones.
    locked: Option<bool>,
    /// Who they are assigned to (empty: anyone).
    assignee: Option<String>,
    /// A staff queue they are in (empty: any).
    queue: Option<String>,
    /// Orders whose number starts with this, or whose customer's email, name or company
    /// contains it, in any case (empty: all).
    #[param(max_length = 200)]
    q: Option<String>,
    /// The `next_cursor` of the previous page (empty: the first page).
    #[param(pattern = r"^([1-9][0-9]{0,17})?$")]
    cursor: Option<String>,
    /// Rows per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

/// A page of the order grid.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct GridAnswer {
    /// Orders, newest first.
    orders: Vec<GridRow>,
    /// Pass as `cursor` for the next page; absent on the last page.
    next_cursor: Option<String>,
}

/// The order grid: newest first, filtered by status, phase, channel, flag, lock, queue and
/// assignee, or searched by number, email, name or company; paged by cursor.
#[utoipa::path(
    get, path = "/v1/orders", tag = "orders", operation_id = "list_orders",
    params(GridParams),
    responses(
        (status = 200, description = "A page of orders", body = GridAnswer),
        (status = 400, description = "`bad_query`: an unknown status or phase (with a did-you-mean), a cursor that is not one, a limit out of range, an unknown parameter", body = super::error::ErrorBody),
        (status = 403, description = "`forbidden`: the token lacks `orders:read`", body = super::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(super) async fn grid(
    State(state): State<Arc<AppState>>,
    _: Authorized<scope::OrdersRead>,
    QueryArgs(p): QueryArgs<GridParams>,
) -> Result<Json<GridAnswer>, ApiError> {
    let (limit, before) = super::paging(p.limit, p.cursor.as_deref())?;
    // An empty filter (`phase=` from a form) filters nothing.
    let given = |v: Option<String>| v.filter(|v| !v.trim().is_empty());
    let workflow_statuses = match given(p.phase.clone()).as_deref() {
        None => None,
        Some(phase) => Some(phase_statuses(&state, phase)?),
    };
    let statuses: Vec<String> = p
        .status
        .as_deref()
        .map(|v| v.split(',').map(str::trim).filter(|x| !x.is_empty()).map(str::to_string).collect())
        .unwrap_or_default();
    known_statuses(&state, &statuses)?;
    let query = GridQuery {
        statuses,
        workflow_statuses,
        channel: given(p.channel),
        flag: given(p.flag),
        locked: p.locked,
        assignee: given(p.assignee),
        queue: given(p.queue),
        search: given(p.q),
        before,
        limit,
        ..GridQuery::default()
    };
    if query.search.as_ref().is_some_and(|q| q.chars().count() > 200) {
        return Err(ApiError::new(ErrorCode::BadQuery, "`q` is longer than 200 characters"));
    }
    let page = state.service.store().grid(&query, state.service.now()).await?;
    Ok(Json(GridAnswer { orders: page.rows, next_cursor: page.next.map(|n| n.to_string()) }))
}

/// Refuses a status code no active workflow has, as an unknown phase is refused: a typo would
/// otherwise look like an empty grid.
fn known_statuses(state: &AppState, statuses: &[String]) -> Result<(), ApiError> {
    if statuses.is_empty() {
        return Ok(());
    }
    let registry = state.service.registry();
    let mut known: Vec<&str> =
        registry.all().flat_map(|a| a.workflow.statuses.iter().map(|s| s.code.as_str())).collect();
    known.sort_unstable();
    known.dedup();
    match statuses.iter().find(|s| known.binary_search(&s.as_str()).is_err()) {
        None => Ok(()),
        Some(unknown) => {
            let hint = crate::diagnostics::did_you_mean(unknown, known.iter().copied())
                .map(|m| format!("; did you mean `{m}`?"))
                .unwrap_or_default();
            Err(ApiError::new(
                ErrorCode::BadQuery,
                format!("no active workflow has a status `{unknown}`{hint}"),
            ))
        }
    }
}

/// The (workflow, status) pairs of a phase across the active workflows.
fn phase_statuses(state: &AppState, phase: &str) -> Result<Vec<(String, String)>, ApiError> {
    let registry = state.service.registry();
    let mut pairs = Vec::new();
    let mut known = Vec::new();
    for active in registry.all() {
        let w = &active.workflow;
        for p in &w.phases {
            known.push(p.code.clone());
            if p.code == phase {
                let statuses = p.statuses.iter().filter_map(|s| w.statuses.get(*s));
                pairs.extend(statuses.map(|s| (w.name.clone(), s.code.clone())));
            }
        }
    }
    if pairs.is_empty() && !known.iter().any(|k| k == phase) {
        known.sort();
        known.dedup();
        let hint = crate::diagnostics::did_you_mean(phase, known.iter().map(String::as_str))
            .map(|m| format!("; did you mean `{m}`?"))
            .unwrap_or_else(|| format!(" (phases: {})", known.join(", ")));
        return Err(ApiError::new(
            ErrorCode::BadQuery,
            format!("no active workflow has a phase `{phase}`{hint}"),
        ));
    }
    Ok(pairs)
}
