//! `GET /healthz` (the service answers and its database does) and `GET /metrics` (Prometheus
//! text).

use super::auth::Caller;
use super::error::ApiError;
use super::AppState;
use crate::config::Scope;
use crate::metrics::Snapshot;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use std::sync::Arc;

/// Liveness: 200 when the database answers, 503 when it does not.
#[utoipa::path(
    get, path = "/healthz", tag = "operations",
    responses(
        (status = 200, description = "`{\"status\": \"ok\", \"database\": \"ok\"}`", body = Object),
        (status = 503, description = "The database does not answer", body = super::error::ErrorBody),
    )
)]
pub(super) async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    match state.service.store().ping().await {
        Ok(()) => Json(json!({"status": "ok", "database": "ok"})).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "health check: the database does not answer");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "database_unavailable",
                "the database does not answer",
            )
            .into_response()
        }
    }
}

/// Metrics in Prometheus text format: events applied and refused, event latency, orders by
/// status, reloads, timers, the database pool.
#[utoipa::path(
    get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text exposition", body = String, content_type = "text/plain")),
    security(("bearer" = []))
)]
pub(super) async fn metrics(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Response, ApiError> {
    caller.require(Scope::MetricsRead)?;
    let store = state.service.store();
    let (pool_size, pool_idle) = store.pool_stats();
    let snapshot = Snapshot {
        orders_by_status: store.status_counts().await?,
        reloads: state.reloader.as_ref().map_or((0, 0), |r| r.counts()),
        pool_size,
        pool_idle,
        outbox_by_state: store.outbox_counts().await?,
    };
    let body = state.metrics.render(&snapshot);
    Ok(([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], body)
        .into_response())
}
