//! The engine core's decision for one event on the retail workflow, with guards over an order
//! of 10 lines: `payment_confirmed` takes the order to Ready to Source, where the sourcing
//! rules (`all lines(line.fulfillment == stock and line.in_stock)`, ...) pick In Shipping.
//! Target: under 2 µs (docs/benchmarks.md). Also: the same guard evaluated alone.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failure should stop the test loudly"
)]
#![expect(missing_docs, reason = "criterion_group! generates an undocumented function")]

use chrono::TimeZone;
use criterion::{criterion_group, criterion_main, Criterion};
use orderly::engine::{self, EventInput, NewOrder, NoHooks};
use orderly::order::Customer;
use std::hint::black_box;
use std::path::Path;

fn bench(c: &mut Criterion) {
    let loaded = orderly::load::load(Path::new("workflows/retail.flow")).expect("retail loads");
    let w = loaded[0].outcome.workflow.clone().expect("retail compiles");
    let now = chrono::Utc.with_ymd_and_hms(2026, 1, 1, 9, 0, 0).single().expect("time");
    let lines: Vec<serde_json::Value> = (0..10)
        .map(|i| serde_json::json!({"sku": format!("SKU-{i}"), "qty": 1 + i % 3, "unit_price": "19.99", "in_stock": true}))
        .collect();
    let input: NewOrder = serde_json::from_value(serde_json::json!({
        "channel": "order_manager",
        "customer": {"email": "a@example.com"},
        "payment": {"method": "credit_card", "outcome": "approved"},
        "lines": lines
    }))
    .expect("order");
    let order = engine::create(&w, &input, Customer::default(), false, now, &NoHooks).expect("created").order;
    assert_eq!(order.status, "ready_to_process");
    let event = EventInput { name: "payment_confirmed".into(), ..EventInput::default() };
    let d = engine::apply(&w, &order, &event, now, &NoHooks).expect("applies");
    assert_eq!(d.order.status, "in_shipping", "the sourcing guard over 10 lines took it to the warehouse");

    c.bench_function("core decision: payment_confirmed on retail, guards over 10 lines", |b| {
        b.iter(|| engine::apply(black_box(&w), black_box(&order), black_box(&event), now, &NoHooks).is_ok())
    });
    let guard = w
        .transitions
        .iter()
        .find_map(|t| t.guard.as_ref().filter(|_| t.event.is_none()))
        .expect("an automatic sourcing guard");
    c.bench_function("guard alone: all lines(stock and in stock) over 10 lines", |b| {
        b.iter(|| engine::evaluate(black_box(&w), black_box(guard), black_box(&order), None, now, &NoHooks))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
