//! The store, on SQLite and (with `ORDERLY_TEST_POSTGRES_URL`) PostgreSQL: orders round-trip
//! exactly, versions guard every write, timers, idempotency keys, customer matching, workflow
//! versions, and two writers on one order.

use crate::support;

use chrono::{DateTime, Utc};
use orderly::engine::{Decision, HistoryEntry, OutboxMessage, TimerCancel, TimerStart};
use orderly::model::PaymentOutcome;
use orderly::order::{
    Address, Fulfillment, FulfillmentAction, Line, Lock, Order, OrderId, Payment, Shipment, Time,
};
use orderly::store::{
    Backend, CustomerMatch, GridQuery, InputWrite, OrderKey, OrderWrite, Store, StoreError,
};
use rust_decimal::Decimal;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use support::{on_both, on_both_at};

fn t(s: &str) -> Time {
    DateTime::parse_from_rfc3339(s).expect("a valid test time").with_timezone(&Utc)
}

fn dec(s: &str) -> Decimal {
    s.parse().expect("a valid test decimal")
}

fn line(n: u32, sku: &str, qty: &str, price: &str) -> Line {
    Line {
        n,
        sku: sku.into(),
        description: format!("{sku} description"),
        vendor: String::new(),
        qty: dec(qty),
        unit_price: dec(price),
        fulfillment: Fulfillment::Stock,
        in_stock_qty: dec(qty),
        picked_qty: Decimal::ZERO,
        shipped_qty: Decimal::ZERO,
        invoiced_qty: Decimal::ZERO,
    }
}

/// A small order: one line, no customer id, nothing optional.
fn plain_order(channel: &str, external_id: Option<&str>) -> Order {
    let at = t("2024-05-01T09:30:00Z");
    Order {
        id: 0,
        number: String::new(),
        workflow: "retail".into(),
        workflow_version: 0,
        channel: channel.into(),
        mode: None,
        external_id: external_id.map(str::to_string),
        status: "awaiting_payment".into(),
        phase: None,
        status_since: at,
        created_at: at,
        customer: Default::default(),
        shipping: Default::default(),
        billing: Default::default(),
        payment: None,
        amount_paid: Decimal::ZERO,
        shipping_amount: Decimal::ZERO,
        lines: vec![line(1, "MUG", "1", "9.50")],
        flags: BTreeSet::new(),
        attributes: BTreeMap::new(),
        queue: None,
        assignee: None,
        invoiced: false,
        related_order: None,
        shipments: Vec::new(),
        fulfillment_actions: Vec::new(),
        lock: None,
        version: 0,
    }
}

fn entry(kind: &str, at: Time, from: Option<&str>, to: Option<&str>) -> HistoryEntry {
    HistoryEntry {
        at,
        kind: kind.into(),
        event: None,
        from_status: from.map(str::to_string),
        to_status: to.map(str::to_string),
        actor: Some("tester".into()),
        detail: json!({ "kind": kind }),
    }
}

fn decision(order: Order) -> Decision {
    let at = order.created_at;
    let to = order.status.clone();
    Decision {
        order,
        steps: Vec::new(),
        history: vec![entry("created", at, None, Some(&to))],
        timer_starts: Vec::new(),
        timer_cancels: Vec::new(),
        outbox: Vec::new(),
        related: Vec::new(),
    }
}

/// A decision that moves `order` to `status` at `at`.
fn transition(order: &Order, status: &str, at: Time) -> Decision {
    let mut next = order.clone();
    next.status = status.into();
    next.status_since = at;
    Decision {
        order: next,
        steps: Vec::new(),
        history: vec![entry("transition", at, Some(&order.status), Some(status))],
        timer_starts: Vec::new(),
        timer_cancels: Vec::new(),
        outbox: Vec::new(),
        related: Vec::new(),
    }
}

async fn insert(store: &Store, d: &Decision) -> Result<OrderId, StoreError> {
    let mut tx = store.begin().await?;
    let id = tx.insert_order(d, 1, t("2024-05-01T09:30:00Z")).await?;
    tx.commit().await?;
    Ok(id)
}

async fn must_insert(store: &Store, d: &Decision) -> Order {
    let id = insert(store, d).await.expect("the order is inserted");
    store.order(id).await.expect("readable").expect("stored")
}

/// Writes `d`, a decision about `before`, as the service does.
async fn update(store: &Store, before: &Order, d: &Decision) -> Result<(), StoreError> {
    let mut tx = store.begin().await?;
    tx.update_order_from(before, d, 2, t("2024-05-02T10:00:00Z")).await?;
    tx.commit().await
}

