use super::*;
use crate::check::{compile, Context};
use crate::model::Workflow;
use crate::order::{Customer, PaymentOutcome};
use chrono::TimeZone;

const SHOP: &str = r#"
workflow shop
settings { auto_pick = on  auto_invoice = on  max_automatic_steps = 5 }
status awaiting_payment "Awaiting Payment"
status paid "Paid"
status partially_shipped "Partially Shipped"
status shipped "Shipped" final
status voided "Voided" final
flag overdue "late"
fulfillment actions { "Payment received" }
event payment_received is payment
event shipment is shipment
event void { reason: text }
event nudge
channel web {
    require customer.email
    start in paid when paid by credit_card and payment is approved
    start in awaiting_payment when paid by check
    refuse "no"
}
on payment_received from awaiting_payment when event.amount >= order.total go to paid {
    record "Payment received" note "thanks"
}
on shipment from paid, partially_shipped stay
automatically from paid, partially_shipped when order.all_shipped go to shipped {
    send email to customer template "shipped"
}
automatically from paid when order.any_shipped go to partially_shipped
on void from any status go to voided { note event.reason }
on nudge from awaiting_payment stay { emit void }
timer remind after 2d in awaiting_payment { set flag overdue }
"#;

fn shop() -> Workflow {
    let out = compile(SHOP, &Context::default());
    out.workflow.unwrap_or_else(|| panic!("{:?}", out.diagnostics))
}

fn t0() -> Time {
    chrono::Utc.with_ymd_and_hms(2026, 1, 1, 9, 0, 0).single().expect("valid")
}

fn new_order(method: &str, outcome: PaymentOutcome) -> NewOrder {
    serde_json::from_value(serde_json::json!({
        "channel": "web",
        "customer": {"email": "a@b.c"},
        "payment": {"method": method, "outcome": outcome},
        "lines": [
            {"sku": "A", "qty": 2, "unit_price": "10.00", "in_stock": true},
            {"sku": "B", "qty": 1, "unit_price": "5.50"}
        ]
    }))
    .expect("valid input")
}

fn created(method: &str, outcome: PaymentOutcome) -> Order {
    let w = shop();
    create(&w, &new_order(method, outcome), Customer::default(), false, t0(), &NoHooks)
        .expect("created")
        .order
}

fn event(name: &str, data: serde_json::Value) -> EventInput {
    EventInput { name: name.into(), data: data.as_object().cloned().unwrap_or_default(), actor: None }
}

#[test]
fn channel_rules_choose_the_initial_status_and_auto_pick_runs() {
    let o = created("check", PaymentOutcome::Pending);
    assert_eq!(o.status, "awaiting_payment");
    assert_eq!(o.total().to_string(), "25.50");
    assert_eq!(o.lines[0].picked_qty.to_string(), "2", "in-stock line picked");
    assert!(o.lines[1].picked_qty.is_zero(), "out-of-stock line not picked");
    assert!(!o.invoiced, "not everything is in stock");
    assert_eq!(created("credit_card", PaymentOutcome::Approved).status, "paid");
}

#[test]
fn refusals_and_missing_fields_explain_themselves() {
    let w = shop();
    let r = create(
        &w,
        &new_order("paypal", PaymentOutcome::Approved),
        Customer::default(),
        false,
        t0(),
        &NoHooks,
    )
    .expect_err("refused");
    assert_eq!((r.code.as_str(), r.message.as_str()), ("refused", "no"));
    let mut input = new_order("check", PaymentOutcome::Pending);
    input.customer.email.clear();
    input.lines[0].qty = rust_decimal::Decimal::ZERO;
    let r = create(&w, &input, Customer::default(), false, t0(), &NoHooks).expect_err("invalid");
    let fields: Vec<&str> = r.problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(fields, vec!["customer.email", "lines[0].qty"]);
}

