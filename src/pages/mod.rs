//! The browser faces, server-rendered by axum from minijinja templates compiled into the binary,
//! with a little of our own JavaScript and CSS (`assets/`, also compiled in: no front-end build).
//!
//! - `session`: staff logins, sessions in the database, form tokens; `login`: its pages.
//! - `studio`: the merchant's studio under `/studio`; `simulate`: its simulated order.
//! - `board`: the console's board at `/` (orders by phase and status, stuck and newest orders,
//!   search, "In queue" and "My open"); `live`: its live updates (server-sent events).
//! - `order`: the console's order page at `/orders/{key}`, and the forms staff act with there.
//! - `admin`: the operator's screens, `/workflows` (pictures with counts, versions, the last
//!   reload) and `/outbox` (messages, send again).
//! - `customers`: the customer book (Find Cust, Create Cust, merge) at `/customers`.
//! - `new_order`: the New order screen (the Sales Order Interface) at `/orders/new`.
//! - `track`: the customer's order page at `/track` (no login).
//! - `render`: templates and the headers every page carries.
//!
//! The pages call the same service as the API; what a user does is recorded under their name.

mod admin;
mod board;
mod customers;
mod extract;
mod live;
mod login;
mod new_order;
mod order;
mod render;
pub mod session;
mod simulate;
mod studio;
mod track;

use crate::http::AppState;
use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

/// What the pages keep while the service runs.
pub struct PagesState {
    /// Login tries per client address: a few a minute.
    pub(crate) login_limiter: DefaultKeyedRateLimiter<IpAddr>,
    /// The form token of the local user on an open service (one per process).
    pub(crate) local_csrf: String,
    /// One studio save at a time (write, reload, maybe put back).
    pub(crate) saving: tokio::sync::Mutex<()>,
    /// Long studio runs (scenarios, what-if replays) one at a time, so that they cannot crowd
    /// out orders: a second waits up to [`HEAVY_WAIT`], then is told to try again.
    pub(crate) heavy: tokio::sync::Semaphore,
    /// The board's live updates.
    pub(crate) live: live::Live,
}

/// How long a studio run waits for the one running before it is answered 429.
pub const HEAVY_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Login tries a client address may make a minute.
pub const LOGINS_PER_MINUTE: u32 = 10;

impl Default for PagesState {
    fn default() -> Self {
        let per_minute = NonZeroU32::new(LOGINS_PER_MINUTE).unwrap_or(NonZeroU32::MIN);
        PagesState {
            login_limiter: RateLimiter::keyed(Quota::per_minute(per_minute)),
            local_csrf: session::random_token(),
            saving: tokio::sync::Mutex::new(()),
            heavy: tokio::sync::Semaphore::new(1),
            live: live::Live::default(),
        }
    }
}

impl std::fmt::Debug for PagesState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PagesState").finish_non_exhaustive()
    }
}

/// The assets, by name, as compiled into the binary: (name, content type, bytes).
const ASSETS: &[(&str, &str, &str)] = &[
    ("board.js", "text/javascript; charset=utf-8", include_str!("assets/board.js")),
    ("studio.js", "text/javascript; charset=utf-8", include_str!("assets/studio.js")),
    ("style.css", "text/css; charset=utf-8", include_str!("assets/style.css")),
];

async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, body)) => {
            let mut res = (*body).into_response();
            let h = res.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
            res
        }
        None => render::page_error(StatusCode::NOT_FOUND, "There is no such file."),
    }
}

/// The pages' routes.
pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(board::board))
        .route("/events/orders", get(live::orders))
        .route("/orders/new", get(new_order::form).post(new_order::submit))
        .route("/orders/{key}", get(order::page))
        .route("/orders/{key}/event", post(order::event))
        .route("/orders/{key}/lock", post(order::lock))
        .route("/orders/{key}/assign", post(order::assign))
        .route("/orders/{key}/actions", post(order::add_action))
        .route("/orders/{key}/actions/{n}", post(order::edit_action))
        .route("/orders/{key}/email", post(order::email))
        .route("/customers", get(customers::search))
        .route("/customers/link", post(customers::link))
        .route("/customers/new", get(customers::new_form).post(customers::create))
        .route("/customers/{id}", get(customers::detail))
        .route("/customers/{id}/merge", post(customers::merge))
        .route("/track", get(track::page))
        .route("/track/style.css", get(track::stylesheet))
        .route("/workflows", get(admin::workflows))
        .route("/outbox", get(admin::outbox))
        .route("/outbox/{id}/retry", post(admin::retry))
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/assets/{name}", get(asset))
        .route("/studio", get(studio::index))
        .route("/studio/new", post(studio::create))
        .route("/studio/edit/{*file}", get(studio::edit))
        .route("/studio/api/check", post(studio::api_check))
        .route("/studio/api/simulate", post(studio::api_simulate))
        .route("/studio/api/scenarios", post(studio::api_scenarios))
        .route("/studio/api/whatif", post(studio::api_whatif))
        .route("/studio/api/save", post(studio::api_save))
}
