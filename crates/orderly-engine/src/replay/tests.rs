//! The replay step against the engine's own functions: the same decisions, a refused input
//! leaves the order as it was (also when the run changed it first), and the comparison names
//! the rule that diverged.

use super::*;
use crate::check::{compile, Context};
use crate::engine::{self, NoHooks};
use crate::model::Workflow;
use chrono::TimeZone;

const SHOP: &str = r#"
workflow shop
settings { max_automatic_steps = 3 }
status new "New"
status paid "Paid"
status ping "Ping"
status pong "Pong"
status done "Done" final
flag rush "hurry"
event pay is payment
event bounce
event finish
event hurry
channel web { start in new }
on pay from new when order.balance_due <= 0 go to paid { send email to customer template "paid" }
on hurry from new, paid stay { set flag rush }
on bounce from paid go to ping
automatically from ping when order.total > 0 go to pong
automatically from pong when order.total > 0 go to ping
on finish from paid when flags.rush go to done
timer nudge after 1d in new stay { set flag rush }
"#;

fn shop(text: &str) -> Workflow {
    let out = compile(text, &Context::default());
    out.workflow.unwrap_or_else(|| panic!("{:?}", out.diagnostics))
}

fn t0() -> Time {
    chrono::Utc.with_ymd_and_hms(2026, 1, 1, 9, 0, 0).single().expect("valid")
}

fn create() -> Input {
    Input::Create {
        order: Box::new(
            serde_json::from_value(serde_json::json!({
                "channel": "web",
                "customer": {"email": "a@b.c"},
                "lines": [{"sku": "A", "qty": 2, "unit_price": "10.00"}]
            }))
            .expect("valid"),
        ),
        number: "N1".into(),
        customer: crate::order::Customer { email: "a@b.c".into(), ..Default::default() },
        possible_duplicate: false,
        related_to: None,
    }
}

fn event(name: &str, data: serde_json::Value) -> Input {
    let data = data.as_object().cloned().unwrap_or_default();
    Input::Event { event: EventInput { name: name.into(), data, actor: None } }
}

/// What the service would record for `inputs`, decided by the engine's public functions.
fn recorded(w: &Workflow, inputs: &[Input]) -> Vec<Recorded> {
    let mut out = Vec::new();
    let mut order = None;
    for (k, input) in inputs.iter().enumerate() {
        let at = t0() + chrono::Duration::hours(k as i64);
        let d = match (input, &order) {
            (Input::Create { order: o, customer, number, .. }, _) => {
                let mut o = (**o).clone();
                o.assigned_number = Some(number.clone());
                engine::create(w, &o, customer.clone(), false, at, &NoHooks)
            }
            (Input::Event { event }, Some(o)) => engine::apply(w, o, event, at, &NoHooks),
            (Input::Timer { timer }, Some(o)) => engine::fire_timer(w, o, timer, at, &NoHooks),
            _ => panic!("unexpected {input:?}"),
        };
        let Ok(d) = d else { continue };
        out.push(Recorded { at, input: input.clone(), outcome: Outcome::of(&d) });
        order = Some(d.order);
    }
    out
}

#[test]
fn the_step_decides_as_the_engine_does() {
    let w = shop(SHOP);
    let inputs = [
        create(),
        event("hurry", serde_json::json!({})),
        event("pay", serde_json::json!({"amount": "20.00", "method": "card", "outcome": "approved"})),
        event("finish", serde_json::json!({})),
    ];
    let record = recorded(&w, &inputs);
    assert_eq!(record.len(), 4);
    let replayer = Replayer::new(&w, &NoHooks);
    let replayed = replay_order(&replayer, 7, &record, t0() + chrono::Duration::days(9));
    assert_eq!(replayed.differences, vec![], "the same workflow decides the same");
    assert_eq!(
        (replayed.recorded_status.as_str(), replayed.candidate_status.as_deref()),
        ("done", Some("done"))
    );
}

#[test]
fn a_refused_input_leaves_the_order_as_it_was() {
    let w = shop(SHOP);
    let replayer = Replayer::new(&w, &NoHooks);
    let mut state = ReplayState::default();
    replayer.step(&mut state, &create(), t0()).expect("created");
    let before = state.order().cloned().expect("an order");
    // The payment is recorded on the order first (its built-in effect), then no guard holds.
    let short = event("pay", serde_json::json!({"amount": "5.00", "method": "card", "outcome": "approved"}));
    let Err(Refused::Rejected(r)) = replayer.step(&mut state, &short, t0()) else { panic!("refused") };
    assert_eq!(r.code, RejectionCode::NoTransition);
    assert_eq!(r.allowed_events, ["pay", "hurry"]);
    assert_eq!(state.order(), Some(&before), "the payment was taken back");
    // Automatic transitions that never settle: refused after moving the order on.
    replayer
        .step(
            &mut state,
            &event("pay", serde_json::json!({"amount": "20.00", "method": "card", "outcome": "approved"})),
            t0(),
        )
        .expect("paid");
    let paid = state.order().cloned().expect("an order");
    let Err(Refused::Rejected(r)) = replayer.step(&mut state, &event("bounce", serde_json::json!({})), t0())
    else {
        panic!("refused")
    };
    assert_eq!(r.code, RejectionCode::AutomaticLoop);
    assert_eq!(r.status.as_deref(), Some("paid"));
    assert_eq!(state.order(), Some(&paid));
    // A plain event the workflow does not take in a simple workflow: nothing to put back.
    let plain = shop(&SHOP.replace("automatically from pong when order.total > 0 go to ping\n", ""));
    let simple = Replayer::new(&plain, &NoHooks);
    assert!(!simple.settles_surely_for_tests(), "automatic transitions: a copy is made");
    let flat = shop(
        &SHOP
            .replace("automatically from ping when order.total > 0 go to pong\n", "")
            .replace("automatically from pong when order.total > 0 go to ping\n", ""),
    );
    let flat = Replayer::new(&flat, &NoHooks);
    assert!(flat.settles_surely_for_tests());
    let mut state = ReplayState::default();
    flat.step(&mut state, &create(), t0()).expect("created");
    let before = state.order().cloned();
    assert!(flat.step(&mut state, &event("finish", serde_json::json!({})), t0()).is_err());
    assert_eq!(state.order().cloned(), before);
}