#[test]
fn a_failing_guard_is_explained_with_its_values() {
    let w = shop();
    let o = created("check", PaymentOutcome::Pending);
    let r = apply(
        &w,
        &o,
        &event("payment_received", serde_json::json!({"amount": "20.00", "outcome": "approved"})),
        t0(),
        &NoHooks,
    )
    .expect_err("too little");
    assert_eq!(r.code, "no_transition");
    assert_eq!(r.status.as_deref(), Some("awaiting_payment"));
    assert!(r.allowed_events.contains(&"payment_received".to_string()));
    assert_eq!(r.candidates.len(), 1);
    assert_eq!(
        r.candidates[0].failed,
        "`event.amount >= order.total` is false: event.amount is 20.00, order.total is 25.50"
    );
}

#[test]
fn payment_moves_the_order_and_records_the_action() {
    let w = shop();
    let o = created("check", PaymentOutcome::Pending);
    let d = apply(
        &w,
        &o,
        &event("payment_received", serde_json::json!({"amount": "25.50", "outcome": "approved"})),
        t0(),
        &NoHooks,
    )
    .expect("applied");
    assert_eq!(d.order.status, "paid");
    assert_eq!(d.order.amount_paid.to_string(), "25.50");
    assert_eq!(d.order.fulfillment_actions[0].note, "thanks");
    assert_eq!(d.order.fulfillment_actions[0].contact, "", "the test customer has no email");
    assert_eq!(d.timer_cancels, vec![TimerCancel::Status("awaiting_payment".into())]);
}

#[test]
fn partial_then_complete_shipment_and_over_shipping_is_refused() {
    let w = shop();
    let o = created("credit_card", PaymentOutcome::Approved);
    let d = apply(
        &w,
        &o,
        &event("shipment", serde_json::json!({"lines": [{"sku": "A", "qty": 2}], "carrier": "UPS"})),
        t0(),
        &NoHooks,
    )
    .expect("partial");
    assert_eq!(d.order.status, "partially_shipped");
    let over = apply(
        &w,
        &d.order,
        &event("shipment", serde_json::json!({"lines": [{"line": 2, "qty": 2}]})),
        t0(),
        &NoHooks,
    )
    .expect_err("over");
    assert_eq!(over.code, "over_shipment");
    let d = apply(&w, &d.order, &event("shipment", serde_json::json!({"amount": "4.95"})), t0(), &NoHooks)
        .expect("rest");
    assert_eq!(d.order.status, "shipped");
    assert_eq!(d.order.shipping_amount.to_string(), "4.95");
    assert_eq!(d.outbox.len(), 1);
    assert_eq!(d.outbox[0].template.as_deref(), Some("shipped"));
}

#[test]
fn bad_event_data_lists_every_problem() {
    let w = shop();
    let o = created("check", PaymentOutcome::Pending);
    let r =
        apply(&w, &o, &event("void", serde_json::json!({"reasn": "x"})), t0(), &NoHooks).expect_err("bad");
    assert_eq!(r.code, "invalid_data");
    let fields: Vec<&str> = r.problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(fields, vec!["data.reason", "data.reasn"]);
    assert!(r.problems[1].problem.contains("did you mean `reason`"));
    let r = apply(&w, &o, &event("refund", serde_json::json!({})), t0(), &NoHooks).expect_err("unknown");
    assert_eq!(r.code, "unknown_event");
}

#[test]
fn emitted_events_run_after_the_first() {
    let w = shop();
    let o = created("check", PaymentOutcome::Pending);
    let r = apply(&w, &o, &event("nudge", serde_json::json!({})), t0(), &NoHooks)
        .expect_err("void needs a reason");
    assert_eq!(r.code, "invalid_data", "the emitted event is checked like any other: {r}");
}

