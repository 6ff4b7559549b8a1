//! The customer's order page at `/track` (no login): a form for the order number and the email
//! it was placed with, then the order in the customer's words (the customer-facing status, lines
//! without prices, shipments with links to the carrier's tracking page, the fulfillment actions
//! marked visible, as a timeline). The same lookup, privacy (a wrong number and a wrong email
//! answer alike) and limit per address as `GET /v1/track/{number}`: it calls the same function.
//!
//! The merchant's look: `track_name` (the store's name), `track_logo_url` (an `https://` image;
//! the page's content security policy allows that one origin for images) and
//! `track_stylesheet` (a CSS file served at `/track/style.css`, loaded after ours).

use super::render;
use crate::http::error::ErrorCode;
use crate::http::track::tracked;
use crate::http::{AppState, ClientAddr};
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::sync::Arc;

/// The largest stylesheet `/track/style.css` serves.
const MAX_STYLESHEET: u64 = 256 * 1024;

/// The form's fields.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct TrackForm {
    #[serde(default)]
    number: String,
    #[serde(default)]
    email: String,
}

/// The page with the merchant's look: its name and logo in the page, its logo's origin allowed.
fn branded(state: &AppState, status: StatusCode, ctx: minijinja::Value) -> Response {
    let c = &state.config;
    let brand = minijinja::context! {
        name => c.track_name,
        logo => c.track_logo_url,
        stylesheet => c.track_stylesheet.is_some(),
    };
    let mut res = render::page(status, "track.html", minijinja::context! { brand, ..ctx });
    if let Some(origin) = c.track_logo_url.as_deref().and_then(origin_of) {
        let policy = format!(
            "default-src 'self'; img-src 'self' data: {origin}; style-src 'self'; script-src 'self'; \
             object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
        );
        if let Ok(v) = HeaderValue::from_str(&policy) {
            res.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
        }
    }
    res
}

/// `https://host[:port]` of an `https://` URL.
fn origin_of(url: &str) -> Option<String> {
    let rest = url.strip_prefix("https://")?;
    let host = rest.split(['/', '?', '#']).next().filter(|h| !h.is_empty())?;
    Some(format!("https://{host}"))
}

/// `GET /track[?number=&email=]`.
pub(crate) async fn page(
    State(state): State<Arc<AppState>>,
    client: ClientAddr,
    Query(form): Query<TrackForm>,
) -> Response {
    let (number, email) = (form.number.trim(), form.email.trim());
    if number.is_empty() && email.is_empty() {
        return branded(&state, StatusCode::OK, minijinja::context! {});
    }
    if number.is_empty() || email.is_empty() || number.len() > 64 || email.len() > 320 {
        let ctx = minijinja::context! { number, email, message => "Give the order number and the email you ordered with." };
        return branded(&state, StatusCode::UNPROCESSABLE_ENTITY, ctx);
    }
    match tracked(&state, client.ip(), number, email).await {
        Ok(order) => branded(&state, StatusCode::OK, minijinja::context! { number, email, order }),
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
            branded(&state, status, minijinja::context! { number, email, message })
        }
    }
}

/// `GET /track/style.css`: the merchant's stylesheet (`track_stylesheet`), read when asked.
pub(crate) async fn stylesheet(State(state): State<Arc<AppState>>) -> Response {
    let Some(path) = state.config.track_stylesheet.clone() else {
        return (StatusCode::NOT_FOUND, "no stylesheet is configured").into_response();
    };
    let read = tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut text = String::new();
        std::fs::File::open(&path)?.take(MAX_STYLESHEET).read_to_string(&mut text)?;
        Ok::<_, std::io::Error>(text)
    })
    .await;
    match read {
        Ok(Ok(css)) => {
            let mut res = css.into_response();
            let h = res.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8"));
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
            res
        }
        _ => {
            tracing::warn!("`track_stylesheet` cannot be read");
            (StatusCode::NOT_FOUND, "the stylesheet cannot be read").into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_the_logo_origin_is_allowed() {
        assert_eq!(
            super::origin_of("https://cdn.shop.example/logo.png?v=2").as_deref(),
            Some("https://cdn.shop.example")
        );
        assert_eq!(super::origin_of("http://x/logo.png"), None);
        assert_eq!(super::origin_of("https:///x"), None);
    }
}
