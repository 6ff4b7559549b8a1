//! Random inputs on the shipped workflows keep an order's invariants. A proptest creates an
//! order under one of `workflows/*.flow` and sends it up to 30 random inputs (events with data
//! drawn from their declarations, some of it wrong; the clock moving on, which fires timers;
//! fulfillment actions added and edited; locks taken and released by two people). Each input
//! goes through the service on a fresh in-memory SQLite store, and each event and fulfillment
//! action is also decided by the pure engine on the same snapshot at the same time. After every
//! step:
//!
//! - an applied input moves the version by exactly one (timers: one per timer fired); a refused
//!   one changes nothing (order, history, timers, outbox), and the engine refuses it too, with
//!   the same code;
//! - what the store holds is what the engine decided, and the order's history grows by exactly
//!   the rows the decision reports (plus one per related order a hook created);
//! - no quantity goes out of bounds or backwards: per line, `0 <= picked <= in stock <= qty`,
//!   `shipped, invoiced <= qty`, `invoiced <= max(picked, shipped)`, shipped units are
//!   the sum of the shipments' units; stock, picked, shipped and invoiced units never decrease;
//! - money adds up: total = subtotal + shipping, balance due = total - paid, shipping is the
//!   sum of the shipments' amounts, the amount paid never decreases; an invoiced order has
//!   every unit invoiced; fulfillment actions are numbered 1, 2, 3...

use crate::support::t0;
use orderly::engine::{self, Decision, EventInput, FulfillmentActionInput, NewOrder, Rejection};
use orderly::model::{Codes, EventKind, Type, Workflow};
use orderly::order::{Order, OrderId};
use orderly::registry::{Checked, Registry};
use orderly::service::{Applied, ManualClock, Service, ServiceError};
use orderly::store::Store;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use rust_decimal::Decimal;
use serde_json::json;
use std::path::Path;
use std::sync::Arc;

/// One input to the order.
#[derive(Debug, Clone)]
enum Input {
    /// The workflow's event number `event` (modulo how many it has), its data drawn from `seed`,
    /// sent by actor number `actor` (none, ann, bob).
    Event { event: usize, seed: u64, actor: u8 },
    /// The clock moves on this many hours; due timers fire.
    Advance { hours: u16 },
    /// Fulfillment action number `action` of the workflow's list is recorded.
    AddAction { action: usize, actor: u8 },
    /// Fulfillment action number `n` of the order is edited.
    EditAction { n: u32, complete: bool, actor: u8 },
    /// Actor `actor` takes the lock for this many minutes.
    Lock { actor: u8, minutes: u16 },
    /// Actor `actor` releases the lock.
    Unlock { actor: u8 },
}

/// One line of the order as created.
#[derive(Debug, Clone)]
struct LineSeed {
    qty: u8,
    price: u8,
    fulfillment: u8,
    stock: u8,
    vendor: u8,
}

/// One run: a workflow, the order created, the inputs that follow.
#[derive(Debug, Clone)]
struct Case {
    workflow: usize,
    channel: usize,
    mode: usize,
    payment: Option<(usize, usize)>,
    lines: Vec<LineSeed>,
    inputs: Vec<Input>,
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        6 => (any::<usize>(), any::<u64>(), 0..3u8)
            .prop_map(|(event, seed, actor)| Input::Event { event, seed, actor }),
        1 => (1..400u16).prop_map(|hours| Input::Advance { hours }),
        1 => (any::<usize>(), 0..3u8).prop_map(|(action, actor)| Input::AddAction { action, actor }),
        1 => (1..4u32, any::<bool>(), 0..3u8)
            .prop_map(|(n, complete, actor)| Input::EditAction { n, complete, actor }),
        1 => (1..3u8, 1..120u16).prop_map(|(actor, minutes)| Input::Lock { actor, minutes }),
        1 => (1..3u8).prop_map(|actor| Input::Unlock { actor }),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    let line = (1..5u8, any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>()).prop_map(
        |(qty, price, fulfillment, stock, vendor)| LineSeed { qty, price, fulfillment, stock, vendor },
    );
    (
        any::<usize>(),
        any::<usize>(),
        any::<usize>(),
        proptest::option::weighted(0.8, (any::<usize>(), any::<usize>())),
        proptest::collection::vec(line, 1..4),
        proptest::collection::vec(input(), 10..30),
    )
        .prop_map(|(workflow, channel, mode, payment, lines, inputs)| Case {
            workflow,
            channel,
            mode,
            payment,
            lines,
            inputs,
        })
}

