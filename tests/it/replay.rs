//! What-if replay (`orderly::replay` and `orderly replay`): orders recorded through the service
//! on the shipped workflows, replayed on candidates that change one rule, on SQLite and
//! PostgreSQL. A candidate reports exactly the orders its change affects, an unchanged one none,
//! and a replay writes nothing.

use crate::support::{self, t0};
use orderly::engine::{EventInput, FulfillmentActionInput, NewOrder};
use orderly::registry::{Checked, Registry};
use orderly::replay::{replay, ReplayOptions, ReplayReport, RuleKind};
use orderly::replay::{Input, Outcome};
use orderly::service::{ManualClock, Service};
use orderly::store::{RecordedQuery, Store};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

fn new_order(workflow: &str, email: &str, payment: serde_json::Value, lines: serde_json::Value) -> NewOrder {
    serde_json::from_value(serde_json::json!({
        "channel": "website",
        "workflow": workflow,
        "customer": {"email": email, "first_name": "Ann", "last_name": "Lee"},
        "shipping_address": {"address": "1 Main St", "city": "Springfield", "state": "IL", "zip": "62701"},
        "payment": payment,
        "lines": lines,
    }))
    .expect("a valid order")
}

fn event(name: &str, data: serde_json::Value, actor: Option<&str>) -> EventInput {
    EventInput {
        name: name.into(),
        data: data.as_object().cloned().unwrap_or_default(),
        actor: actor.map(String::from),
    }
}

fn guitar() -> serde_json::Value {
    serde_json::json!([{"sku": "GTR-1", "qty": 1, "unit_price": "499.00", "in_stock": true}])
}

/// The numbers of the orders `record` made, by what each story is about.
#[derive(Debug, Default)]
struct Recorded {
    /// Paid by check with enough money, then shipped.
    paid_and_shipped: String,
    /// Paid by check with a small part payment marked approved (the guard candidate refuses it).
    small_payment: String,
    /// Card declined twice: the second `card_declined` stays with a note.
    declined_twice: String,
    /// Voided while waiting for payment.
    voided: String,
    /// Waiting for a check: its 14-day timer fires.
    overdue: String,
    /// Locked by a clerk, who confirms the payment.
    locked: String,
    /// Fulfillment: handed to the drop-ship merchant.
    dropship: String,
    /// Fulfillment: actions added and changed by hand.
    actions: String,
    /// Repair store: the zero-dollar repair replaced by a priced order (a hook makes it).
    replaced: String,
    /// Every order, the related one included.
    all: BTreeSet<String>,
}

