//! What `GET /metrics` shows, in Prometheus text format (prometheus-client): events applied and
//! rejected, transition latency, orders by status, reloads, timer lag, the database pool, and
//! the outbox: messages by state, sent / retried / dead by kind and target, delivery latency.
//!
//! Counters and histograms are updated where things happen (the HTTP handlers, the timer loop);
//! gauges that describe the database (orders by status, pool) are read when the page is asked for,
//! so nothing about orders is kept in memory.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::Mutex;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabels {
    workflow: String,
    event: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RejectLabels {
    workflow: String,
    event: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    workflow: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TargetLabels {
    kind: String,
    target: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WriteLabels {
    what: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    state: String,
}

/// The service's metrics.
pub struct Metrics {
    registry: Mutex<Registry>,
    applied: Family<EventLabels, Counter>,
    rejected: Family<RejectLabels, Counter>,
    latency: Histogram,
    orders: Family<StatusLabels, Gauge>,
    reloads: Family<ResultLabels, Gauge>,
    timers_fired: Counter,
    timer_lag: Histogram,
    pool: Family<PoolLabels, Gauge>,
    writes: Family<WriteLabels, Gauge>,
    outbox: Family<StateLabels, Gauge>,
    sent: Family<TargetLabels, Counter>,
    retried: Family<TargetLabels, Counter>,
    dead: Family<TargetLabels, Counter>,
    delivery_latency: Histogram,
    attempt_duration: Histogram,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// What the database says at scrape time.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// (workflow, status, orders).
    pub orders_by_status: Vec<(String, String, i64)>,
    /// Reloads (ok, failed) since start.
    pub reloads: (u64, u64),
    /// Connections open in the pool.
    pub pool_size: u32,
    /// Of those, idle.
    pub pool_idle: usize,
    /// (state, outbox messages).
    pub outbox_by_state: Vec<(String, i64)>,
    /// What the writer has done since start.
    pub writes: crate::service::WriteStats,
}

impl Metrics {
    /// Empty metrics, registered under the `orderly_` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("orderly");
        let applied = Family::<EventLabels, Counter>::default();
        let rejected = Family::<RejectLabels, Counter>::default();
        // 100 µs .. ~6.5 s
        let latency = Histogram::new(exponential_buckets(0.0001, 2.0, 17));
        let orders = Family::<StatusLabels, Gauge>::default();
        let reloads = Family::<ResultLabels, Gauge>::default();
        let timers_fired = Counter::default();
        // 10 ms .. ~20 min
        let timer_lag = Histogram::new(exponential_buckets(0.01, 2.0, 18));
        let pool = Family::<PoolLabels, Gauge>::default();
        let writes = Family::<WriteLabels, Gauge>::default();
        let outbox = Family::<StateLabels, Gauge>::default();
        let sent = Family::<TargetLabels, Counter>::default();
        let retried = Family::<TargetLabels, Counter>::default();
        let dead = Family::<TargetLabels, Counter>::default();
        // 10 ms .. ~45 h
        let delivery_latency = Histogram::new(exponential_buckets(0.01, 2.0, 24));
        // 1 ms .. ~65 s
        let attempt_duration = Histogram::new(exponential_buckets(0.001, 2.0, 17));
        registry.register("events_applied", "Events applied, by workflow and event", applied.clone());
        registry.register(
            "events_rejected",
            "Events refused, by workflow, event and reason (the rejection code)",
            rejected.clone(),
        );
        registry.register(
            "event_duration_seconds",
            "Time to apply one event, from request to commit",
            latency.clone(),
        );
        registry.register("orders", "Orders by workflow and status", orders.clone());
        registry.register("reloads", "Workflow reloads since start, by result", reloads.clone());
        registry.register("timers_fired", "Timers fired", timers_fired.clone());
        registry.register(
            "timer_lag_seconds",
            "How late timers fired, after they were due",
            timer_lag.clone(),
        );
        registry.register("db_pool_connections", "Database pool connections, by state", pool.clone());
        registry.register(
            "writer",
            "The writer since start: batches (transactions), changes they carried, the largest batch, \
             batches split after a failed write, syncs of SQLite's WAL by its group commit, checkpoints of \
             that WAL beside the writer and by the writer itself past the WAL's bound",
            writes.clone(),
        );
        registry.register(
            "outbox_messages",
            "Outbox messages by state (pending: queued, not delivered yet; sent; dead)",
            outbox.clone(),
        );
        registry.register("outbox_sent", "Messages delivered, by kind and target", sent.clone());
        registry.register(
            "outbox_retried",
            "Failed delivery attempts to be tried again, by kind and target",
            retried.clone(),
        );
        registry.register("outbox_dead", "Messages delivery gave up on, by kind and target", dead.clone());
        registry.register(
            "delivery_latency_seconds",
            "From queued (the commit) to delivered, for messages delivered",
            delivery_latency.clone(),
        );
        registry.register(
            "delivery_attempt_duration_seconds",
            "Time one delivery attempt took (the HTTP request or SMTP conversation)",
            attempt_duration.clone(),
        );
        Metrics {
            registry: Mutex::new(registry),
            applied,
            rejected,
            latency,
            orders,
            reloads,
            timers_fired,
            timer_lag,
            pool,
            writes,
            outbox,
            sent,
            retried,
            dead,
            delivery_latency,
            attempt_duration,
        }
    }

    fn target(kind: &str, target: &str) -> TargetLabels {
        TargetLabels { kind: kind.into(), target: target.into() }
    }

    /// A message was delivered, `queued_seconds` after it was queued, by an attempt that took
    /// `attempt_seconds`.
    pub(crate) fn delivery_sent(&self, kind: &str, target: &str, queued_seconds: f64, attempt_seconds: f64) {
        self.sent.get_or_create(&Self::target(kind, target)).inc();
        self.delivery_latency.observe(queued_seconds.max(0.0));
        self.attempt_duration.observe(attempt_seconds.max(0.0));
    }

    /// A delivery attempt failed after `attempt_seconds`.
    pub(crate) fn delivery_failed(&self, _kind: &str, _target: &str, attempt_seconds: f64) {
        self.attempt_duration.observe(attempt_seconds.max(0.0));
    }

    /// A failed message will be tried again.
    pub(crate) fn delivery_retried(&self, kind: &str, target: &str) {
        self.retried.get_or_create(&Self::target(kind, target)).inc();
    }

    /// Delivery gave up on a message.
    pub(crate) fn delivery_dead(&self, kind: &str, target: &str) {
        self.dead.get_or_create(&Self::target(kind, target)).inc();
    }

    /// An event was applied in `seconds`.
    pub(crate) fn event_applied(&self, workflow: &str, event: &str, seconds: f64) {
        self.applied.get_or_create(&EventLabels { workflow: workflow.into(), event: event.into() }).inc();
        self.latency.observe(seconds);
    }

    /// An event was refused with the rejection code `reason`.
    pub(crate) fn event_rejected(&self, workflow: &str, event: &str, reason: &str) {
        self.rejected
            .get_or_create(&RejectLabels {
                workflow: workflow.into(),
                event: event.into(),
                reason: reason.into(),
            })
            .inc();
    }

    /// A timer fired `lag_seconds` after it was due.
    pub(crate) fn timer_fired(&self, lag_seconds: f64) {
        self.timers_fired.inc();
        self.timer_lag.observe(lag_seconds.max(0.0));
    }

    /// The page: the counters, with the gauges set from `snapshot`.
    pub fn render(&self, snapshot: &Snapshot) -> String {
        self.orders.clear();
        for (workflow, status, n) in &snapshot.orders_by_status {
            self.orders
                .get_or_create(&StatusLabels { workflow: workflow.clone(), status: status.clone() })
                .set(*n);
        }
        self.outbox.clear();
        for state in crate::store::OUTBOX_STATES {
            let n = snapshot.outbox_by_state.iter().find(|(s, _)| s == state).map_or(0, |(_, n)| *n);
            self.outbox.get_or_create(&StateLabels { state: state.into() }).set(n);
        }
        let gauge = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.reloads.get_or_create(&ResultLabels { result: "ok".into() }).set(gauge(snapshot.reloads.0));
        self.reloads.get_or_create(&ResultLabels { result: "failed".into() }).set(gauge(snapshot.reloads.1));
        let size = i64::from(snapshot.pool_size);
        let idle = i64::try_from(snapshot.pool_idle).unwrap_or(size);
        self.pool.get_or_create(&PoolLabels { state: "idle".into() }).set(idle);
        self.pool.get_or_create(&PoolLabels { state: "busy".into() }).set((size - idle).max(0));
        let w = snapshot.writes;
        for (what, n) in [
            ("batches", w.batches),
            ("changes", w.changes),
            ("largest", w.largest),
            ("split", w.split),
            ("syncs", w.syncs),
            ("checkpoints", w.checkpoints),
            ("bounded_checkpoints", w.bounded),
        ] {
            self.writes.get_or_create(&WriteLabels { what: what.into() }).set(gauge(n));
        }
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_shows_counts_labels_and_gauges() {
        let m = Metrics::new();
        m.event_applied("retail", "payment_received", 0.002);
        m.event_applied("retail", "payment_received", 0.004);
        m.event_rejected("retail", "void", "no_transition");
        m.timer_fired(1.5);
        m.delivery_sent("webhook", "crm", 0.5, 0.02);
        m.delivery_retried("webhook", "crm");
        m.delivery_dead("email", "order_shipped");
        let page = m.render(&Snapshot {
            orders_by_status: vec![("retail".into(), "shipped".into(), 7)],
            reloads: (3, 1),
            pool_size: 5,
            pool_idle: 4,
            outbox_by_state: vec![("pending".into(), 2), ("dead".into(), 1)],
            writes: crate::service::WriteStats {
                batches: 4,
                changes: 9,
                largest: 5,
                split: 1,
                syncs: 3,
                checkpoints: 2,
                bounded: 1,
            },
        });
        assert!(page.contains(r#"orderly_writer{what="changes"} 9"#), "{page}");
        assert!(page.contains(r#"orderly_writer{what="largest"} 5"#), "{page}");
        assert!(page.contains(r#"orderly_writer{what="syncs"} 3"#), "{page}");
        assert!(page.contains(r#"orderly_writer{what="checkpoints"} 2"#), "{page}");
        assert!(page.contains(r#"orderly_writer{what="bounded_checkpoints"} 1"#), "{page}");
        assert!(
            page.contains(r#"orderly_events_applied_total{workflow="retail",event="payment_received"} 2"#),
            "{page}"
        );
        assert!(
            page.contains(
                r#"orderly_events_rejected_total{workflow="retail",event="void",reason="no_transition"} 1"#
            ),
            "{page}"
        );
        assert!(page.contains(r#"orderly_orders{workflow="retail",status="shipped"} 7"#), "{page}");
        assert!(page.contains(r#"orderly_reloads{result="failed"} 1"#), "{page}");
        assert!(page.contains(r#"orderly_db_pool_connections{state="busy"} 1"#), "{page}");
        assert!(page.contains("orderly_event_duration_seconds_count 2"), "{page}");
        assert!(page.contains("orderly_timer_lag_seconds_count 1"), "{page}");
        assert!(page.contains(r#"orderly_outbox_messages{state="pending"} 2"#), "{page}");
        assert!(page.contains(r#"orderly_outbox_messages{state="sent"} 0"#), "{page}");
        assert!(page.contains(r#"orderly_outbox_sent_total{kind="webhook",target="crm"} 1"#), "{page}");
        assert!(page.contains(r#"orderly_outbox_retried_total{kind="webhook",target="crm"} 1"#), "{page}");
        assert!(
            page.contains(r#"orderly_outbox_dead_total{kind="email",target="order_shipped"} 1"#),
            "{page}"
        );
        assert!(page.contains("orderly_delivery_latency_seconds_count 1"), "{page}");
        // A status with no orders left disappears instead of showing a stale count.
        let page = m.render(&Snapshot::default());
        assert!(!page.contains(r#"status="shipped""#), "{page}");
    }
}