#[tokio::test]
async fn a_full_order_round_trips_exactly() {
    on_both("a_full_order_round_trips_exactly", |store| async move {
        let now = t("2024-05-01T09:30:00.123456Z");
        let mut tx = store.begin().await.unwrap();
        let matched = tx
            .match_customer(
                &CustomerMatch {
                    email: "ann@example.com".into(),
                    first_name: "Ann".into(),
                    last_name: "Lee".into(),
                    company: "Acme".into(),
                    phone: "555-0100".into(),
                    is_guest: false,
                    zip: "12345".into(),
                },
                now,
            )
            .await
            .unwrap();
        tx.commit().await.unwrap();

        let address = Address {
            first_name: "Ann".into(),
            last_name: "Lee".into(),
            company: "Acme".into(),
            address: "1 Main St".into(),
            address2: "Suite 2".into(),
            city: "Springfield".into(),
            state: "IL".into(),
            zip: "12345".into(),
            country: "US".into(),
            phone: "555-0100".into(),
            email: "ann@example.com".into(),
        };
        let mut second = line(2, "SPOON", "3", "0.10");
        second.fulfillment = Fulfillment::Dropship;
        second.vendor = "Spoons Inc".into();
        second.shipped_qty = dec("1.5");
        let order = Order {
            id: 0,
            number: String::new(),
            workflow: "retail".into(),
            workflow_version: 0,
            channel: "web".into(),
            mode: Some("carry".into()),
            external_id: Some("W-1001".into()),
            status: "ready_to_process".into(),
            phase: None,
            status_since: t("2024-05-01T09:31:02.654321Z"),
            created_at: now,
            customer: matched.customer.clone().into(),
            shipping: address.clone().into(),
            billing: Address { address2: String::new(), ..address }.into(),
            payment: Some(Payment {
                method: "credit_card".into(),
                outcome: PaymentOutcome::Approved,
                amount: dec("40.28"),
                reference: "ch_123".into(),
            }),
            amount_paid: dec("40.28"),
            shipping_amount: dec("0.30"),
            lines: vec![line(1, "MUG", "2", "19.99"), second],
            flags: ["rush", "vip"].iter().map(|s| s.to_string()).collect(),
            attributes: BTreeMap::from([
                ("gift_note".to_string(), json!("Happy birthday")),
                ("weight".to_string(), json!("1.250")),
                ("promised_at".to_string(), json!("2024-05-03T12:00:00Z")),
                ("priority".to_string(), json!(2)),
            ]),
            queue: Some("packing".into()),
            assignee: Some("sam".into()),
            invoiced: true,
            related_order: Some(7),
            shipments: vec![Shipment {
                carrier: "UPS".into(),
                tracking_number: "1Z999".into(),
                amount: dec("0.30"),
                lines: vec![(2, dec("1.5"))],
                at: t("2024-05-01T15:00:00.000001Z"),
            }],
            fulfillment_actions: vec![FulfillmentAction {
                n: 1,
                name: "called_vendor".into(),
                complete: false,
                notify: "sam".into(),
                note: "vendor confirms Friday".into(),
                contact: "+1 555 0199".into(),
                visible: true,
                at: t("2024-05-01T11:00:00Z"),
                updated_at: t("2024-05-01T11:05:00.5Z"),
            }],
            lock: Some(Lock { holder: "sam".into(), expires_at: t("2024-05-01T10:00:00.25Z") }),
            version: 0,
        };
        let mut d = decision(order.clone());
        d.timer_starts = vec![TimerStart {
            name: "remind".into(),
            due_at: t("2024-05-04T09:30:00Z"),
            status: "ready_to_process".into(),
        }];
        d.outbox = vec![OutboxMessage {
            kind: orderly::engine::MessageKind::Email,
            target: "ann@example.com".into(),
            template: Some("confirmation".into()),
            subject: Some("Thanks".into()),
            hook: None,
            event: None,
            payload: json!({ "total": "40.28", "lines": [1, 2] }),
        }];

        // A detail that JSON in the database must carry through untouched: quotes, non-ASCII,
        // an integer past 2^53, a decimal's trailing zero, nesting.
        let mut note = entry("note", t("2024-05-01T09:30:01Z"), None, None);
        note.detail = json!({
            "text": "na\u{ef}ve \"quoted\" \u{1F600} \\ back",
            "big": 12_345_678_901_234_567_i64,
            "price": 1.50,
            "nested": {"a": [1, null, true, "2.00"]},
        });
        d.history.push(note);

        let mut tx = store.begin().await.unwrap();
        let id = tx.insert_order(&d, 3, now).await.unwrap();
        tx.commit().await.unwrap();

        let got = store.order(id).await.unwrap().expect("the order is stored");
        let expected = Order { id, number: format!("ORD{id:06}"), workflow_version: 3, version: 1, ..order };
        assert_eq!(got, expected);
        assert_eq!(got.lines[0].unit_price.to_string(), "19.99");
        assert_eq!(got.lines[1].unit_price.to_string(), "0.10", "the scale is kept");
        assert_eq!(got.shipping_amount.to_string(), "0.30");
        assert_eq!(got.total(), dec("40.58"));
        assert_eq!(got.customer.id, matched.customer.id);

        let history = store.history(id).await.unwrap();
        assert_eq!(history.len(), 2);
        assert_eq!(history[0].workflow_version, 3);
        assert_eq!(history[0].entry, d.history[0]);
        assert_eq!(history[1].entry, d.history[1]);

        // Read whole in one statement (by number, with the history; and the deciding read): the
        // same order and the same history, detail for detail.
        let by_number = OrderKey::Number(expected.number.clone());
        let (whole, whole_history) =
            store.order_with_history(&by_number).await.unwrap().expect("found by its number");
        assert_eq!(whole, expected);
        assert_eq!(whole_history, history);
        assert_eq!(whole_history[1].entry.detail.to_string(), d.history[1].detail.to_string());
        assert_eq!(
            store.order_with_history(&OrderKey::Id(id)).await.unwrap(),
            Some((expected.clone(), history))
        );
        assert_eq!(store.order_snapshot(&OrderKey::Id(id)).await.unwrap().as_ref(), Some(&expected));
        assert_eq!(store.find_order(&by_number).await.unwrap().as_ref(), Some(&expected));
        assert_eq!(store.order_with_history(&OrderKey::Number("nope".into())).await.unwrap(), None);

        let timers = store.timers(id).await.unwrap();
        assert_eq!(timers.len(), 1);
        assert_eq!((timers[0].order_id, timers[0].name.as_str()), (id, "remind"));
        assert_eq!(timers[0].due_at, t("2024-05-04T09:30:00Z"));

        let outbox = store.outbox(Some(id)).await.unwrap();
        assert_eq!(outbox.len(), 1);
        assert_eq!(outbox[0].message, d.outbox[0]);
        assert_eq!((outbox[0].state.as_str(), outbox[0].attempts, outbox[0].created_at), ("pending", 0, now));
        assert_eq!(store.outbox(None).await.unwrap().len(), 1);
        assert_eq!(store.count_orders().await.unwrap(), 1);
        assert_eq!(store.order(id + 1000).await.unwrap(), None);
    })
    .await;
}