/// Records the stories above through the service, on the shipped workflows, with a manual clock.
async fn record(store: Store) -> Recorded {
    let registry = Registry::load(Path::new("workflows"), &store).await.expect("the shipped workflows load");
    let clock = Arc::new(ManualClock::new(t0()));
    let s = Service::serving(store, registry, clock.clone());
    let minute = chrono::Duration::minutes(1);
    let mut r = Recorded::default();
    let check = serde_json::json!({"method": "check", "outcome": "pending"});
    let create = |o: NewOrder| {
        let s = &s;
        async move { s.create_order(&o).await.expect("created").order.number }
    };
    let apply = |n: String, e: EventInput| {
        let s = &s;
        async move {
            let applied = s.apply_event(&n, &e, None).await;
            applied.unwrap_or_else(|err| panic!("{} on {n}: {err}", e.name)).order.status
        }
    };

    r.paid_and_shipped = create(new_order("retail", "a@example.com", check.clone(), guitar())).await;
    clock.advance(minute);
    let paid = serde_json::json!({"amount": "499.00", "outcome": "approved", "reference": "check 1042"});
    assert_eq!(
        apply(r.paid_and_shipped.clone(), event("payment_received", paid, Some("clerk"))).await,
        "ready_to_process"
    );
    assert_eq!(
        apply(r.paid_and_shipped.clone(), event("payment_confirmed", serde_json::json!({}), None)).await,
        "in_shipping"
    );
    let shipped = serde_json::json!({"carrier": "UPS", "tracking_number": "1Z999"});
    assert_eq!(apply(r.paid_and_shipped.clone(), event("shipment", shipped, None)).await, "shipped");

    r.small_payment = create(new_order("retail", "b@example.com", check.clone(), guitar())).await;
    clock.advance(minute);
    let small = serde_json::json!({"amount": "25.00", "outcome": "approved"});
    assert_eq!(
        apply(r.small_payment.clone(), event("payment_received", small, None)).await,
        "ready_to_process"
    );

    let declined = serde_json::json!({"method": "credit_card", "outcome": "declined"});
    r.declined_twice = create(new_order("retail", "c@example.com", declined, guitar())).await;
    clock.advance(minute);
    let again = serde_json::json!({"outcome": "declined"});
    assert_eq!(
        apply(r.declined_twice.clone(), event("card_declined", again, None)).await,
        "credit_card_declined"
    );

    r.voided = create(new_order("retail", "d@example.com", check.clone(), guitar())).await;
    assert_eq!(
        apply(r.voided.clone(), event("void", serde_json::json!({}), Some("manager"))).await,
        "voided"
    );
    // A refused event is not an input: nothing of it is kept.
    s.apply_event(&r.voided, &event("payment_confirmed", serde_json::json!({}), None), None)
        .await
        .expect_err("a voided order takes nothing");

    let card = serde_json::json!({"method": "credit_card", "outcome": "approved"});
    r.locked = create(new_order("retail", "e@example.com", card, guitar())).await;
    s.lock(&r.locked, "ann", chrono::Duration::minutes(15)).await.expect("locked");
    clock.advance(minute);
    let confirmed =
        s.apply_event(&r.locked, &event("payment_confirmed", serde_json::json!({}), Some("ann")), None).await;
    assert_eq!(confirmed.expect("the holder confirms").order.status, "in_shipping");
    s.unlock(&r.locked, "ann").await.expect("unlocked");

    let merchant = serde_json::json!({"dropship_merchant_email": "ship@merchant.example"});
    let mut o = new_order(
        "fulfillment",
        "f@example.com",
        serde_json::json!({"method": "credit_card", "outcome": "approved"}),
        guitar(),
    );
    o.attributes = serde_json::from_value(merchant).expect("attributes");
    r.dropship = create(o).await;
    assert_eq!(
        apply(r.dropship.clone(), event("send_to_dropship_merchant", serde_json::json!({}), None)).await,
        "with_dropship_merchant"
    );

    r.actions = create(new_order(
        "fulfillment",
        "g@example.com",
        serde_json::json!({"method": "credit_card", "outcome": "approved"}),
        guitar(),
    ))
    .await;
    let packed = FulfillmentActionInput {
        name: Some("Packed".into()),
        note: Some("box 3".into()),
        ..Default::default()
    };
    s.add_fulfillment_action(&r.actions, &packed).await.expect("added");
    let partial =
        FulfillmentActionInput { complete: Some(false), actor: Some("dana".into()), ..Default::default() };
    s.edit_fulfillment_action(&r.actions, 1, &partial).await.expect("changed");

    let repair: NewOrder = serde_json::from_value(serde_json::json!({
        "channel": "website", "workflow": "repair_store",
        "customer": {"email": "eval@lab.example", "first_name": "Eva", "last_name": "Luation", "company": "Test Lab"},
        "shipping_address": {"address": "3 Lab Way", "city": "Reading", "state": "PA", "zip": "19601"},
        "payment": {"method": "credit_card", "outcome": "approved"},
        "lines": [{"sku": "EVAL-DRIVE", "description": "Repair - EVAL (no charge)", "qty": 1, "unit_price": "0.00"}]
    }))
    .expect("a repair order");
    r.replaced = create(repair).await;
    let crm = serde_json::json!({"order_kind": "eval", "opportunity_id": "006E1", "quote_id": "Q-E1"});
    apply(r.replaced.clone(), event("crm_accepted", crm, None)).await;
    apply(
        r.replaced.clone(),
        event("evaluation_complete", serde_json::json!({"repair_fee": "240.00"}), None),
    )
    .await;
    assert_eq!(
        apply(r.replaced.clone(), event("quote_approved", serde_json::json!({}), None)).await,
        "canceled"
    );

    // An hour later, then 14 days later its timer fires (and the others due by then).
    clock.advance(chrono::Duration::hours(1));
    r.overdue = create(new_order("retail", "h@example.com", check, guitar())).await;
    clock.advance(chrono::Duration::days(14) + minute);
    assert!(s.fire_due_timers().await.expect("timers fire") >= 1);
    let overdue = s.order(r.overdue.as_str()).await.expect("order");
    assert!(overdue.flags.contains("overdue"), "the payment timer fired");

    r.all = numbers(s.store()).await;
    assert_eq!(r.all.len(), 10, "nine orders and the priced one the hook made: {:?}", r.all);
    r
}

