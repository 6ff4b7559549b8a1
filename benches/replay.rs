//! What-if replay's speed (docs/benchmarks.md), two figures:
//!
//! - `fsm`: the stream the peers' state-machine libraries were measured on
//!   (`/work/shared/bench/fsm`, README there): 13 statuses, 25 transitions, one guard, 10,000
//!   orders x 100 events, interleaved. The machine is `benches/fsm/fsm.flow`; the stream is
//!   generated into `target/fsm/` by the peers' `gen_events.py` when missing. Each event goes
//!   through [`Replayer::step`], the step `orderly replay` takes for every recorded input, on
//!   10,000 orders held in memory; the final statuses are checked against `expected.json` (the
//!   sha256 over them, accepted and guard-rejected counts). Then the same orders again through
//!   [`replay_order`] (the whole per-order path: each order's record, compared input by input
//!   with what a first pass through `engine::apply` recorded). Target: 1,000,000 events/s.
//! - `sqlite`: `orderly replay` (the library function it runs, on a store opened read-only) of
//!   100,000 orders with 10 events each (the same machine's walks, `gen_events.py ... 100000
//!   10`), seeded straight into a SQLite file (`target/replay-bench/orders.db`, kept for the
//!   next run). Target: under 10 s.
//!
//! `cargo bench --bench replay` (both), `cargo bench --bench replay -- fsm` or `-- sqlite` (or
//! only one half of `fsm`: `-- step`, `-- orders`).
//! Env: `BENCH_FSM_DIR` (default `../shared/bench/fsm`), `BENCH_ROUNDS` (default 3).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failure should stop the test loudly"
)]

use chrono::TimeZone;
use orderly::engine::{self, EventInput, NewOrder, NoHooks};
use orderly::model::Workflow;
use orderly::order::{Customer, Time};
use orderly::registry::{Checked, Registry};
use orderly::replay::{
    replay, replay_order, Input, Outcome, Recorded, Refused, ReplayOptions, ReplayState, Replayer,
};
use orderly::store::Store;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The spec's events, in its order (the stream names events by index).
const EVENTS: [&str; 17] = [
    "checkout",
    "payment_received",
    "card_declined",
    "paypal_started",
    "payment_retry",
    "paypal_completed",
    "paypal_failed",
    "process",
    "pick_started",
    "out_of_stock",
    "inventory_received",
    "dropship_requested",
    "sourced",
    "dropship_rejected",
    "shipment_partial",
    "shipment_complete",
    "void",
];
const PAYMENT: i32 = 1;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn t0() -> Time {
    chrono::Utc.with_ymd_and_hms(2026, 1, 1, 9, 0, 0).single().expect("time")
}

/// The peers' stream: per event, the order, the event and the amount; and the expected figures.
struct Stream {
    orders: usize,
    order: Vec<i32>,
    event: Vec<i32>,
    amount: Vec<i32>,
    expected: serde_json::Value,
}

/// Reads `dir/events.bin` and `dir/expected.json`, generating them first with the peers'
/// script when missing.
fn stream(dir: &Path, orders: usize, per_order: usize) -> Stream {
    if !dir.join("events.bin").exists() {
        let fsm =
            PathBuf::from(std::env::var("BENCH_FSM_DIR").unwrap_or_else(|_| "../shared/bench/fsm".into()));
        let script = fsm.join("gen_events.py");
        eprintln!("generating {} with {}", dir.display(), script.display());
        let status = std::process::Command::new("python3")
            .arg(&script)
            .arg(dir)
            .arg(orders.to_string())
            .arg(per_order.to_string())
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap_or_else(|e| panic!("python3 {}: {e}", script.display()));
        assert!(status.success(), "{} failed", script.display());
    }
    let bytes = std::fs::read(dir.join("events.bin")).expect("events.bin");
    let ints: Vec<i32> =
        bytes.chunks_exact(4).map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    let (orders, n) = (ints[0] as usize, ints[1] as usize);
    let expected = serde_json::from_slice(&std::fs::read(dir.join("expected.json")).expect("expected.json"))
        .expect("json");
    Stream {
        orders,
        order: ints[2..2 + n].to_vec(),
        event: ints[2 + n..2 + 2 * n].to_vec(),
        amount: ints[2 + 2 * n..2 + 3 * n].to_vec(),
        expected,
    }
}

/// The creation of order `o`: from the channel whose rule starts it where the stream says.
fn creation(s: &Stream, o: usize) -> Input {
    let channel = if s.expected["initial"][o] == "AuctionAwaitingCheckout" { "auction" } else { "web" };
    let number = format!("FSM{o:06}");
    let order: NewOrder = serde_json::from_value(serde_json::json!({
        "channel": channel,
        "number": number,
        "customer": {"email": format!("buyer{o}@example.com")},
        "lines": [{"sku": "ITEM", "qty": 1, "unit_price": "10.00"}]
    }))
    .expect("order");
    Input::Create {
        order: Box::new(order),
        number,
        customer: Customer { email: format!("buyer{o}@example.com"), ..Customer::default() },
        possible_duplicate: false,
        related_to: None,
    }
}