#[tokio::test]
async fn a_stale_version_conflicts_and_changes_nothing() {
    on_both("a_stale_version_conflicts_and_changes_nothing", |store| async move {
        let order = must_insert(&store, &decision(plain_order("web", Some("W-1")))).await;
        assert_eq!(order.version, 1);

        let mut paid = transition(&order, "paid", t("2024-05-02T10:00:00Z"));
        paid.order.lines.push(line(2, "LID", "1", "2.00"));
        update(&store, &order, &paid).await.unwrap();
        let after = store.order(order.id).await.unwrap().unwrap();
        assert_eq!((after.version, after.status.as_str(), after.lines.len()), (2, "paid", 2));
        assert_eq!(after.workflow_version, 2);

        let mut stale = transition(&order, "cancelled", t("2024-05-02T11:00:00Z"));
        stale.timer_starts.push(TimerStart {
            name: "purge".into(),
            due_at: t("2024-06-01T00:00:00Z"),
            status: "cancelled".into(),
        });
        stale.outbox.push(OutboxMessage {
            kind: orderly::engine::MessageKind::Webhook,
            target: "erp".into(),
            template: None,
            subject: None,
            hook: None,
            event: None,
            payload: json!({}),
        });
        let mut tx = store.begin().await.unwrap();
        assert!(matches!(
            tx.update_order_from(&order, &stale, 2, t("2024-05-02T11:00:00Z")).await,
            Err(StoreError::Conflict)
        ));
        drop(tx);

        assert_eq!(store.order(order.id).await.unwrap().unwrap(), after);
        assert_eq!(store.history(order.id).await.unwrap().len(), 2);
        assert!(store.timers(order.id).await.unwrap().is_empty());
        assert!(store.outbox(Some(order.id)).await.unwrap().is_empty());

        // A lock is written like every change of a batch: checked against the version it was
        // decided on, a conflict writing nothing.
        let lock = Lock { holder: "sam".into(), expires_at: t("2024-05-02T12:00:00Z") };
        let write = |before: Order, lock: Option<Lock>, kind: &'static str, at: Time| {
            let store = store.clone();
            async move {
                let mut after = before.clone();
                after.lock = lock.clone();
                after.version = before.version + 1;
                let history = [entry(kind, at, None, None)];
                let input = orderly::replay::Input::Lock {
                    holder: "sam".into(),
                    expires_at: lock.map(|l| l.expires_at),
                    force: false,
                };
                let outcome = orderly::replay::Outcome::unchanged(&before.status);
                let mut tx = store.begin().await.unwrap();
                let orders = [OrderWrite {
                    before: &before,
                    after: &after,
                    version: after.version,
                    workflow_version: 2,
                    at,
                }];
                let inputs = [InputWrite {
                    order: before.id,
                    at,
                    workflow_version: 2,
                    history: &history,
                    timer_cancels: &[],
                    timer_starts: &[],
                    outbox: &[],
                    input: &input,
                    outcome: &outcome,
                }];
                let written = tx.write_batch(&orders, &inputs).await;
                if written.is_ok() {
                    tx.commit().await.unwrap();
                }
                written.map(|rows| rows.into_iter().flatten().map(|h| h.entry.kind).collect::<Vec<_>>())
            }
        };
        let mut stale = store.order(order.id).await.unwrap().unwrap();
        stale.version = 1;
        assert!(matches!(
            write(stale, Some(lock.clone()), "locked", t("2024-05-02T11:30:00Z")).await,
            Err(StoreError::Conflict)
        ));
        let current = store.order(order.id).await.unwrap().unwrap();
        assert_eq!(current.version, 2, "the conflict wrote nothing");
        assert_eq!(
            write(current, Some(lock.clone()), "locked", t("2024-05-02T11:30:00Z")).await.unwrap(),
            ["locked"]
        );
        let with_lock = store.order(order.id).await.unwrap().unwrap();
        assert_eq!((with_lock.version, with_lock.lock.as_ref()), (3, Some(&lock)));
        assert_eq!(with_lock.status, "paid");
        write(with_lock, None, "unlocked", t("2024-05-02T11:40:00Z")).await.unwrap();
        let unlocked = store.order(order.id).await.unwrap().unwrap();
        assert_eq!((unlocked.version, unlocked.lock), (4, None));
        let kinds: Vec<String> =
            store.history(order.id).await.unwrap().into_iter().map(|h| h.entry.kind).collect();
        assert_eq!(kinds, ["created", "transition", "locked", "unlocked"]);
    })
    .await;
}

/// An order with a part of every kind: two lines, a shipment, two fulfillment actions, a payment,
/// a flag, an attribute and a lock.
fn order_with_every_part() -> Order {
    let mut o = plain_order("web", None);
    o.lines.push(line(2, "LID", "2", "2.00"));
    o.payment = Some(Payment {
        method: "check".into(),
        outcome: PaymentOutcome::Pending,
        amount: dec("13.50"),
        reference: "chk-1".into(),
    });
    o.flags.insert("vip".into());
    o.attributes.insert("gift_note".into(), json!("Happy birthday"));
    o.lines[0].shipped_qty = dec("1");
    o.shipments = vec![shipment("UPS", "1", &[(1, "1")], "2024-05-01T12:00:00Z")];
    o.fulfillment_actions =
        vec![action(1, "called", "2024-05-01T10:00:00Z"), action(2, "emailed", "2024-05-01T11:00:00Z")];
    o.lock = Some(Lock { holder: "ann".into(), expires_at: t("2024-05-01T10:00:00Z") });
    o
}

fn shipment(carrier: &str, amount: &str, lines: &[(u32, &str)], at: &str) -> Shipment {
    Shipment {
        carrier: carrier.into(),
        tracking_number: format!("{carrier}-{at}"),
        amount: dec(amount),
        lines: lines.iter().map(|(n, q)| (*n, dec(q))).collect(),
        at: t(at),
    }
}

fn action(n: u32, name: &str, at: &str) -> FulfillmentAction {
    FulfillmentAction {
        n,
        name: name.into(),
        complete: true,
        notify: String::new(),
        note: String::new(),
        contact: "ann@example.com".into(),
        visible: true,
        at: t(at),
        updated_at: t(at),
    }
}

