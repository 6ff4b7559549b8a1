//! Parse + check of a large generated workflow: 1,000 statuses in 10 phases, 50 events and
//! 5,000 guarded transitions. Target: under 20 ms (docs/benchmarks.md).
//!
//! `CHECK_ONCE=1` parses and checks the text once and exits, for instruction counts:
//! `CHECK_ONCE=1 valgrind --tool=callgrind target/release/deps/check-HASH --bench`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failure should stop the test loudly"
)]
#![expect(missing_docs, reason = "criterion_group! generates an undocumented function")]

use criterion::{criterion_group, Criterion};
use orderly::check::{compile, Context};
use std::fmt::Write as _;

/// A valid workflow with `statuses` statuses and `transitions` transitions.
fn generate(statuses: usize, transitions: usize) -> String {
    let mut s = String::from("workflow big \"Generated\"\n");
    for p in 0..statuses.div_ceil(100) {
        writeln!(s, "phase p{p} \"Phase {p}\" {{").unwrap();
        for i in p * 100..((p + 1) * 100).min(statuses) {
            let fin = if i == statuses - 1 { " final" } else { "" };
            writeln!(s, "    status s{i} \"Status {i}\" customer sees \"Step {i}\"{fin}").unwrap();
        }
        s.push_str("}\n");
    }
    for e in 0..50 {
        writeln!(s, "event e{e} {{ amount: money  note: text? }}").unwrap();
    }
    s.push_str("flag hold \"on hold\"\nchannel web { start in s0 }\n");
    let open = statuses - 1;
    for t in 0..transitions {
        let from = t % open;
        let event = (t / open) % 50;
        let to = from + 1;
        writeln!(
            s,
            "on e{event} from s{from} when event.amount >= {t}.50 and not flags.hold and any line(line.qty > 1) go to s{to} {{ set flag hold }}"
        )
        .unwrap();
    }
    s
}

fn bench(c: &mut Criterion) {
    let source = generate(1000, 5000);
    let out = compile(&source, &Context::default());
    assert!(out.workflow.is_some(), "the generated workflow must be valid: {:?}", out.diagnostics.first());
    c.bench_function("parse+check 1000 statuses 5000 transitions", |b| {
        b.iter(|| compile(std::hint::black_box(&source), &Context::default()))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}

fn main() {
    if std::env::var_os("CHECK_ONCE").is_some() {
        let source = generate(1000, 5000);
        let out = compile(std::hint::black_box(&source), &Context::default());
        assert!(out.workflow.is_some());
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