#[test]
fn timers_start_on_entry_and_fire() {
    let w = shop();
    let d =
        create(&w, &new_order("check", PaymentOutcome::Pending), Customer::default(), false, t0(), &NoHooks)
            .expect("ok");
    assert_eq!(d.timer_starts.len(), 1);
    assert_eq!(d.timer_starts[0].due_at, t0() + chrono::Duration::days(2));
    let fired =
        fire_timer(&w, &d.order, "remind", t0() + chrono::Duration::days(2), &NoHooks).expect("fires");
    assert!(fired.order.flags.contains("overdue"));
    // A timer the workflow no longer has (renamed in a reload) is refused, naming it.
    let gone = fire_timer(&w, &d.order, "remnd", t0() + chrono::Duration::days(2), &NoHooks)
        .expect_err("no such timer");
    assert_eq!(gone.code, RejectionCode::UnknownTimer);
    assert!(gone.message.contains("`remnd`"), "{gone}");
}

#[test]
fn locks_refuse_other_actors() {
    let w = shop();
    let mut o = created("check", PaymentOutcome::Pending);
    o.lock =
        Some(crate::order::Lock { holder: "ann".into(), expires_at: t0() + chrono::Duration::minutes(15) });
    let mut e = event("void", serde_json::json!({"reason": "x"}));
    e.actor = Some("bob".into());
    let r = apply(&w, &o, &e, t0(), &NoHooks).expect_err("locked");
    assert_eq!(r.code, "locked");
    assert!(r.message.contains("`ann`"));
    e.actor = Some("ann".into());
    assert!(apply(&w, &o, &e, t0(), &NoHooks).is_ok());
    e.actor = Some("bob".into());
    assert!(
        apply(&w, &o, &e, t0() + chrono::Duration::minutes(16), &NoHooks).is_ok(),
        "expired leases are free"
    );
}

#[test]
fn automatic_loops_are_bounded() {
    let src = "workflow l\nstatus a \"A\"\nstatus b \"B\"\nchannel c { start in a }\n\
               automatically from a when true go to b\nautomatically from b when true go to a\n";
    let w = compile(src, &Context::default()).workflow.expect("compiles");
    let input: NewOrder = serde_json::from_value(
        serde_json::json!({"channel": "c", "lines": [{"sku": "x", "qty": 1, "unit_price": 1}]}),
    )
    .expect("input");
    let r = create(&w, &input, Customer::default(), false, t0(), &NoHooks).expect_err("loops");
    assert_eq!(r.code, "automatic_loop");
    assert!(r.message.contains("a -> b -> a"), "{}", r.message);
}

#[test]
fn one_shipment_naming_a_line_twice_cannot_over_ship_it() {
    let w = shop();
    let o = created("credit_card", PaymentOutcome::Approved);
    let r = apply(
        &w,
        &o,
        &event("shipment", serde_json::json!({"lines": [{"sku": "A", "qty": 2}, {"sku": "A", "qty": 2}]})),
        t0(),
        &NoHooks,
    )
    .expect_err("4 of 2");
    assert_eq!(r.code, "over_shipment");
    assert!(r.problems[0].problem.contains("ships 4"), "{:?}", r.problems);
}

#[test]
fn payments_must_say_their_outcome_and_cannot_be_negative() {
    let w = shop();
    let o = created("check", PaymentOutcome::Pending);
    let r = apply(&w, &o, &event("payment_received", serde_json::json!({"amount": "25.50"})), t0(), &NoHooks)
        .expect_err("no outcome");
    assert_eq!(r.code, "invalid_data");
    assert_eq!(r.problems[0].field, "data.outcome");
    let r = apply(
        &w,
        &o,
        &event("payment_received", serde_json::json!({"amount": "-5", "outcome": "approved"})),
        t0(),
        &NoHooks,
    )
    .expect_err("negative");
    assert_eq!(r.problems[0].field, "data.amount");
}

