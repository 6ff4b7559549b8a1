//! Live updates for the board: `GET /events/orders`, server-sent events that say "orders
//! changed" (event `orders`, the time of the last change as data) when any order changes.
//!
//! One watcher per process reads the newest change to any order (`Store::last_order_change`,
//! one read at the end of an index) every [`TICK`] while at least one board listens, and tells
//! every listener through a `watch` channel; so the cost does not grow with the number of
//! boards, and a change made by another process on the same PostgreSQL is seen like one made
//! here. Listeners are bounded ([`MAX_LISTENERS`]); past that a board is told 429 and works
//! without live updates. The watcher holds the service weakly and stops when it is gone.

use super::session::{Refusal, Staff};
use crate::config::Scope;
use crate::http::error::ErrorCode;
use crate::http::AppState;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use std::convert::Infallible;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

/// How often the watcher looks.
pub(super) const TICK: Duration = Duration::from_secs(1);

/// Boards listening at once, per process.
pub(super) const MAX_LISTENERS: usize = 200;

/// The watcher's channel and the listeners' allowance.
#[derive(Debug)]
pub(crate) struct Live {
    changed: watch::Sender<String>,
    /// Set when the service shuts down: every stream ends, so connections close at once.
    closing: watch::Sender<bool>,
    started: std::sync::Once,
    listeners: Arc<Semaphore>,
}

impl Default for Live {
    fn default() -> Self {
        Live {
            changed: watch::channel(String::new()).0,
            closing: watch::channel(false).0,
            started: std::sync::Once::new(),
            listeners: Arc::new(Semaphore::new(MAX_LISTENERS)),
        }
    }
}

impl Live {
    /// Ends every stream (the service is shutting down).
    pub(crate) fn close(&self) {
        self.closing.send_replace(true);
    }
}

/// The watcher: reads the last change while someone listens, and says when it moved.
async fn watch_orders(state: Weak<AppState>) {
    let mut seen = None;
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(state) = state.upgrade() else { return };
        let live = &state.pages.live;
        if live.changed.receiver_count() == 0 {
            continue;
        }
        match state.service.store().last_order_change().await {
            Ok(last) if last != seen => {
                let at = last.as_ref().map(|(_, at)| at.clone()).unwrap_or_default();
                seen = last;
                live.changed.send_replace(at);
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "the board's live updates could not read the last change"),
        }
    }
}

/// `GET /events/orders`: the board's stream (needs `orders:read`).
pub(crate) async fn orders(State(state): State<Arc<AppState>>, staff: Staff) -> Result<Response, Refusal> {
    staff.require(Scope::OrdersRead, true)?;
    let live = &state.pages.live;
    let Ok(permit) = live.listeners.clone().try_acquire_owned() else {
        return Err(Refusal::new(
            true,
            ErrorCode::RateLimited,
            "too many boards are listening; this one works without live updates",
        ));
    };
    let weak = Arc::downgrade(&state);
    live.started.call_once(|| {
        tokio::spawn(watch_orders(weak));
    });
    let mut rx = live.changed.subscribe();
    rx.mark_unchanged();
    let closing = live.closing.subscribe();
    if *closing.borrow() {
        return Err(Refusal::new(true, ErrorCode::Busy, "the service is shutting down"));
    }
    type Held = (watch::Receiver<String>, watch::Receiver<bool>, OwnedSemaphorePermit);
    let stream = futures_util::stream::unfold(
        (rx, closing, permit),
        |(mut rx, mut closing, permit): Held| async move {
            tokio::select! {
                changed = rx.changed() => changed.ok()?,
                _ = closing.changed() => return None,
            }
            let at = rx.borrow_and_update().clone();
            Some((Ok::<Event, Infallible>(Event::default().event("orders").data(at)), (rx, closing, permit)))
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()).into_response())
}
