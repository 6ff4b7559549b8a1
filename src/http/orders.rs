//! Orders: `POST /v1/orders` (create from a channel), `GET /v1/orders/{id}` (the order view)
//! and `GET /v1/orders` (the grid, filtered and paged by cursor).

use super::auth::Caller;
use super::error::{ApiError, Body, PathArgs, QueryArgs};
use super::view::OrderView;
use super::{trace_order, AppState};
use crate::config::Scope;
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

/// Creates an order from a channel.
///
/// The channel's rules pick the initial status from the mode and the payment's method and
/// outcome. The same `channel` and `external_id` again returns the first order (200).
#[utoipa::path(
    post, path = "/v1/orders", tag = "orders",
    request_body = NewOrder,
    responses(
        (status = 201, description = "Created", body = OrderView),
        (status = 200, description = "This channel sent this `external_id` before: the first order", body = OrderView),
        (status = 422, description = "Missing or invalid fields, each listed in `problems`; an unknown channel; a channel rule that refuses the order", body = super::error::ErrorBody),
        (status = 401, description = "No valid token", body = super::error::ErrorBody),
        (status = 403, description = "The token lacks `orders:write`", body = super::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(super) async fn create(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Body(mut input): Body<NewOrder>,
) -> Result<(StatusCode, Json<OrderView>), ApiError> {
    caller.require(Scope::OrdersWrite)?;
    if input.actor.is_none() {
        input.actor = caller.name().map(str::to_string);
    }
    let created = state.service.create_order(&input).await?;
    trace_order(&created.order.number, None);
    let status = if created.created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(view_of(&state, created.order).await?)))
}

/// The order view: status (code, label, phase), lines, customer, payment, flags, attributes,
/// shipments, fulfillment actions, history, lock and the events it accepts now.
#[utoipa::path(
    get, path = "/v1/orders/{id}", tag = "orders",
    params(("id" = String, Path, description = "The order's id or number")),
    responses(
        (status = 200, description = "The order", body = OrderView),
        (status = 404, description = "No order has this id or number", body = super::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(super) async fn get(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    PathArgs(id): PathArgs<String>,
) -> Result<Json<OrderView>, ApiError> {
    caller.require(Scope::OrdersRead)?;
    trace_order(&id, None);
    let order = state.service.store().find_order(&id).await?.ok_or_else(|| ApiError::no_order(&id))?;
    Ok(Json(view_of(&state, order).await?))
}

/// Filters and paging of the order grid.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct GridParams {
    /// Status codes, comma-separated.
    status: Option<String>,
    /// A phase code: orders in any status of that phase.
    phase: Option<String>,
    /// A channel code.
    channel: Option<String>,
    /// A flag that must be set.
    flag: Option<String>,
    /// `true`: only orders whose lock is held; `false`: only free ones.
    locked: Option<bool>,
    /// Who they are assigned to.
    assignee: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Rows per page, 1 to 500 (default 50).
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

/// The order grid: newest first, filtered by status, phase, channel, flag, lock and assignee,
/// paged by cursor.
#[utoipa::path(
    get, path = "/v1/orders", tag = "orders",
    params(GridParams),
    responses(
        (status = 200, description = "A page of orders", body = GridAnswer),
        (status = 400, description = "A bad filter: an unknown phase, a cursor that is not one, a limit out of range", body = super::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(super) async fn grid(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    QueryArgs(p): QueryArgs<GridParams>,
) -> Result<Json<GridAnswer>, ApiError> {
    caller.require(Scope::OrdersRead)?;
    let (limit, before) = super::paging(p.limit, p.cursor.as_deref())?;
    let workflow_statuses = match p.phase.as_deref() {
        None => None,
        Some(phase) => Some(phase_statuses(&state, phase)?),
    };
    let split = |s: &Option<String>| -> Vec<String> {
        s.as_deref()
            .map(|v| v.split(',').map(str::trim).filter(|x| !x.is_empty()).map(str::to_string).collect())
            .unwrap_or_default()
    };
    let query = GridQuery {
        statuses: split(&p.status),
        workflow_statuses,
        channel: p.channel,
        flag: p.flag,
        locked: p.locked,
        assignee: p.assignee,
        before,
        limit,
    };
    let page = state.service.store().grid(&query, state.service.now()).await?;
    Ok(Json(GridAnswer { orders: page.rows, next_cursor: page.next.map(|n| n.to_string()) }))
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
                pairs.extend(p.statuses.iter().map(|s| (w.name.clone(), w.statuses[*s].code.clone())));
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
            StatusCode::BAD_REQUEST,
            "bad_query",
            format!("no active workflow has a phase `{phase}`{hint}"),
        ));
    }
    Ok(pairs)
}