/// Auto-invoice comes right after what made the order ready, before anything reads it: the
/// entering actions of the first status see the order invoiced, and a drop-ship line counts
/// once the vendor has shipped it.
#[test]
fn auto_invoice_comes_before_entering_actions_and_counts_shipped_drop_ship_lines() {
    let src = r#"
workflow invoicing
settings { auto_pick = on  auto_invoice = on }
status open "Open"
status done "Done" final
attribute seen_invoiced: bool "whether entering Open saw the order invoiced"
event shipment is shipment
channel web { start in open }
on entering open { set attributes.seen_invoiced = order.invoiced }
on shipment from open when order.invoiced go to done
on shipment from open stay { note "not invoiced yet" }
"#;
    let out = compile(src, &Context::default());
    let w = out.workflow.unwrap_or_else(|| panic!("{:?}", out.diagnostics));
    let stocked: NewOrder = serde_json::from_value(serde_json::json!({
        "channel": "web", "customer": {"email": "a@b.c"},
        "lines": [{"sku": "A", "qty": 1, "unit_price": "5.00", "in_stock": true}]
    }))
    .expect("valid input");
    let d = create(&w, &stocked, Customer::default(), false, t0(), &NoHooks).expect("created");
    assert!(d.order.invoiced);
    assert_eq!(
        d.order.attributes["seen_invoiced"],
        serde_json::json!(true),
        "the entering action saw it invoiced"
    );

    let dropship: NewOrder = serde_json::from_value(serde_json::json!({
        "channel": "web", "customer": {"email": "a@b.c"},
        "lines": [{"sku": "A", "qty": 1, "unit_price": "5.00", "in_stock": true},
                  {"sku": "P", "qty": 1, "unit_price": "900.00", "fulfillment": "dropship"}]
    }))
    .expect("valid input");
    let d = create(&w, &dropship, Customer::default(), false, t0(), &NoHooks).expect("created");
    assert!(!d.order.invoiced, "the drop-ship line has not shipped");
    let shipped = EventInput {
        name: "shipment".into(),
        data: serde_json::json!({"carrier": "Vendor", "lines": [{"sku": "P", "qty": 1}]})
            .as_object()
            .cloned()
            .expect("map"),
        actor: None,
    };
    let d = apply(&w, &d.order, &shipped, t0(), &NoHooks).expect("shipped");
    assert!(d.order.invoiced, "the vendor shipped the drop-ship line: everything is invoiced");
    assert_eq!(d.order.status, "done", "the guard saw the order invoiced");
    assert_eq!(d.order.lines[1].invoiced_qty, rust_decimal::Decimal::ONE);
}

#[test]
fn a_workflow_naming_a_status_or_event_it_lacks_refuses_the_step() {
    // `check` builds no such workflow; one put together by hand can be: the engine refuses
    // the step rather than stopping the worker.
    let mut w = shop();
    for r in &mut w.channels[0].rules {
        r.start = r.start.map(|_| 99);
    }
    let r =
        create(&w, &new_order("check", PaymentOutcome::Pending), Customer::default(), false, t0(), &NoHooks)
            .expect_err("no status 99");
    assert_eq!(
        (r.code.as_str(), r.message.as_str()),
        ("unknown_status", "workflow `shop` has no status number 99")
    );

    let o = created("check", PaymentOutcome::Pending);
    let paid = event("payment_received", serde_json::json!({"amount": "25.50", "outcome": "approved"}));
    let mut w = shop();
    let payment = w.event_id("payment_received");
    w.transitions.iter_mut().filter(|t| t.event == payment).for_each(|t| t.target = Some(99));
    let r = apply(&w, &o, &paid, t0(), &NoHooks).expect_err("no status 99");
    assert_eq!((r.code.as_str(), r.status.as_deref()), ("unknown_status", Some("awaiting_payment")));

    let mut w = shop();
    w.on_leave.clear();
    let r = apply(&w, &o, &paid, t0(), &NoHooks).expect_err("no leaving actions");
    assert_eq!(r.code, "unknown_status");

    let mut w = shop();
    for t in &mut w.transitions {
        for a in &mut t.actions {
            if let crate::model::Action::Emit(e) = a {
                *e = 99;
            }
        }
    }
    let r = apply(&w, &o, &event("nudge", serde_json::json!({})), t0(), &NoHooks).expect_err("no event 99");
    assert_eq!(
        (r.code.as_str(), r.message.as_str()),
        ("unknown_event", "workflow `shop` has no event number 99")
    );
}