/// What a write must leave alone is marked behind the store's back with this text, in one field
/// per part that no change below touches: the row's `external_id`, each line's `description`,
/// each shipment's `tracking_number`, each fulfillment action's `contact`. A part the write
/// rewrites loses its mark; a part it leaves alone keeps it.
const MARK: &str = "marked behind the store's back";

async fn mark_every_part(db: &mut sqlx::AnyConnection, id: OrderId) {
    use sqlx::Executor;
    for sql in [
        "UPDATE orders SET external_id = $1 || id WHERE id = $2",
        "UPDATE order_lines SET description = $1 WHERE order_id = $2",
        "UPDATE shipments SET tracking_number = $1 WHERE order_id = $2",
        "UPDATE fulfillment_actions SET contact = $1 WHERE order_id = $2",
    ] {
        db.execute(sqlx::query(sql).bind(MARK).bind(id)).await.expect("marked");
    }
}

/// The parts of `got` that existed in `before` and lost their mark (were written), in a fixed
/// order; and `got` with the marks of the parts left alone put back to `after`'s values.
fn written_parts(before: &Order, after: &Order, got: &Order) -> (Vec<String>, Order) {
    let mut written = Vec::new();
    let mut unmarked = got.clone();
    match &got.external_id {
        Some(e) if e.starts_with(MARK) => unmarked.external_id.clone_from(&after.external_id),
        _ => written.push("row".to_string()),
    }
    for (l, a) in unmarked.lines.iter_mut().zip(&after.lines) {
        if l.description == MARK {
            l.description.clone_from(&a.description);
        } else if before.lines.iter().any(|b| b.n == l.n) {
            written.push(format!("line {}", l.n));
        }
    }
    for (i, (s, a)) in unmarked.shipments.iter_mut().zip(&after.shipments).enumerate() {
        if s.tracking_number == MARK {
            s.tracking_number.clone_from(&a.tracking_number);
        } else if i < before.shipments.len() {
            written.push(format!("shipment {}", i + 1));
        }
    }
    for (f, a) in unmarked.fulfillment_actions.iter_mut().zip(&after.fulfillment_actions) {
        if f.contact == MARK {
            f.contact.clone_from(&a.contact);
        } else if before.fulfillment_actions.iter().any(|b| b.n == f.n) {
            written.push(format!("action {}", f.n));
        }
    }
    (written, unmarked)
}

/// The production write path, `Tx::update_order_from` (what the service calls): each part of
/// an order changed on its own reads back as decided, the version moves by one, and the parts
/// the decision kept are left as they are in the database (not rewritten from the snapshot).
/// A change of shape (a line added, a shipment changed) rewrites lines, shipments and actions.
#[tokio::test]
async fn an_update_writes_the_parts_that_changed_and_leaves_the_rest_alone() {
    type Change = fn(&mut Order);
    let at = t("2024-05-02T10:00:00Z");
    let cases: Vec<(&str, Change, &[&str])> = vec![
        (
            "the status",
            |o| {
                o.status = "paid".into();
                o.status_since = t("2024-05-02T10:00:00Z");
            },
            &["row"],
        ),
        (
            "a line's quantities",
            |o| {
                let l = o.lines.last_mut().expect("two lines");
                l.in_stock_qty = dec("2");
                l.picked_qty = dec("2");
            },
            &["line 2"],
        ),
        (
            "the payment",
            |o| {
                o.payment = Some(Payment {
                    method: "check".into(),
                    outcome: PaymentOutcome::Approved,
                    amount: dec("13.50"),
                    reference: "chk-1".into(),
                });
                o.amount_paid = dec("13.50");
            },
            &["row"],
        ),
        (
            "a flag",
            |o| {
                o.flags.insert("rush".into());
            },
            &["row"],
        ),
        (
            "an attribute",
            |o| {
                o.attributes.insert("weight".into(), json!("1.25"));
            },
            &["row"],
        ),
        (
            "queue and assignee",
            |o| {
                o.queue = Some("packing".into());
                o.assignee = Some("sam".into());
            },
            &["row"],
        ),
        (
            "a shipment added",
            |o| {
                o.shipments.push(shipment("FedEx", "4.95", &[(2, "2")], "2024-05-02T10:00:00Z"));
                o.shipping_amount = dec("5.95");
                o.lines.last_mut().expect("two lines").shipped_qty = dec("2");
            },
            &["row", "line 2"],
        ),
        (
            "a fulfillment action edited",
            |o| {
                let a = o.fulfillment_actions.last_mut().expect("two actions");
                a.note = "called back".into();
                a.complete = false;
                a.updated_at = t("2024-05-02T10:00:00Z");
            },
            &["action 2"],
        ),
        (
            "a fulfillment action added",
            |o| {
                o.fulfillment_actions.push(action(3, "packed", "2024-05-02T10:00:00Z"));
            },
            &["row"],
        ),
        (
            "the lock passed on",
            |o| {
                o.lock = Some(Lock { holder: "sam".into(), expires_at: t("2024-05-02T10:15:00Z") });
            },
            &["row"],
        ),
        ("the lock released", |o| o.lock = None, &["row"]),
        ("nothing but history", |_| {}, &[]),
        (
            "a line added",
            |o| o.lines.push(line(3, "BOX", "1", "0.50")),
            &["line 1", "line 2", "shipment 1", "action 1", "action 2"],
        ),
        (
            "a shipment changed",
            |o| {
                o.shipments.first_mut().expect("a shipment").amount = dec("2");
            },
            &["line 1", "line 2", "shipment 1", "action 1", "action 2"],
        ),
    ];
    on_both_at("an_update_writes_the_parts_that_changed_and_leaves_the_rest_alone", move |store, url| {
        let cases = cases.clone();
        async move {
            use sqlx::Connection;
            sqlx::any::install_default_drivers();
            let mut db = sqlx::AnyConnection::connect(&url).await.expect("a second connection");
            for (what, change, expected) in cases {
                let before = must_insert(&store, &decision(order_with_every_part())).await;
                mark_every_part(&mut db, before.id).await;
                let mut after = before.clone();
                change(&mut after);
                let d = Decision {
                    order: after.clone(),
                    steps: Vec::new(),
                    history: vec![entry("event", at, Some(&before.status), Some(&after.status))],
                    timer_starts: Vec::new(),
                    timer_cancels: Vec::new(),
                    outbox: Vec::new(),
                    related: Vec::new(),
                };
                update(&store, &before, &d).await.unwrap_or_else(|e| panic!("{what}: {e}"));

                let got = store.order(before.id).await.expect("readable").expect("stored");
                let (written, got) = written_parts(&before, &after, &got);
                assert_eq!(written, expected, "{what}: the parts written");
                let want = Order { version: before.version + 1, workflow_version: 2, ..after };
                assert_eq!(got, want, "{what}: the order read back");
                let kinds: Vec<String> = store
                    .history(before.id)
                    .await
                    .expect("history")
                    .into_iter()
                    .map(|h| h.entry.kind)
                    .collect();
                assert_eq!(kinds, ["created", "event"], "{what}: the history");
            }
        }
    })
    .await;
}