/// Item `i` of `items`, counting round.
fn nth<T: Clone>(items: &[T], i: usize) -> Option<T> {
    items.get(i.checked_rem(items.len())?).cloned()
}

const ACTORS: [Option<&str>; 3] = [None, Some("ann"), Some("bob")];
const METHODS: [&str; 6] = ["credit_card", "check", "paypal", "gift_certificate", "purchase_order", "cash"];
const OUTCOMES: [&str; 6] = ["approved", "approved", "approved", "pending", "declined", "invalid"];
const TEXTS: [&str; 5] = ["repair", "eval", "sales", "parts", "a note"];

fn actor(i: u8) -> Option<String> {
    nth(&ACTORS, usize::from(i)).flatten().map(str::to_string)
}

/// The order a case creates: every customer and address field filled (channels require some),
/// lines from the seeds (in stock, not, or a count of units in stock, sometimes more than
/// ordered: the order keeps at most the line's quantity).
fn new_order(w: &Workflow, c: &Case) -> NewOrder {
    let channel = nth(&w.channels, c.channel).expect("every workflow has a channel");
    let modes: Vec<String> = channel.rules.iter().flat_map(|r| r.modes.iter().flatten().cloned()).collect();
    let mode = nth(&modes, c.mode);
    let payment = c.payment.map(
        |(m, o)| json!({"method": nth(&METHODS, m), "outcome": nth(&OUTCOMES, o), "reference": "ref-1"}),
    );
    let lines: Vec<serde_json::Value> = c
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let mut line = json!({
                "sku": format!("SKU-{i}"),
                "qty": l.qty,
                "unit_price": nth(&["0.50", "10.00", "99.99", "1250.00", "0"], usize::from(l.price)),
                "fulfillment": nth(&["stock", "dropship", "jit"], usize::from(l.fulfillment)),
                "vendor": nth(&["", "Yamaha", "Acme"], usize::from(l.vendor)),
            });
            match l.stock % 4 {
                0 => line["in_stock"] = json!(true),
                1 => line["in_stock"] = json!(false),
                2 => line["in_stock_qty"] = json!(u16::from(l.stock) % u16::from(l.qty + 3)),
                _ => {}
            }
            line
        })
        .collect();
    let address = json!({
        "first_name": "Ann", "last_name": "Lee", "address": "12 Elm St", "city": "Albany",
        "state": "NY", "zip": "12207", "country": "US", "phone": "555-0100", "email": "ann@example.com"
    });
    serde_json::from_value(json!({
        "workflow": w.name,
        "channel": channel.code,
        "mode": mode,
        "customer": {"email": "ann@example.com", "first_name": "Ann", "last_name": "Lee",
                     "company": "Lee Music", "phone": "555-0100"},
        "shipping_address": address,
        "billing_address": address,
        "payment": payment,
        "lines": lines,
    }))
    .expect("a valid new order")
}

/// A small deterministic generator for the choices within one input.
struct Draw(u64);

impl Draw {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        usize::try_from(self.0 >> 33).unwrap_or(0).checked_rem(n).unwrap_or(0)
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> Option<T> {
        let i = self.below(items.len().max(1));
        items.get(i).cloned()
    }
}