fn event_input(event: i32, amount: i32) -> Input {
    let mut data = serde_json::Map::new();
    if event == PAYMENT {
        data.insert("amount".into(), serde_json::json!(amount));
    }
    Input::Event { event: EventInput { name: EVENTS[event as usize].into(), data, actor: None } }
}

fn sha256(statuses: impl Iterator<Item = String>) -> String {
    let joined = statuses.collect::<Vec<_>>().join("\n");
    Sha256::digest(joined.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn candidate(dir: &Path) -> Checked {
    Registry::check(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
}

/// CPU time this process has used so far (user and system, from `/proc/self/stat`): on a
/// machine shared with builds the wall clock says more about them than about the replay.
fn cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = [11, 12].iter().filter_map(|i| fields.get(*i)?.parse::<u64>().ok()).sum();
    Duration::from_millis(ticks * 10)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// The peers' stream through [`Replayer::step`], interleaved (`step`), then per order through
/// [`replay_order`] (`orders`).
fn fsm(step: bool, orders: bool) {
    let s = stream(Path::new("target/fsm"), 10_000, 100);
    let checked = candidate(Path::new("benches/fsm"));
    let w: &Workflow = checked.workflows().next().expect("the fsm workflow");
    let hooks = checked.hooks();
    let replayer = Replayer::new(w, &*hooks);
    let n = s.event.len();
    // The inputs, decoded once (as the peers' benches do): one per kind of event, and one per
    // payment (its amount decides the guard).
    let plain: Vec<Input> = (0..EVENTS.len() as i32).map(|e| event_input(e, 0)).collect();
    let payments: Vec<Input> =
        (0..n).filter(|&i| s.event[i] == PAYMENT).map(|i| event_input(PAYMENT, s.amount[i])).collect();
    let creations: Vec<Input> = (0..s.orders).map(|o| creation(&s, o)).collect();
    let at = t0();
    let mut rounds = Vec::new();
    for round in 0..env("BENCH_ROUNDS", 3) * usize::from(step) {
        let mut states: Vec<ReplayState> = (0..s.orders).map(|_| ReplayState::default()).collect();
        for (state, input) in states.iter_mut().zip(&creations) {
            replayer.step(state, input, at).expect("created");
        }
        let (mut accepted, mut rejected, mut k) = (0usize, 0usize, 0usize);
        let started = Instant::now();
        for i in 0..n {
            let input = if s.event[i] == PAYMENT {
                k += 1;
                &payments[k - 1]
            } else {
                &plain[s.event[i] as usize]
            };
            match replayer.step(&mut states[s.order[i] as usize], input, at) {
                Ok(()) => accepted += 1,
                Err(Refused::Rejected(r)) if r.code == "no_transition" => rejected += 1,
                Err(e) => panic!("event {i}: {e:?}"),
            }
        }
        let took = started.elapsed();
        rounds.push(took);
        assert_eq!(
            (accepted, rejected),
            (
                s.expected["accepted"].as_u64().unwrap() as usize,
                s.expected["guard_rejected"].as_u64().unwrap() as usize
            )
        );
        let hash = sha256(states.iter().map(|st| st.status().unwrap_or_default().to_string()));
        assert_eq!(
            hash,
            s.expected["final_sha256"].as_str().unwrap(),
            "final statuses differ from the peers'"
        );
        eprintln!(
            "  round {}: {n} events in {:.3} s ({:.0} events/s); accepted {accepted}, rejected {rejected}, sha256 ok",
            round + 1,
            took.as_secs_f64(),
            n as f64 / took.as_secs_f64()
        );
    }
    if step {
        let took = median(rounds);
        println!(
            "fsm, interleaved through Replayer::step: {} orders x {} events: {:.0} events/s (median of {}, {:.3} s); \
             final statuses match the peers' sha256",
            s.orders,
            n / s.orders,
            n as f64 / took.as_secs_f64(),
            env("BENCH_ROUNDS", 3),
            took.as_secs_f64()
        );
    }
    if !orders {
        return;
    }

    // The same orders, each through replay_order: its record as the service would keep it (a
    // first pass through engine::apply, the refused events left out), compared input by input.
    let mut by_order: Vec<Vec<usize>> = vec![Vec::new(); s.orders];
    for i in 0..n {
        by_order[s.order[i] as usize].push(i);
    }
    let mut rounds = Vec::new();
    for _ in 0..env("BENCH_ROUNDS", 3) {
        let (mut took, mut inputs, mut finals) = (Duration::ZERO, 0usize, Vec::with_capacity(s.orders));
        for (o, events) in by_order.iter().enumerate() {
            let record = record_of(w, &s, o, events, at);
            inputs += record.len();
            let started = Instant::now();
            let replayed = replay_order(&replayer, o as i64 + 1, &record, at);
            took += started.elapsed();
            assert_eq!(replayed.difference_count, 0, "order {o}: {:?}", replayed.differences.first());
            finals.push(replayed.candidate_status.unwrap_or_default());
        }
        assert_eq!(sha256(finals.into_iter()), s.expected["final_sha256"].as_str().unwrap());
        rounds.push((took, inputs));
    }
    rounds.sort();
    let (took, inputs) = rounds[rounds.len() / 2];
    println!(
        "fsm, per order through replay_order (outcomes compared): {inputs} recorded inputs: {:.0} inputs/s ({:.3} s)",
        inputs as f64 / took.as_secs_f64(),
        took.as_secs_f64()
    );
}

/// Order `o`'s record as the service keeps it: its creation and each event it accepted, with
/// what each came to (decided by the engine's public functions, as the service decides).
fn record_of(w: &Workflow, s: &Stream, o: usize, events: &[usize], at: Time) -> Vec<Recorded> {
    let create = creation(s, o);
    let Input::Create { order, customer, .. } = &create else { unreachable!() };
    let d = engine::create(w, order, customer.clone(), false, at, &NoHooks).expect("created");
    let mut record = vec![Recorded { at, input: create.clone(), outcome: Outcome::of(&d) }];
    let mut current = d.order;
    for (k, &i) in events.iter().enumerate() {
        let input = event_input(s.event[i], s.amount[i]);
        let Input::Event { event } = &input else { unreachable!() };
        let when = at + chrono::Duration::minutes(k as i64 + 1);
        if let Ok(d) = engine::apply(w, &current, event, when, &NoHooks) {
            record.push(Recorded { at: when, input, outcome: Outcome::of(&d) });
            current = d.order;
        }
    }
    record
}

/// `orderly replay` of 100,000 orders with 10 events each on SQLite.
async fn sqlite() {
    let base = Path::new("target/replay-bench");
    let s = stream(&base.join("stream"), 100_000, 10);
    let file = base.join("orders.db");
    let url = format!("sqlite://{}", file.display());
    let checked = candidate(Path::new("benches/fsm"));
    let w: &Workflow = checked.workflows().next().expect("the fsm workflow");
    let (orders, inputs) = seed(&url, &file, w, &s).await;

    let options = ReplayOptions { as_of: Some(t0() + chrono::Duration::days(1)), ..ReplayOptions::default() };
    let store = Store::connect_read_only(&url).await.expect("read-only store");
    let mut rounds = Vec::new();
    for _ in 0..env("BENCH_ROUNDS", 3) {
        let (started, cpu_before) = (Instant::now(), cpu());
        let report = replay(&store, &checked, &options).await.expect("replay");
        let (took, cpu_took) = (started.elapsed(), cpu() - cpu_before);
        eprintln!("  {:.2} s (CPU {:.2} s)", took.as_secs_f64(), cpu_took.as_secs_f64());
        rounds.push((took, cpu_took));
        assert_eq!((report.replayed, report.inputs, report.differing), (orders, inputs, 0));
        assert!(report.not_replayable.is_empty());
    }
    rounds.sort();
    let (took, cpu_took) = rounds[rounds.len() / 2];
    println!(
        "sqlite, orderly replay (read-only, unchanged candidate): {orders} orders, {inputs} inputs in {:.2} s \
         ({:.0} inputs/s; CPU {:.2} s; median of {})",
        took.as_secs_f64(),
        inputs as f64 / took.as_secs_f64(),
        cpu_took.as_secs_f64(),
        rounds.len()
    );

    // A candidate whose guard refuses small payments: the orders it affects are reported.
    let dir = tempfile::tempdir().expect("dir");
    let text = std::fs::read_to_string("benches/fsm/fsm.flow").expect("fsm.flow");
    let changed = text.replacen("when event.amount > 0", "when event.amount > 50000", 1);
    assert_ne!(changed, text);
    std::fs::write(dir.path().join("fsm.flow"), changed).expect("write");
    let changed = candidate(dir.path());
    let (started, cpu_before) = (Instant::now(), cpu());
    let report = replay(&store, &changed, &options).await.expect("replay");
    let (took, cpu_took) = (started.elapsed(), cpu() - cpu_before);
    println!(
        "sqlite, orderly replay (guard changed): {} orders differ ({}) in {:.2} s (CPU {:.2} s)",
        report.differing,
        report.summary.iter().map(|r| format!("{} x {}", r.count, r.rule)).collect::<Vec<_>>().join("; "),
        took.as_secs_f64(),
        cpu_took.as_secs_f64()
    );
    store.close().await;
}

/// Writes the orders and their records into `file` (unless a complete copy is there from an
/// earlier run): each order through the store (`Tx::insert_order`, 1,000 to a transaction),
/// the inputs as multi-row INSERTs. Returns how many orders and inputs.
async fn seed(url: &str, file: &Path, w: &Workflow, s: &Stream) -> (usize, usize) {
    let at = t0();
    sqlx::any::install_default_drivers();
    if file.exists() {
        let pool = sqlx::AnyPool::connect(url).await.expect("pool");
        let count = |sql: &'static str| sqlx::query_scalar::<_, i64>(sql).fetch_one(&pool);
        let (orders, inputs) =
            (count("SELECT COUNT(*) FROM orders").await, count("SELECT COUNT(*) FROM order_inputs").await);
        pool.close().await;
        // Recorded by this version: the first order's inputs read back.
        let store = Store::connect_read_only(url).await.expect("store");
        let first = store.recorded_orders(&orderly::store::RecordedQuery::default(), 0, 1).await;
        store.close().await;
        let readable =
            first.is_ok_and(|o| o.first().is_some_and(|o| o.unreadable.is_none() && !o.inputs.is_empty()));
        if let (Ok(orders), Ok(inputs), true) = (orders, inputs, readable) {
            if orders as usize == s.orders {
                eprintln!("  reusing {} ({orders} orders, {inputs} inputs)", file.display());
                return (s.orders, inputs as usize);
            }
        }
        std::fs::remove_file(file).expect("remove the old database");
    }
    let mut by_order: Vec<Vec<usize>> = vec![Vec::new(); s.orders];
    for i in 0..s.event.len() {
        by_order[s.order[i] as usize].push(i);
    }
    let records: Vec<Vec<Recorded>> =
        by_order.iter().enumerate().map(|(o, events)| record_of(w, s, o, events, at)).collect();
    let inputs: usize = records.iter().map(Vec::len).sum();
    let started = Instant::now();
    let store = Store::connect(url).await.expect("store");
    for (chunk, records) in records.chunks(1000).enumerate() {
        let mut tx = store.begin().await.expect("begin");
        for (k, record) in records.iter().enumerate() {
            let o = chunk * 1000 + k;
            let Input::Create { order, customer, .. } = &creation(s, o) else { unreachable!() };
            let mut d = engine::create(w, order, customer.clone(), false, at, &NoHooks).expect("created");
            d.order.status.clone_from(&record.last().expect("a record").outcome.status);
            d.history.clear();
            tx.insert_order(&d, 1, at).await.expect("insert");
        }
        tx.commit().await.expect("commit");
    }
    let pool = sqlx::AnyPool::connect(url).await.expect("pool");
    let rows: Vec<(i64, &Recorded)> =
        records.iter().enumerate().flat_map(|(o, r)| r.iter().map(move |x| (o as i64 + 1, x))).collect();
    for chunk in rows.chunks(20_000) {
        let mut tx = pool.begin().await.expect("begin");
        for part in chunk.chunks(100) {
            let mut sql = String::from(
                "INSERT INTO order_inputs (order_id, at, kind, workflow_version, input, outcome) VALUES ",
            );
            for i in 0..part.len() {
                let b = i * 5;
                sql.push_str(&format!(
                    "{}(${}, ${}, ${}, 1, ${}, ${})",
                    if i > 0 { ", " } else { "" },
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5
                ));
            }
            let mut q = sqlx::query(&sql);
            for (id, r) in part {
                q = q
                    .bind(*id)
                    .bind(r.at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())
                    .bind(r.input.kind())
                    .bind(serde_json::to_string(&r.input).expect("json"))
                    .bind(serde_json::to_string(&r.outcome).expect("json"));
            }
            q.execute(&mut *tx).await.expect("insert inputs");
        }
        tx.commit().await.expect("commit");
    }
    sqlx::query("UPDATE orders SET version = (SELECT COUNT(*) FROM order_inputs WHERE order_id = orders.id)")
        .execute(&pool)
        .await
        .expect("versions");
    pool.close().await;
    store.close().await;
    eprintln!("  seeded {} orders, {inputs} inputs in {:.1} s", s.orders, started.elapsed().as_secs_f64());
    (s.orders, inputs)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return; // `cargo test --benches` and `cargo bench -- --list`: nothing to list
    }
    let all = args.is_empty();
    let fsm_all = all || args.iter().any(|a| a == "fsm");
    let (step, orders) =
        (fsm_all || args.iter().any(|a| a == "step"), fsm_all || args.iter().any(|a| a == "orders"));
    if step || orders {
        fsm(step, orders);
    }
    if all || args.iter().any(|a| a == "sqlite") {
        sqlite().await;
    }
}