#[tokio::test]
async fn timer_cancels_apply_before_starts() {
    on_both("timer_cancels_apply_before_starts", |store| async move {
        let timer = |name: &str, status: &str, due: &str| TimerStart {
            name: name.into(),
            due_at: t(due),
            status: status.into(),
        };
        let mut d = decision(plain_order("web", None));
        d.timer_starts = vec![
            timer("remind", "awaiting_payment", "2024-05-02T09:30:00Z"),
            timer("cancel_unpaid", "awaiting_payment", "2024-05-08T09:30:00Z"),
            timer("survey", "any", "2024-05-10T09:30:00Z"),
            timer("audit", "any", "2024-05-11T09:30:00Z"),
        ];
        let order = must_insert(&store, &d).await;
        assert_eq!(store.timers(order.id).await.unwrap().len(), 4);

        let mut next = transition(&order, "awaiting_payment", t("2024-05-02T10:00:00Z"));
        next.timer_cancels =
            vec![TimerCancel::Status("awaiting_payment".into()), TimerCancel::Name("audit".into())];
        next.timer_starts = vec![timer("remind", "awaiting_payment", "2024-05-03T10:00:00Z")];
        update(&store, &order, &next).await.unwrap();

        let left: Vec<(String, Time)> =
            store.timers(order.id).await.unwrap().into_iter().map(|t| (t.name, t.due_at)).collect();
        assert_eq!(
            left,
            [
                ("remind".to_string(), t("2024-05-03T10:00:00Z")),
                ("survey".to_string(), t("2024-05-10T09:30:00Z"))
            ]
        );
    })
    .await;
}

#[tokio::test]
async fn due_timers_are_taken_oldest_first_and_deleted_once() {
    on_both("due_timers_are_taken_oldest_first_and_deleted_once", |store| async move {
        let mut d = decision(plain_order("web", None));
        for (name, due) in
            [("c", "2024-05-03T00:00:00Z"), ("a", "2024-05-01T00:00:00Z"), ("b", "2024-05-02T00:00:00Z")]
        {
            d.timer_starts.push(TimerStart { name: name.into(), due_at: t(due), status: "s".into() });
        }
        let order = must_insert(&store, &d).await;

        let mut tx = store.begin().await.unwrap();
        assert!(tx.due_timers(t("2024-04-30T23:59:59Z"), 10).await.unwrap().is_empty());
        let due = tx.due_timers(t("2024-05-02T00:00:00Z"), 10).await.unwrap();
        let names: Vec<&str> = due.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["a", "b"], "due_at <= now, oldest first");
        assert!(due.iter().all(|t| t.order_id == order.id));
        let first = tx.due_timers(t("2024-05-09T00:00:00Z"), 1).await.unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].name, "a");
        assert!(tx.delete_timer(first[0].id).await.unwrap());
        assert!(!tx.delete_timer(first[0].id).await.unwrap(), "a second delete finds nothing");
        tx.commit().await.unwrap();

        let mut tx = store.begin().await.unwrap();
        assert!(!tx.delete_timer(first[0].id).await.unwrap());
        drop(tx);
        let left: Vec<String> = store.timers(order.id).await.unwrap().into_iter().map(|t| t.name).collect();
        assert_eq!(left, ["b", "c"]);

        if store.backend() == Backend::Postgres {
            // Two workers at once: the second skips the timer the first holds.
            let mut one = store.begin().await.unwrap();
            let mut two = store.begin().await.unwrap();
            let now = t("2024-05-09T00:00:00Z");
            let taken_one = one.due_timers(now, 1).await.unwrap();
            let taken_two = two.due_timers(now, 1).await.unwrap();
            assert_eq!(taken_one.len(), 1);
            assert_eq!(taken_two.len(), 1);
            assert_ne!(taken_one[0].id, taken_two[0].id);
        }
    })
    .await;
}

#[tokio::test]
async fn idempotent_results_are_saved_once() {
    on_both("idempotent_results_are_saved_once", |store| async move {
        let order = must_insert(&store, &decision(plain_order("web", None))).await;
        let result = json!({ "status": "paid", "steps": [{ "from": "a", "to": "b" }], "amount": "19.99" });
        let at = t("2024-05-02T10:00:00Z");
        let mut tx = store.begin().await.unwrap();
        assert!(tx.idempotent_results(&[(order.id, "key-1")]).await.unwrap().is_empty());
        tx.save_idempotent_results(&[(order.id, "key-1", result.clone(), at)]).await.unwrap();
        tx.commit().await.unwrap();

        let mut tx = store.begin().await.unwrap();
        let found = tx.idempotent_results(&[(order.id, "key-1"), (order.id, "key-2")]).await.unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found.get(&(order.id, "key-1".to_string())), Some(&result));
        let again = tx.save_idempotent_results(&[(order.id, "key-1", json!({}), at)]).await;
        assert!(matches!(again, Err(StoreError::Conflict)), "{again:?}");
        drop(tx);

        assert_eq!(store.idempotent_result(order.id, "key-1").await.unwrap(), Some(result));
        assert_eq!(store.idempotent_result(order.id, "key-2").await.unwrap(), None);
    })
    .await;
}