/// An event with data drawn from its declaration: mostly one the order's status takes, each
/// field of its type, optional ones sometimes left out, now and then a field it does not have;
/// shipments and receipts name lines and units (sometimes more than remain), or nothing
/// (everything).
fn event(w: &Workflow, order: &Order, event: usize, seed: u64, actor: Option<String>) -> Option<EventInput> {
    let mut d = Draw(seed);
    // Events every status takes (void, cancel) end the story: drawn now and then only.
    let open = w.statuses.iter().filter(|s| !s.is_final).count();
    let from_anywhere =
        |e: usize| w.transitions.iter().any(|t| t.event == Some(e) && t.sources.len() >= open);
    let taken: Vec<usize> = w
        .status_id(&order.status)
        .map(|s| w.events_accepted_in(s))
        .unwrap_or_default()
        .into_iter()
        .filter(|e| !from_anywhere(*e) || d.below(6) == 0)
        .collect();
    let def = match nth(&taken, event).filter(|_| d.below(5) > 0) {
        Some(e) => w.events.get(e)?.clone(),
        None => nth(&w.events, event)?,
    };
    let mut data = serde_json::Map::new();
    for f in &def.fields {
        if f.optional && d.below(3) == 0 {
            continue;
        }
        let amounts = [
            "0".to_string(),
            "1.00".into(),
            order.balance_due().to_string(),
            order.total().to_string(),
            "4.95".into(),
        ];
        let value = match f.ty {
            Type::Money => json!(d.pick(&amounts)),
            Type::Number => json!(d.below(5)),
            Type::Text => json!(d.pick(&TEXTS)),
            Type::Code(Codes::Outcomes) => json!(d.pick(&OUTCOMES)),
            Type::Code(Codes::Methods) => json!(d.pick(&METHODS)),
            Type::Code(_) => json!("stock"),
            Type::Bool => json!(d.below(2) == 0),
            Type::Duration => json!("90m"),
            Type::Time => json!("2026-03-05T12:00:00Z"),
        };
        data.insert(f.name.clone(), value);
    }
    if matches!(def.kind, EventKind::Shipment | EventKind::Receipt) && d.below(3) > 0 {
        let mut lines = Vec::new();
        for _ in 0..=d.below(2) {
            if let Some(l) = d.pick(&order.lines) {
                lines.push(json!({"line": l.n, "qty": 1 + d.below(3)}));
            }
        }
        data.insert("lines".into(), json!(lines));
    }
    if d.below(12) == 0 {
        data.insert("bogus".into(), json!(1));
    }
    Some(EventInput { name: def.name, data, actor })
}

/// Everything the store holds about one order, to see that a refusal changed none of it.
#[derive(Debug, PartialEq)]
struct Stored {
    order: Order,
    history: Vec<orderly::store::StoredHistory>,
    timers: Vec<String>,
    outbox: Vec<i64>,
}

async fn stored(store: &Store, id: OrderId) -> Stored {
    Stored {
        order: store.order(id).await.expect("readable").expect("the order exists"),
        history: store.history(id).await.expect("history"),
        timers: store
            .timers(id)
            .await
            .expect("timers")
            .into_iter()
            .map(|t| format!("{} {}", t.name, t.due_at))
            .collect(),
        outbox: store.outbox(Some(id)).await.expect("outbox").into_iter().map(|m| m.id).collect(),
    }
}

/// Fails the step with a message when the condition does not hold.
macro_rules! ensure {
    ($cond:expr, $($why:tt)+) => {
        if !$cond {
            return Err(format!($($why)+));
        }
    };
}

/// The order's invariants, alone and against the order before the step.
fn invariants(w: &Workflow, before: &Order, o: &Order) -> Result<(), String> {
    ensure!(w.status_id(&o.status).is_some(), "status `{}` is not one of the workflow's", o.status);
    let zero = Decimal::ZERO;
    for l in &o.lines {
        let at = format!("line {} ({})", l.n, l.sku);
        ensure!(
            zero <= l.in_stock_qty && l.in_stock_qty <= l.qty,
            "{at}: {} of {} in stock",
            l.in_stock_qty,
            l.qty
        );
        ensure!(
            zero <= l.picked_qty && l.picked_qty <= l.in_stock_qty.min(l.qty),
            "{at}: picked {} of {} ({} in stock)",
            l.picked_qty,
            l.qty,
            l.in_stock_qty
        );
        ensure!(
            zero <= l.shipped_qty && l.shipped_qty <= l.qty,
            "{at}: shipped {} of {}",
            l.shipped_qty,
            l.qty
        );
        ensure!(
            zero <= l.invoiced_qty && l.invoiced_qty <= l.qty,
            "{at}: invoiced {} of {}",
            l.invoiced_qty,
            l.qty
        );
        ensure!(
            l.invoiced_qty <= l.picked_qty.max(l.shipped_qty),
            "{at}: invoiced {} units, picked {}, shipped {}",
            l.invoiced_qty,
            l.picked_qty,
            l.shipped_qty
        );
        let in_shipments: Decimal =
            o.shipments.iter().flat_map(|s| &s.lines).filter(|(n, _)| *n == l.n).map(|(_, q)| *q).sum();
        ensure!(
            in_shipments == l.shipped_qty,
            "{at}: shipped {} but the shipments list {in_shipments}",
            l.shipped_qty
        );
        if let Some(b) = before.lines.iter().find(|b| b.n == l.n) {
            for (what, was, is) in [
                ("in stock", b.in_stock_qty, l.in_stock_qty),
                ("picked", b.picked_qty, l.picked_qty),
                ("shipped", b.shipped_qty, l.shipped_qty),
                ("invoiced", b.invoiced_qty, l.invoiced_qty),
            ] {
                ensure!(is >= was, "{at}: {what} went down from {was} to {is}");
            }
        }
    }
    ensure!(
        o.lines.len() == before.lines.len(),
        "lines went from {} to {}",
        before.lines.len(),
        o.lines.len()
    );
    ensure!(
        o.total() == o.subtotal() + o.shipping_amount,
        "total {} is not subtotal {} + shipping {}",
        o.total(),
        o.subtotal(),
        o.shipping_amount
    );
    ensure!(
        o.balance_due() == o.total() - o.amount_paid,
        "balance due {} is not total {} - paid {}",
        o.balance_due(),
        o.total(),
        o.amount_paid
    );
    let shipping: Decimal = o.shipments.iter().map(|s| s.amount).sum();
    ensure!(
        shipping == o.shipping_amount,
        "shipping {} but the shipments charge {shipping}",
        o.shipping_amount
    );
    ensure!(
        o.amount_paid >= before.amount_paid && o.amount_paid >= zero,
        "paid went from {} to {}",
        before.amount_paid,
        o.amount_paid
    );
    ensure!(
        !o.invoiced || o.lines.iter().all(|l| l.invoiced_qty >= l.qty),
        "invoiced with units not invoiced"
    );
    ensure!(o.shipments.starts_with(&before.shipments), "a shipment changed or went away");
    let numbers: Vec<u32> = o.fulfillment_actions.iter().map(|a| a.n).collect();
    ensure!(
        numbers.iter().copied().eq(1..=u32::try_from(numbers.len()).unwrap_or(0)),
        "fulfillment actions numbered {numbers:?}"
    );
    Ok(())
}

