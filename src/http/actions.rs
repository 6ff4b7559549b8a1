//! `POST /v1/orders/{id}/fulfillment-actions` and `PATCH .../{n}`: the fulfillment actions staff
//! record on an order (SalesCart's "Drop-Ship Email Sent", "Called Customer", ...), with the
//! before and after of every change kept in the history.

use super::auth::{scope, Authorized};
use super::error::{ApiError, Body, PathArgs};
use super::orders::view_of_applied;
use super::view::OrderView;
use super::{trace_order, AppState};
use crate::engine::FulfillmentActionInput;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use std::sync::Arc;

/// Records a fulfillment action on an order.
#[utoipa::path(
    post, path = "/v1/orders/{id}/fulfillment-actions", tag = "fulfillment", operation_id = "add_fulfillment_action",
    params(("id" = String, Path, description = "The order's number, exactly as it was given; or its id written `id:` and digits (`id:42`)")),
    request_body(content = FulfillmentActionInput, example = json!({"name": "Customer emailed", "note": "asked about delivery", "complete": true})),
    responses(
        (status = 201, description = "Recorded; the order with it", body = OrderView),
        (status = 422, description = "`unknown_action` (not in the workflow's list), `invalid_data` (no `name`), `workflow_unavailable`, `invalid_body`", body = super::error::ErrorBody),
        (status = 423, description = "`locked`: another actor holds the lock", body = super::error::ErrorBody),
        (status = 404, description = "`not_found`: no such order", body = super::error::ErrorBody),
        (status = 403, description = "`forbidden`: the token lacks `orders:write`", body = super::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(super) async fn add(
    State(state): State<Arc<AppState>>,
    Authorized(caller, _): Authorized<scope::OrdersWrite>,
    PathArgs(id): PathArgs<String>,
    Body(mut input): Body<FulfillmentActionInput>,
) -> Result<(StatusCode, Json<OrderView>), ApiError> {
    trace_order(&id, None);
    let key = super::order_key(&id)?;
    input.actor = caller.actor(input.actor.take())?;
    let applied = state.service.add_fulfillment_action(&key, &input).await?;
    Ok((StatusCode::CREATED, Json(view_of_applied(&state, applied))))
}

/// Changes fulfillment action `n` of an order (only the fields given).
#[utoipa::path(
    patch, path = "/v1/orders/{id}/fulfillment-actions/{n}", tag = "fulfillment", operation_id = "edit_fulfillment_action",
    params(
        ("id" = String, Path, description = "The order's number, exactly as it was given; or its id written `id:` and digits (`id:42`)"),
        ("n" = u32, Path, minimum = 0, maximum = 4294967295.0, description = "The action's number on the order, from 1"),
    ),
    request_body = FulfillmentActionInput,
    responses(
        (status = 200, description = "Changed", body = OrderView),
        (status = 400, description = "`bad_path`: `n` is not a whole number from 0 to 4294967295; `bad_json`", body = super::error::ErrorBody),
        (status = 422, description = "`unknown_action` (an unknown action name), `workflow_unavailable`, `invalid_body`", body = super::error::ErrorBody),
        (status = 423, description = "`locked`: another actor holds the lock", body = super::error::ErrorBody),
        (status = 404, description = "`not_found`: no such order, or no action `n` on it", body = super::error::ErrorBody),
        (status = 403, description = "`forbidden`: the token lacks `orders:write`", body = super::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(super) async fn edit(
    State(state): State<Arc<AppState>>,
    Authorized(caller, _): Authorized<scope::OrdersWrite>,
    PathArgs((id, n)): PathArgs<(String, u32)>,
    Body(mut input): Body<FulfillmentActionInput>,
) -> Result<Json<OrderView>, ApiError> {
    trace_order(&id, None);
    let key = super::order_key(&id)?;
    input.actor = caller.actor(input.actor.take())?;
    let applied = state.service.edit_fulfillment_action(&key, n, &input).await?;
    Ok(Json(view_of_applied(&state, applied)))
}