fn who(email: &str, first: &str, last: &str, company: &str, zip: &str) -> CustomerMatch {
    CustomerMatch {
        email: email.into(),
        first_name: first.into(),
        last_name: last.into(),
        company: company.into(),
        phone: String::new(),
        is_guest: false,
        zip: zip.into(),
    }
}

/// The grid's stuck-first page (the board): orders flagged `integration_failed`, `overdue` or
/// `possible_duplicate`, or with a timer past due, first, newest first, then the others, newest
/// first; with the filters, a search, a cursor and a short page, each compared with a plain
/// reading of that definition over the orders written.
#[tokio::test]
async fn the_grid_puts_stuck_orders_first_then_the_newest() {
    on_both("the_grid_puts_stuck_orders_first_then_the_newest", |store| async move {
        let now = t("2024-06-01T12:00:00Z");
        struct Written {
            id: OrderId,
            number: String,
            stuck: bool,
            flags: Vec<String>,
            in_queue: bool,
            email: String,
        }
        let mut written = Vec::new();
        for i in 0..24_usize {
            let email = format!("{}@example.com", ["ann", "bob", "cy", "dee"][i % 4]);
            let mut tx = store.begin().await.unwrap();
            let customer = tx.match_customer(&who(&email, "", "", "", ""), now).await.unwrap().customer;
            tx.commit().await.unwrap();
            let mut order = plain_order("web", None);
            order.customer = Arc::new(customer);
            // Stuck by a flag, by a timer past due; not by a flag that only starts like one, a
            // timer still to come, or another flag.
            let flags: &[&str] = match i % 8 {
                1 => &["overdue"],
                3 => &["hold", "possible_duplicate"],
                5 => &["integration_failed"],
                6 => &["overdue_soon", "integration"],
                7 => &["hold"],
                _ => &[],
            };
            order.flags = flags.iter().map(|f| f.to_string()).collect();
            order.queue = (i % 3 == 0).then(|| "csr".to_string());
            order.assignee = (i % 6 == 0).then(|| "ana".to_string());
            let mut d = decision(order);
            let due = match i % 8 {
                2 => Some("2024-06-01T11:59:00Z"),
                4 => Some("2024-06-01T12:01:00Z"),
                _ => None,
            };
            d.timer_starts = due
                .map(|due| TimerStart {
                    name: "remind".into(),
                    due_at: t(due),
                    status: "awaiting_payment".into(),
                })
                .into_iter()
                .collect();
            let o = must_insert(&store, &d).await;
            written.push(Written {
                id: o.id,
                number: o.number.clone(),
                stuck: [1, 2, 3, 5].contains(&(i % 8)),
                flags: flags.iter().map(|f| f.to_string()).collect(),
                in_queue: i % 3 == 0 && i % 6 != 0,
                email,
            });
        }
        let base = GridQuery { stuck_first: true, limit: 100, ..GridQuery::default() };
        let ninth = written[9].number.clone();
        /// Which orders a query should find, besides its cursor.
        type Keep = Box<dyn Fn(&Written) -> bool + Send + Sync>;
        let cases: Vec<(&str, GridQuery, Keep)> = vec![
            ("the board", base.clone(), Box::new(|_| true)),
            ("a page of 5", GridQuery { limit: 5, ..base.clone() }, Box::new(|_| true)),
            (
                "after a cursor",
                GridQuery { before: Some(written[17].id), limit: 4, ..base.clone() },
                Box::new(|_| true),
            ),
            ("in queue", GridQuery { unassigned_in_queue: true, ..base.clone() }, Box::new(|w| w.in_queue)),
            (
                "an email",
                GridQuery { search: Some("BOB@ex".into()), ..base.clone() },
                Box::new(|w| w.email.starts_with("bob")),
            ),
            (
                "a number",
                GridQuery { search: Some(ninth.clone()), ..base.clone() },
                Box::new(move |w| w.number == ninth),
            ),
            (
                "a flag",
                GridQuery { flag: Some("overdue".into()), ..base.clone() },
                Box::new(|w| w.flags.iter().any(|f| f == "overdue")),
            ),
            ("newest first", GridQuery { limit: 7, ..GridQuery::default() }, Box::new(|_| true)),
            (
                "newest first, an email",
                GridQuery { search: Some("cy@".into()), limit: 100, ..GridQuery::default() },
                Box::new(|w| w.email.starts_with("cy")),
            ),
        ];
        for (what, query, keep) in cases {
            let mut want: Vec<(bool, OrderId)> = written
                .iter()
                .filter(|w| keep(w) && query.before.is_none_or(|b| w.id < b))
                .map(|w| (query.stuck_first && w.stuck, w.id))
                .collect();
            want.sort_by(|a, b| b.cmp(a));
            let more = want.len() > query.limit as usize;
            want.truncate(query.limit as usize);
            let page = store.grid(&query, now).await.unwrap();
            let got: Vec<(bool, OrderId)> = page.rows.iter().map(|r| (r.stuck, r.id)).collect();
            assert_eq!(got, want, "{what}");
            assert_eq!(page.next, more.then(|| want.last().map(|w| w.1)).flatten(), "{what}: the cursor");
        }
    })
    .await;
}