/// Every order number in the store.
async fn numbers(store: &Store) -> BTreeSet<String> {
    let orders = store.recorded_orders(&RecordedQuery::default(), 0, 1000).await.expect("orders");
    orders.into_iter().map(|o| o.number).collect()
}

/// A copy of `workflows/` in a temporary folder, with `edit` applied to one file's text.
fn candidate(file: &str, edit: impl Fn(String) -> String) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temporary folder");
    let to = dir.path().join("workflows");
    support::copy_dir(Path::new("workflows"), &to);
    if !file.is_empty() {
        let path = to.join(file);
        let text = std::fs::read_to_string(&path).expect("read the workflow");
        let edited = edit(text.clone());
        assert_ne!(edited, text, "the edit changed nothing in {file}");
        std::fs::write(&path, edited).expect("write the candidate");
    }
    (dir, to)
}

fn checked(dir: &Path) -> Checked {
    match Registry::check(dir) {
        Ok(c) => c,
        Err(orderly::registry::RegistryError::Invalid(reports)) => {
            panic!("candidate has errors:\n{}", reports.iter().map(|r| r.render(false)).collect::<String>())
        }
        Err(e) => panic!("candidate: {e}"),
    }
}

fn options() -> ReplayOptions {
    // Timers run as far as the recording went (14 days and a few minutes).
    ReplayOptions { as_of: Some(t0() + chrono::Duration::days(15)), ..ReplayOptions::default() }
}

fn differing(report: &ReplayReport) -> BTreeSet<String> {
    report.orders.iter().map(|o| o.number.clone()).collect()
}

