//! The hook engine (issue 4, docs/benchmarks.md): a guard hook over an order of 10 lines
//! (`tests/hooks/ok/in_stock_total.rhai`; target under 10 µs median), the same guard written as a
//! DSL expression and evaluated by the engine core, the shipped `dropship_vendor.rhai` guard on
//! the same order, and an action hook returning three effects (`three_effects.rhai`; target under
//! 25 µs). Each figure includes copying the order into the script's view, the run, and turning the
//! result into a bool or the engine's effects.

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
use orderly::check::{compile, Context};
use orderly::engine::{self, Hooks, NewOrder};
use orderly::hooks::HookEngine;
use orderly::order::Customer;
use std::hint::black_box;
use std::path::Path;

/// The DSL twin of `in_stock_total.rhai`, in a workflow of its own.
const DSL: &str = r#"
workflow hook_bench "The hook benchmark's guard as a DSL expression"
status open "Open"
status done "Done" final
channel web "Web" { start in open }
event check "Check the order"
on check from open
    when all lines(line.fulfillment != stock or line.in_stock) and order.total > 100
    go to done
"#;

fn bench(c: &mut Criterion) {
    let now = chrono::Utc.with_ymd_and_hms(2026, 1, 1, 9, 0, 0).single().expect("time");
    let fixtures = HookEngine::load(Path::new("tests/hooks/ok")).expect("the fixtures load");
    let shipped = HookEngine::load(Path::new("workflows/hooks")).expect("the shipped hooks load");

    // An order of 10 lines: stock lines in stock, every other line drop-shipped by Yamaha.
    let retail = orderly::load::load(Path::new("workflows/retail.flow")).expect("retail loads");
    let retail = retail[0].outcome.workflow.clone().expect("retail compiles");
    let lines: Vec<serde_json::Value> = (0..10)
        .map(|i| {
            let dropship = i % 2 == 1;
            serde_json::json!({
                "sku": format!("SKU-{i}"), "description": format!("Item {i}"),
                "vendor": if dropship { "Yamaha" } else { "" }, "qty": 1 + i % 3, "unit_price": "19.99",
                "fulfillment": if dropship { "dropship" } else { "stock" }, "in_stock": !dropship,
            })
        })
        .collect();
    let input: NewOrder = serde_json::from_value(serde_json::json!({
        "channel": "order_manager",
        "customer": {"email": "a@example.com", "first_name": "Ann", "last_name": "Example"},
        "payment": {"method": "credit_card", "outcome": "approved"},
        "lines": lines
    }))
    .expect("order");
    let order =
        engine::create(&retail, &input, Customer::default(), false, now, &shipped).expect("created").order;
    assert_eq!(order.lines.len(), 10);

    let dsl = compile(DSL, &Context::default());
    let w = dsl.workflow.unwrap_or_else(|| panic!("the DSL twin compiles: {:?}", dsl.diagnostics));
    let guard = w.transitions.iter().find_map(|t| t.guard.as_ref()).expect("a guard");

    assert_eq!(fixtures.guard("in_stock_total.rhai", &order, None, now), Ok(true));
    assert_eq!(shipped.guard("dropship_vendor.rhai", &order, None, now), Ok(true));
    assert_eq!(
        engine::evaluate(&w, guard, &order, None, now, &fixtures).map(|v| v == engine::Value::Bool(true)),
        Ok(true)
    );
    assert_eq!(fixtures.run("three_effects.rhai", &order, None, now).map(|e| e.len()), Ok(3));

    c.bench_function("hook guard: in_stock_total.rhai over 10 lines", |b| {
        b.iter(|| fixtures.guard(black_box("in_stock_total.rhai"), black_box(&order), None, now))
    });
    // Two orders in turn: the hook engine's copy of the last order never matches, so every call
    // copies the order (the cold path).
    let mut other = order.clone();
    other.id += 1;
    let pair = [&order, &other];
    let mut turn = 0usize;
    c.bench_function("hook guard, cold copy: in_stock_total.rhai over 10 lines", |b| {
        b.iter(|| {
            turn += 1;
            fixtures.guard(black_box("in_stock_total.rhai"), black_box(pair[turn % 2]), None, now)
        })
    });
    c.bench_function("DSL guard: the same expression over 10 lines", |b| {
        b.iter(|| engine::evaluate(&w, black_box(guard), black_box(&order), None, now, &fixtures))
    });
    c.bench_function("hook guard: shipped dropship_vendor.rhai over 10 lines", |b| {
        b.iter(|| shipped.guard(black_box("dropship_vendor.rhai"), black_box(&order), None, now))
    });
    c.bench_function("hook action: three_effects.rhai (3 effects)", |b| {
        b.iter(|| fixtures.run(black_box("three_effects.rhai"), black_box(&order), None, now))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