/// A timer's `when`: it starts only for orders it holds for on entry, and, checked again when
/// due, does nothing (a `timer_skipped` row says why) when it no longer holds.
#[test]
fn a_timer_with_when_starts_only_where_it_holds_and_skips_when_it_no_longer_does() {
    const PICKUP: &str = r#"
workflow pickup
status ready "Ready for pickup"
status collected "Collected" final
status canceled "Canceled" final
event paid is payment
event collect
channel store { start in ready }
on paid from ready stay
on collect from ready go to collected
timer uncollected after 7d in ready when payment.outcome != approved go to canceled
"#;
    let out = compile(PICKUP, &Context::default());
    let w = out.workflow.unwrap_or_else(|| panic!("{:?}", out.diagnostics));
    let order = |outcome: &str| -> NewOrder {
        serde_json::from_value(serde_json::json!({
            "channel": "store",
            "customer": {"email": "a@b.c"},
            "payment": {"method": "cash", "outcome": outcome},
            "lines": [{"sku": "BIKE-1", "qty": 1, "unit_price": "500.00"}]
        }))
        .expect("valid input")
    };
    // Paid up front: the timer does not start.
    let paid = create(&w, &order("approved"), Customer::default(), false, t0(), &NoHooks).expect("created");
    assert!(paid.timer_starts.is_empty(), "{:?}", paid.timer_starts);
    // Pay on pickup: it starts; never paid, it fires and cancels.
    let unpaid = create(&w, &order("pending"), Customer::default(), false, t0(), &NoHooks).expect("created");
    assert_eq!(unpaid.timer_starts.len(), 1);
    let due = t0() + chrono::Duration::days(7);
    let fired = fire_timer(&w, &unpaid.order, "uncollected", due, &NoHooks).expect("fires");
    assert_eq!(fired.order.status, "canceled");
    // Paid while waiting: when due it does nothing, and says why.
    let payment =
        event("paid", serde_json::json!({"method": "cash", "outcome": "approved", "amount": "500.00"}));
    let later = apply(&w, &unpaid.order, &payment, t0() + chrono::Duration::days(2), &NoHooks).expect("paid");
    let skipped = fire_timer(&w, &later.order, "uncollected", due, &NoHooks).expect("due");
    assert_eq!(skipped.order.status, "ready");
    assert!(skipped.steps.is_empty());
    let row = skipped.history.iter().find(|h| h.kind == "timer_skipped").expect("a timer_skipped row");
    assert_eq!(row.detail["timer"], "uncollected");
    let because = row.detail["because"].as_str().unwrap_or_default();
    assert!(because.contains("payment.outcome is \"approved\""), "{because}");
}

/// `require ... when` asks for the fields of the orders its conditions take; `unless` of the
/// others.
#[test]
fn a_requirement_with_when_or_unless_is_for_some_orders_only() {
    const WEB: &str = r#"
workflow web
status placed "Placed"
status done "Done" final
event finish
channel website {
    require customer.email
    require shipping.address, shipping.zip unless mode pickup
    require customer.phone when paid by check
    start in placed when mode delivery, pickup
}
on finish from placed go to done
"#;
    let out = compile(WEB, &Context::default());
    let w = out.workflow.unwrap_or_else(|| panic!("{:?}", out.diagnostics));
    let problems = |mode: &str, method: &str| -> Vec<String> {
        let input: NewOrder = serde_json::from_value(serde_json::json!({
            "channel": "website",
            "mode": mode,
            "customer": {"email": "a@b.c"},
            "payment": {"method": method, "outcome": "approved"},
            "lines": [{"sku": "A", "qty": 1, "unit_price": "5.00"}]
        }))
        .expect("valid input");
        match create(&w, &input, Customer::default(), false, t0(), &NoHooks) {
            Ok(_) => Vec::new(),
            Err(r) => r.problems.into_iter().map(|p| p.field).collect(),
        }
    };
    assert_eq!(problems("delivery", "credit_card"), ["shipping_address.address", "shipping_address.zip"]);
    assert!(problems("pickup", "credit_card").is_empty(), "a pickup order needs no address");
    assert_eq!(problems("pickup", "check"), ["customer.phone"]);
}

