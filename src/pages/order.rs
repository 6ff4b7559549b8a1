//! The console's order page at `/orders/{key}` (issue 14, read-only so far): what the API's
//! `GET /v1/orders/{key}` answers (`http::view::OrderView`, the same reads), as a page: status and
//! phase with since when, customer and addresses, lines with fulfillment, stock, picked and
//! shipped quantities, money, shipments, fulfillment actions, flags, attributes, the lock, the
//! events the order accepts, and the history as a timeline with each row's workflow version and
//! actor. Needs `orders:read`.

use super::render;
use super::session::{Refusal, Staff};
use super::studio::staff_ctx;
use crate::config::Scope;
use crate::http::error::ErrorCode;
use crate::http::view::OrderView;
use crate::http::AppState;
use crate::store::OrderKey;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use std::sync::Arc;

/// `GET /orders/{key}`: an order number as written, or `id:N`.
pub(crate) async fn page(
    State(state): State<Arc<AppState>>,
    staff: Staff,
    Path(key): Path<String>,
) -> Result<Response, Refusal> {
    staff.require(Scope::OrdersRead, false)?;
    let missing = || Refusal::new(false, ErrorCode::NotFound, "There is no such order.");
    let key = OrderKey::parse(&key).ok_or_else(missing)?;
    let unavailable = |e: crate::store::StoreError| {
        tracing::error!(error = %e, "the order page could not read the order");
        Refusal::new(
            false,
            ErrorCode::DatabaseUnavailable,
            "The database does not answer; try again in a moment.",
        )
    };
    let store = state.service.store();
    let order = store.find_order(&key).await.map_err(unavailable)?.ok_or_else(missing)?;
    let history = store.history(order.id).await.map_err(unavailable)?;
    let registry = state.service.registry();
    let workflow = registry.get(&order.workflow).map(|a| &*a.workflow);
    let view = OrderView::new(order, workflow, history, state.service.now());
    let ctx = minijinja::context! { staff => staff_ctx(&staff), order => view };
    Ok(render::page(StatusCode::OK, "order.html", ctx))
}
