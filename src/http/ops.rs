//! `GET /healthz` (the service answers, its database does and takes writes) and `GET /metrics`
//! (Prometheus text).

use super::auth::{scope, Authorized};
use super::error::{ApiError, ErrorCode};
use super::AppState;
use crate::metrics::Snapshot;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use std::sync::Arc;

/// The answer of a healthy service.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct Health {
    /// Always `ok`.
    #[schema(pattern = "^ok$")]
    status: &'static str,
    /// Always `ok`: the database answered.
    #[schema(pattern = "^ok$")]
    database: &'static str,
    /// Always `ok`: a probe write committed, and no write failed with the database unavailable
    /// lately without one committing since.
    #[schema(pattern = "^ok$")]
    writes: &'static str,
}

/// Health: 200 when the database answers and takes writes, 503 when it does not.
#[utoipa::path(
    get, path = "/healthz", tag = "operations", operation_id = "healthz",
    responses(
        (status = 200, description = "The service and its database answer, and the database takes writes", body = Health),
        (status = 503, description = "`database_unavailable`: the database does not answer, or does not take writes (a full disk, a read-only server), or writes failed that way in the last 30 s and none has gone through since", body = super::error::ErrorBody, headers(("Retry-After" = String, description = "Seconds to wait before asking again"))),
    )
)]
pub(super) async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    let store = state.service.store();
    let (what, result) = match store.ping().await {
        Err(e) => ("the database does not answer", Err(e)),
        Ok(()) => {
            ("the database answers but does not take writes", store.check_writable(state.service.now()).await)
        }
    };
    match result {
        Ok(()) => Json(Health { status: "ok", database: "ok", writes: "ok" }).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "health check: {what}");
            ApiError::new(ErrorCode::DatabaseUnavailable, what)
                .header(header::RETRY_AFTER, "5")
                .into_response()
        }
    }
}

/// Metrics in Prometheus text format: events applied and refused, event latency, orders by
/// status, reloads, timers, the database pool.
#[utoipa::path(
    get, path = "/metrics", tag = "operations", operation_id = "metrics",
    responses(
        (status = 200, description = "OpenMetrics 1.0 text (`application/openmetrics-text; version=1.0.0; charset=utf-8`)", body = String, content_type = "application/openmetrics-text"),
        (status = 403, description = "`forbidden`: the token lacks `metrics:read`", body = super::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(super) async fn metrics(
    State(state): State<Arc<AppState>>,
    _: Authorized<scope::MetricsRead>,
) -> Result<Response, ApiError> {
    let store = state.service.store();
    let (pool_size, pool_idle) = store.pool_stats();
    let snapshot = Snapshot {
        orders_by_status: store.status_counts().await?,
        reloads: state.reloader.as_ref().map_or((0, 0), |r| r.counts()),
        pool_size,
        pool_idle,
        outbox_by_state: store.outbox_counts().await?,
        writes: state.service.write_stats(),
    };
    let body = state.metrics.render(&snapshot);
    Ok(([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], body)
        .into_response())
}