/// Row counts of every table and the sum of the orders' versions: what a replay must not move.
async fn footprint(url: &str) -> Vec<(String, i64)> {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.expect("connect");
    let mut out = Vec::new();
    for table in [
        "orders",
        "order_lines",
        "order_history",
        "order_inputs",
        "timers",
        "outbox",
        "customers",
        "workflow_versions",
        "fulfillment_actions",
        "_sqlx_migrations",
    ] {
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(&pool)
            .await
            .expect("count");
        out.push((table.to_string(), n));
    }
    let versions: i64 = sqlx::query_scalar("SELECT CAST(COALESCE(SUM(version), 0) AS BIGINT) FROM orders")
        .fetch_one(&pool)
        .await
        .expect("versions");
    out.push(("sum(version)".into(), versions));
    pool.close().await;
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unchanged_candidate_reports_no_order_and_nothing_is_written() {
    support::on_both_at(
        "an_unchanged_candidate_reports_no_order_and_nothing_is_written",
        |store, url| async move {
            let recorded = record(store.clone()).await;
            let before = footprint(&url).await;
            let (_dir, workflows) = candidate("", |t| t);
            let report = replay(&store, &checked(&workflows), &options()).await.expect("replays");
            assert_eq!(differing(&report), BTreeSet::new(), "{}", report.render());
            assert!(report.not_replayable.is_empty(), "{}", report.render());
            assert_eq!(report.replayed, recorded.all.len());
            assert!(!report.differs());
            // The same through a store opened read-only, as `orderly replay` opens it.
            let read_only = Store::connect_read_only(&url).await.expect("opens read-only");
            let again = replay(&read_only, &checked(&workflows), &options()).await.expect("replays");
            assert_eq!((again.replayed, again.inputs, again.differing), (report.replayed, report.inputs, 0));
            read_only.close().await;
            assert_eq!(footprint(&url).await, before, "the replay wrote to the database");
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_guard_reports_exactly_the_orders_it_affects() {
    support::on_both("a_changed_guard_reports_exactly_the_orders_it_affects", |store| async move {
        let recorded = record(store.clone()).await;
        // Only payments of 100 or more move an order on.
        let (_dir, workflows) = candidate("retail.flow", |t| {
            t.replacen(
                "    when event.outcome == approved\n    go to ready_to_process { clear flag overdue }",
                "    when event.outcome == approved and event.amount >= 100\n    go to ready_to_process { clear flag overdue }",
                1,
            )
        });
        let report = replay(&store, &checked(&workflows), &options()).await.expect("replays");
        assert_eq!(differing(&report), BTreeSet::from([recorded.small_payment.clone()]), "{}", report.render());
        let [group] = report.summary.as_slice() else { panic!("one rule: {}", report.render()) };
        assert_eq!(group.rule.kind, RuleKind::GuardFalse);
        // Only the transition that took it then: the layaway installments' guard did not hold
        // then either.
        assert!(
            group.rule.text.starts_with("guard of event `payment_received` in status `awaiting_payment` now false (line "),
            "{}",
            group.rule.text
        );
        assert!(!group.rule.text.contains("layaway"), "{}", group.rule.text);
        assert!(group.rule.text.contains("event.amount >= 100"), "{}", group.rule.text);
        assert_eq!(group.orders, vec![recorded.small_payment.clone()]);
        let o = &report.orders[0];
        assert_eq!((o.recorded_status.as_str(), o.candidate_status.as_deref()), ("ready_to_process", Some("awaiting_payment")));
        let text = report.render();
        assert!(text.contains("guard at line"), "{text}");
        assert!(text.contains("event.amount is 25.00"), "the explanation shows the value the guard saw: {text}");
        assert!(report.differs());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_transition_reports_the_orders_that_took_it() {
    support::on_both("a_removed_transition_reports_the_orders_that_took_it", |store| async move {
        let recorded = record(store.clone()).await;
        let (_dir, workflows) = candidate("retail.flow", |t| {
            t.replacen(
                "on card_declined from credit_card_declined stay { note \"The card was declined again\" }\n",
                "",
                1,
            )
        });
        let report = replay(&store, &checked(&workflows), &options()).await.expect("replays");
        assert_eq!(
            differing(&report),
            BTreeSet::from([recorded.declined_twice.clone()]),
            "{}",
            report.render()
        );
        assert_eq!(report.summary.len(), 1);
        assert_eq!(report.summary[0].rule.kind, RuleKind::NoTransition);
        assert_eq!(
            report.summary[0].rule.text,
            "no transition takes event `card_declined` in status `credit_card_declined`"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_status_is_reported() {
    support::on_both("a_removed_status_is_reported", |store| async move {
        let recorded = record(store.clone()).await;
        let (_dir, workflows) = candidate("fulfillment.flow", |t| {
            let start = t.find("on send_to_dropship_merchant from processing").expect("the transition");
            let end = start + t[start..].find("\n}\n").expect("its end") + 3;
            let mut t = format!("{}{}", &t[..start], &t[end..]);
            t = t.replace(", with_dropship_merchant", "").replace("with_dropship_merchant, ", "");
            let line = t.find("    status with_dropship_merchant").expect("the status");
            let eol = line + t[line..].find('\n').expect("end of line") + 1;
            format!("{}{}", &t[..line], &t[eol..])
        });
        let report = replay(&store, &checked(&workflows), &options()).await.expect("replays");
        assert_eq!(differing(&report), BTreeSet::from([recorded.dropship.clone()]), "{}", report.render());
        assert_eq!(report.summary[0].rule.kind, RuleKind::StatusRemoved);
        assert_eq!(report.summary[0].rule.text, "status `with_dropship_merchant` removed");
        let o = &report.orders[0];
        assert_eq!(o.recorded_status, "with_dropship_merchant");
        assert_eq!(o.candidate_status.as_deref(), Some("processing"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shorter_timer_fires_where_the_recording_had_none() {
    support::on_both("a_shorter_timer_fires_where_the_recording_had_none", |store| async move {
        let recorded = record(store.clone()).await;
        let (_dir, workflows) = candidate("retail.flow", |t| {
            t.replacen("timer payment_overdue after 14d", "timer payment_overdue after 7d", 1)
        });
        let report = replay(&store, &checked(&workflows), &options()).await.expect("replays");
        // The two orders whose timer fired at 14 days fire it at 7 (then it is not pending
        // when the recording's fires); the small payment came before either.
        let expected = BTreeSet::from([recorded.overdue.clone(), recorded.declined_twice.clone()]);
        assert_eq!(differing(&report), expected, "{}", report.render());
        let rules: BTreeSet<&str> = report.summary.iter().map(|s| s.rule.text.as_str()).collect();
        assert_eq!(
            rules,
            BTreeSet::from([
                "timer `payment_overdue` now fires in status `awaiting_payment`",
                "timer `payment_overdue` now fires in status `credit_card_declined`",
            ])
        );
        assert!(report.summary.iter().all(|s| s.rule.kind == RuleKind::TimerFires));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_keeps_each_input_whole_on_both_backends() {
    support::on_both_at("history_keeps_each_input_whole_on_both_backends", |store, url| async move {
        let recorded = record(store.clone()).await;
        let orders = store.recorded_orders(&RecordedQuery::default(), 0, 100).await.expect("read");
        let find = |n: &str| orders.iter().find(|o| o.number == n).expect("the order").clone();

        let paid = find(&recorded.paid_and_shipped);
        assert_eq!(paid.version, paid.inputs.len() as i64, "one input per version");
        let Input::Create { order, number, customer, possible_duplicate, related_to } = &paid.inputs[0].input else {
            panic!("first input: {:?}", paid.inputs[0])
        };
        assert_eq!(number, &paid.number);
        assert_eq!(order.lines[0].sku, "GTR-1");
        assert_eq!(order.lines[0].unit_price.to_string(), "499.00");
        assert_eq!(order.payment.as_ref().map(|p| p.method.as_str()), Some("check"));
        assert_eq!(order.shipping_address.as_ref().map(|a| a.zip.as_str()), Some("62701"));
        assert_eq!(customer.email, "a@example.com");
        assert!(customer.id.is_some(), "the customer it was linked to");
        assert!(!possible_duplicate && related_to.is_none());
        assert_eq!(paid.inputs[0].at, t0());
        assert_eq!(paid.inputs[0].outcome.status, "awaiting_payment");
        let Input::Event { event } = &paid.inputs[1].input else { panic!("{:?}", paid.inputs[1]) };
        assert_eq!(event.name, "payment_received");
        assert_eq!(event.data["amount"], "499.00");
        assert_eq!(event.data["reference"], "check 1042");
        assert_eq!(event.actor.as_deref(), Some("clerk"));
        assert_eq!(paid.inputs[1].at, t0() + chrono::Duration::minutes(1));
        let last = paid.inputs.last().expect("inputs");
        assert_eq!(last.outcome.status, "shipped");
        assert!(last.outcome.messages.iter().any(|m| m.template.as_deref() == Some("order_shipped")));

        let voided = find(&recorded.voided);
        assert_eq!(voided.inputs.len(), 2, "the refused event is not kept");

        let locked = find(&recorded.locked);
        let kinds: Vec<&str> = locked.inputs.iter().map(|r| r.input.kind()).collect();
        // The last: three days in the warehouse (`stuck_in_shipping`), fired with the others.
        assert_eq!(kinds, ["create", "lock", "event", "lock", "timer"]);
        assert!(matches!(&locked.inputs[1].input, Input::Lock { holder, expires_at: Some(_), force: false } if holder == "ann"));
        assert!(matches!(&locked.inputs[3].input, Input::Lock { expires_at: None, .. }));

        let actions = find(&recorded.actions);
        assert!(matches!(&actions.inputs[1].input, Input::AddAction { action } if action.note.as_deref() == Some("box 3")));
        assert!(matches!(&actions.inputs[2].input, Input::EditAction { n: 1, action } if action.complete == Some(false)));

        let overdue = find(&recorded.overdue);
        let timer = overdue.inputs.last().expect("inputs");
        assert_eq!(timer.input, Input::Timer { timer: "payment_overdue".into() });
        assert_eq!(timer.outcome, Outcome::unchanged("awaiting_payment"));

        let replaced = find(&recorded.replaced);
        let priced = orders.iter().find(|o| o.id != replaced.id && o.workflow == "repair_store").expect("the priced order");
        assert!(replaced.inputs.last().expect("inputs").outcome.related.contains(&priced.id));
        assert!(matches!(&priced.inputs[0].input, Input::Create { related_to: Some(id), .. } if *id == replaced.id));

        // An order whose inputs were not kept (recorded before migration 6): said, not guessed.
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&url).await.expect("connect");
        sqlx::query("DELETE FROM order_inputs WHERE order_id = $1").bind(paid.id).execute(&pool).await.expect("delete");
        pool.close().await;
        let (_dir, workflows) = candidate("", |t| t);
        let report = replay(&store, &checked(&workflows), &options()).await.expect("replays");
        assert_eq!(report.not_replayable.len(), 1);
        assert_eq!(report.not_replayable[0].number, recorded.paid_and_shipped);
        assert_eq!(report.not_replayable[0].reason, "recorded before inputs were kept");
        assert!(!report.differs());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_and_since_select_the_orders_replayed() {
    support::on_both("only_and_since_select_the_orders_replayed", |store| async move {
        let recorded = record(store.clone()).await;
        let (_dir, workflows) = candidate("", |t| t);
        let candidate = checked(&workflows);
        let fulfillment = ReplayOptions { workflow: Some("fulfillment".into()), ..options() };
        let report = replay(&store, &candidate, &fulfillment).await.expect("replays");
        assert_eq!((report.replayed, report.workflows.clone()), (2, vec!["fulfillment".to_string()]));
        let late = ReplayOptions { since: Some(t0() + chrono::Duration::minutes(30)), ..options() };
        let report = replay(&store, &candidate, &late).await.expect("replays");
        assert_eq!(
            report.replayed, 1,
            "only the last order was created 30 minutes in: {:?}",
            recorded.overdue
        );
        let unknown = ReplayOptions { workflow: Some("retial".into()), ..options() };
        let err = replay(&store, &candidate, &unknown).await.expect_err("no such workflow");
        assert!(err.to_string().starts_with("the candidate has no workflow `retial`"), "{err}");
    })
    .await;
}

fn orderly(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_orderly")).args(args).env("NO_COLOR", "1").output().expect("runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_reports_exits_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let file = dir.path().join("orders.db");
    let url = format!("sqlite://{}", file.display());
    let store = Store::connect(&url).await.expect("store");
    let recorded = record(store.clone()).await;
    store.close().await;
    let before = footprint(&url).await;
    let bytes = std::fs::read(&file).expect("the database file");

    let (_same, unchanged) = candidate("", |t| t);
    let out = orderly(&["replay", "--database", &url, "--workflows", unchanged.to_str().expect("path")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("replayed 10 orders"), "{stdout}");
    assert!(stdout.contains("no order differs"), "{stdout}");

    let (_changed, changed) = candidate("retail.flow", |t| {
        t.replacen(
            "on card_declined from credit_card_declined stay { note \"The card was declined again\" }\n",
            "",
            1,
        )
    });
    let changed = changed.to_str().expect("path");
    let out = orderly(&["replay", "--database", &url, "--workflows", changed]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("1 order differs, by the first rule that diverged:"), "{stdout}");
    assert!(
        stdout.contains("no transition takes event `card_declined` in status `credit_card_declined`"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("{} (retail): `credit_card_declined` as recorded", recorded.declined_twice)),
        "{stdout}"
    );
    assert!(stdout.contains("refused: no_transition"), "{stdout}");

    let out = orderly(&[
        "replay",
        "--database",
        &url,
        "--workflows",
        changed,
        "--format",
        "json",
        "--workflow",
        "retail",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(json["format"], 1);
    assert_eq!(json["replayed"], 6);
    assert_eq!(json["differing"], 1);
    assert_eq!(json["summary"][0]["rule"]["kind"], "no_transition");
    assert_eq!(json["summary"][0]["orders"][0], recorded.declined_twice.as_str());
    let first = &json["orders"][0]["differences"][0];
    assert_eq!(first["difference"], "refused");
    assert_eq!(first["what"], "event `card_declined`");
    assert_eq!(first["refusal"]["code"], "no_transition");

    // A broken candidate: its findings, as `orderly check` prints them, and exit 2.
    let (_broken, broken) =
        candidate("retail.flow", |t| t.replacen("go to ready_to_source", "go to ready_to_sorce", 1));
    let out = orderly(&["replay", "--database", &url, "--workflows", broken.to_str().expect("path")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("retail.flow:"), "{stderr}");
    assert!(stderr.contains("did you mean `ready_to_source`?"), "{stderr}");
    assert!(stderr.contains("error: the candidate in"), "{stderr}");

    // A database that is not there, or not a database URL: exit 2, nothing created.
    let missing = format!("sqlite://{}", dir.path().join("nothing.db").display());
    let out = orderly(&["replay", "--database", &missing, "--workflows", changed]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!dir.path().join("nothing.db").exists(), "replay created a database");
    let out = orderly(&["replay", "--database", "mysql://x", "--workflows", changed]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad database URL"));
    assert_eq!(orderly(&["replay", "--workflows", changed, "--since", "lately"]).status.code(), Some(2));

    assert_eq!(std::fs::read(&file).expect("the database file"), bytes, "the database file changed");
    assert_eq!(footprint(&url).await, before, "the command wrote to the database");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renamed_status_is_the_same_status() {
    support::on_both("a_renamed_status_is_the_same_status", |store| async move {
        let recorded = record(store.clone()).await;
        let (_dir, workflows) = candidate("retail.flow", |t| {
            format!(
                "{}\nrenamed awaiting_payment -> awaiting_check\n",
                t.replace("awaiting_payment", "awaiting_check")
            )
        });
        let candidate = checked(&workflows);
        let report = replay(&store, &candidate, &options()).await.expect("replays");
        assert_eq!(differing(&report), BTreeSet::new(), "{}", report.render());
        // The reload moves the orders still there: the rename is one of their inputs.
        let version = store.workflow_version("retail", "renamed", "renamed").await.expect("a version");
        let rename = orderly::store::StatusRename {
            workflow: "retail".into(),
            from: "awaiting_payment".into(),
            to: "awaiting_check".into(),
            workflow_version: version,
        };
        assert_eq!(
            store.rename_statuses(&[rename], t0() + chrono::Duration::days(15)).await.expect("renamed"),
            1
        );
        let report = replay(&store, &candidate, &options()).await.expect("replays");
        assert_eq!(differing(&report), BTreeSet::new(), "{}", report.render());
        assert!(report.not_replayable.is_empty(), "{}", report.render());
        let orders = store.recorded_orders(&RecordedQuery::default(), 0, 100).await.expect("read");
        let overdue = orders.iter().find(|o| o.number == recorded.overdue).expect("the order");
        assert_eq!(overdue.inputs.last().map(|r| r.input.kind()), Some("rename"));
    })
    .await;
}
