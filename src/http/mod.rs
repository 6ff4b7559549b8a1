//! The v1 HTTP API (axum), as `../shared/design.md` section 6 fixes it. [`app`] builds the
//! router from the state, without a socket, so tests drive it with `oneshot`; `serve` binds it.
//!
//! One module per resource: `orders` (create, view, grid), `events`, `locks`, `actions`
//! (fulfillment actions), `customers` (search, create, link to an order, merge), `track` (the
//! customer's view), `workflows`, `outbox` (messages for other systems and their delivery),
//! `ops` (health, metrics).
//! `error` holds the one error type every handler returns; `auth` the bearer tokens; `view` what
//! the answers show. The OpenAPI document is generated from the handlers' annotations by
//! utoipa, from the same router the service serves, so the two cannot drift; `doc` adds the
//! answers every route of a kind gives (bad paths, bodies, tokens, a busy database).

mod actions;
pub(crate) mod auth;
mod customers;
mod doc;
pub mod error;
mod events;
pub(crate) mod locks;
mod ops;
mod orders;
pub(crate) mod outbox;
pub(crate) mod track;
pub mod view;
mod workflows;

pub(crate) use track::ClientAddr;

use crate::config::Config;
use crate::metrics::Metrics;
use crate::reload::Reloader;
use crate::service::Service;
use axum::extract::DefaultBodyLimit;
use axum::http::Request;
use axum::Router;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// What every handler reads.
pub struct AppState {
    /// Orders, events, locks, timers.
    pub service: Arc<Service>,
    /// The configuration (tokens, limits).
    pub config: Config,
    /// Counters for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// The reloader, when workflows can be reloaded (`GET /v1/workflows` shows its last result).
    pub reloader: Option<Arc<Reloader>>,
    track_limiter: DefaultKeyedRateLimiter<IpAddr>,
    /// What the browser pages keep (login limiter, the local form token).
    pub pages: crate::pages::PagesState,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("bind", &self.config.bind).finish_non_exhaustive()
    }
}

impl AppState {
    /// The state for `app`.
    pub fn new(
        service: Arc<Service>,
        config: Config,
        metrics: Arc<Metrics>,
        reloader: Option<Arc<Reloader>>,
    ) -> Arc<AppState> {
        let per_minute = NonZeroU32::new(config.track_per_minute).unwrap_or(NonZeroU32::MIN);
        Arc::new(AppState {
            service,
            track_limiter: RateLimiter::keyed(Quota::per_minute(per_minute)),
            config,
            metrics,
            reloader,
            pages: crate::pages::PagesState::default(),
        })
    }
}

fn api() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::with_openapi(doc::base())
        .routes(routes!(orders::create, orders::grid))
        .routes(routes!(orders::get))
        .routes(routes!(events::post))
        .routes(routes!(locks::lock, locks::unlock))
        .routes(routes!(actions::add))
        .routes(routes!(actions::edit))
        .routes(routes!(customers::link))
        .routes(routes!(customers::search, customers::create))
        .routes(routes!(customers::get))
        .routes(routes!(customers::merge))
        .routes(routes!(track::track))
        .routes(routes!(workflows::list))
        .routes(routes!(workflows::get))
        .routes(routes!(workflows::graph))
        .routes(routes!(workflows::reload))
        .routes(routes!(outbox::list))
        .routes(routes!(outbox::retry))
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::metrics))
}

/// The OpenAPI 3.1 document of the API, as a service with tokens serves it at
/// `GET /v1/openapi.json` (without tokens the routes are open and the document says so).
pub fn openapi() -> serde_json::Value {
    doc::to_json(&doc::standard(api().split_for_parts().1))
}