#[tokio::test]
async fn customers_are_matched_by_email_then_company() {
    on_both("customers_are_matched_by_email_then_company", |store| async move {
        let now = t("2024-05-01T09:30:00Z");
        let mut tx = store.begin().await.unwrap();

        let ann =
            tx.match_customer(&who("Ann@Example.com", "Ann", "Lee", "Acme", "12345"), now).await.unwrap();
        assert!(ann.customer.is_new && !ann.possible_duplicate);
        let ann_id = ann.customer.id.expect("an id");
        assert_eq!(ann.customer.email, "Ann@Example.com");

        // Email case and spaces do not matter; company case and spaces neither.
        let again = tx.match_customer(&who("  ann@EXAMPLE.com ", "A", "L", " ACME ", ""), now).await.unwrap();
        assert_eq!(again.customer.id, Some(ann_id));
        assert!(!again.customer.is_new && !again.possible_duplicate);
        assert_eq!((again.customer.first_name.as_str(), again.customer.company.as_str()), ("Ann", "Acme"));

        // No company given: the oldest customer with the email.
        let no_company = tx.match_customer(&who("ann@example.com", "", "", "", ""), now).await.unwrap();
        assert_eq!(no_company.customer.id, Some(ann_id));
        assert!(!no_company.possible_duplicate);

        // Same email, another company: a new customer, flagged.
        let other =
            tx.match_customer(&who("ann@example.com", "Ann", "Lee", "Other Ltd", ""), now).await.unwrap();
        assert!(other.customer.is_new && other.possible_duplicate);
        assert_ne!(other.customer.id, Some(ann_id));
        // ... which the next order for that company links to.
        let other_again =
            tx.match_customer(&who("ANN@example.com", "", "", "other ltd", ""), now).await.unwrap();
        assert_eq!(other_again.customer.id, other.customer.id);
        assert!(!other_again.possible_duplicate);

        // Another email, same name and postal code: new, flagged.
        let bob = tx.match_customer(&who("bob@x.com", "Bob", "Stone", "", "SW1A 1AA"), now).await.unwrap();
        assert!(!bob.possible_duplicate);
        let bob2 =
            tx.match_customer(&who("bobby@y.com", " bob ", "STONE", "", "sw1a1aa"), now).await.unwrap();
        assert!(bob2.customer.is_new && bob2.possible_duplicate);
        assert_ne!(bob2.customer.id, bob.customer.id);
        // Same name and company, other email: flagged too.
        let ann3 =
            tx.match_customer(&who("ann.lee@z.com", "Ann", "Lee", "acme", "99999"), now).await.unwrap();
        assert!(ann3.customer.is_new && ann3.possible_duplicate);
        // Same name, nothing else in common: new, not flagged.
        let bob3 = tx.match_customer(&who("b@z.com", "Bob", "Stone", "", "90210"), now).await.unwrap();
        assert!(bob3.customer.is_new && !bob3.possible_duplicate);

        // A guest gets a record; an empty email never matches.
        let mut guest = who("guest@example.com", "Gus", "Test", "", "");
        guest.is_guest = true;
        let g = tx.match_customer(&guest, now).await.unwrap();
        assert!(g.customer.is_new && g.customer.is_guest && g.customer.id.is_some());
        let mut anonymous = who("", "", "", "", "");
        anonymous.is_guest = true;
        let a1 = tx.match_customer(&anonymous, now).await.unwrap();
        let a2 = tx.match_customer(&anonymous, now).await.unwrap();
        assert!(a1.customer.is_new && a2.customer.is_new);
        assert_ne!(a1.customer.id, a2.customer.id);
        tx.commit().await.unwrap();

        // Committed: seen by a later transaction.
        let mut tx = store.begin().await.unwrap();
        let later = tx.match_customer(&who("ann@example.com", "", "", "Acme", ""), now).await.unwrap();
        assert_eq!(later.customer.id, Some(ann_id));
    })
    .await;
}

#[tokio::test]
async fn a_repeated_external_id_or_number_is_a_duplicate() {
    on_both("a_repeated_external_id_or_number_is_a_duplicate", |store| async move {
        let first = must_insert(&store, &decision(plain_order("web", Some("W-1")))).await;
        let again = insert(&store, &decision(plain_order("web", Some("W-1")))).await;
        assert!(matches!(again, Err(StoreError::Duplicate(_))), "{again:?}");
        // Another channel may use the same external id; no external id never clashes.
        insert(&store, &decision(plain_order("phone", Some("W-1")))).await.unwrap();
        insert(&store, &decision(plain_order("web", None))).await.unwrap();
        insert(&store, &decision(plain_order("web", None))).await.unwrap();

        let mut numbered = plain_order("web", Some("W-2"));
        numbered.number = first.number.clone();
        let clash = insert(&store, &decision(numbered)).await;
        assert!(matches!(clash, Err(StoreError::Duplicate(_))), "{clash:?}");
        assert_eq!(store.count_orders().await.unwrap(), 4);

        let mut tx = store.begin().await.unwrap();
        assert_eq!(tx.order_by_external_id("web", "W-1").await.unwrap().map(|o| o.id), Some(first.id));
        assert_eq!(tx.order_by_external_id("web", "W-9").await.unwrap(), None);
    })
    .await;
}

#[tokio::test]
async fn workflow_versions_are_numbered_by_content() {
    on_both("workflow_versions_are_numbered_by_content", |store| async move {
        assert_eq!(store.workflow_version("retail", "h1", "workflow retail v1").await.unwrap(), 1);
        assert_eq!(store.workflow_version("retail", "h1", "workflow retail v1").await.unwrap(), 1);
        assert_eq!(store.workflow_version("retail", "h2", "workflow retail v2").await.unwrap(), 2);
        assert_eq!(store.workflow_version("retail", "h1", "workflow retail v1").await.unwrap(), 1);
        assert_eq!(store.workflow_version("repair", "h1", "workflow repair").await.unwrap(), 1);
        assert_eq!(store.workflow_version("retail", "h3", "workflow retail v3").await.unwrap(), 3);
    })
    .await;
}