/// An action the list marks `hidden` is recorded hidden unless the record or the staff say
/// `visible`; the others are shown.
#[test]
fn actions_marked_hidden_in_the_list_are_recorded_hidden_by_default() {
    const LIST: &str = r#"
workflow list
status open "Open"
status done "Done" final
fulfillment actions { "Payment received" "Credit check" hidden }
event check
event shown
channel web { start in open }
on check from open stay { record "Credit check" }
on shown from open stay { record "Credit check" visible }
"#;
    let out = compile(LIST, &Context::default());
    let w = out.workflow.unwrap_or_else(|| panic!("{:?}", out.diagnostics));
    assert_eq!(w.hidden_actions, ["Credit check"]);
    let input: NewOrder = serde_json::from_value(serde_json::json!({
        "channel": "web", "customer": {"email": "a@b.c"},
        "lines": [{"sku": "A", "qty": 1, "unit_price": "5.00"}]
    }))
    .expect("valid input");
    let o = create(&w, &input, Customer::default(), false, t0(), &NoHooks).expect("created").order;
    let o = apply(&w, &o, &event("check", serde_json::json!({})), t0(), &NoHooks).expect("recorded").order;
    let o = apply(&w, &o, &event("shown", serde_json::json!({})), t0(), &NoHooks).expect("recorded").order;
    let by_staff = |name: &str, visible: Option<bool>| FulfillmentActionInput {
        name: Some(name.into()),
        visible,
        ..FulfillmentActionInput::default()
    };
    let o = add_fulfillment_action(&w, &o, &by_staff("Credit check", None), t0()).expect("added").order;
    let o = add_fulfillment_action(&w, &o, &by_staff("Payment received", None), t0()).expect("added").order;
    let o = add_fulfillment_action(&w, &o, &by_staff("Credit check", Some(true)), t0()).expect("added").order;
    let visible: Vec<bool> = o.fulfillment_actions.iter().map(|a| a.visible).collect();
    assert_eq!(visible, [false, true, false, true, true]);
}

/// A timer listed in two statuses restarts when the order moves from one to the other (left:
/// cancelled; entered: started anew), and keeps running through a `stay`.
#[test]
fn a_timer_restarts_on_a_move_between_its_statuses_and_runs_on_through_a_stay() {
    const TWO: &str = r#"
workflow two
status awaiting_payment "Awaiting Payment"
status declined "Declined"
status done "Done" final
event decline
event nudge
event pay
channel web { start in awaiting_payment }
on decline from awaiting_payment go to declined
on nudge from declined stay
on pay from awaiting_payment, declined go to done
timer overdue after 14d in awaiting_payment, declined stay
"#;
    let out = compile(TWO, &Context::default());
    let w = out.workflow.unwrap_or_else(|| panic!("{:?}", out.diagnostics));
    let input: NewOrder = serde_json::from_value(serde_json::json!({
        "channel": "web", "customer": {"email": "a@b.c"},
        "lines": [{"sku": "A", "qty": 1, "unit_price": "5.00"}]
    }))
    .expect("valid input");
    let created = create(&w, &input, Customer::default(), false, t0(), &NoHooks).expect("created");
    assert_eq!(created.timer_starts[0].due_at, t0() + chrono::Duration::days(14));
    let day10 = t0() + chrono::Duration::days(10);
    let moved =
        apply(&w, &created.order, &event("decline", serde_json::json!({})), day10, &NoHooks).expect("moved");
    assert_eq!(moved.timer_cancels, [TimerCancel::Status("awaiting_payment".into())]);
    assert_eq!(moved.timer_starts.len(), 1);
    assert_eq!(moved.timer_starts[0].due_at, day10 + chrono::Duration::days(14), "14 days from the move");
    let stayed =
        apply(&w, &moved.order, &event("nudge", serde_json::json!({})), day10, &NoHooks).expect("stays");
    assert!(
        stayed.timer_cancels.is_empty() && stayed.timer_starts.is_empty(),
        "a stay leaves the timer running"
    );
}