/// What the service did with a change the engine also decided: the same thing.
fn same_as_engine(
    version: i64,
    before: &Stored,
    after: &Stored,
    decided: Result<Decision, Rejection>,
    served: Result<Applied, ServiceError>,
) -> Result<bool, String> {
    match (decided, served) {
        (Ok(d), Ok(applied)) => {
            ensure!(
                after.order.version == before.order.version + 1,
                "applied: version {} -> {}",
                before.order.version,
                after.order.version
            );
            let mut want = d.order.clone();
            want.version = before.order.version + 1;
            want.workflow_version = version;
            want.phase = None;
            if !d.related.is_empty() {
                want.related_order = after.order.related_order;
            }
            ensure!(after.order == want, "the store holds\n{:?}\nthe engine decided\n{want:?}", after.order);
            let mut answered = applied.order.clone();
            answered.phase = None;
            ensure!(answered == after.order, "the answer's order is not the stored one");
            let new = after.history.get(before.history.len()..).unwrap_or_default();
            ensure!(after.history.starts_with(&before.history), "earlier history changed");
            ensure!(
                new.len() == d.history.len() + d.related.len(),
                "history grew by {} rows, the decision reports {} (+{} related)",
                new.len(),
                d.history.len(),
                d.related.len()
            );
            let entries: Vec<&engine::HistoryEntry> = new.iter().map(|h| &h.entry).collect();
            ensure!(
                entries.iter().zip(&d.history).all(|(a, b)| *a == b),
                "the history written is not the decision's:\n{entries:?}\n{:?}",
                d.history
            );
            ensure!(
                new.iter().all(|h| applied.history.iter().any(|a| a.id == h.id)),
                "a row written is missing from the answer"
            );
            ensure!(
                applied.history.iter().all(|a| after.history.iter().any(|h| h.id == a.id)),
                "the answer holds a row that is not this order's: {:?}",
                applied.history.iter().map(|a| (a.id, a.entry.kind.as_str())).collect::<Vec<_>>()
            );
            Ok(true)
        }
        (Err(r), Err(ServiceError::Rejected(s))) => {
            ensure!(r.code == s.code, "the engine refused with `{}`, the service with `{}`", r.code, s.code);
            ensure!(after == before, "refused ({}), yet something changed", s.code);
            Ok(false)
        }
        (Ok(_), Err(e)) => Err(format!("the engine applied it, the service said: {e}")),
        (Err(r), Ok(_)) => Err(format!("the engine refused it ({r}), the service applied it")),
        (Err(_), Err(e)) => Err(format!("the service failed: {e}")),
    }
}

