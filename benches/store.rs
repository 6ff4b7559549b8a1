//! Events applied end to end through the store, one event per transaction, on an order table of
//! 100,000 orders, against the same transaction run as bare SQL (`Store::baseline_event`).
//! SQLite (WAL, synchronous=NORMAL) always; PostgreSQL when ORDERLY_BENCH_POSTGRES_URL names an
//! admin URL (a fresh database is made and dropped). Target: the engine path at least 70 % of the
//! bare rate (docs/benchmarks.md).
//!
//! `cargo bench --bench store` (env: BENCH_ORDERS, default 100000; BENCH_EVENTS, default 5000).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failure should stop the test loudly"
)]

use chrono::TimeZone;
use orderly::engine::{self, EventInput, NewOrder, NoHooks};
use orderly::order::Customer;
use orderly::registry::Registry;
use orderly::service::{Clock, ManualClock, Service};
use orderly::store::Store;
use sqlx::{Connection, Executor};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

async fn fill(store: &Store, orders: usize) -> Vec<i64> {
    let registry = Registry::load(Path::new("tests/fixtures/shop"), store).await.expect("workflow");
    let active = registry.get("shop").expect("shop").clone();
    let now = chrono::Utc.with_ymd_and_hms(2026, 1, 1, 9, 0, 0).single().expect("time");
    let input: NewOrder = serde_json::from_value(serde_json::json!({
        "channel": "web",
        "customer": {"email": "bench@example.com"},
        "payment": {"method": "credit_card", "outcome": "approved"},
        "lines": [{"sku": "A", "qty": 1, "unit_price": "9.99", "in_stock": true},
                  {"sku": "B", "qty": 2, "unit_price": "4.50"}]
    }))
    .expect("order");
    let mut tx = store.begin().await.expect("begin");
    let customer = tx
        .match_customer(
            &orderly::store::CustomerMatch { email: "bench@example.com".into(), ..Default::default() },
            now,
        )
        .await
        .expect("customer")
        .customer;
    tx.commit().await.expect("commit");
    let decision = engine::create(
        &active.workflow,
        &input,
        Customer { is_new: false, ..customer },
        false,
        now,
        &NoHooks,
    )
    .expect("create");
    let mut ids = Vec::with_capacity(orders);
    let started = Instant::now();
    for chunk in 0..orders.div_ceil(1000) {
        let mut tx = store.begin().await.expect("begin");
        for _ in 0..1000.min(orders - chunk * 1000) {
            ids.push(tx.insert_order(&decision, active.version, now).await.expect("insert"));
        }
        tx.commit().await.expect("commit");
    }
    eprintln!("  filled {orders} orders in {:.1} s", started.elapsed().as_secs_f64());
    ids
}

async fn run(label: &str, store: Store) {
    let orders = env("BENCH_ORDERS", 100_000);
    let events = env("BENCH_EVENTS", 5_000);
    eprintln!("{label}:");
    let ids = fill(&store, orders).await;
    let registry = Registry::load(Path::new("tests/fixtures/shop"), &store).await.expect("workflow");
    let clock =
        Arc::new(ManualClock::new(chrono::Utc.with_ymd_and_hms(2026, 1, 2, 9, 0, 0).single().expect("time")));
    let service = Service::new(store.clone(), registry, clock.clone(), Arc::new(NoHooks));
    let pick = |i: usize| ids[(i * 7919) % ids.len()];

    let started = Instant::now();
    for i in 0..events {
        store.baseline_event(pick(i), clock.now()).await.expect("bare");
    }
    let bare = events as f64 / started.elapsed().as_secs_f64();

    let event = EventInput {
        name: "note".into(),
        data: serde_json::json!({"text": "checked"}).as_object().cloned().unwrap_or_default(),
        actor: None,
    };
    let started = Instant::now();
    for i in 0..events {
        service.apply_event(pick(i + events), &event, None).await.expect("applied");
    }
    let engine = events as f64 / started.elapsed().as_secs_f64();
    println!(
        "{label}: {orders} orders, {events} events: engine {engine:.0} events/s, bare SQL {bare:.0} transactions/s, ratio {:.0} %",
        100.0 * engine / bare
    );
}

#[tokio::main]
async fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return; // `cargo test --benches` and `cargo bench -- --list`: nothing to list
    }
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    run("SQLite", Store::connect(&url).await.expect("sqlite")).await;

    if let Ok(admin) = std::env::var("ORDERLY_BENCH_POSTGRES_URL") {
        let name = format!("orderly_bench_{}", std::process::id());
        let mut conn = sqlx::PgConnection::connect(&admin).await.expect("postgres admin");
        conn.execute(format!("CREATE DATABASE {name}").as_str()).await.expect("create database");
        let url = format!("{}/{name}", admin.rsplit_once('/').map_or(admin.as_str(), |(base, _)| base));
        let store = Store::connect(&url).await.expect("postgres");
        run("PostgreSQL", store.clone()).await;
        store.close().await;
        conn.execute(format!("DROP DATABASE {name} WITH (FORCE)").as_str()).await.ok();
    } else {
        eprintln!(
            "PostgreSQL skipped: set ORDERLY_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres"
        );
    }
}