#[test]
fn a_changed_guard_is_the_rule_that_diverged() {
    let w = shop(SHOP);
    let record = recorded(
        &w,
        &[
            create(),
            event("pay", serde_json::json!({"amount": "20.00", "method": "card", "outcome": "approved"})),
        ],
    );
    let stricter = shop(
        &SHOP.replace("when order.balance_due <= 0", "when order.balance_due <= 0 and event.amount > 100"),
    );
    let replayed = replay_order(&Replayer::new(&stricter, &NoHooks), 1, &record, t0());
    let rule = replayed.first_rule().expect("it differs");
    assert_eq!(rule.kind, RuleKind::GuardFalse);
    assert_eq!(
        rule.text,
        "guard of event `pay` in status `new` now false (line 15: `order.balance_due <= 0 and event.amount > 100`)"
    );
    assert_eq!(replayed.candidate_status.as_deref(), Some("new"));
    // The email the payment sent is not sent: said once, with the refusal.
    assert_eq!(replayed.difference_count, 1);
}

#[test]
fn messages_and_statuses_are_compared() {
    let w = shop(SHOP);
    let record = recorded(
        &w,
        &[
            create(),
            event("pay", serde_json::json!({"amount": "20.00", "method": "card", "outcome": "approved"})),
        ],
    );
    let quiet = shop(&SHOP.replace(" { send email to customer template \"paid\" }", ""));
    let replayed = replay_order(&Replayer::new(&quiet, &NoHooks), 1, &record, t0());
    let rule = replayed.first_rule().expect("it differs");
    assert_eq!(rule.kind, RuleKind::Messages);
    assert_eq!(rule.text, "event `pay` in status `new` now sends no message (was email `paid`)");
    let elsewhere = shop(
        &SHOP.replace("when order.balance_due <= 0 go to paid", "when order.balance_due <= 0 go to done"),
    );
    let replayed = replay_order(&Replayer::new(&elsewhere, &NoHooks), 1, &record, t0());
    assert_eq!(
        replayed.first_rule().map(|r| r.text),
        Some("event `pay` in status `new` now leads to `done` (was `paid`)".into())
    );
}

#[test]
fn timers_fire_as_recorded_or_on_their_own() {
    let w = shop(SHOP);
    let day = chrono::Duration::days(1);
    let mut record = recorded(&w, &[create()]);
    // The recording fired the timer a minute late.
    let mut order = None;
    if let Input::Create { order: o, customer, number, .. } = &record[0].input {
        let mut o = (**o).clone();
        o.assigned_number = Some(number.clone());
        order = Some(engine::create(&w, &o, customer.clone(), false, t0(), &NoHooks).expect("created").order);
    }
    let late = t0() + day + chrono::Duration::minutes(1);
    let fired = engine::fire_timer(&w, &order.expect("order"), "nudge", late, &NoHooks).expect("fires");
    record.push(Recorded {
        at: late,
        input: Input::Timer { timer: "nudge".into() },
        outcome: Outcome::of(&fired),
    });
    let same = replay_order(&Replayer::new(&w, &NoHooks), 1, &record, t0() + day * 30);
    assert_eq!(same.differences, vec![]);
    // Half a day: the candidate fires it first, then has none pending when the recording's fires.
    let sooner = shop(&SHOP.replace("after 1d", "after 12h"));
    let replayed = replay_order(&Replayer::new(&sooner, &NoHooks), 1, &record, t0() + day * 30);
    let kinds: Vec<&str> = replayed
        .differences
        .iter()
        .map(|d| match d.kind {
            DifferenceKind::TimerFires { .. } => "fires",
            DifferenceKind::TimerNotPending { .. } => "not pending",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["fires", "not pending"]);
    assert_eq!(replayed.differences[0].at, t0() + chrono::Duration::hours(12));
    // Without the timer: the recorded firing has nothing to fire.
    let none = shop(&SHOP.replace("timer nudge after 1d in new stay { set flag rush }\n", ""));
    let replayed = replay_order(&Replayer::new(&none, &NoHooks), 1, &record, t0() + day * 30);
    assert_eq!(replayed.first_rule().map(|r| r.kind), Some(RuleKind::TimerNotPending));
}

#[test]
fn inputs_keep_their_shape_as_json() {
    let input = event("pay", serde_json::json!({"amount": "20.00", "method": "card", "outcome": "approved"}));
    let json = serde_json::to_value(&input).expect("json");
    assert_eq!(
        json,
        serde_json::json!({"event": {"event": {"name": "pay", "data": {"amount": "20.00", "method": "card", "outcome": "approved"}, "actor": null}}})
    );
    let back: Input = serde_json::from_value(json).expect("reads back");
    assert_eq!(back, input);
    let create = create();
    let text = serde_json::to_string(&create).expect("json");
    assert_eq!(serde_json::from_str::<Input>(&text).expect("reads back"), create);
}
