//! `POST` / `DELETE /v1/orders/{id}/lock`: a lease that keeps other actors' events off an order
//! (a clerk editing it, a picker on the floor). 423 while another holder has it.

use super::auth::{scope, Authorized, Caller};
use super::error::{ApiError, Body, ErrorCode, PathArgs};
use super::orders::view_of_applied;
use super::view::OrderView;
use super::{trace_order, AppState};
use crate::config::Scope;
use crate::limits;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use std::sync::Arc;

/// The longest lease one request may take: a day.
const MAX_TTL_SECONDS: u64 = 86_400;

/// A lease to take or renew.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct LockRequest {
    /// Who takes it (the token's name by default).
    #[serde(default)]
    #[schema(max_length = 200)]
    holder: Option<String>,
    /// How long it lasts, 1 to 86400 seconds (default: the workflow's `lock_lease`).
    #[serde(default, deserialize_with = "crate::engine::de_opt_whole")]
    #[schema(minimum = 1, maximum = 86400)]
    ttl_seconds: Option<u64>,
}

/// A lease to release.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct UnlockRequest {
    /// Who releases it (the token's name by default).
    #[serde(default)]
    #[schema(max_length = 200)]
    holder: Option<String>,
    /// Release it even though another holder has it (an `admin`'s "break lock"; the order's
    /// history records whose lock was broken and by whom).
    #[serde(default, rename = "break")]
    break_lock: bool,
}

fn holder(given: Option<String>, caller: &Caller) -> Result<String, ApiError> {
    // Blank: spaces, tabs and line breaks only (the OpenAPI document's pattern says the same).
    let blank = |h: &str| h.chars().all(|c| matches!(c, ' ' | '\t' | '\n' | '\r'));
    // With tokens, the holder is the token or a name it may act for, never anyone else.
    if let Some(problem) = given.as_deref().and_then(|h| limits::text_problem(h, limits::MAX_NAME)) {
        return Err(ApiError::new(ErrorCode::InvalidBody, "`holder` is too long")
            .with_problems(vec![crate::engine::Problem { field: "holder".into(), problem }]));
    }
    caller.actor(given.filter(|h| !blank(h)))?.ok_or_else(|| {
        ApiError::new(ErrorCode::InvalidBody, "say who holds the lock: `holder`").with_problems(vec![
            crate::engine::Problem { field: "holder".into(), problem: "is missing".into() },
        ])
    })
}

/// Takes or renews the lock on an order.
#[utoipa::path(
    post, path = "/v1/orders/{id}/lock", tag = "locks", operation_id = "lock_order",
    params(("id" = String, Path, description = "The order's number, exactly as it was given; or its id written `id:` and digits (`id:42`)")),
    request_body(content = LockRequest, example = json!({"holder": "alice", "ttl_seconds": 600})),
    responses(
        (status = 200, description = "Locked (or renewed) until `lock.expires_at`", body = OrderView),
        (status = 423, description = "`locked`: another holder has the lock; the message names them", body = super::error::ErrorBody),
        (status = 404, description = "`not_found`: no such order", body = super::error::ErrorBody),
        (status = 422, description = "`invalid_body`: no `holder` (nor a token whose name stands for it), `ttl_seconds` out of range, or JSON that does not fit", body = super::error::ErrorBody),
        (status = 403, description = "`forbidden`: the token lacks `orders:write`", body = super::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(super) async fn lock(
    State(state): State<Arc<AppState>>,
    Authorized(caller, _): Authorized<scope::OrdersWrite>,
    PathArgs(id): PathArgs<String>,
    Body(req): Body<LockRequest>,
) -> Result<Json<OrderView>, ApiError> {
    trace_order(&id, None);
    let key = super::order_key(&id)?;
    let holder = holder(req.holder, &caller)?;
    let ttl = match req.ttl_seconds {
        Some(t) => t,
        None => default_lease(&state, &key).await?,
    };
    if !(1..=MAX_TTL_SECONDS).contains(&ttl) {
        return Err(ApiError::new(
            ErrorCode::InvalidBody,
            format!("`ttl_seconds` must be between 1 and {MAX_TTL_SECONDS}, not {ttl}"),
        ));
    }
    let ttl = chrono::Duration::seconds(i64::try_from(ttl).unwrap_or(900));
    let order = state.service.lock(&key, &holder, ttl).await?;
    Ok(Json(view_of_applied(&state, order)))
}

/// The lease a lock on the order `key` names takes when none is asked for: its workflow's
/// `lock_lease` (15 minutes for an order whose workflow is not active), in seconds.
pub(crate) async fn default_lease(state: &AppState, key: &crate::store::OrderKey) -> Result<u64, ApiError> {
    let order = state.service.store().find_order(key).await?.ok_or_else(|| ApiError::no_order(key))?;
    let registry = state.service.registry();
    Ok(registry.get(&order.workflow).map_or(900, |a| a.workflow.settings.lock_lease.as_secs()))
}

/// Releases the lock (a holder releases only their own).
#[utoipa::path(
    delete, path = "/v1/orders/{id}/lock", tag = "locks", operation_id = "unlock_order",
    params(("id" = String, Path, description = "The order's number, exactly as it was given; or its id written `id:` and digits (`id:42`)")),
    request_body(content = Option<UnlockRequest>, description = "Optional: `{\"holder\": ...}`; without a body, the token's name is the holder"),
    responses(
        (status = 200, description = "Released (or there was no lock)", body = OrderView),
        (status = 400, description = "`bad_json`: a body that is not JSON; `bad_path`", body = super::error::ErrorBody),
        (status = 413, description = "`body_too_large`: the body is over `body_limit`", body = super::error::ErrorBody),
        (status = 423, description = "`locked`: another holder has the lock", body = super::error::ErrorBody),
        (status = 404, description = "`not_found`: no such order", body = super::error::ErrorBody),
        (status = 422, description = "`invalid_body`: no `holder` (nor a token whose name stands for it), or JSON that does not fit", body = super::error::ErrorBody),
        (status = 403, description = "`forbidden`: the token lacks `orders:write`", body = super::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(super) async fn unlock(
    State(state): State<Arc<AppState>>,
    Authorized(caller, _): Authorized<scope::OrdersWrite>,
    PathArgs(id): PathArgs<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<OrderView>, ApiError> {
    trace_order(&id, None);
    let key = super::order_key(&id)?;
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                ErrorCode::BodyTooLarge,
                "the body is larger than the service accepts (`body_limit` in orderly.toml)",
            )
        } else {
            ApiError::new(ErrorCode::BadBody, e.body_text())
        }
    })?;
    // DELETE bodies are optional: none (or `null`) means the token's own lock. A body that is
    // only whitespace is not JSON and is refused like any other.
    let req: UnlockRequest = if body.is_empty() {
        UnlockRequest::default()
    } else {
        serde_json::from_slice::<Option<UnlockRequest>>(&body).map(Option::unwrap_or_default).map_err(
            |e| match e.classify() {
                serde_json::error::Category::Data => {
                    ApiError::new(ErrorCode::InvalidBody, format!("the body does not fit: {e}"))
                }
                _ => ApiError::new(ErrorCode::BadJson, format!("the body is not valid JSON: {e}")),
            },
        )?
    };
    let holder = holder(req.holder, &caller)?;
    let order = if req.break_lock {
        caller.require(Scope::Admin)?;
        state.service.break_lock(&key, &holder).await?
    } else {
        state.service.unlock(&key, &holder).await?
    };
    Ok(Json(view_of_applied(&state, order)))
}
