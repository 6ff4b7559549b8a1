//! `GET /v1/track/{number}?email=`: the customer's own view of an order, without a token.
//! A wrong number and a wrong email get the same 404, and each client address may ask a
//! limited number of times a minute (`track_per_minute`), so the page cannot be used to find
//! out which order numbers exist or whose they are.

use super::error::{ApiError, PathArgs, QueryArgs};
use super::view::TrackingView;
use super::AppState;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::Json;
use serde::Deserialize;
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

/// The client's address (the socket peer; unknown in tests without a socket).
pub(super) struct ClientAddr(IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
        Ok(ClientAddr(ip))
    }
}

/// The email the order was placed with.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct TrackParams {
    /// The customer's email (any case).
    #[serde(default)]
    email: String,
}

fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no order matches this number and email")
}

fn same_email(a: &str, b: &str) -> bool {
    let a = a.trim();
    !a.is_empty() && a.eq_ignore_ascii_case(b.trim())
}

/// The customer's view of their order: status as customers see it, lines, shipments with
/// tracking numbers, visible fulfillment actions. Nothing else.
#[utoipa::path(
    get, path = "/v1/track/{number}", tag = "tracking", operation_id = "track_order",
    params(("number" = String, Path, description = "The order number"), TrackParams),
    responses(
        (status = 200, description = "The order, as the customer may see it", body = TrackingView),
        (status = 404, description = "`not_found`: no order has this number and email (the same answer for either mistake)", body = super::error::ErrorBody),
        (status = 429, description = "`rate_limited`: too many requests from this address; `Retry-After` says when to come back", body = super::error::ErrorBody,
            headers(("Retry-After" = String, description = "Seconds to wait"))),
    )
)]
pub(super) async fn track(
    State(state): State<Arc<AppState>>,
    ClientAddr(ip): ClientAddr,
    PathArgs(number): PathArgs<String>,
    QueryArgs(p): QueryArgs<TrackParams>,
) -> Result<Json<TrackingView>, ApiError> {
    if let Err(not_until) = state.track_limiter.check_key(&ip) {
        let wait =
            not_until.wait_time_from(governor::clock::Clock::now(&governor::clock::DefaultClock::default()));
        let secs = wait.as_secs().max(1);
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many tracking requests from this address; try again in {secs} s"),
        )
        .header(header::RETRY_AFTER, &secs.to_string()));
    }
    let order = state.service.store().order_by_number(&number).await?.ok_or_else(not_found)?;
    let matches = same_email(&p.email, &order.customer.email)
        || same_email(&p.email, &order.shipping.email)
        || same_email(&p.email, &order.billing.email);
    if !matches {
        return Err(not_found());
    }
    let registry = state.service.registry();
    let workflow = registry.get(&order.workflow).map(|a| &*a.workflow);
    Ok(Json(TrackingView::new(&order, workflow)))
}