/// An order is named by its number exactly as given, or by its id written `id:N`: never one
/// read as the other (issue 11, item 7).
#[tokio::test]
async fn orders_are_found_by_number_or_id_key() {
    on_both("orders_are_found_by_number_or_id_key", |store| async move {
        let generated = must_insert(&store, &decision(plain_order("web", None))).await;
        assert_eq!(generated.number, format!("ORD{:06}", generated.id));
        let mut named = plain_order("web", None);
        named.number = "A-1001".into();
        let named = must_insert(&store, &decision(named)).await;
        // A number made of digits: the id of the first order, as text.
        let mut digits = plain_order("web", None);
        digits.number = generated.id.to_string();
        let digits = must_insert(&store, &decision(digits)).await;

        let found = |raw: String| {
            let store = store.clone();
            async move {
                let key = OrderKey::parse(&raw)?;
                store.find_order(&key).await.unwrap().map(|o| o.id)
            }
        };
        assert_eq!(found("A-1001".into()).await, Some(named.id));
        assert_eq!(
            found(generated.id.to_string()).await,
            Some(digits.id),
            "digits are a number, never an id"
        );
        assert_eq!(found(format!("id:{}", generated.id)).await, Some(generated.id));
        assert_eq!(found(format!("id:{}", digits.id)).await, Some(digits.id));
        assert_eq!(found(generated.number.clone()).await, Some(generated.id));
        // Exactly as given: no trimming, no signs, no leading zeros read away.
        assert_eq!(found(" A-1001 ".into()).await, None);
        assert_eq!(found(format!("+{}", generated.id)).await, None);
        assert_eq!(found(format!("0{}", generated.id)).await, None);
        assert_eq!(found(format!("id: {}", generated.id)).await, None);
        assert_eq!(found(format!("id:+{}", generated.id)).await, None);
        assert_eq!(found("id:".into()).await, None);
        assert_eq!(found("id:99999999999999999999999".into()).await, None);
        assert_eq!(found("A-9999".into()).await, None);
        assert_eq!(found("99999999999999999999999".into()).await, None);
        assert_eq!(found(String::new()).await, None);
        assert_eq!(store.order_id(&OrderKey::Id(named.id)).await.unwrap(), Some(named.id));
        assert_eq!(store.order_id(&OrderKey::Number(named.id.to_string())).await.unwrap(), None);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_writers_on_one_snapshot_one_commits_one_conflicts() {
    on_both("two_writers_on_one_snapshot_one_commits_one_conflicts", |store| async move {
        let order = must_insert(&store, &decision(plain_order("web", None))).await;
        let start = Arc::new(tokio::sync::Barrier::new(2));
        let mut tasks = Vec::new();
        for status in ["paid", "cancelled"] {
            let (store, order, start) = (store.clone(), order.clone(), start.clone());
            tasks.push(tokio::spawn(async move {
                start.wait().await;
                let d = transition(&order, status, t("2024-05-02T10:00:00Z"));
                let mut tx = store.begin().await?;
                tx.update_order_from(&order, &d, 2, t("2024-05-02T10:00:00Z")).await?;
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                tx.commit().await.map(|()| status)
            }));
        }
        let mut won = Vec::new();
        let mut conflicts = 0;
        for task in tasks {
            match task.await.expect("the writer finishes") {
                Ok(status) => won.push(status),
                Err(StoreError::Conflict) => conflicts += 1,
                Err(e) => panic!("unexpected error: {e}"),
            }
        }
        assert_eq!((won.len(), conflicts), (1, 1));
        let after = store.order(order.id).await.unwrap().unwrap();
        assert_eq!((after.version, after.status.as_str()), (2, won[0]));
        assert_eq!(store.history(order.id).await.unwrap().len(), 2);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writers_that_read_for_update_are_serialized() {
    on_both("writers_that_read_for_update_are_serialized", |store| async move {
        let order = must_insert(&store, &decision(plain_order("web", None))).await;
        let start = Arc::new(tokio::sync::Barrier::new(2));
        let mut tasks = Vec::new();
        for flag in ["one", "two"] {
            let (store, start, id) = (store.clone(), start.clone(), order.id);
            tasks.push(tokio::spawn(async move {
                start.wait().await;
                // As the service does: read under the lock, decide, write; retry on conflict.
                for _ in 0..10 {
                    let attempt = async {
                        let mut tx = store.begin().await?;
                        let current = tx.order_for_update(id).await?.expect("the order exists");
                        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
                        let mut d = transition(&current, &current.status, t("2024-05-02T10:00:00Z"));
                        d.order.flags.insert(flag.to_string());
                        tx.update_order_from(&current, &d, 2, t("2024-05-02T10:00:00Z")).await?;
                        tx.commit().await
                    };
                    match attempt.await {
                        Ok(()) => return,
                        Err(StoreError::Conflict) => continue,
                        Err(e) => panic!("unexpected error: {e}"),
                    }
                }
                panic!("no attempt went through");
            }));
        }
        for task in tasks {
            task.await.expect("the writer finishes");
        }
        let after = store.order(order.id).await.unwrap().unwrap();
        assert_eq!(after.version, 3, "both writes applied, one after the other");
        let flags: Vec<&str> = after.flags.iter().map(String::as_str).collect();
        assert_eq!(flags, ["one", "two"], "the second writer saw the first one's change");
    })
    .await;
}

/// A database nobody answers for is [`StoreError::Unavailable`] (503 `database_unavailable` in
/// the API, not 500) after the acquire timeout, 5 s, not sqlx's 30 s: a PostgreSQL port nobody
/// listens on, a SQLite file that cannot be opened (issue 11, item 5).
#[tokio::test]
async fn a_database_nobody_answers_for_is_unavailable_within_the_acquire_timeout() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address").port()
    };
    let started = std::time::Instant::now();
    let err = Store::connect(&format!("postgres://orderly@127.0.0.1:{port}/orderly"))
        .await
        .expect_err("nobody listens");
    let waited = started.elapsed();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(waited >= std::time::Duration::from_secs(4), "refused connections are retried: {waited:?}");
    assert!(waited < std::time::Duration::from_secs(10), "waited {waited:?}, not about 5 s");

    let dir = tempfile::tempdir().expect("dir");
    let missing = dir.path().join("no-such-folder").join("orderly.db");
    let err = Store::connect(&format!("sqlite://{}", missing.display())).await.expect_err("no folder");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
}