/// Runs one case on a fresh store.
async fn run(checked: &Checked, c: &Case) -> Result<(), String> {
    let store = Store::connect("sqlite::memory:").await.expect("an in-memory store");
    let registry: Registry = checked.clone().register(&store).await.expect("registered");
    let names: Vec<String> = registry.all().map(|a| a.workflow.name.clone()).collect();
    let name = nth(&names, c.workflow).expect("workflows");
    let active = registry.get(&name).expect("active").clone();
    let w = active.workflow.clone();
    let hooks = registry.hooks();
    let clock = Arc::new(ManualClock::new(t0()));
    let service = Service::serving(store.clone(), registry, clock.clone());

    let created = match service.create_order(&new_order(&w, c)).await {
        Ok(created) => created,
        Err(ServiceError::Rejected(_)) => {
            ensure!(store.count_orders().await.expect("count") == 0, "a refused creation stored an order");
            return Ok(());
        }
        Err(e) => return Err(format!("creation failed: {e}")),
    };
    let id = created.order.id;
    let mut now = stored(&store, id).await;
    ensure!(now.order.version == 1, "a new order is version {}", now.order.version);
    ensure!(
        now.history.len() == created.history.len(),
        "creation wrote {} rows, answered {}",
        now.history.len(),
        created.history.len()
    );
    let mut applied_inputs = 1;
    for (i, input) in c.inputs.iter().enumerate() {
        let before = now;
        let o = &before.order;
        let at = service.now();
        let mut fired = None;
        let applied = match input {
            Input::Event { event: e, seed, actor: a } => {
                let Some(ev) = event(&w, o, *e, *seed, actor(*a)) else {
                    now = before;
                    continue;
                };
                let decided = engine::apply(&w, o, &ev, at, &*hooks);
                let served = service.apply_event(id, &ev, None).await;
                now = stored(&store, id).await;
                same_as_engine(active.version, &before, &now, decided, served)
                    .map_err(|e| format!("step {i} ({ev:?}): {e}"))?
            }
            Input::AddAction { action, actor: a } => {
                let add = FulfillmentActionInput {
                    name: nth(&w.fulfillment_actions, *action),
                    actor: actor(*a),
                    ..Default::default()
                };
                let decided = engine::add_fulfillment_action(&w, o, &add, at);
                let served = service.add_fulfillment_action(id, &add).await;
                now = stored(&store, id).await;
                same_as_engine(active.version, &before, &now, decided, served)
                    .map_err(|e| format!("step {i} ({input:?}): {e}"))?
            }
            Input::EditAction { n, complete, actor: a } => {
                let edit = FulfillmentActionInput {
                    complete: Some(*complete),
                    note: Some("edited".into()),
                    actor: actor(*a),
                    ..Default::default()
                };
                let decided = engine::edit_fulfillment_action(&w, o, *n, &edit, at);
                let served = service.edit_fulfillment_action(id, *n, &edit).await;
                now = stored(&store, id).await;
                same_as_engine(active.version, &before, &now, decided, served)
                    .map_err(|e| format!("step {i} ({input:?}): {e}"))?
            }
            Input::Lock { actor: a, minutes } => {
                let who = actor(*a).unwrap_or_default();
                let served = service.lock(id, &who, chrono::Duration::minutes(i64::from(*minutes))).await;
                now = stored(&store, id).await;
                lock_step(&before, &now, served, false).map_err(|e| format!("step {i} ({input:?}): {e}"))?
            }
            Input::Unlock { actor: a } => {
                let who = actor(*a).unwrap_or_default();
                let served = service.unlock(id, &who).await;
                now = stored(&store, id).await;
                lock_step(&before, &now, served, true).map_err(|e| format!("step {i} ({input:?}): {e}"))?
            }
            Input::Advance { hours } => {
                clock.advance(chrono::Duration::hours(i64::from(*hours)));
                // Timers of every order fire, a related order's that a hook made included; the
                // order followed here moves by those of its own that were due.
                let due = orderly::service::Clock::now(&*clock);
                let own = store.timers(id).await.expect("timers").iter().filter(|t| t.due_at <= due).count();
                let n = service.fire_due_timers().await.map_err(|e| format!("timers: {e}"))?;
                ensure!(n >= own, "step {i}: {n} timers fired, {own} of this order's were due");
                now = stored(&store, id).await;
                fired = Some(own);
                false
            }
        };
        let moved = now.order.version - before.order.version;
        match fired {
            Some(n) => {
                ensure!(
                    moved == i64::try_from(n).unwrap_or(-1),
                    "step {i}: {n} timers fired, the version moved by {moved}"
                );
                ensure!(
                    now.history.len() >= before.history.len() + n,
                    "step {i}: {n} timers fired, the history grew by {}",
                    now.history.len() - before.history.len()
                );
                applied_inputs += moved;
            }
            None if applied => applied_inputs += 1,
            None => ensure!(moved == 0, "step {i}: refused, yet the version moved by {moved}"),
        }
        ensure!(
            now.order.version == applied_inputs,
            "step {i}: version {} after {applied_inputs} inputs",
            now.order.version
        );
        invariants(&w, &before.order, &now.order).map_err(|e| format!("step {i} ({input:?}): {e}"))?;
    }
    store.close().await;
    Ok(())
}

