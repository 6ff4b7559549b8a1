//! `GET /v1/track/{number}?email=`: the customer's own view of an order, without a token.
//! A wrong number and a wrong email get the same 404, and each client address may ask a
//! limited number of times a minute (`track_per_minute`), so the page cannot be used to find
//! out which order numbers exist or whose they are.

use super::error::{ApiError, ErrorCode, PathArgs, QueryArgs};
use super::view::TrackingView;
use super::AppState;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::Json;
use serde::Deserialize;
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

/// The client's address: the socket peer, or, when the peer is a trusted proxy
/// (`trusted_proxies`), the last address in `X-Forwarded-For` that is not a trusted proxy
/// itself (the one the nearest trusted proxy saw). Unknown in tests without a socket.
pub(crate) struct ClientAddr(IpAddr);

impl ClientAddr {
    /// The address.
    pub(crate) fn ip(&self) -> IpAddr {
        self.0
    }
}

impl FromRequestParts<Arc<AppState>> for ClientAddr {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip().to_canonical());
        let trusted = &state.config.trusted_proxies;
        Ok(ClientAddr(client_of(peer, &parts.headers, trusted)))
    }
}

/// See [`ClientAddr`]: headers from an untrusted peer are ignored.
fn client_of(peer: IpAddr, headers: &axum::http::HeaderMap, trusted: &[ipnet::IpNet]) -> IpAddr {
    let peer = peer.to_canonical();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|h| h.trim().parse::<IpAddr>().ok())
        .map(|ip| ip.to_canonical())
        .collect();
    hops.into_iter().rev().find(|ip| !is_trusted(ip)).unwrap_or(peer)
}

/// Addresses the tracking limiter remembers before it forgets those that are back to a full
/// allowance: its memory stays bounded whatever number of addresses ask.
const LIMITER_KEYS: usize = 10_000;

/// The email the order was placed with.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct TrackParams {
    /// The customer's email (any case).
    #[serde(default)]
    email: String,
}

fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no order matches this number and email")
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
    tracked(&state, ip, &number, &p.email).await.map(Json)
}

/// The customer's view of the order with this number, if `email` is the one it was placed with;
/// limited per client address. What the JSON route and the customer's page (`/track`) answer.
pub(crate) async fn tracked(
    state: &AppState,
    ip: IpAddr,
    number: &str,
    email: &str,
) -> Result<TrackingView, ApiError> {
    if state.track_limiter.len() > LIMITER_KEYS {
        state.track_limiter.retain_recent();
    }
    if let Err(not_until) = state.track_limiter.check_key(&ip) {
        let wait =
            not_until.wait_time_from(governor::clock::Clock::now(&governor::clock::DefaultClock::default()));
        let secs = wait.as_secs().max(1);
        return Err(ApiError::new(
            ErrorCode::RateLimited,
            format!("too many tracking requests from this address; try again in {secs} s"),
        )
        .header(header::RETRY_AFTER, &secs.to_string()));
    }
    // The email is compared on the order row alone, before the order (lines, shipments,
    // actions) is loaded: a wrong email answers as fast as an unknown number.
    let emails = state.service.store().order_emails(number).await?.ok_or_else(not_found)?;
    if !emails.iter().any(|e| same_email(email, e)) {
        return Err(not_found());
    }
    let order = state.service.store().order_by_number(number).await?.ok_or_else(not_found)?;
    let registry = state.service.registry();
    let workflow = registry.get(&order.workflow).map(|a| &*a.workflow);
    Ok(TrackingView::new(&order, workflow))
}

#[cfg(test)]
mod tests {
    use super::client_of;
    use axum::http::HeaderMap;
    use std::net::IpAddr;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("an address")
    }

    #[test]
    fn forwarded_for_counts_only_from_trusted_proxies() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "203.0.113.9, 198.51.100.7, 10.0.0.5".parse().expect("header"));
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().expect("net")];
        // From a trusted proxy: the last hop it did not add itself.
        assert_eq!(client_of(ip("10.0.0.2"), &h, &trusted), ip("198.51.100.7"));
        // From anyone else, the header is a claim like any other: ignored.
        assert_eq!(client_of(ip("192.0.2.1"), &h, &trusted), ip("192.0.2.1"));
        assert_eq!(client_of(ip("10.0.0.2"), &h, &[]), ip("10.0.0.2"));
        // Garbage in the header is skipped; with nothing usable, the peer counts.
        h.insert("x-forwarded-for", "not-an-ip, 10.1.1.1".parse().expect("header"));
        assert_eq!(client_of(ip("10.0.0.2"), &h, &trusted), ip("10.0.0.2"));
        // IPv4-mapped IPv6 peers are read as IPv4.
        assert_eq!(client_of(ip("::ffff:10.0.0.2"), &HeaderMap::new(), &trusted), ip("10.0.0.2"));
    }
}