/// The router: every v1 route, the OpenAPI document, JSON errors for unknown routes, bodies
/// over the limit and panics, and a tracing span per request.
pub fn app(state: Arc<AppState>) -> Router {
    let (router, doc) = api().split_for_parts();
    let doc = Arc::new(doc::to_json(&doc::for_service(doc::standard(doc), !state.config.open())));
    let body_limit = state.config.body_limit;
    let router = router
        .route(
            "/v1/openapi.json",
            axum::routing::get(move || {
                let doc = doc.clone();
                async move { axum::Json(doc) }
            }),
        )
        .merge(crate::pages::routes())
        .fallback(error::no_route)
        .method_not_allowed_fallback(error::wrong_method);
    edge(router, body_limit).with_state(state)
}

/// What wraps every route: the body limit, a caught panic answered 500, a tracing span.
fn edge<S: Clone + Send + Sync + 'static>(router: Router<S>, body_limit: usize) -> Router<S> {
    router
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(CatchPanicLayer::custom(error::panic_response))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
            let route = req
                .extensions()
                .get::<axum::extract::MatchedPath>()
                .map_or_else(|| req.uri().path().to_string(), |m| m.as_str().to_string());
            tracing::info_span!(
                "request",
                method = %req.method(),
                route = %route,
                order = tracing::field::Empty,
                event = tracing::field::Empty,
            )
        }))
}

/// `limit` (1 to 500, default 50) and `cursor` (an id this service gave: what
/// `^([1-9][0-9]{0,17})?$` matches, as the
/// OpenAPI document says; empty is the first page) of a paged list.
fn paging(limit: Option<u32>, cursor: Option<&str>) -> Result<(u32, Option<i64>), error::ApiError> {
    let bad = |m: String| error::ApiError::new(error::ErrorCode::BadQuery, m);
    let limit = limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(bad(format!("`limit` must be between 1 and 500, not {limit}")));
    }
    let before = match cursor.filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => {
            // Exactly the documented pattern: 1 to 18 digits, no leading zero, no sign.
            let digits =
                (1..=18).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_digit()) && !c.starts_with('0');
            Some(
                c.parse::<i64>()
                    .ok()
                    .filter(|_| digits)
                    .ok_or_else(|| bad(format!("`cursor` `{c}` is not a cursor this service gave")))?,
            )
        }
    };
    Ok((limit, before))
}

/// The order a path part names (see [`OrderKey`]): its number exactly as written, or `id:N`.
/// Text that starts with `id:` but is no id names no order: 404.
fn order_key(raw: &str) -> Result<crate::store::OrderKey, error::ApiError> {
    crate::store::OrderKey::parse(raw).ok_or_else(|| error::ApiError::bad_order_key(raw))
}

/// Records the order (and event) a request is about on its tracing span, as the client wrote
/// them (escaped: see [`crate::logging`]).
fn trace_order(order: &str, event: Option<&str>) {
    let span = tracing::Span::current();
    span.record("order", tracing::field::display(crate::logging::clean(order)));
    if let Some(e) = event {
        span.record("event", tracing::field::display(crate::logging::clean(e)));
    }
}

#[cfg(test)]
mod tests {
    use super::edge;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use axum::routing::get;
    use axum::Router;
    use tower::ServiceExt;

    async fn boom() -> &'static str {
        panic!("a bug in a handler")
    }

    #[tokio::test]
    async fn a_panicking_handler_is_answered_500_in_json_and_the_router_goes_on() {
        let router = edge(Router::new().route("/boom", get(boom)).route("/ok", get(|| async { "ok" })), 1024);
        let res = router.clone().oneshot(Request::get("/boom").body(Body::empty()).expect("request")).await;
        let res = res.expect("an answer");
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(res.into_body(), 4096).await.expect("body");
        let json: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(json["error"], "internal");
        assert!(
            !json.to_string().contains("a bug in a handler"),
            "the panic's text stays in the log: {json}"
        );
        let res =
            router.oneshot(Request::get("/ok").body(Body::empty()).expect("request")).await.expect("answer");
        assert_eq!(res.status(), StatusCode::OK);
    }
}