/// A lock taken or released: the version moves by one and one history row is added; refused
/// (another holder), nothing changes; releasing a lock nobody holds (none, or expired) changes
/// nothing either.
fn lock_step(
    before: &Stored,
    after: &Stored,
    served: Result<Applied, ServiceError>,
    releasing: bool,
) -> Result<bool, String> {
    match served {
        Ok(a) if releasing && a.order.version == before.order.version => {
            ensure!(after == before, "releasing no lock changed something");
            Ok(false)
        }
        Ok(_) => {
            ensure!(
                after.order.version == before.order.version + 1,
                "version {} -> {}",
                before.order.version,
                after.order.version
            );
            ensure!(
                after.history.len() == before.history.len() + 1,
                "the history grew by {} rows",
                after.history.len() - before.history.len()
            );
            let mut unlocked = after.order.clone();
            unlocked.lock.clone_from(&before.order.lock);
            unlocked.version = before.order.version;
            ensure!(unlocked == before.order, "a lock changed more than the lock");
            Ok(true)
        }
        Err(ServiceError::Rejected(r)) => {
            ensure!(r.code == "locked", "refused with `{}`", r.code);
            ensure!(after == before, "a refused lock changed something");
            Ok(false)
        }
        Err(e) => Err(format!("the lock failed: {e}")),
    }
}

/// The shipped workflows, checked, and the runtime cases run on.
fn workflows_and_runtime() -> (Checked, tokio::runtime::Runtime) {
    let checked = Registry::check(Path::new("workflows")).expect("the shipped workflows check");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    (checked, rt)
}

#[test]
fn random_inputs_keep_every_order_invariant() {
    let (checked, rt) = workflows_and_runtime();
    let mut runner = TestRunner::new(Config { cases: 64, failure_persistence: None, ..Config::default() });
    let result = runner.run(&case(), |c| rt.block_on(run(&checked, &c)).map_err(TestCaseError::fail));
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// A case the property test drew (issue 15, sixth stop): a hook made a related order, whose
/// timer fired when the clock moved on; the order followed here had none due, and did not move.
#[test]
fn a_related_orders_timer_is_not_counted_as_the_orders_own() {
    let (checked, rt) = workflows_and_runtime();
    let case = Case {
        workflow: 1018882168418403237,
        channel: 0,
        mode: 0,
        payment: Some((6974030989705147222, 2030189949609255909)),
        lines: vec![LineSeed { qty: 3, price: 104, fulfillment: 237, stock: 115, vendor: 51 }],
        inputs: vec![
            Input::Event { event: 10247414480813422773, seed: 7646163269791990778, actor: 0 },
            Input::Unlock { actor: 1 },
            Input::Event { event: 2823578260482721926, seed: 4827764100771305651, actor: 2 },
            Input::Event { event: 744468049980068732, seed: 12719195551275240293, actor: 1 },
            Input::Event { event: 4777548024352564756, seed: 9309208050472239767, actor: 2 },
            Input::AddAction { action: 13714438714968473893, actor: 2 },
            Input::Unlock { actor: 1 },
            Input::EditAction { n: 1, complete: true, actor: 0 },
            Input::Event { event: 13072024647221246972, seed: 8372489652154600881, actor: 2 },
            Input::EditAction { n: 1, complete: true, actor: 1 },
            Input::Lock { actor: 2, minutes: 63 },
            Input::Event { event: 5120503747823672945, seed: 9309198865860761930, actor: 0 },
            Input::Advance { hours: 318 },
            Input::EditAction { n: 2, complete: false, actor: 2 },
            Input::Event { event: 6975445528867551695, seed: 10435587724609605155, actor: 1 },
            Input::Event { event: 7310809251672101846, seed: 9083774860216281952, actor: 1 },
            Input::Event { event: 9263980793064392815, seed: 16289067553518811935, actor: 0 },
        ],
    };
    if let Err(e) = rt.block_on(run(&checked, &case)) {
        panic!("{e}");
    }
}
