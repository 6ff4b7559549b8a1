//! The outbox: `GET /v1/outbox` (messages for other systems and how their delivery goes,
//! filtered by state and order, paged by cursor; `orders:read`) and
//! `POST /v1/outbox/{id}/retry` (a `dead` or `pending` message due again now with its attempts
//! reset; `admin`).

use super::auth::{scope, Authorized};
use super::error::{ApiError, ErrorCode, PathArgs, QueryArgs};
use super::AppState;
use crate::store::{OutboxQuery, StoredOutbox, OUTBOX_STATES};
use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// One outbox message.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct OutboxView {
    /// The message's id (its webhooks carry `Idempotency-Key: orderly-<id>`).
    id: i64,
    /// The order that queued it.
    order_id: i64,
    /// How it is sent: `webhook` or `email`.
    kind: crate::engine::MessageKind,
    /// The webhook target's name, or the email address.
    target: String,
    /// The email template.
    template: Option<String>,
    /// The email subject.
    subject: Option<String>,
    /// The payload hook that builds a webhook's body at delivery (`send webhook NAME with hook`).
    hook: Option<String>,
    /// The event that queued it (absent for automatic steps and timers).
    event: Option<String>,
    /// `pending` (waiting for delivery, or between attempts), `sent` or `dead`.
    #[schema(inline)]
    state: OutboxState,
    /// Delivery attempts so far.
    attempts: i64,
    /// When it was queued.
    #[schema(value_type = String, format = DateTime)]
    created_at: crate::order::Time,
    /// When the next attempt is due (pending messages).
    #[schema(value_type = String, format = DateTime)]
    next_attempt_at: crate::order::Time,
    /// When it was delivered.
    #[schema(value_type = Option<String>, format = DateTime)]
    sent_at: Option<crate::order::Time>,
    /// The HTTP status of the last answer.
    last_status: Option<i64>,
    /// What went wrong last.
    last_error: Option<String>,
    /// What was queued: `{event, data, order}` (the order after the event), or the body an
    /// action hook built. A payload hook builds the body sent from it at delivery.
    #[schema(value_type = Object)]
    payload: serde_json::Value,
    /// What the last attempt sent: `{"body": ...}` for a webhook (as its payload hook built it),
    /// `{"to", "subject", "text", "html"}` for an email. Every attempt's is in the order's
    /// history (`delivery` rows). Absent before an attempt got that far.
    #[schema(value_type = Option<Object>)]
    sent: Option<serde_json::Value>,
}

impl From<StoredOutbox> for OutboxView {
    fn from(m: StoredOutbox) -> Self {
        OutboxView {
            id: m.id,
            order_id: m.order_id,
            kind: m.message.kind,
            target: m.message.target,
            template: m.message.template,
            subject: m.message.subject,
            hook: m.message.hook,
            event: m.message.event,
            state: OutboxState::of(&m.state),
            attempts: m.attempts,
            created_at: m.created_at,
            next_attempt_at: m.next_attempt_at,
            sent_at: m.sent_at,
            last_status: m.last_status,
            last_error: m.last_error,
            payload: m.message.payload,
            sent: m.sent,
        }
    }
}

/// Where a message is in its delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub(super) enum OutboxState {
    /// Waiting for delivery, or between attempts.
    Pending,
    /// Delivered.
    Sent,
    /// Given up on.
    Dead,
}

impl OutboxState {
    fn of(code: &str) -> Self {
        match code {
            "sent" => OutboxState::Sent,
            "dead" => OutboxState::Dead,
            _ => OutboxState::Pending,
        }
    }
}

/// Filters and paging of the outbox.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct OutboxParams {
    /// `pending`, `sent` or `dead` (anything else is refused, with a did-you-mean).
    #[param(value_type = Option<OutboxState>, inline)]
    state: Option<String>,
    /// One order's messages: its number exactly as given, or its id written `id:42` (empty: every
    /// order's).
    order: Option<String>,
    /// The `next_cursor` of the previous page (empty: the first page).
    #[param(pattern = r"^([1-9][0-9]{0,17})?$")]
    cursor: Option<String>,
    /// Rows per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

