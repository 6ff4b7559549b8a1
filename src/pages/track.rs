//! The customer's order page at `/track` (issue 14; no login): a form for the order number and
//! the email it was placed with, then the order in the customer's words (the customer-facing
//! status, lines without prices, shipments with their tracking numbers, the fulfillment actions
//! marked visible). The same lookup, privacy (a wrong number and a wrong email answer alike) and
//! limit per address as `GET /v1/track/{number}`: it calls the same function.

use super::render;
use crate::http::error::ErrorCode;
use crate::http::track::tracked;
use crate::http::{AppState, ClientAddr};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use std::sync::Arc;

/// The form's fields.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct TrackForm {
    #[serde(default)]
    number: String,
    #[serde(default)]
    email: String,
}

/// `GET /track[?number=&email=]`.
pub(crate) async fn page(
    State(state): State<Arc<AppState>>,
    client: ClientAddr,
    Query(form): Query<TrackForm>,
) -> Response {
    let (number, email) = (form.number.trim(), form.email.trim());
    if number.is_empty() && email.is_empty() {
        return render::page(StatusCode::OK, "track.html", minijinja::context! {});
    }
    if number.is_empty() || email.is_empty() || number.len() > 64 || email.len() > 320 {
        let ctx = minijinja::context! { number, email, message => "Give the order number and the email you ordered with." };
        return render::page(StatusCode::UNPROCESSABLE_ENTITY, "track.html", ctx);
    }
    match tracked(&state, client.ip(), number, email).await {
        Ok(order) => render::page(StatusCode::OK, "track.html", minijinja::context! { number, email, order }),
        Err(e) => {
            let (status, message) = match e.code {
                ErrorCode::NotFound => {
                    (StatusCode::NOT_FOUND, "We found no order with this number and email.")
                }
                ErrorCode::RateLimited => (
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too many tries from this address: wait a minute and try again.",
                ),
                _ => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "We cannot look orders up right now; try again in a moment.",
                ),
            };
            render::page(status, "track.html", minijinja::context! { number, email, message })
        }
    }
}