/// Business moments that are not statuses: `on created from CHANNEL` for one channel's orders,
/// `on invoiced` and `on paid in full` once each, whenever they happen.
#[test]
fn actions_run_on_business_moments_once() {
    const MOMENTS: &str = r#"
workflow moments
settings { auto_pick = on  auto_invoice = on }
status open "Open"
status done "Done" final
flag phone_order "came by phone"
flag invoiced_once "invoiced"
flag thanked "paid in full"
event payment_received is payment
event finish
channel web { start in open }
channel phone { start in open }
on created from phone { set flag phone_order }
on invoiced { set flag invoiced_once  note "Invoice sent" }
on paid in full { set flag thanked  send email to customer template "thank_you" }
on payment_received from open stay
on finish from open go to done
"#;
    let out = compile(MOMENTS, &Context::default());
    let w = out.workflow.unwrap_or_else(|| panic!("{:?}", out.diagnostics));
    let order = |channel: &str, payment: serde_json::Value| -> NewOrder {
        serde_json::from_value(serde_json::json!({
            "channel": channel,
            "customer": {"email": "a@b.c"},
            "payment": payment,
            "lines": [{"sku": "A", "qty": 1, "unit_price": "50.00", "in_stock": true}]
        }))
        .expect("valid input")
    };
    // A phone order paid by check: the phone action runs; auto-invoiced at once; not paid yet.
    let check = serde_json::json!({"method": "check", "outcome": "pending"});
    let d = create(&w, &order("phone", check), Customer::default(), false, t0(), &NoHooks).expect("created");
    assert!(d.order.flags.contains("phone_order"));
    assert!(d.order.flags.contains("invoiced_once"), "invoiced at creation is the moment too");
    assert!(!d.order.flags.contains("thanked"));
    let notes = |d: &Decision| d.history.iter().filter(|h| h.kind == "note").count();
    assert_eq!(notes(&d), 1);
    // Half paid, then the rest: `on paid in full` runs at the second payment, once.
    let pay = |amount: &str| {
        event(
            "payment_received",
            serde_json::json!({"method": "check", "outcome": "approved", "amount": amount}),
        )
    };
    let half = apply(&w, &d.order, &pay("25.00"), t0(), &NoHooks).expect("half");
    assert!(!half.order.flags.contains("thanked"));
    let rest = apply(&w, &half.order, &pay("25.00"), t0(), &NoHooks).expect("rest");
    assert!(rest.order.flags.contains("thanked"));
    assert_eq!(rest.outbox.len(), 1, "one thank-you email");
    assert_eq!(notes(&rest), 0, "already invoiced: `on invoiced` does not run again");
    let again = apply(&w, &rest.order, &pay("0.00"), t0(), &NoHooks).expect("again");
    assert!(again.outbox.is_empty(), "paid in full only once");
    // A web order paid by card at creation: paid in full then; no phone action.
    let card = serde_json::json!({"method": "credit_card", "outcome": "approved"});
    let web = create(&w, &order("web", card), Customer::default(), false, t0(), &NoHooks).expect("created");
    assert!(!web.order.flags.contains("phone_order"));
    assert!(web.order.flags.contains("thanked"), "paid in full at creation");
}
