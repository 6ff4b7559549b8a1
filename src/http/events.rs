//! `POST /v1/orders/{id}/events`: an event from another system (a payment gateway, shipping
//! software, a CRM, a clerk) applied to one order, in one transaction, once per idempotency key.

use super::auth::{scope, Authorized};
use super::error::{ApiError, Body, ErrorCode, PathArgs};
use super::orders::view_of_applied;
use super::view::EventResult;
use super::{trace_order, AppState};
use crate::engine::{EventInput, Problem};
use crate::limits;
use crate::service::ServiceError;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Instant;

/// An event for an order.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct EventRequest {
    /// The event's name, as the workflow declares it (`payment_received`, `shipped`, ...).
    #[schema(max_length = 100)]
    event: String,
    /// Its data fields, as the workflow declares them.
    #[serde(default)]
    data: serde_json::Map<String, serde_json::Value>,
    /// A key the sender picks, at most 200 characters: the same key again returns the first
    /// answer and applies nothing (also accepted as the `Idempotency-Key` header).
    #[serde(default)]
    #[schema(max_length = 200)]
    idempotency_key: Option<String>,
    /// Who sends it (a lock holder's events pass their lock); the token's name by default.
    #[serde(default)]
    #[schema(max_length = 200)]
    actor: Option<String>,
}

/// Applies an event to an order.
///
/// The first transition (in file order) leaving the order's status on this event whose guard
/// holds is taken, then automatic transitions, all in one transaction.
#[utoipa::path(
    post, path = "/v1/orders/{id}/events", tag = "events", operation_id = "post_event",
    params(
        ("id" = String, Path, description = "The order's number, exactly as it was given; or its id written `id:` and digits (`id:42`)"),
        ("Idempotency-Key" = Option<String>, Header, description = "Same as `idempotency_key` in the body"),
    ),
    request_body(content = EventRequest, example = json!({
        "event": "payment_received", "data": {"amount": "499.00", "outcome": "approved"}, "idempotency_key": "gw-1042"
    })),
    responses(
        (status = 200, description = "Applied (or replayed for a repeated idempotency key)", body = EventResult),
        (status = 409, description = "`no_transition`: no transition takes this event in this status; the body has `status`, `allowed_events` and each candidate's failing guard. `over_shipment`, `automatic_loop`, `duplicate` (a related order's number is taken)", body = super::error::ErrorBody),
        (status = 423, description = "`locked`: another actor holds the order's lock", body = super::error::ErrorBody),
        (status = 503, description = "`outcome_unknown`: the database did not confirm the commit: send the same request with the same idempotency key again. `busy`, `database_unavailable`", body = super::error::ErrorBody),
        (status = 422, description = "`unknown_event` (with a did-you-mean), `invalid_data` (each field's problem in `problems`), `hook_failed`, `unknown_status`, `workflow_unavailable`, `idempotency_conflict` (the key was used for another request), `invalid_body` (JSON that does not fit; `event` over 100 characters, `idempotency_key` / `Idempotency-Key` or `actor` over 200: `problems` names them)", body = super::error::ErrorBody),
        (status = 404, description = "`not_found`: no such order", body = super::error::ErrorBody),
        (status = 403, description = "`forbidden`: the token lacks `events:write`, or may not post this event (`allowed` lists those it may)", body = super::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(super) async fn post(
    State(state): State<Arc<AppState>>,
    Authorized(caller, _): Authorized<scope::EventsWrite>,
    PathArgs(id): PathArgs<String>,
    headers: HeaderMap,
    Body(req): Body<EventRequest>,
) -> Result<Json<EventResult>, ApiError> {
    caller.require_event(&req.event)?;
    trace_order(&id, Some(&req.event));
    let key = super::order_key(&id)?;
    let (idempotency_key, key_field) = match req.idempotency_key {
        Some(k) => (Some(k), "idempotency_key"),
        None => (
            headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_string),
            "Idempotency-Key",
        ),
    };
    let idempotency_key = idempotency_key.filter(|k| !k.is_empty());
    // What the request would have stored past its bounds is refused before anything is read.
    let mut problems = Vec::new();
    let bounded = [
        (key_field, idempotency_key.as_deref(), limits::MAX_IDEMPOTENCY_KEY),
        ("actor", req.actor.as_deref(), limits::MAX_NAME),
        ("event", Some(req.event.as_str()), limits::MAX_CODE),
    ];
    for (field, text, max) in bounded {
        if let Some(problem) = text.and_then(|t| limits::text_problem(t, max)) {
            problems.push(Problem { field: field.into(), problem });
        }
    }
    if !problems.is_empty() {
        return Err(ApiError::new(
            ErrorCode::InvalidBody,
            "the request has fields longer than the service keeps",
        )
        .with_problems(problems));
    }
    let input = EventInput { name: req.event, data: req.data, actor: caller.actor(req.actor)? };
    let started = Instant::now();
    match state.service.apply_event(&key, &input, idempotency_key.as_deref()).await {
        Ok(mut applied) => {
            if !applied.replayed {
                state.metrics.event_applied(
                    &applied.order.workflow,
                    &input.name,
                    started.elapsed().as_secs_f64(),
                );
            }
            let (steps, replayed) = (std::mem::take(&mut applied.steps), applied.replayed);
            let mut order = view_of_applied(&state, applied);
            let history = order.history.take().unwrap_or_default();
            Ok(Json(EventResult { order, history, transitions: steps, replayed }))
        }
        Err(ServiceError::Rejected(r)) => {
            // Refusals are the slow path: one more read names the workflow for the metric.
            let workflow = match state.service.store().find_order(&key).await {
                Ok(Some(o)) => o.workflow,
                _ => String::new(),
            };
            // An undeclared name is the sender's text: keep it out of the labels.
            let event = if r.code == "unknown_event" { "(unknown)" } else { input.name.as_str() };
            state.metrics.event_rejected(&workflow, event, r.code.as_str());
            tracing::info!(code = r.code.as_str(), reason = %crate::logging::clean(&r.message), "event refused");
            Err(r.into())
        }
        Err(e) => Err(e.into()),
    }
}