/// A page of outbox messages.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct OutboxPage {
    /// Messages, newest first.
    messages: Vec<OutboxView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    next_cursor: Option<String>,
}

/// Outbox messages, newest first: filtered by state and order, paged by cursor.
#[utoipa::path(
    get, path = "/v1/outbox", tag = "outbox", operation_id = "list_outbox",
    params(OutboxParams),
    responses(
        (status = 200, description = "A page of messages", body = OutboxPage),
        (status = 400, description = "`bad_query`: an unknown state, a cursor that is not one, a limit out of range, an unknown parameter", body = super::error::ErrorBody),
        (status = 404, description = "`not_found`: `order` names no order", body = super::error::ErrorBody),
        (status = 403, description = "`forbidden`: the token lacks `orders:read`", body = super::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(super) async fn list(
    State(state): State<Arc<AppState>>,
    _: Authorized<scope::OrdersRead>,
    QueryArgs(p): QueryArgs<OutboxParams>,
) -> Result<Json<OutboxPage>, ApiError> {
    let (limit, before) = super::paging(p.limit, p.cursor.as_deref())?;
    if let Some(s) = p.state.as_deref().filter(|s| !OUTBOX_STATES.contains(s)) {
        let hint = crate::diagnostics::did_you_mean(s, OUTBOX_STATES)
            .map(|d| format!("; did you mean `{d}`?"))
            .unwrap_or_default();
        return Err(ApiError::new(
            ErrorCode::BadQuery,
            format!("`state` must be `pending`, `sent` or `dead`, not `{s}`{hint}"),
        ));
    }
    let order = match p.order.as_deref().filter(|o| !o.trim().is_empty()) {
        None => None,
        Some(raw) => {
            let key = super::order_key(raw)?;
            Some(state.service.store().order_id(&key).await?.ok_or_else(|| ApiError::no_order(&key))?)
        }
    };
    let query = OutboxQuery { state: p.state, order, before, limit };
    let (messages, next) = state.service.store().outbox_page(&query).await?;
    Ok(Json(OutboxPage {
        messages: messages.into_iter().map(OutboxView::from).collect(),
        next_cursor: next.map(|n| n.to_string()),
    }))
}

/// Makes a `dead` (or `pending`) message due now, with its attempts reset; noted in the
/// order's history. A message already `sent` is not sent again (409).
#[utoipa::path(
    post, path = "/v1/outbox/{id}/retry", tag = "outbox", operation_id = "retry_outbox_message",
    params(("id" = i64, Path, description = "The message's id")),
    responses(
        (status = 200, description = "Pending again, due now", body = OutboxView),
        (status = 404, description = "`not_found`: no such message", body = super::error::ErrorBody),
        (status = 409, description = "`already_sent`: the message was delivered", body = super::error::ErrorBody),
        (status = 403, description = "`forbidden`: the token lacks `admin`", body = super::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(super) async fn retry(
    State(state): State<Arc<AppState>>,
    Authorized(caller, _): Authorized<scope::Admin>,
    PathArgs(id): PathArgs<i64>,
) -> Result<Json<OutboxView>, ApiError> {
    Ok(Json(OutboxView::from(requeue(&state, id, caller.name()).await?)))
}

/// Makes message `id` due now again (the API's retry and the Outbox screen's *Send again*):
/// `not_found` for no such message, `already_sent` for one delivered.
pub(crate) async fn requeue(
    state: &AppState,
    id: i64,
    actor: Option<&str>,
) -> Result<crate::store::StoredOutbox, ApiError> {
    match state.service.outbox_requeue(id, actor).await? {
        None => Err(ApiError::new(ErrorCode::NotFound, format!("no outbox message {id}"))),
        Some(m) if m.state == "sent" => Err(ApiError::new(
            ErrorCode::AlreadySent,
            format!("outbox message {id} was delivered already; it is not sent again"),
        )),
        Some(m) => Ok(m),
    }
}
